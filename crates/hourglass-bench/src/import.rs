//! `hourglass import` beside HTTP ingest: the same events, written to an NDJSON file
//! and imported into a second workspace of the same database right after the HTTP
//! load (so into the larger table: the comparison does not flatter the import).
//! Both workspaces must then give the same KPIs.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::time::Instant;

use hourglass_server::demo::b2b::B2bEvents;
use serde_json::json;

use crate::api::{Api, WORKSPACE};
use crate::server::run_cli;
use crate::setup::AGENCY;

const IMPORTED: &str = "bench-import";

/// What the whole workspace counts: the same events give the same figures.
const COUNTS: &str = "query($w: ID!) { kpis(workspace: $w) { impressions pageViews clicks \
    registrations attendances questions uniqueVisitors registrants attendees } }";

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
    let file = dir.path().join("events.ndjson");
    {
        let mut out = BufWriter::new(File::create(&file)?);
        for drafts in B2bEvents::new(seed, events, 10_000) {
            for draft in &drafts {
                serde_json::to_writer(&mut out, draft)?;
                out.write_all(b"\n")?;
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
