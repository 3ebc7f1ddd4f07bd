//! Tenancy over HTTP, on both backends: every request needs a live API key; each role
//! may do what it says and is refused the rest; keys are shown once, leave a last-used
//! time and die the moment they are revoked; and through no key is anything of another
//! agency or workspace ever seen or changed. A foreign workspace, campaign,
//! organization, asset, contact, script or key is answered exactly like one that never
//! existed.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use hourglass_core::Role;
use hourglass_tests::{AGENCY, Backend, TestApp, on_both_backends};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------
// Speaking HTTP with any Authorization header
// ---------------------------------------------------------------------------------

/// One HTTP answer: its status, `WWW-Authenticate` header and JSON body.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    status: u16,
    www_authenticate: Option<String>,
    body: Value,
}

impl Answer {
    /// The error code of a GraphQL answer (first error) or of an NDJSON error body.
    fn code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"]
            .as_str()
            .or_else(|| self.body["error"]["code"].as_str())
    }

    fn text(&self) -> String {
        self.body.to_string()
    }
}

#[derive(Debug, Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

impl Api {
    fn new(app: &TestApp) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: app.url(""),
        }
    }

    async fn send(request: reqwest::RequestBuilder, authorization: Option<&str>) -> Answer {
        let request = match authorization {
            Some(value) => request.header(reqwest::header::AUTHORIZATION, value),
            None => request,
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let www_authenticate = response
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("HTTP {status} with a body that is not JSON ({e}): {text}"));
        Answer {
            status,
            www_authenticate,
            body,
        }
    }

    /// POST /graphql; `authorization` is the whole header value (`None`: no header).
    async fn graphql(&self, authorization: Option<&str>, query: &str, variables: &Value) -> Answer {
        let request = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }));
        Self::send(request, authorization).await
    }

    async fn graphql_get(&self, authorization: Option<&str>, query: &str) -> Answer {
        let request = self
            .client
            .get(format!("{}/graphql", self.base))
            .query(&[("query", query)]);
        Self::send(request, authorization).await
    }

    async fn ndjson(
        &self,
        authorization: Option<&str>,
        workspace: &str,
        lines: &[Value],
    ) -> Answer {
        let body: String = lines.iter().map(|line| format!("{line}\n")).collect();
        let request = self
            .client
            .post(format!("{}/v1/events", self.base))
            .query(&[("workspace", workspace)])
            .header("content-type", "application/x-ndjson")
            .body(body);
        Self::send(request, authorization).await
    }

    /// A GraphQL operation sent with `key`.
    async fn as_key(&self, key: &str, query: &str, variables: Value) -> Answer {
        self.graphql(Some(&bearer(key)), query, &variables).await
    }

    /// Like [`as_key`](Self::as_key), failing the test on any error; returns `data`.
    async fn ok(&self, key: &str, query: &str, variables: Value) -> Value {
        let answer = self.as_key(key, query, variables).await;
        assert!(
            answer.status == 200 && answer.body.get("errors").is_none(),
            "unexpected answer {answer:#?}\nto {query}"
        );
        answer.body["data"].clone()
    }

    /// Issues a key with `admin`; returns its secret.
    async fn issue(&self, admin: &str, workspace: Option<&str>, role: &str, name: &str) -> String {
        let data = self
            .ok(
                admin,
                CREATE_KEY,
                json!({ "w": workspace, "r": role, "n": name }),
            )
            .await;
        let secret = data["createApiKey"]["secret"].as_str().unwrap().to_owned();
        assert_eq!(data["createApiKey"]["apiKey"]["id"], key_id(&secret));
        secret
    }
}

/// Asserts a GraphQL field error with `code` and nothing answered.
fn assert_refused(answer: &Answer, code: &str, what: &str) {
    assert_eq!(answer.status, 200, "{what}: {answer:#?}");
    assert_eq!(answer.code(), Some(code), "{what}: {answer:#?}");
    assert!(
        answer.body["data"].is_null(),
        "{what}: nothing may be answered: {answer:#?}"
    );
}

/// Asserts that `foreign` (asked with the id `real`) is exactly `missing` (asked with
/// the never-existing `ghost`) once `ghost` reads `real`: same status, codes, messages.
fn assert_like_missing(foreign: &Answer, missing: &Answer, ghost: &str, real: &str, what: &str) {
    assert!(
        missing.code().is_some(),
        "{what}: the never-existing '{ghost}' should be an error: {missing:#?}"
    );
    let text = missing.text().replace(ghost, real);
    let expected = Answer {
        body: serde_json::from_str(&text).unwrap(),
        ..missing.clone()
    };
    assert_eq!(
        foreign, &expected,
        "{what}: '{real}' must be answered exactly like the never-existing '{ghost}'"
    );
}

/// The public id of a key `hg_<16 hex>_<64 hex>`, checking its format.
fn key_id(secret: &str) -> String {
    let rest = secret
        .strip_prefix("hg_")
        .unwrap_or_else(|| panic!("not a key: {secret}"));
    let (id, hidden) = rest
        .split_once('_')
        .unwrap_or_else(|| panic!("not a key: {secret}"));
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    assert!(
        hex(id, 16) && hex(hidden, 64),
        "not hg_<16 hex>_<64 hex>: {secret}"
    );
    id.to_owned()
}

/// The secret half of a key: what must never be shown again.
fn hidden_part(secret: &str) -> &str {
    secret.rsplit_once('_').unwrap().1
}

/// Creates another agency (as the operator's CLI does) and returns its first ADMIN key.
async fn other_agency(app: &TestApp, slug: &str) -> String {
    let store = app.db.store().await;
    let tenant = hourglass_server::admin::agency_or_create(&store, slug, &format!("Agency {slug}"))
        .await
        .unwrap();
    let key = hourglass_server::admin::issue_key(&tenant, None, Role::Admin, "first key")
        .await
        .unwrap()
        .secret
        .reveal();
    store.close().await.unwrap();
    key
}

const CREATE_KEY: &str = "mutation($w: ID, $r: Role!, $n: String! = \"test\") {
  createApiKey(input: {workspace: $w, role: $r, name: $n}) {
    secret apiKey { id name role workspace createdAt lastUsedAt revokedAt }
  }
}";
const REVOKE_KEY: &str =
    "mutation($id: ID!) { revokeApiKey(id: $id) { id role workspace revokedAt } }";
const LIST_KEYS: &str = "{ apiKeys { id name role workspace createdAt lastUsedAt revokedAt } }";
const VIEWER: &str = "{ viewer { agency { slug name } role workspace apiKey { id name role workspace lastUsedAt revokedAt } } }";
const WORKSPACES: &str = "{ workspaces { slug name } }";
const CREATE_WORKSPACE: &str =
    "mutation($slug: String!) { createWorkspace(slug: $slug, name: \"New\") { slug } }";
const INGEST: &str = "mutation($ws: ID!, $events: [EventInput!]!) {
  ingestEvents(workspace: $ws, events: $events) { accepted duplicates rejected { index code message } }
}";
const EVENT_COUNTS: &str =
    "query($ws: ID!) { kpis(workspace: $ws) { eventCounts { kind count } } }";

fn click(message_id: &str, contact: &str) -> Value {
    json!({
        "messageId": message_id, "kind": "CLICK",
        "occurredAt": "2026-03-03T10:00:00Z", "contactId": contact,
    })
}

/// Events per kind in a workspace, as the server counts them.
async fn event_counts(api: &Api, key: &str, workspace: &str) -> BTreeMap<String, u64> {
    let data = api.ok(key, EVENT_COUNTS, json!({ "ws": workspace })).await;
    counts_in(&data["kpis"])
}

/// A `kpis` answer's `eventCounts` as kind → count.
fn counts_in(kpis: &Value) -> BTreeMap<String, u64> {
    kpis["eventCounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_owned(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Events per kind in a list of sent events.
fn counts_of(events: &[Value]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for e in events {
        *counts
            .entry(e["kind"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    counts
}

fn strings(list: &Value, field: &str) -> BTreeSet<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

fn nodes(connection: &Value) -> Vec<Value> {
    connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("not a connection: {connection}"))
        .iter()
        .map(|edge| edge["node"].clone())
        .collect()
}

/// What a role may do, written out from the README (not read from the product).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    Read,
    Ingest,
    Scripts,
    Admin,
}

fn allows(role: &str, needs: Needs) -> bool {
    match role {
        "ADMIN" => true,
        "ANALYST" => matches!(needs, Needs::Read | Needs::Scripts),
        "INGEST" => needs == Needs::Ingest,
        "READ" => needs == Needs::Read,
        other => panic!("unknown role {other}"),
    }
}

const ROLES: [&str; 4] = ["ADMIN", "ANALYST", "INGEST", "READ"];

// ---------------------------------------------------------------------------------
// 1. Authentication
// ---------------------------------------------------------------------------------

async fn requests_without_a_live_key_get_401_and_change_nothing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let api = Api::new(&app);
    app.create_workspace("acme").await;

    // A key that worked, then was revoked.
    let revoked = api
        .issue(&app.key, Some("acme"), "ADMIN", "soon revoked")
        .await;
    api.ok(&revoked, VIEWER, json!({})).await;
    api.ok(&app.key, REVOKE_KEY, json!({ "id": key_id(&revoked) }))
        .await;
    let admin_id = key_id(&app.key);
    let unknown = format!("hg_0123456789abcdef_{}", "7".repeat(64));
    let wrong_secret = format!("hg_{admin_id}_{}", "0".repeat(64));
    assert_ne!(wrong_secret, app.key);

    // No key presented at all, and a presented key that is not a live one: each class
    // gets one answer whatever the reason, so nothing tells a revoked key from garbage.
    let no_key: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        ("an empty Bearer", Some("Bearer ".into())),
        ("another scheme", Some(format!("Basic {}", app.key))),
        ("the key without a scheme", Some(app.key.clone())),
    ];
    let bad_key: Vec<(&str, Option<String>)> = vec![
        ("garbage", Some(bearer("garbage"))),
        ("a well-formed key never issued", Some(bearer(&unknown))),
        (
            "a real key id with the wrong secret",
            Some(bearer(&wrong_secret)),
        ),
        (
            "a real key in upper case",
            Some(bearer(&app.key.to_uppercase())),
        ),
        ("a revoked key", Some(bearer(&revoked))),
    ];
    let mut n = 0;
    for class in [&no_key, &bad_key] {
        let mut graphql_bodies = BTreeSet::new();
        let mut ndjson_bodies = BTreeSet::new();
        for (what, authorization) in class {
            n += 1;
            let auth = authorization.as_deref();
            let answers = [
                (
                    "a GraphQL query",
                    api.graphql(auth, WORKSPACES, &json!({})).await,
                ),
                ("a GraphQL GET", api.graphql_get(auth, WORKSPACES).await),
                (
                    "createWorkspace",
                    api.graphql(
                        auth,
                        CREATE_WORKSPACE,
                        &json!({ "slug": format!("intruder-{n}") }),
                    )
                    .await,
                ),
                (
                    "createApiKey",
                    api.graphql(auth, CREATE_KEY, &json!({ "w": null, "r": "ADMIN" }))
                        .await,
                ),
                (
                    "ingestEvents",
                    api.graphql(
                        auth,
                        INGEST,
                        &json!({ "ws": "acme", "events": [click(&format!("gql-{n}"), "c")] }),
                    )
                    .await,
                ),
                (
                    "NDJSON",
                    api.ndjson(auth, "acme", &[click(&format!("nd-{n}"), "c")])
                        .await,
                ),
                (
                    "NDJSON to a workspace that does not exist",
                    api.ndjson(auth, "ghost", &[click(&format!("nd-{n}"), "c")])
                        .await,
                ),
            ];
            for (request, answer) in &answers {
                assert_eq!(answer.status, 401, "{what}, {request}: {answer:#?}");
                assert_eq!(
                    answer.code(),
                    Some("UNAUTHENTICATED"),
                    "{what}, {request}: {answer:#?}"
                );
                assert!(
                    answer
                        .www_authenticate
                        .as_deref()
                        .is_some_and(|v| v.starts_with("Bearer")),
                    "{what}, {request}: a 401 names its scheme in WWW-Authenticate: {answer:#?}"
                );
                assert!(
                    answer.body.get("data").is_none_or(Value::is_null),
                    "{what}, {request}: nothing is answered: {answer:#?}"
                );
            }
            graphql_bodies.insert(answers[0].1.text());
            ndjson_bodies.insert(answers[5].1.text());
            assert_eq!(
                answers[5].1, answers[6].1,
                "{what}: without a live key, whether a workspace exists is not told"
            );
        }
        assert_eq!(graphql_bodies.len(), 1, "one answer: {graphql_bodies:#?}");
        assert_eq!(ndjson_bodies.len(), 1, "one answer: {ndjson_bodies:#?}");
    }

    // Nothing that was refused happened.
    let workspaces = api.ok(&app.key, WORKSPACES, json!({})).await;
    assert_eq!(
        strings(&workspaces["workspaces"], "slug"),
        BTreeSet::from(["acme".to_owned()])
    );
    assert_eq!(event_counts(&api, &app.key, "acme").await, BTreeMap::new());
    let keys = api.ok(&app.key, LIST_KEYS, json!({})).await;
    assert_eq!(
        keys["apiKeys"].as_array().unwrap().len(),
        2,
        "only the admin key and the revoked one: {keys:#}"
    );

    // The controls: the scheme is case-insensitive, and a live key is let in everywhere
    // and stores what it sends, so the counts above would have seen a stored event.
    let lower = api
        .graphql(Some(&format!("bearer {}", app.key)), WORKSPACES, &json!({}))
        .await;
    assert_eq!(lower.status, 200, "{lower:#?}");
    assert_eq!(
        api.graphql_get(Some(&bearer(&app.key)), WORKSPACES)
            .await
            .status,
        200
    );
    let stored = api
        .ndjson(Some(&bearer(&app.key)), "acme", &[click("live", "c")])
        .await;
    assert_eq!((stored.status, &stored.body["accepted"]), (200, &json!(1)));
    assert_eq!(
        event_counts(&api, &app.key, "acme").await,
        BTreeMap::from([("CLICK".to_owned(), 1)])
    );
}

// ---------------------------------------------------------------------------------
// 2. The role matrix
// ---------------------------------------------------------------------------------

/// A GraphQL operation on one workspace, and what it needs.
struct WorkspaceOp {
    name: &'static str,
    needs: Needs,
    /// Checks the role before it looks the workspace up (key administration): a weak
    /// role is then FORBIDDEN for a foreign workspace exactly as for a missing one.
    role_first: bool,
    query: &'static str,
}

const WORKSPACE_OPS: &[WorkspaceOp] = &[
    WorkspaceOp {
        name: "kpis",
        needs: Needs::Read,
        role_first: false,
        query: "query($ws: ID!) { kpis(workspace: $ws) { clicks minSample } }",
    },
    WorkspaceOp {
        name: "workspace",
        needs: Needs::Read,
        role_first: false,
        query: "query($ws: ID!) { workspace(slug: $ws) { slug minSample } }",
    },
    WorkspaceOp {
        name: "createKpiScript",
        needs: Needs::Scripts,
        role_first: false,
        query: "mutation($ws: ID!, $s: String!) { createKpiScript(workspace: $ws, input: {key: $s, name: \"n\", goal: FIND, source: \"1\"}) { key version } }",
    },
    WorkspaceOp {
        name: "createCampaign",
        needs: Needs::Admin,
        role_first: false,
        query: "mutation($ws: ID!, $s: ID!) { createCampaign(workspace: $ws, input: {id: $s, name: \"n\", goal: FIND}) { id } }",
    },
    WorkspaceOp {
        name: "updateWorkspace",
        needs: Needs::Admin,
        role_first: false,
        query: "mutation($ws: ID!, $s: String!) { updateWorkspace(slug: $ws, input: {name: $s}) { name } }",
    },
    WorkspaceOp {
        name: "ingestEvents",
        needs: Needs::Ingest,
        role_first: false,
        query: "mutation($ws: ID!, $s: String!) { ingestEvents(workspace: $ws, events: [{messageId: $s, kind: CLICK, occurredAt: \"2026-03-03T10:00:00Z\", contactId: \"c\"}]) { accepted duplicates } }",
    },
    WorkspaceOp {
        name: "createApiKey for the workspace",
        needs: Needs::Admin,
        role_first: true,
        query: "mutation($ws: ID!, $s: String!) { createApiKey(input: {workspace: $ws, role: READ, name: $s}) { apiKey { workspace role } } }",
    },
];

async fn each_role_may_do_what_it_says_and_nothing_more(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let api = Api::new(&app);
    app.create_workspace("acme").await;
    app.create_workspace("globex").await;
    let admin_id = key_id(&app.key);

    // What should exist at the end.
    let mut events: BTreeMap<&str, u64> = [("acme", 0), ("globex", 0)].into();
    let mut campaigns: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut scripts: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut slugs: BTreeSet<String> = ["acme".to_owned(), "globex".to_owned()].into();
    let mut n = 0;

    for scope in [None, Some("acme")] {
        for role in ROLES {
            let key = app.issue_key(scope, role).await;
            let who = format!("a {role} key for {}", scope.unwrap_or("the whole agency"));
            let wide = scope.is_none();

            // Any key may ask who it is.
            let viewer = api.ok(&key, VIEWER, json!({})).await["viewer"].clone();
            assert_eq!(viewer["agency"]["slug"], AGENCY, "{who}");
            assert_eq!(viewer["role"], role, "{who}");
            assert_eq!(viewer["workspace"], json!(scope), "{who}");
            assert_eq!(viewer["apiKey"]["id"], key_id(&key), "{who}");

            // Which workspaces it sees.
            let listed = api.as_key(&key, WORKSPACES, json!({})).await;
            if allows(role, Needs::Read) {
                let expected = if wide {
                    slugs.clone()
                } else {
                    BTreeSet::from(["acme".to_owned()])
                };
                assert_eq!(
                    strings(&listed.body["data"]["workspaces"], "slug"),
                    expected,
                    "{who}"
                );
            } else {
                assert_refused(&listed, "FORBIDDEN", &format!("{who}: workspaces"));
            }

            for ws in ["acme", "globex"] {
                let in_scope = wide || scope == Some(ws);
                for op in WORKSPACE_OPS {
                    n += 1;
                    let s = format!("x{n}");
                    let what = format!("{who}: {} on {ws}", op.name);
                    let answer = api
                        .as_key(&key, op.query, json!({ "ws": ws, "s": s }))
                        .await;
                    if !in_scope {
                        // Out of scope: NOT_FOUND whatever the role, exactly like a
                        // workspace that does not exist (FORBIDDEN, for both, where the
                        // role is checked first and falls short).
                        let expected = if op.role_first && !allows(role, op.needs) {
                            "FORBIDDEN"
                        } else {
                            "NOT_FOUND"
                        };
                        assert_eq!(answer.code(), Some(expected), "{what}: {answer:#?}");
                        let missing = api
                            .as_key(&key, op.query, json!({ "ws": "nowhere", "s": s }))
                            .await;
                        assert_like_missing(&answer, &missing, "nowhere", ws, &what);
                        continue;
                    }
                    if !allows(role, op.needs) {
                        assert_refused(&answer, "FORBIDDEN", &what);
                        continue;
                    }
                    assert!(
                        answer.status == 200 && answer.body.get("errors").is_none(),
                        "{what}: {answer:#?}"
                    );
                    match op.name {
                        "ingestEvents" => {
                            assert_eq!(answer.body["data"]["ingestEvents"]["accepted"], 1);
                            *events.get_mut(ws).unwrap() += 1;
                        }
                        "createCampaign" => {
                            campaigns.entry(ws).or_default().insert(s);
                        }
                        "createKpiScript" => {
                            scripts.entry(ws).or_default().insert(s);
                        }
                        "createApiKey for the workspace" => {
                            assert_eq!(
                                answer.body["data"]["createApiKey"]["apiKey"],
                                json!({ "workspace": ws, "role": "READ" })
                            );
                        }
                        _ => {}
                    }
                }

                // NDJSON: 403 for a role that may not send events, 404 out of scope.
                n += 1;
                let what = format!("{who}: NDJSON to {ws}");
                let line = [click(&format!("nd{n}"), "c")];
                let answer = api.ndjson(Some(&bearer(&key)), ws, &line).await;
                if !in_scope {
                    assert_eq!(
                        (answer.status, answer.code()),
                        (404, Some("NOT_FOUND")),
                        "{what}: {answer:#?}"
                    );
                    let missing = api.ndjson(Some(&bearer(&key)), "nowhere", &line).await;
                    assert_like_missing(&answer, &missing, "nowhere", ws, &what);
                } else if allows(role, Needs::Ingest) {
                    assert_eq!(
                        (answer.status, &answer.body["accepted"]),
                        (200, &json!(1)),
                        "{what}: {answer:#?}"
                    );
                    *events.get_mut(ws).unwrap() += 1;
                } else {
                    assert_eq!(
                        (answer.status, answer.code()),
                        (403, Some("FORBIDDEN")),
                        "{what}: {answer:#?}"
                    );
                }
            }

            // Keys: ADMIN only; a workspace key sees and makes only its workspace's.
            let what = format!("{who}: apiKeys");
            let listed = api.as_key(&key, LIST_KEYS, json!({})).await;
            if role == "ADMIN" {
                let all = api.ok(&app.key, LIST_KEYS, json!({})).await["apiKeys"].clone();
                let expected: Vec<&Value> = all
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|k| wide || k["workspace"] == json!(scope))
                    .collect();
                let got: Vec<&Value> = listed.body["data"]["apiKeys"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{what}: {listed:#?}"))
                    .iter()
                    .collect();
                let ids = |keys: &[&Value]| -> Vec<Value> {
                    keys.iter().map(|k| k["id"].clone()).collect()
                };
                assert_eq!(ids(&got), ids(&expected), "{what}");
                assert_eq!(
                    wide,
                    ids(&got).contains(&json!(admin_id)),
                    "{what}: the agency-wide key is listed to agency-wide keys only"
                );
            } else {
                assert_refused(&listed, "FORBIDDEN", &what);
            }
            let what = format!("{who}: createApiKey for the whole agency");
            let agency_key = api
                .as_key(&key, CREATE_KEY, json!({ "w": null, "r": "READ" }))
                .await;
            if role == "ADMIN" && wide {
                assert_eq!(
                    agency_key.body["data"]["createApiKey"]["apiKey"]["workspace"],
                    Value::Null,
                    "{what}: {agency_key:#?}"
                );
            } else {
                assert_refused(&agency_key, "FORBIDDEN", &what);
            }
            if !wide {
                // The other workspace of its own agency, as a workspace key sees it.
                let (target, ghost) = ("globex", "nowhere");
                let what = format!("{who}: createApiKey for {target}");
                let answer = api
                    .as_key(&key, CREATE_KEY, json!({ "w": target, "r": "READ" }))
                    .await;
                let missing = api
                    .as_key(&key, CREATE_KEY, json!({ "w": ghost, "r": "READ" }))
                    .await;
                assert_like_missing(&answer, &missing, ghost, target, &what);
                let expected = if role == "ADMIN" {
                    "NOT_FOUND"
                } else {
                    "FORBIDDEN"
                };
                assert_refused(&answer, expected, &what);
            }
            n += 1;
            let slug = format!("new-{n}");
            let what = format!("{who}: createWorkspace");
            let created = api
                .as_key(&key, CREATE_WORKSPACE, json!({ "slug": slug }))
                .await;
            if role == "ADMIN" && wide {
                assert_eq!(
                    created.body["data"]["createWorkspace"]["slug"], slug,
                    "{what}"
                );
                slugs.insert(slug);
            } else {
                assert_refused(&created, "FORBIDDEN", &what);
            }
        }
    }

    // Exactly what was allowed happened; nothing that was refused left a trace.
    for (ws, count) in &events {
        let expected: BTreeMap<String, u64> = if *count == 0 {
            BTreeMap::new()
        } else {
            BTreeMap::from([("CLICK".to_owned(), *count)])
        };
        assert_eq!(event_counts(&api, &app.key, ws).await, expected, "{ws}");
    }
    assert_eq!(
        events,
        BTreeMap::from([("acme", 8), ("globex", 4)]),
        "ADMIN and INGEST send, twice each, to what they see"
    );
    for ws in ["acme", "globex"] {
        let data = api
            .ok(
                &app.key,
                "query($ws: ID!) { campaigns(workspace: $ws, first: 100) { edges { node { id } } }
                                   kpiScripts(workspace: $ws, first: 100) { edges { node { key } } } }",
                json!({ "ws": ws }),
            )
            .await;
        let ids = |list: Vec<Value>, field: &str| -> BTreeSet<String> {
            strings(&Value::Array(list), field)
        };
        assert_eq!(
            ids(nodes(&data["campaigns"]), "id"),
            campaigns.get(ws).cloned().unwrap_or_default(),
            "{ws}: campaigns"
        );
        assert_eq!(
            ids(nodes(&data["kpiScripts"]), "key"),
            scripts.get(ws).cloned().unwrap_or_default(),
            "{ws}: scripts"
        );
    }
    assert_eq!(campaigns["acme"].len(), 2, "the two ADMIN keys");
    assert_eq!(campaigns["globex"].len(), 1, "the agency-wide ADMIN key");
    assert_eq!(scripts["acme"].len(), 4, "ADMIN and ANALYST, both scopes");
    let listed = api.ok(&app.key, WORKSPACES, json!({})).await;
    assert_eq!(strings(&listed["workspaces"], "slug"), slugs);
    assert_eq!(slugs.len(), 3, "only the agency-wide ADMIN key created one");
}

// ---------------------------------------------------------------------------------
// 3. Keys: shown once, last used, revoked at once, per agency
// ---------------------------------------------------------------------------------

async fn keys_are_shown_once_and_revoked_at_once_within_their_agency(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let api = Api::new(&app);
    app.create_workspace("acme").await;
    app.create_workspace("globex").await;

    // Created: the secret comes once, in the documented format, named by its id.
    let created = api
        .ok(
            &app.key,
            CREATE_KEY,
            json!({ "w": "acme", "r": "READ", "n": "Looker dashboard" }),
        )
        .await["createApiKey"]
        .clone();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let id = key_id(&secret);
    assert_eq!(created["apiKey"]["id"], id);
    assert_eq!(created["apiKey"]["name"], "Looker dashboard");
    assert_eq!(created["apiKey"]["workspace"], "acme");
    assert_eq!(created["apiKey"]["lastUsedAt"], Value::Null);
    assert_eq!(created["apiKey"]["revokedAt"], Value::Null);
    let twin = api.issue(&app.key, Some("acme"), "READ", "twin").await;
    assert_ne!(hidden_part(&twin), hidden_part(&secret), "every key is new");
    assert_ne!(key_id(&twin), id);

    // Last used: empty until the key is used, then the time of use (to the minute).
    let find = |listing: &Value, id: &str| -> Value {
        listing["apiKeys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("key {id} not listed: {listing:#}"))
    };
    let before = api.ok(&app.key, LIST_KEYS, json!({})).await;
    assert_eq!(find(&before, &id)["lastUsedAt"], Value::Null);
    assert_eq!(
        find(&before, &key_id(&twin))["lastUsedAt"],
        Value::Null,
        "created is not used"
    );
    let used_at = chrono::Utc::now();
    api.ok(
        &secret,
        "query { kpis(workspace: \"acme\") { clicks } }",
        json!({}),
    )
    .await;
    let after = api.ok(&app.key, LIST_KEYS, json!({})).await;
    let last_used = find(&after, &id)["lastUsedAt"]
        .as_str()
        .unwrap_or_else(|| panic!("no lastUsedAt after use: {after:#}"))
        .parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap();
    assert!(
        (last_used - used_at).num_seconds().abs() <= 90,
        "{last_used} vs {used_at}"
    );
    assert_eq!(find(&after, &key_id(&twin))["lastUsedAt"], Value::Null);

    // Never shown again: no listing carries it, and no type has a field for it.
    let listing = api.as_key(&app.key, LIST_KEYS, json!({})).await;
    let viewer = api.as_key(&secret, VIEWER, json!({})).await;
    for answer in [&listing, &viewer] {
        assert!(
            !answer.text().contains(hidden_part(&secret))
                && !answer.text().contains(hidden_part(&twin))
                && !answer.text().contains(hidden_part(&app.key)),
            "a listing shows a secret: {answer:#?}"
        );
    }
    let fields = api
        .ok(
            &app.key,
            "{ __type(name: \"ApiKey\") { fields { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        strings(&fields["__type"]["fields"], "name"),
        BTreeSet::from(
            [
                "id",
                "name",
                "role",
                "workspace",
                "createdAt",
                "lastUsedAt",
                "revokedAt"
            ]
            .map(String::from)
        ),
    );

    // Revoked: the very next request is refused, over GraphQL and NDJSON alike.
    let ingest_key = api.issue(&app.key, Some("acme"), "INGEST", "tracker").await;
    assert_eq!(
        api.ndjson(Some(&bearer(&ingest_key)), "acme", &[click("before", "c")])
            .await
            .status,
        200
    );
    for revoked in [&secret, &ingest_key] {
        let answer = api
            .ok(&app.key, REVOKE_KEY, json!({ "id": key_id(revoked) }))
            .await;
        assert_eq!(answer["revokeApiKey"]["id"], key_id(revoked));
        assert!(
            answer["revokeApiKey"]["revokedAt"].is_string(),
            "{answer:#}"
        );
        let graphql = api.as_key(revoked, VIEWER, json!({})).await;
        assert_eq!(
            (graphql.status, graphql.code()),
            (401, Some("UNAUTHENTICATED")),
            "{graphql:#?}"
        );
        let ndjson = api
            .ndjson(Some(&bearer(revoked)), "acme", &[click("after", "c")])
            .await;
        assert_eq!(
            (ndjson.status, ndjson.code()),
            (401, Some("UNAUTHENTICATED")),
            "{ndjson:#?}"
        );
        // Revoking again changes nothing.
        let again = api
            .ok(&app.key, REVOKE_KEY, json!({ "id": key_id(revoked) }))
            .await;
        assert_eq!(again, answer);
    }
    assert_eq!(
        event_counts(&api, &app.key, "acme").await,
        BTreeMap::from([("CLICK".to_owned(), 1)]),
        "only the event sent before revocation"
    );
    let listed = api.ok(&app.key, LIST_KEYS, json!({})).await;
    assert!(find(&listed, &id)["revokedAt"].is_string());
    assert_eq!(find(&listed, &key_id(&twin))["revokedAt"], Value::Null);
    api.ok(&twin, VIEWER, json!({})).await;

    // A key may revoke itself, and is refused from then on.
    let itself = api.issue(&app.key, None, "ADMIN", "short-lived").await;
    api.ok(&itself, REVOKE_KEY, json!({ "id": key_id(&itself) }))
        .await;
    assert_eq!(api.as_key(&itself, VIEWER, json!({})).await.status, 401);

    // A workspace ADMIN key manages its workspace's keys, and no other key exists for
    // it: another workspace's key and the agency's are answered like a random id.
    let acme_admin = api
        .issue(&app.key, Some("acme"), "ADMIN", "acme admin")
        .await;
    let globex_key = api.issue(&app.key, Some("globex"), "READ", "globex").await;
    let random = "feedfacecafebeef";
    for target in [key_id(&globex_key), key_id(&app.key)] {
        let what = format!("the acme ADMIN key revoking {target}");
        let answer = api
            .as_key(&acme_admin, REVOKE_KEY, json!({ "id": target }))
            .await;
        let missing = api
            .as_key(&acme_admin, REVOKE_KEY, json!({ "id": random }))
            .await;
        assert_refused(&answer, "NOT_FOUND", &what);
        assert_like_missing(&answer, &missing, random, &target, &what);
    }
    api.ok(&globex_key, VIEWER, json!({})).await;
    api.ok(&app.key, VIEWER, json!({})).await;

    // Another agency: its keys and ours never meet.
    let other = other_agency(&app, "other-agency").await;
    let ours: BTreeSet<String> = strings(
        &api.ok(&app.key, LIST_KEYS, json!({})).await["apiKeys"],
        "id",
    );
    let theirs: BTreeSet<String> =
        strings(&api.ok(&other, LIST_KEYS, json!({})).await["apiKeys"], "id");
    assert_eq!(theirs, BTreeSet::from([key_id(&other)]));
    assert!(ours.is_disjoint(&theirs));
    assert!(!ours.contains(&key_id(&other)));
    let viewer = api.ok(&other, VIEWER, json!({})).await;
    assert_eq!(viewer["viewer"]["agency"]["slug"], "other-agency");
    for target in [key_id(&app.key), key_id(&twin), key_id(&globex_key)] {
        let what = format!("another agency revoking {target}");
        let answer = api
            .as_key(&other, REVOKE_KEY, json!({ "id": target }))
            .await;
        let missing = api
            .as_key(&other, REVOKE_KEY, json!({ "id": random }))
            .await;
        assert_refused(&answer, "NOT_FOUND", &what);
        assert_like_missing(&answer, &missing, random, &target, &what);
    }
    for (ours, what) in [(&app.key, "our ADMIN key"), (&twin, "our READ key")] {
        assert_eq!(
            api.as_key(ours, VIEWER, json!({})).await.status,
            200,
            "{what} still works after another agency tried to revoke it"
        );
    }
    // Nor can it issue keys for our workspaces, until it has its own of that slug.
    let what = "another agency issuing a key for our acme";
    let answer = api
        .as_key(&other, CREATE_KEY, json!({ "w": "acme", "r": "ADMIN" }))
        .await;
    let missing = api
        .as_key(&other, CREATE_KEY, json!({ "w": "nowhere", "r": "ADMIN" }))
        .await;
    assert_refused(&answer, "NOT_FOUND", what);
    assert_like_missing(&answer, &missing, "nowhere", "acme", what);
    api.ok(
        &other,
        "mutation { createWorkspace(slug: \"acme\", name: \"Their Acme\") { slug } }",
        json!({}),
    )
    .await;
    let theirs_acme = api.issue(&other, Some("acme"), "READ", "their acme").await;
    let seen = api
        .ok(
            &theirs_acme,
            "{ workspace(slug: \"acme\") { name } }",
            json!({}),
        )
        .await;
    assert_eq!(seen["workspace"]["name"], "Their Acme");
    let ours_acme = api
        .ok(&twin, "{ workspace(slug: \"acme\") { name } }", json!({}))
        .await;
    assert_eq!(ours_acme["workspace"]["name"], "Test");
    assert_eq!(
        strings(
            &api.ok(&app.key, LIST_KEYS, json!({})).await["apiKeys"],
            "id"
        ),
        ours,
        "nothing the other agency did shows in our keys"
    );
}

// ---------------------------------------------------------------------------------
// 4. Randomized: several agencies, shared slugs and ids, every template against
//    every other tenant
// ---------------------------------------------------------------------------------

/// Fixed seeds: each makes a fresh server with its own agencies, data and keys.
const SEEDS: [u64; 3] = [7, 1913, 424_242];
/// Requests in flight at once during the cross-tenant phase.
const PARALLEL: usize = 6;
const GHOST_SLUG: &str = "nowhere";
const GHOST_ID: &str = "never-seen";
const GHOST_SCRIPT: &str = "never_seen";
const GHOST_KEY: &str = "feedfacecafebeef";

/// What a template's variable `$id` names (`Slug`: it has only `$ws`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg {
    Slug,
    Campaign,
    Organization,
    Asset,
    Contact,
    Script,
    Key,
}

impl Arg {
    fn ghost(self) -> &'static str {
        match self {
            Arg::Slug => GHOST_SLUG,
            Arg::Script => GHOST_SCRIPT,
            Arg::Key => GHOST_KEY,
            _ => GHOST_ID,
        }
    }
}

#[derive(Debug)]
struct Template {
    name: &'static str,
    arg: Arg,
    needs: Needs,
    mutation: bool,
    /// Empty: NDJSON to `/v1/events?workspace=$ws`.
    query: &'static str,
}

const fn read(name: &'static str, arg: Arg, query: &'static str) -> Template {
    Template {
        name,
        arg,
        needs: Needs::Read,
        mutation: false,
        query,
    }
}

const fn write(name: &'static str, arg: Arg, needs: Needs, query: &'static str) -> Template {
    Template {
        name,
        arg,
        needs,
        mutation: true,
        query,
    }
}

const TEMPLATES: &[Template] = &[
    read(
        "kpis",
        Arg::Slug,
        "query($ws: ID!) { kpis(workspace: $ws) { eventCounts { kind count } impressions pageViews clicks
           registrations attendances uniqueVisitors landingPageViewers registrants attendees spend minSample
           clickThroughRate { value numerator n lower upper sufficient } registrationRate { value n sufficient } } }",
    ),
    read(
        "kpis of a campaign",
        Arg::Campaign,
        "query($ws: ID!, $id: ID!) { kpis(workspace: $ws, filter: {campaign: $id}) { eventCounts { kind count } clicks spend } }",
    ),
    read(
        "kpis of an organization",
        Arg::Organization,
        "query($ws: ID!, $id: ID!) { kpis(workspace: $ws, filter: {organization: $id}) { eventCounts { kind count } uniqueVisitors } }",
    ),
    read(
        "funnel",
        Arg::Asset,
        "query($ws: ID!, $id: ID!) { funnel(workspace: $ws, asset: $id) { asset steps { name count rate { value n sufficient } } } }",
    ),
    read(
        "campaign",
        Arg::Campaign,
        "query($ws: ID!, $id: ID!) { campaign(workspace: $ws, id: $id) { id name goal budget kpis { clicks spend eventCounts { kind count } } } }",
    ),
    read(
        "campaigns",
        Arg::Slug,
        "query($ws: ID!) { campaigns(workspace: $ws, first: 100) { edges { node { id name goal budget } } } }",
    ),
    read(
        "organization",
        Arg::Organization,
        "query($ws: ID!, $id: ID!) { organization(workspace: $ws, id: $id) { id name domain depth { score engagedContacts attendees questionAskers breadth } } }",
    ),
    read(
        "organizations by depth",
        Arg::Slug,
        "query($ws: ID!) { organizations(workspace: $ws, orderBy: DEPTH, first: 50) { edges { node { id name rank depth { score engagedContacts attendees breadth } } } } }",
    ),
    read(
        "contact",
        Arg::Contact,
        "query($ws: ID!, $id: ID!) { contact(workspace: $ws, id: $id) { id organization stage } }",
    ),
    read(
        "contacts of an organization",
        Arg::Organization,
        "query($ws: ID!, $id: ID!) { contacts(workspace: $ws, organization: $id, first: 50) { edges { node { id organization stage } } } }",
    ),
    read(
        "events",
        Arg::Slug,
        "query($ws: ID!) { events(workspace: $ws, first: 100) { edges { node { messageId kind occurredAt contact
           organization campaign asset channel value properties } } } }",
    ),
    read(
        "events of an asset",
        Arg::Asset,
        "query($ws: ID!, $id: ID!) { events(workspace: $ws, filter: {asset: $id}, first: 100) { edges { node { messageId kind contact properties } } } }",
    ),
    read(
        "hourglass",
        Arg::Campaign,
        "query($ws: ID!, $id: ID!) { hourglass(workspace: $ws, campaign: $id) { top { clicks eventCounts { kind count } }
           bottom { leadStages organizationCount totals { score attendees engagedContacts } shortList { id name rank depth { score } } } } }",
    ),
    read(
        "customKpi",
        Arg::Script,
        "query($ws: ID!, $id: String!) { customKpi(workspace: $ws, key: $id) { key version unit aggregate { count sum min max }
           errors { organization code message } perOrganization(orderBy: ORGANIZATION, first: 50) { edges { node { organization organizationName value label } } } } }",
    ),
    read(
        "kpis with a custom KPI",
        Arg::Script,
        "query($ws: ID!, $id: String!) { kpis(workspace: $ws) { clicks custom(key: $id) { key version aggregate { count sum } } } }",
    ),
    read(
        "kpiScript",
        Arg::Script,
        "query($ws: ID!, $id: String!) { kpiScript(workspace: $ws, key: $id) { key version name source history { version name } } }",
    ),
    read(
        "kpiScripts",
        Arg::Slug,
        "query($ws: ID!) { kpiScripts(workspace: $ws, includeArchived: true) { edges { node { key version name source archived } } } }",
    ),
    read(
        "workspace",
        Arg::Slug,
        "query($ws: ID!) { workspace(slug: $ws) { slug name minSample fullStayThreshold lifecycleStages depthWeights { engagedContacts attendees breadth } } }",
    ),
    read(
        "asset",
        Arg::Asset,
        "query($ws: ID!, $id: ID!) { asset(workspace: $ws, id: $id) { id kind title durationSeconds landingPage } }",
    ),
    read(
        "assets",
        Arg::Slug,
        "query($ws: ID!) { assets(workspace: $ws, first: 50) { edges { node { id kind title landingPage } } } }",
    ),
    write(
        "updateCampaign",
        Arg::Campaign,
        Needs::Admin,
        "mutation($ws: ID!, $id: ID!) { updateCampaign(workspace: $ws, id: $id, input: {name: \"hijacked\", budget: 1}) { id name budget } }",
    ),
    write(
        "recordSpend",
        Arg::Campaign,
        Needs::Admin,
        "mutation($ws: ID!, $id: ID!) { recordSpend(workspace: $ws, campaign: $id, channel: \"email\", day: \"2026-03-05\", amount: 99999) { campaign channel day amount } }",
    ),
    write(
        "updateOrganization",
        Arg::Organization,
        Needs::Admin,
        "mutation($ws: ID!, $id: ID!) { updateOrganization(workspace: $ws, id: $id, input: {name: \"hijacked\"}) { id name } }",
    ),
    write(
        "updateAsset",
        Arg::Asset,
        Needs::Admin,
        "mutation($ws: ID!, $id: ID!) { updateAsset(workspace: $ws, id: $id, input: {title: \"hijacked\"}) { id title } }",
    ),
    write(
        "createCampaign",
        Arg::Slug,
        Needs::Admin,
        "mutation($ws: ID!) { createCampaign(workspace: $ws, input: {id: \"hijack\", name: \"hijacked\", goal: FIND}) { id } }",
    ),
    write(
        "ingestEvents",
        Arg::Slug,
        Needs::Ingest,
        "mutation($ws: ID!) { ingestEvents(workspace: $ws, events: [
           {messageId: \"m0\", kind: CLICK, occurredAt: \"2026-03-03T10:00:00Z\", contactId: \"p0\", campaignId: \"spring\"},
           {messageId: \"hijack\", kind: CLICK, occurredAt: \"2026-03-03T10:00:00Z\", contactId: \"hijack\"}]) {
           accepted duplicates rejected { index code } } }",
    ),
    write("NDJSON", Arg::Slug, Needs::Ingest, ""),
    write(
        "updateWorkspace",
        Arg::Slug,
        Needs::Admin,
        "mutation($ws: ID!) { updateWorkspace(slug: $ws, input: {name: \"hijacked\", minSample: 999}) { slug name minSample } }",
    ),
    write(
        "createApiKey",
        Arg::Slug,
        Needs::Admin,
        "mutation($ws: ID!) { createApiKey(input: {workspace: $ws, role: ADMIN, name: \"hijack\"}) { secret apiKey { id workspace } } }",
    ),
    write(
        "createKpiScript",
        Arg::Slug,
        Needs::Scripts,
        "mutation($ws: ID!) { createKpiScript(workspace: $ws, input: {key: \"hijack\", name: \"hijacked\", goal: FIND, source: \"1\"}) { key version } }",
    ),
    write(
        "updateKpiScript",
        Arg::Script,
        Needs::Scripts,
        "mutation($ws: ID!, $id: String!) { updateKpiScript(workspace: $ws, key: $id, input: {name: \"hijacked\", source: \"0\"}) { key version } }",
    ),
    write(
        "archiveKpiScript",
        Arg::Script,
        Needs::Scripts,
        "mutation($ws: ID!, $id: String!) { archiveKpiScript(workspace: $ws, key: $id) { key archived } }",
    ),
    write(
        "revokeApiKey",
        Arg::Key,
        Needs::Admin,
        "mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }",
    ),
];

/// What the NDJSON template sends: an event id every tenant has, and a new one.
fn hijack_lines() -> [Value; 2] {
    [
        json!({"messageId": "m0", "kind": "CLICK", "occurredAt": "2026-03-03T10:00:00Z", "contactId": "p0", "campaignId": "spring"}),
        json!({"messageId": "hijack", "kind": "CLICK", "occurredAt": "2026-03-03T10:00:00Z", "contactId": "hijack"}),
    ]
}

#[derive(Debug)]
struct AgencyInfo {
    slug: String,
    /// Its agency-wide ADMIN key.
    admin: String,
    /// In the names of its agency-wide keys.
    marker: String,
}

#[derive(Debug, Clone)]
struct KeyInfo {
    secret: String,
    id: String,
    agency: usize,
    scope: Option<String>,
    role: &'static str,
}

/// One workspace of one agency, and everything put into it.
#[derive(Debug)]
struct TenantData {
    agency: usize,
    slug: String,
    /// In every name, title, script and event of the tenant: found anywhere else, it leaked.
    marker: String,
    campaigns: Vec<String>,
    organizations: Vec<String>,
    assets: Vec<String>,
    /// Contact id and its organization.
    contacts: Vec<(String, String)>,
    /// Script key and the multiplier its source uses.
    scripts: Vec<(String, u64)>,
    events: Vec<Value>,
    spend: f64,
    min_sample: u64,
}

impl TenantData {
    fn ids(&self, arg: Arg) -> Vec<String> {
        match arg {
            Arg::Campaign => self.campaigns.clone(),
            Arg::Organization => self.organizations.clone(),
            Arg::Asset => self.assets.clone(),
            Arg::Contact => self.contacts.iter().map(|(c, _)| c.clone()).collect(),
            Arg::Script => self.scripts.iter().map(|(s, _)| s.clone()).collect(),
            Arg::Slug | Arg::Key => unreachable!("{arg:?} is not a catalog id"),
        }
    }

    /// The id of this kind no other tenant has.
    fn own_id(&self, arg: Arg) -> String {
        let ids = self.ids(arg);
        ids.iter()
            .find(|id| id.starts_with("only"))
            .cloned()
            .unwrap_or_else(|| panic!("no own id of {arg:?} in {ids:?}"))
    }

    fn label(&self, agencies: &[AgencyInfo]) -> String {
        format!("{}/{}", agencies[self.agency].slug, self.slug)
    }
}

/// Everything a round knows: what exists and which key can see what.
#[derive(Debug)]
struct World {
    agencies: Vec<AgencyInfo>,
    tenants: Vec<TenantData>,
    keys: Vec<KeyInfo>,
}

impl World {
    /// The tenant a key reaches by `slug`, if it can see one.
    fn reach(&self, key: &KeyInfo, slug: &str) -> Option<usize> {
        if key.scope.as_deref().is_some_and(|s| s != slug) {
            return None;
        }
        self.tenants
            .iter()
            .position(|t| t.agency == key.agency && t.slug == slug)
    }

    fn sees_tenant(&self, key: &KeyInfo, tenant: usize) -> bool {
        let t = &self.tenants[tenant];
        self.reach(key, &t.slug) == Some(tenant)
    }

    fn sees_key(&self, key: &KeyInfo, other: &KeyInfo) -> bool {
        other.agency == key.agency && (key.scope.is_none() || other.scope == key.scope)
    }

    /// Markers the key may ever be shown.
    fn visible_markers(&self, key: &KeyInfo) -> BTreeSet<&str> {
        let mut markers: BTreeSet<&str> = (0..self.tenants.len())
            .filter(|t| self.sees_tenant(key, *t))
            .map(|t| self.tenants[t].marker.as_str())
            .collect();
        if key.scope.is_none() {
            markers.insert(&self.agencies[key.agency].marker);
        }
        markers
    }

    fn markers_in<'a>(&'a self, text: &str) -> BTreeSet<&'a str> {
        self.tenants
            .iter()
            .map(|t| t.marker.as_str())
            .chain(self.agencies.iter().map(|a| a.marker.as_str()))
            .filter(|m| text.contains(m))
            .collect()
    }
}

fn random_tenant(rng: &mut StdRng, seed: u64, t: usize, agency: usize, slug: &str) -> TenantData {
    let marker = format!("mk{seed}t{t}z");
    let mut campaigns = vec!["spring".to_owned()];
    if rng.random_bool(0.5) {
        campaigns.push("autumn".into());
    }
    campaigns.push(format!("only-c{t}"));
    let mut organizations = vec!["org-a".to_owned(), "org-b".to_owned()];
    if rng.random_bool(0.5) {
        organizations.push("org-c".into());
    }
    organizations.push(format!("only-o{t}"));
    let assets = vec!["lp".to_owned(), "web".to_owned(), format!("only-a{t}")];
    let contacts: Vec<(String, String)> = (0..rng.random_range(3..7))
        .map(|i| format!("p{i}"))
        .chain([format!("only-p{t}")])
        .map(|c| (c, organizations.choose(rng).unwrap().clone()))
        .collect();
    let scripts = vec![("hot".to_owned(), t as u64 + 2), (format!("only_s{t}"), 1)];
    // Different counts by design: 30 + 7t + (0..5) events.
    let count = 30 + 7 * t + rng.random_range(0..5);
    let kinds = [
        "IMPRESSION",
        "PAGE_VIEW",
        "CLICK",
        "REGISTRATION",
        "ATTENDANCE",
        "QUESTION",
        "SHARE",
        "STAGE_CHANGE",
        "DOWNLOAD",
    ];
    let events = (0..count)
        .map(|i| {
            // Every contact has an event, so every contact exists.
            let (contact, organization) = contacts
                .get(i)
                .unwrap_or_else(|| contacts.choose(rng).unwrap())
                .clone();
            let kind = *kinds.choose(rng).unwrap();
            let mut event = json!({
                "messageId": format!("m{i}"),
                "kind": kind,
                "occurredAt": format!("2026-03-{:02}T{:02}:{:02}:00Z",
                    rng.random_range(1..=28), rng.random_range(8..18), rng.random_range(0..60)),
                "contactId": contact,
                "organizationId": organization,
                "campaignId": campaigns.choose(rng).unwrap(),
                "assetId": assets.choose(rng).unwrap(),
                "channel": *["email", "social", "paid_search"].choose(rng).unwrap(),
                "properties": {"tag": marker},
            });
            match kind {
                "ATTENDANCE" => event["value"] = json!(rng.random_range(60..3600)),
                "STAGE_CHANGE" => event["properties"]["to"] = json!("LEAD"),
                "SHARE" => {
                    event["properties"]["recipient"] = json!(contacts.choose(rng).unwrap().0)
                }
                _ => {}
            }
            event
        })
        .collect();
    TenantData {
        agency,
        slug: slug.to_owned(),
        campaigns,
        organizations,
        assets,
        contacts,
        scripts,
        events,
        spend: f64::from(rng.random_range(10..500_u32)),
        min_sample: rng.random_range(5..60),
        marker,
    }
}

/// Creates the tenant's workspace and fills it through its agency's ADMIN key; events
/// go half over GraphQL with a workspace INGEST key, half over NDJSON.
async fn set_up(api: &Api, world: &mut World, t: usize, rng: &mut StdRng) {
    let tenant = &world.tenants[t];
    let admin = world.agencies[tenant.agency].admin.clone();
    let (ws, m) = (tenant.slug.clone(), tenant.marker.clone());
    api.ok(
        &admin,
        "mutation($slug: String!, $name: String!) { createWorkspace(slug: $slug, name: $name) { slug } }",
        json!({ "slug": ws, "name": format!("Workspace {m}") }),
    )
    .await;
    api.ok(
        &admin,
        "mutation($ws: ID!, $n: Int!) { updateWorkspace(slug: $ws, input: {minSample: $n}) { minSample } }",
        json!({ "ws": ws, "n": tenant.min_sample }),
    )
    .await;
    for id in &tenant.campaigns {
        api.ok(
            &admin,
            "mutation($ws: ID!, $input: CampaignInput!) { createCampaign(workspace: $ws, input: $input) { id } }",
            json!({ "ws": ws, "input": {
                "id": id, "name": format!("{id} {m}"),
                "goal": *["FIND", "KEEP", "GROW"].choose(rng).unwrap(),
                "budget": rng.random_range(100..10_000),
            }}),
        )
        .await;
    }
    for id in &tenant.organizations {
        api.ok(
            &admin,
            "mutation($ws: ID!, $input: OrganizationInput!) { createOrganization(workspace: $ws, input: $input) { id } }",
            json!({ "ws": ws, "input": { "id": id, "name": format!("{id} {m}"), "domain": format!("{id}.{m}.example") } }),
        )
        .await;
    }
    api.ok(
        &admin,
        "mutation($ws: ID!, $m: String!, $only: ID!) {
           lp: createAsset(workspace: $ws, input: {id: \"lp\", kind: LANDING_PAGE, title: $m}) { id }
           web: createAsset(workspace: $ws, input: {id: \"web\", kind: WEBINAR, durationSeconds: 3600, landingPage: \"lp\", title: $m}) { id }
           only: createAsset(workspace: $ws, input: {id: $only, kind: ARTICLE, title: $m}) { id } }",
        json!({ "ws": ws, "m": format!("title {m}"), "only": tenant.own_id(Arg::Asset) }),
    )
    .await;
    for (key, multiplier) in &tenant.scripts {
        api.ok(
            &admin,
            "mutation($ws: ID!, $input: KpiScriptInput!) { createKpiScript(workspace: $ws, input: $input) { version } }",
            json!({ "ws": ws, "input": {
                "key": key, "name": format!("{key} {m}"), "goal": "FIND", "unit": "points",
                "source": format!("// {m}\nevents.len() * {multiplier}"),
            }}),
        )
        .await;
    }
    api.ok(
        &admin,
        "mutation($ws: ID!, $amount: Float!) { recordSpend(workspace: $ws, campaign: \"spring\", channel: \"email\", day: \"2026-03-05\", amount: $amount) { amount } }",
        json!({ "ws": ws, "amount": tenant.spend }),
    )
    .await;

    let ingest = api
        .issue(&admin, Some(&ws), "INGEST", &format!("tracker {m}"))
        .await;
    let (over_graphql, over_ndjson) = tenant.events.split_at(tenant.events.len() / 2);
    let answer = api
        .ok(&ingest, INGEST, json!({ "ws": ws, "events": over_graphql }))
        .await;
    assert_eq!(
        answer["ingestEvents"],
        json!({ "accepted": over_graphql.len(), "duplicates": 0, "rejected": [] }),
        "message ids other workspaces already have are new here"
    );
    let answer = api.ndjson(Some(&bearer(&admin)), &ws, over_ndjson).await;
    assert_eq!(
        (answer.status, &answer.body),
        (
            200,
            &json!({ "accepted": over_ndjson.len(), "duplicates": 0, "rejected": [] })
        ),
    );
    let agency = tenant.agency;
    world.keys.push(KeyInfo {
        id: key_id(&ingest),
        secret: ingest,
        agency,
        scope: Some(ws),
        role: "INGEST",
    });
}

/// Checks a tenant's data against what was put in: the snapshot compared later only
/// proves that nothing changed, this proves it was the tenant's own to begin with.
async fn check_own_data(api: &Api, world: &World, t: usize) {
    let tenant = &world.tenants[t];
    let admin = &world.agencies[tenant.agency].admin;
    let label = tenant.label(&world.agencies);
    let m = &tenant.marker;
    let data = api
        .ok(
            admin,
            "query($ws: ID!) {
               workspace(slug: $ws) { name minSample }
               kpis(workspace: $ws) { eventCounts { kind count } spend }
               campaigns(workspace: $ws, first: 100) { edges { node { id name } } }
               organizations(workspace: $ws, first: 100) { edges { node { id name } } }
               contacts(workspace: $ws, first: 100) { edges { node { id organization } } }
               kpiScripts(workspace: $ws) { edges { node { key name source } } }
               hot: customKpi(workspace: $ws, key: \"hot\") { perOrganization(first: 100) { edges { node { organization value } } } }
             }",
            json!({ "ws": tenant.slug }),
        )
        .await;
    assert_eq!(
        data["workspace"]["name"],
        format!("Workspace {m}"),
        "{label}"
    );
    assert_eq!(data["workspace"]["minSample"], tenant.min_sample, "{label}");
    assert_eq!(
        counts_in(&data["kpis"]),
        counts_of(&tenant.events),
        "{label}: event counts"
    );
    assert_eq!(
        data["kpis"]["spend"].as_f64(),
        Some(tenant.spend),
        "{label}"
    );
    let named = |list: &Value, field: &str| -> BTreeMap<String, String> {
        nodes(list)
            .iter()
            .map(|n| {
                (
                    n["id"].as_str().or(n["key"].as_str()).unwrap().to_owned(),
                    n[field].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let with_marker = |ids: &[String]| -> BTreeMap<String, String> {
        ids.iter()
            .map(|id| (id.clone(), format!("{id} {m}")))
            .collect()
    };
    assert_eq!(
        named(&data["campaigns"], "name"),
        with_marker(&tenant.campaigns),
        "{label}"
    );
    assert_eq!(
        named(&data["organizations"], "name"),
        with_marker(&tenant.organizations),
        "{label}"
    );
    assert_eq!(
        named(&data["kpiScripts"], "name"),
        with_marker(&tenant.ids(Arg::Script)),
        "{label}"
    );
    assert_eq!(
        named(&data["contacts"], "organization"),
        tenant
            .contacts
            .iter()
            .cloned()
            .collect::<BTreeMap<String, String>>(),
        "{label}: contacts and their organizations"
    );
    // The shared script key runs this tenant's own source on its own events.
    let multiplier = tenant.scripts[0].1 as f64;
    let mut per_org: BTreeMap<String, f64> = BTreeMap::new();
    for e in &tenant.events {
        *per_org
            .entry(e["organizationId"].as_str().unwrap().to_owned())
            .or_default() += multiplier;
    }
    let values: BTreeMap<String, f64> = nodes(&data["hot"]["perOrganization"])
        .iter()
        .map(|n| {
            (
                n["organization"].as_str().unwrap().to_owned(),
                n["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(values, per_org, "{label}: the hot script");

    let events = api
        .ok(
            admin,
            "query($ws: ID!) { events(workspace: $ws, first: 100) { edges { node {
               messageId kind contact organization campaign asset properties } } } }",
            json!({ "ws": tenant.slug }),
        )
        .await;
    let stored: BTreeMap<String, Value> = nodes(&events["events"])
        .into_iter()
        .map(|n| (n["messageId"].as_str().unwrap().to_owned(), n))
        .collect();
    assert_eq!(stored.len(), tenant.events.len(), "{label}");
    for e in &tenant.events {
        let id = e["messageId"].as_str().unwrap();
        let s = stored
            .get(id)
            .unwrap_or_else(|| panic!("{label}: {id} missing"));
        assert_eq!(
            [
                &s["kind"],
                &s["contact"],
                &s["organization"],
                &s["campaign"],
                &s["asset"],
                &s["properties"]["tag"]
            ],
            [
                &e["kind"],
                &e["contactId"],
                &e["organizationId"],
                &e["campaignId"],
                &e["assetId"],
                &json!(m)
            ],
            "{label}: {id}"
        );
    }
}

/// Every tenant's data and every agency's keys, read by their owners.
async fn snapshot(api: &Api, world: &World) -> Vec<Value> {
    let queries = [
        "query($ws: ID!) {
           workspace(slug: $ws) { slug name minSample fullStayThreshold lifecycleStages
             depthWeights { engagedContacts attendees fullStayAttendees questionAskers infoRequests internalShares colleagueSpread breadth } }
           kpis(workspace: $ws) { eventCounts { kind count } spend uniqueVisitors }
           campaigns(workspace: $ws, first: 100) { edges { node { id name goal budget currency startsAt endsAt kpis { spend } } } }
           kpiScripts(workspace: $ws, includeArchived: true, first: 100) { edges { node { key version currentVersion name archived source } } }
         }",
        "query($ws: ID!) {
           organizations(workspace: $ws, first: 100) { edges { node { id name domain } } }
           assets(workspace: $ws, first: 100) { edges { node { id kind title url durationSeconds landingPage } } }
           contacts(workspace: $ws, first: 100) { edges { node { id organization stage } } }
         }",
        "query($ws: ID!) { events(workspace: $ws, first: 100) { edges { node {
           messageId kind occurredAt receivedAt contact anonymousId organization campaign asset channel value properties } } } }",
    ];
    let mut all = Vec::new();
    for tenant in &world.tenants {
        let admin = &world.agencies[tenant.agency].admin;
        for query in queries {
            all.push(api.ok(admin, query, json!({ "ws": tenant.slug })).await);
        }
    }
    for agency in &world.agencies {
        all.push(
            api.ok(
                &agency.admin,
                "{ workspaces { slug name } apiKeys { id name role workspace createdAt revokedAt } }",
                json!({}),
            )
            .await,
        );
    }
    all
}

/// What a key sees of itself, its workspaces and its keys: exactly its own.
async fn check_listings(api: &Api, world: &World, key: &KeyInfo) {
    let who = format!(
        "{} key {} of {} for {}",
        key.role,
        key.id,
        world.agencies[key.agency].slug,
        key.scope.as_deref().unwrap_or("the agency")
    );
    let visible = world.visible_markers(key);
    let viewer = api.ok(&key.secret, VIEWER, json!({})).await;
    assert_eq!(
        viewer["viewer"]["agency"]["slug"], world.agencies[key.agency].slug,
        "{who}"
    );
    assert_eq!(viewer["viewer"]["role"], key.role, "{who}");
    assert_eq!(viewer["viewer"]["workspace"], json!(key.scope), "{who}");
    assert_eq!(viewer["viewer"]["apiKey"]["id"], key.id, "{who}");

    let workspaces = api.as_key(&key.secret, WORKSPACES, json!({})).await;
    if allows(key.role, Needs::Read) {
        let expected: BTreeSet<String> = (0..world.tenants.len())
            .filter(|t| world.sees_tenant(key, *t))
            .map(|t| world.tenants[t].slug.clone())
            .collect();
        assert_eq!(
            strings(&workspaces.body["data"]["workspaces"], "slug"),
            expected,
            "{who}"
        );
    } else {
        assert_refused(&workspaces, "FORBIDDEN", &format!("{who}: workspaces"));
    }
    let keys = api.as_key(&key.secret, LIST_KEYS, json!({})).await;
    if key.role == "ADMIN" {
        let expected: BTreeSet<String> = world
            .keys
            .iter()
            .filter(|other| world.sees_key(key, other))
            .map(|other| other.id.clone())
            .collect();
        assert_eq!(
            strings(&keys.body["data"]["apiKeys"], "id"),
            expected,
            "{who}"
        );
    } else {
        assert_refused(&keys, "FORBIDDEN", &format!("{who}: apiKeys"));
    }
    for answer in [&workspaces, &keys] {
        let seen = world.markers_in(&answer.text());
        assert!(
            seen.is_subset(&visible),
            "{who} was shown {seen:?} but may see only {visible:?}: {answer:#?}"
        );
    }
}

/// How a case is judged.
#[derive(Debug)]
enum Plan {
    /// The key reaches this (its own) data: answer exactly as the owner's agency ADMIN
    /// key does — or FORBIDDEN when its role may not.
    Own { tenant: usize },
    /// The key cannot reach `real`: answer exactly as for the never-existing `ghost`.
    Missing {
        real: String,
        ghost: &'static str,
        ghost_vars: Value,
    },
}

#[derive(Debug)]
struct Case {
    key: usize,
    template: usize,
    vars: Value,
    plan: Plan,
}

type Call = (String, usize, String);

fn call(secret: &str, template: usize, vars: &Value) -> Call {
    (secret.to_owned(), template, vars.to_string())
}

/// Plans a case, or `None` for a mutation of the key's own data (never run: the data
/// must stay as it is).
fn plan(world: &World, key: &KeyInfo, template: &Template, vars: &Value) -> Option<Plan> {
    if template.arg == Arg::Key {
        let id = vars["id"].as_str().unwrap();
        let target = world.keys.iter().find(|k| k.id == id).unwrap();
        return (!world.sees_key(key, target)).then(|| Plan::Missing {
            real: id.to_owned(),
            ghost: GHOST_KEY,
            ghost_vars: json!({ "id": GHOST_KEY }),
        });
    }
    let slug = vars["ws"].as_str().unwrap();
    let Some(reached) = world.reach(key, slug) else {
        let mut ghost_vars = vars.clone();
        ghost_vars["ws"] = json!(GHOST_SLUG);
        return Some(Plan::Missing {
            real: slug.to_owned(),
            ghost: GHOST_SLUG,
            ghost_vars,
        });
    };
    let exists = template.arg == Arg::Slug || {
        let id = vars["id"].as_str().unwrap();
        world.tenants[reached]
            .ids(template.arg)
            .iter()
            .any(|i| i == id)
    };
    if exists {
        return (!template.mutation).then_some(Plan::Own { tenant: reached });
    }
    let mut ghost_vars = vars.clone();
    ghost_vars["id"] = json!(template.arg.ghost());
    Some(Plan::Missing {
        real: vars["id"].as_str().unwrap().to_owned(),
        ghost: template.arg.ghost(),
        ghost_vars,
    })
}

async fn execute(api: &Api, calls: BTreeSet<Call>) -> HashMap<Call, Answer> {
    let mut answers = HashMap::new();
    let mut running = tokio::task::JoinSet::new();
    for call in calls {
        if running.len() >= PARALLEL {
            let (call, answer) = running.join_next().await.unwrap().unwrap();
            answers.insert(call, answer);
        }
        let api = api.clone();
        running.spawn(async move {
            let (secret, template, vars) = &call;
            let vars: Value = serde_json::from_str(vars).unwrap();
            let template = &TEMPLATES[*template];
            let answer = if template.query.is_empty() {
                api.ndjson(
                    Some(&bearer(secret)),
                    vars["ws"].as_str().unwrap(),
                    &hijack_lines(),
                )
                .await
            } else {
                api.graphql(Some(&bearer(secret)), template.query, &vars)
                    .await
            };
            (call, answer)
        });
    }
    while let Some(done) = running.join_next().await {
        let (call, answer) = done.unwrap();
        answers.insert(call, answer);
    }
    answers
}

async fn cross_tenant_round(app: &TestApp, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let api = Api::new(app);
    let mut world = World {
        agencies: Vec::new(),
        tenants: Vec::new(),
        keys: Vec::new(),
    };
    for (a, slug) in [AGENCY, "other-agency", "third-agency"]
        .into_iter()
        .enumerate()
    {
        let admin = if a == 0 {
            app.key.clone()
        } else {
            other_agency(app, slug).await
        };
        world.keys.push(KeyInfo {
            id: key_id(&admin),
            secret: admin.clone(),
            agency: a,
            scope: None,
            role: "ADMIN",
        });
        world.agencies.push(AgencyInfo {
            slug: slug.to_owned(),
            admin,
            marker: format!("mk{seed}a{a}z"),
        });
    }
    // Every agency has an "acme"; the second workspace's slug is shared by some.
    let third = *["globex", "initech", "umbrella"].choose(&mut rng).unwrap();
    for (a, second) in ["globex", "initech", third].into_iter().enumerate() {
        for slug in ["acme", second] {
            let t = world.tenants.len();
            let tenant = random_tenant(&mut rng, seed, t, a, slug);
            world.tenants.push(tenant);
        }
    }
    let mut order: Vec<usize> = (0..world.tenants.len()).collect();
    order.shuffle(&mut rng);
    for t in order {
        set_up(&api, &mut world, t, &mut rng).await;
    }

    // The keys that try everything: per agency its ADMIN key, a workspace ADMIN key,
    // and one of a random role and scope.
    let mut testers: Vec<usize> = Vec::new();
    for a in 0..world.agencies.len() {
        testers.push(
            world
                .keys
                .iter()
                .position(|k| k.secret == world.agencies[a].admin)
                .unwrap(),
        );
        let own: Vec<String> = world
            .tenants
            .iter()
            .filter(|t| t.agency == a)
            .map(|t| t.slug.clone())
            .collect();
        let scoped_admin = own.choose(&mut rng).unwrap().clone();
        let random_scope = if rng.random_bool(0.5) {
            None
        } else {
            Some(own.choose(&mut rng).unwrap().clone())
        };
        let random_role = *ROLES.choose(&mut rng).unwrap();
        for (scope, role) in [(Some(scoped_admin), "ADMIN"), (random_scope, random_role)] {
            let marker = match &scope {
                Some(slug) => {
                    let t = world
                        .tenants
                        .iter()
                        .find(|t| t.agency == a && &t.slug == slug)
                        .unwrap();
                    t.marker.clone()
                }
                None => world.agencies[a].marker.clone(),
            };
            let secret = api
                .issue(
                    &world.agencies[a].admin,
                    scope.as_deref(),
                    role,
                    &format!("{role} {marker}"),
                )
                .await;
            testers.push(world.keys.len());
            world.keys.push(KeyInfo {
                id: key_id(&secret),
                secret,
                agency: a,
                scope,
                role,
            });
        }
    }

    // (a) Each tenant holds exactly its own data; remember it all.
    for t in 0..world.tenants.len() {
        check_own_data(&api, &world, t).await;
    }
    let before = snapshot(&api, &world).await;
    for key in &world.keys {
        check_listings(&api, &world, key).await;
    }

    // Every template, with every tester key, against every tenant's slug and ids.
    let mut cases = Vec::new();
    for &k in &testers {
        let key = &world.keys[k];
        let own_slugs: Vec<&str> = world
            .tenants
            .iter()
            .enumerate()
            .filter(|(t, _)| world.sees_tenant(key, *t))
            .map(|(_, t)| t.slug.as_str())
            .collect();
        for (t, target) in world.tenants.iter().enumerate() {
            for (i, template) in TEMPLATES.iter().enumerate() {
                let mut variants = Vec::new();
                match template.arg {
                    Arg::Slug => variants.push(json!({ "ws": target.slug })),
                    Arg::Key => {
                        let of_target: Vec<&KeyInfo> = world
                            .keys
                            .iter()
                            .filter(|o| {
                                o.agency == target.agency
                                    && o.scope.as_ref().is_none_or(|s| *s == target.slug)
                            })
                            .collect();
                        variants.push(json!({ "id": of_target.choose(&mut rng).unwrap().id }));
                    }
                    arg => {
                        // Its slug with the id only it has, one of its own slugs with
                        // that id, and its slug with an id other tenants may share.
                        let only = target.own_id(arg);
                        let shared = target.ids(arg).choose(&mut rng).unwrap().clone();
                        let mine = own_slugs.choose(&mut rng).copied().unwrap_or("acme");
                        variants.push(json!({ "ws": target.slug, "id": only }));
                        variants.push(json!({ "ws": mine, "id": only }));
                        variants.push(json!({ "ws": target.slug, "id": shared }));
                        variants.shuffle(&mut rng);
                        variants.truncate(if t % 2 == 0 { 2 } else { 1 });
                    }
                }
                for vars in variants {
                    if let Some(plan) = plan(&world, key, template, &vars) {
                        cases.push(Case {
                            key: k,
                            template: i,
                            vars,
                            plan,
                        });
                    }
                }
            }
        }
    }
    let mut calls = BTreeSet::new();
    for case in &cases {
        let key = &world.keys[case.key];
        calls.insert(call(&key.secret, case.template, &case.vars));
        match &case.plan {
            Plan::Own { tenant } => {
                let owner = &world.agencies[world.tenants[*tenant].agency].admin;
                calls.insert(call(owner, case.template, &case.vars));
            }
            Plan::Missing { ghost_vars, .. } => {
                calls.insert(call(&key.secret, case.template, ghost_vars));
            }
        }
    }
    let started = Instant::now();
    let requests = calls.len();
    let answers = execute(&api, calls).await;
    eprintln!(
        "seed {seed}: {} cases, {requests} requests in {:?}",
        cases.len(),
        started.elapsed()
    );

    let mut judged: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for case in &cases {
        let key = &world.keys[case.key];
        let template = &TEMPLATES[case.template];
        let what = format!(
            "seed {seed}: {} with the {} key of {} for {} and {}",
            template.name,
            key.role,
            world.agencies[key.agency].slug,
            key.scope.as_deref().unwrap_or("the agency"),
            case.vars
        );
        let answer = &answers[&call(&key.secret, case.template, &case.vars)];
        assert!(
            answer.status < 500 && answer.code() != Some("INTERNAL"),
            "{what}: {answer:#?}"
        );
        let seen = world.markers_in(&answer.text());
        match &case.plan {
            Plan::Own { tenant } => {
                judged.entry(template.name).or_default().0 += 1;
                let owner = &world.agencies[world.tenants[*tenant].agency].admin;
                let expected = &answers[&call(owner, case.template, &case.vars)];
                assert!(
                    expected.body.get("errors").is_none(),
                    "{what}: the owner's own answer: {expected:#?}"
                );
                if allows(key.role, template.needs) {
                    assert_eq!(answer, expected, "{what}: not the owner's own answer");
                } else {
                    assert_refused(answer, "FORBIDDEN", &what);
                }
                let own: BTreeSet<&str> = [world.tenants[*tenant].marker.as_str()].into();
                assert!(
                    seen.is_subset(&own),
                    "{what}: shows {seen:?}, not only its own: {answer:#?}"
                );
                if template.name == "kpis" && allows(key.role, Needs::Read) {
                    assert_eq!(
                        counts_in(&answer.body["data"]["kpis"]),
                        counts_of(&world.tenants[*tenant].events),
                        "{what}: its own counts"
                    );
                }
            }
            Plan::Missing {
                real,
                ghost,
                ghost_vars,
            } => {
                judged.entry(template.name).or_default().1 += 1;
                let missing = &answers[&call(&key.secret, case.template, ghost_vars)];
                assert_like_missing(answer, missing, ghost, real, &what);
                assert!(seen.is_empty(), "{what}: shows {seen:?}: {answer:#?}");
                let role_first = matches!(template.name, "createApiKey" | "revokeApiKey");
                let reached = template.arg != Arg::Key
                    && world
                        .reach(key, case.vars["ws"].as_str().unwrap())
                        .is_some();
                let expected = if allows(key.role, template.needs) {
                    "NOT_FOUND"
                } else if role_first || reached {
                    "FORBIDDEN"
                } else {
                    "NOT_FOUND"
                };
                assert_eq!(answer.code(), Some(expected), "{what}: {answer:#?}");
                if template.query.is_empty() {
                    let status = if expected == "NOT_FOUND" { 404 } else { 403 };
                    assert_eq!(answer.status, status, "{what}");
                }
            }
        }
    }
    // Every template was tried both ways.
    for template in TEMPLATES {
        let (own, missing) = judged.get(template.name).copied().unwrap_or_default();
        assert!(
            missing > 0,
            "seed {seed}: {} never tried on a foreign id",
            template.name
        );
        assert!(
            own > 0 || template.mutation,
            "seed {seed}: {} never tried on own data",
            template.name
        );
    }

    // (c) Nothing changed anywhere.
    let after = snapshot(&api, &world).await;
    assert_eq!(before.len(), after.len());
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "seed {seed}: data changed by a cross-tenant request");
    }
    for t in 0..world.tenants.len() {
        check_own_data(&api, &world, t).await;
    }
}

async fn no_tenant_ever_sees_or_changes_another(backend: Backend) {
    for seed in SEEDS {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let started = Instant::now();
        cross_tenant_round(&app, seed).await;
        eprintln!("{backend:?}, seed {seed}: {:?}", started.elapsed());
    }
}

/// The database itself keeps events in their workspace: an event that names
/// another workspace's contact, organization, campaign or asset — or a workspace
/// that does not exist — is refused by SQLite and PostgreSQL alike, inserted or
/// updated, while the same statement naming the event's own rows goes through.
async fn the_database_refuses_an_event_that_names_another_workspaces_rows(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    for slug in ["mine", "theirs"] {
        app.create_workspace(slug).await;
        let event = json!({"messageId": format!("{slug}-1"), "kind": "CLICK",
            "occurredAt": "2026-04-01T10:00:00Z", "contactId": "c", "organizationId": "o",
            "campaignId": "k", "assetId": "a", "channel": "email"});
        let response = app.post_ndjson(slug, format!("{event}\n")).await;
        assert_eq!(response.status(), 200);
    }
    let store = app.db.store().await;
    let db = store.connection();
    let backend_of = db.get_database_backend();
    let id_of = |sql: String| async move {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(backend_of, sql))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "id").unwrap()
    };
    let mine = id_of("SELECT id FROM workspaces WHERE slug = 'mine'".into()).await;
    let theirs = id_of("SELECT id FROM workspaces WHERE slug = 'theirs'".into()).await;
    let run = |sql: String| async move {
        db.execute_raw(sea_orm::Statement::from_string(backend_of, sql))
            .await
            .map(|_| ())
    };
    let copy = |message_id: &str, column: &str, value: String| {
        let columns = "kind, occurred_at, received_at, contact_id, anonymous_id, \
                       organization_id, campaign_id, asset_id, channel, value, properties, person";
        let chosen = columns.replacen(column, &format!("{value} AS {column}"), 1);
        format!(
            "INSERT INTO events (workspace_id, message_id, {columns}) \
             SELECT workspace_id, '{message_id}', {chosen} FROM events \
             WHERE workspace_id = {mine} AND message_id = 'mine-1'"
        )
    };
    for (column, table) in [
        ("contact_id", "contacts"),
        ("organization_id", "organizations"),
        ("campaign_id", "campaigns"),
        ("asset_id", "assets"),
    ] {
        let own = format!("(SELECT id FROM {table} WHERE workspace_id = {mine})");
        let foreign = format!("(SELECT id FROM {table} WHERE workspace_id = {theirs})");
        run(copy(&format!("own-{column}"), column, own.clone()))
            .await
            .unwrap_or_else(|e| panic!("{column} of its own workspace: {e}"));
        let refused = run(copy(&format!("stray-{column}"), column, foreign.clone())).await;
        assert!(
            refused.is_err(),
            "inserted naming another workspace's {column}"
        );
        let refused = run(format!(
            "UPDATE events SET {column} = {foreign} WHERE workspace_id = {mine} AND message_id = 'mine-1'"
        ))
        .await;
        assert!(refused.is_err(), "updated to another workspace's {column}");
    }
    let refused = run(format!(
        "UPDATE events SET workspace_id = {} WHERE workspace_id = {mine} AND message_id = 'mine-1'",
        theirs + mine + 1000
    ))
    .await;
    assert!(refused.is_err(), "moved to a workspace that does not exist");
    // Nothing refused was stored or changed: the four own copies and the originals.
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            backend_of,
            format!(
                "SELECT COUNT(*) AS n, COUNT(DISTINCT contact_id) AS contacts FROM events \
                 WHERE workspace_id = {mine}"
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 5);
    assert_eq!(row.try_get::<i64>("", "contacts").unwrap(), 1);
    store.close().await.unwrap();
}

on_both_backends!(
    requests_without_a_live_key_get_401_and_change_nothing,
    each_role_may_do_what_it_says_and_nothing_more,
    keys_are_shown_once_and_revoked_at_once_within_their_agency,
    no_tenant_ever_sees_or_changes_another,
    the_database_refuses_an_event_that_names_another_workspaces_rows,
);
