//! `scripts/bench`: loads the demo at a chosen size, then times KPI queries over HTTP
//! against the real server. Prints figures, asserts nothing: speed goals are read
//! from these numbers, not from timed tests.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use hourglass_core::Role;
use hourglass_server::{Application, Settings};
use hourglass_storage::{Store, StoreOptions};
use serde_json::{Value, json};

mod scripts;

#[derive(Debug, Parser)]
#[command(
    about = "Ingest throughput and KPI latency of hourglass; custom KPI scripts against native Rust"
)]
struct Args {
    /// Only the custom KPI benchmark (script against native Rust), no database.
    #[arg(long)]
    scripts: bool,
    /// Organizations in the script benchmark.
    #[arg(long, default_value_t = 10_000)]
    organizations: usize,
    /// Events per organization in the script benchmark.
    #[arg(long, default_value_t = 100)]
    events_per_organization: usize,
    /// Database to load into (default: a temporary SQLite file). It must be empty or
    /// hold a previous bench run's workspace.
    #[arg(long)]
    database_url: Option<String>,
    /// How many demo events to load.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// How many times to run each query.
    #[arg(long, default_value_t = 20)]
    repeat: usize,
}

const QUERIES: &[(&str, &str)] = &[
    (
        "viewer: authentication and nothing else",
        "{ viewer { role } }",
    ),
    (
        "kpis, whole workspace",
        "{ kpis(workspace: \"bench\") { impressions clicks uniqueVisitors clickThroughRate { value n } registrationRate { value n } attendanceRate { value n } spend } }",
    ),
    (
        "kpis, one campaign and channel, one month",
        "{ kpis(workspace: \"bench\", filter: {campaign: \"q3-webinar\", channel: \"social\", from: \"2026-08-01T00:00:00Z\", to: \"2026-09-01T00:00:00Z\"}) { impressions clicks clickThroughRate { value n } } }",
    ),
    (
        "kpis, one organization",
        "{ kpis(workspace: \"bench\", filter: {organization: \"org-001\"}) { pageViews uniqueVisitors registrationRate { value n } } }",
    ),
    (
        "funnel of the webinar",
        "{ funnel(workspace: \"bench\", asset: \"webinar-pipeline\") { steps { name count } } }",
    ),
    (
        "events, first page of 50",
        "{ events(workspace: \"bench\", first: 50) { edges { node { messageId kind occurredAt } } } }",
    ),
];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.scripts {
        return scripts::run(args.organizations, args.events_per_organization);
    }
    let dir = tempfile::tempdir()?;
    let url = args.database_url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        )
    });
    let store = Store::connect(&StoreOptions::new(&url)).await?;
    store.migrate_up().await?;
    let backend = format!("{:?}", store.backend());

    let started = Instant::now();
    let summary = hourglass_server::demo::load(&store, "bench", "bench", 42, args.events)
        .await
        .context("loading the demo")?;
    let load = started.elapsed();
    println!("backend: {backend}");
    println!(
        "ingest: {} events in {:.1} s = {:.0} events/s (one transaction per 2,000-event batch)",
        summary.accepted,
        load.as_secs_f64(),
        summary.accepted as f64 / load.as_secs_f64()
    );
    let tenant = store.agency_tenant("bench").await?;
    let key = hourglass_server::admin::issue_key(&tenant, None, Role::Read, "bench")
        .await?
        .secret
        .reveal();
    store.close().await?;

    let mut settings = Settings {
        bind: "127.0.0.1:0".into(),
        database_url: url,
        log_level: "warn".into(),
        ..Settings::default()
    };
    // Measure queries, not the per-key rate limit.
    settings.rate_limit.requests_per_second = 0;
    let app = Application::build(settings).await?;
    let address = app.address();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    println!(
        "\n{:<45} {:>8} {:>8} {:>8}  (ms over HTTP, {} runs)",
        "query", "p50", "p95", "max", args.repeat
    );
    for (name, query) in QUERIES {
        let mut times = Vec::with_capacity(args.repeat);
        for _ in 0..args.repeat {
            let started = Instant::now();
            let answer: Value = client
                .post(format!("http://{address}/graphql"))
                .bearer_auth(&key)
                .json(&json!({ "query": query }))
                .send()
                .await?
                .json()
                .await?;
            times.push(started.elapsed());
            anyhow::ensure!(answer.get("errors").is_none(), "{name}: {answer}");
        }
        times.sort();
        println!(
            "{name:<45} {:>8} {:>8} {:>8}",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95)),
            ms(percentile(&times, 1.0))
        );
    }
    Ok(())
}
