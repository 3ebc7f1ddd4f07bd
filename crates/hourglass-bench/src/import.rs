//! `hourglass import` beside HTTP ingest: the same events, written to a CSV file (the
//! shape of a CRM or spreadsheet export, properties as `properties.NAME` columns) and
//! imported into a second workspace of the same database right after the HTTP load
//! (so into the larger table: the comparison does not flatter the import). Both
//! workspaces must then give the same KPIs.

use std::path::Path;
use std::time::Instant;

use hourglass_core::EventDraft;
use hourglass_server::demo::b2b::B2bEvents;
use hourglass_server::import_cli::FIELDS;
use serde_json::{Value, json};

use crate::api::{Api, WORKSPACE};
use crate::server::run_cli;
use crate::setup::AGENCY;

const IMPORTED: &str = "bench-import";

/// What the whole workspace counts: the same events give the same figures.
const COUNTS: &str = "query($w: ID!) { kpis(workspace: $w) { impressions pageViews clicks \
    registrations attendances questions uniqueVisitors registrants attendees } }";

/// The properties the demo's events carry, each a `properties.NAME` column after the
/// fields a CSV import reads (`import_cli::FIELDS`).
const PROPERTIES: [&str; 8] = [
    "recipient",
    "to",
    "from",
    "text",
    "currency",
    "deal",
    "survey",
    "referred",
];

fn header() -> Vec<String> {
    FIELDS
        .iter()
        .map(|f| (*f).to_owned())
        .chain(PROPERTIES.iter().map(|p| format!("properties.{p}")))
        .collect()
}

/// An event as a row of [`header`]: each field as the event's JSON spells it (the
/// names the import reads back); an absent one is an empty cell.
fn row(draft: &EventDraft) -> anyhow::Result<Vec<String>> {
    let event = serde_json::to_value(draft)?;
    let cell = |value: &Value| match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    Ok(FIELDS
        .iter()
        .map(|f| cell(&event[*f]))
        .chain(PROPERTIES.iter().map(|p| cell(&event["properties"][*p])))
        .collect())
}

/// Imports the seed's events from a file; the rate in events per second.
pub async fn from_file(
    hourglass: &Path,
    database_url: &str,
    api: &Api,
    seed: u64,
    events: u64,
) -> anyhow::Result<f64> {
    api.graphql(
        "mutation($w: String!) { createWorkspace(slug: $w, name: \"Imported\") { slug } }",
        json!({ "w": IMPORTED }),
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("events.csv");
    {
        let mut out = csv::Writer::from_path(&file)?;
        out.write_record(header())?;
        for drafts in B2bEvents::new(seed, events, 10_000) {
            for draft in &drafts {
                out.write_record(row(draft)?)?;
            }
        }
        out.flush()?;
    }
    let path = file.to_string_lossy();
    let started = Instant::now();
    run_cli(
        hourglass,
        database_url,
        &["import", &path, "--agency", AGENCY, "--workspace", IMPORTED],
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let loaded = api.graphql(COUNTS, json!({ "w": WORKSPACE })).await?;
    let imported = api.graphql(COUNTS, json!({ "w": IMPORTED })).await?;
    anyhow::ensure!(
        loaded == imported,
        "the imported workspace differs from the one loaded over HTTP: {imported} vs {loaded}"
    );
    Ok(events as f64 / seconds.max(1e-9))
}
