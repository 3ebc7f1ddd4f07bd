//! A fresh database made ready the way an operator and a client would: migrations,
//! an agency and an ADMIN key through the `hourglass` CLI, then the workspace, the
//! B2B demo's campaigns, assets and spend through GraphQL mutations.

use std::path::Path;

use anyhow::Context as _;
use hourglass_server::demo::b2b_catalog::{self, AssetSpec};

use crate::api::{Api, WORKSPACE};
use crate::server::run_cli;

/// The agency the bench's workspace belongs to.
pub const AGENCY: &str = "bench";

/// Migrates the database, creates the agency and returns a new ADMIN key.
pub fn prepare_database(hourglass: &Path, database_url: &str) -> anyhow::Result<String> {
    run_cli(hourglass, database_url, &["migrate", "up"])?;
    run_cli(hourglass, database_url, &["admin", "create-agency", AGENCY])?;
    let key = run_cli(
        hourglass,
        database_url,
        &[
            "admin",
            "create-key",
            "--agency",
            AGENCY,
            "--role",
            "ADMIN",
            "--name",
            "bench",
        ],
    )?;
    let key = key.trim().to_owned();
    anyhow::ensure!(key.starts_with("hg_"), "unexpected key output: {key}");
    Ok(key)
}

/// Aliased mutations per operation and operations per request: the server's
/// default `max_aliases` (30) and `max_batch_operations` (10).
const ALIASES: usize = 30;
const OPERATIONS: usize = 10;

/// Sends mutation fields `fields` (each `alias: mutation(…) { … }`) in as few
/// requests as the server's limits allow, in order.
async fn send_mutations(api: &Api, fields: Vec<String>) -> anyhow::Result<()> {
    let operations: Vec<String> = fields
        .chunks(ALIASES)
        .map(|chunk| format!("mutation {{ {} }}", chunk.join(" ")))
        .collect();
    for batch in operations.chunks(OPERATIONS) {
        api.graphql_batch(batch).await?;
    }
    Ok(())
}

fn quoted(s: &str) -> anyhow::Result<String> {
    Ok(serde_json::to_string(s)?)
}

fn asset_mutation(i: usize, a: &AssetSpec) -> anyhow::Result<String> {
    let mut input = format!(
        "id: {}, kind: {}, title: {}",
        quoted(&a.id)?,
        a.kind.as_str(),
        quoted(&a.title)?
    );
    if let Some(d) = a.duration_seconds {
        input.push_str(&format!(", durationSeconds: {d}"));
    }
    if let Some(lp) = &a.landing_page {
        input.push_str(&format!(", landingPage: {}", quoted(lp)?));
    }
    Ok(format!(
        "a{i}: createAsset(workspace: \"{WORKSPACE}\", input: {{{input}}}) {{ id }}"
    ))
}

/// Creates the workspace and describes the B2B demo's catalog and spend.
pub async fn describe_workspace(api: &Api, seed: u64) -> anyhow::Result<()> {
    api.graphql(
        &format!(
            "mutation {{ createWorkspace(slug: \"{WORKSPACE}\", name: \"Bench\") {{ slug }} }}"
        ),
        serde_json::json!({}),
    )
    .await
    .context("creating the workspace")?;
    let campaigns = b2b_catalog::campaigns();
    let mut fields = Vec::new();
    for (i, c) in campaigns.iter().enumerate() {
        fields.push(format!(
            "c{i}: createCampaign(workspace: \"{WORKSPACE}\", input: {{id: {}, name: {}, goal: {}, \
             startsAt: \"{}\", endsAt: \"{}\", budget: {}, currency: \"EUR\"}}) {{ id }}",
            quoted(&c.id)?,
            quoted(&c.name)?,
            c.goal.as_str(),
            c.starts_at.to_rfc3339(),
            c.ends_at.to_rfc3339(),
            c.budget
        ));
    }
    send_mutations(api, fields).await?;
    // Landing pages first: the webinars name them.
    let (pages, others): (Vec<_>, Vec<_>) = b2b_catalog::assets(&campaigns)
        .into_iter()
        .partition(|a| a.landing_page.is_none());
    for group in [pages, others] {
        let fields = group
            .iter()
            .enumerate()
            .map(|(i, a)| asset_mutation(i, a))
            .collect::<anyhow::Result<Vec<_>>>()?;
        send_mutations(api, fields).await?;
    }
    let fields = b2b_catalog::spend(&campaigns, seed)
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "s{i}: recordSpend(workspace: \"{WORKSPACE}\", campaign: \"{}\", channel: \"{}\", \
                 day: \"{}\", amount: {}) {{ amount }}",
                s.campaign, s.channel, s.day, s.amount
            )
        })
        .collect();
    send_mutations(api, fields).await
}
