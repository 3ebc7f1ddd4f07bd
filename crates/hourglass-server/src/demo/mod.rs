//! `hourglass demo`: deterministic, realistic workspaces to explore and to measure.
//!
//! Two shapes. The **small** demo (the default) has three campaigns, one webinar
//! funnel, 50 organizations and about 100,000 events over one quarter; tests rely on
//! its numbers. The **b2b** demo is what the bench loads: twenty campaigns, five
//! channels, up to 10,000 organizations in a Zipf-like long tail, anonymous visitors
//! who later become contacts, bursty webinars, spend per campaign/channel/day, one
//! year of business hours in three time zones; it is streamed in batches, so
//! 10,000,000 events never sit in memory. Either way the same seed loads the same
//! data, and loading twice stores nothing new (message ids are deterministic).

use std::time::Instant;

use anyhow::Context as _;
use chrono::Utc;
use hourglass_core::{EventDraft, EventLimits, ExternalId, Slug};
use hourglass_storage::{
    NewAsset, NewCampaign, NewOrganization, StorageError, Store, WorkspaceStore,
};
use indicatif::{ProgressBar, ProgressStyle};

pub mod b2b;
pub mod b2b_catalog;
mod small;
mod small_events;

/// How many events `hourglass demo` generates when not told.
pub const DEFAULT_EVENTS: usize = 100_000;
/// Events per ingest transaction of a demo load.
const LOAD_BATCH: usize = 2_000;

/// The events the small demo loads for `seed` and about `target_events`, exactly as
/// it sends them: for tests that work the demo's figures out on their own.
pub fn small_events(seed: u64, target_events: usize) -> Vec<EventDraft> {
    small_events::Generator::new(seed, target_events).generate()
}

/// Which demo to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoShape {
    /// Three campaigns, one webinar funnel, 50 organizations, one quarter.
    Small,
    /// Twenty campaigns, up to 10,000 organizations, one year, streamed.
    B2b,
}

impl DemoShape {
    /// The shape used when none is named: the small demo up to its default size,
    /// the B2B one above it (the small demo's fixed population does not scale).
    pub fn for_events(events: usize) -> Self {
        if events > DEFAULT_EVENTS {
            Self::B2b
        } else {
            Self::Small
        }
    }
}

/// What a demo load stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoSummary {
    pub accepted: u64,
    pub duplicates: u64,
}

/// Loads the demo of the shape [`DemoShape::for_events`] picks into workspace
/// `slug` of `agency`, creating either if needed.
pub async fn load(
    store: &Store,
    agency: &str,
    slug: &str,
    seed: u64,
    target_events: usize,
) -> anyhow::Result<DemoSummary> {
    let shape = DemoShape::for_events(target_events);
    load_shape(store, agency, slug, seed, target_events, shape).await
}

/// Loads a demo of `shape` into workspace `slug` of `agency`, creating either if needed.
pub async fn load_shape(
    store: &Store,
    agency: &str,
    slug: &str,
    seed: u64,
    target_events: usize,
    shape: DemoShape,
) -> anyhow::Result<DemoSummary> {
    let started = Instant::now();
    let tenant = crate::admin::agency_or_create(store, agency, "Demo agency").await?;
    let slug = Slug::parse(slug)?;
    match tenant
        .create_workspace(&slug, "Demo: Northwind Software")
        .await
    {
        Ok(_) | Err(StorageError::AlreadyExists { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let ws = tenant.workspace(slug.as_str()).await?;
    let summary = match shape {
        DemoShape::Small => {
            small::describe_catalog(&ws).await?;
            let drafts = small_events(seed, target_events);
            let total = drafts.len();
            let batches = drafts.chunks(LOAD_BATCH).map(<[EventDraft]>::to_vec);
            let summary = ingest_batches(&ws, &slug, batches, total).await?;
            small::record_spend(&ws, seed).await?;
            summary
        }
        DemoShape::B2b => {
            describe_b2b(&ws, seed, target_events).await?;
            let batches = b2b::B2bEvents::new(seed, target_events as u64, LOAD_BATCH);
            ingest_batches(&ws, &slug, batches, target_events).await?
        }
    };
    tracing::info!(
        workspace = %slug,
        accepted = summary.accepted,
        duplicates = summary.duplicates,
        seconds = started.elapsed().as_secs_f64(),
        "demo loaded"
    );
    Ok(summary)
}

/// Validates and stores batches one transaction each, with a progress bar.
async fn ingest_batches(
    ws: &WorkspaceStore,
    slug: &Slug,
    batches: impl Iterator<Item = Vec<EventDraft>>,
    total: usize,
) -> anyhow::Result<DemoSummary> {
    let limits = EventLimits {
        max_batch_events: usize::MAX,
        ..EventLimits::default()
    };
    let now = Utc::now();
    let bar = ProgressBar::new(total as u64).with_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} events ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(format!("loading workspace '{slug}'"));
    let mut summary = DemoSummary {
        accepted: 0,
        duplicates: 0,
    };
    for batch in batches {
        let size = batch.len() as u64;
        let events = batch
            .into_iter()
            .map(|d| d.validate(&limits, now))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|r| anyhow::anyhow!("demo generated an invalid event: {}", r.message))?;
        let outcome = ws.ingest(events, now).await?;
        summary.accepted += outcome.accepted;
        summary.duplicates += outcome.duplicates;
        bar.inc(size);
    }
    bar.finish_and_clear();
    Ok(summary)
}

/// Describes the B2B demo's campaigns, assets, organizations and spend.
async fn describe_b2b(ws: &WorkspaceStore, seed: u64, events: usize) -> anyhow::Result<()> {
    use b2b_catalog::{Population, assets, campaigns, organization_id, organization_name, spend};
    let campaigns = campaigns();
    for c in &campaigns {
        ignore_existing(
            ws.create_campaign(NewCampaign {
                id: id(&c.id)?,
                name: c.name.clone(),
                goal: c.goal,
                starts_at: Some(c.starts_at),
                ends_at: Some(c.ends_at),
                budget: Some(c.budget),
                currency: Some("EUR".into()),
            })
            .await,
        )?;
    }
    for a in assets(&campaigns) {
        ignore_existing(
            ws.create_asset(NewAsset {
                url: Some(format!("https://northwind.example/{}", a.id)),
                id: id(&a.id)?,
                kind: a.kind,
                title: Some(a.title),
                duration_seconds: a.duration_seconds,
                landing_page: a.landing_page.as_deref().map(id).transpose()?,
            })
            .await,
        )?;
    }
    for rank in 0..Population::for_events(events as u64).organizations {
        let (name, domain) = organization_name(rank);
        ignore_existing(
            ws.create_organization(NewOrganization {
                id: id(&organization_id(rank))?,
                name: Some(name),
                domain: Some(domain),
            })
            .await,
        )?;
    }
    for s in spend(&campaigns, seed) {
        ws.record_spend(&id(&s.campaign)?, s.channel, s.day, s.amount)
            .await?;
    }
    Ok(())
}

fn id(raw: &str) -> anyhow::Result<ExternalId> {
    ExternalId::parse(raw, "id").with_context(|| format!("demo id {raw}"))
}

/// Creating what exists already is fine: a second load leaves it alone.
fn ignore_existing<T>(result: Result<T, StorageError>) -> anyhow::Result<()> {
    match result {
        Ok(_) | Err(StorageError::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
