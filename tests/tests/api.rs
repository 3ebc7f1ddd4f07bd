//! End-to-end: the server on port 0, spoken to over HTTP, on both backends.

#![allow(clippy::unwrap_used)]

use hourglass_tests::{Backend, TestApp, error_code, on_both_backends};
use serde_json::{Value, json};

const INGEST: &str = "mutation($ws: ID!, $events: [EventInput!]!) {
  ingestEvents(workspace: $ws, events: $events) {
    accepted duplicates rejected { index messageId code message }
  }
}";

const KPIS: &str = "query($ws: ID!, $filter: KpiFilterInput) {
  kpis(workspace: $ws, filter: $filter) {
    impressions pageViews clicks registrations attendances uniqueVisitors engagements
    landingPageViewers registrants attendees spend minSample
    clickThroughRate { value numerator n lower upper sufficient }
    registrationRate { value numerator n sufficient }
    attendanceRate { value numerator n sufficient }
  }
}";

fn event(message_id: &str, kind: &str, who: &str) -> Value {
    json!({
        "messageId": message_id,
        "kind": kind,
        "occurredAt": "2026-02-03T10:00:00Z",
        "contactId": who,
    })
}

async fn spawn(backend: Backend, workspace: &str) -> Option<TestApp> {
    let app = TestApp::spawn(backend).await?;
    app.create_workspace(workspace).await;
    Some(app)
}

async fn health_answers_ok(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let response = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "ok");
}

async fn ingested_events_become_exact_kpis(backend: Backend) {
    let Some(app) = spawn(backend, "acme").await else {
        return;
    };
    app.graphql_ok(
        "mutation { createAsset(workspace: \"acme\", input: {id: \"lp\", kind: LANDING_PAGE}) { id }
                    w: createAsset(workspace: \"acme\", input: {id: \"web\", kind: WEBINAR, durationSeconds: 3600, landingPage: \"lp\"}) { id landingPage } }",
        json!({}),
    )
    .await;
    let mut events = Vec::new();
    // 40 impressions by 20 people, 3 clicks.
    for i in 0..40 {
        events.push(json!({"messageId": format!("imp{i}"), "kind": "IMPRESSION", "occurredAt": "2026-02-01T09:00:00Z", "anonymousId": format!("v{}", i % 20), "channel": "Social"}));
    }
    for i in 0..3 {
        events.push(json!({"messageId": format!("clk{i}"), "kind": "CLICK", "occurredAt": "2026-02-01T09:05:00Z", "anonymousId": format!("v{i}"), "channel": "social"}));
    }
    // 10 people view the landing page (one twice), 4 register, 3 attend (one in two parts).
    for i in 0..10 {
        events.push(json!({"messageId": format!("lv{i}"), "kind": "PAGE_VIEW", "occurredAt": "2026-02-02T09:00:00Z", "contactId": format!("p{i}"), "assetId": "lp"}));
    }
    events.push(json!({"messageId": "lv-again", "kind": "PAGE_VIEW", "occurredAt": "2026-02-02T09:30:00Z", "contactId": "p0", "assetId": "lp"}));
    for i in 0..4 {
        events.push(json!({"messageId": format!("reg{i}"), "kind": "REGISTRATION", "occurredAt": "2026-02-02T10:00:00Z", "contactId": format!("p{i}"), "assetId": "web"}));
    }
    for (msg, who, secs) in [
        ("att0", "p0", 3500),
        ("att1", "p1", 1200),
        ("att1b", "p1", 2300),
        ("att2", "p2", 600),
    ] {
        events.push(json!({"messageId": msg, "kind": "ATTENDANCE", "occurredAt": "2026-02-05T15:00:00Z", "contactId": who, "assetId": "web", "value": secs}));
    }
    // A walk-in registers without viewing the landing page; a guest attends without
    // registering. Both are counted as people, neither in the rates: a rate is the
    // share of the step before who took the step.
    events.push(json!({"messageId": "walk-in", "kind": "REGISTRATION", "occurredAt": "2026-02-02T11:00:00Z", "contactId": "walk-in", "assetId": "web"}));
    events.push(json!({"messageId": "guest", "kind": "ATTENDANCE", "occurredAt": "2026-02-05T15:00:00Z", "contactId": "guest", "assetId": "web", "value": 100}));
    let result = app
        .graphql_ok(INGEST, json!({"ws": "acme", "events": events}))
        .await;
    assert_eq!(result["ingestEvents"]["accepted"], 64);
    assert_eq!(result["ingestEvents"]["rejected"], json!([]));

    let k = &app.graphql_ok(KPIS, json!({"ws": "acme"})).await["kpis"];
    assert_eq!(k["impressions"], 40);
    assert_eq!(k["clicks"], 3);
    assert_eq!(k["engagements"], 3, "the clicks are the only engagement");
    assert_eq!(k["pageViews"], 11);
    assert_eq!(
        k["uniqueVisitors"], 30,
        "20 anonymous viewers of ads + 10 landing viewers"
    );
    assert_eq!(k["clickThroughRate"]["value"], 3.0 / 40.0);
    assert_eq!(k["clickThroughRate"]["n"], 40);
    assert_eq!(k["clickThroughRate"]["sufficient"], true);
    let lower = k["clickThroughRate"]["lower"].as_f64().unwrap();
    let upper = k["clickThroughRate"]["upper"].as_f64().unwrap();
    assert!(
        (lower - 0.0258).abs() < 1e-3 && (upper - 0.1992).abs() < 1e-3,
        "{lower} {upper}"
    );
    assert_eq!((&k["registrants"], &k["attendees"]), (&json!(5), &json!(4)));
    assert_eq!(
        k["registrationRate"]["value"], 0.4,
        "4 of 10 viewers registered"
    );
    assert_eq!(k["registrationRate"]["n"], 10);
    assert_eq!(k["registrationRate"]["sufficient"], false, "10 < 30");
    assert_eq!(
        k["attendanceRate"]["numerator"], 3,
        "3 of 5 registrants attended"
    );
    assert_eq!(k["attendanceRate"]["n"], 5);
    assert_eq!(k["minSample"], 30);

    // The webinar's own report sees its landing page for the funnel rates.
    let web = &app
        .graphql_ok(KPIS, json!({"ws": "acme", "filter": {"asset": "web"}}))
        .await["kpis"];
    assert_eq!(web["registrationRate"]["value"], 0.4);
    assert_eq!(web["impressions"], 0);
    let funnel = app
        .graphql_ok(
            "{ funnel(workspace: \"acme\", asset: \"web\") { steps { name count rate { value n } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        funnel["funnel"]["steps"],
        json!([
            {"name": "LANDING_VIEWS", "count": 10, "rate": null},
            {"name": "REGISTRATIONS", "count": 5, "rate": {"value": 0.4, "n": 10}},
            {"name": "ATTENDANCE", "count": 4, "rate": {"value": 0.6, "n": 5}},
        ])
    );

    // Lowering the minimum sample makes the same rate sufficient.
    app.graphql_ok(
        "mutation { updateWorkspace(slug: \"acme\", input: {minSample: 10}) { minSample } }",
        json!({}),
    )
    .await;
    let k = &app.graphql_ok(KPIS, json!({"ws": "acme"})).await["kpis"];
    assert_eq!(k["registrationRate"]["sufficient"], true);

    // Channel filters are case-insensitive and time ranges half-open.
    let social = &app
        .graphql_ok(KPIS, json!({"ws": "acme", "filter": {"channel": "SOCIAL", "from": "2026-02-01T09:00:00Z", "to": "2026-02-01T09:05:00Z"}}))
        .await["kpis"];
    assert_eq!(social["impressions"], 40);
    assert_eq!(social["clicks"], 0);
}

async fn a_rate_without_a_sample_is_null_not_an_error(backend: Backend) {
    let Some(app) = spawn(backend, "empty").await else {
        return;
    };
    let k = &app.graphql_ok(KPIS, json!({"ws": "empty"})).await["kpis"];
    assert_eq!(
        k["clickThroughRate"],
        json!({"value": null, "numerator": 0, "n": 0, "lower": null, "upper": null, "sufficient": false})
    );
}

async fn resent_and_overlapping_batches_are_stored_once(backend: Backend) {
    let Some(app) = spawn(backend, "idem").await else {
        return;
    };
    let batch: Vec<Value> = (0..10)
        .map(|i| event(&format!("m{i}"), "CLICK", "c1"))
        .collect();
    let first = app
        .graphql_ok(INGEST, json!({"ws": "idem", "events": batch}))
        .await;
    assert_eq!(first["ingestEvents"]["accepted"], 10);
    let again = app
        .graphql_ok(INGEST, json!({"ws": "idem", "events": batch}))
        .await;
    assert_eq!(again["ingestEvents"]["accepted"], 0);
    assert_eq!(again["ingestEvents"]["duplicates"], 10);
    // The same messages over NDJSON are duplicates too: one idempotency key.
    let ndjson: String = (5..15)
        .map(|i| format!("{}\n", event(&format!("m{i}"), "CLICK", "c1")))
        .collect();
    let response = app.post_ndjson("idem", ndjson).await;
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    assert_eq!(
        (report["accepted"].as_u64(), report["duplicates"].as_u64()),
        (Some(5), Some(5))
    );
    let k = &app.graphql_ok(KPIS, json!({"ws": "idem"})).await["kpis"];
    assert_eq!(k["clicks"], 15);
}

async fn bad_events_are_rejected_one_by_one_and_the_rest_stored(backend: Backend) {
    let Some(app) = spawn(backend, "bad").await else {
        return;
    };
    let lines = [
        event("ok-1", "CLICK", "c1").to_string(),
        event("k", "PAGEVIEW", "c1").to_string(),
        json!({"messageId": "t", "kind": "CLICK", "occurredAt": "yesterday", "contactId": "c1"}).to_string(),
        "{not json".to_string(),
        json!({"messageId": "big", "kind": "COMMENT", "occurredAt": "2026-02-03T10:00:00Z", "contactId": "c1", "properties": {"text": "x".repeat(40_000)}}).to_string(),
        String::new(),
        json!({"messageId": "nps", "kind": "SURVEY_RESPONSE", "occurredAt": "2026-02-03T10:00:00Z", "contactId": "c1", "value": 11}).to_string(),
        json!({"messageId": "typo", "kind": "CLICK", "occured_at": "2026-02-03T10:00:00Z", "contactId": "c1"}).to_string(),
        json!({"messageId": "nobody", "kind": "CLICK", "occurredAt": "2026-02-03T10:00:00Z"}).to_string(),
        event("ok-2", "LIKE", "c2").to_string(),
    ];
    let response = app.post_ndjson("bad", lines.join("\n")).await;
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["accepted"], 2);
    let rejected: Vec<(u64, &str)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rejected,
        vec![
            (1, "UNKNOWN_KIND"),
            (2, "INVALID_TIMESTAMP"),
            (3, "MALFORMED_EVENT"),
            (4, "EVENT_TOO_LARGE"),
            (6, "INVALID_VALUE"),
            (7, "MALFORMED_EVENT"),
            (8, "MISSING_FIELD"),
        ]
    );
    assert!(
        report["rejected"][5]["message"]
            .as_str()
            .unwrap()
            .contains("occured_at")
    );
    let events = app
        .graphql_ok(
            "{ events(workspace: \"bad\") { edges { node { messageId kind } } } }",
            json!({}),
        )
        .await;
    let stored: Vec<&str> = events["events"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["messageId"].as_str().unwrap())
        .collect();
    assert_eq!(stored.len(), 2);
    assert!(stored.contains(&"ok-1") && stored.contains(&"ok-2"));

    // Over GraphQL an unknown kind is caught by the schema: nothing runs, nothing is stored.
    let answer = app
        .graphql(INGEST, json!({"ws": "bad", "events": [event("g1", "CLICK", "c"), event("g2", "PAGEVIEW", "c")]}))
        .await;
    assert_eq!(error_code(&answer), "BAD_USER_INPUT");
    let answer = app
        .graphql(INGEST, json!({"ws": "bad", "events": [{"messageId": "g3", "kind": "CLICK", "occurredAt": "not a time", "contactId": "c"}]}))
        .await;
    assert_eq!(error_code(&answer), "BAD_USER_INPUT");
    let inline = app
        .graphql("mutation { ingestEvents(workspace: \"bad\", events: [{messageId: \"g\", kind: PAGEVIEW, occurredAt: \"2026-02-03T10:00:00Z\"}]) { accepted } }", json!({}))
        .await;
    assert_eq!(error_code(&inline), "BAD_USER_INPUT");
    let unknown_field = app.graphql("{ workspaces { nope } }", json!({})).await;
    assert_eq!(error_code(&unknown_field), "GRAPHQL_VALIDATION_FAILED");
    // A domain rule broken over GraphQL is a per-event rejection.
    let answer = app
        .graphql_ok(INGEST, json!({"ws": "bad", "events": [
            {"messageId": "g4", "kind": "ATTENDANCE", "occurredAt": "2026-02-03T10:00:00Z", "contactId": "c"},
            event("g5", "CLICK", "c"),
        ]}))
        .await;
    assert_eq!(answer["ingestEvents"]["accepted"], 1);
    assert_eq!(
        answer["ingestEvents"]["rejected"][0]["code"],
        "INVALID_VALUE"
    );
    assert_eq!(answer["ingestEvents"]["rejected"][0]["messageId"], "g4");
    let k = &app.graphql_ok(KPIS, json!({"ws": "bad"})).await["kpis"];
    assert_eq!(k["clicks"], 2);
}

async fn too_many_events_are_refused_whole(backend: Backend) {
    let Some(app) = spawn(backend, "limits").await else {
        return;
    };
    let events: Vec<Value> = (0..501)
        .map(|i| event(&format!("m{i}"), "CLICK", "c"))
        .collect();
    let ndjson: String = events.iter().map(|e| format!("{e}\n")).collect();
    let response = app.post_ndjson("limits", ndjson).await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "BATCH_TOO_LARGE");

    let answer = app
        .graphql(INGEST, json!({"ws": "limits", "events": events}))
        .await;
    assert_eq!(error_code(&answer), "BATCH_TOO_LARGE");
    let k = &app.graphql_ok(KPIS, json!({"ws": "limits"})).await["kpis"];
    assert_eq!(k["clicks"], 0, "nothing of a refused batch is stored");
}

async fn an_unknown_workspace_is_not_found(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let response = app
        .post_ndjson("ghost", event("m", "CLICK", "c").to_string())
        .await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "NOT_FOUND");
    let answer = app
        .graphql(
            INGEST,
            json!({"ws": "ghost", "events": [event("m", "CLICK", "c")]}),
        )
        .await;
    assert_eq!(error_code(&answer), "NOT_FOUND");
    let answer = app.graphql(KPIS, json!({"ws": "ghost"})).await;
    assert_eq!(error_code(&answer), "NOT_FOUND");
}

async fn catalog_mutations_validate_and_report_conflicts(backend: Backend) {
    let Some(app) = spawn(backend, "cat").await else {
        return;
    };
    let create = "mutation($input: CampaignInput!) { createCampaign(workspace: \"cat\", input: $input) { id name goal budget currency } }";
    let ok = app
        .graphql_ok(create, json!({"input": {"id": "q3", "name": " Q3 launch ", "goal": "KEEP", "budget": 1000, "currency": "eur"}}))
        .await;
    assert_eq!(
        ok["createCampaign"],
        json!({"id": "q3", "name": "Q3 launch", "goal": "KEEP", "budget": 1000.0, "currency": "EUR"})
    );
    let again = app
        .graphql(
            create,
            json!({"input": {"id": "q3", "name": "x", "goal": "FIND"}}),
        )
        .await;
    assert_eq!(error_code(&again), "ALREADY_EXISTS");
    let bad = app
        .graphql(create, json!({"input": {"id": "q4", "name": "x", "goal": "FIND", "startsAt": "2026-03-01T00:00:00Z", "endsAt": "2026-02-01T00:00:00Z"}}))
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
    assert_eq!(bad["errors"][0]["extensions"]["field"], "endsAt");
    let dup_workspace = app
        .graphql(
            "mutation { createWorkspace(slug: \"cat\", name: \"again\") { slug } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&dup_workspace), "ALREADY_EXISTS");
    let bad_slug = app
        .graphql(
            "mutation { createWorkspace(slug: \"Not A Slug\", name: \"x\") { slug } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&bad_slug), "BAD_USER_INPUT");

    let article_duration = app
        .graphql("mutation { createAsset(workspace: \"cat\", input: {id: \"a\", kind: ARTICLE, durationSeconds: 60}) { id } }", json!({}))
        .await;
    assert_eq!(error_code(&article_duration), "BAD_USER_INPUT");
    let org = app
        .graphql_ok("mutation { createOrganization(workspace: \"cat\", input: {id: \"o1\", name: \"Acme\", domain: \"https://www.ACME.com/\"}) { domain } }", json!({}))
        .await;
    assert_eq!(org["createOrganization"]["domain"], "acme.com");
    let spend = app
        .graphql_ok("mutation { recordSpend(workspace: \"cat\", campaign: \"q3\", channel: \"Paid Search\", day: \"2026-03-01\", amount: 99.5) { channel amount } }", json!({}))
        .await;
    assert_eq!(
        spend["recordSpend"],
        json!({"channel": "paid_search", "amount": 99.5})
    );
    let campaign = app
        .graphql_ok(
            "{ campaign(workspace: \"cat\", id: \"q3\") { goal kpis { spend clicks } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        campaign["campaign"],
        json!({"goal": "KEEP", "kpis": {"spend": 99.5, "clicks": 0}})
    );
    // Its dashboard leads with the KPIs that serve KEEP, in catalog order.
    let catalog = app
        .graphql_ok(
            "{ campaign(workspace: \"cat\", id: \"q3\") { kpiCatalog { key goals } } }",
            json!({}),
        )
        .await;
    let entries = catalog["campaign"]["kpiCatalog"].as_array().unwrap();
    let keys: Vec<&str> = entries.iter().map(|k| k["key"].as_str().unwrap()).collect();
    let keep = [
        "attendees",
        "attendanceRate",
        "nps",
        "testimonials",
        "spend",
        "revenue",
        "costPerAttendee",
        "roi",
    ];
    assert_eq!(&keys[..keep.len()], &keep);
    assert!(
        entries[keep.len()..]
            .iter()
            .all(|k| !k["goals"].as_array().unwrap().contains(&json!("KEEP")))
    );
}

async fn connections_page_with_opaque_cursors_and_bounded_sizes(backend: Backend) {
    let Some(app) = spawn(backend, "pages").await else {
        return;
    };
    let events: Vec<Value> = (0..25)
        .map(|i| json!({"messageId": format!("m{i}"), "kind": "PAGE_VIEW", "occurredAt": "2026-02-03T10:00:00Z", "contactId": format!("c{i:02}"), "organizationId": format!("o{}", i % 3)}))
        .collect();
    app.graphql_ok(INGEST, json!({"ws": "pages", "events": events}))
        .await;
    let query = "query($after: String) { contacts(workspace: \"pages\", first: 10, after: $after) {
        pageInfo { hasNextPage hasPreviousPage endCursor } edges { node { id organization stage } } } }";
    let mut ids = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = app.graphql_ok(query, json!({"after": after})).await;
        let conn = &page["contacts"];
        ids.extend(
            conn["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["id"].as_str().unwrap().to_owned()),
        );
        if conn["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(ids.len(), 25);
    ids.dedup();
    assert_eq!(ids.len(), 25);
    let too_big = app
        .graphql(
            "{ contacts(workspace: \"pages\", first: 1000) { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&too_big), "BAD_USER_INPUT");
    let forged = app
        .graphql(
            "{ contacts(workspace: \"pages\", after: \"bogus\") { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&forged), "BAD_USER_INPUT");
    let by_org = app
        .graphql_ok("{ contacts(workspace: \"pages\", organization: \"o1\", first: 100) { edges { node { organization } } } }", json!({}))
        .await;
    let edges = by_org["contacts"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 8);
    assert!(edges.iter().all(|e| e["node"]["organization"] == "o1"));
}

async fn graphql_over_http_rules_are_kept(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| s.graphql.max_body_bytes = 4096).await else {
        return;
    };
    let post = |content_type: &'static str, body: String| {
        app.client
            .post(app.url("/graphql"))
            .header("content-type", content_type)
            .body(body)
    };
    // text/plain is a "simple" cross-site request: refused.
    let response = post(
        "text/plain",
        json!({"query": "{ workspaces { slug } }"}).to_string(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 415);
    // Too large: 413 before parsing.
    let response = post("application/json", "x".repeat(10_000))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "PAYLOAD_TOO_LARGE");
    // Malformed JSON.
    let response = post("application/json", "{\"query\": ".into())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // Unparsable GraphQL: 200 for plain JSON clients, 400 for graphql-response+json.
    let body = json!({"query": "{ workspaces { slug "}).to_string();
    let plain = post("application/json", body.clone()).send().await.unwrap();
    assert_eq!(plain.status(), 200);
    assert_eq!(
        error_code(&plain.json::<Value>().await.unwrap()),
        "GRAPHQL_PARSE_FAILED"
    );
    let spec = post("application/json", body)
        .header("accept", "application/graphql-response+json")
        .send()
        .await
        .unwrap();
    assert_eq!(spec.status(), 400);
    assert_eq!(
        spec.headers()["content-type"],
        "application/graphql-response+json"
    );
    // Mutations are never run over GET.
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[(
            "query",
            "mutation { createWorkspace(slug: \"via-get\", name: \"x\") { slug } }",
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let workspaces = app.graphql_ok("{ workspaces { slug } }", json!({})).await;
    assert_eq!(workspaces["workspaces"], json!([]));
    // Queries are fine over GET.
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ workspaces { slug } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // `operationName` picks one of several operations, with its variables.
    let answer: Value = app
        .client
        .get(app.url("/graphql"))
        .query(&[
            (
                "query",
                "query A { viewer { role } } query B($s: ID!) { workspace(slug: $s) { slug } }",
            ),
            ("operationName", "B"),
            ("variables", "{\"s\": \"nope\"}"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(error_code(&answer), "NOT_FOUND", "{answer}");
    let answer: Value = app
        .client
        .get(app.url("/graphql"))
        .query(&[
            (
                "query",
                "query A { viewer { role } } query B { workspaces { slug } }",
            ),
            ("operationName", "A"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["data"],
        json!({"viewer": {"role": "ADMIN"}}),
        "{answer}"
    );
    // Too deep a query is refused with its own code.
    let deep = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType { ".repeat(10),
        "} ".repeat(10)
    );
    assert_eq!(
        error_code(&app.graphql(&deep, json!({})).await),
        "QUERY_TOO_COMPLEX"
    );
    // Bad variables are the client's fault: 400 under the GraphQL-over-HTTP media type.
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .json(&json!({"query": "query($n: Int) { contacts(workspace: \"x\", first: $n) { edges { cursor } } }", "variables": {"n": "ten"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        error_code(&response.json::<Value>().await.unwrap()),
        "BAD_USER_INPUT"
    );
    // A resolver's error is a field error: 200 even under the GraphQL-over-HTTP media type.
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .json(&json!({"query": "{ workspace(slug: \"ghost\") { slug } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        error_code(&response.json::<Value>().await.unwrap()),
        "NOT_FOUND"
    );
}

async fn graphiql_is_served_with_its_assets_built_in(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let page = app
        .client
        .get(app.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("/assets/graphiql/graphiql.min.js"));
    assert!(
        !html.contains("unpkg") && !html.contains("cdn"),
        "no CDN: works offline"
    );
    for asset in [
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
    ] {
        let response = app
            .client
            .get(app.url(&format!("/assets/graphiql/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert!(response.bytes().await.unwrap().len() > 1000);
    }
}

async fn graphiql_and_introspection_can_be_switched_off(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.graphql.graphiql = false;
        s.graphql.introspection = false;
    })
    .await
    else {
        return;
    };
    let page = app
        .client
        .get(app.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    let answer = app
        .graphql("{ __schema { types { name } } }", json!({}))
        .await;
    assert!(
        answer["data"]["__schema"].is_null() || answer.get("errors").is_some(),
        "{answer}"
    );
}

async fn day_ranges_follow_the_time_zone_across_daylight_saving(backend: Backend) {
    let Some(app) = spawn(backend, "tz").await else {
        return;
    };
    // Berlin moves to summer time on 2026-03-29: that day runs 23:00Z (28th) to 22:00Z.
    let events: Vec<Value> = [
        ("before", "2026-03-28T22:30:00Z"),
        ("first-hour", "2026-03-28T23:30:00Z"),
        ("midday", "2026-03-29T11:00:00Z"),
        ("last-hour", "2026-03-29T21:30:00Z"),
        ("next-day", "2026-03-29T22:30:00Z"),
        ("utc-late", "2026-03-29T23:30:00Z"),
    ]
    .iter()
    .map(|(id, at)| json!({"messageId": id, "kind": "CLICK", "occurredAt": at, "contactId": "c"}))
    .collect();
    app.graphql_ok(INGEST, json!({"ws": "tz", "events": events}))
        .await;
    let clicks = |filter: Value| {
        let app = &app;
        async move {
            app.graphql(KPIS, json!({"ws": "tz", "filter": filter}))
                .await
        }
    };
    let berlin = clicks(
        json!({"days": {"from": "2026-03-29", "to": "2026-03-30", "timeZone": "Europe/Berlin"}}),
    )
    .await;
    assert_eq!(berlin["data"]["kpis"]["clicks"], 3);
    let utc = clicks(json!({"days": {"from": "2026-03-29", "to": "2026-03-30"}})).await;
    assert_eq!(
        utc["data"]["kpis"]["clicks"], 4,
        "midday, last-hour, next-day, utc-late"
    );
    let bad_zone = clicks(
        json!({"days": {"from": "2026-03-29", "to": "2026-03-30", "timeZone": "Mars/Olympus"}}),
    )
    .await;
    assert_eq!(error_code(&bad_zone), "BAD_USER_INPUT");
    assert_eq!(bad_zone["errors"][0]["extensions"]["field"], "timeZone");
    let both = clicks(
        json!({"from": "2026-03-29T00:00:00Z", "days": {"from": "2026-03-29", "to": "2026-03-30"}}),
    )
    .await;
    assert_eq!(error_code(&both), "BAD_USER_INPUT");
    let empty = clicks(json!({"from": "2026-03-29T00:00:00Z", "to": "2026-03-29T00:00:00Z"})).await;
    assert_eq!(error_code(&empty), "BAD_USER_INPUT");
}

async fn wide_pages_of_deep_nodes_count_against_complexity(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| s.graphql.max_cost = 100).await else {
        return;
    };
    app.create_workspace("cx").await;
    let narrow = app
        .graphql(
            "{ events(workspace: \"cx\", first: 5) { edges { node { messageId kind } } } }",
            json!({}),
        )
        .await;
    assert!(narrow.get("errors").is_none(), "{narrow}");
    let wide = app
        .graphql(
            "{ events(workspace: \"cx\", first: 100) { edges { node { messageId kind } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&wide), "QUERY_TOO_COMPLEX");
}

/// A database failure reaches the client as INTERNAL with the request's id, the same id
/// as in the `X-Request-Id` header and the log, and never the database's own words.
async fn internal_errors_show_only_the_request_id(backend: Backend) {
    let Some(app) = spawn(backend, "broken").await else {
        return;
    };
    let store = app.db.store().await;
    sea_orm::ConnectionTrait::execute_unprepared(store.connection(), "DROP TABLE spend")
        .await
        .unwrap();
    store.close().await.unwrap();

    for accept in ["application/json", "application/graphql-response+json"] {
        let response = app
            .client
            .post(app.url("/graphql"))
            .header("accept", accept)
            .header("x-request-id", "trace-42")
            .json(&json!({"query": KPIS, "variables": {"ws": "broken"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "an execution error is still a GraphQL answer"
        );
        assert_eq!(response.headers()["x-request-id"], "trace-42");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(error_code(&answer), "INTERNAL", "{answer}");
        let error = &answer["errors"][0];
        assert_eq!(error["extensions"]["requestId"], "trace-42", "{answer}");
        let text = answer.to_string().to_lowercase();
        for leak in ["spend", "table", "relation", "sql", "database"] {
            assert!(!text.contains(leak), "{leak:?} leaked: {answer}");
        }
    }
    // The rest of the server is unaffected.
    let data = app.graphql_ok("{ workspaces { slug } }", json!({})).await;
    assert_eq!(data["workspaces"][0]["slug"], "broken");
}

async fn nps_counts_each_persons_latest_answer_per_survey(backend: Backend) {
    let Some(app) = spawn(backend, "acme").await else {
        return;
    };
    let answer = |id: &str, who: Value, survey: &str, at: &str, score: u32| {
        let mut e = json!({
            "messageId": id, "kind": "SURVEY_RESPONSE", "occurredAt": at,
            "value": score, "properties": {"survey": survey},
        });
        e.as_object_mut()
            .unwrap()
            .extend(who.as_object().unwrap().clone());
        e
    };
    let contact = |i: usize| json!({"contactId": format!("p{i}")});
    let mut events = Vec::new();
    // Survey q1: p0–p11 give 10 (p0–p9 through the spring campaign), p12–p15 give 8,
    // p16–p19 give 3.
    for i in 0..20 {
        let score = match i {
            0..=11 => 10,
            12..=15 => 8,
            _ => 3,
        };
        let mut e = answer(
            &format!("a{i}"),
            contact(i),
            "q1",
            "2026-03-01T10:00:00Z",
            score,
        );
        if i < 10 {
            e["campaignId"] = json!("spring");
        }
        events.push(e);
    }
    // p16 thinks again: now a promoter. p0 answers a second survey: a detractor there.
    events.push(answer(
        "again",
        contact(16),
        "q1",
        "2026-03-02T10:00:00Z",
        9,
    ));
    events.push(answer("q2", contact(0), "q2", "2026-03-02T10:00:00Z", 0));
    // An anonymous visitor answers twice; an earlier answer sent last still loses.
    events.push(answer(
        "v-late",
        json!({"anonymousId": "v1"}),
        "q1",
        "2026-03-05T10:00:00Z",
        7,
    ));
    events.push(answer(
        "v-early",
        json!({"anonymousId": "v1"}),
        "q1",
        "2026-03-01T10:00:00Z",
        1,
    ));
    // A contact whose id happens to be the visitor's is someone else.
    events.push(answer(
        "c-v1",
        json!({"contactId": "v1"}),
        "q1",
        "2026-03-01T10:00:00Z",
        10,
    ));
    let result = app
        .graphql_ok(INGEST, json!({"ws": "acme", "events": events}))
        .await;
    assert_eq!(result["ingestEvents"]["accepted"], 25);

    const NPS: &str = "query($ws: ID!, $filter: KpiFilterInput) {
      kpis(workspace: $ws, filter: $filter) {
        surveyResponses
        nps { score lower upper responses promoters passives detractors sufficient }
      }
    }";
    let all = &app.graphql_ok(NPS, json!({"ws": "acme"})).await["kpis"];
    assert_eq!(all["surveyResponses"], 25, "every answer is an event");
    let nps = &all["nps"];
    // 14 promoters (p0–p11, p16, contact v1), 5 passives (p12–p15, anonymous v1), 4
    // detractors (p17–p19, p0 on q2): 23 answers count. Score and adjusted-Wald interval (Rocks 2016)
    // computed apart, in Python.
    assert_eq!(
        (
            &nps["responses"],
            &nps["promoters"],
            &nps["passives"],
            &nps["detractors"]
        ),
        (&json!(23), &json!(14), &json!(5), &json!(4))
    );
    let close = |field: &str, expected: f64| {
        let got = nps[field].as_f64().unwrap();
        assert!(
            (got - expected).abs() < 1e-9,
            "{field}: {got} vs {expected}"
        );
    };
    close("score", 43.478_260_869_565_22);
    close("lower", 8.636_207_356_505_126);
    close("upper", 68.286_869_566_571_8);
    assert_eq!(
        nps["sufficient"], false,
        "23 answers < the minimum sample of 30"
    );

    // The filter applies: the spring campaign's ten promoters.
    let spring = &app
        .graphql_ok(NPS, json!({"ws": "acme", "filter": {"campaign": "spring"}}))
        .await["kpis"]["nps"];
    assert_eq!(spring["score"], 100.0);
    assert_eq!(spring["responses"], 10);
    let lower = spring["lower"].as_f64().unwrap();
    assert!((lower - 47.503_551_544_790_2).abs() < 1e-9, "{lower}");
    assert_eq!(spring["upper"], 100.0);

    // No answers: no score, no interval, never sufficient.
    let none = &app
        .graphql_ok(
            NPS,
            json!({"ws": "acme", "filter": {"from": "2027-01-01T00:00:00Z"}}),
        )
        .await["kpis"]["nps"];
    assert_eq!(
        none,
        &json!({"score": null, "lower": null, "upper": null, "responses": 0,
                "promoters": 0, "passives": 0, "detractors": 0, "sufficient": false})
    );
}

async fn a_days_spend_is_that_calendar_days_in_every_time_zone(backend: Backend) {
    let Some(app) = spawn(backend, "money").await else {
        return;
    };
    app.graphql_ok(
        "mutation {
          c: createCampaign(workspace: \"money\", input: {id: \"q3\", name: \"Q3\", goal: FIND}) { id }
          a: recordSpend(workspace: \"money\", campaign: \"q3\", channel: \"display\", day: \"2026-08-09\", amount: 7.25) { amount }
          b: recordSpend(workspace: \"money\", campaign: \"q3\", channel: \"display\", day: \"2026-08-10\", amount: 138.49) { amount }
          d: recordSpend(workspace: \"money\", campaign: \"q3\", channel: \"display\", day: \"2026-08-11\", amount: 89.39) { amount }
        }",
        json!({}),
    )
    .await;
    let spend = |filter: Value| {
        let app = &app;
        async move {
            app.graphql_ok(
                "query($f: KpiFilterInput) { kpis(workspace: \"money\", filter: $f) { spend } }",
                json!({"f": filter}),
            )
            .await["kpis"]["spend"]
                .as_f64()
                .unwrap()
        }
    };
    // The 10th of August is the 10th's spend wherever it is asked from: west of UTC,
    // east of it, across the date line, and in UTC.
    for zone in [
        "America/New_York",
        "Asia/Kolkata",
        "Pacific/Auckland",
        "UTC",
    ] {
        let days = json!({"days": {"from": "2026-08-10", "to": "2026-08-11", "timeZone": zone}});
        assert_eq!(spend(days).await, 138.49, "{zone}");
        let both = json!({"days": {"from": "2026-08-10", "to": "2026-08-12", "timeZone": zone}});
        assert!(
            (spend(both).await - (138.49 + 89.39)).abs() < 1e-9,
            "{zone}"
        );
    }
    // Instants select the days whose UTC midnight they contain: New York's 10th,
    // given as instants, holds the start of the 11th (UTC).
    let utc_day = json!({"from": "2026-08-10T00:00:00Z", "to": "2026-08-11T00:00:00Z"});
    assert_eq!(spend(utc_day).await, 138.49);
    let new_york_instants = json!({"from": "2026-08-10T04:00:00Z", "to": "2026-08-11T04:00:00Z"});
    assert_eq!(spend(new_york_instants).await, 89.39);
}

async fn stages_count_who_got_how_far_and_convert_as_proportions(backend: Backend) {
    let Some(app) = spawn(backend, "life").await else {
        return;
    };
    let moved = |id: &str, who: &str, to: &str, minute: u32, campaign: Option<&str>| {
        json!({"messageId": id, "kind": "STAGE_CHANGE", "contactId": who,
               "occurredAt": format!("2026-05-01T10:{minute:02}:00Z"),
               "campaignId": campaign, "properties": {"to": to}})
    };
    let events = vec![
        moved("m1", "c1", "LEAD", 1, None),
        moved("m2", "c2", "LEAD", 2, None),
        moved("m3", "c2", "MQL", 3, None),
        moved("m4", "c2", "LEAD", 4, None), // moved back: c2 still reached MQL
        moved("m5", "c3", "MQL", 5, Some("spring")), // skipped LEAD: passed it
        moved("m6", "c4", "CUSTOMER", 6, Some("spring")),
        moved("m7", "c5", "OQL", 7, None), // a stage the workspace does not list
    ];
    let result = app
        .graphql_ok(INGEST, json!({"ws": "life", "events": events}))
        .await;
    assert_eq!(result["ingestEvents"]["accepted"], 7);
    const STAGES: &str = "query($ws: ID!, $filter: KpiFilterInput) {
      kpis(workspace: $ws, filter: $filter) { stages { stage reached conversion { numerator n } } }
    }";
    let stages = |filter: Value| {
        let app = &app;
        async move {
            let k = app
                .graphql_ok(STAGES, json!({"ws": "life", "filter": filter}))
                .await;
            k["kpis"]["stages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    let conversion = &s["conversion"];
                    (
                        s["stage"].as_str().unwrap().to_owned(),
                        s["reached"].as_u64().unwrap(),
                        conversion["numerator"]
                            .as_u64()
                            .zip(conversion["n"].as_u64()),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let row = |stage: &str, reached: u64, conversion: Option<(u64, u64)>| {
        (stage.to_owned(), reached, conversion)
    };
    // Furthest stages: c1 LEAD, c2 MQL, c3 MQL, c4 CUSTOMER; c5 is left out.
    assert_eq!(
        stages(json!({})).await,
        vec![
            row("VISITOR", 4, None),
            row("LEAD", 4, Some((4, 4))),
            row("MQL", 3, Some((3, 4))),
            row("SQL", 1, Some((1, 3))),
            row("OPPORTUNITY", 1, Some((1, 1))),
            row("CUSTOMER", 1, Some((1, 1))),
        ]
    );
    assert_eq!(
        stages(json!({"campaign": "spring"})).await,
        vec![
            row("VISITOR", 2, None),
            row("LEAD", 2, Some((2, 2))),
            row("MQL", 2, Some((2, 2))),
            row("SQL", 1, Some((1, 2))),
            row("OPPORTUNITY", 1, Some((1, 1))),
            row("CUSTOMER", 1, Some((1, 1))),
        ]
    );
}

on_both_backends!(
    stages_count_who_got_how_far_and_convert_as_proportions,
    a_days_spend_is_that_calendar_days_in_every_time_zone,
    nps_counts_each_persons_latest_answer_per_survey,
    internal_errors_show_only_the_request_id,
    day_ranges_follow_the_time_zone_across_daylight_saving,
    wide_pages_of_deep_nodes_count_against_complexity,
    health_answers_ok,
    ingested_events_become_exact_kpis,
    a_rate_without_a_sample_is_null_not_an_error,
    resent_and_overlapping_batches_are_stored_once,
    bad_events_are_rejected_one_by_one_and_the_rest_stored,
    too_many_events_are_refused_whole,
    an_unknown_workspace_is_not_found,
    catalog_mutations_validate_and_report_conflicts,
    connections_page_with_opaque_cursors_and_bounded_sizes,
    graphql_over_http_rules_are_kept,
    graphiql_is_served_with_its_assets_built_in,
    graphiql_and_introspection_can_be_switched_off,
);
