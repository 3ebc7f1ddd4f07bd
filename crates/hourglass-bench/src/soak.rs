//! Memory over a long run: the server, as deployed (answer cache on), takes live
//! ingest at a steady rate while dashboards keep asking, and its resident memory is
//! sampled. Every batch changes the workspace's data version, so cached answers keep
//! being retired and recomputed: what should stay flat is exactly what a leak, an
//! unbounded cache or a growing buffer would make grow.
//!
//! The first minute is warm-up (allocator arenas, the database's page cache, the
//! answer cache filling up); the sample at its end is the reference every later one
//! is compared with.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::time::MissedTickBehavior;

use crate::api::Api;
use crate::arrival::Arrival;
use crate::dashboard::report_query;
use crate::ingest::BATCH;
use crate::report::{Goal, Row};
use crate::server::Server;

/// How long the run warms up before its reference sample.
const WARM_UP: Duration = Duration::from_secs(60);
/// How often resident memory is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Dashboard clients, each asking again after a short pause.
const DASHBOARDS: usize = 2;
const DASHBOARD_PAUSE: Duration = Duration::from_millis(100);
/// How far memory may move from the reference: ± 10 %.
const FLAT: f64 = 0.10;

/// What a soak run asks for.
#[derive(Debug, Clone, Copy)]
pub struct Soak {
    pub duration: Duration,
    /// Events per second sent, in batches of [`BATCH`].
    pub rate: u64,
    pub seed: u64,
}

/// Resident memory samples `(seconds since the start, MB)` and what was sent.
#[derive(Debug)]
struct Samples {
    memory: Vec<(f64, f64)>,
    events: u64,
    dashboards: u64,
    seconds: f64,
}

/// Runs the soak against `server` and returns its table rows.
pub async fn run(api: &Api, server: &Server, soak: Soak) -> anyhow::Result<Vec<Row>> {
    anyhow::ensure!(
        soak.duration > WARM_UP + SAMPLE_EVERY,
        "a soak must last longer than its {} s warm-up",
        WARM_UP.as_secs()
    );
    let samples = sample(api, server, soak).await?;
    let reference = samples
        .memory
        .iter()
        .find(|(at, _)| *at >= WARM_UP.as_secs_f64())
        .map(|(_, mb)| *mb)
        .ok_or_else(|| anyhow::anyhow!("no memory sample after the warm-up"))?;
    let after: Vec<f64> = samples
        .memory
        .iter()
        .filter(|(at, _)| *at >= WARM_UP.as_secs_f64())
        .map(|(_, mb)| *mb)
        .collect();
    let highest = after.iter().copied().fold(f64::MIN, f64::max);
    let lowest = after.iter().copied().fold(f64::MAX, f64::min);
    let last = after.last().copied().unwrap_or(reference);
    let minutes = samples.seconds / 60.0;
    Ok(vec![
        Row::new(
            format!(
                "soak: live ingest sent at {} ev/s for {minutes:.1} min (achieved)",
                soak.rate
            ),
            samples.events as f64 / samples.seconds,
            "ev/s",
        )
        .baseline(soak.rate as f64),
        Row::new(
            format!(
                "soak: dashboard reports answered meanwhile ({DASHBOARDS} clients), per second"
            ),
            samples.dashboards as f64 / samples.seconds,
            "req/s",
        ),
        Row::new(
            format!(
                "soak: highest VmRSS after the warm-up vs at {} s",
                WARM_UP.as_secs()
            ),
            highest,
            "MB",
        )
        .baseline(reference)
        .goal(Goal::RatioAtMost(1.0 + FLAT)),
        Row::new(
            format!(
                "soak: lowest VmRSS after the warm-up vs at {} s",
                WARM_UP.as_secs()
            ),
            lowest,
            "MB",
        )
        .baseline(reference)
        .goal(Goal::RatioAtLeast(1.0 - FLAT)),
        Row::new("soak: VmRSS at the end vs at the warm-up", last, "MB")
            .baseline(reference)
            .goal(Goal::RatioAtMost(1.0 + FLAT)),
    ])
}

async fn sample(api: &Api, server: &Server, soak: Soak) -> anyhow::Result<Samples> {
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));

    let ingest = {
        let (api, stop, sent) = (api.clone(), stop.clone(), sent.clone());
        let events = soak.rate * soak.duration.as_secs() + BATCH as u64;
        tokio::spawn(async move {
            let (bodies, mut receiver) = tokio::sync::mpsc::channel(4);
            let producer = std::thread::spawn(move || {
                for batch in Arrival::Live.batches(soak.seed, events, BATCH) {
                    let mut body = Vec::with_capacity(batch.len() * 400);
                    for draft in &batch {
                        if serde_json::to_writer(&mut body, draft).is_err() {
                            return;
                        }
                        body.push(b'\n');
                    }
                    if bodies.blocking_send(body).is_err() {
                        return;
                    }
                }
            });
            let mut tick = tokio::time::interval(Duration::from_secs_f64(
                BATCH as f64 / soak.rate.max(1) as f64,
            ));
            // A batch that could not go out on time goes out late; the rate achieved
            // then says the server could not keep up.
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let Some(body) = receiver.recv().await else {
                    break;
                };
                let stored = api.ingest_ndjson(body).await?;
                sent.fetch_add(stored, Ordering::Relaxed);
            }
            drop(receiver);
            producer
                .join()
                .map_err(|_| anyhow::anyhow!("the event producer panicked"))?;
            anyhow::Ok(())
        })
    };

    let mut dashboards = Vec::new();
    for _ in 0..DASHBOARDS {
        let (api, stop, answered) = (api.clone(), stop.clone(), answered.clone());
        dashboards.push(tokio::spawn(async move {
            let query = report_query();
            let variables = json!({ "filter": { "campaign": crate::CAMPAIGN } });
            while !stop.load(Ordering::Relaxed) {
                api.graphql(&query, variables.clone()).await?;
                answered.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(DASHBOARD_PAUSE).await;
            }
            anyhow::Ok(())
        }));
    }

    let mut memory = Vec::new();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    while started.elapsed() < soak.duration {
        tick.tick().await;
        let (rss, _) = server.memory_mb()?;
        let at = started.elapsed().as_secs_f64();
        eprintln!(
            "  {at:>5.0} s  VmRSS {rss:>6.1} MB  {} events stored",
            sent.load(Ordering::Relaxed)
        );
        memory.push((at, rss));
    }
    stop.store(true, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    ingest.await??;
    for dashboard in dashboards {
        dashboard.await??;
    }
    Ok(Samples {
        memory,
        events: sent.load(Ordering::Relaxed),
        dashboards: answered.load(Ordering::Relaxed),
        seconds,
    })
}
