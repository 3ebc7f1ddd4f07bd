//! Reads that concurrent callers share without seeing anything older than a read of
//! their own would.
//!
//! Every request starts from its workspace's row (its settings, and the data version
//! KPI answers are cached under), and must see every commit acknowledged before the
//! request arrived. Under load many requests want the same row at the same moment;
//! with a query each, the database round trip costs more than everything else a
//! cached KPI answer needs. So callers asking for the same key share one read — but
//! only a read that has not been sent yet:
//!
//! - a caller joins the read that is *queued* for its key, or queues a new one;
//! - a queued read is sent once the key's previous read has come back (one in flight
//!   per key), and it leaves the queue just before it is sent, so whoever arrives
//!   after that queues the next one.
//!
//! A shared read is therefore sent after every caller that shares it arrived, and
//! sees every commit acknowledged before any of them arrived: exactly what each would
//! have seen alone. The reads per second stay bounded by one in flight per key,
//! whatever the request rate.
//!
//! A read is driven by whichever of its callers is polled, on whatever worker thread
//! that is; one that goes away does not cancel it for the others, and the map holds it
//! until it is done (an abandoned read is resumed by the next caller of its key). A
//! read that fails is not shared: each caller then reads for itself and gets its own
//! error (the pool bounds how many do so at once).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};

use crate::error::Result;

/// One read: its value, or `None` when it failed (each caller then reads alone).
type Flight<V> = Shared<BoxFuture<'static, Option<V>>>;

/// The reads of one key: the one sent (if any) and the one waiting to be sent.
struct Reads<V> {
    sent: Option<(u64, Flight<V>)>,
    queued: Option<(u64, Flight<V>)>,
}

/// Shared reads by key; see the module documentation. Clones share the reads.
pub(crate) struct SharedReads<K, V> {
    inner: Arc<Mutex<Inner<K, V>>>,
}

impl<K, V> Clone for SharedReads<K, V> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<K, V> {
    reads: HashMap<K, Reads<V>>,
    /// Names each read, so that a finished one removes itself and nothing newer.
    next_id: u64,
}

impl<K, V> std::fmt::Debug for SharedReads<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedReads").finish_non_exhaustive()
    }
}

impl<K, V> Default for SharedReads<K, V> {
    fn default() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                reads: HashMap::new(),
                next_id: 0,
            })),
        }
    }
}

fn lock<K, V>(inner: &Mutex<Inner<K, V>>) -> MutexGuard<'_, Inner<K, V>> {
    // The map is left consistent between statements, so a panic elsewhere while it
    // was held does not make it wrong.
    inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<K, V> SharedReads<K, V>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// `read()`'s value, from a read sent after this call began, shared with other
    /// callers of the same key where possible.
    pub(crate) async fn get<F, Fut>(&self, key: K, read: F) -> Result<V>
    where
        F: Fn() -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<V>> + Send + 'static,
    {
        let flight = self.join_or_queue(key, read.clone());
        match flight.await {
            Some(value) => Ok(value),
            None => read().await,
        }
    }

    fn join_or_queue<F, Fut>(&self, key: K, read: F) -> Flight<V>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V>> + Send + 'static,
    {
        let mut inner = lock(&self.inner);
        let id = inner.next_id;
        let reads = inner.reads.entry(key.clone()).or_insert(Reads {
            sent: None,
            queued: None,
        });
        if let Some((_, queued)) = &reads.queued {
            return queued.clone();
        }
        let before = reads.sent.as_ref().map(|(_, flight)| flight.clone());
        let shared = Arc::clone(&self.inner);
        let flight = async move {
            if let Some(before) = before {
                before.await;
            }
            let sent = {
                let mut inner = lock(&shared);
                let reads = inner.reads.get_mut(&key);
                // From here on, arrivals queue the next read.
                reads
                    .map(|reads| reads.sent = reads.queued.take())
                    .is_some()
            };
            let value = if sent {
                // A panic is kept inside this read: the next one waits for it.
                match AssertUnwindSafe(read()).catch_unwind().await {
                    Ok(Ok(value)) => Some(value),
                    Ok(Err(error)) => {
                        tracing::debug!(%error, "a shared read failed; its callers read alone");
                        None
                    }
                    Err(_) => None,
                }
            } else {
                None
            };
            let mut inner = lock(&shared);
            if let Some(reads) = inner.reads.get_mut(&key) {
                if reads.sent.as_ref().is_some_and(|(sent, _)| *sent == id) {
                    reads.sent = None;
                }
                if reads.sent.is_none() && reads.queued.is_none() {
                    inner.reads.remove(&key);
                }
            }
            value
        }
        .boxed()
        .shared();
        reads.queued = Some((id, flight.clone()));
        inner.next_id += 1;
        flight
    }

    /// Keys with a read queued or in flight (for tests: finished reads leave none).
    #[cfg(test)]
    fn keys_in_flight(&self) -> usize {
        lock(&self.inner).reads.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use tokio::sync::Semaphore;

    use super::*;
    use crate::StorageError;

    /// A "database" whose reads return how many reads were sent before them, each
    /// read waiting for a permit so that a test decides when it comes back.
    #[derive(Clone)]
    struct Database {
        sent: Arc<AtomicU64>,
        permits: Arc<Semaphore>,
    }

    impl Database {
        fn new() -> Self {
            Self {
                sent: Arc::new(AtomicU64::new(0)),
                permits: Arc::new(Semaphore::new(0)),
            }
        }

        fn reader(&self) -> impl Fn() -> BoxFuture<'static, Result<u64>> + Clone + Send + 'static {
            let db = self.clone();
            move || {
                let db = db.clone();
                async move {
                    let seen = db.sent.fetch_add(1, Ordering::SeqCst) + 1;
                    db.permits.acquire().await.expect("open").forget();
                    Ok(seen)
                }
                .boxed()
            }
        }

        fn sent(&self) -> u64 {
            self.sent.load(Ordering::SeqCst)
        }
    }

    /// A caller of key "ws", on a task of its own.
    fn caller(
        reads: &Arc<SharedReads<&'static str, u64>>,
        db: &Database,
    ) -> tokio::task::JoinHandle<Result<u64>> {
        let (reads, read) = (reads.clone(), db.reader());
        tokio::spawn(async move { reads.get("ws", read).await })
    }

    async fn until(what: &str, done: impl Fn() -> bool) {
        for _ in 0..2_000 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("timed out waiting until {what}");
    }

    #[tokio::test]
    async fn callers_that_arrive_while_a_read_is_queued_share_it() {
        let reads = Arc::new(SharedReads::<&str, u64>::default());
        let db = Database::new();
        // The first read goes out and is held there.
        let first = caller(&reads, &db);
        until("the first read is sent", || db.sent() == 1).await;
        // Ten callers arrive while it is out: they queue one read between them.
        let waiting: Vec<_> = (0..10).map(|_| caller(&reads, &db)).collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(db.sent(), 1, "the queued read waits for the one in flight");
        db.permits.add_permits(2);
        assert_eq!(first.await.unwrap().unwrap(), 1);
        for caller in waiting {
            assert_eq!(
                caller.await.unwrap().unwrap(),
                2,
                "all share the second read"
            );
        }
        assert_eq!(db.sent(), 2);
        until("finished reads are forgotten", || {
            reads.keys_in_flight() == 0
        })
        .await;
    }

    #[tokio::test]
    async fn a_caller_that_arrives_after_a_read_was_sent_gets_a_later_read() {
        let reads = Arc::new(SharedReads::<&str, u64>::default());
        let db = Database::new();
        let first = caller(&reads, &db);
        until("the first read is sent", || db.sent() == 1).await;
        // This caller arrives after the first read was sent (a commit may have come
        // between), so the first read's value is too old for it.
        let late = caller(&reads, &db);
        tokio::time::sleep(Duration::from_millis(20)).await;
        db.permits.add_permits(2);
        assert_eq!(first.await.unwrap().unwrap(), 1);
        assert_eq!(late.await.unwrap().unwrap(), 2, "read after it arrived");
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_does_not_strand_the_others() {
        let reads = Arc::new(SharedReads::<&str, u64>::default());
        let db = Database::new();
        let first = caller(&reads, &db);
        until("the first read is sent", || db.sent() == 1).await;
        let second = caller(&reads, &db);
        tokio::time::sleep(Duration::from_millis(20)).await;
        // The caller driving the read in flight goes away; the one waiting behind it
        // drives it to the end, then its own.
        first.abort();
        db.permits.add_permits(2);
        assert_eq!(second.await.unwrap().unwrap(), 2);
        until("finished reads are forgotten", || {
            reads.keys_in_flight() == 0
        })
        .await;
    }

    #[tokio::test]
    async fn keys_do_not_share_and_a_failed_read_is_retried_by_each_caller() {
        let reads = SharedReads::<&str, u64>::default();
        let db = Database::new();
        db.permits.add_permits(100);
        assert_eq!(reads.get("a", db.reader()).await.unwrap(), 1);
        assert_eq!(reads.get("b", db.reader()).await.unwrap(), 2);

        let attempts = Arc::new(AtomicU64::new(0));
        let failing = {
            let attempts = attempts.clone();
            move || {
                let attempts = attempts.clone();
                async move {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    Err::<u64, _>(StorageError::Corrupt("no".into()))
                }
            }
        };
        let error = reads.get("a", failing).await.unwrap_err();
        assert!(matches!(error, StorageError::Corrupt(_)));
        assert_eq!(attempts.load(Ordering::SeqCst), 2, "shared, then its own");
    }
}
