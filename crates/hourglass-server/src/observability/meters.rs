//! The metrics hourglass keeps, and their Prometheus rendering on `/metrics`.
//!
//! Code records through the `metrics` facade (`counter!`, `histogram!`, `gauge!`):
//! without the recorder installed — the CLI, unit tests — every call is a no-op.
//! [`install`] sets up the one process-wide recorder; every metric is described in
//! [`describe`] with its unit, so a scrape explains itself. Names follow Prometheus
//! conventions: `hourglass_` prefix, `_total` counters, `_seconds` and base units.
//!
//! Labels stay bounded: routes are patterns (`/l/{code}`), GraphQL operation names
//! are capped at [`MAX_OPERATION_NAMES`] distinct ones (unnamed operations are
//! `anonymous`, the rest beyond the cap `other`), codes come from fixed tables.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use hourglass_storage::{Store, meters as storage};
use metrics::{describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS: &str = "hourglass_http_requests_total";
pub const HTTP_DURATION: &str = "hourglass_http_request_duration_seconds";
pub const GRAPHQL_OPERATIONS: &str = "hourglass_graphql_operations_total";
pub const GRAPHQL_DURATION: &str = "hourglass_graphql_operation_duration_seconds";
pub const GRAPHQL_COST: &str = "hourglass_graphql_operation_cost";
pub const REFUSALS: &str = "hourglass_admission_refusals_total";
pub const EVENTS: &str = "hourglass_ingest_events_total";
pub const INGEST_BATCH_DURATION: &str = "hourglass_ingest_batch_duration_seconds";
pub const SCRIPT_RUNS: &str = "hourglass_script_runs_total";
pub const SCRIPT_DURATION: &str = "hourglass_script_query_duration_seconds";
pub const SCRIPT_QUEUE_WAIT: &str = "hourglass_script_queue_wait_seconds";
pub const WEBSOCKET_CONNECTIONS: &str = "hourglass_websocket_connections";
pub const SUBSCRIPTIONS: &str = "hourglass_graphql_subscriptions";

/// Distinct GraphQL operation names kept as label values; later ones are `other`.
pub const MAX_OPERATION_NAMES: usize = 200;

/// Upper bounds of the latency buckets, in seconds: a millisecond to a minute.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Upper bounds of the cost buckets: a plain field, a KPI, the expensive line, the budget.
const COST_BUCKETS: &[f64] = &[1.0, 10.0, 50.0, 100.0, 350.0, 1_000.0, 3_000.0, 10_000.0];

/// Installs the process-wide recorder (once; later calls return the same handle).
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(GRAPHQL_COST.into()), COST_BUCKETS)
                })
                .map(PrometheusBuilder::build_recorder);
            let handle = match recorder {
                Ok(recorder) => {
                    let handle = recorder.handle();
                    if let Err(e) = metrics::set_global_recorder(recorder) {
                        // Another recorder was installed first (an embedding program's).
                        tracing::warn!(error = %e, "metrics go to the recorder installed before");
                    }
                    handle
                }
                // The bucket lists above are constant and non-empty.
                Err(e) => {
                    tracing::warn!(error = %e, "metrics buckets; falling back to summaries");
                    PrometheusBuilder::new().build_recorder().handle()
                }
            };
            describe();
            handle
        })
        .clone()
}

/// Prometheus text of everything recorded, with the pool gauges read now.
pub fn render(handle: &PrometheusHandle, store: &Store) -> String {
    store.pool_stats().record();
    handle.run_upkeep();
    handle.render()
}

fn describe() {
    use metrics::Unit;
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route pattern, method and status."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request, by route pattern and method."
    );
    describe_counter!(
        GRAPHQL_OPERATIONS,
        "GraphQL operations run, by operation name, type and outcome (OK or the first error's code)."
    );
    describe_histogram!(
        GRAPHQL_DURATION,
        Unit::Seconds,
        "Time to run a GraphQL operation, admission included, by operation name and type."
    );
    describe_histogram!(
        GRAPHQL_COST,
        "What GraphQL operations cost (the README's cost table), by operation name."
    );
    describe_counter!(
        REFUSALS,
        "Refusals before anything ran, by reason (auth, rate, cost, timeout, size): one per request, or per operation of a GraphQL batch."
    );
    describe_counter!(
        EVENTS,
        "Events sent for ingest, by outcome (accepted, duplicate, rejected) and code."
    );
    describe_histogram!(
        INGEST_BATCH_DURATION,
        Unit::Seconds,
        "Time to validate and commit one ingest batch."
    );
    describe_histogram!(
        storage::AGGREGATE_UPKEEP_SECONDS,
        Unit::Seconds,
        "Time one ingest batch spent maintaining rollups and per-contact facts."
    );
    describe_histogram!(
        storage::WRITE_WAIT_SECONDS,
        Unit::Seconds,
        "Time a writer waited for its turn (SQLite's write lock; PostgreSQL's per-workspace queue)."
    );
    describe_gauge!(
        storage::POOL_CONNECTIONS,
        "Database pool connections by state (in_use, idle, max), read at scrape time."
    );
    describe_counter!(
        SCRIPT_RUNS,
        "Custom KPI script runs, one per organization, by outcome (OK or the error code, SCRIPT_LIMIT_EXCEEDED for limit hits)."
    );
    describe_histogram!(
        SCRIPT_DURATION,
        Unit::Seconds,
        "Time a custom KPI query spent running its scripts."
    );
    describe_histogram!(
        SCRIPT_QUEUE_WAIT,
        Unit::Seconds,
        "Time a custom KPI query waited for a script slot."
    );
    describe_gauge!(WEBSOCKET_CONNECTIONS, "Open GraphQL WebSocket connections.");
    describe_gauge!(SUBSCRIPTIONS, "Running GraphQL subscriptions.");
}

/// Why admission turned something away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No key, a wrong or revoked one.
    Auth,
    /// A key's request rate, or an address that failed to authenticate too often.
    Rate,
    /// Over `graphql.max_cost`.
    Cost,
    /// Stopped at `graphql.timeout_ms`.
    Timeout,
    /// A body or batch over its limit.
    Size,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Refusal::Auth => "auth",
            Refusal::Rate => "rate",
            Refusal::Cost => "cost",
            Refusal::Timeout => "timeout",
            Refusal::Size => "size",
        }
    }
}

pub fn refused(reason: Refusal) {
    metrics::counter!(REFUSALS, "reason" => reason.label()).increment(1);
}

/// The label of an HTTP method: the standard ones by name, any other `other` (a
/// client may send any token as a method; each would be a new series).
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

pub fn http_request(route: &str, method: &'static str, status: u16, took: Duration) {
    let route = route.to_owned();
    metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method, "status" => status.to_string())
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "route" => route, "method" => method).record(took);
}

/// One GraphQL operation as it ended.
#[derive(Debug)]
pub struct OperationRecord<'a> {
    pub name: &'a str,
    /// `query`, `mutation` or `subscription`.
    pub kind: &'static str,
    /// `OK`, or the first error's code.
    pub outcome: &'a str,
    pub took: Duration,
    /// What admission priced it at (absent when it failed before).
    pub cost: Option<usize>,
}

pub fn graphql_operation(op: &OperationRecord<'_>) {
    let name = op.name.to_owned();
    metrics::counter!(GRAPHQL_OPERATIONS, "operation" => name.clone(), "type" => op.kind, "outcome" => op.outcome.to_owned())
        .increment(1);
    metrics::histogram!(GRAPHQL_DURATION, "operation" => name.clone(), "type" => op.kind)
        .record(op.took);
    if let Some(cost) = op.cost {
        metrics::histogram!(GRAPHQL_COST, "operation" => name).record(cost as f64);
    }
}

/// Longest operation name kept as a label value; longer ones are cut.
const MAX_OPERATION_NAME: usize = 64;

/// The label value of the name of an operation that ran: itself (cut at
/// [`MAX_OPERATION_NAME`] characters) while fewer than [`MAX_OPERATION_NAMES`] have been
/// seen, `anonymous` without one, else `other`. Only names found in a parsed
/// document come here, never the request's `operationName` as sent.
pub fn operation_label(name: Option<&str>) -> String {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return "anonymous".into();
    };
    let name = name
        .char_indices()
        .nth(MAX_OPERATION_NAME)
        .map_or(name, |(cut, _)| &name[..cut]);
    let mut seen = SEEN
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if seen.contains(name) {
        return name.to_owned();
    }
    if seen.len() < MAX_OPERATION_NAMES {
        seen.insert(name.to_owned());
        return name.to_owned();
    }
    "other".into()
}

/// What became of one batch's events.
pub fn ingest_batch(
    accepted: u64,
    duplicates: u64,
    rejected: impl IntoIterator<Item = &'static str>,
    took: Duration,
) {
    metrics::counter!(EVENTS, "outcome" => "accepted", "code" => "").increment(accepted);
    metrics::counter!(EVENTS, "outcome" => "duplicate", "code" => "").increment(duplicates);
    for code in rejected {
        metrics::counter!(EVENTS, "outcome" => "rejected", "code" => code).increment(1);
    }
    metrics::histogram!(INGEST_BATCH_DURATION).record(took);
}

/// One custom KPI query: its wait for a slot, its run, each organization's outcome.
pub fn script_query(
    queued: Duration,
    ran: Duration,
    outcomes: impl IntoIterator<Item = &'static str>,
) {
    metrics::histogram!(SCRIPT_QUEUE_WAIT).record(queued);
    metrics::histogram!(SCRIPT_DURATION).record(ran);
    for outcome in outcomes {
        metrics::counter!(SCRIPT_RUNS, "outcome" => outcome).increment(1);
    }
}

/// A gauge that counts what is open: one more while this lives.
#[derive(Debug)]
pub struct Open(&'static str);

impl Open {
    pub fn websocket() -> Self {
        Self::count(WEBSOCKET_CONNECTIONS)
    }

    pub fn subscription() -> Self {
        Self::count(SUBSCRIPTIONS)
    }

    fn count(name: &'static str) -> Self {
        gauge!(name).increment(1.0);
        Self(name)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        gauge!(self.0).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_are_bounded() {
        assert_eq!(operation_label(None), "anonymous");
        assert_eq!(operation_label(Some("")), "anonymous");
        assert_eq!(operation_label(Some("Dashboard")), "Dashboard");
        assert_eq!(
            operation_label(Some(&"Long".repeat(40))).len(),
            MAX_OPERATION_NAME
        );
        for i in 0..MAX_OPERATION_NAMES {
            operation_label(Some(&format!("Generated{i}")));
        }
        assert_eq!(operation_label(Some("OneTooMany")), "other");
        assert_eq!(
            operation_label(Some("Dashboard")),
            "Dashboard",
            "known names stay"
        );
    }
}
