//! Live dashboards: subscriptions over GraphQL-over-WebSocket.
//!
//! Ingest publishes a notice after each committed batch that stored new events; a
//! dashboard subscribed to its workspace refetches the KPIs it shows. Notices carry
//! counts, never event data, and reach only subscribers that can read the workspace.

use async_graphql::{Context, ID, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use hourglass_core::Permission;
use tokio::sync::broadcast;

use super::{caller, state};
use crate::error::ApiError;

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
        Ok(state(ctx).ingest_feed.notices_for(ws.workspace().id))
    }
}
