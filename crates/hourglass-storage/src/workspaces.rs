//! Workspaces, and the scoped handle every per-workspace query goes through.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use hourglass_core::depth::DepthWeights;
use hourglass_core::{FieldError, Stage};
use sea_orm::sea_query::SelectStatement;
use sea_orm::{ActiveModelTrait, EntityTrait, FromQueryResult, IntoActiveModel, Set};

use crate::entities::workspace;
use crate::error::{Result, StorageError};
use crate::store::Store;

/// Changes to a workspace's settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceUpdate {
    pub name: Option<String>,
    pub min_sample: Option<u32>,
    pub depth_weights: Option<DepthWeights>,
    pub full_stay_threshold: Option<f64>,
    /// Lifecycle stages in order; must contain LEAD.
    pub lifecycle_stages: Option<Vec<String>>,
    /// ISO 4217 reporting currency.
    pub currency: Option<String>,
}

/// Most a workspace's minimum sample may be set to.
const MAX_MIN_SAMPLE: u32 = 1_000_000;

/// Everything of one workspace. It can only be had from a [`Tenant`](crate::Tenant)
/// that can see the workspace, and every query it makes is bound to it.
///
/// A handle is a snapshot of the workspace row as it was had: its settings and the
/// data version cached KPI answers are looked up under. It sees its own writes at
/// once; other writers' from the next handle. Get one per request.
#[derive(Debug, Clone)]
pub struct WorkspaceStore {
    pub(crate) store: Store,
    pub(crate) workspace: workspace::Model,
    /// The data version this handle reads at: the row's, raised by its own commits.
    data_version: Arc<AtomicI64>,
}

impl WorkspaceStore {
    pub(crate) fn new(store: Store, workspace: workspace::Model) -> Self {
        let data_version = Arc::new(AtomicI64::new(workspace.data_version));
        Self {
            store,
            workspace,
            data_version,
        }
    }

    /// The rows of a hand-built query.
    /// The same workspace read again: its settings and data version as of now, for
    /// a handle that outlives a request (a live report). A handle answers under
    /// the data version it was read with, so an old one would keep old answers.
    pub async fn fresh(&self) -> Result<WorkspaceStore> {
        let row = workspace::Entity::find_by_id(self.workspace.id)
            .one(&self.store.db)
            .await?
            .ok_or_else(|| StorageError::not_found("workspace", &self.workspace.slug))?;
        Ok(Self::new(self.store.clone(), row))
    }

    pub(crate) async fn select<T: FromQueryResult>(
        &self,
        query: &SelectStatement,
    ) -> Result<Vec<T>> {
        let db = &self.store.db;
        Ok(T::find_by_statement(db.get_database_backend().build(query))
            .all(db)
            .await?)
    }

    /// The data version answers of this handle are cached under.
    pub(crate) fn data_version(&self) -> i64 {
        self.data_version.load(Ordering::Acquire)
    }

    /// Notes that this handle committed `version`, so its reads see the write.
    pub(crate) fn saw_data_version(&self, version: i64) {
        self.data_version.fetch_max(version, Ordering::AcqRel);
    }

    pub fn workspace(&self) -> &workspace::Model {
        &self.workspace
    }

    pub(crate) fn id(&self) -> i64 {
        self.workspace.id
    }

    /// Whether the workspace's rollups are of this code's generation; until they
    /// are (`rollups rebuild`), KPIs are computed from raw events.
    pub fn rollups_current(&self) -> bool {
        self.workspace.rollup_version == crate::rollups::VERSION
    }

    /// The minimum sample size below which rates are insufficient.
    pub fn min_sample(&self) -> u64 {
        u64::try_from(self.workspace.min_sample).unwrap_or(0)
    }

    /// The weights of the depth score.
    pub fn depth_weights(&self) -> DepthWeights {
        self.workspace
            .depth_weights
            .as_ref()
            .and_then(|json| serde_json::from_value(json.clone()).ok())
            .unwrap_or_default()
    }

    /// Share of a webinar's duration that counts as staying to the end.
    pub fn full_stay_threshold(&self) -> f64 {
        self.workspace.full_stay_threshold
    }

    /// Lifecycle stages in order, from first touch to customer.
    pub fn lifecycle_stages(&self) -> Vec<String> {
        self.workspace
            .lifecycle_stages
            .as_ref()
            .and_then(|json| serde_json::from_value(json.clone()).ok())
            .unwrap_or_else(|| Stage::DEFAULTS.iter().map(|s| (*s).to_owned()).collect())
    }

    /// The reporting currency: what revenue and spend that name none are in.
    pub fn currency(&self) -> Option<&str> {
        self.workspace.currency.as_deref()
    }

    /// Changes settings and returns the workspace as it now is.
    pub async fn update(&mut self, update: WorkspaceUpdate) -> Result<workspace::Model> {
        let mut active = self.workspace.clone().into_active_model();
        if let Some(name) = update.name {
            active.name = Set(hourglass_core::catalog::name("name", &name)?);
        }
        if let Some(min_sample) = update.min_sample {
            if min_sample > MAX_MIN_SAMPLE {
                return Err(FieldError::new(
                    "minSample",
                    format!("must be at most {MAX_MIN_SAMPLE}"),
                )
                .into());
            }
            active.min_sample = Set(i32::try_from(min_sample).unwrap_or(i32::MAX));
        }
        if let Some(weights) = update.depth_weights {
            weights.validate()?;
            active.depth_weights = Set(Some(serde_json::to_value(weights).unwrap_or_default()));
        }
        if let Some(threshold) = update.full_stay_threshold {
            if !(threshold > 0.0 && threshold <= 1.0) {
                return Err(FieldError::new(
                    "fullStayThreshold",
                    format!("is a share of the duration, above 0 and at most 1; got {threshold}"),
                )
                .into());
            }
            active.full_stay_threshold = Set(threshold);
        }
        if let Some(stages) = update.lifecycle_stages {
            active.lifecycle_stages = Set(Some(validate_stages(&stages)?));
        }
        if let Some(currency) = update.currency {
            active.currency = Set(Some(hourglass_core::catalog::currency(&currency)?));
        }
        let write = self.begin_write().await?;
        let updated = active.update(&*write).await?;
        write.commit().await?;
        self.workspace = updated;
        Ok(self.workspace.clone())
    }
}

/// Stages are upper-case words, listed once each, and LEAD is among them: the
/// bottom of the hourglass starts there.
fn validate_stages(stages: &[String]) -> Result<serde_json::Value> {
    let mut seen = std::collections::HashSet::new();
    for stage in stages {
        Stage::parse(stage).map_err(|e| FieldError::new("lifecycleStages", e.to_string()))?;
        if !seen.insert(stage.as_str()) {
            return Err(
                FieldError::new("lifecycleStages", format!("{stage} is listed twice")).into(),
            );
        }
    }
    if !seen.contains("LEAD") {
        return Err(FieldError::new("lifecycleStages", "must include LEAD").into());
    }
    Ok(serde_json::Value::from(stages.to_vec()))
}
