//! In what order the bench sends the B2B events, as ready-made NDJSON request bodies.
//!
//! The generator makes one journey after another, each on a random day of its
//! campaign, so a batch of its output is spread over the whole year: the way a
//! backfill of unsorted history arrives, and the worst case for the aggregate layer
//! (every batch touches day rows of most days). Live traffic arrives in time order.
//!
//! For the live order, [`Arrival::prepare`] sorts the very same events into a
//! temporary NDJSON file before any clock starts — one pass over the generator into
//! a file per week, then each week sorted in memory and appended — so that the timed
//! run only reads lines, and 10,000,000 events never sit in memory at once.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Lines, Write};

use anyhow::Context as _;
use chrono::DateTime;
use clap::ValueEnum;
use hourglass_core::EventDraft;
use hourglass_server::demo::b2b::B2bEvents;
use tempfile::TempDir;

/// How wide the buckets of the external sort are: a week holds about 1/55 of the
/// events, so sorting one in memory stays small at any size.
const BUCKET_MS: i64 = 7 * 86_400_000;

/// The order events arrive in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Arrival {
    /// In time order, as live traffic.
    Live,
    /// As generated: every batch spread over the year, as an unsorted backfill.
    Backfill,
}

impl Arrival {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Live => "in time order (live)",
            Self::Backfill => "spread over the year (backfill)",
        }
    }

    /// The events of `seed` in this order, `batch` to a body. Sorting happens here,
    /// before the caller starts timing.
    pub fn prepare(self, seed: u64, events: u64, batch: usize) -> anyhow::Result<Bodies> {
        let batch = batch.max(1);
        Ok(match self {
            Self::Backfill => Bodies::Generated(Box::new(B2bEvents::new(seed, events, batch))),
            Self::Live => {
                let sorted = SortedFile::write(seed, events)?;
                Bodies::Sorted {
                    lines: BufReader::new(File::open(sorted.path())?).lines(),
                    batch,
                    _file: sorted,
                }
            }
        })
    }
}

/// NDJSON request bodies and how many events each holds.
pub enum Bodies {
    Generated(Box<B2bEvents>),
    Sorted {
        lines: Lines<BufReader<File>>,
        batch: usize,
        _file: SortedFile,
    },
}

impl Iterator for Bodies {
    type Item = anyhow::Result<(Vec<u8>, u64)>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Generated(generator) => generator.next().map(|drafts| ndjson(&drafts)),
            Self::Sorted { lines, batch, .. } => {
                let mut body = Vec::new();
                let mut count = 0;
                for line in lines.by_ref().take(*batch) {
                    match line {
                        Ok(line) => {
                            body.extend_from_slice(line.as_bytes());
                            body.push(b'\n');
                            count += 1;
                        }
                        Err(e) => return Some(Err(e.into())),
                    }
                }
                (count > 0).then_some(Ok((body, count)))
            }
        }
    }
}

/// One NDJSON body of `drafts`.
fn ndjson(drafts: &[EventDraft]) -> anyhow::Result<(Vec<u8>, u64)> {
    let mut body = Vec::with_capacity(drafts.len() * 400);
    for draft in drafts {
        serde_json::to_writer(&mut body, draft)?;
        body.push(b'\n');
    }
    Ok((body, drafts.len() as u64))
}

/// Milliseconds since the epoch of a generated event.
fn instant_of(draft: &EventDraft) -> anyhow::Result<i64> {
    let at = draft
        .occurred_at
        .as_deref()
        .context("a generated event without occurredAt")?;
    Ok(DateTime::parse_from_rfc3339(at)
        .with_context(|| format!("a generated event at {at}"))?
        .timestamp_millis())
}

/// The bucket file of one week of the external sort.
fn week_path(dir: &TempDir, week: i64) -> std::path::PathBuf {
    dir.path().join(format!("week-{week}"))
}

/// The events of one seed as NDJSON lines sorted by instant (ties in generation
/// order), in a temporary directory removed on drop.
pub struct SortedFile {
    dir: TempDir,
}

impl SortedFile {
    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("sorted.ndjson")
    }

    fn write(seed: u64, events: u64) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        // Pass 1: each event's line, prefixed with its instant, into its week's file.
        let mut weeks: BTreeMap<i64, BufWriter<File>> = BTreeMap::new();
        for drafts in B2bEvents::new(seed, events, 10_000) {
            for draft in &drafts {
                let at = instant_of(draft)?;
                let week = at.div_euclid(BUCKET_MS);
                let file = match weeks.entry(week) {
                    Entry::Occupied(file) => file.into_mut(),
                    Entry::Vacant(slot) => {
                        slot.insert(BufWriter::new(File::create(week_path(&dir, week))?))
                    }
                };
                write!(file, "{at}\t")?;
                serde_json::to_writer(&mut *file, draft)?;
                file.write_all(b"\n")?;
            }
        }
        // Pass 2: week by week, sort (stably: ties keep generation order) and append.
        let sorted = Self { dir };
        let mut out = BufWriter::new(File::create(sorted.path())?);
        for (week, file) in weeks {
            drop(file.into_inner().map_err(|e| e.into_error())?);
            let path = week_path(&sorted.dir, week);
            let mut lines: Vec<(i64, String)> = BufReader::new(File::open(&path)?)
                .lines()
                .map(|line| {
                    let line = line?;
                    let (at, json) = line.split_once('\t').context("a bucket line")?;
                    anyhow::Ok((at.parse()?, json.to_owned()))
                })
                .collect::<anyhow::Result<_>>()?;
            lines.sort_by_key(|(at, _)| *at);
            for (_, json) in lines {
                out.write_all(json.as_bytes())?;
                out.write_all(b"\n")?;
            }
            std::fs::remove_file(path)?;
        }
        out.flush()?;
        Ok(sorted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drafts_of(bodies: Bodies) -> Vec<Vec<EventDraft>> {
        bodies
            .map(|body| {
                let (body, count) = body.unwrap();
                let drafts: Vec<EventDraft> = body
                    .split(|b| *b == b'\n')
                    .filter(|line| !line.is_empty())
                    .map(|line| serde_json::from_slice(line).unwrap())
                    .collect();
                assert_eq!(drafts.len() as u64, count);
                drafts
            })
            .collect()
    }

    #[test]
    fn the_live_order_is_the_same_events_sorted_by_instant_ties_in_generation_order() {
        let events = 3_000;
        let generated: Vec<EventDraft> = B2bEvents::new(7, events, 500).flatten().collect();
        let live = drafts_of(Arrival::Live.prepare(7, events, 500).unwrap());
        assert!(live.iter().all(|batch| batch.len() == 500));
        let live: Vec<EventDraft> = live.into_iter().flatten().collect();

        // The reference: the generated events, sorted in memory by a stable sort.
        let mut expected = generated.clone();
        expected.sort_by_key(|d| instant_of(d).unwrap());
        assert_eq!(live, expected);
        // The generator's own order differs, or this test would show nothing.
        assert_ne!(live, generated);
        // Ties exist in the data, so their order was checked too.
        assert!(
            expected
                .windows(2)
                .any(|w| instant_of(&w[0]).unwrap() == instant_of(&w[1]).unwrap())
        );
    }

    #[test]
    fn the_backfill_order_is_the_generators_own() {
        let generated: Vec<Vec<EventDraft>> = B2bEvents::new(7, 1_200, 500).collect();
        let backfill = drafts_of(Arrival::Backfill.prepare(7, 1_200, 500).unwrap());
        assert_eq!(backfill, generated);
    }
}
