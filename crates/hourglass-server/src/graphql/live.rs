//! Live dashboards: subscriptions over GraphQL-over-WebSocket.
//!
//! Ingest publishes a notice after each committed batch that stored new events.
//! `eventsIngested` passes the notices on (counts, never event data); `kpisUpdated`
//! pushes a filter's KPI report whenever a batch changed it. Both reach only
//! subscribers that can read the workspace, and one connection holds at most
//! `graphql.max_subscriptions_per_connection` of them.
//!
//! A report is computed once per (workspace, filter) however many subscribers
//! watch it ([`Watches`]), at most once per [`MIN_INTERVAL`] (notices that arrive
//! meanwhile are folded into the next computation), and read from the aggregate
//! layer like any `kpis` query.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_graphql::{Context, ID, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::{FutureExt as _, Stream, StreamExt as _};
use hourglass_core::Permission;
use tokio::sync::{broadcast, watch};

use super::filter::KpiFilterInput;
use super::kpis::{KpiReport, kpi_report};
use super::{caller, cost, state};
use crate::error::ApiError;

/// The shortest time between two computations of one watched report: at most two
/// pushes a second per subscription, however fast batches commit.
pub const MIN_INTERVAL: Duration = Duration::from_millis(500);

/// Notices waiting for a slow subscriber before it misses some (it then skips ahead).
const FEED_CAPACITY: usize = 1024;

/// A batch of events was committed.
#[derive(SimpleObject, Debug, Clone)]
pub struct IngestNotice {
    pub workspace: ID,
    /// Events newly stored by the batch.
    pub accepted: u64,
    /// Events of the batch that were already stored.
    pub duplicates: u64,
    /// Events of the batch that were refused.
    pub rejected: u64,
    pub committed_at: DateTime<Utc>,
}

/// Where ingest announces committed batches, by internal workspace id.
#[derive(Debug, Clone)]
pub struct IngestFeed(broadcast::Sender<(i64, IngestNotice)>);

impl Default for IngestFeed {
    fn default() -> Self {
        Self(broadcast::channel(FEED_CAPACITY).0)
    }
}

impl IngestFeed {
    /// Announces a batch; nobody listening is fine.
    pub fn publish(&self, workspace_id: i64, notice: IngestNotice) {
        let _no_subscribers = self.0.send((workspace_id, notice));
    }

    fn notices_for(&self, workspace_id: i64) -> impl Stream<Item = IngestNotice> + use<> {
        futures_util::stream::unfold(self.0.subscribe(), move |mut feed| async move {
            loop {
                match feed.recv().await {
                    Ok((id, notice)) if id == workspace_id => return Some((notice, feed)),
                    // Another workspace's batch, or notices this subscriber was too slow
                    // for: the next one tells it to refetch all the same.
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }
}

/// Values kept up to date by one task per key, shared by every subscriber of the
/// key. The task ends, and its entry goes, once nobody watches.
#[derive(Debug)]
pub struct Watches<K, T> {
    entries: Arc<Mutex<HashMap<K, Watched<T>>>>,
}

/// A watched value's sender, shared by its entry and its task.
type Watched<T> = Arc<watch::Sender<Option<T>>>;

impl<K, T> Clone for Watches<K, T> {
    fn clone(&self) -> Self {
        Self {
            entries: Arc::clone(&self.entries),
        }
    }
}

impl<K, T> Default for Watches<K, T> {
    fn default() -> Self {
        Self {
            entries: Arc::default(),
        }
    }
}

/// The watched reports: one per workspace id and filter.
pub type KpiWatches = Watches<(i64, String), Reported>;

impl<K, T> Watches<K, T>
where
    K: Eq + Hash + Clone + Send + 'static,
    T: Clone + PartialEq + Send + Sync + 'static,
{
    /// A receiver of `key`'s value. The first watcher starts the task that computes
    /// it with `compute` now and again after each of `changes` (at most once per
    /// [`MIN_INTERVAL`]); later ones share it. A computation that fails keeps the
    /// last value.
    pub fn watch<C, F, S>(&self, key: K, compute: C, changes: S) -> watch::Receiver<Option<T>>
    where
        C: Fn() -> F + Send + 'static,
        F: Future<Output = Option<T>> + Send + 'static,
        S: Stream + Send + Unpin + 'static,
    {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = entries.get(&key) {
            return sender.subscribe();
        }
        let sender = Arc::new(watch::Sender::new(None));
        let receiver = sender.subscribe();
        entries.insert(key.clone(), Arc::clone(&sender));
        tokio::spawn(keep_computing(self.clone(), key, sender, compute, changes));
        receiver
    }

    /// Removes `key`'s entry when nobody watches it; under the lock that `watch`
    /// takes, so no watcher can join a task that is ending.
    fn forget_if_unwatched(&self, key: &K, sender: &watch::Sender<Option<T>>) -> bool {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if sender.receiver_count() > 0 {
            return false;
        }
        entries.remove(key);
        true
    }
}

/// Removes a task's entry however the task ends (its changes ended, it panicked):
/// a sender left in the map with no task behind it would keep its watchers, and
/// every later one, waiting for ever. Its watchers' streams end instead.
struct EntryOfTask<K: Eq + Hash, T> {
    entries: Arc<Mutex<HashMap<K, Watched<T>>>>,
    key: K,
    sender: Watched<T>,
}

impl<K: Eq + Hash, T> Drop for EntryOfTask<K, T> {
    fn drop(&mut self) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries
            .get(&self.key)
            .is_some_and(|kept| Arc::ptr_eq(kept, &self.sender))
        {
            entries.remove(&self.key);
        }
    }
}

async fn keep_computing<K, T, C, F, S>(
    watches: Watches<K, T>,
    key: K,
    sender: Arc<watch::Sender<Option<T>>>,
    compute: C,
    mut changes: S,
) where
    K: Eq + Hash + Clone + Send + 'static,
    T: Clone + PartialEq + Send + Sync + 'static,
    C: Fn() -> F + Send + 'static,
    F: Future<Output = Option<T>> + Send + 'static,
    S: Stream + Send + Unpin + 'static,
{
    let _entry = EntryOfTask {
        entries: Arc::clone(&watches.entries),
        key: key.clone(),
        sender: Arc::clone(&sender),
    };
    loop {
        let computed_at = tokio::time::Instant::now();
        if let Some(value) = compute().await {
            // Only a changed value is pushed.
            sender.send_if_modified(|kept| {
                let changed = kept.as_ref() != Some(&value);
                if changed {
                    *kept = Some(value);
                }
                changed
            });
        }
        // Wait for a change, or for the last watcher to leave.
        loop {
            tokio::select! {
                change = changes.next() => {
                    if change.is_none() {
                        return;
                    }
                    break;
                }
                () = sender.closed() => {
                    if watches.forget_if_unwatched(&key, &sender) {
                        return;
                    }
                }
            }
        }
        // Fold every change of the next moments into one computation: wait out the
        // interval, then take every change already announced.
        tokio::time::sleep_until(computed_at + MIN_INTERVAL).await;
        while let Some(change) = changes.next().now_or_never() {
            if change.is_none() {
                return;
            }
        }
    }
}

/// The values of a watch, the current one first; ends when its task does.
fn values<T: Clone + Send + Sync + 'static>(
    mut receiver: watch::Receiver<Option<T>>,
) -> impl Stream<Item = T> + use<T> {
    receiver.mark_changed();
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        loop {
            receiver.changed().await.ok()?;
            let value = receiver.borrow_and_update().clone();
            if let Some(value) = value {
                return Some((value, receiver));
            }
        }
    })
}

/// How many subscriptions a WebSocket connection holds, kept in its session.
#[derive(Debug, Default, Clone)]
pub struct ConnectionSubscriptions(Arc<AtomicUsize>);

/// One of a connection's subscriptions; dropped with its stream.
#[derive(Debug)]
struct SubscriptionSlot(Arc<AtomicUsize>);

impl Drop for SubscriptionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Takes one of the connection's subscription slots, or refuses past the cap.
fn subscription_slot(ctx: &Context<'_>) -> Result<Option<SubscriptionSlot>, ApiError> {
    let Some(held) = ctx.data_opt::<ConnectionSubscriptions>() else {
        return Ok(None);
    };
    let max = state(ctx).settings.graphql.max_subscriptions_per_connection;
    let previous = held.0.fetch_add(1, Ordering::AcqRel);
    let slot = SubscriptionSlot(Arc::clone(&held.0));
    if previous >= max {
        return Err(ApiError::BadRequest(format!(
            "this connection already holds {max} subscriptions, the most one may; \
             end one or open another connection"
        )));
    }
    Ok(Some(slot))
}

/// `stream`, holding `slot` until it is dropped.
fn holding<S: Stream>(stream: S, slot: Option<SubscriptionSlot>) -> impl Stream<Item = S::Item> {
    stream.map(move |item| {
        let _held = &slot;
        item
    })
}

/// What identifies a filter among a workspace's watched reports.
fn filter_key(filter: &KpiFilterInput) -> String {
    // The input's fields in order; two spellings of one filter merely share less.
    format!("{filter:?}")
}

#[derive(Debug, Default)]
pub struct LiveSubscription;

#[Subscription]
impl LiveSubscription {
    /// A notice after each committed batch that stored new events in the workspace
    /// (GraphQL `ingestEvents` or NDJSON). Needs a key that can read the workspace.
    async fn events_ingested(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
    ) -> Result<impl Stream<Item = IngestNotice> + use<>, ApiError> {
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        let slot = subscription_slot(ctx)?;
        Ok(holding(
            state(ctx).ingest_feed.notices_for(ws.workspace().id),
            slot,
        ))
    }

    /// The filter's KPI report now, then again each time committed events change it
    /// (at most twice a second). Subscribers of the same workspace and filter share
    /// one computation. Needs a key that can read the workspace.
    #[graphql(complexity = "cost::with_children(cost::KPI_REPORT, child_complexity)")]
    async fn kpis_updated(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        filter: Option<KpiFilterInput>,
    ) -> Result<impl Stream<Item = KpiReport> + use<>, ApiError> {
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        let filter = filter.unwrap_or_default();
        // Refuse a bad filter now, not in the task.
        filter.clone().into_filter()?;
        let slot = subscription_slot(ctx)?;
        let state = state(ctx);
        let id = ws.workspace().id;
        let changes = Box::pin(state.ingest_feed.notices_for(id));
        let key = (id, filter_key(&filter));
        let receiver = state.kpi_watches.watch(
            key,
            move || {
                let (ws, filter) = (ws.clone(), filter.clone());
                async move {
                    let report = match ws.fresh().await {
                        Ok(ws) => kpi_report(&ws, filter).await,
                        Err(e) => Err(e.into()),
                    };
                    report
                        .inspect_err(|e| tracing::warn!(error = %e, "a live KPI report failed"))
                        .ok()
                        .map(Reported)
                }
            },
            changes,
        );
        Ok(holding(values(receiver), slot).map(|reported| reported.0))
    }
}

/// A computed report, compared by what it says: its fields' debug text (the
/// report holds floats and inputs without `PartialEq`, and is a few hundred bytes).
#[derive(Debug, Clone)]
pub struct Reported(KpiReport);

impl PartialEq for Reported {
    fn eq(&self, other: &Self) -> bool {
        format!("{:?}", self.0) == format!("{:?}", other.0)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use tokio::sync::mpsc;

    use super::*;

    /// A stream of changes the test sends by hand.
    fn changes() -> (
        mpsc::UnboundedSender<()>,
        impl Stream<Item = ()> + Send + Unpin + 'static,
    ) {
        let (send, receive) = mpsc::unbounded_channel();
        let stream = futures_util::stream::unfold(receive, |mut receive| async move {
            receive.recv().await.map(|()| ((), receive))
        });
        (send, Box::pin(stream))
    }

    /// A computation that counts its runs and answers how many changes it has seen.
    fn counted(
        runs: &Arc<AtomicU64>,
        seen: &Arc<AtomicU64>,
    ) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = Option<u64>> + Send>> + Send + 'static
    {
        let (runs, seen) = (Arc::clone(runs), Arc::clone(seen));
        move || {
            runs.fetch_add(1, Ordering::SeqCst);
            let value = seen.load(Ordering::SeqCst);
            Box::pin(async move { Some(value) })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn watchers_of_one_key_share_one_computation_and_changes_are_folded() {
        let watches: Watches<&str, u64> = Watches::default();
        let (runs, seen) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (send, stream) = changes();
        let first = watches.watch("k", counted(&runs, &seen), stream);
        let (_unused, other_stream) = changes();
        let second = watches.watch("k", counted(&runs, &seen), other_stream);
        let (mut first, mut second) = (Box::pin(values(first)), Box::pin(values(second)));
        assert_eq!(first.next().await, Some(0));
        assert_eq!(second.next().await, Some(0));
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "one computation for two watchers"
        );

        // Five changes in quick succession: one more computation, after the interval.
        for _ in 0..5 {
            seen.fetch_add(1, Ordering::SeqCst);
            send.send(()).unwrap();
        }
        assert_eq!(first.next().await, Some(5));
        assert_eq!(second.next().await, Some(5));
        assert_eq!(runs.load(Ordering::SeqCst), 2);

        // A change that leaves the value as it was is not pushed.
        send.send(()).unwrap();
        tokio::time::sleep(MIN_INTERVAL * 3).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        let nothing = tokio::time::timeout(MIN_INTERVAL, first.next()).await;
        assert!(nothing.is_err(), "pushed an unchanged value: {nothing:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn watchers_end_with_their_task_and_the_next_starts_afresh() {
        let watches: Watches<&str, u64> = Watches::default();
        let (runs, seen) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (send, stream) = changes();
        let mut first = Box::pin(values(watches.watch("k", counted(&runs, &seen), stream)));
        assert_eq!(first.next().await, Some(0));
        // The changes end (the server shuts its feed): the watcher's stream ends
        // rather than waiting for ever, and the entry goes.
        drop(send);
        let ended = tokio::time::timeout(Duration::from_secs(60), first.next()).await;
        assert_eq!(ended, Ok(None));
        assert!(watches.entries.lock().unwrap().is_empty());
        let (_send, stream) = changes();
        let mut again = Box::pin(values(watches.watch("k", counted(&runs, &seen), stream)));
        assert_eq!(again.next().await, Some(0));
    }

    #[tokio::test(start_paused = true)]
    async fn the_task_ends_when_nobody_watches() {
        let watches: Watches<&str, u64> = Watches::default();
        let (runs, seen) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (_send, stream) = changes();
        let receiver = watches.watch("k", counted(&runs, &seen), stream);
        drop(receiver);
        tokio::time::sleep(MIN_INTERVAL).await;
        assert!(watches.entries.lock().unwrap().is_empty());
        // Watching again starts afresh.
        let (_send, stream) = changes();
        let receiver = watches.watch("k", counted(&runs, &seen), stream);
        let mut values = Box::pin(values(receiver));
        assert_eq!(values.next().await, Some(0));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
