//! `hourglass backup` as an operator runs it: while a server ingests batches as fast
//! as it can, the copy is taken from another process. A server started on the copy
//! must hold exactly the batches acknowledged up to some point — every one
//! acknowledged before the backup began, none cut in half — and answer KPIs exactly
//! as a server fed only those batches does, before and after `rollups rebuild`.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{HTTP, Server, graphql_data, hourglass, run_ok as run, stored_message_ids};

const EVENTS_PER_BATCH: usize = 40;
/// Batches acknowledged before the backup starts, so it falls mid-stream.
const BEFORE_BACKUP: usize = 8;
const AGENCY: &str = "backups";
const WORKSPACE: &str = "bk";
/// The client sends as fast as it can; the rate limit is not under test.
const NO_RATE_LIMIT: &[(&str, &str)] = &[("HOURGLASS_RATE_LIMIT__REQUESTS_PER_SECOND", "0")];

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// A GraphQL answer's `data` with `$ws` set to the workspace.
fn graphql(address: &str, key: &str, query: &str) -> Value {
    graphql_data(address, key, query, json!({ "ws": WORKSPACE }))
}

/// An agency, an ADMIN key and the workspace, on a running server; the key.
fn tenant(server: &Server, database_url: &str) -> String {
    run(&["admin", "create-agency", AGENCY], database_url);
    let key = run(
        &["admin", "create-key", "--agency", AGENCY, "--role", "ADMIN"],
        database_url,
    );
    let key = key.trim().to_owned();
    graphql(
        &server.address,
        &key,
        "mutation { createWorkspace(slug: \"bk\", name: \"Backups\") { slug } }",
    );
    key
}

fn message_id(batch: usize, event: usize) -> String {
    format!("bk-{batch:04}-{event:02}")
}

/// A batch of several kinds and people: contacts of a few organizations, anonymous
/// visitors, and in every batch one visitor of the batch before who signs up (their
/// earlier events become the contact's, renumbering people in the rollups).
fn ndjson(batch: usize) -> String {
    const KINDS: [&str; 4] = ["IMPRESSION", "PAGE_VIEW", "CLICK", "REGISTRATION"];
    const CHANNELS: [&str; 3] = ["email", "social", "paid_search"];
    (0..EVENTS_PER_BATCH)
        .map(|event| {
            let kind = KINDS[(batch + event) % KINDS.len()];
            let mut line = json!({
                "messageId": message_id(batch, event),
                "kind": kind,
                "occurredAt": format!("2026-10-{:02}T{:02}:{:02}:00Z", 1 + batch % 28, event % 24, batch % 60),
                "campaignId": format!("campaign-{}", batch % 3),
                "channel": CHANNELS[event % 3],
            });
            if matches!(kind, "PAGE_VIEW" | "REGISTRATION") {
                line["assetId"] = json!("landing");
            }
            if event % 5 == 0 {
                line["anonymousId"] = json!(format!("v-{batch}-{event}"));
            } else {
                line["contactId"] = json!(format!("c-{}", (batch * 7 + event) % 61));
                line["organizationId"] = json!(format!("org-{}", (batch + event) % 11));
            }
            if event == 1 && batch > 0 {
                line["anonymousId"] = json!(format!("v-{}-0", batch - 1));
                line["contactId"] = json!(format!("c-signup-{batch}"));
            }
            format!("{line}\n")
        })
        .collect()
}

fn send(address: &str, key: &str, batch: usize) {
    let response = HTTP
        .post(format!("http://{address}/v1/events?workspace={WORKSPACE}"))
        .bearer_auth(key)
        .header("content-type", "application/x-ndjson")
        .body(ndjson(batch))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200, "batch {batch}");
    let report: Value = response.json().unwrap();
    assert_eq!(
        (&report["accepted"], &report["rejected"]),
        (&json!(EVENTS_PER_BATCH), &json!([])),
        "batch {batch}: {report}"
    );
}

/// Counts, distinct people and rates, overall and for one channel and one campaign.
const KPIS: &str = "query($ws: ID!) {
  all: kpis(workspace: $ws) {
    impressions pageViews clicks registrations uniqueVisitors landingPageViewers registrants
    eventCounts { kind count }
    clickThroughRate { value n lower upper sufficient }
    registrationRate { value n lower upper }
  }
  social: kpis(workspace: $ws, filter: { channel: \"social\" }) { clicks uniqueVisitors registrants }
  campaign: kpis(workspace: $ws, filter: { campaign: \"campaign-1\", from: \"2026-10-03T00:00:00Z\", to: \"2026-10-20T12:00:00Z\" }) {
    impressions uniqueVisitors registrants clickThroughRate { value n }
  }
}";

#[test]
fn a_backup_taken_during_ingest_restores_a_whole_prefix_of_batches() {
    let dir = tempfile::tempdir().unwrap();
    let live_url = sqlite_url(&dir.path().join("live.db"));
    let server = Server::start(&live_url, NO_RATE_LIMIT);
    let key = tenant(&server, &live_url);

    // One sender, so batches are acknowledged in order: what any copy may hold is a
    // prefix of them.
    let acknowledged = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let copy = dir.path().join("copy.db");
    let (before, output, after) = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut batch = 0;
            while !stop.load(Ordering::SeqCst) {
                send(&server.address, &key, batch);
                batch += 1;
                acknowledged.store(batch, Ordering::SeqCst);
            }
        });
        let wait_for = |n: usize| {
            let deadline = Instant::now() + Duration::from_secs(120);
            while acknowledged.load(Ordering::SeqCst) < n {
                if Instant::now() > deadline {
                    stop.store(true, Ordering::SeqCst);
                    panic!(
                        "only {} batches acknowledged",
                        acknowledged.load(Ordering::SeqCst)
                    );
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        wait_for(BEFORE_BACKUP);
        let before = acknowledged.load(Ordering::SeqCst);
        let output = hourglass()
            .arg("backup")
            .arg(&copy)
            .args(["--database-url", &live_url])
            .output()
            .unwrap();
        let after = acknowledged.load(Ordering::SeqCst);
        // Ingest goes on after the copy, as it would on a live server.
        wait_for(after + 3);
        stop.store(true, Ordering::SeqCst);
        (before, output, after)
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(&copy.display().to_string()), "{stdout}");
    drop(server);

    // A server on the copy holds whole batches, and every batch acknowledged before
    // the backup began.
    let copy_url = sqlite_url(&copy);
    let restored = Server::start(&copy_url, &[]);
    let viewer = HTTP
        .post(format!("http://{}/graphql", restored.address))
        .bearer_auth(&key)
        .json(&json!({ "query": "{ viewer { role } }" }))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        viewer.contains("\"ADMIN\""),
        "the copy does not know the key made before the backup, so writes acknowledged \
         before it began are missing: {viewer}"
    );
    let stored = stored_message_ids(&restored.address, &key, WORKSPACE);
    assert_eq!(
        stored.len() % EVENTS_PER_BATCH,
        0,
        "the copy holds part of a batch: {} events",
        stored.len()
    );
    let batches = stored.len() / EVENTS_PER_BATCH;
    let expected: BTreeSet<String> = (0..batches)
        .flat_map(|b| (0..EVENTS_PER_BATCH).map(move |e| message_id(b, e)))
        .collect();
    assert_eq!(stored.iter().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(
        (before..=after + 1).contains(&batches),
        "the copy holds {batches} batches; {before} were acknowledged before the backup \
         began and {after} when it ended"
    );
    eprintln!("copy of {batches} batches; {before} acknowledged before the backup, {after} after");
    let kpis = graphql(&restored.address, &key, KPIS);
    drop(restored);

    // The same batches fed to a fresh server give the same answers.
    let reference_url = sqlite_url(&dir.path().join("reference.db"));
    let reference = Server::start(&reference_url, NO_RATE_LIMIT);
    let reference_key = tenant(&reference, &reference_url);
    for batch in 0..batches {
        send(&reference.address, &reference_key, batch);
    }
    let expected_kpis = graphql(&reference.address, &reference_key, KPIS);
    assert_eq!(
        expected_kpis["all"]["pageViews"].as_u64().unwrap() > 0,
        batches > 0
    );
    assert_eq!(kpis, expected_kpis);

    // Rebuilding the copy's rollups from its raw events changes no answer.
    let rebuilt = run(&["rollups", "rebuild"], &copy_url);
    assert!(
        rebuilt.contains(&format!("workspace '{WORKSPACE}': {} events", stored.len())),
        "{rebuilt}"
    );
    let restored = Server::start(&copy_url, &[]);
    assert_eq!(graphql(&restored.address, &key, KPIS), expected_kpis);
}

#[test]
fn a_backup_never_overwrites_unless_told_and_points_postgres_at_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("live.db"));
    run(&["admin", "create-agency", AGENCY], &url);
    let copy = dir.path().join("copy.db");
    std::fs::write(&copy, "yesterday's copy").unwrap();
    let backup = |extra: &[&str], url: &str| {
        hourglass()
            .arg("backup")
            .arg(&copy)
            .args(extra)
            .args(["--database-url", url])
            .output()
            .unwrap()
    };
    let one_error_line = |output: &std::process::Output| {
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        stderr
    };

    let refused = one_error_line(&backup(&[], &url));
    assert!(
        refused.contains("exists already") && refused.contains("--force"),
        "{refused}"
    );
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), "yesterday's copy");

    let replaced = backup(&["--force"], &url);
    assert!(replaced.status.success(), "{replaced:?}");
    assert!(std::fs::metadata(&copy).unwrap().len() > 1000);

    let missing = sqlite_url(&dir.path().join("nothing-here.db"));
    let refused = one_error_line(&backup(&["--force"], &missing));
    assert!(refused.contains("no database at"), "{refused}");
    assert!(
        !dir.path().join("nothing-here.db").exists(),
        "a backup created a database"
    );

    let refused = one_error_line(&backup(&[], "postgres://app:s3cret@127.0.0.1:1/hourglass"));
    assert!(refused.contains("pg_dump --format=custom"), "{refused}");
    assert!(!refused.contains("s3cret"), "{refused}");
}
