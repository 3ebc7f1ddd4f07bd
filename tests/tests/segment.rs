//! Segment-compatible ingestion over real HTTP on both backends, with the bodies
//! Segment's libraries send (`tests/fixtures/segment`), sent the way each sends
//! them: the visitor of a browser becomes Ada of Acme, and from then on she is one
//! person in every count, her anonymous page view and click included.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use base64::Engine as _;
use hourglass_tests::{Backend, TestApp, error_code, on_both_backends};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

const KPIS: &str = "query($f: KpiFilterInput) {
  kpis(workspace: \"seg\", filter: $f) {
    pageViews clicks registrations attendances uniqueVisitors landingPageViewers registrants attendees
    registrationRate { value n }
  }
}";

fn fixture(name: &str, key: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/segment")
        .join(name);
    std::fs::read_to_string(path)
        .unwrap()
        .replace("WRITE_KEY", key)
}

fn basic(key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    )
}

/// Posts as analytics.js does: text/plain, the key only in the body.
async fn from_browser(app: &TestApp, path: &str, body: String) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url(path))
        .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Posts as the server-side libraries do: JSON, the key as HTTP Basic user name.
async fn from_server(app: &TestApp, path: &str, key: &str, body: String) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url(path))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, basic(key))
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn spawn(backend: Backend) -> Option<(TestApp, String)> {
    let app = TestApp::spawn(backend).await?;
    app.create_workspace("seg").await;
    app.graphql_ok(
        "mutation {
          a: createAsset(workspace: \"seg\", input: {id: \"lp-abm\", kind: LANDING_PAGE}) { id }
          b: createAsset(workspace: \"seg\", input: {id: \"webinar-abm\", kind: WEBINAR, durationSeconds: 3600, landingPage: \"lp-abm\"}) { id }
        }",
        json!({}),
    )
    .await;
    // A write key as a site would embed it: INGEST only, one workspace.
    let key = app.issue_key(Some("seg"), "INGEST").await;
    Some((app, key))
}

async fn a_visitor_from_a_browser_becomes_one_contact_everywhere(backend: Backend) {
    let Some((app, key)) = spawn(backend).await else {
        return;
    };
    // The browser: a page view and a click, anonymous.
    for (path, file) in [
        ("/v1/p", "analytics-js-page.json"),
        ("/v1/t", "analytics-js-track.json"),
    ] {
        let (status, body) = answer(from_browser(&app, path, fixture(file, &key)).await).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["success"], true);
        assert_eq!(
            (body["accepted"].as_u64(), body["rejected"].clone()),
            (Some(1), json!([]))
        );
    }
    let anonymous = app.graphql_ok(KPIS, json!({})).await["kpis"].clone();
    assert_eq!(anonymous["uniqueVisitors"], 1);
    assert_eq!(anonymous["landingPageViewers"], 1);

    // She identifies in the browser…
    let (status, body) =
        answer(from_browser(&app, "/v1/i", fixture("analytics-js-identify.json", &key)).await)
            .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["identified"].as_u64(), body["stitched"].as_u64()),
        (Some(1), Some(2))
    );

    // …and the back ends report the rest.
    let node = fixture("analytics-node-batch.json", &key);
    let (status, body) = answer(from_server(&app, "/v1/batch", &key, node.clone()).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["accepted"].as_u64(),
            body["identified"].as_u64(),
            body["rejected"].clone()
        ),
        (Some(3), Some(1), json!([]))
    );
    let python = fixture("analytics-python-batch.json", &key);
    let (status, body) = answer(from_server(&app, "/v1/batch", &key, python).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["accepted"].as_u64(), body["identified"].as_u64()),
        (Some(2), Some(1))
    );
    // A library's retry stores nothing twice.
    let (_, again) = answer(from_server(&app, "/v1/batch", &key, node).await).await;
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(3))
    );

    // Counted by hand from the fixtures: one person, who viewed the landing page,
    // clicked, registered for the webinar and attended it.
    let kpis = app.graphql_ok(KPIS, json!({})).await["kpis"].clone();
    assert_eq!(
        kpis,
        json!({
            "pageViews": 1, "clicks": 1, "registrations": 1, "attendances": 1,
            "uniqueVisitors": 1, "landingPageViewers": 1, "registrants": 1, "attendees": 1,
            "registrationRate": {"value": 1.0, "n": 1}
        })
    );
    // The campaign and channel came from the page's UTM parameters.
    let email = app
        .graphql_ok(
            KPIS,
            json!({"f": {"campaign": "q4-abm", "channel": "email"}}),
        )
        .await;
    assert_eq!(email["kpis"]["pageViews"], 1);

    // Her anonymous events are hers now, and she is Acme's, with her traits.
    let contact = app
        .graphql_ok(
            "{ contact(workspace: \"seg\", id: \"u-ada\") { email name title organization }
               organization(workspace: \"seg\", id: \"acme\") { name } }",
            json!({}),
        )
        .await;
    assert_eq!(
        contact,
        json!({"contact": {"email": "ada.lovelace@acme.example", "name": "Ada Lovelace",
                           "title": "Head of Marketing", "organization": "acme"},
               "organization": {"name": "Acme Analytics"}})
    );
    let events = app
        .graphql_ok(
            "{ events(workspace: \"seg\", first: 20) { nodes { kind contact organization properties } } }",
            json!({}),
        )
        .await;
    let nodes = events["events"]["nodes"].as_array().unwrap().clone();
    assert_eq!(nodes.len(), 7, "{nodes:?}");
    assert!(nodes.iter().all(|n| n["contact"] == "u-ada"), "{nodes:?}");
    let browsed: Vec<&Value> = nodes
        .iter()
        .filter(|n| n["kind"] == "PAGE_VIEW" || n["kind"] == "CLICK")
        .collect();
    assert!(
        browsed.iter().all(|n| n["organization"] == "acme"),
        "{browsed:?}"
    );
    // The name nobody mapped is kept, as CUSTOM, with its name.
    let custom: Vec<&Value> = nodes.iter().filter(|n| n["kind"] == "CUSTOM").collect();
    assert_eq!(custom.len(), 1);
    assert_eq!(custom[0]["properties"]["event"], "Pricing Calculator Used");
    assert_eq!(custom[0]["properties"]["seats"], 25);

    // A write key may be public: what it says fills in, it never moves or renames.
    let (status, _) = answer(
        from_server(
            &app,
            "/v1/batch",
            &key,
            json!({"batch": [
                {"type": "group", "userId": "u-ada", "groupId": "rival", "traits": {"name": "Rival"}},
                {"type": "group", "userId": "u-new", "groupId": "acme", "traits": {"name": "Renamed"}}
            ]})
            .to_string(),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    let kept = app
        .graphql_ok(
            "{ a: contact(workspace: \"seg\", id: \"u-ada\") { organization }
               n: contact(workspace: \"seg\", id: \"u-new\") { organization }
               o: organization(workspace: \"seg\", id: \"acme\") { name } }",
            json!({}),
        )
        .await;
    assert_eq!(
        kept,
        json!({"a": {"organization": "acme"}, "n": {"organization": "acme"}, "o": {"name": "Acme Analytics"}})
    );

    // Acme's depth: one engaged contact who attended, over both assets.
    let depth = app
        .graphql_ok(
            "{ organizations(workspace: \"seg\", orderBy: DEPTH) { edges { node { id depth { engagedContacts attendees breadth } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        depth["organizations"]["edges"][0]["node"],
        json!({"id": "acme", "depth": {"engagedContacts": 1, "attendees": 1, "breadth": 2}})
    );
}

async fn a_workspace_names_its_own_track_calls(backend: Backend) {
    let Some((app, key)) = spawn(backend).await else {
        return;
    };
    let mapped = app
        .graphql_ok(
            "mutation { mapTrackName(workspace: \"seg\", name: \"Pricing Calculator Used\", kind: INFO_REQUEST) { name kind builtIn } }",
            json!({}),
        )
        .await;
    assert_eq!(
        mapped["mapTrackName"],
        json!({"name": "Pricing Calculator Used", "kind": "INFO_REQUEST", "builtIn": false})
    );
    let track = |id: &str, event: &str| {
        json!({"type": "track", "event": event, "userId": "u-1", "messageId": id,
               "timestamp": "2026-11-20T10:00:00Z"})
        .to_string()
    };
    // Another spelling of the same name.
    from_server(
        &app,
        "/v1/track",
        &key,
        track("m-1", "pricing_calculator_used"),
    )
    .await;
    let names = app
        .graphql_ok(
            "{ trackNames(workspace: \"seg\") { name kind builtIn } }",
            json!({}),
        )
        .await;
    assert_eq!(names["trackNames"][0]["kind"], "INFO_REQUEST");
    assert!(
        names["trackNames"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["name"] == "Webinar Attended" && n["builtIn"] == true)
    );
    let unmapped = app
        .graphql_ok(
            "mutation { unmapTrackName(workspace: \"seg\", name: \"PRICING CALCULATOR USED\") }",
            json!({}),
        )
        .await;
    assert_eq!(unmapped["unmapTrackName"], true);
    from_server(
        &app,
        "/v1/track",
        &key,
        track("m-2", "Pricing Calculator Used"),
    )
    .await;
    let kinds = app
        .graphql_ok(
            "{ events(workspace: \"seg\", first: 5) { nodes { kind } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        kinds["events"]["nodes"],
        json!([{"kind": "CUSTOM"}, {"kind": "INFO_REQUEST"}])
    );
    // Only an ADMIN key maps names.
    let refused = app
        .graphql_as(
            &key,
            "mutation { mapTrackName(workspace: \"seg\", name: \"x\", kind: CLICK) { name } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
}

/// What the libraries read from a refusal: 400 is not retried, 413 not as is, 429
/// and 5xx are retried (after Retry-After). Each message of a batch is answered in
/// its place; a bad one does not lose the good ones.
async fn refusals_are_what_segment_libraries_expect(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.ingest.max_batch_events = 3;
        s.ingest.max_body_bytes = 4096;
        s.ingest.max_event_bytes = 1024;
    })
    .await
    else {
        return;
    };
    app.create_workspace("seg").await;
    let key = app.issue_key(Some("seg"), "INGEST").await;
    let agency_key = app.issue_key(None, "INGEST").await;
    let track = |id: &str| {
        json!({"type": "track", "event": "Clicked", "anonymousId": "v", "messageId": id,
               "timestamp": "2026-11-20T10:00:00Z"})
    };

    let (status, body) =
        answer(from_server(&app, "/v1/batch", &key, "{not json".into()).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap_or_default()),
        (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
        "{body}"
    );
    let (status, _) = answer(
        from_server(
            &app,
            "/v1/batch",
            "hg_nope_nope",
            json!({"batch": []}).to_string(),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = answer(
        from_server(
            &app,
            "/v1/batch",
            &key,
            json!({"batch": [track("1"), track("2"), track("3"), track("4")]}).to_string(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap_or_default()),
        (StatusCode::PAYLOAD_TOO_LARGE, "BATCH_TOO_LARGE")
    );
    let (status, _) = answer(
        from_server(
            &app,
            "/v1/track",
            &key,
            format!("{{\"pad\": \"{}\"}}", "x".repeat(5000)),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // One good message, one too large, one of no known type, one not an object.
    let mut large = track("big");
    large["properties"] = json!({"pad": "x".repeat(1500)});
    let (status, body) = answer(
        from_server(
            &app,
            "/v1/batch",
            &key,
            json!({"batch": [track("ok"), large, {"type": "teleport"}]}).to_string(),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 1);
    let codes: Vec<(u64, &str)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["code"].as_str().unwrap()))
        .collect();
    assert_eq!(codes, vec![(1, "EVENT_TOO_LARGE"), (2, "UNKNOWN_KIND")]);

    // An agency-wide key names the workspace in the query; without it, 400.
    let (status, _) =
        answer(from_server(&app, "/v1/track", &agency_key, track("a").to_string()).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = answer(
        from_server(
            &app,
            "/v1/track?workspace=seg",
            &agency_key,
            track("a").to_string(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    // Bearer works as well as Basic.
    let bearer = reqwest::Client::new()
        .post(app.url("/v1/track"))
        .bearer_auth(&key)
        .json(&track("b"))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);

    // A browser's preflight from the tracked site is answered.
    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, app.url("/v1/t"))
        .header(header::ORIGIN, "https://www.example.com")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        preflight.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://www.example.com"
    );
}

async fn a_busy_key_is_told_when_to_retry(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.rate_limit.requests_per_second = 1;
        // Two for the set-up's admin key; the write key has its own cell.
        s.rate_limit.burst = 2;
    })
    .await
    else {
        return;
    };
    app.create_workspace("seg").await;
    let key = app.issue_key(Some("seg"), "INGEST").await;
    let body = json!({"batch": []}).to_string();
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..3 {
        let response = from_server(&app, "/v1/batch", &key, body.clone()).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = response.headers().get(header::RETRY_AFTER).cloned();
        }
        statuses.push(response.status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(retry_after.is_some());
}

on_both_backends!(
    a_visitor_from_a_browser_becomes_one_contact_everywhere,
    a_workspace_names_its_own_track_calls,
    refusals_are_what_segment_libraries_expect,
    a_busy_key_is_told_when_to_retry,
);
