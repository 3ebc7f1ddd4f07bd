//! In what order the bench sends the B2B events.
//!
//! The generator makes one journey after another, each on a random day of its
//! campaign, so a batch of its output is spread over the whole year: the way a
//! backfill of unsorted history arrives, and the worst case for the aggregate layer
//! (every batch touches a day row of most days). Live traffic arrives in time order.
//! [`TimeOrdered`] hands out the very same events sorted by `occurredAt` without
//! holding them all in memory: one pass over the generator finds the instants that cut
//! the stream into slices of [`SLICE_EVENTS`], then a background thread replays the
//! (deterministic) generator once per slice, keeps that slice's events and sorts them,
//! one slice ahead of the consumer.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use chrono::DateTime;
use clap::ValueEnum;
use hourglass_core::EventDraft;
use hourglass_server::demo::b2b::B2bEvents;

/// Events per sorted slice: what one replay of the generator keeps in memory (about
/// 200 MB at 400 bytes an event), and so `events / SLICE_EVENTS` replays in all.
const SLICE_EVENTS: usize = 500_000;
/// Batch size of the generator's own replays (unrelated to the batches handed out).
const REPLAY_BATCH: usize = 10_000;

/// The order events arrive in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Arrival {
    /// In time order, as live traffic.
    Live,
    /// As generated: every batch spread over the year, as an unsorted backfill.
    Backfill,
}

impl Arrival {
    /// The events of `seed`, `batch` at a time, in this order.
    pub fn batches(
        self,
        seed: u64,
        events: u64,
        batch: usize,
    ) -> Box<dyn Iterator<Item = Vec<EventDraft>> + Send> {
        match self {
            Self::Backfill => Box::new(B2bEvents::new(seed, events, batch)),
            Self::Live => Box::new(TimeOrdered::new(seed, events, batch)),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::Live => "in time order (live)",
            Self::Backfill => "spread over the year (backfill)",
        }
    }
}

/// Milliseconds since the epoch of a generated event (the generator always sets it).
fn instant_of(draft: &EventDraft) -> i64 {
    draft
        .occurred_at
        .as_deref()
        .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
        .map_or(i64::MIN, |at| at.timestamp_millis())
}

/// The B2B events of one seed sorted by instant (ties in generation order).
pub struct TimeOrdered {
    slices: Receiver<Vec<EventDraft>>,
    ready: VecDeque<EventDraft>,
    batch: usize,
    _replayer: JoinHandle<()>,
}

impl TimeOrdered {
    pub fn new(seed: u64, events: u64, batch: usize) -> Self {
        Self::in_slices_of(seed, events, batch, SLICE_EVENTS)
    }

    /// Returns once the first slice is sorted, so that a clock started afterwards
    /// times the consumer, not the sorting (later slices are sorted while earlier
    /// ones are consumed).
    fn in_slices_of(seed: u64, events: u64, batch: usize, slice_events: usize) -> Self {
        let bounds = slice_bounds(seed, events, slice_events);
        let (sender, slices) = sync_channel(1);
        let replayer = std::thread::spawn(move || {
            for (from, to) in bounds {
                let mut slice: Vec<(i64, EventDraft)> = B2bEvents::new(seed, events, REPLAY_BATCH)
                    .flatten()
                    .map(|draft| (instant_of(&draft), draft))
                    .filter(|(at, _)| from.is_none_or(|f| *at >= f) && to.is_none_or(|t| *at < t))
                    .collect();
                slice.sort_by_key(|(at, _)| *at);
                let slice = slice.into_iter().map(|(_, draft)| draft).collect();
                if sender.send(slice).is_err() {
                    return;
                }
            }
        });
        let ready = slices.recv().map(VecDeque::from).unwrap_or_default();
        Self {
            slices,
            ready,
            batch: batch.max(1),
            _replayer: replayer,
        }
    }
}

/// Half-open instant ranges that cut the stream into slices of about `slice_events`;
/// the first and last are open-ended.
fn slice_bounds(seed: u64, events: u64, slice_events: usize) -> Vec<(Option<i64>, Option<i64>)> {
    let mut instants: Vec<i64> = B2bEvents::new(seed, events, REPLAY_BATCH)
        .flatten()
        .map(|draft| instant_of(&draft))
        .collect();
    instants.sort_unstable();
    let mut cuts: Vec<i64> = instants
        .iter()
        .step_by(slice_events.max(1))
        .skip(1)
        .copied()
        .collect();
    cuts.dedup();
    let mut bounds = Vec::with_capacity(cuts.len() + 1);
    let mut from = None;
    for cut in cuts {
        bounds.push((from, Some(cut)));
        from = Some(cut);
    }
    bounds.push((from, None));
    bounds
}

impl Iterator for TimeOrdered {
    type Item = Vec<EventDraft>;

    fn next(&mut self) -> Option<Vec<EventDraft>> {
        while self.ready.len() < self.batch {
            match self.slices.recv() {
                Ok(slice) => self.ready.extend(slice),
                Err(_) => break,
            }
        }
        if self.ready.is_empty() {
            return None;
        }
        let take = self.batch.min(self.ready.len());
        Some(self.ready.drain(..take).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message_ids(drafts: &[EventDraft]) -> Vec<String> {
        let mut ids: Vec<String> = drafts.iter().filter_map(|d| d.message_id.clone()).collect();
        ids.sort();
        ids
    }

    #[test]
    fn the_live_order_is_the_same_events_sorted_by_instant() {
        let events = 3_000;
        let generated: Vec<EventDraft> = B2bEvents::new(7, events, 500).flatten().collect();
        // Slices of 700: five replays, so the cuts between slices are exercised.
        assert_eq!(slice_bounds(7, events, 700).len(), 5);
        let live: Vec<Vec<EventDraft>> = TimeOrdered::in_slices_of(7, events, 500, 700).collect();
        assert!(live.iter().all(|batch| batch.len() == 500));
        let live: Vec<EventDraft> = live.into_iter().flatten().collect();
        // Sorted, where the generator's own output is not (or the test shows nothing).
        let instants: Vec<i64> = live.iter().map(instant_of).collect();
        assert!(instants.windows(2).all(|w| w[0] <= w[1]));
        assert!(
            generated
                .windows(2)
                .any(|w| instant_of(&w[0]) > instant_of(&w[1]))
        );
        // The same events, each once.
        assert_eq!(live.len(), generated.len());
        assert_eq!(message_ids(&live), message_ids(&generated));
    }

    #[test]
    fn slices_are_contiguous_and_open_at_both_ends() {
        assert_eq!(slice_bounds(7, 2_000, 5_000), vec![(None, None)]);
        let bounds = slice_bounds(7, 2_000, 500);
        assert_eq!(bounds.len(), 4);
        assert_eq!(bounds[0].0, None);
        assert_eq!(bounds[3].1, None);
        assert!(bounds.windows(2).all(|w| w[0].1 == w[1].0));
    }
}
