//! The limits that protect every tenant from the others, over real HTTP on both
//! backends: per-key rate limits, the GraphQL request timeout, aliases, depth,
//! complexity, page sizes and batches, body sizes (with and without Content-Length,
//! with and without a key), request ids and the rest of the protocol.
//!
//! What `api.rs` already proves (415 for text/plain, a Content-Length body over the
//! limit, a too-deep introspection query, a wide page against a lowered complexity
//! limit, `first: 1000`) is not repeated here; these tests are about the limits
//! themselves, their boundaries, and how they combine with authentication.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use hourglass_tests::{Backend, TestApp, TestDatabase, client_with_key, on_both_backends};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// An HTTP answer: status, headers and the body as JSON (`Null` when it is not JSON).
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
    text: String,
}

impl Answer {
    async fn of(request: reqwest::RequestBuilder) -> Self {
        // Generous, but a hung request fails the test instead of hanging it.
        let response = tokio::time::timeout(Duration::from_secs(60), request.send())
            .await
            .expect("no answer within 60 s")
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            body,
            text,
        }
    }

    /// The error code: `errors[0].extensions.code` (GraphQL) or `error.code` (NDJSON).
    fn code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"]
            .as_str()
            .or_else(|| self.body["error"]["code"].as_str())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }

    fn request_id(&self) -> &str {
        self.header("x-request-id")
            .unwrap_or_else(|| panic!("no X-Request-Id on {self:#?}"))
    }

    /// `Retry-After` as whole seconds; anything else fails the test.
    fn retry_after(&self) -> u64 {
        let value = self
            .header("retry-after")
            .unwrap_or_else(|| panic!("no Retry-After on {self:#?}"));
        assert!(
            !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()),
            "Retry-After is whole seconds, not {value:?}"
        );
        value.parse().unwrap()
    }
}

/// A client without any Authorization header.
fn anonymous() -> reqwest::Client {
    reqwest::Client::new()
}

fn post_graphql(client: &reqwest::Client, app: &TestApp, body: &Value) -> reqwest::RequestBuilder {
    client.post(app.url("/graphql")).json(body)
}

fn get_graphql(client: &reqwest::Client, app: &TestApp, query: &str) -> reqwest::RequestBuilder {
    client.get(app.url("/graphql")).query(&[("query", query)])
}

fn post_ndjson(
    client: &reqwest::Client,
    app: &TestApp,
    workspace: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::RequestBuilder {
    client
        .post(app.url(&format!("/v1/events?workspace={workspace}")))
        .header("content-type", "application/x-ndjson")
        .body(body)
}

fn click(message_id: &str, contact: &str) -> Value {
    json!({
        "messageId": message_id,
        "kind": "CLICK",
        "occurredAt": "2026-02-03T10:00:00Z",
        "contactId": contact,
    })
}

fn ndjson(events: &[Value]) -> String {
    events.iter().map(|e| format!("{e}\n")).collect()
}

/// Clicks stored in a workspace, read with `key`.
async fn clicks(app: &TestApp, key: &str, workspace: &str) -> u64 {
    let answer = Answer::of(post_graphql(
        &client_with_key(key),
        app,
        &json!({"query": "query($ws: ID!) { kpis(workspace: $ws) { clicks } }", "variables": {"ws": workspace}}),
    ))
    .await;
    assert_eq!(answer.status, 200, "{answer:#?}");
    answer.body["data"]["kpis"]["clicks"]
        .as_u64()
        .unwrap_or_else(|| panic!("no clicks in {answer:#?}"))
}

/// `{ aN: workspaces { slug } … }` with `n` aliases, numbered from `from`.
fn aliased_workspaces(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("a{i}: workspaces {{ slug }}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Builds one request afresh, so that it can be sent again with other headers.
type Build<'a> = Box<dyn Fn() -> reqwest::RequestBuilder + 'a>;

fn is_fresh_request_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

// ---------------------------------------------------------------------------------
// A hand-written HTTP/1.1 client for what reqwest (built without its `stream`
// feature) cannot send: a chunked body with no Content-Length.

/// An answer read off the socket.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {:?} {:?}",
                self.headers,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn code(&self) -> Option<String> {
        let body = self.json();
        body["errors"][0]["extensions"]["code"]
            .as_str()
            .or_else(|| body["error"]["code"].as_str())
            .map(str::to_owned)
    }
}

/// POSTs `chunks` with `Transfer-Encoding: chunked` and no Content-Length, as a
/// streaming client does.
async fn post_chunked(
    address: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    chunks: &[&[u8]],
) -> Raw {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    for chunk in chunks {
        request.extend(format!("{:x}\r\n", chunk.len()).bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    tokio::task::spawn_blocking(move || exchange(address, &request))
        .await
        .unwrap()
}

fn exchange(address: SocketAddr, request: &[u8]) -> Raw {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // A server that answers before reading everything (413, 401) may close while we
    // still write: that is fine as long as its answer arrives.
    let _ = stream.write_all(request);
    let mut received = Vec::new();
    let mut buffer = [0_u8; 8192];
    loop {
        if let Some(raw) = parse_answer(&received, false) {
            return raw;
        }
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                break;
            }
            Err(e) => panic!("reading the answer: {e}"),
        }
    }
    parse_answer(&received, true).unwrap_or_else(|| {
        panic!(
            "no complete HTTP answer: {:?}",
            String::from_utf8_lossy(&received)
        )
    })
}

/// The answer in `bytes` once it is complete (`at_end`: nothing more will come).
fn parse_answer(bytes: &[u8], at_end: bool) -> Option<Raw> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let rest = &bytes[end + 4..];
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let body = if let Some(length) = find("content-length") {
        let length: usize = length.parse().ok()?;
        (rest.len() >= length).then(|| rest[..length].to_vec())?
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            let line_end = at + rest[at..].windows(2).position(|w| w == b"\r\n")?;
            let size_text = std::str::from_utf8(&rest[at..line_end]).ok()?;
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            at = line_end + 2;
            if size == 0 {
                break;
            }
            if rest.len() < at + size + 2 {
                return None;
            }
            body.extend_from_slice(&rest[at..at + size]);
            at += size + 2;
        }
        body
    } else if at_end {
        rest.to_vec()
    } else {
        return None;
    };
    Some(Raw {
        status,
        headers,
        body,
    })
}

// ---------------------------------------------------------------------------------
// 1. Per-key rate limits.

/// One key's requests, GraphQL (POST and GET) and NDJSON together, are limited to a
/// burst and then a sustained rate; over it each endpoint answers 429 RATE_LIMITED
/// with a whole-second Retry-After, another key is unaffected meanwhile, nothing of a
/// refused request happens, and after Retry-After the key works again.
async fn rate_limits_are_per_key_across_endpoints_and_lift_after_retry_after(backend: Backend) {
    // 1 request/s sustained, bursts of 5: five quick requests pass, the sixth cannot
    // (the next cell is ≤ 1 s away, so Retry-After is exactly 1).
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.rate_limit.requests_per_second = 1;
        s.rate_limit.burst = 5;
    })
    .await
    else {
        return;
    };
    // Three of the ADMIN key's five: the test's own keys have fresh buckets.
    app.create_workspace("rl").await;
    let a_key = app.issue_key(Some("rl"), "ADMIN").await;
    let b_key = app.issue_key(Some("rl"), "ADMIN").await;
    let a = client_with_key(&a_key);
    let b = client_with_key(&b_key);
    let viewer = json!({"query": "{ viewer { role } }"});

    let started = Instant::now();
    let burst = [
        Answer::of(post_graphql(&a, &app, &viewer)).await,
        Answer::of(post_ndjson(&a, &app, "rl", ndjson(&[click("a-1", "c1")]))).await,
        Answer::of(get_graphql(&a, &app, "{ viewer { role } }")).await,
        Answer::of(post_ndjson(&a, &app, "rl", ndjson(&[click("a-2", "c2")]))).await,
        Answer::of(post_graphql(&a, &app, &viewer)).await,
    ];
    let burst_took = started.elapsed();
    for (i, answer) in burst.iter().enumerate() {
        assert_eq!(
            answer.status,
            200,
            "request {} of the burst: {answer:#?}",
            i + 1
        );
        assert!(answer.header("retry-after").is_none(), "{answer:#?}");
    }
    assert!(
        burst_took < Duration::from_millis(900),
        "the burst must be quick for this test to mean anything: {burst_took:?}"
    );

    // The sixth and later: refused on every endpoint, in every media type.
    let sixth = Answer::of(post_graphql(&a, &app, &viewer)).await;
    assert_eq!(sixth.status, 429, "{sixth:#?}");
    assert_eq!(sixth.code(), Some("RATE_LIMITED"), "{sixth:#?}");
    assert_eq!(sixth.content_type(), Some("application/json"));
    assert!(
        sixth.body.get("data").is_none_or(Value::is_null),
        "{sixth:#?}"
    );
    let retry_after = sixth.retry_after();
    assert!(retry_after >= 1, "{sixth:#?}");
    assert_eq!(
        retry_after, 1,
        "at 1 request/s the next cell is at most 1 s away: {sixth:#?}"
    );
    let spec = Answer::of(post_graphql(&a, &app, &viewer).header("accept", GRAPHQL_RESPONSE)).await;
    assert_eq!(spec.status, 429, "{spec:#?}");
    assert_eq!(spec.code(), Some("RATE_LIMITED"));
    assert_eq!(spec.content_type(), Some(GRAPHQL_RESPONSE));
    assert!(spec.retry_after() >= 1);
    let by_get = Answer::of(get_graphql(&a, &app, "{ viewer { role } }")).await;
    assert_eq!(by_get.status, 429, "{by_get:#?}");
    assert_eq!(by_get.code(), Some("RATE_LIMITED"));
    assert!(by_get.retry_after() >= 1);
    let by_ndjson = Answer::of(post_ndjson(
        &a,
        &app,
        "rl",
        ndjson(&[click("a-refused", "c3")]),
    ))
    .await;
    assert_eq!(by_ndjson.status, 429, "{by_ndjson:#?}");
    assert_eq!(by_ndjson.code(), Some("RATE_LIMITED"), "{by_ndjson:#?}");
    assert!(by_ndjson.retry_after() >= 1);
    let mutation = Answer::of(post_graphql(
        &a,
        &app,
        &json!({"query": "mutation { createWorkspace(slug: \"rl-refused\", name: \"x\") { slug } }"}),
    ))
    .await;
    assert_eq!(mutation.status, 429, "{mutation:#?}");
    for answer in [&sixth, &spec, &by_get, &by_ndjson, &mutation] {
        assert!(!answer.request_id().is_empty());
    }

    // Meanwhile another key of the same workspace is not affected, on either endpoint.
    let b_graphql = Answer::of(post_graphql(&b, &app, &viewer)).await;
    assert_eq!(b_graphql.status, 200, "{b_graphql:#?}");
    assert_eq!(b_graphql.body["data"]["viewer"]["role"], "ADMIN");
    let b_ndjson = Answer::of(post_ndjson(&b, &app, "rl", ndjson(&[click("b-1", "c4")]))).await;
    assert_eq!(b_ndjson.status, 200, "{b_ndjson:#?}");
    assert_eq!(b_ndjson.body["accepted"], 1);
    // …and neither are requests without a key: they are 401, not 429.
    let anonymous_answer = Answer::of(post_graphql(&anonymous(), &app, &viewer)).await;
    assert_eq!(anonymous_answer.status, 401, "{anonymous_answer:#?}");
    // A still is.
    let still = Answer::of(post_graphql(&a, &app, &viewer)).await;
    assert_eq!(still.status, 429, "{still:#?}");

    // After waiting Retry-After, A is let in again…
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let again = Answer::of(post_graphql(&a, &app, &viewer)).await;
    assert_eq!(again.status, 200, "after Retry-After: {again:#?}");
    assert_eq!(again.body["data"]["viewer"]["role"], "ADMIN");
    // …at the sustained rate, not with a fresh burst: one cell came back, not five.
    if started.elapsed() < Duration::from_millis(1_800) {
        let over = Answer::of(post_graphql(&a, &app, &viewer)).await;
        assert_eq!(
            over.status, 429,
            "one request per second after the burst: {over:#?}"
        );
    } else {
        eprintln!("{backend:?}: too slow to check that only one cell came back");
    }

    // Nothing of a refused request happened.
    assert_eq!(
        clicks(&app, &b_key, "rl").await,
        3,
        "a-1, a-2 and b-1; not a-refused"
    );
    let workspaces = Answer::of(post_graphql(
        &b,
        &app,
        &json!({"query": "{ workspaces { slug } }"}),
    ))
    .await;
    assert_eq!(
        workspaces.body["data"]["workspaces"],
        json!([{"slug": "rl"}])
    );
}

// ---------------------------------------------------------------------------------
// 2. The GraphQL request timeout.

const HEAVY: &str = "query($ws: ID!) {
  kpis(workspace: $ws) {
    impressions pageViews clicks registrations attendances questions uniqueVisitors
    landingPageViewers registrants attendees
    clickThroughRate { value n lower upper sufficient }
    registrationRate { value n sufficient }
    attendanceRate { value n sufficient }
    eventCounts { kind count }
  }
  hourglass(workspace: $ws, shortListSize: 20) {
    top { impressions clicks uniqueVisitors }
    bottom { organizationCount totals { attendees questionAskers score } shortList { id rank depth { score } } }
  }
  organizations(workspace: $ws, orderBy: DEPTH, first: 50) { edges { node { id rank depth { score breadth } } } }
}";

const INGEST: &str = "mutation($ws: ID!, $events: [EventInput!]!) {
  ingestEvents(workspace: $ws, events: $events) { accepted duplicates rejected { index code } }
}";

/// A few thousand varied events: 80 organizations, 800 contacts, a webinar funnel,
/// and stage changes that make a tenth of the contacts leads.
fn heavy_events() -> Vec<Value> {
    let kinds = [
        "IMPRESSION",
        "IMPRESSION",
        "PAGE_VIEW",
        "CLICK",
        "REGISTRATION",
        "ATTENDANCE",
        "QUESTION",
    ];
    let mut events: Vec<Value> = (0..4_000)
        .map(|i| {
            let kind = kinds[i % kinds.len()];
            let mut event = json!({
                "messageId": format!("h-{i}"),
                "kind": kind,
                "occurredAt": format!("2026-02-{:02}T{:02}:{:02}:00Z", 1 + i % 27, i % 24, i % 60),
                "contactId": format!("c{}", i % 800),
                "organizationId": format!("o{}", i % 80),
                "campaignId": "camp",
                "channel": if i % 2 == 0 { "email" } else { "social" },
            });
            if kind == "ATTENDANCE" {
                event["value"] = json!(600 + i % 3000);
                event["assetId"] = json!("webinar");
            }
            if kind == "PAGE_VIEW" || kind == "REGISTRATION" {
                event["assetId"] = json!("landing");
            }
            event
        })
        .collect();
    events.extend((0..80).map(|i| {
        json!({
            "messageId": format!("stage-{i}"),
            "kind": "STAGE_CHANGE",
            "occurredAt": "2026-02-20T12:00:00Z",
            "contactId": format!("c{}", i * 10),
            "properties": {"to": "LEAD"},
        })
    }));
    events
}

/// A read that runs longer than `graphql.timeout_ms` is stopped with 503 TIMEOUT (in
/// both media types, POST, GET and batched); writes run to completion; and the data is
/// intact for a server with a normal timeout afterwards.
async fn slow_requests_time_out_with_503_and_change_nothing(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let setup = TestApp::spawn_on(db, |s| s.ingest.max_batch_events = 5_000).await;
    setup.create_workspace("heavy").await;
    setup.create_workspace("side").await;
    let events = heavy_events();
    let loaded = Answer::of(post_ndjson(&setup.client, &setup, "heavy", ndjson(&events))).await;
    assert_eq!(loaded.status, 200, "{loaded:#?}");
    assert_eq!(loaded.body["accepted"], events.len(), "{loaded:#?}");
    let heavy = json!({"query": HEAVY, "variables": {"ws": "heavy"}});
    let timed = Instant::now();
    let baseline = Answer::of(post_graphql(&setup.client, &setup, &heavy)).await;
    let heavy_took = timed.elapsed();
    assert_eq!(baseline.status, 200, "{baseline:#?}");
    assert!(baseline.body.get("errors").is_none(), "{baseline:#?}");
    assert!(baseline.body["data"]["kpis"]["clicks"].as_u64().unwrap() > 0);
    eprintln!("{backend:?}: the heavy query takes {heavy_took:?} with a normal timeout");

    // The same database, served with a 1 ms timeout (the smallest there is).
    let TestApp { db, .. } = setup;
    let slow = TestApp::spawn_on(db, |s| s.graphql.timeout_ms = 1).await;
    for accept in ["application/json", GRAPHQL_RESPONSE] {
        let answer =
            Answer::of(post_graphql(&slow.client, &slow, &heavy).header("accept", accept)).await;
        assert_eq!(answer.status, 503, "{accept}: {answer:#?}");
        assert_eq!(answer.code(), Some("TIMEOUT"), "{accept}: {answer:#?}");
        assert_eq!(answer.content_type(), Some(accept), "{answer:#?}");
        assert!(
            answer.body.get("data").is_none_or(Value::is_null),
            "{answer:#?}"
        );
        assert!(!answer.request_id().is_empty());
    }
    let by_get = Answer::of(slow.client.get(slow.url("/graphql")).query(&[
        ("query", HEAVY),
        ("variables", &json!({"ws": "heavy"}).to_string()),
    ]))
    .await;
    assert_eq!(by_get.status, 503, "{by_get:#?}");
    assert_eq!(by_get.code(), Some("TIMEOUT"));
    let batched = Answer::of(post_graphql(&slow.client, &slow, &json!([heavy, heavy]))).await;
    assert_eq!(batched.status, 503, "{batched:#?}");
    assert_eq!(batched.code(), Some("TIMEOUT"));
    // The limit follows the operation that runs, not the rest of its document: a
    // mutation beside the query does not switch it off.
    let beside_a_mutation = json!({
        "query": format!("{} mutation M {{ __typename }}", HEAVY.replacen("query(", "query Q(", 1)),
        "operationName": "Q",
        "variables": {"ws": "heavy"},
    });
    let answer = Answer::of(post_graphql(&slow.client, &slow, &beside_a_mutation)).await;
    assert_eq!(answer.status, 503, "{answer:#?}");
    assert_eq!(answer.code(), Some("TIMEOUT"));
    // In a batch each operation has its own limit: the query is stopped, the write
    // beside it completes and says so.
    let mixed = json!([
        heavy,
        {"query": "mutation { createWorkspace(slug: \"mixed\", name: \"x\") { slug } }"},
    ]);
    let answer = Answer::of(post_graphql(&slow.client, &slow, &mixed)).await;
    assert_eq!(answer.status, 200, "{answer:#?}");
    assert_eq!(
        answer.body[0]["errors"][0]["extensions"]["code"], "TIMEOUT",
        "{answer:#?}"
    );
    assert!(answer.body[0].get("data").is_none_or(Value::is_null));
    assert_eq!(answer.body[1]["data"]["createWorkspace"]["slug"], "mixed");
    // Only NDJSON ingest and reads were ever at stake: writes are never stopped half
    // way, because a TIMEOUT answer must not hide a write that committed. Under the
    // same 1 ms limit a GraphQL ingest and a createWorkspace run to completion.
    let late: Vec<Value> = (0..300)
        .map(|i| click(&format!("late-{i}"), &format!("late-c{i}")))
        .collect();
    let write = Answer::of(post_graphql(
        &slow.client,
        &slow,
        &json!({"query": INGEST, "variables": {"ws": "side", "events": late}}),
    ))
    .await;
    assert_eq!(write.status, 200, "{write:#?}");
    assert_eq!(
        write.body["data"]["ingestEvents"],
        json!({"accepted": 300, "duplicates": 0, "rejected": []}),
        "{write:#?}"
    );
    let created = Answer::of(post_graphql(
        &slow.client,
        &slow,
        &json!({"query": "mutation { createWorkspace(slug: \"late\", name: \"x\") { slug } }"}),
    ))
    .await;
    assert_eq!(created.status, 200, "{created:#?}");
    assert_eq!(created.body["data"]["createWorkspace"]["slug"], "late");
    let via_ndjson = Answer::of(post_ndjson(
        &slow.client,
        &slow,
        "side",
        ndjson(&[click("ndjson-under-1ms-timeout", "c1")]),
    ))
    .await;
    assert_eq!(via_ndjson.status, 200, "{via_ndjson:#?}");
    assert_eq!(via_ndjson.body["accepted"], 1);

    // Back to a normal timeout on the same data: the stopped reads changed nothing,
    // and every write answered 200 is there.
    let TestApp { db, .. } = slow;
    let after = TestApp::spawn_on(db, |_| {}).await;
    let again = Answer::of(post_graphql(&after.client, &after, &heavy)).await;
    assert_eq!(again.status, 200, "{again:#?}");
    assert_eq!(again.body, baseline.body);
    assert_eq!(clicks(&after, &after.key, "side").await, 301);
    let workspaces = after.graphql_ok("{ workspaces { slug } }", json!({})).await;
    assert_eq!(
        workspaces["workspaces"],
        json!([{"slug": "heavy"}, {"slug": "late"}, {"slug": "mixed"}, {"slug": "side"}])
    );
}

// ---------------------------------------------------------------------------------
// 3. Aliases.

/// `graphql.max_aliases` (30 by default) counts aliased fields in the operation, in
/// named fragments and in inline fragments, at any depth; over it the request is
/// QUERY_TOO_COMPLEX before anything runs (400 under the GraphQL-over-HTTP media type).
async fn aliases_are_limited_including_those_in_fragments(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.create_workspace("al").await;
    let ask = |query: String, accept: &'static str| {
        let request =
            post_graphql(&app.client, &app, &json!({ "query": query })).header("accept", accept);
        Answer::of(request)
    };

    // 30: fine, each alias answered.
    let thirty = ask(
        format!("{{ {} }}", aliased_workspaces(0, 30)),
        GRAPHQL_RESPONSE,
    )
    .await;
    assert_eq!(thirty.status, 200, "{thirty:#?}");
    assert!(thirty.body.get("errors").is_none(), "{thirty:#?}");
    let data = thirty.body["data"].as_object().unwrap();
    assert_eq!(data.len(), 30);
    assert!(
        data.values().all(|v| *v == json!([{"slug": "al"}])),
        "{thirty:#?}"
    );

    // 31: refused whole.
    let refused = [
        (
            "31 in the operation",
            format!("{{ {} }}", aliased_workspaces(0, 31)),
        ),
        (
            "20 in the operation and 11 in a named fragment",
            format!(
                "{{ {} ...F }} fragment F on Query {{ {} }}",
                aliased_workspaces(0, 20),
                aliased_workspaces(20, 11)
            ),
        ),
        (
            "20 in the operation and 11 in an inline fragment",
            format!(
                "{{ {} ... on Query {{ {} }} }}",
                aliased_workspaces(0, 20),
                aliased_workspaces(20, 11)
            ),
        ),
        (
            "20 in the operation and 11 nested in a fragment on Workspace",
            format!(
                "{{ {} workspaces {{ ...W }} }} fragment W on Workspace {{ {} }}",
                aliased_workspaces(0, 20),
                (0..11)
                    .map(|i| format!("s{i}: slug"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ),
        (
            "16 aliased fields with an aliased sub-field each",
            format!(
                "{{ {} }}",
                (0..16)
                    .map(|i| format!("a{i}: workspaces {{ s: slug }}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ),
        (
            "31 across two operations of one document",
            format!(
                "query One {{ {} }} query Two {{ {} }}",
                aliased_workspaces(0, 16),
                aliased_workspaces(0, 15)
            ),
        ),
    ];
    for (what, query) in &refused {
        let answer = ask(query.clone(), GRAPHQL_RESPONSE).await;
        assert_eq!(answer.status, 400, "{what}: {answer:#?}");
        assert_eq!(
            answer.code(),
            Some("QUERY_TOO_COMPLEX"),
            "{what}: {answer:#?}"
        );
        assert_eq!(answer.content_type(), Some(GRAPHQL_RESPONSE), "{what}");
        assert!(
            answer.body.get("data").is_none_or(Value::is_null),
            "{what}: {answer:#?}"
        );
        let message = answer.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("the limit is 30"), "{what}: {message}");
        // Plain JSON clients get 200 with the same code.
        let plain = ask(query.clone(), "application/json").await;
        assert_eq!(plain.status, 200, "{what}: {plain:#?}");
        assert_eq!(
            plain.code(),
            Some("QUERY_TOO_COMPLEX"),
            "{what}: {plain:#?}"
        );
    }

    // 30 spread over the operation and fragments is still fine.
    let split = ask(
        format!(
            "{{ {} ...F ... on Query {{ {} }} }} fragment F on Query {{ {} }}",
            aliased_workspaces(0, 10),
            aliased_workspaces(10, 10),
            aliased_workspaces(20, 10)
        ),
        GRAPHQL_RESPONSE,
    )
    .await;
    assert_eq!(split.status, 200, "{split:#?}");
    assert!(split.body.get("errors").is_none(), "{split:#?}");
    assert_eq!(split.body["data"].as_object().unwrap().len(), 30);
    // Unaliased repeats of one field are not aliases (they merge into one).
    let repeated = ask(
        format!("{{ {} }}", "workspaces { slug } ".repeat(40)),
        GRAPHQL_RESPONSE,
    )
    .await;
    assert_eq!(repeated.status, 200, "{repeated:#?}");
    assert_eq!(repeated.body["data"]["workspaces"], json!([{"slug": "al"}]));
    // Over GET the limit holds too.
    let by_get = Answer::of(
        get_graphql(
            &app.client,
            &app,
            &format!("{{ {} }}", aliased_workspaces(0, 31)),
        )
        .header("accept", GRAPHQL_RESPONSE),
    )
    .await;
    assert_eq!(by_get.status, 400, "{by_get:#?}");
    assert_eq!(by_get.code(), Some("QUERY_TOO_COMPLEX"));
    // Without a key the alias count is never looked at.
    let anonymous_answer = Answer::of(post_graphql(
        &anonymous(),
        &app,
        &json!({"query": format!("{{ {} }}", aliased_workspaces(0, 31))}),
    ))
    .await;
    assert_eq!(anonymous_answer.status, 401, "{anonymous_answer:#?}");
    assert_eq!(anonymous_answer.code(), Some("UNAUTHENTICATED"));
}

// ---------------------------------------------------------------------------------
// 4. Depth, complexity, page size and batches.

/// Depth and complexity beyond the settings are QUERY_TOO_COMPLEX (also when the
/// page size comes in a variable, and when aliases stay under their own limit),
/// `first` above `max_page_size` is BAD_USER_INPUT on every connection, and a batch
/// of more operations than allowed is 400 BAD_REQUEST.
async fn depth_complexity_page_size_and_batches_are_bounded(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.graphql.max_depth = 4;
        s.graphql.max_cost = 5_000;
    })
    .await
    else {
        return;
    };
    app.create_workspace("cx").await;
    let ask = |body: Value| {
        Answer::of(post_graphql(&app.client, &app, &body).header("accept", GRAPHQL_RESPONSE))
    };

    // Depth: 4 is fine, 5 is not.
    let four =
        ask(json!({"query": "{ organizations(workspace: \"cx\") { edges { node { id } } } }"}))
            .await;
    assert_eq!(four.status, 200, "{four:#?}");
    assert!(four.body.get("errors").is_none(), "{four:#?}");
    let five = ask(json!({"query": "{ organizations(workspace: \"cx\") { edges { node { depth { score } } } } }"})).await;
    assert_eq!(five.status, 400, "{five:#?}");
    assert_eq!(five.code(), Some("QUERY_TOO_COMPLEX"), "{five:#?}");
    // Fragments do not hide depth.
    let hidden = ask(json!({"query": "{ organizations(workspace: \"cx\") { edges { ...N } } } fragment N on OrganizationEdge { node { depth { score } } }"})).await;
    assert_eq!(hidden.status, 400, "{hidden:#?}");
    assert_eq!(hidden.code(), Some("QUERY_TOO_COMPLEX"));

    // Cost (5,000 here): a page of 100 events costs 100 × its node.
    // `events(first: 100) { edges { node { messageId kind } } }` costs 100 × 4 = 400.
    let pages = |n: usize, first: &str| {
        (0..n)
            .map(|i| format!("e{i}: events(workspace: \"cx\", first: {first}) {{ edges {{ node {{ messageId kind }} }} }}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let under = ask(json!({"query": format!("{{ {} }}", pages(12, "100"))})).await;
    assert_eq!(under.status, 200, "12 × 400 = 4,800: {under:#?}");
    assert!(under.body.get("errors").is_none(), "{under:#?}");
    let over = ask(json!({"query": format!("{{ {} }}", pages(13, "100"))})).await;
    assert_eq!(
        over.status, 400,
        "13 × 400 = 5,200, with 13 aliases only: {over:#?}"
    );
    assert_eq!(over.code(), Some("QUERY_TOO_COMPLEX"), "{over:#?}");
    // The page size in a variable counts just the same.
    let by_variable = |n: u32| {
        ask(json!({
            "query": format!("query($n: Int) {{ {} }}", pages(13, "$n")),
            "variables": {"n": n},
        }))
    };
    let small = by_variable(5).await;
    assert_eq!(small.status, 200, "13 × 5 × 4: {small:#?}");
    assert!(small.body.get("errors").is_none(), "{small:#?}");
    let large = by_variable(100).await;
    assert_eq!(
        large.status, 400,
        "13 × 100 × 4 through a variable: {large:#?}"
    );
    assert_eq!(large.code(), Some("QUERY_TOO_COMPLEX"), "{large:#?}");

    // Page size: 100 is the most on every connection; 101 is the caller's mistake.
    let connections = |first: i64| {
        format!(
            "{{
              events(workspace: \"cx\", first: {first}) {{ edges {{ cursor }} }}
              organizations(workspace: \"cx\", first: {first}) {{ edges {{ cursor }} }}
              contacts(workspace: \"cx\", first: {first}) {{ edges {{ cursor }} }}
              campaigns(workspace: \"cx\", first: {first}) {{ edges {{ cursor }} }}
              assets(workspace: \"cx\", first: {first}) {{ edges {{ cursor }} }}
              kpiScripts(workspace: \"cx\", first: {first}) {{ edges {{ cursor }} }}
              hourglass(workspace: \"cx\", shortListSize: {first}) {{ bottom {{ organizationCount }} }}
            }}"
        )
    };
    let hundred = ask(json!({"query": connections(100)})).await;
    assert_eq!(hundred.status, 200, "{hundred:#?}");
    assert!(hundred.body.get("errors").is_none(), "{hundred:#?}");
    for first in [101, -1] {
        let answer = ask(json!({"query": connections(first)})).await;
        assert_eq!(
            answer.status, 200,
            "a resolver's error is a field error: {answer:#?}"
        );
        let errors = answer.body["errors"].as_array().unwrap();
        let paths: BTreeSet<&str> = errors
            .iter()
            .map(|e| e["path"][0].as_str().unwrap())
            .collect();
        assert_eq!(
            paths,
            BTreeSet::from([
                "events",
                "organizations",
                "contacts",
                "campaigns",
                "assets",
                "kpiScripts",
                "hourglass"
            ]),
            "first: {first}: {answer:#?}"
        );
        for error in errors {
            assert_eq!(
                error["extensions"]["code"], "BAD_USER_INPUT",
                "first: {first}: {error:#}"
            );
        }
        if first > 100 {
            for error in errors {
                let field = if error["path"][0] == "hourglass" {
                    "shortListSize"
                } else {
                    "first"
                };
                assert_eq!(error["extensions"]["field"], field, "{error:#}");
            }
        }
    }

    // A page too large to even price is refused before anything runs.
    let huge =
        ask(json!({"query": "{ events(workspace: \"cx\", first: 1000000) { edges { cursor } } }"}))
            .await;
    assert_eq!(huge.status, 400, "{huge:#?}");
    assert_eq!(huge.code(), Some("QUERY_TOO_COMPLEX"), "{huge:#?}");

    // Batches: 10 operations are fine, 11 are refused whole before any runs.
    let operation = json!({"query": "{ viewer { role } }"});
    let ten = ask(Value::Array(vec![operation.clone(); 10])).await;
    assert_eq!(ten.status, 200, "{ten:#?}");
    let answers = ten.body.as_array().unwrap();
    assert_eq!(answers.len(), 10);
    assert!(
        answers
            .iter()
            .all(|a| a["data"]["viewer"]["role"] == "ADMIN"),
        "{ten:#?}"
    );
    let create = |i: usize| json!({"query": format!("mutation {{ createWorkspace(slug: \"batch-{i}\", name: \"x\") {{ slug }} }}")});
    for accept in ["application/json", GRAPHQL_RESPONSE] {
        let eleven = Answer::of(
            post_graphql(
                &app.client,
                &app,
                &Value::Array((0..11).map(create).collect()),
            )
            .header("accept", accept),
        )
        .await;
        assert_eq!(eleven.status, 400, "{accept}: {eleven:#?}");
        assert_eq!(eleven.code(), Some("BAD_REQUEST"), "{eleven:#?}");
        assert!(
            eleven.text.contains("11") && eleven.text.contains("10"),
            "{eleven:#?}"
        );
    }
    let workspaces = app.graphql_ok("{ workspaces { slug } }", json!({})).await;
    assert_eq!(
        workspaces["workspaces"],
        json!([{"slug": "cx"}]),
        "no operation of the refused batch ran"
    );
    // Without a key, a batch too large is 401, not 400: the key is checked first.
    let anonymous_batch = Answer::of(post_graphql(
        &anonymous(),
        &app,
        &Value::Array(vec![operation; 11]),
    ))
    .await;
    assert_eq!(anonymous_batch.status, 401, "{anonymous_batch:#?}");
    assert_eq!(anonymous_batch.code(), Some("UNAUTHENTICATED"));
}

// ---------------------------------------------------------------------------------
// 5. Body sizes.

/// A GraphQL body of exactly `size` bytes asking `{ workspaces { slug } }` (padded
/// with spaces inside the query string).
fn graphql_body_of(size: usize) -> String {
    let (head, tail) = ("{\"query\":\"{ workspaces { slug } }", "\"}");
    let body = format!("{head}{}{tail}", " ".repeat(size - head.len() - tail.len()));
    assert_eq!(body.len(), size);
    body
}

/// NDJSON clicks `prefix-0…` padded with blank lines to exactly `size` bytes.
fn ndjson_body_of(prefix: &str, events: usize, size: usize) -> String {
    let lines = ndjson(
        &(0..events)
            .map(|i| click(&format!("{prefix}-{i}"), &format!("c{i}")))
            .collect::<Vec<_>>(),
    );
    assert!(lines.len() <= size, "{} > {size}", lines.len());
    let body = format!("{lines}{}", "\n".repeat(size - lines.len()));
    assert_eq!(body.len(), size);
    body
}

const GRAPHQL_LIMIT: usize = 2_048;
const NDJSON_LIMIT: usize = 4_096;

/// With a valid key, a body above `graphql.max_body_bytes` or `ingest.max_body_bytes`
/// is 413 PAYLOAD_TOO_LARGE, with or without Content-Length, and nothing of it is
/// stored; a body of exactly the limit is read. Without a valid key (or without the
/// right to the workspace) the answer is 401/403/404 whatever the size: access is
/// checked before the body is read.
async fn bodies_over_the_limits_are_refused_after_the_key_is_checked(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.graphql.max_body_bytes = GRAPHQL_LIMIT;
        s.ingest.max_body_bytes = NDJSON_LIMIT;
    })
    .await
    else {
        return;
    };
    app.create_workspace("bodies").await;
    let read_key = app.issue_key(Some("bodies"), "READ").await;
    let ingest_key = app.issue_key(Some("bodies"), "INGEST").await;
    let admin = format!("Bearer {}", app.key);
    let json_headers = [
        ("content-type", "application/json"),
        ("authorization", admin.as_str()),
    ];

    // GraphQL, with Content-Length: exactly the limit is read, one byte more is not.
    let post_raw = |client: &reqwest::Client, body: String| {
        client
            .post(app.url("/graphql"))
            .header("content-type", "application/json")
            .body(body)
    };
    let at_limit = Answer::of(post_raw(&app.client, graphql_body_of(GRAPHQL_LIMIT))).await;
    assert_eq!(at_limit.status, 200, "{at_limit:#?}");
    assert_eq!(
        at_limit.body["data"]["workspaces"],
        json!([{"slug": "bodies"}])
    );
    for accept in ["application/json", GRAPHQL_RESPONSE] {
        let over = Answer::of(
            post_raw(&app.client, graphql_body_of(GRAPHQL_LIMIT + 1)).header("accept", accept),
        )
        .await;
        assert_eq!(over.status, 413, "{accept}: {over:#?}");
        assert_eq!(over.code(), Some("PAYLOAD_TOO_LARGE"), "{over:#?}");
        assert_eq!(over.content_type(), Some(accept));
    }
    // …and chunked, without Content-Length: the same.
    let body = graphql_body_of(GRAPHQL_LIMIT);
    let (first_half, second_half) = body.as_bytes().split_at(1_000);
    let chunked_ok = post_chunked(
        app.address,
        "/graphql",
        &json_headers,
        &[first_half, second_half],
    )
    .await;
    assert_eq!(chunked_ok.status, 200, "{chunked_ok:#?}");
    assert_eq!(
        chunked_ok.json()["data"]["workspaces"],
        json!([{"slug": "bodies"}])
    );
    let body = graphql_body_of(GRAPHQL_LIMIT + 1);
    let (first_half, second_half) = body.as_bytes().split_at(1_000);
    let chunked_over = post_chunked(
        app.address,
        "/graphql",
        &json_headers,
        &[first_half, second_half],
    )
    .await;
    assert_eq!(chunked_over.status, 413, "{chunked_over:#?}");
    assert_eq!(chunked_over.code().as_deref(), Some("PAYLOAD_TOO_LARGE"));
    assert!(chunked_over.header("x-request-id").is_some());
    // A large mutation is refused before it can run.
    let padded_mutation = json!({
        "query": format!("mutation {{ createWorkspace(slug: \"too-big\", name: \"x\") {{ slug }} }} #{}", "x".repeat(GRAPHQL_LIMIT)),
    })
    .to_string();
    let refused = Answer::of(post_raw(&app.client, padded_mutation.clone())).await;
    assert_eq!(refused.status, 413, "{refused:#?}");
    let refused = post_chunked(
        app.address,
        "/graphql",
        &json_headers,
        &[padded_mutation.as_bytes()],
    )
    .await;
    assert_eq!(refused.status, 413, "{refused:#?}");

    // Without a valid key a large body is 401: the key is checked before the body is read.
    let large_graphql = graphql_body_of(32 * 1024);
    for client in [anonymous(), client_with_key("hg_0123456789abcdef_garbage")] {
        let answer = Answer::of(post_raw(&client, large_graphql.clone())).await;
        assert_eq!(answer.status, 401, "{answer:#?}");
        assert_eq!(answer.code(), Some("UNAUTHENTICATED"), "{answer:#?}");
        assert!(
            answer
                .header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer"))
        );
    }
    let chunked = post_chunked(
        app.address,
        "/graphql",
        &[("content-type", "application/json")],
        &[large_graphql.as_bytes()],
    )
    .await;
    assert_eq!(chunked.status, 401, "{chunked:#?}");
    assert_eq!(chunked.code().as_deref(), Some("UNAUTHENTICATED"));

    // NDJSON: exactly the limit is read, one byte more is not, and nothing of it is stored.
    let ingest = client_with_key(&ingest_key);
    let at_limit = Answer::of(post_ndjson(
        &ingest,
        &app,
        "bodies",
        ndjson_body_of("fits", 30, NDJSON_LIMIT),
    ))
    .await;
    assert_eq!(at_limit.status, 200, "{at_limit:#?}");
    assert_eq!(at_limit.body["accepted"], 30, "{at_limit:#?}");
    let over_body = ndjson_body_of("over", 30, NDJSON_LIMIT + 1);
    let over = Answer::of(post_ndjson(&ingest, &app, "bodies", over_body.clone())).await;
    assert_eq!(over.status, 413, "{over:#?}");
    assert_eq!(over.code(), Some("PAYLOAD_TOO_LARGE"), "{over:#?}");
    let many = ndjson_body_of("many", 60, 8 * 1024);
    let over = Answer::of(post_ndjson(&ingest, &app, "bodies", many.clone())).await;
    assert_eq!(over.status, 413, "{over:#?}");
    let ingest_auth = format!("Bearer {ingest_key}");
    let ndjson_headers = [
        ("content-type", "application/x-ndjson"),
        ("authorization", ingest_auth.as_str()),
    ];
    let chunks: Vec<&[u8]> = many.as_bytes().chunks(1_000).collect();
    let chunked_over = post_chunked(
        app.address,
        "/v1/events?workspace=bodies",
        &ndjson_headers,
        &chunks,
    )
    .await;
    assert_eq!(chunked_over.status, 413, "{chunked_over:#?}");
    assert_eq!(chunked_over.code().as_deref(), Some("PAYLOAD_TOO_LARGE"));
    let small = ndjson_body_of("chunked", 10, 2_000);
    let chunks: Vec<&[u8]> = small.as_bytes().chunks(300).collect();
    let chunked_ok = post_chunked(
        app.address,
        "/v1/events?workspace=bodies",
        &ndjson_headers,
        &chunks,
    )
    .await;
    assert_eq!(chunked_ok.status, 200, "{chunked_ok:#?}");
    assert_eq!(chunked_ok.json()["accepted"], 10);

    // Access before size: no key 401, a READ key 403, a workspace out of reach 404.
    let large_ndjson = ndjson_body_of("denied", 60, 32 * 1024);
    for (client, workspace, status, code) in [
        (anonymous(), "bodies", 401, "UNAUTHENTICATED"),
        (
            client_with_key("hg_0123456789abcdef_garbage"),
            "bodies",
            401,
            "UNAUTHENTICATED",
        ),
        (client_with_key(&read_key), "bodies", 403, "FORBIDDEN"),
        (client_with_key(&ingest_key), "elsewhere", 404, "NOT_FOUND"),
    ] {
        let answer = Answer::of(post_ndjson(&client, &app, workspace, large_ndjson.clone())).await;
        assert_eq!(answer.status, status, "{code}: {answer:#?}");
        assert_eq!(answer.code(), Some(code), "{answer:#?}");
    }
    let chunks: Vec<&[u8]> = large_ndjson.as_bytes().chunks(4_000).collect();
    let chunked = post_chunked(
        app.address,
        "/v1/events?workspace=bodies",
        &[("content-type", "application/x-ndjson")],
        &chunks,
    )
    .await;
    assert_eq!(chunked.status, 401, "{chunked:#?}");
    assert_eq!(chunked.code().as_deref(), Some("UNAUTHENTICATED"));

    // Stored: the 30 that fit and the 10 sent chunked; nothing of any refused body.
    assert_eq!(clicks(&app, &app.key, "bodies").await, 40);
    let workspaces = app.graphql_ok("{ workspaces { slug } }", json!({})).await;
    assert_eq!(workspaces["workspaces"], json!([{"slug": "bodies"}]));
}

// ---------------------------------------------------------------------------------
// 6. Request ids and the rest of the protocol.

/// Every response carries an `X-Request-Id` — fresh and distinct, or the caller's own
/// when it is a sane one — whatever the status; and the protocol's refusals say what
/// is wrong (405 with Allow, 415 on both endpoints).
async fn every_response_carries_a_request_id(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| s.graphql.max_body_bytes = 1_024).await else {
        return;
    };
    app.create_workspace("rid").await;
    let viewer = json!({"query": "{ viewer { role } }"});
    // Every kind of answer, each with a builder so that it can be sent again with an id.
    let requests: Vec<(&str, u16, Build<'_>)> = vec![
        (
            "a query",
            200,
            Box::new(|| post_graphql(&app.client, &app, &viewer)),
        ),
        (
            "a query by GET",
            200,
            Box::new(|| get_graphql(&app.client, &app, "{ viewer { role } }")),
        ),
        (
            "health",
            200,
            Box::new(|| app.client.get(app.url("/health"))),
        ),
        (
            "NDJSON",
            200,
            Box::new(|| post_ndjson(&app.client, &app, "rid", ndjson(&[click("r-1", "c")]))),
        ),
        (
            "no key",
            401,
            Box::new(|| post_graphql(&anonymous(), &app, &viewer)),
        ),
        (
            "no key, NDJSON",
            401,
            Box::new(|| post_ndjson(&anonymous(), &app, "rid", ndjson(&[click("r-2", "c")]))),
        ),
        (
            "an unknown path",
            404,
            Box::new(|| app.client.get(app.url("/nowhere"))),
        ),
        (
            "an unknown workspace, NDJSON",
            404,
            Box::new(|| post_ndjson(&app.client, &app, "ghost", ndjson(&[click("r-3", "c")]))),
        ),
        (
            "a large body",
            413,
            Box::new(|| {
                app.client
                    .post(app.url("/graphql"))
                    .header("content-type", "application/json")
                    .body(graphql_body_of(2_048))
            }),
        ),
        (
            "a mutation by GET",
            405,
            Box::new(|| {
                get_graphql(
                    &app.client,
                    &app,
                    "mutation { createWorkspace(slug: \"by-get\", name: \"x\") { slug } }",
                )
            }),
        ),
        (
            "text/plain GraphQL",
            415,
            Box::new(|| {
                app.client
                    .post(app.url("/graphql"))
                    .header("content-type", "text/plain")
                    .body(viewer.to_string())
            }),
        ),
        (
            "JSON to the NDJSON endpoint",
            415,
            Box::new(|| {
                app.client
                    .post(app.url("/v1/events?workspace=rid"))
                    .json(&click("r-4", "c"))
            }),
        ),
        (
            "malformed JSON",
            400,
            Box::new(|| {
                app.client
                    .post(app.url("/graphql"))
                    .header("content-type", "application/json")
                    .body("{\"query\": ")
            }),
        ),
    ];

    let mut fresh_ids = BTreeSet::new();
    for (what, status, request) in &requests {
        let answer = Answer::of(request()).await;
        assert_eq!(answer.status, *status, "{what}: {answer:#?}");
        let id = answer.request_id();
        assert!(
            is_fresh_request_id(id),
            "{what}: a fresh id is 16 hex digits, not {id:?}"
        );
        fresh_ids.insert(id.to_owned());
        // Every refusal names its code.
        if *status >= 400 && *what != "an unknown path" {
            assert!(answer.code().is_some(), "{what}: {answer:#?}");
        }
    }
    assert_eq!(
        fresh_ids.len(),
        requests.len(),
        "every request gets its own id"
    );

    // A sane incoming id is kept, on every kind of answer.
    let longest = format!("trace.{}", "x".repeat(58));
    assert_eq!(longest.len(), 64);
    for (n, (what, status, request)) in requests.iter().enumerate() {
        let sane = if n == 0 {
            longest.clone()
        } else {
            format!("Trace-{n}_a.b")
        };
        let answer = Answer::of(request().header("x-request-id", &sane)).await;
        assert_eq!(answer.status, *status, "{what}: {answer:#?}");
        assert_eq!(answer.request_id(), sane, "{what}");
    }
    // An insane one is replaced by a fresh id, never echoed.
    let insane: Vec<reqwest::header::HeaderValue> = vec![
        "has spaces in it".parse().unwrap(),
        "x".repeat(100).parse().unwrap(),
        "y".repeat(65).parse().unwrap(),
        "a/b".parse().unwrap(),
        "<script>".parse().unwrap(),
        reqwest::header::HeaderValue::from_bytes("ünï".as_bytes()).unwrap(),
    ];
    for (value, (what, status, request)) in insane.iter().zip(requests.iter().cycle().skip(3)) {
        let answer = Answer::of(request().header("x-request-id", value.clone())).await;
        assert_eq!(answer.status, *status, "{what}: {answer:#?}");
        let id = answer.request_id();
        assert!(
            is_fresh_request_id(id),
            "{what}: {value:?} must be replaced, got {id:?}"
        );
        assert_ne!(id.as_bytes(), value.as_bytes());
    }

    // The protocol's refusals, in detail.
    let by_get = Answer::of(get_graphql(
        &app.client,
        &app,
        "mutation { createWorkspace(slug: \"by-get\", name: \"x\") { slug } }",
    ))
    .await;
    assert_eq!(by_get.status, 405);
    assert_eq!(by_get.header("allow"), Some("POST"), "{by_get:#?}");
    assert_eq!(by_get.code(), Some("METHOD_NOT_ALLOWED"));
    // Even when the operation picked is a query: the document holds a mutation.
    let mixed = Answer::of(app.client.get(app.url("/graphql")).query(&[
        ("query", "query Q { viewer { role } } mutation M { createWorkspace(slug: \"by-get\", name: \"x\") { slug } }"),
        ("operationName", "M"),
    ]))
    .await;
    assert_eq!(mixed.status, 405, "{mixed:#?}");
    assert_eq!(mixed.header("allow"), Some("POST"));
    let no_type = Answer::of(
        app.client
            .post(app.url("/graphql"))
            .body(viewer.to_string()),
    )
    .await;
    assert_eq!(no_type.status, 415, "no Content-Type at all: {no_type:#?}");
    assert_eq!(no_type.code(), Some("UNSUPPORTED_MEDIA_TYPE"));
    let form = Answer::of(
        app.client
            .post(app.url("/graphql"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("query=%7B%20viewer%20%7B%20role%20%7D%20%7D"),
    )
    .await;
    assert_eq!(form.status, 415, "{form:#?}");
    let ndjson_as_json = Answer::of(
        app.client
            .post(app.url("/v1/events?workspace=rid"))
            .json(&click("r-5", "c")),
    )
    .await;
    assert_eq!(ndjson_as_json.status, 415, "{ndjson_as_json:#?}");
    assert_eq!(ndjson_as_json.code(), Some("UNSUPPORTED_MEDIA_TYPE"));
    let with_charset = Answer::of(
        app.client
            .post(app.url("/graphql"))
            .header("content-type", "application/json; charset=utf-8")
            .body(viewer.to_string()),
    )
    .await;
    assert_eq!(with_charset.status, 200, "{with_charset:#?}");

    // Of all of that only r-1 was stored (once, then resent as a duplicate), and no
    // workspace was made by GET.
    assert_eq!(clicks(&app, &app.key, "rid").await, 1);
    let workspaces = app.graphql_ok("{ workspaces { slug } }", json!({})).await;
    assert_eq!(workspaces["workspaces"], json!([{"slug": "rid"}]));
}

/// With `graphql.introspection = false` introspection fails with a code (and
/// `__typename` still works); with `graphql.graphiql = false` neither the page nor
/// its assets are served.
async fn locked_down_servers_answer_no_introspection_and_no_graphiql(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.graphql.graphiql = false;
        s.graphql.introspection = false;
    })
    .await
    else {
        return;
    };
    let typename = Answer::of(post_graphql(
        &app.client,
        &app,
        &json!({"query": "{ __typename viewer { role } }"}),
    ))
    .await;
    assert_eq!(typename.status, 200, "{typename:#?}");
    assert_eq!(
        typename.body["data"],
        json!({"__typename": "Query", "viewer": {"role": "ADMIN"}})
    );

    let page = Answer::of(
        app.client
            .get(app.url("/graphql"))
            .header("accept", "text/html"),
    )
    .await;
    assert_ne!(page.status, 200, "{page:#?}");
    assert!(
        !page
            .content_type()
            .is_some_and(|t| t.starts_with("text/html")),
        "{page:#?}"
    );
    assert!(!page.text.to_lowercase().contains("graphiql"), "{page:#?}");
    let asset = Answer::of(app.client.get(app.url("/assets/graphiql/graphiql.min.js"))).await;
    assert_eq!(asset.status, 404, "{asset:#?}");
    assert!(!asset.request_id().is_empty());

    // Introspection is not answered — and says so with a code, not with a silent null.
    for query in [
        "{ __schema { queryType { name } types { name } } }",
        "{ __type(name: \"Query\") { fields { name } } }",
        "{ viewer { role } __schema { types { name } } }",
        "query { ...F } fragment F on Query { __schema { types { name } } }",
    ] {
        for (accept, status) in [("application/json", 200), (GRAPHQL_RESPONSE, 400)] {
            let answer = Answer::of(
                post_graphql(&app.client, &app, &json!({ "query": query }))
                    .header("accept", accept),
            )
            .await;
            assert_eq!(answer.status, status, "{query} ({accept}): {answer:#?}");
            assert_eq!(
                answer.code(),
                Some("GRAPHQL_VALIDATION_FAILED"),
                "{answer:#?}"
            );
            assert!(
                answer.body.get("data").is_none_or(Value::is_null),
                "{answer:#?}"
            );
        }
    }
}

/// An address that fails to authenticate more than `failed_auth_per_minute` times is
/// refused with 429 and Retry-After before any key it sends is looked at — a good
/// one included — on every endpoint; with the limit off, failures stay 401.
async fn failed_authentications_are_throttled_per_address(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| s.rate_limit.failed_auth_per_minute = 3).await
    else {
        return;
    };
    app.create_workspace("door").await;
    let viewer = json!({"query": "{ viewer { role } }"});
    let wrong = hourglass_tests::client_with_key("hg_0000000000000000_not-a-key");
    for attempt in 1..=3 {
        let answer = Answer::of(post_graphql(&wrong, &app, &viewer)).await;
        assert_eq!(answer.status, 401, "attempt {attempt}: {answer:#?}");
    }
    let fourth = Answer::of(post_graphql(&anonymous(), &app, &viewer)).await;
    assert_eq!(fourth.status, 429, "{fourth:#?}");
    assert_eq!(fourth.code(), Some("RATE_LIMITED"));
    assert!(fourth.retry_after() >= 1);
    // Refused before the key is looked at, on every endpoint: the good key too.
    let good = Answer::of(post_graphql(&app.client, &app, &viewer)).await;
    assert_eq!(good.status, 429, "{good:#?}");
    let ndjson = Answer::of(post_ndjson(
        &app.client,
        &app,
        "door",
        ndjson(&[click("d1", "c1")]),
    ))
    .await;
    assert_eq!(ndjson.status, 429, "{ndjson:#?}");
    assert_eq!(ndjson.code(), Some("RATE_LIMITED"));

    // Off: failures stay failures.
    let Some(open) = TestApp::spawn(backend).await else {
        return;
    };
    for attempt in 1..=10 {
        let answer = Answer::of(post_graphql(&wrong, &open, &viewer)).await;
        assert_eq!(answer.status, 401, "attempt {attempt}: {answer:#?}");
    }
    let good = Answer::of(post_graphql(&open.client, &open, &viewer)).await;
    assert_eq!(good.status, 200, "{good:#?}");
}

on_both_backends!(
    failed_authentications_are_throttled_per_address,
    rate_limits_are_per_key_across_endpoints_and_lift_after_retry_after,
    slow_requests_time_out_with_503_and_change_nothing,
    aliases_are_limited_including_those_in_fragments,
    depth_complexity_page_size_and_batches_are_bounded,
    bodies_over_the_limits_are_refused_after_the_key_is_checked,
    every_response_carries_a_request_id,
    locked_down_servers_answer_no_introspection_and_no_graphiql,
);
