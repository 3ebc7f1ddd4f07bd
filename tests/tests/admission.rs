//! Admission control over real HTTP and WebSocket on both backends: requests priced
//! by what they cost and refused whole before any work, a cap on one key's
//! expensive operations, a fair share of script slots between agencies, slots freed
//! when a request is abandoned, and the WebSocket path held to the same rate limit,
//! time limit, cost budget and revocation as HTTP.
//!
//! Expected costs are computed here from the README's cost table (written down
//! below), not from the server's constants: a price changed in one place only
//! fails these tests.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use hourglass_core::Role;
use hourglass_server::admin;
use hourglass_tests::ws::{answer_to, answers_to, authenticated, start, ws_error_code, ws_errors};
use hourglass_tests::{Backend, TestApp, client_with_key, error_code, on_both_backends};
use serde_json::{Value, json};

/// From the README's cost table.
const FIELD: u64 = 1;
const HOURGLASS: u64 = 350;
const KPI_REPORT: u64 = 50;
const SCRIPT_RUN: u64 = 1_000;
/// `graphql.max_cost`'s default.
const BUDGET: u64 = 10_000;

/// `hourglass { top { uniqueVisitors } }` under `n` aliases.
fn aliased_hourglass(workspace: &str, n: usize) -> String {
    let fields: String = (0..n)
        .map(|i| {
            format!("h{i}: hourglass(workspace: \"{workspace}\") {{ top {{ uniqueVisitors }} }} ")
        })
        .collect();
    format!("{{ {fields}}}")
}

/// What one aliased `hourglass { top { uniqueVisitors } }` costs.
const ONE_HOURGLASS: u64 = HOURGLASS + FIELD + FIELD;

async fn post(client: &reqwest::Client, app: &TestApp, body: &Value) -> (u16, Value) {
    let response = client
        .post(app.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .json(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn cost_of(answer: &Value) -> u64 {
    answer["errors"][0]["extensions"]["cost"]
        .as_u64()
        .unwrap_or_else(|| panic!("no cost in {answer:#}"))
}

async fn seed_one_organization(app: &TestApp, workspace: &str) {
    app.create_workspace(workspace).await;
    let events: String = (0..5)
        .map(|i| {
            format!(
                "{}\n",
                json!({"messageId": format!("{workspace}-{i}"), "kind": "PAGE_VIEW",
                       "occurredAt": "2026-04-01T10:00:00Z", "contactId": format!("p{i}"),
                       "organizationId": "acme"})
            )
        })
        .collect();
    assert_eq!(app.post_ndjson(workspace, events).await.status(), 200);
}

/// The issue's request: one cheap-looking field that computes a lot, repeated under
/// aliases or across a batch. Over the budget it is refused whole with its cost
/// before anything runs; under it, it runs.
async fn requests_over_budget_are_refused_before_any_work_with_their_cost(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    seed_one_organization(&app, "adm").await;

    // 30 aliases: 30 × 352 = 10,560 > 10,000.
    let (status, refused) = post(
        &app.client,
        &app,
        &json!({"query": aliased_hourglass("adm", 30)}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(error_code(&refused), "QUERY_TOO_COMPLEX");
    assert_eq!(cost_of(&refused), 30 * ONE_HOURGLASS);
    assert_eq!(refused["errors"][0]["extensions"]["budget"], BUDGET);
    assert!(refused.get("data").is_none_or(Value::is_null), "{refused}");
    // 28 aliases: 9,856 — within the budget, and answered.
    let (status, answered) = post(
        &app.client,
        &app,
        &json!({"query": aliased_hourglass("adm", 28)}),
    )
    .await;
    assert_eq!(status, 200, "{answered}");
    assert_eq!(answered["data"]["h27"]["top"]["uniqueVisitors"], 5);

    // A batch is priced as a whole: ten operations of three aliases (1,056 each)
    // are refused together; nine are answered.
    let three = json!({"query": aliased_hourglass("adm", 3)});
    let (status, refused) = post(&app.client, &app, &json!(vec![three.clone(); 10])).await;
    assert_eq!(status, 200, "{refused}");
    for operation in refused.as_array().unwrap() {
        assert_eq!(error_code(operation), "QUERY_TOO_COMPLEX");
        assert_eq!(cost_of(operation), 30 * ONE_HOURGLASS);
    }
    let (_, answered) = post(&app.client, &app, &json!(vec![three; 9])).await;
    for operation in answered.as_array().unwrap() {
        assert_eq!(
            operation["data"]["h2"]["top"]["uniqueVisitors"], 5,
            "{operation}"
        );
    }

    // Refused before any work: a write in the same over-budget batch never happens.
    let create =
        json!({"query": "mutation { createWorkspace(slug: \"never\", name: \"x\") { slug } }"});
    let (_, refused) = post(
        &app.client,
        &app,
        &json!([create, {"query": aliased_hourglass("adm", 29)}]),
    )
    .await;
    assert_eq!(error_code(&refused[0]), "QUERY_TOO_COMPLEX", "{refused}");
    // createWorkspace (1) + slug (1) + 29 × 352.
    assert_eq!(cost_of(&refused[0]), 2 * FIELD + 29 * ONE_HOURGLASS);
    let workspaces = app.graphql_ok("{ workspaces { slug } }", json!({})).await;
    assert_eq!(workspaces["workspaces"], json!([{"slug": "adm"}]));

    // One script run per node: a page of 100 campaigns each running a custom KPI
    // costs 100 × (nodes 1 + kpis 50 + custom 1,000 + aggregate 1 + mean 1).
    let (_, refused) = post(
        &app.client,
        &app,
        &json!({"query": "{ campaigns(workspace: \"adm\", first: 100) { nodes { kpis { custom(key: \"k\") { aggregate { mean } } } } } }"}),
    )
    .await;
    assert_eq!(error_code(&refused), "QUERY_TOO_COMPLEX");
    assert_eq!(
        cost_of(&refused),
        100 * (FIELD + KPI_REPORT + SCRIPT_RUN + FIELD + FIELD)
    );

    // Pages far over the largest cannot overflow the price into a small number (a
    // wrapped sum would let the expensive fields beside them through).
    let (_, refused) = post(
        &app.client,
        &app,
        &json!({"query": "{ assets(workspace: \"adm\", first: 2147483647) { nodes { people(first: 2147483647) { nodes { person { contact name title stage organization leadScore events attended attendedSeconds stayedToEnd questions infoRequests } } } } } \
                 a: spendAdvice(workspace: \"adm\", campaign: \"c\") { summary } }"}),
    )
    .await;
    assert_eq!(error_code(&refused), "QUERY_TOO_COMPLEX", "{refused}");

    // The same price and refusal over a WebSocket.
    let mut socket = authenticated(&app, &app.key).await;
    start(&mut socket, "1", &aliased_hourglass("adm", 30), json!({})).await;
    let refused = answer_to(&mut socket, "1").await;
    assert_eq!(
        ws_error_code(&refused),
        Some("QUERY_TOO_COMPLEX"),
        "{refused}"
    );
    assert_eq!(
        ws_errors(&refused)[0]["extensions"]["cost"],
        30 * ONE_HOURGLASS
    );
}

const LOOP_FOREVER: &str =
    "query($w: ID!) { previewKpiScript(workspace: $w, source: \"loop {}\") { errors { code } } }";

/// `graphql.max_expensive_per_key = 1`: while one of a key's expensive operations
/// runs, its next waits (and here times out waiting); another key's runs meanwhile.
/// The script `loop {}` (with no cap on operations) runs until its
/// per-organization deadline, a wall-clock second, whatever the machine's speed.
async fn a_key_runs_at_most_its_expensive_slots_at_once(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.graphql.max_expensive_per_key = 1;
        s.graphql.timeout_ms = 1_600;
        s.scripts.per_org_timeout_ms = 1_000;
        s.scripts.max_operations = u64::MAX;
        s.scripts.max_concurrent_runs = 4;
        s.scripts.max_concurrent_runs_per_agency = 4;
    })
    .await
    else {
        return;
    };
    seed_one_organization(&app, "cap").await;
    let other = client_with_key(&app.issue_key(Some("cap"), "ADMIN").await);
    let body = json!({"query": LOOP_FOREVER, "variables": {"w": "cap"}});
    let (first, second, third) = tokio::join!(
        post(&app.client, &app, &body),
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            post(&app.client, &app, &body).await
        },
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            post(&other, &app, &body).await
        },
    );
    let ran = |(status, answer): &(u16, Value)| {
        *status == 200
            && answer["data"]["previewKpiScript"]["errors"][0]["code"] == "SCRIPT_LIMIT_EXCEEDED"
    };
    assert!(ran(&first), "{first:?}");
    // Waited a second for the key's slot, then ran into the 1.6 s limit.
    assert_eq!(second.0, 503, "{second:?}");
    assert_eq!(error_code(&second.1), "TIMEOUT");
    assert!(ran(&third), "another key has its own slot: {third:?}");
}

/// Two agencies share two script slots, one each at most: agency A floods the
/// server with script queries that each run 2 s, and agency B's ordinary and
/// script queries still answer within a second — not after A's flood.
async fn one_agencys_script_flood_leaves_another_agency_answering(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.graphql.max_expensive_per_key = 0;
        s.scripts.per_org_timeout_ms = 2_000;
        s.scripts.max_operations = u64::MAX;
        s.scripts.max_concurrent_runs = 2;
        s.scripts.max_concurrent_runs_per_agency = 1;
        s.scripts.threads = 1;
    })
    .await
    else {
        return;
    };
    seed_one_organization(&app, "flood").await;
    let store = app.db.store().await;
    let other = admin::agency_or_create(&store, "other", "Other agency")
        .await
        .unwrap();
    let b_key = admin::issue_key(&other, None, Role::Admin, "b")
        .await
        .unwrap()
        .secret
        .reveal();
    store.close().await.unwrap();
    let b = client_with_key(&b_key);
    let (_, created) = post(
        &b,
        &app,
        &json!({"query": "mutation { createWorkspace(slug: \"calm\", name: \"B\") { slug } }"}),
    )
    .await;
    assert!(created.get("errors").is_none(), "{created}");
    let events = "{\"messageId\":\"b1\",\"kind\":\"CLICK\",\"occurredAt\":\"2026-04-01T10:00:00Z\",\"contactId\":\"x\",\"organizationId\":\"initech\"}\n";
    let ingested = b
        .post(app.url("/v1/events?workspace=calm"))
        .header("content-type", "application/x-ndjson")
        .body(events)
        .send()
        .await
        .unwrap();
    assert_eq!(ingested.status(), 200);

    let flood_body = json!({"query": LOOP_FOREVER, "variables": {"w": "flood"}});
    let flood =
        futures_util::future::join_all((0..4).map(|_| post(&app.client, &app, &flood_body)));
    let agency_b = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = Instant::now();
        let (_, ordinary) = post(
            &b,
            &app,
            &json!({"query": "{ kpis(workspace: \"calm\") { clicks } }"}),
        )
        .await;
        let ordinary_took = started.elapsed();
        let started = Instant::now();
        let (_, script) = post(
            &b,
            &app,
            &json!({"query": "{ previewKpiScript(workspace: \"calm\", source: \"count(facts, \\\"CLICK\\\")\") { aggregate { sum } } }"}),
        )
        .await;
        (ordinary, ordinary_took, script, started.elapsed())
    };
    let (flooded, (ordinary, ordinary_took, script, script_took)) = tokio::join!(flood, agency_b);
    assert_eq!(ordinary["data"]["kpis"]["clicks"], 1, "{ordinary}");
    assert_eq!(
        script["data"]["previewKpiScript"]["aggregate"]["sum"], 1.0,
        "{script}"
    );
    let bound = Duration::from_secs(1);
    assert!(
        ordinary_took < bound,
        "B's ordinary query took {ordinary_took:?}"
    );
    assert!(script_took < bound, "B's script query took {script_took:?}");
    // A's flood was served too, one at a time.
    for (status, answer) in flooded {
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            answer["data"]["previewKpiScript"]["errors"][0]["code"], "SCRIPT_LIMIT_EXCEEDED",
            "{answer}"
        );
    }
}

/// A script query that counts the seeded page views answers within two seconds:
/// the one script slot is free, not held by an abandoned query's five-second run.
async fn the_slot_is_free(app: &TestApp, count: &Value) {
    let started = Instant::now();
    let (_, answer) = post(&app.client, app, count).await;
    assert_eq!(
        answer["data"]["previewKpiScript"]["aggregate"]["sum"], 5.0,
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// A script query stopped at the time limit, or whose client hung up, stops its
/// scripts and frees its slot at once: with one slot in all, the next script query
/// answers well before the abandoned one's five-second run would have ended.
async fn an_abandoned_script_query_frees_its_slot(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.graphql.timeout_ms = 500;
        s.scripts.per_org_timeout_ms = 5_000;
        s.scripts.max_operations = u64::MAX;
        s.scripts.max_concurrent_runs = 1;
    })
    .await
    else {
        return;
    };
    seed_one_organization(&app, "gone").await;
    let body = json!({"query": LOOP_FOREVER, "variables": {"w": "gone"}});
    let count = json!({"query": "{ previewKpiScript(workspace: \"gone\", source: \"count(facts, \\\"PAGE_VIEW\\\")\") { aggregate { sum } } }"});

    // Stopped at the server's time limit.
    let (status, timed_out) = post(&app.client, &app, &body).await;
    assert_eq!(status, 503, "{timed_out}");
    the_slot_is_free(&app, &count).await;

    // Abandoned by its client after 200 ms.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .default_headers(
            [(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {}", app.key).parse().unwrap(),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap();
    let gave_up = impatient.post(app.url("/graphql")).json(&body).send().await;
    assert!(gave_up.is_err(), "the client gave up");
    the_slot_is_free(&app, &count).await;
}

/// Each operation over a WebSocket counts against its key's rate limit like an
/// HTTP request, and a query is stopped at the same time limit.
async fn websocket_operations_pass_the_same_rate_limit_and_time_limit(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.rate_limit.requests_per_second = 1;
        s.rate_limit.burst = 3;
        s.graphql.timeout_ms = 300;
        s.scripts.per_org_timeout_ms = 3_000;
        s.scripts.max_operations = u64::MAX;
    })
    .await
    else {
        return;
    };
    seed_one_organization(&app, "wsl").await;
    let key = app.issue_key(Some("wsl"), "ADMIN").await;
    let mut socket = authenticated(&app, &key).await;
    for id in ["1", "2", "3", "4"] {
        start(&mut socket, id, "{ viewer { role } }", json!({})).await;
    }
    // The connection runs its operations concurrently: any three pass, one is refused.
    let mut refused = answers_to(&mut socket, &["1", "2", "3", "4"]).await;
    refused.retain(|answer| answer["payload"]["data"]["viewer"]["role"] != "ADMIN");
    assert_eq!(refused.len(), 1, "{refused:?}");
    let refused = &refused[0];
    assert_eq!(ws_error_code(refused), Some("RATE_LIMITED"), "{refused}");
    assert!(
        ws_errors(refused)[0]["extensions"]["retryAfter"].as_u64() >= Some(1),
        "{refused}"
    );

    // After the wait, a slow query is stopped at the time limit.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    start(&mut socket, "5", LOOP_FOREVER, json!({"w": "wsl"})).await;
    let stopped = answer_to(&mut socket, "5").await;
    assert_eq!(ws_error_code(&stopped), Some("TIMEOUT"), "{stopped}");
}

const SUBSCRIBE: &str = "subscription($w: ID!) { eventsIngested(workspace: $w) { accepted } }";

/// A key revoked while its connection is open ends its subscription within the
/// documented bound (one second on the server that revoked it) and runs nothing
/// more on that connection.
async fn a_revoked_key_stops_on_an_open_connection(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.create_workspace("rev").await;
    let key = app.issue_key(Some("rev"), "READ").await;
    let id = key.split('_').nth(1).unwrap().to_owned();
    let mut socket = authenticated(&app, &key).await;
    start(&mut socket, "live", SUBSCRIBE, json!({"w": "rev"})).await;
    start(&mut socket, "q", "{ viewer { role } }", json!({})).await;
    let answer = answer_to(&mut socket, "q").await;
    assert_eq!(answer["payload"]["data"]["viewer"]["role"], "READ");

    app.graphql_ok(
        "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }",
        json!({ "id": id }),
    )
    .await;
    let revoked_at = Instant::now();
    let ended = answer_to(&mut socket, "live").await;
    assert_eq!(ws_error_code(&ended), Some("UNAUTHENTICATED"), "{ended}");
    assert!(
        revoked_at.elapsed() < Duration::from_secs(3),
        "{:?}",
        revoked_at.elapsed()
    );
    start(&mut socket, "after", "{ viewer { role } }", json!({})).await;
    let refused = answer_to(&mut socket, "after").await;
    assert_eq!(
        ws_error_code(&refused),
        Some("UNAUTHENTICATED"),
        "{refused}"
    );
}

on_both_backends!(
    requests_over_budget_are_refused_before_any_work_with_their_cost,
    a_key_runs_at_most_its_expensive_slots_at_once,
    one_agencys_script_flood_leaves_another_agency_answering,
    an_abandoned_script_query_frees_its_slot,
    websocket_operations_pass_the_same_rate_limit_and_time_limit,
    a_revoked_key_stops_on_an_open_connection,
);
