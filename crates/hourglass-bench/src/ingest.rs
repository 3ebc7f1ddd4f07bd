//! Ingest throughput: the same B2B events sent as NDJSON to `POST /v1/events` by
//! concurrent clients, and — the baseline — inserted by the bench itself as plain
//! multi-row INSERTs into a scratch table with the events table's columns and only
//! a primary key, with as many concurrent connections. Both sides stream batches
//! from the generator, so the event count is bounded only by time. The server gets
//! them in the [`Arrival`] order asked for, prepared before the clock starts; the
//! scratch table, whose only index is an increasing key, in the generator's own order.

use std::sync::Arc;
use std::time::Instant;

use hourglass_server::demo::b2b::B2bEvents;
use tokio::sync::{Mutex, mpsc};

use crate::api::Api;
use crate::arrival::{Arrival, Bodies};
use crate::raw_insert::{RawInserter, RawRows};

/// Events per request or INSERT, as the server's default `max_batch_events`.
pub const BATCH: usize = 500;
/// Concurrent clients (HTTP) or connections (raw INSERTs).
pub const CLIENTS: usize = 4;

/// How fast a load went, overall and at moments of it.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    pub events: u64,
    pub seconds: f64,
    /// Events/s over the first 10 % of the events, from an empty table.
    pub first_tenth: f64,
    /// Events/s from 5 % to 15 % of the events: with a tenth of the final table.
    pub at_a_tenth: f64,
    /// Events/s over the last 10 %.
    pub last_tenth: f64,
}

impl Throughput {
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.seconds
    }

    /// From batch completion marks `(when, events in the batch)`.
    fn from_marks(started: Instant, mut marks: Vec<(Instant, u64)>) -> Self {
        marks.sort_by_key(|(at, _)| *at);
        let mut done = 0;
        let cumulative: Vec<(Instant, u64)> = marks
            .iter()
            .map(|(at, n)| {
                done += n;
                (*at, done)
            })
            .collect();
        let total = done;
        // When `share` of the events were done: the first mark at or past it.
        let moment = |share: f64| -> (Instant, u64) {
            let wanted = (share * total as f64).ceil() as u64;
            if wanted == 0 {
                return (started, 0);
            }
            cumulative
                .iter()
                .copied()
                .find(|(_, done)| *done >= wanted)
                .unwrap_or((started, 0))
        };
        let rate = |from: f64, to: f64| {
            let ((t0, d0), (t1, d1)) = (moment(from), moment(to));
            d1.saturating_sub(d0) as f64 / t1.saturating_duration_since(t0).as_secs_f64()
        };
        let end = cumulative.last().map_or(started, |(at, _)| *at);
        Self {
            events: total,
            seconds: end.duration_since(started).as_secs_f64(),
            first_tenth: rate(0.0, 0.1),
            at_a_tenth: rate(0.05, 0.15),
            last_tenth: rate(0.9, 1.0),
        }
    }
}

/// Feeds items made on a producer thread to `CLIENTS` concurrent workers and
/// records when each finished batch was done. The producer's error, if any, is the
/// run's error.
async fn drive<T, W, F>(
    produce: impl FnOnce(mpsc::Sender<(T, u64)>) -> anyhow::Result<()> + Send + 'static,
    work: W,
) -> anyhow::Result<Throughput>
where
    T: Send + 'static,
    W: Fn(T) -> F + Clone + Send + 'static,
    F: Future<Output = anyhow::Result<u64>> + Send,
{
    let (sender, receiver) = mpsc::channel::<(T, u64)>(CLIENTS * 4);
    let producer = std::thread::spawn(move || produce(sender));
    let receiver = Arc::new(Mutex::new(receiver));
    let marks = Arc::new(std::sync::Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CLIENTS {
        let (receiver, marks, work) = (receiver.clone(), marks.clone(), work.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let next = receiver.lock().await.recv().await;
                let Some((item, expected)) = next else {
                    return anyhow::Ok(());
                };
                let stored = work(item).await?;
                anyhow::ensure!(
                    stored == expected,
                    "a batch of {expected} events stored {stored}"
                );
                if let Ok(mut marks) = marks.lock() {
                    marks.push((Instant::now(), stored));
                }
            }
        }));
    }
    for worker in workers {
        worker.await??;
    }
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("the event producer panicked"))??;
    let marks = std::mem::take(&mut *marks.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    Ok(Throughput::from_marks(started, marks))
}

/// Events/s of the bench's own producer in `arrival` order (generating and
/// serialising, or reading the sorted file), over up to a million events: the
/// instrument must be far faster than what it measures. Preparing (sorting) is not
/// timed, as it is not in the ingest figure.
pub fn producer_rate(arrival: Arrival, seed: u64, events: u64) -> anyhow::Result<f64> {
    let bodies = arrival.prepare(seed, events.min(1_000_000), BATCH)?;
    let started = Instant::now();
    let mut produced = 0;
    for body in bodies {
        let (body, count) = body?;
        std::hint::black_box(body);
        produced += count;
    }
    Ok(produced as f64 / started.elapsed().as_secs_f64())
}

/// Sends prepared NDJSON bodies to `POST /v1/events`, `CLIENTS` at a time.
pub async fn over_http(api: &Api, bodies: Bodies) -> anyhow::Result<Throughput> {
    let api = api.clone();
    drive(
        move |sender| {
            for body in bodies {
                if sender.blocking_send(body?).is_err() {
                    break;
                }
            }
            Ok(())
        },
        move |body| {
            let api = api.clone();
            async move { api.ingest_ndjson(body).await }
        },
    )
    .await
}

/// Inserts the same events as plain rows into the scratch table.
pub async fn raw(inserter: &RawInserter, seed: u64, events: u64) -> anyhow::Result<Throughput> {
    let inserter = inserter.clone();
    drive(
        move |sender| {
            let mut rows = RawRows::default();
            for batch in B2bEvents::new(seed, events, BATCH) {
                let n = batch.len() as u64;
                if sender.blocking_send((rows.convert(batch), n)).is_err() {
                    break;
                }
            }
            Ok(())
        },
        move |rows| {
            let inserter = inserter.clone();
            async move { inserter.insert(rows).await }
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_first_and_last_tenth_rates_come_from_the_batch_marks() {
        let start = Instant::now();
        // 10 batches of 100 events: one per second, then the last one takes 4 s.
        let mut marks: Vec<(Instant, u64)> = (1..=9)
            .map(|s| (start + Duration::from_secs(s), 100))
            .collect();
        marks.push((start + Duration::from_secs(13), 100));
        let t = Throughput::from_marks(start, marks);
        assert_eq!(t.events, 1_000);
        assert!((t.first_tenth - 100.0).abs() < 1e-9);
        assert!((t.last_tenth - 25.0).abs() < 1e-9);
        // 5 % of the events were done at 1 s (the first mark past 50), 15 % at 2 s.
        assert!((t.at_a_tenth - 100.0).abs() < 1e-9);
        assert!((t.rate() - 1_000.0 / 13.0).abs() < 1e-9);
    }
}
