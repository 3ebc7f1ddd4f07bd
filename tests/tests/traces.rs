//! Trace export: spans reach an OTLP/HTTP collector, continuing the caller's W3C
//! `traceparent`, with the GraphQL operation and the database round trips in them.
//!
//! A tracing subscriber is one per process, so this binary holds this one test.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use hourglass_server::Settings;
use hourglass_server::observability::traces;
use hourglass_tests::{Backend, TestApp};
use serde_json::json;

/// One request the fake collector received: its path and body.
type Received = (String, Vec<u8>);

/// A collector that answers every POST with 200 and hands over what it got.
fn fake_collector() -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (sender, received) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let path = request_line
                .split(' ')
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
                )
                .unwrap();
            let _ = sender.send((path, body));
        }
    });
    (address, received)
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_collector_and_continue_the_callers_trace() {
    let (endpoint, received) = fake_collector();
    let mut settings = Settings::default();
    settings.telemetry.otlp_endpoint = endpoint;
    settings.telemetry.service_name = "hourglass-under-test".into();
    // Database round trips are asked for by naming sea_orm.
    let guard = traces::install(&settings, "info,sea_orm=info", true).unwrap();

    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let answer: serde_json::Value = app
        .client
        .post(app.url("/graphql"))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .json(&json!({"query": "query Traced { viewer { role } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["data"]["viewer"]["role"], "ADMIN", "{answer}");

    // Dropping the guard flushes what is batched (blocking: off the async workers).
    tokio::task::spawn_blocking(move || drop(guard))
        .await
        .unwrap();
    let mut exported = Vec::new();
    while let Ok((path, body)) = received.recv_timeout(Duration::from_secs(10)) {
        assert_eq!(path, "/v1/traces");
        exported.extend(body);
        if contains(&exported, b"Traced") {
            break;
        }
    }
    // OTLP protobuf carries ids as raw bytes and names as UTF-8.
    assert!(
        contains(&exported, &hex_bytes(trace_id)),
        "the caller's trace is continued"
    );
    assert!(
        contains(&exported, &hex_bytes(caller_span)),
        "the request's parent is the caller's span"
    );
    assert!(
        contains(&exported, b"query Traced"),
        "a span per GraphQL operation"
    );
    assert!(contains(&exported, b"POST /graphql"), "a span per request");
    assert!(
        contains(&exported, b"sea_orm."),
        "spans per database round trip"
    );
    assert!(contains(&exported, b"hourglass-under-test"), "service.name");
}
