//! `hourglass import` beside HTTP ingest: the same events, written to a CSV file (the
//! shape of a CRM or spreadsheet export, properties as `properties.NAME` columns) and
//! imported into a second workspace of the same database right after the HTTP load
//! (so into the larger table: the comparison does not flatter the import). Both
//! workspaces must then give the same KPIs.

use std::path::Path;
use std::time::Instant;

use hourglass_core::EventDraft;
use hourglass_server::demo::b2b::B2bEvents;
use serde_json::json;

use crate::api::{Api, WORKSPACE};
use crate::server::run_cli;
use crate::setup::AGENCY;

const IMPORTED: &str = "bench-import";

/// What the whole workspace counts: the same events give the same figures.
const COUNTS: &str = "query($w: ID!) { kpis(workspace: $w) { impressions pageViews clicks \
    registrations attendances questions uniqueVisitors registrants attendees } }";

/// The CSV columns: the event's fields, then every property the demo's events carry.
const COLUMNS: [&str; 18] = [
    "messageId",
    "kind",
    "occurredAt",
    "contactId",
    "anonymousId",
    "organizationId",
    "campaignId",
    "assetId",
    "channel",
    "value",
    "properties.recipient",
    "properties.to",
    "properties.from",
    "properties.text",
    "properties.currency",
    "properties.deal",
    "properties.survey",
    "properties.referred",
];

/// An event as a row of [`COLUMNS`]; an absent field is an empty cell.
fn row(draft: &EventDraft) -> Vec<String> {
    let text = |field: &Option<String>| field.clone().unwrap_or_default();
    let property = |name: &str| {
        draft
            .properties
            .as_ref()
            .and_then(|p| p.get(name))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let mut cells = vec![
        text(&draft.message_id),
        text(&draft.kind),
        text(&draft.occurred_at),
        text(&draft.contact_id),
        text(&draft.anonymous_id),
        text(&draft.organization_id),
        text(&draft.campaign_id),
        text(&draft.asset_id),
        text(&draft.channel),
        draft.value.map(|v| v.to_string()).unwrap_or_default(),
    ];
    cells.extend(
        COLUMNS[10..]
            .iter()
            .map(|c| property(&c["properties.".len()..])),
    );
    cells
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
        out.write_record(COLUMNS)?;
        for drafts in B2bEvents::new(seed, events, 10_000) {
            for draft in &drafts {
                out.write_record(row(draft))?;
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
