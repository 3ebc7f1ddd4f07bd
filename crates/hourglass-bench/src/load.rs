//! Throughput under load: many concurrent connections running one query, bounded
//! by a request count and a time limit, on 127.0.0.1 only.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::api::{Api, percentile_ms};

/// Concurrent connections.
pub const CONNECTIONS: usize = 16;

/// What one load run achieved.
#[derive(Debug, Clone, Copy)]
pub struct LoadFigures {
    pub requests: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Runs `query` from `CONNECTIONS` clients, each until it has sent its share of
/// `requests` or `limit` has passed.
pub async fn run(
    api: &Api,
    query: String,
    variables: Value,
    requests: usize,
    limit: Duration,
) -> anyhow::Result<LoadFigures> {
    let share = requests.div_ceil(CONNECTIONS).max(1);
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        let (api, query, variables) = (api.clone(), query.clone(), variables.clone());
        clients.push(tokio::spawn(async move {
            let mut times = Vec::with_capacity(share);
            while times.len() < share && started.elapsed() < limit {
                let (took, _) = api.timed(&query, variables.clone()).await?;
                times.push(took);
            }
            anyhow::Ok(times)
        }));
    }
    let mut times = Vec::new();
    for client in clients {
        times.extend(client.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    times.sort();
    Ok(LoadFigures {
        requests: times.len(),
        per_second: times.len() as f64 / elapsed,
        p50_ms: percentile_ms(&times, 0.5),
        p99_ms: percentile_ms(&times, 0.99),
    })
}
