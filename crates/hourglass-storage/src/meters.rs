//! What storage records for `/metrics`, through the `metrics` facade: without a
//! recorder installed (the CLI, tests of this crate) every call is a no-op. The
//! server installs the Prometheus recorder and describes these names.

use std::time::Duration;

use crate::store::Backend;

/// Seconds a writer waited for its turn: SQLite's one writer lock, PostgreSQL's
/// per-workspace queue of this process. Label `backend`.
pub const WRITE_WAIT_SECONDS: &str = "hourglass_db_write_wait_seconds";

/// Seconds one ingest batch spent maintaining the aggregate layer (rollups and
/// per-contact facts) inside its transaction.
pub const AGGREGATE_UPKEEP_SECONDS: &str = "hourglass_aggregate_upkeep_seconds";

/// Connections of the database pool, by `state`: `in_use`, `idle`.
pub const POOL_CONNECTIONS: &str = "hourglass_db_pool_connections";

/// The most connections the pool opens (`database_max_connections`).
pub const POOL_MAX_CONNECTIONS: &str = "hourglass_db_pool_max_connections";

pub(crate) fn waited_to_write(backend: Backend, waited: Duration) {
    metrics::histogram!(WRITE_WAIT_SECONDS, "backend" => backend.name()).record(waited);
}

pub(crate) fn kept_aggregates(took: Duration) {
    metrics::histogram!(AGGREGATE_UPKEEP_SECONDS).record(took);
}

/// The pool as it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections, idle ones included.
    pub open: u32,
    pub idle: u32,
    /// The most the pool opens (`database_max_connections`).
    pub max: u32,
}

impl PoolStats {
    pub fn in_use(&self) -> u32 {
        self.open.saturating_sub(self.idle)
    }

    /// Sets the pool gauges; called when `/metrics` is scraped.
    pub fn record(&self) {
        for (state, value) in [("in_use", self.in_use()), ("idle", self.idle)] {
            metrics::gauge!(POOL_CONNECTIONS, "state" => state).set(value);
        }
        metrics::gauge!(POOL_MAX_CONNECTIONS).set(self.max);
    }
}
