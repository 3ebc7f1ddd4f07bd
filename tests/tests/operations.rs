//! What an operator sees: `/metrics` moving with traffic, `/ready` gating on the
//! database and its migrations.
//!
//! The metrics recorder is one per process, so the metrics tests of this binary run
//! one at a time ([`SERIAL`]) and compare a scrape before with a scrape after.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use hourglass_server::{Application, Settings};
use hourglass_tests::ws::{authenticated, next, send};
use hourglass_tests::{Backend, TestApp, TestDatabase, client_with_key, on_both_backends};
use serde_json::{Value, json};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A scrape: each series (`name{label="value",…}`, labels sorted) and its value.
#[derive(Debug)]
struct Scrape(HashMap<String, f64>);

impl Scrape {
    async fn of(app: &TestApp) -> Self {
        let address = app.metrics_address.expect("metrics are on in tests");
        let text = reqwest::get(format!("http://{address}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        Self::parse(&text)
    }

    fn parse(text: &str) -> Self {
        let mut series = HashMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (key, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match key.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (key, ""),
            };
            let mut sorted: Vec<&str> = split_labels(labels);
            sorted.sort_unstable();
            series.insert(
                format!("{name}{{{}}}", sorted.join(",")),
                value.parse().unwrap(),
            );
        }
        Self(series)
    }

    /// The value of `name` with exactly these labels (0 when never recorded).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut sorted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        sorted.sort_unstable();
        self.0
            .get(&format!("{name}{{{}}}", sorted.join(",")))
            .copied()
            .unwrap_or(0.0)
    }

    /// How much a series grew since `before`.
    fn grew(&self, before: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels) - before.get(name, labels)
    }
}

/// `a="x",b="y, z"` → [`a="x"`, `b="y, z"`] (commas inside quotes stay).
fn split_labels(labels: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in labels.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&labels[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < labels.len() {
        parts.push(&labels[start..]);
    }
    parts
}

fn events(workspace_events: &[(&str, &str, &str)]) -> String {
    workspace_events
        .iter()
        .map(|(id, kind, org)| {
            format!(
                "{}\n",
                json!({"messageId": id, "kind": kind, "occurredAt": "2026-05-01T10:00:00Z",
                       "contactId": format!("c-{id}"), "organizationId": org})
            )
        })
        .collect()
}

async fn metrics_move_with_traffic(backend: Backend) {
    let _one_at_a_time = SERIAL.lock().await;
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.graphql.max_cost = 1_500;
        s.ingest.max_batch_events = 10;
        s.rate_limit.failed_auth_per_minute = 2;
        s.scripts.per_org_timeout_ms = 100;
    })
    .await
    else {
        return;
    };
    app.create_workspace("ops").await;
    let before = Scrape::of(&app).await;

    // Ingest: 5 stored, 1 duplicate, 2 rejected with their codes; then a batch over
    // the size limit, refused whole.
    let mut body = events(&[
        ("e1", "PAGE_VIEW", "acme"),
        ("e2", "PAGE_VIEW", "acme"),
        ("e3", "CLICK", "globex"),
        ("e4", "CLICK", "initech"),
        ("e5", "CLICK", "initech"),
        ("e1", "PAGE_VIEW", "acme"),
    ]);
    body.push_str("{not json\n");
    body.push_str(&format!(
        "{}\n",
        json!({"messageId": "e7", "kind": "TELEPORTED", "occurredAt": "2026-05-01T10:00:00Z", "contactId": "c7"})
    ));
    let report: Value = app.post_ndjson("ops", body).await.json().await.unwrap();
    assert_eq!(report["accepted"], 5, "{report}");
    assert_eq!(report["duplicates"], 1, "{report}");
    let codes: Vec<&str> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["MALFORMED_EVENT", "UNKNOWN_KIND"], "{report}");
    let too_many = events(
        &(0..11)
            .map(|_| ("x", "PAGE_VIEW", "acme"))
            .collect::<Vec<_>>(),
    );
    assert_eq!(app.post_ndjson("ops", too_many).await.status(), 413);

    // GraphQL: a named query three times, a misspelt one, one over the cost budget
    // (5 × 352 = 1,760).
    for _ in 0..3 {
        app.graphql_ok(
            "query Dashboard { kpis(workspace: \"ops\") { pageViews } }",
            json!({}),
        )
        .await;
    }
    let misspelt = app.graphql("query Misspelt { kpiz }", json!({})).await;
    assert_eq!(
        hourglass_tests::error_code(&misspelt),
        "GRAPHQL_VALIDATION_FAILED"
    );
    let costly = app
        .graphql(
            "{ a: hourglass(workspace: \"ops\") { top { uniqueVisitors } } b: hourglass(workspace: \"ops\") { top { uniqueVisitors } }
               c: hourglass(workspace: \"ops\") { top { uniqueVisitors } } d: hourglass(workspace: \"ops\") { top { uniqueVisitors } }
               e: hourglass(workspace: \"ops\") { top { uniqueVisitors } } }",
            json!({}),
        )
        .await;
    assert_eq!(hourglass_tests::error_code(&costly), "QUERY_TOO_COMPLEX");

    // Custom KPI scripts: one run per organization (acme, globex, initech), fine or
    // stopped by a sandbox limit.
    for source in ["7", "loop { }"] {
        app.graphql_ok(
            "query($s: String!) { previewKpiScript(workspace: \"ops\", source: $s) { errors { code } } }",
            json!({"s": source}),
        )
        .await;
    }

    // A live subscription, counted while it runs.
    let mut socket = authenticated(&app, &app.key).await;
    send(
        &mut socket,
        json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription Live { eventsIngested(workspace: \"ops\") { accepted } }"}}),
    )
    .await;
    send(
        &mut socket,
        json!({"id": "q", "type": "subscribe", "payload": {"query": "query FromSocket { viewer { role } }"}}),
    )
    .await;
    assert_eq!(next(&mut socket).await.unwrap().unwrap()["id"], "q");
    let live = Scrape::of(&app).await;
    assert_eq!(
        live.grew(&before, "hourglass_websocket_connections", &[]),
        1.0
    );
    assert_eq!(
        live.grew(&before, "hourglass_graphql_subscriptions", &[]),
        1.0
    );
    // A query over the socket counts as an operation, not as a subscription.
    let operations = "hourglass_graphql_operations_total";
    let from_socket = [
        ("operation", "FromSocket"),
        ("type", "query"),
        ("outcome", "OK"),
    ];
    assert_eq!(live.grew(&before, operations, &from_socket), 1.0);
    let ended = [
        ("operation", "Live"),
        ("type", "subscription"),
        ("outcome", "OK"),
    ];
    assert_eq!(live.grew(&before, operations, &ended), 0.0);
    drop(socket);

    // Wrong keys: three failures (the address may fail twice a minute, so the third
    // is answered 429 and counted as `rate`), then the address is refused before its
    // key is looked at.
    let stranger = client_with_key("hg_wrong_key");
    for expected in [401, 401, 429, 429] {
        let status = stranger
            .post(app.url("/graphql"))
            .json(&json!({"query": "{ __typename }"}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, expected);
    }

    let after = Scrape::of(&app).await;
    let grew = |name: &str, labels: &[(&str, &str)]| after.grew(&before, name, labels);
    let events = "hourglass_ingest_events_total";
    assert_eq!(grew(events, &[("outcome", "accepted"), ("code", "")]), 5.0);
    assert_eq!(grew(events, &[("outcome", "duplicate"), ("code", "")]), 1.0);
    assert_eq!(
        grew(
            events,
            &[("outcome", "rejected"), ("code", "MALFORMED_EVENT")]
        ),
        1.0
    );
    assert_eq!(
        grew(events, &[("outcome", "rejected"), ("code", "UNKNOWN_KIND")]),
        1.0
    );
    assert_eq!(
        grew("hourglass_ingest_batch_duration_seconds_count", &[]),
        1.0
    );
    assert_eq!(grew("hourglass_aggregate_upkeep_seconds_count", &[]), 1.0);
    let backend_label = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert!(
        grew(
            "hourglass_db_write_wait_seconds_count",
            &[("backend", backend_label)]
        ) >= 1.0
    );

    let refusals = "hourglass_admission_refusals_total";
    assert_eq!(grew(refusals, &[("reason", "size")]), 1.0);
    assert_eq!(grew(refusals, &[("reason", "cost")]), 1.0);
    assert_eq!(grew(refusals, &[("reason", "auth")]), 2.0);
    assert_eq!(grew(refusals, &[("reason", "rate")]), 2.0);
    assert_eq!(grew(refusals, &[("reason", "timeout")]), 0.0);

    let dashboard = [("operation", "Dashboard"), ("type", "query")];
    assert_eq!(
        grew(operations, &[dashboard[0], dashboard[1], ("outcome", "OK")]),
        3.0
    );
    assert_eq!(
        grew(
            "hourglass_graphql_operation_duration_seconds_count",
            &dashboard
        ),
        3.0
    );
    // `kpis` costs 50, and what it selects 1: every run lands in the bucket up to 100.
    let cost = "hourglass_graphql_operation_cost_bucket";
    assert_eq!(grew(cost, &[("operation", "Dashboard"), ("le", "50")]), 0.0);
    assert_eq!(
        grew(cost, &[("operation", "Dashboard"), ("le", "100")]),
        3.0
    );
    assert_eq!(
        grew(
            "hourglass_graphql_operation_cost_sum",
            &[("operation", "Dashboard")]
        ),
        153.0
    );
    assert_eq!(
        grew(
            operations,
            &[
                ("operation", "Misspelt"),
                ("type", "query"),
                ("outcome", "GRAPHQL_VALIDATION_FAILED")
            ]
        ),
        1.0
    );
    assert_eq!(
        grew(
            operations,
            &[
                ("operation", "anonymous"),
                ("type", "query"),
                ("outcome", "QUERY_TOO_COMPLEX")
            ]
        ),
        1.0
    );

    let runs = "hourglass_script_runs_total";
    assert_eq!(grew(runs, &[("outcome", "OK")]), 3.0);
    assert_eq!(grew(runs, &[("outcome", "SCRIPT_LIMIT_EXCEEDED")]), 3.0);
    assert_eq!(grew("hourglass_script_queue_wait_seconds_count", &[]), 2.0);
    assert_eq!(
        grew("hourglass_script_query_duration_seconds_count", &[]),
        2.0
    );

    let requests = "hourglass_http_requests_total";
    let ingest = [("route", "/v1/events"), ("method", "POST")];
    assert_eq!(
        grew(requests, &[ingest[0], ingest[1], ("status", "200")]),
        1.0
    );
    assert_eq!(
        grew(requests, &[ingest[0], ingest[1], ("status", "413")]),
        1.0
    );
    let graphql = [("route", "/graphql"), ("method", "POST")];
    assert_eq!(
        grew(requests, &[graphql[0], graphql[1], ("status", "401")]),
        2.0
    );
    assert_eq!(
        grew(requests, &[graphql[0], graphql[1], ("status", "429")]),
        2.0
    );
    assert_eq!(
        grew("hourglass_http_request_duration_seconds_count", &ingest),
        2.0
    );

    let pool = "hourglass_db_pool_connections";
    assert_eq!(after.get("hourglass_db_pool_max_connections", &[]), 8.0);
    assert!(after.get(pool, &[("state", "in_use")]) + after.get(pool, &[("state", "idle")]) >= 1.0);

    // The socket is gone: so are its connection and subscription, soon.
    let mut closed = Scrape::of(&app).await;
    for _ in 0..100 {
        if closed.get("hourglass_websocket_connections", &[])
            == before.get("hourglass_websocket_connections", &[])
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        closed = Scrape::of(&app).await;
    }
    assert_eq!(
        closed.grew(&before, "hourglass_websocket_connections", &[]),
        0.0
    );
    assert_eq!(
        closed.grew(&before, "hourglass_graphql_subscriptions", &[]),
        0.0
    );
    // The subscription, ended by the socket closing, is counted as it ended.
    assert_eq!(closed.grew(&before, operations, &ended), 1.0);

    // Metrics are not served where clients connect.
    let main_port = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(main_port.status(), 404);
}

async fn a_query_stopped_at_its_time_limit_counts_as_a_timeout(backend: Backend) {
    let _one_at_a_time = SERIAL.lock().await;
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.graphql.timeout_ms = 100;
        // The script would run for seconds: the query's time limit stops it first.
        s.scripts.per_org_timeout_ms = 5_000;
        s.scripts.max_operations = 1_000_000_000_000;
    })
    .await
    else {
        return;
    };
    app.create_workspace("slow").await;
    let body = events(&[("s1", "PAGE_VIEW", "acme")]);
    assert_eq!(app.post_ndjson("slow", body).await.status(), 200);
    let before = Scrape::of(&app).await;
    let stopped = app
        .graphql(
            "query Slow($s: String!) { previewKpiScript(workspace: \"slow\", source: $s) { errors { code } } }",
            json!({"s": "loop { }"}),
        )
        .await;
    assert_eq!(
        hourglass_tests::error_code(&stopped),
        "TIMEOUT",
        "{stopped}"
    );
    let after = Scrape::of(&app).await;
    let refusals = "hourglass_admission_refusals_total";
    assert_eq!(after.grew(&before, refusals, &[("reason", "timeout")]), 1.0);
    let slow = [
        ("operation", "Slow"),
        ("type", "query"),
        ("outcome", "TIMEOUT"),
    ];
    assert_eq!(
        after.grew(&before, "hourglass_graphql_operations_total", &slow),
        1.0
    );
}

async fn ready(address: std::net::SocketAddr) -> (u16, Value) {
    let response = reqwest::get(format!("http://{address}/ready"))
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn ready_waits_for_migrations_and_the_database(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let settings = Settings {
        bind: "127.0.0.1:0".into(),
        database_url: db.url.clone(),
        migrate_on_start: false,
        metrics_bind: String::new(),
        ..Settings::default()
    };
    let app = Application::build(settings).await.unwrap();
    let address = app.address();
    assert_eq!(
        app.metrics_address(),
        None,
        "an empty metrics_bind serves no metrics"
    );
    tokio::spawn(app.run_until_stopped());

    let (status, body) = ready(address).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "migrations_pending", "{body}");
    let migrations = db.store().await.migration_status().await.unwrap().len();
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{migrations} migration(s) not applied")),
        "{body}"
    );
    // Liveness does not wait for migrations.
    let health = reqwest::get(format!("http://{address}/health"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // `db.store()` above migrated: ready.
    let (status, body) = ready(address).await;
    assert_eq!((status, body), (200, json!({"status": "ready"})));

    // PostgreSQL: the database goes away under the running server.
    if backend == Backend::Postgres {
        let name = db.url.rsplit('/').next().unwrap().to_owned();
        let admin = hourglass_storage::Store::connect(&hourglass_storage::StoreOptions::new(
            hourglass_tests::postgres_admin_url(),
        ))
        .await
        .unwrap();
        use sea_orm::ConnectionTrait as _;
        admin
            .connection()
            .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
            .await
            .unwrap();
        admin.close().await.unwrap();
        let (status, body) = ready(address).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["code"], "database_unreachable", "{body}");
        // Liveness is the process's: the database going away restarts nothing.
        let health = reqwest::get(format!("http://{address}/health"))
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        assert!(
            !body.to_string().contains(&name),
            "no database detail reaches the client: {body}"
        );
    }
}

on_both_backends!(
    metrics_move_with_traffic,
    a_query_stopped_at_its_time_limit_counts_as_a_timeout,
    ready_waits_for_migrations_and_the_database,
);

#[test]
fn the_scrape_parser_reads_labels_with_commas() {
    let scrape = Scrape::parse("# HELP x y\nx_total{b=\"2\",a=\"1, 2\"} 3\nplain 4.5\n");
    let expected: BTreeMap<_, _> = [
        ("plain{}".to_owned(), 4.5),
        ("x_total{a=\"1, 2\",b=\"2\"}".to_owned(), 3.0),
    ]
    .into_iter()
    .collect();
    assert_eq!(scrape.0.into_iter().collect::<BTreeMap<_, _>>(), expected);
}
