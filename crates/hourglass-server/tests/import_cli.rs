//! `hourglass import` as an operator runs it, on SQLite and PostgreSQL: a CRM export
//! in CSV with a column mapping, and NDJSON history; rows without a messageId keep
//! their derived one, so a second run stores nothing; rejected rows are reported
//! with their line and reason, and the exit status says so.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::Output;

use hourglass_core::Slug;
use hourglass_storage::{Store, StoreOptions};
use sea_orm::ConnectionTrait as _;
use support::hourglass;

const CSV: &str = "\
Email,Company,Registered At,What,Seconds,Room
ann@acme.example,acme,2026-04-01T10:00:00Z,REGISTRATION,,
bob@acme.example,acme,2026-04-01T11:00:00Z,REGISTRATION,,
ann@acme.example,acme,2026-04-02T10:00:00Z,ATTENDANCE,3300,blue
cy@globex.example,globex,2026-04-02T10:05:00Z,NAPPING,,
\"dee@initech.example\",\"initech, inc\",2026-04-02T10:10:00Z,ATTENDANCE,720,\"red, upstairs\"
";

const MAPPING: &str = "\
[columns]
Email = \"contactId\"
Company = \"organizationId\"
\"Registered At\" = \"occurredAt\"
What = \"kind\"
Seconds = \"value\"
Room = \"properties.room\"

[constants]
campaignId = \"q2-webinar\"
channel = \"webinar\"
";

const NDJSON: &str = "\
{\"messageId\":\"h-1\",\"kind\":\"PAGE_VIEW\",\"occurredAt\":\"2026-03-01T09:00:00Z\",\"anonymousId\":\"v1\"}
{\"kind\":\"CLICK\",\"occurredAt\":\"2026-03-01T09:01:00Z\",\"anonymousId\":\"v1\"}

{\"kind\":\"CLICK\",\"occurredAt\":\"2026-03-01T09:02:00Z\",\"anonymousId\":\"v2\"}
";

fn import(database_url: &str, file: &Path, extra: &[&str]) -> Output {
    hourglass()
        .arg("import")
        .arg(file)
        .args([
            "--agency",
            "acme",
            "--workspace",
            "main",
            "--database-url",
            database_url,
        ])
        .args(extra)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn workspace_with_no_events(database_url: &str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = Store::connect(&StoreOptions::new(database_url))
            .await
            .unwrap();
        store.migrate_up().await.unwrap();
        let tenant = hourglass_server::admin::agency_or_create(&store, "acme", "Acme")
            .await
            .unwrap();
        tenant
            .create_workspace(&Slug::parse("main").unwrap(), "Main")
            .await
            .unwrap();
        store.close().await.unwrap();
    });
}

/// (kind, contact or anonymous id, room property) of every stored event, sorted.
fn stored(database_url: &str) -> Vec<(String, String, Option<String>)> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = Store::connect(&StoreOptions::new(database_url))
            .await
            .unwrap();
        let db = store.connection();
        let room = match db.get_database_backend() {
            sea_orm::DbBackend::Postgres => "e.properties->>'room'",
            _ => "json_extract(e.properties, '$.room')",
        };
        let rows = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!(
                    "SELECT e.kind, COALESCE(c.external_id, e.anonymous_id) AS who, {room} AS room \
                     FROM events e LEFT JOIN contacts c ON c.id = e.contact_id"
                ),
            ))
            .await
            .unwrap();
        let mut events: Vec<_> = rows
            .iter()
            .map(|row| {
                (
                    row.try_get::<String>("", "kind").unwrap(),
                    row.try_get::<String>("", "who").unwrap(),
                    row.try_get::<Option<String>>("", "room").unwrap(),
                )
            })
            .collect();
        events.sort();
        store.close().await.unwrap();
        events
    })
}

fn imports_once_and_reports_what_it_refused(database_url: &str) {
    workspace_with_no_events(database_url);
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("crm-export.csv");
    std::fs::write(&csv, CSV).unwrap();
    let mapping = dir.path().join("crm.toml");
    std::fs::write(&mapping, MAPPING).unwrap();
    let mapping_arg = mapping.to_str().unwrap();

    let first = import(database_url, &csv, &["--mapping", mapping_arg]);
    assert_eq!(
        first.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        stdout(&first).contains("5 rows")
            && stdout(&first).contains("4 stored, 0 already there, 1 rejected"),
        "{}",
        stdout(&first)
    );
    // The refused row, by its line in the file (the header is line 1).
    let report = std::fs::read_to_string(dir.path().join("crm-export.csv.rejected.csv")).unwrap();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines[0], "line,messageId,code,reason");
    assert_eq!(lines.len(), 2, "{report}");
    assert!(lines[1].starts_with("5,row-"), "{report}");
    assert!(lines[1].contains(",UNKNOWN_KIND,"), "{report}");

    // Written down from CSV above: two registrations, two attendances.
    let expected = vec![
        (
            "ATTENDANCE".to_owned(),
            "ann@acme.example".to_owned(),
            Some("blue".to_owned()),
        ),
        (
            "ATTENDANCE".to_owned(),
            "dee@initech.example".to_owned(),
            Some("red, upstairs".to_owned()),
        ),
        (
            "REGISTRATION".to_owned(),
            "ann@acme.example".to_owned(),
            None,
        ),
        (
            "REGISTRATION".to_owned(),
            "bob@acme.example".to_owned(),
            None,
        ),
    ];
    assert_eq!(stored(database_url), expected);

    // Again: every good row is already there.
    let second = import(database_url, &csv, &["--mapping", mapping_arg]);
    assert_eq!(second.status.code(), Some(2));
    assert!(
        stdout(&second).contains("0 stored, 4 already there, 1 rejected"),
        "{}",
        stdout(&second)
    );
    assert_eq!(stored(database_url).len(), 4);

    // NDJSON history: ids derived for lines without one; blank lines skipped.
    let history = dir.path().join("history.ndjson");
    std::fs::write(&history, NDJSON).unwrap();
    let third = import(database_url, &history, &[]);
    assert!(third.status.success(), "{}", stdout(&third));
    assert!(
        stdout(&third).contains("3 stored, 0 already there, 0 rejected"),
        "{}",
        stdout(&third)
    );
    let fourth = import(database_url, &history, &[]);
    assert!(fourth.status.success());
    assert!(
        stdout(&fourth).contains("0 stored, 3 already there"),
        "{}",
        stdout(&fourth)
    );
    assert_eq!(stored(database_url).len(), 7);

    // A column nobody mapped is refused before anything is read.
    let odd = dir.path().join("odd.csv");
    std::fs::write(&odd, "contactId,Favourite colour\nann,blue\n").unwrap();
    let refused = import(database_url, &odd, &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Favourite colour"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(stored(database_url).len(), 7);

    // An unterminated quote would make the rest of the file one record: the import
    // stops there with a clear error, the rows before it stored.
    let runaway = dir.path().join("runaway.csv");
    std::fs::write(
        &runaway,
        format!(
            "messageId,kind,occurredAt,anonymousId\nr1,CLICK,2026-04-01T10:00:00Z,v9\n\
             r2,CLICK,2026-04-01T10:00:01Z,v9\nr3,\"CLICK,{}\n",
            "x,y\n".repeat(40_000)
        ),
    )
    .unwrap();
    let stopped = import(database_url, &runaway, &[]);
    assert_eq!(stopped.status.code(), Some(1), "{}", stdout(&stopped));
    let stderr = String::from_utf8_lossy(&stopped.stderr);
    assert!(stderr.contains("unterminated quote"), "{stderr}");
    assert!(
        stdout(&stopped).contains("2 stored"),
        "{}",
        stdout(&stopped)
    );
    assert_eq!(stored(database_url).len(), 9);
}

#[test]
fn sqlite_imports_once_and_reports_what_it_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("import.db").display()
    );
    imports_once_and_reports_what_it_refused(&url);
}

#[test]
fn postgres_imports_once_and_reports_what_it_refused() {
    support::on_a_fresh_postgres_database("import", imports_once_and_reports_what_it_refused);
}

/// A Segment archive, one message per line: the page view of a visitor who then
/// identifies, her attendance, and a line that is no message.
const SEGMENT: &str = "\
{\"type\":\"page\",\"anonymousId\":\"v9\",\"name\":\"Webinar\",\"timestamp\":\"2026-03-01T09:00:00.000Z\",\"properties\":{\"room\":\"lp\"}}
{\"type\":\"identify\",\"userId\":\"u-1\",\"anonymousId\":\"v9\",\"traits\":{\"email\":\"u1@acme.example\"},\"timestamp\":\"2026-03-01T09:05:00.000Z\"}
{\"type\":\"track\",\"event\":\"Webinar Attended\",\"userId\":\"u-1\",\"messageId\":\"att-1\",\"timestamp\":\"2026-03-02T10:00:00.000Z\",\"properties\":{\"seconds\":1800,\"room\":\"web\"}}
not a message
";

fn imports_a_segment_archive_with_identities(database_url: &str) {
    workspace_with_no_events(database_url);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("segment-archive.jsonl");
    std::fs::write(&file, SEGMENT).unwrap();
    let first = import(database_url, &file, &["--format", "segment"]);
    assert_eq!(first.status.code(), Some(2), "{}", stdout(&first));
    assert!(
        stdout(&first).contains("2 stored, 0 already there, 1 rejected, 1 identifications"),
        "{}",
        stdout(&first)
    );
    // The visitor's page view is hers now.
    let expected = vec![
        (
            "ATTENDANCE".to_owned(),
            "u-1".to_owned(),
            Some("web".to_owned()),
        ),
        (
            "PAGE_VIEW".to_owned(),
            "u-1".to_owned(),
            Some("lp".to_owned()),
        ),
    ];
    assert_eq!(stored(database_url), expected);
    let report =
        std::fs::read_to_string(dir.path().join("segment-archive.jsonl.rejected.csv")).unwrap();
    assert!(report.contains("4,,MALFORMED_EVENT"), "{report}");
    // Run again: the message without an id has one derived from its content.
    let again = import(database_url, &file, &["--format", "segment"]);
    assert!(
        stdout(&again).contains("0 stored, 2 already there"),
        "{}",
        stdout(&again)
    );
    assert_eq!(stored(database_url), expected);
}

#[test]
fn sqlite_imports_a_segment_archive_with_identities() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("segment.db").display()
    );
    imports_a_segment_archive_with_identities(&url);
}

#[test]
fn postgres_imports_a_segment_archive_with_identities() {
    support::on_a_fresh_postgres_database("segment", imports_a_segment_archive_with_identities);
}
