//! Test support: fresh databases on both backends, and the server spawned on port 0.
//!
//! Every storage and API test is written once as `async fn name(backend: Backend)`
//! and listed in [`on_both_backends!`], which makes one test per backend. PostgreSQL
//! tests create and drop their own database. With `CI=true` a missing PostgreSQL
//! server fails the test; elsewhere the PostgreSQL half is skipped with a note.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

pub mod ws;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};

use hourglass_core::Role;
use hourglass_server::{Application, Settings, admin};
use hourglass_storage::{Store, StoreOptions};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

/// The database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Makes one `#[tokio::test]` per backend for each listed `async fn(Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Postgres).await
                }
            )+
        }
    };
}

/// Where the PostgreSQL server for tests is; its `postgres` database is used to
/// create and drop per-test databases.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Records a skipped test half: on stderr, and as a line of the file
/// `TEST_SKIPPED_LOG` names, so that `scripts/check.sh` counts skips in its
/// closing line instead of letting them pass as passed tests.
fn skipped(what: &str) {
    eprintln!("skipping {what}");
    if let Ok(path) = std::env::var("TEST_SKIPPED_LOG") {
        use std::io::Write as _;
        let line = format!("{}\n", what.replace('\n', " "));
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| file.write_all(line.as_bytes()));
        if let Err(e) = written {
            eprintln!("could not record the skip in {path}: {e}");
        }
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A database that exists for one test and is removed after it.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    postgres_name: Option<String>,
}

impl TestDatabase {
    /// A fresh, empty database; `None` when PostgreSQL is unreachable outside CI.
    pub async fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                Some(Self {
                    url,
                    backend,
                    _dir: Some(dir),
                    postgres_name: None,
                })
            }
            Backend::Postgres => {
                static COUNTER: AtomicU32 = AtomicU32::new(0);
                let admin = match Store::connect(&StoreOptions::new(postgres_admin_url())).await {
                    Ok(admin) => admin,
                    Err(e) if in_ci() => panic!(
                        "CI=true needs PostgreSQL at {} for the PostgreSQL suite: {e}",
                        postgres_admin_url()
                    ),
                    Err(e) => {
                        skipped(&format!("the PostgreSQL half of a test: {e}"));
                        return None;
                    }
                };
                let name = format!(
                    "hourglass_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst),
                    rand::random::<u32>()
                );
                admin
                    .connection()
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .unwrap();
                admin.close().await.unwrap();
                let base = postgres_admin_url();
                let server = base.rsplit_once('/').map_or(base.as_str(), |(s, _)| s);
                Some(Self {
                    url: format!("{server}/{name}"),
                    backend,
                    _dir: None,
                    postgres_name: Some(name),
                })
            }
        }
    }

    /// A migrated store on this database.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&StoreOptions::new(&self.url)).await.unwrap();
        store.migrate_up().await.unwrap();
        store
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop runs outside async; a short-lived thread with its own runtime does it.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let admin = Store::connect(&StoreOptions::new(postgres_admin_url())).await?;
                admin
                    .connection()
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await?;
                admin.close().await?;
                anyhow::Ok(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop a test database: {e}");
        }
    }
}

/// The agency every [`TestApp`] is set up with.
pub const AGENCY: &str = "test-agency";

/// The server, running on a free port against a fresh database, with an agency and
/// an agency-wide ADMIN key that `client` sends on every request.
#[derive(Debug)]
pub struct TestApp {
    pub address: SocketAddr,
    /// Sends `Authorization: Bearer <key>` with every request.
    pub client: reqwest::Client,
    /// The ADMIN key of [`AGENCY`].
    pub key: String,
    pub db: TestDatabase,
    /// Where `/metrics` answers (every app gets a free port of its own).
    pub metrics_address: Option<SocketAddr>,
}

/// A client that sends `key` with every request.
pub fn client_with_key(key: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {key}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Spawns with settings adjusted by `configure` (limits, flags).
    pub async fn spawn_with(
        backend: Backend,
        configure: impl FnOnce(&mut Settings),
    ) -> Option<Self> {
        let db = TestDatabase::create(backend).await?;
        Some(Self::spawn_on(db, configure).await)
    }

    /// Spawns on an existing database (for data loaded beforehand). Rate limits (per
    /// key and per address failing to authenticate) are off unless `configure` turns
    /// them on.
    pub async fn spawn_on(db: TestDatabase, configure: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = Settings {
            bind: "127.0.0.1:0".into(),
            database_url: db.url.clone(),
            shutdown_timeout_secs: 1,
            metrics_bind: "127.0.0.1:0".into(),
            ..Settings::default()
        };
        settings.rate_limit.requests_per_second = 0;
        settings.rate_limit.failed_auth_per_minute = 0;
        configure(&mut settings);
        let app = Application::build(settings).await.unwrap();
        let address = app.address();
        let metrics_address = app.metrics_address();
        tokio::spawn(app.run_until_stopped());
        let store = db.store().await;
        let tenant = admin::agency_or_create(&store, AGENCY, "Test agency")
            .await
            .unwrap();
        let key = admin::issue_key(&tenant, None, Role::Admin, "tests")
            .await
            .unwrap()
            .secret
            .reveal();
        store.close().await.unwrap();
        Self {
            address,
            client: client_with_key(&key),
            key,
            db,
            metrics_address,
        }
    }

    /// Issues a key through the API with this app's ADMIN key; `workspace: None`
    /// makes an agency-wide one.
    pub async fn issue_key(&self, workspace: Option<&str>, role: &str) -> String {
        let data = self
            .graphql_ok(
                "mutation($w: ID, $r: Role!) { createApiKey(input: {workspace: $w, role: $r, name: \"test\"}) { secret } }",
                json!({ "w": workspace, "r": role }),
            )
            .await;
        data["createApiKey"]["secret"].as_str().unwrap().to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Posts a GraphQL operation and returns the JSON answer (whatever the status).
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.graphql_with(&self.client, query, variables).await
    }

    /// Like [`graphql`](Self::graphql), with another key than the app's own.
    pub async fn graphql_as(&self, key: &str, query: &str, variables: Value) -> Value {
        self.graphql_with(&client_with_key(key), query, variables)
            .await
    }

    async fn graphql_with(&self, client: &reqwest::Client, query: &str, variables: Value) -> Value {
        client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Like [`graphql`](Self::graphql) but fails the test on any GraphQL error.
    pub async fn graphql_ok(&self, query: &str, variables: Value) -> Value {
        let answer = self.graphql(query, variables).await;
        assert!(
            answer.get("errors").is_none(),
            "unexpected errors: {answer:#}"
        );
        answer["data"].clone()
    }

    /// Creates a workspace through the API.
    pub async fn create_workspace(&self, slug: &str) {
        self.graphql_ok(
            "mutation($slug: String!) { createWorkspace(slug: $slug, name: \"Test\") { slug } }",
            json!({ "slug": slug }),
        )
        .await;
    }

    /// Posts NDJSON to the ingest endpoint.
    pub async fn post_ndjson(
        &self,
        workspace: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/v1/events?workspace={workspace}")))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

/// The `extensions.code` of the first error of a GraphQL answer.
pub fn error_code(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {answer:#}"))
}

/// Spend in one currency (`None`: no campaign or workspace currency set): the sum
/// of the amounts given, or nothing spent when none is.
pub fn spent(currency: Option<&str>, amounts: &[f64]) -> hourglass_core::money::Spend {
    use hourglass_core::money::{Money, Spend};
    Spend::Recorded(
        amounts
            .iter()
            .map(|amount| Money {
                amount: *amount,
                currency: currency.map(str::to_owned),
            })
            .collect(),
    )
}
