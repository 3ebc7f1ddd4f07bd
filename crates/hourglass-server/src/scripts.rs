//! Running custom KPI scripts for a workspace: the one path behind GraphQL
//! (`customKpi`, `previewKpiScript`, `kpis { custom }`) and the CLI (`kpi run`).
//!
//! Scripts are CPU work: they run on the blocking pool, at most
//! `scripts.max_concurrent_runs` queries at once and
//! `scripts.max_concurrent_runs_per_agency` of one agency (`fair_slots`), each
//! spread over `scripts.threads` threads, under a query-wide deadline. A query
//! whose request is abandoned (its client went away, or it reached its time
//! limit) stops at its scripts' next check and frees its slot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use hourglass_core::definition::{ParamDecl, resolve_params};
use hourglass_core::engagement::{OrgInfo, OrgRecords};
use hourglass_core::script::{
    Aggregate, CompiledScript, QueryDeadline, ScriptCache, ScriptEngine, ScriptError, ScriptOutput,
    SharedInput, aggregate,
};
use hourglass_storage::{KpiFilter, WorkspaceStore};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::fair_slots::FairSlots;
use crate::observability::meters;
use crate::settings::ScriptSettings;

/// One organization's outcome.
#[derive(Debug, Clone)]
pub struct OrgOutcome {
    pub organization: OrgInfo,
    pub result: Result<ScriptOutput, ScriptError>,
}

/// A script run over every organization of a filter.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub outcomes: Vec<OrgOutcome>,
    /// Over the organizations whose run succeeded.
    pub aggregate: Aggregate,
    pub elapsed: Duration,
}

/// The shared engine, compiled-script cache and concurrency limits.
#[derive(Debug, Clone)]
pub struct ScriptRunner {
    engine: Arc<ScriptEngine>,
    cache: Arc<ScriptCache>,
    slots: FairSlots,
    threads: usize,
    query_timeout: Duration,
}

impl ScriptRunner {
    pub fn new(settings: &ScriptSettings) -> Self {
        let threads = if settings.threads == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            settings.threads
        };
        Self {
            engine: Arc::new(ScriptEngine::new(settings.limits())),
            cache: Arc::new(ScriptCache::new(256)),
            slots: FairSlots::new(
                settings.max_concurrent_runs,
                settings.max_concurrent_runs_per_agency,
            ),
            threads,
            query_timeout: Duration::from_millis(settings.query_timeout_ms),
        }
    }

    /// Compiles without running, on the blocking pool: compiling a large script takes
    /// long enough to stall the async workers that serve every other request. The
    /// engine refuses a source over its size cap before parsing it.
    pub async fn compile(&self, source: String) -> ApiResult<CompiledScript> {
        let engine = Arc::clone(&self.engine);
        tokio::task::spawn_blocking(move || engine.compile(&source))
            .await
            .map_err(|e| ApiError::internal(&e))?
            .map_err(ApiError::Script)
    }

    /// Compiles through the cache, on the blocking pool; `key` names one immutable
    /// version.
    pub async fn compile_cached(&self, key: String, source: String) -> ApiResult<CompiledScript> {
        let (engine, cache) = (Arc::clone(&self.engine), Arc::clone(&self.cache));
        tokio::task::spawn_blocking(move || cache.get_or_compile(&key, &engine, &source))
            .await
            .map_err(|e| ApiError::internal(&e))?
            .map_err(ApiError::Script)
    }

    /// Runs `script` once per organization with events in `filter`.
    pub async fn run(
        &self,
        ws: &WorkspaceStore,
        script: CompiledScript,
        declared: &[ParamDecl],
        given: &Map<String, Value>,
        filter: &KpiFilter,
    ) -> ApiResult<RunReport> {
        self.run_limited(ws, script, declared, given, filter, None)
            .await
    }

    /// Like [`run`](Self::run), for at most `limit` organizations (a preview).
    pub async fn run_limited(
        &self,
        ws: &WorkspaceStore,
        script: CompiledScript,
        declared: &[ParamDecl],
        given: &Map<String, Value>,
        filter: &KpiFilter,
        limit: Option<usize>,
    ) -> ApiResult<RunReport> {
        let params = resolve_params(declared, given).map_err(|e| ApiError::BadUserInput {
            message: e.to_string(),
            field: Some("params".into()),
        })?;
        // A script that never names `events` runs on the aggregate layer's facts.
        let mut orgs: Vec<OrgRecords> = if script.reads_events() {
            ws.engagement(filter).await?
        } else {
            let facts = ws.engagement_facts(filter).await?;
            facts.into_iter().map(OrgRecords::from).collect()
        };
        if let Some(limit) = limit {
            orgs.truncate(limit);
        }
        let shared = SharedInput {
            assets: ws.asset_infos().await?,
            params,
            // Scripts never read the clock: `now` is the end of what they look at.
            now: filter.range.to.unwrap_or_else(Utc::now),
            campaign: filter.campaign.as_ref().map(ToString::to_string),
            asset: filter.asset.as_ref().map(ToString::to_string),
            from: filter.range.from,
            to: filter.range.to,
        };
        let queued = Instant::now();
        let slot = self
            .slots
            .acquire(ws.workspace().agency_id)
            .await
            .ok_or_else(|| ApiError::internal(&"the script slots are gone"))?;
        let queued = queued.elapsed();
        let engine = self.engine.clone();
        let threads = self.threads;
        let started = Instant::now();
        let deadline = QueryDeadline::new(started + self.query_timeout);
        // Dropped with this future when the request is abandoned: the runs stop at
        // their next check and the blocking task frees the slot.
        let _abandon_on_drop = AbandonOnDrop(deadline.clone());
        let (orgs, results) = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let results = engine.run_all(&script, &orgs, &shared, &deadline, threads);
            (orgs, results)
        })
        .await
        .map_err(|e| ApiError::internal(&e))?;
        meters::script_query(
            queued,
            started.elapsed(),
            results.iter().map(|r| match r {
                Ok(_) => "OK",
                Err(e) => e.kind.code(),
            }),
        );
        let values: Vec<f64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|o| o.value))
            .collect();
        Ok(RunReport {
            aggregate: aggregate(&values),
            outcomes: orgs
                .into_iter()
                .zip(results)
                .map(|(org, result)| OrgOutcome {
                    organization: org.organization,
                    result,
                })
                .collect(),
            elapsed: started.elapsed(),
        })
    }
}

/// Abandons a query's script runs when dropped before they finished (after they
/// finished it changes nothing).
struct AbandonOnDrop(QueryDeadline);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        self.0.abandon();
    }
}
