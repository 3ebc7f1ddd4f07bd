//! The `hourglass` binary as an operator runs it.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{Server, hourglass};

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}?mode=rwc", dir.path().join("cli.db").display())
}

fn http_get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// POSTs a GraphQL query with an API key; the whole HTTP response as text.
fn graphql_with_key(address: &str, key: &str, query: &str) -> String {
    let body = serde_json::json!({ "query": query }).to_string();
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /graphql HTTP/1.0\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn serve_answers_then_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&sqlite_url(&dir), &[]);
    let health = http_get(&server.address, "/health");
    assert!(
        health.starts_with("HTTP/1.0 200") || health.starts_with("HTTP/1.1 200"),
        "{health}"
    );
    assert!(health.contains("\"status\":\"ok\""), "{health}");

    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
}

#[test]
fn admin_bootstraps_an_agency_whose_key_works_once_and_can_be_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let admin = |args: &[&str]| {
        hourglass()
            .arg("admin")
            .args(args)
            .args(["--database-url", &url])
            .output()
            .unwrap()
    };
    let created = admin(&["create-agency", "northwind", "--name", "Northwind"]);
    assert!(created.status.success(), "{created:?}");
    let again = admin(&["create-agency", "northwind"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let issued = admin(&["create-key", "--agency", "northwind", "--role", "read"]);
    assert!(issued.status.success(), "{issued:?}");
    // stdout is the key and nothing else, so `KEY=$(hourglass admin create-key …)` works.
    let key = String::from_utf8(issued.stdout)
        .unwrap()
        .trim_end()
        .to_owned();
    assert!(
        key.starts_with("hg_") && !key.contains(char::is_whitespace),
        "{key}"
    );
    let public_id = key.split('_').nth(1).unwrap().to_owned();

    let listed = String::from_utf8(admin(&["list-keys", "--agency", "northwind"]).stdout).unwrap();
    assert!(
        listed.contains(&public_id) && listed.contains("READ"),
        "{listed}"
    );
    assert!(!listed.contains(&key), "a listing never shows a secret");

    for (args, complaint) in [
        (
            &["create-key", "--agency", "nobody", "--role", "READ"][..],
            "agency 'nobody' was not found",
        ),
        (
            &["create-key", "--agency", "northwind", "--role", "OWNER"][..],
            "role",
        ),
        (
            &[
                "create-key",
                "--agency",
                "northwind",
                "--workspace",
                "none",
                "--role",
                "READ",
            ][..],
            "workspace 'none' was not found",
        ),
    ] {
        let refused = admin(args);
        assert!(!refused.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains(complaint), "{args:?}: {stderr}");
    }

    // The server trusts a verified key for a second; the CLI is another process, so
    // its revocation reaches the server through the database within that second.
    let server = Server::start(&url, &[("HOURGLASS_AUTH__KEY_CACHE_SECONDS", "1")]);
    let address = &server.address;
    let answer = graphql_with_key(address, &key, "{ viewer { agency { slug } role } }");
    let verified = Instant::now();
    assert!(answer.contains("\"slug\":\"northwind\""), "{answer}");
    assert!(answer.contains("\"role\":\"READ\""), "{answer}");

    let revoked = admin(&["revoke-key", "--agency", "northwind", &public_id]);
    assert!(revoked.status.success(), "{revoked:?}");
    let refused = loop {
        let answer = graphql_with_key(address, &key, "{ viewer { role } }");
        if !answer.contains("\"role\":\"READ\"") {
            break answer;
        }
        assert!(
            verified.elapsed() < Duration::from_secs(3),
            "a revoked key still works {:?} after it was verified",
            verified.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        refused.starts_with("HTTP/1.0 401") || refused.starts_with("HTTP/1.1 401"),
        "{refused}"
    );
    assert!(refused.contains("UNAUTHENTICATED"), "{refused}");
}

#[test]
fn migrate_applies_lists_and_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let run = |args: &[&str]| {
        let output = hourglass()
            .args(args)
            .args(["--database-url", &url])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    assert!(run(&["migrate", "status"]).starts_with("pending "));
    assert!(run(&["migrate", "up"]).starts_with("applied "));
    assert!(run(&["migrate", "down", "--steps", "1"]).contains("pending "));
}

#[test]
fn a_misspelled_environment_setting_stops_the_start_with_a_clear_message() {
    let output = hourglass()
        .args(["migrate", "status"])
        .env("HOURGLASS_DATABSE_URL", "sqlite://x.db")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("databse_url"), "{stderr}");
}

#[test]
fn schema_prints_the_committed_sdl() {
    let output = hourglass().arg("schema").output().unwrap();
    assert!(output.status.success());
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../schema.graphql"))
            .unwrap();
    assert!(
        String::from_utf8(output.stdout).unwrap() == committed,
        "`hourglass schema` differs from schema.graphql; see tests/tests/contracts.rs"
    );
}

#[test]
fn rollups_rebuild_recomputes_every_event_the_demo_stored() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let run = |args: &[&str]| {
        let output = hourglass()
            .args(args)
            .args(["--database-url", &url])
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, demo, stderr) = run(&["demo", "--events", "3000"]);
    assert!(ok, "{stderr}");
    // "demo workspace 'demo' of agency 'demo': N events stored, …"
    let stored: u64 = demo
        .split("': ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no event count in {demo}"));
    assert!(stored > 1_000, "{demo}");

    let (ok, all, stderr) = run(&["rollups", "rebuild"]);
    assert!(ok, "{stderr}");
    assert!(
        all.contains(&format!("workspace 'demo': {stored} events, ")),
        "{all}"
    );
    // The same workspace by name computes the same rows again.
    let (ok, one, stderr) = run(&[
        "rollups",
        "rebuild",
        "--agency",
        "demo",
        "--workspace",
        "demo",
    ]);
    assert!(ok, "{stderr}");
    assert_eq!(one, all);

    let (ok, _, stderr) = run(&["rollups", "rebuild", "--workspace", "demo"]);
    assert!(!ok, "--workspace needs --agency");
    assert!(stderr.contains("--agency"), "{stderr}");
    let (ok, _, stderr) = run(&[
        "rollups",
        "rebuild",
        "--agency",
        "demo",
        "--workspace",
        "nowhere",
    ]);
    assert!(!ok);
    assert!(stderr.contains("nowhere"), "{stderr}");
}
