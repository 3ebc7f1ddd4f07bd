//! Memory over a long run: the server, as deployed (answer cache on), takes live
//! ingest at a steady rate while dashboards keep asking, and its resident memory is
//! sampled. Every batch changes the workspace's data version, so cached answers keep
//! being retired and recomputed: what should stay flat is exactly what a leak, an
//! unbounded cache or a growing buffer would make grow.
//!
//! The first minute is warm-up (allocator arenas, the database's page cache). The
//! reference is the median of the samples of the half minute after it; every later
//! sample must stay within ± 10 % of it. The server's peak (VmHWM) since the warm-up
//! is printed beside them, so that a spike between two samples is seen too.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::api::Api;
use crate::arrival::Arrival;
use crate::dashboard::report_query;
use crate::ingest::BATCH;
use crate::report::{Goal, Row};
use crate::server::Server;

/// How long the run warms up before its reference samples.
const WARM_UP: Duration = Duration::from_secs(60);
/// How long after the warm-up the reference samples are taken.
const REFERENCE: Duration = Duration::from_secs(30);
/// How often resident memory is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Dashboard clients, each asking again after a short pause.
const DASHBOARDS: usize = 2;
const DASHBOARD_PAUSE: Duration = Duration::from_millis(100);
/// How far memory may move from the reference: ± 10 %.
const FLAT: f64 = 0.10;
/// The share of the asked ingest rate the server must keep up with, or the memory
/// figures describe a server that was not doing what the soak claims.
const KEPT_UP: f64 = 0.95;

/// What a soak run asks for.
#[derive(Debug, Clone, Copy)]
pub struct Soak {
    pub duration: Duration,
    /// Events per second to send, in batches of [`BATCH`].
    pub rate: u64,
    pub seed: u64,
}

/// What the run saw.
#[derive(Debug)]
struct Samples {
    /// `(seconds since the start, VmRSS in MB)`.
    memory: Vec<(f64, f64)>,
    /// VmHWM since the end of the warm-up, MB.
    peak_after_warm_up: f64,
    stored: u64,
    dashboards: u64,
    seconds: f64,
}

/// Runs the soak against `server` and returns its table rows.
pub async fn run(api: &Api, server: &Server, soak: Soak) -> anyhow::Result<Vec<Row>> {
    anyhow::ensure!(
        soak.duration >= WARM_UP + REFERENCE + SAMPLE_EVERY,
        "a soak must last longer than its {} s warm-up and {} s of reference samples",
        WARM_UP.as_secs(),
        REFERENCE.as_secs()
    );
    let samples = sample(api, server, soak).await?;
    let warm = WARM_UP.as_secs_f64();
    let after: Vec<(f64, f64)> = samples
        .memory
        .iter()
        .copied()
        .filter(|(at, _)| *at >= warm)
        .collect();
    let mut reference: Vec<f64> = after
        .iter()
        .filter(|(at, _)| *at < warm + REFERENCE.as_secs_f64())
        .map(|(_, mb)| *mb)
        .collect();
    reference.sort_by(f64::total_cmp);
    let reference = *reference
        .get(reference.len() / 2)
        .ok_or_else(|| anyhow::anyhow!("no memory sample after the warm-up"))?;
    let highest = after.iter().map(|(_, mb)| *mb).fold(f64::MIN, f64::max);
    let lowest = after.iter().map(|(_, mb)| *mb).fold(f64::MAX, f64::min);
    let last = after.last().map_or(reference, |(_, mb)| *mb);
    let per_hour = slope_per_second(&after) * 3_600.0;
    let second_half: Vec<(f64, f64)> = samples
        .memory
        .iter()
        .copied()
        .filter(|(at, _)| *at >= samples.seconds / 2.0)
        .collect();
    let second_half_per_hour = slope_per_second(&second_half) * 3_600.0;
    let minutes = samples.seconds / 60.0;
    let versus = format!(
        "vs the median of {}–{} s",
        WARM_UP.as_secs(),
        (WARM_UP + REFERENCE).as_secs()
    );
    Ok(vec![
        Row::new(
            format!(
                "soak: events stored per second over {minutes:.1} min vs the {} ev/s sent",
                soak.rate
            ),
            samples.stored as f64 / samples.seconds,
            "ev/s",
        )
        .baseline(soak.rate as f64)
        .goal(Goal::RatioAtLeast(KEPT_UP)),
        Row::new(
            format!("soak: dashboard reports answered meanwhile ({DASHBOARDS} clients)"),
            samples.dashboards as f64 / samples.seconds,
            "req/s",
        ),
        Row::new(
            format!("soak: highest VmRSS sampled after the warm-up {versus}"),
            highest,
            "MB",
        )
        .baseline(reference)
        .goal(Goal::RatioAtMost(1.0 + FLAT)),
        // Context: transient peaks between samples (a month being sealed reads all
        // its day rows; the soak's stream crosses a month every minute or so).
        Row::new(
            format!("soak: peak VmRSS (VmHWM) after the warm-up {versus}"),
            samples.peak_after_warm_up,
            "MB",
        )
        .baseline(reference),
        Row::new(
            format!("soak: lowest VmRSS sampled after the warm-up {versus}"),
            lowest,
            "MB",
        )
        .baseline(reference)
        .goal(Goal::RatioAtLeast(1.0 - FLAT)),
        Row::new(format!("soak: VmRSS at the end {versus}"), last, "MB")
            .baseline(reference)
            .goal(Goal::RatioAtMost(1.0 + FLAT)),
        Row::new(
            "soak: VmRSS trend after the warm-up (least squares), MB per hour",
            per_hour,
            "MB/h",
        ),
        Row::new(
            "soak: VmRSS trend over the second half (caches filled), MB per hour",
            second_half_per_hour,
            "MB/h",
        ),
    ])
}

/// The least-squares slope of `(x, y)` points; 0 for fewer than two.
fn slope_per_second(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mean_x = points.iter().map(|(x, _)| x).sum::<f64>() / n;
    let mean_y = points.iter().map(|(_, y)| y).sum::<f64>() / n;
    let covariance: f64 = points
        .iter()
        .map(|(x, y)| (x - mean_x) * (y - mean_y))
        .sum();
    let variance: f64 = points.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
    if variance == 0.0 {
        0.0
    } else {
        covariance / variance
    }
}

async fn sample(api: &Api, server: &Server, soak: Soak) -> anyhow::Result<Samples> {
    // Sorted before the clock starts, as for the ingest figure.
    let events = soak.rate * soak.duration.as_secs() + BATCH as u64;
    let seed = soak.seed;
    let bodies =
        tokio::task::spawn_blocking(move || Arrival::Live.prepare(seed, events, BATCH)).await??;

    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let stored = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));

    let (sender, mut receiver) = tokio::sync::mpsc::channel(4);
    let producer = tokio::task::spawn_blocking(move || {
        for body in bodies {
            if sender.blocking_send(body?).is_err() {
                break;
            }
        }
        anyhow::Ok(())
    });
    // The producer ends once it has handed over its last body; the others only end
    // when told to stop, so one that ends earlier has failed.
    let mut tasks: Vec<JoinHandle<anyhow::Result<()>>> = Vec::new();
    {
        let (api, stop, stored) = (api.clone(), stop.clone(), stored.clone());
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(
                BATCH as f64 / soak.rate.max(1) as f64,
            ));
            // A batch that cannot go out on time goes out late; the rate stored then
            // says the server could not keep up.
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let Some((body, _)) = receiver.recv().await else {
                    anyhow::bail!("the soak ran out of events before its end");
                };
                stored.fetch_add(api.ingest_ndjson(body).await?, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    for _ in 0..DASHBOARDS {
        let (api, stop, answered) = (api.clone(), stop.clone(), answered.clone());
        tasks.push(tokio::spawn(async move {
            let query = report_query();
            let variables = json!({ "filter": { "campaign": crate::CAMPAIGN } });
            while !stop.load(Ordering::Relaxed) {
                api.graphql(&query, variables.clone()).await?;
                answered.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(DASHBOARD_PAUSE).await;
            }
            Ok(())
        }));
    }

    let mut memory = Vec::new();
    let mut peak_reset = false;
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    let failed = loop {
        tick.tick().await;
        if let Some(i) = tasks.iter().position(JoinHandle::is_finished) {
            break Some(tasks.swap_remove(i));
        }
        let at = started.elapsed();
        if at >= WARM_UP && !peak_reset {
            server.reset_peak_memory()?;
            peak_reset = true;
        }
        let (rss, _) = server.memory_mb()?;
        eprintln!(
            "  {:>5.0} s  VmRSS {rss:>6.1} MB  {} events stored",
            at.as_secs_f64(),
            stored.load(Ordering::Relaxed)
        );
        memory.push((at.as_secs_f64(), rss));
        if at >= soak.duration {
            break None;
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let stored = stored.load(Ordering::Relaxed);
    let (_, peak_after_warm_up) = server.memory_mb()?;
    stop.store(true, Ordering::Relaxed);
    if let Some(task) = failed {
        task.await??;
        anyhow::bail!("a soak task stopped early without an error");
    }
    for task in tasks {
        task.await??;
    }
    // Its receiver is gone, so a producer still handing over bodies stops now.
    producer.await??;
    Ok(Samples {
        memory,
        peak_after_warm_up,
        stored,
        dashboards: answered.load(Ordering::Relaxed),
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trend_is_the_least_squares_slope() {
        // y = 3x + 1 exactly, then with symmetric noise that leaves the slope alone.
        let exact: Vec<(f64, f64)> = (0..5)
            .map(|x| (f64::from(x), 3.0 * f64::from(x) + 1.0))
            .collect();
        assert!((slope_per_second(&exact) - 3.0).abs() < 1e-12);
        let noisy = [(0.0, 2.0), (1.0, 4.0), (2.0, 5.0), (3.0, 10.0), (4.0, 14.0)];
        // Means 2 and 7; Σ(x−2)(y−7) = 10 + 3 + 0 + 3 + 14 = 30, Σ(x−2)² = 10.
        assert!((slope_per_second(&noisy) - 3.0).abs() < 1e-12);
        assert_eq!(slope_per_second(&[(1.0, 2.0)]), 0.0);
    }
}
