//! What the binary's integration tests share: the `hourglass` command, and
//! `hourglass serve` on a free port.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, LazyLock, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

/// The binary, with only what each test sets: no HOURGLASS_* from the developer's shell.
pub fn hourglass() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hourglass"));
    for (key, _) in std::env::vars() {
        if key.starts_with("HOURGLASS_") {
            command.env_remove(key);
        }
    }
    command
}

/// One HTTP client for a test binary's calls.
pub static HTTP: LazyLock<reqwest::blocking::Client> =
    LazyLock::new(reqwest::blocking::Client::new);

/// Runs `hourglass ARGS --database-url URL`, failing the test unless it succeeds;
/// its stdout.
pub fn run_ok(args: &[&str], database_url: &str) -> String {
    let output = hourglass()
        .args(args)
        .args(["--database-url", database_url])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "hourglass {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A GraphQL answer's `data`, failing the test on any status but 200 or any error.
pub fn graphql_data(address: &str, key: &str, query: &str, variables: Value) -> Value {
    let response = HTTP
        .post(format!("http://{address}/graphql"))
        .bearer_auth(key)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().unwrap();
    assert_eq!(status, 200, "{answer:#}");
    assert!(answer.get("errors").is_none(), "{query}\n{answer:#}");
    answer["data"].clone()
}

/// Every stored messageId of the workspace, read through the events connection
/// (duplicates kept, so a double store would show).
pub fn stored_message_ids(address: &str, key: &str, workspace: &str) -> Vec<String> {
    let query = "query($ws: ID!, $after: String) {
      events(workspace: $ws, first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { messageId }
      }
    }";
    let mut ids = Vec::new();
    let mut after = Value::Null;
    loop {
        let variables = json!({ "ws": workspace, "after": after });
        let data = graphql_data(address, key, query, variables);
        let events = &data["events"];
        for node in events["nodes"].as_array().unwrap() {
            ids.push(node["messageId"].as_str().unwrap().to_owned());
        }
        if events["pageInfo"]["hasNextPage"] != json!(true) {
            return ids;
        }
        after = events["pageInfo"]["endCursor"].clone();
        assert!(after.is_string(), "{data:#}");
    }
}

/// A running `hourglass serve`, its address read from its JSON log; killed (SIGKILL)
/// when dropped.
pub struct Server {
    pub child: Child,
    pub address: String,
    log: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts on `database_url` with the extra environment `env`.
    pub fn start(database_url: &str, env: &[(&str, &str)]) -> Self {
        let mut child = hourglass()
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("HOURGLASS_DATABASE_URL", database_url)
            .env("HOURGLASS_LOG_FORMAT", "json")
            // Tests run servers side by side: each scrapes on a free port.
            .env("HOURGLASS_METRICS_BIND", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (found, address) = mpsc::channel();
        let start_log = Arc::new(Mutex::new(Vec::new()));
        let early = start_log.clone();
        // Reads the log for the bound address, then keeps draining it so the server
        // never blocks on a full pipe or writes into a closed one; ends when it exits.
        let log = std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(tx) = &found
                    && let Ok(entry) = serde_json::from_str::<Value>(&line)
                    && let Some(address) = entry["fields"]["address"].as_str()
                {
                    let _ = tx.send(address.to_owned());
                    found = None;
                } else if found.is_some() {
                    early.lock().unwrap().push(line);
                }
            }
        });
        let Ok(address) = address.recv_timeout(Duration::from_secs(120)) else {
            let _ = child.kill();
            let status = child.wait().unwrap();
            let _ = log.join();
            panic!(
                "the server did not log its address (exit: {status}); its log:\n{}",
                start_log.lock().unwrap().join("\n")
            );
        };
        Self {
            child,
            address,
            log: Some(log),
        }
    }

    /// SIGKILL: no shutdown, no draining, no closing of the database.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        self.child.wait().unwrap();
        if let Some(log) = self.log.take() {
            log.join().unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The PostgreSQL server's admin database: `TEST_POSTGRES_URL`, default
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Runs one statement on the PostgreSQL server's admin database.
pub fn on_postgres(sql: &str) -> anyhow::Result<()> {
    use sea_orm::ConnectionTrait as _;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let admin_url = postgres_admin_url();
        let store =
            hourglass_storage::Store::connect(&hourglass_storage::StoreOptions::new(&admin_url))
                .await
                .map_err(|e| anyhow::anyhow!("{admin_url}: {e}"))?;
        store.connection().execute_unprepared(sql).await?;
        Ok(store.close().await?)
    })
}

/// Runs `test` on the URL of a new PostgreSQL database, dropped afterwards. Without
/// a server the test is skipped with a note (and counted by `scripts/check.sh`),
/// except under `CI=true`, where that fails.
pub fn on_a_fresh_postgres_database(what: &str, test: impl FnOnce(&str) + std::panic::UnwindSafe) {
    let name = format!("hourglass_{what}_{}", rand::random::<u32>());
    if let Err(e) = on_postgres(&format!("CREATE DATABASE \"{name}\"")) {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"),
            "CI=true needs PostgreSQL for the {what} test: {e}"
        );
        if let Ok(path) = std::env::var("TEST_SKIPPED_LOG")
            && let Ok(mut log) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
        {
            use std::io::Write as _;
            let _ = writeln!(log, "{what} (PostgreSQL)");
        }
        return eprintln!("skipping the PostgreSQL {what} test: {e}");
    }
    let admin_url = postgres_admin_url();
    let (server, _) = admin_url.rsplit_once('/').unwrap();
    let url = format!("{server}/{name}");
    let outcome = std::panic::catch_unwind(|| test(&url));
    if let Err(e) = on_postgres(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")) {
        eprintln!("could not drop the test database {name}: {e}");
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
