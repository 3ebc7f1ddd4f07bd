//! Custom KPIs over HTTP: write, validate, preview, publish, version, query — and
//! abusive scripts that must never hurt the server.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hourglass_tests::{Backend, TestApp, error_code, on_both_backends};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

const HOT_ACCOUNT: &str = include_str!("../../scripts/kpis/hot_account.rhai");

async fn seeded(
    backend: Backend,
    configure: impl FnOnce(&mut hourglass_server::Settings),
) -> Option<TestApp> {
    let app = TestApp::spawn_with(backend, configure).await?;
    app.create_workspace("agency").await;
    app.graphql_ok(
        "mutation { createAsset(workspace: \"agency\", input: {id: \"web\", kind: WEBINAR, durationSeconds: 3600}) { id } }",
        json!({}),
    )
    .await;
    let mut events = Vec::new();
    let mut n = 0;
    let mut push = |kind: &str, who: &str, org: &str, value: Option<f64>, properties: Value| {
        n += 1;
        events.push(json!({
            "messageId": format!("e{n}"), "kind": kind, "occurredAt": "2026-04-01T10:00:00Z",
            "contactId": who, "organizationId": org, "assetId": "web", "value": value, "properties": properties,
        }));
    };
    for who in ["ann", "bob", "cy"] {
        push(
            "ATTENDANCE",
            who,
            "acme",
            Some(if who == "ann" { 3500.0 } else { 1200.0 }),
            Value::Null,
        );
    }
    push("QUESTION", "bob", "acme", None, Value::Null);
    push("SHARE", "ann", "acme", None, json!({"recipient": "cy"}));
    push("ATTENDANCE", "dee", "globex", Some(3600.0), Value::Null);
    let answer = app
        .graphql_ok(
            "mutation($e: [EventInput!]!) { ingestEvents(workspace: \"agency\", events: $e) { accepted } }",
            json!({"e": events}),
        )
        .await;
    assert_eq!(answer["ingestEvents"]["accepted"], 6);
    Some(app)
}

const CREATE: &str = "mutation($input: KpiScriptInput!) {
  createKpiScript(workspace: \"agency\", input: $input) { key version name goal unit params { name default } }
}";

const CUSTOM: &str = "query($key: String!, $params: JSON, $version: Int) {
  customKpi(workspace: \"agency\", key: $key, params: $params, version: $version) {
    key version unit aggregate { count sum mean median min max }
    errors { organization code message line column }
    perOrganization { edges { node { organization value label breakdown { name value } } } }
  }
}";

fn hot_account_input() -> Value {
    json!({
        "key": "hot_account", "name": "Hot account", "goal": "FIND", "unit": "points",
        "description": "Attendees × 2 + questions × 3 + internal shares",
        "source": HOT_ACCOUNT,
        "params": [{"name": "min_attendees", "default": 3}, {"name": "threshold", "default": 0.9}],
    })
}

async fn an_agency_writes_publishes_and_queries_its_own_kpi(backend: Backend) {
    let Some(app) = seeded(backend, |_| {}).await else {
        return;
    };
    let created = app
        .graphql_ok(CREATE, json!({"input": hot_account_input()}))
        .await;
    assert_eq!(created["createKpiScript"]["version"], 1);

    let result = app.graphql_ok(CUSTOM, json!({"key": "hot_account"})).await["customKpi"].clone();
    assert_eq!(result["version"], 1);
    assert_eq!(result["unit"], "points");
    assert_eq!(result["errors"], json!([]));
    let nodes: Vec<&Value> = result["perOrganization"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .collect();
    // acme: 3 attendees × 2 + 1 question × 3 + 1 internal share; globex: 1 × 2.
    assert_eq!(nodes[0]["organization"], "acme");
    assert_eq!(nodes[0]["value"], 10.0);
    assert_eq!(nodes[0]["label"], "hot");
    assert_eq!(nodes[1]["organization"], "globex");
    assert_eq!(nodes[1]["value"], 2.0);
    assert_eq!(nodes[1]["label"], "not yet");
    assert_eq!(
        result["aggregate"],
        json!({"count": 2, "sum": 12.0, "mean": 6.0, "median": 6.0, "min": 2.0, "max": 10.0})
    );

    // The caller's parameters override the declared defaults; undeclared ones are refused.
    let strict = app
        .graphql_ok(
            CUSTOM,
            json!({"key": "hot_account", "params": {"min_attendees": 4}}),
        )
        .await;
    assert_eq!(
        strict["customKpi"]["perOrganization"]["edges"][0]["node"]["label"],
        "not yet"
    );
    let typo = app
        .graphql(
            CUSTOM,
            json!({"key": "hot_account", "params": {"min_atendees": 4}}),
        )
        .await;
    assert_eq!(error_code(&typo), "BAD_USER_INPUT");

    // An update is a new version; results say which version made them; old ones stay.
    let updated = app
        .graphql_ok(
            "mutation { updateKpiScript(workspace: \"agency\", key: \"hot_account\", input: {source: \"count(events, \\\"ATTENDANCE\\\") * 100\"}) { version currentVersion } }",
            json!({}),
        )
        .await;
    assert_eq!(
        updated["updateKpiScript"],
        json!({"version": 2, "currentVersion": 2})
    );
    let v2 = app.graphql_ok(CUSTOM, json!({"key": "hot_account"})).await;
    assert_eq!(v2["customKpi"]["version"], 2);
    assert_eq!(v2["customKpi"]["aggregate"]["max"], 300.0);
    let v1 = app
        .graphql_ok(CUSTOM, json!({"key": "hot_account", "version": 1}))
        .await;
    assert_eq!(v1["customKpi"]["aggregate"]["max"], 10.0);

    // Custom KPIs ride along in kpis, over the same filter.
    let inside = app
        .graphql_ok(
            "{ kpis(workspace: \"agency\", filter: {organization: \"acme\"}) { attendances custom(key: \"hot_account\") { version aggregate { count max } } } }",
            json!({}),
        )
        .await;
    assert_eq!(inside["kpis"]["attendances"], 3);
    assert_eq!(
        inside["kpis"]["custom"],
        json!({"version": 2, "aggregate": {"count": 1, "max": 300.0}})
    );

    let listed = app
        .graphql_ok("{ kpiScripts(workspace: \"agency\") { edges { node { key version history { version } } } } }", json!({}))
        .await;
    assert_eq!(
        listed["kpiScripts"]["edges"][0]["node"]["history"],
        json!([{"version": 2}, {"version": 1}])
    );

    app.graphql_ok(
        "mutation { archiveKpiScript(workspace: \"agency\", key: \"hot_account\") { archived } }",
        json!({}),
    )
    .await;
    let gone = app.graphql(CUSTOM, json!({"key": "hot_account"})).await;
    assert_eq!(error_code(&gone), "NOT_FOUND");
    let listed = app
        .graphql_ok(
            "{ kpiScripts(workspace: \"agency\") { edges { node { key } } } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["kpiScripts"]["edges"], json!([]));
    let again = app
        .graphql(CREATE, json!({"input": hot_account_input()}))
        .await;
    assert_eq!(error_code(&again), "ALREADY_EXISTS");
}

async fn mistakes_are_reported_with_their_position(backend: Backend) {
    let Some(app) = seeded(backend, |_| {}).await else {
        return;
    };
    let validation = app
        .graphql_ok(
            "query($s: String!) { validateKpiScript(source: $s) { valid problems { code message line column } } }",
            json!({"s": "let a = 1;\nlet b = count(evnts, \"CLICK\");\na + b"}),
        )
        .await;
    let v = &validation["validateKpiScript"];
    assert_eq!(v["valid"], false);
    assert_eq!(v["problems"][0]["code"], "SCRIPT_COMPILE_ERROR");
    assert_eq!(v["problems"][0]["line"], 2);
    assert!(
        v["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("evnts"),
        "{v}"
    );

    let mut input = hot_account_input();
    input["source"] = json!("let x = ;");
    let refused = app.graphql(CREATE, json!({"input": input})).await;
    assert_eq!(error_code(&refused), "SCRIPT_COMPILE_ERROR");
    assert_eq!(refused["errors"][0]["extensions"]["line"], 1);

    // A runtime error is per organization: the others still get their values.
    let preview = app
        .graphql_ok(
            "query($s: String!) { previewKpiScript(workspace: \"agency\", source: $s) {
                version aggregate { count } errors { organization code line } perOrganization { edges { node { organization value } } } } }",
            json!({"s": "if org.id == \"globex\" { \"not a number\" } else { 7 }"}),
        )
        .await;
    let p = &preview["previewKpiScript"];
    assert_eq!(p["version"], Value::Null);
    assert_eq!(p["aggregate"]["count"], 1);
    assert_eq!(p["errors"][0]["organization"], "globex");
    assert_eq!(p["errors"][0]["code"], "SCRIPT_RUNTIME_ERROR");
    assert_eq!(
        p["perOrganization"]["edges"][0]["node"],
        json!({"organization": "acme", "value": 7.0})
    );
}

async fn abusive_scripts_end_with_their_code_while_other_queries_are_answered(backend: Backend) {
    let Some(app) = seeded(backend, |s| {
        s.scripts.per_org_timeout_ms = 300;
        s.scripts.query_timeout_ms = 2_000;
    })
    .await
    else {
        return;
    };
    let abusive = [
        ("endless loop", "loop { }", "SCRIPT_LIMIT_EXCEEDED"),
        (
            "runaway recursion",
            "fn f(x) { f(x + 1) } f(0)",
            "SCRIPT_LIMIT_EXCEEDED",
        ),
        (
            "exponential string",
            "let s = \"x\"; loop { s += s; }",
            "SCRIPT_LIMIT_EXCEEDED",
        ),
        (
            "growing array",
            "let a = []; loop { a.push(a.len()); }",
            "SCRIPT_LIMIT_EXCEEDED",
        ),
        (
            "giant map",
            "let m = #{}; let i = 0; loop { m[`k${i}`] = i; i += 1; }",
            "SCRIPT_LIMIT_EXCEEDED",
        ),
        (
            "unknown function",
            "steal_data(\"other-workspace\")",
            "SCRIPT_RUNTIME_ERROR",
        ),
        ("wrong return type", "[1, 2, 3]", "SCRIPT_RUNTIME_ERROR"),
        (
            "reads another workspace",
            "import \"other-workspace\" as o; o::events",
            "SCRIPT_COMPILE_ERROR",
        ),
        ("eval", "eval(\"1 + 1\")", "SCRIPT_COMPILE_ERROR"),
    ];
    for (name, source, code) in abusive {
        let started = Instant::now();
        // An ordinary query sent at the same time is still answered promptly.
        let preview = app.graphql(
            "query($s: String!) { previewKpiScript(workspace: \"agency\", source: $s) { errors { code } } }",
            json!({"s": source}),
        );
        let ordinary = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let asked = Instant::now();
            let answer = app
                .graphql_ok("{ kpis(workspace: \"agency\") { attendances } }", json!({}))
                .await;
            (answer, asked.elapsed())
        };
        let (preview, (ordinary, ordinary_took)) = tokio::join!(preview, ordinary);
        let took = started.elapsed();
        let got = preview["data"]["previewKpiScript"]["errors"][0]["code"]
            .as_str()
            .or_else(|| preview["errors"][0]["extensions"]["code"].as_str())
            .unwrap_or_else(|| panic!("{name}: {preview}"));
        assert_eq!(got, code, "{name}: {preview}");
        assert!(took < Duration::from_secs(10), "{name} took {took:?}");
        assert_eq!(ordinary["kpis"]["attendances"], 4, "{name}");
        assert!(
            ordinary_took < Duration::from_secs(5),
            "{name}: the ordinary query waited {ordinary_took:?}"
        );
    }
}

/// Each organization's value, by organization id.
fn per_organization(answer: &Value) -> BTreeMap<String, f64> {
    answer["customKpi"]["perOrganization"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| {
            let node = &edge["node"];
            (
                node["organization"].as_str().unwrap().to_owned(),
                node["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// A script that never names `events` runs on the aggregate layer's facts: with every
/// raw event deleted behind the server's back it answers as before, while a script
/// that reads `events` finds none.
async fn a_script_on_facts_reads_no_raw_event(backend: Backend) {
    let Some(app) = seeded(backend, |_| {}).await else {
        return;
    };
    app.graphql_ok(CREATE, json!({"input": hot_account_input()}))
        .await;
    let mut on_events = hot_account_input();
    on_events["key"] = json!("attendances");
    on_events["source"] = json!("count(events, \"ATTENDANCE\")");
    on_events["params"] = json!([]);
    app.graphql_ok(CREATE, json!({"input": on_events})).await;

    // acme: three attendees × 2 + one question × 3 + one internal share; globex: one
    // attendee. Attendances: three and one.
    let hot = BTreeMap::from([("acme".to_owned(), 10.0), ("globex".to_owned(), 2.0)]);
    let ask = |key: &'static str| app.graphql_ok(CUSTOM, json!({ "key": key }));
    assert_eq!(per_organization(&ask("hot_account").await), hot);
    assert_eq!(
        per_organization(&ask("attendances").await),
        BTreeMap::from([("acme".to_owned(), 3.0), ("globex".to_owned(), 1.0)])
    );

    let store = app.db.store().await;
    let db = store.connection();
    db.execute_raw(Statement::from_string(
        db.get_database_backend(),
        "DELETE FROM events",
    ))
    .await
    .unwrap();
    store.close().await.unwrap();

    assert_eq!(per_organization(&ask("hot_account").await), hot);
    assert_eq!(per_organization(&ask("attendances").await), BTreeMap::new());
}

/// Compiling is script authors' work: a key that may not author scripts gets
/// FORBIDDEN from validateKpiScript, and from create/update before its source is even
/// compiled (a broken source does not tell it anything).
async fn only_script_authors_compile(backend: Backend) {
    let Some(app) = seeded(backend, |_| {}).await else {
        return;
    };
    let as_key = |key: String| {
        let client = hourglass_tests::client_with_key(&key);
        let url = app.url("/graphql");
        move |query: &'static str| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                client
                    .post(url)
                    .json(&json!({ "query": query }))
                    .send()
                    .await
                    .unwrap()
                    .json::<serde_json::Value>()
                    .await
                    .unwrap()
            }
        }
    };
    let validate = "{ validateKpiScript(source: \"1 +\") { valid } }";
    let create = "mutation { createKpiScript(workspace: \"agency\", input: {key: \"k\", name: \"K\", goal: FIND, source: \"1 +\"}) { key } }";
    for role in ["READ", "INGEST"] {
        let ask = as_key(app.issue_key(None, role).await);
        assert_eq!(error_code(&ask(validate).await), "FORBIDDEN", "{role}");
        assert_eq!(error_code(&ask(create).await), "FORBIDDEN", "{role}");
    }
    let analyst = as_key(app.issue_key(None, "ANALYST").await);
    let answer = analyst(validate).await;
    assert_eq!(
        answer["data"]["validateKpiScript"]["valid"], false,
        "{answer}"
    );
    assert_eq!(error_code(&analyst(create).await), "SCRIPT_COMPILE_ERROR");
}

on_both_backends!(
    only_script_authors_compile,
    a_script_on_facts_reads_no_raw_event,
    an_agency_writes_publishes_and_queries_its_own_kpi,
    mistakes_are_reported_with_their_position,
    abusive_scripts_end_with_their_code_while_other_queries_are_answered,
);
