//! Tracker links over real HTTP on both backends: made over GraphQL, followed at
//! `/l/{code}` the way a browser (and a link-preview robot) follows them.

#![allow(clippy::unwrap_used)]

use hourglass_tests::{Backend, TestApp, error_code, on_both_backends};
use reqwest::header;
use serde_json::{Value, json};

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
const SLACK: &str = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)";

const CREATE: &str = "mutation($w: ID!, $input: TrackerLinkInput!) {
  createTrackerLink(workspace: $w, input: $input) { code url destination redirectsTo campaign asset channel contact clicks archived }
}";

const LINK: &str = "query($w: ID!, $code: String!) { trackerLink(workspace: $w, code: $code) { clicks archived } }";

/// A client that follows no redirect: the test reads the 302 itself.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn follow(
    url: &str,
    user_agent: &str,
    cookie: Option<&str>,
    method: reqwest::Method,
) -> reqwest::Response {
    let mut request = browser()
        .request(method, url)
        .header(header::USER_AGENT, user_agent);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.send().await.unwrap()
}

async fn clicks_of(app: &TestApp, code: &str) -> Value {
    app.graphql_ok(LINK, json!({"w": "tl", "code": code})).await["trackerLink"].clone()
}

async fn click_events(app: &TestApp) -> Vec<Value> {
    let data = app
        .graphql_ok(
            "{ events(workspace: \"tl\", kind: CLICK, first: 100) { nodes { contact anonymousId campaign asset channel properties } } }",
            json!({}),
        )
        .await;
    data["events"]["nodes"].as_array().unwrap().clone()
}

/// A click is recorded and counted before the redirect is answered, with the
/// link's campaign, asset and channel and the visitor's cookie id; the redirect
/// goes to the fixed destination with the UTM parameters whatever the request
/// adds; robots and HEAD requests are redirected uncounted; an archived or unknown
/// code is a plain 404.
async fn a_tracker_link_records_clicks_and_redirects_with_utm(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.create_workspace("tl").await;
    let made = app
        .graphql_ok(
            CREATE,
            json!({"w": "tl", "input": {
                "campaign": "q3", "asset": "lp", "channel": "Email",
                "destination": "https://example.com/webinar?ref=x&utm_source=old",
                "utm": {"source": "newsletter", "medium": "email", "campaign": "q3 webinar"},
            }}),
        )
        .await["createTrackerLink"]
        .clone();
    let code = made["code"].as_str().unwrap().to_owned();
    let url = made["url"].as_str().unwrap().to_owned();
    assert_eq!(url, app.url(&format!("/l/{code}")));
    let expected = "https://example.com/webinar?ref=x&utm_source=newsletter&utm_medium=email&utm_campaign=q3+webinar";
    assert_eq!(made["redirectsTo"], expected);
    assert_eq!(made["channel"], "email");
    assert_eq!(made["clicks"], 0);

    // A person's first click: redirected, given a visitor cookie, counted.
    let first = follow(&url, BROWSER, None, reqwest::Method::GET).await;
    assert_eq!(first.status(), 302);
    assert_eq!(first.headers()[header::LOCATION], expected);
    let set_cookie = first.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let visitor = cookie.strip_prefix("hg_visitor=").unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    // In the KPIs as soon as the redirect is answered.
    let kpis = app
        .graphql_ok(
            "{ kpis(workspace: \"tl\", filter: {campaign: \"q3\", channel: \"email\", asset: \"lp\"}) { clicks } }",
            json!({}),
        )
        .await;
    assert_eq!(kpis["kpis"]["clicks"], 1);

    // The same browser again, with a query string that tries to redirect elsewhere.
    let again = follow(
        &format!("{url}?next=https://evil.example/&url=https://evil.example/"),
        BROWSER,
        Some(&cookie),
        reqwest::Method::GET,
    )
    .await;
    assert_eq!(again.status(), 302);
    assert_eq!(again.headers()[header::LOCATION], expected);
    assert!(again.headers().get(header::SET_COOKIE).is_none());

    // Redirected, not counted: a link preview, a HEAD request.
    let robot = follow(&url, SLACK, None, reqwest::Method::GET).await;
    assert_eq!(robot.status(), 302);
    assert_eq!(robot.headers()[header::LOCATION], expected);
    let head = follow(&url, BROWSER, Some(&cookie), reqwest::Method::HEAD).await;
    assert_eq!(head.status(), 302);
    assert_eq!(clicks_of(&app, &code).await["clicks"], 2);

    // Both clicks as events: the link's dimensions, one visitor, the link's code.
    let events = click_events(&app).await;
    assert_eq!(events.len(), 2, "{events:?}");
    for event in &events {
        assert_eq!(event["anonymousId"], visitor.as_str());
        assert_eq!(event["contact"], Value::Null);
        assert_eq!(event["campaign"], "q3");
        assert_eq!(event["asset"], "lp");
        assert_eq!(event["channel"], "email");
        assert_eq!(event["properties"]["link"], code.as_str());
    }

    // Unknown codes and paths are plain 404 pages.
    for path in ["/l/zzzzzzzzzz", "/l/short", "/l/..%2F..%2Fetc"] {
        let missing = follow(&app.url(path), BROWSER, None, reqwest::Method::GET).await;
        assert_eq!(missing.status(), 404, "{path}");
        assert!(missing.headers().get(header::LOCATION).is_none());
        assert!(
            missing.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }

    // Archived: 404, nothing more recorded, listed only when asked for.
    let archived = app
        .graphql_ok(
            "mutation($code: String!) { archiveTrackerLink(workspace: \"tl\", code: $code) { archived clicks } }",
            json!({"code": code}),
        )
        .await;
    assert_eq!(
        archived["archiveTrackerLink"],
        json!({"archived": true, "clicks": 2})
    );
    let gone = follow(&url, BROWSER, Some(&cookie), reqwest::Method::GET).await;
    assert_eq!(gone.status(), 404);
    assert_eq!(click_events(&app).await.len(), 2);
    let listed = |archived: bool| {
        let app = &app;
        async move {
            app.graphql_ok(
                "query($a: Boolean!) { trackerLinks(workspace: \"tl\", includeArchived: $a) { nodes { code } } }",
                json!({"a": archived}),
            )
            .await["trackerLinks"]["nodes"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!((listed(false).await, listed(true).await), (0, 1));
}

/// A link made for one contact records their clicks as theirs.
async fn a_personalised_link_counts_its_contact(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.create_workspace("tl").await;
    let made = app
        .graphql_ok(
            CREATE,
            json!({"w": "tl", "input": {"contact": "ann", "campaign": "q3", "destination": "https://example.com/"}}),
        )
        .await["createTrackerLink"]
        .clone();
    assert_eq!(made["redirectsTo"], "https://example.com/");
    let clicked = follow(
        made["url"].as_str().unwrap(),
        BROWSER,
        None,
        reqwest::Method::GET,
    )
    .await;
    assert_eq!(clicked.status(), 302);
    let events = click_events(&app).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["contact"], "ann");
}

/// Destinations are absolute http(s) URLs fixed at creation; only ADMIN keys make
/// links; every reader can list them.
async fn links_are_checked_when_made(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.create_workspace("tl").await;
    for destination in [
        "javascript:alert(1)",
        "//evil.example/",
        "/relative",
        "https://user:pw@example.com/",
    ] {
        let refused = app
            .graphql(
                CREATE,
                json!({"w": "tl", "input": {"destination": destination}}),
            )
            .await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{destination}");
        assert_eq!(
            refused["errors"][0]["extensions"]["field"], "destination",
            "{refused}"
        );
    }
    let reader = app.issue_key(Some("tl"), "READ").await;
    let refused = app
        .graphql_as(
            &reader,
            CREATE,
            json!({"w": "tl", "input": {"destination": "https://example.com/"}}),
        )
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
}

/// `GET /l/…` has no key, so each address has its own limit.
async fn clicks_are_rate_limited_per_address(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| s.rate_limit.link_clicks_per_minute = 2).await
    else {
        return;
    };
    app.create_workspace("tl").await;
    let made = app
        .graphql_ok(
            CREATE,
            json!({"w": "tl", "input": {"destination": "https://example.com/"}}),
        )
        .await;
    let url = made["createTrackerLink"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        let ok = follow(&url, BROWSER, None, reqwest::Method::GET).await;
        assert_eq!(ok.status(), 302);
    }
    let refused = follow(&url, BROWSER, None, reqwest::Method::GET).await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_eq!(click_events(&app).await.len(), 2);
}

on_both_backends!(
    a_tracker_link_records_clicks_and_redirects_with_utm,
    a_personalised_link_counts_its_contact,
    links_are_checked_when_made,
    clicks_are_rate_limited_per_address,
);
