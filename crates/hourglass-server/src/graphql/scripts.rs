//! Custom KPIs: agencies write Rhai scripts, validate, preview, publish them as
//! versions, and query them like built-in KPIs.

use async_graphql::connection::{Connection, OpaqueCursor};
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use hourglass_core::Permission;
use hourglass_core::definition::ParamDecl;
use hourglass_core::script::{Aggregate, ScriptError};
use hourglass_storage::{
    KpiScriptChanges, KpiScriptContent, KpiScriptRecord, WorkspaceStore, from_millis,
};
use serde_json::{Map, Value};

use super::filter::KpiFilterInput;
use super::types::Goal;
use super::{AppState, caller, cost, page, state};
use crate::error::{ApiError, ApiResult};
use crate::scripts::RunReport;

/// A parameter a script declares.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(input_name = "KpiParamInput")]
pub struct KpiParam {
    /// The name the script reads as `params.NAME`.
    pub name: String,
    /// The value when the caller gives none.
    pub default: Json<Value>,
    pub description: Option<String>,
}

impl From<ParamDecl> for KpiParam {
    fn from(p: ParamDecl) -> Self {
        Self {
            name: p.name,
            default: Json(p.default),
            description: p.description,
        }
    }
}

impl From<KpiParam> for ParamDecl {
    fn from(p: KpiParam) -> Self {
        Self {
            name: p.name,
            default: p.default.0,
            description: p.description,
        }
    }
}

/// A custom KPI at one version.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct KpiScript {
    /// What queries name it by, such as hot_account.
    pub key: String,
    /// The version shown.
    pub version: i32,
    /// The newest version.
    pub current_version: i32,
    pub name: String,
    pub description: Option<String>,
    /// The goal the KPI serves.
    pub goal: Goal,
    /// Shown next to values, such as points.
    pub unit: Option<String>,
    pub source: String,
    pub params: Vec<KpiParam>,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    /// When this version was saved.
    pub version_created_at: DateTime<Utc>,
    #[graphql(skip)]
    pub workspace: ID,
}

#[ComplexObject]
impl KpiScript {
    /// Every version, newest first.
    async fn history(&self, ctx: &Context<'_>) -> ApiResult<Vec<KpiScript>> {
        let ws = caller(ctx)?
            .workspace(&self.workspace, Permission::Read)
            .await?;
        let versions = ws.kpi_script_history(&self.key).await?;
        Ok(versions
            .into_iter()
            .map(|r| KpiScript::new(&self.workspace, r))
            .collect())
    }
}

impl KpiScript {
    fn new(workspace: &ID, r: KpiScriptRecord) -> Self {
        Self {
            key: r.key,
            version: r.version,
            current_version: r.current_version,
            name: r.content.name,
            description: r.content.description,
            goal: r.content.goal.into(),
            unit: r.content.unit,
            source: r.content.source,
            params: r.content.params.into_iter().map(Into::into).collect(),
            archived: r.archived_at.is_some(),
            created_at: from_millis(r.created_at),
            version_created_at: from_millis(r.version_created_at),
            workspace: workspace.clone(),
        }
    }
}

/// A custom KPI to create.
#[derive(InputObject, Debug)]
pub struct KpiScriptInput {
    /// 2 to 64 lower-case letters, digits or '_', starting with a letter.
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    pub goal: Goal,
    pub unit: Option<String>,
    /// The Rhai source: returns a number, or #{ value, label, breakdown }.
    pub source: String,
    #[graphql(default)]
    pub params: Vec<KpiParam>,
}

/// Changes to a custom KPI; each update saves a new immutable version.
#[derive(InputObject, Debug, Default)]
pub struct KpiScriptUpdateInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub goal: Option<Goal>,
    pub unit: Option<String>,
    pub source: Option<String>,
    pub params: Option<Vec<KpiParam>>,
}

/// A problem with a script, where it is and what to do about it.
#[derive(SimpleObject, Debug, Clone)]
pub struct ScriptProblem {
    /// SCRIPT_COMPILE_ERROR, SCRIPT_RUNTIME_ERROR or SCRIPT_LIMIT_EXCEEDED.
    pub code: String,
    pub message: String,
    pub line: Option<u64>,
    pub column: Option<u64>,
}

impl From<&ScriptError> for ScriptProblem {
    fn from(e: &ScriptError) -> Self {
        Self {
            code: e.kind.code().to_owned(),
            message: e.message.clone(),
            line: e.line.map(|l| l as u64),
            column: e.column.map(|c| c as u64),
        }
    }
}

/// Whether a script compiles.
#[derive(SimpleObject, Debug)]
pub struct ScriptValidation {
    pub valid: bool,
    pub problems: Vec<ScriptProblem>,
}

/// One named part of a value.
#[derive(SimpleObject, Debug, Clone)]
pub struct BreakdownItem {
    pub name: String,
    pub value: f64,
}

/// What the script computed for one organization.
#[derive(SimpleObject, Debug, Clone)]
pub struct OrganizationValue {
    pub organization: ID,
    pub organization_name: Option<String>,
    pub value: f64,
    pub label: Option<String>,
    pub breakdown: Vec<BreakdownItem>,
    /// What the script printed (print/debug), for debugging.
    pub logs: Vec<String>,
}

/// An organization whose run failed; the others are unaffected.
#[derive(SimpleObject, Debug, Clone)]
pub struct OrganizationError {
    pub organization: ID,
    pub code: String,
    pub message: String,
    pub line: Option<u64>,
    pub column: Option<u64>,
}

/// Values over the organizations whose run succeeded.
#[derive(SimpleObject, Debug, Clone)]
pub struct KpiAggregate {
    pub count: u64,
    pub sum: f64,
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl From<Aggregate> for KpiAggregate {
    fn from(a: Aggregate) -> Self {
        Self {
            count: a.count,
            sum: a.sum,
            mean: a.mean,
            median: a.median,
            min: a.min,
            max: a.max,
        }
    }
}

/// How per-organization values are ordered.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq, Default)]
pub enum ValueOrder {
    /// Highest value first: the ranking.
    #[default]
    ValueDesc,
    ValueAsc,
    /// By organization id.
    Organization,
}

/// A custom KPI over every organization with events in the filter.
#[derive(SimpleObject, Debug)]
#[graphql(complex)]
pub struct CustomKpiResult {
    pub key: Option<String>,
    /// The script version that produced these values; null for a preview.
    pub version: Option<i32>,
    pub unit: Option<String>,
    pub aggregate: KpiAggregate,
    pub errors: Vec<OrganizationError>,
    /// Milliseconds the run took.
    pub elapsed_ms: u64,
    #[graphql(skip)]
    pub values: Vec<OrganizationValue>,
}

#[ComplexObject]
impl CustomKpiResult {
    /// Each organization's value, ranked.
    #[graphql(complexity = "cost::page(first, child_complexity)")]
    async fn per_organization(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(default)] order_by: ValueOrder,
    ) -> ApiResult<Connection<OpaqueCursor<i64>, OrganizationValue>> {
        let settings = &state(ctx).settings;
        let has_previous = after.is_some();
        let request = page::request::<i64>(settings, first, after)?;
        let mut values = self.values.clone();
        match order_by {
            ValueOrder::ValueDesc => values.sort_by(|a, b| {
                b.value
                    .total_cmp(&a.value)
                    .then_with(|| a.organization.cmp(&b.organization))
            }),
            ValueOrder::ValueAsc => values.sort_by(|a, b| {
                a.value
                    .total_cmp(&b.value)
                    .then_with(|| a.organization.cmp(&b.organization))
            }),
            ValueOrder::Organization => values.sort_by(|a, b| a.organization.cmp(&b.organization)),
        }
        let skip = request.after.unwrap_or(0).max(0) as usize;
        let total = values.len();
        let items: Vec<(i64, OrganizationValue)> = values
            .into_iter()
            .enumerate()
            .skip(skip)
            .take(request.first as usize)
            .map(|(i, v)| (i as i64 + 1, v))
            .collect();
        let has_next = skip + items.len() < total;
        Ok(page::connection(
            hourglass_storage::Page {
                items,
                has_next_page: has_next,
            },
            has_previous,
            |v| v,
        ))
    }
}

impl CustomKpiResult {
    fn new(
        key: Option<String>,
        version: Option<i32>,
        unit: Option<String>,
        report: RunReport,
    ) -> Self {
        let mut values = Vec::new();
        let mut errors = Vec::new();
        for outcome in report.outcomes {
            let organization = ID(outcome.organization.id);
            match outcome.result {
                Ok(out) => values.push(OrganizationValue {
                    organization,
                    organization_name: outcome.organization.name,
                    value: out.value,
                    label: out.label,
                    breakdown: out
                        .breakdown
                        .into_iter()
                        .map(|(name, value)| BreakdownItem { name, value })
                        .collect(),
                    logs: out.logs,
                }),
                Err(e) => {
                    let problem = ScriptProblem::from(&e);
                    errors.push(OrganizationError {
                        organization,
                        code: problem.code,
                        message: problem.message,
                        line: problem.line,
                        column: problem.column,
                    });
                }
            }
        }
        Self {
            key,
            version,
            unit,
            aggregate: report.aggregate.into(),
            errors,
            elapsed_ms: u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
            values,
        }
    }
}

fn params_object(params: Option<Json<Value>>) -> ApiResult<Map<String, Value>> {
    match params.map(|p| p.0) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(ApiError::BadUserInput {
            message: "params is a JSON object of parameter values".into(),
            field: Some("params".into()),
        }),
    }
}

/// Runs a saved script by key (at `version`, or its newest) for a filter.
pub(crate) async fn run_saved(
    state: &AppState,
    ws: &WorkspaceStore,
    key: &str,
    version: Option<i32>,
    filter: KpiFilterInput,
    params: Option<Json<Value>>,
) -> ApiResult<CustomKpiResult> {
    let record = ws.kpi_script(key, version).await?;
    if record.archived_at.is_some() && version.is_none() {
        return Err(ApiError::NotFound {
            what: "KPI script",
            id: key.to_owned(),
        });
    }
    let cache_key = format!("{}/{}@{}", ws.workspace().id, record.key, record.version);
    let script = state
        .scripts
        .compile_cached(cache_key, record.content.source.clone())
        .await?;
    let report = state
        .scripts
        .run(
            ws,
            script,
            &record.content.params,
            &params_object(params)?,
            &filter.into_filter()?,
        )
        .await?;
    Ok(CustomKpiResult::new(
        Some(record.key),
        Some(record.version),
        record.content.unit,
        report,
    ))
}

#[derive(Debug, Default)]
pub struct ScriptQuery;

// A GraphQL field's arguments are its API; the resolver takes them all.
#[allow(clippy::too_many_arguments)]
#[Object]
impl ScriptQuery {
    /// Compiles a script without running it. Needs a key that may author scripts
    /// (ADMIN or ANALYST): compiling is work, and no one else has a use for it.
    #[graphql(complexity = "cost::with_children(cost::SCRIPT_COMPILE, child_complexity)")]
    async fn validate_kpi_script(
        &self,
        ctx: &Context<'_>,
        source: String,
    ) -> ApiResult<ScriptValidation> {
        caller(ctx)?.require(Permission::WriteScripts)?;
        match state(ctx).scripts.compile(source).await {
            Ok(_) => Ok(ScriptValidation {
                valid: true,
                problems: Vec::new(),
            }),
            Err(ApiError::Script(e)) => Ok(ScriptValidation {
                valid: false,
                problems: vec![ScriptProblem::from(&e)],
            }),
            Err(other) => Err(other),
        }
    }

    /// One custom KPI definition, at `version` or its newest.
    async fn kpi_script(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        key: String,
        version: Option<i32>,
    ) -> ApiResult<KpiScript> {
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        Ok(KpiScript::new(
            &workspace,
            ws.kpi_script(&key, version).await?,
        ))
    }

    /// The workspace's custom KPIs at their newest version.
    #[graphql(complexity = "cost::page(first, child_complexity)")]
    async fn kpi_scripts(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        #[graphql(default)] include_archived: bool,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<OpaqueCursor<i64>, KpiScript>> {
        let state = state(ctx);
        let has_previous = after.is_some();
        let request = page::request(&state.settings, first, after)?;
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        Ok(page::connection(
            ws.kpi_scripts(include_archived, request).await?,
            has_previous,
            |r| KpiScript::new(&workspace, r),
        ))
    }

    /// A saved custom KPI, run once per organization with events in the filter.
    #[graphql(complexity = "cost::with_children(cost::SCRIPT_RUN, child_complexity)")]
    async fn custom_kpi(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        key: String,
        filter: Option<KpiFilterInput>,
        params: Option<Json<Value>>,
        version: Option<i32>,
    ) -> ApiResult<CustomKpiResult> {
        let state = state(ctx);
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        run_saved(
            state,
            &ws,
            &key,
            version,
            filter.unwrap_or_default(),
            params,
        )
        .await
    }

    /// Runs an unsaved script on real data (a dry run); `limit` caps how many
    /// organizations it runs for.
    #[graphql(complexity = "cost::with_children(cost::SCRIPT_RUN, child_complexity)")]
    async fn preview_kpi_script(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        source: String,
        filter: Option<KpiFilterInput>,
        params: Option<Json<Value>>,
        #[graphql(default)] declared_params: Vec<KpiParam>,
        limit: Option<i32>,
    ) -> ApiResult<CustomKpiResult> {
        let state = state(ctx);
        let ws = caller(ctx)?
            .workspace(&workspace, Permission::WriteScripts)
            .await?;
        let script = state.scripts.compile(source).await?;
        let declared: Vec<ParamDecl> = declared_params.into_iter().map(Into::into).collect();
        hourglass_core::definition::params(&declared)?;
        let limit = limit.map(|n| usize::try_from(n).unwrap_or(0));
        let report = state
            .scripts
            .run_limited(
                &ws,
                script,
                &declared,
                &params_object(params)?,
                &filter.unwrap_or_default().into_filter()?,
                limit,
            )
            .await?;
        Ok(CustomKpiResult::new(None, None, None, report))
    }
}

#[derive(Debug, Default)]
pub struct ScriptMutation;

#[Object]
impl ScriptMutation {
    /// Saves a new custom KPI as version 1. The source must compile.
    async fn create_kpi_script(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        input: KpiScriptInput,
    ) -> ApiResult<KpiScript> {
        let state = state(ctx);
        // The permission first: a key that may not author scripts gets no compile.
        let ws = caller(ctx)?
            .workspace(&workspace, Permission::WriteScripts)
            .await?;
        state.scripts.compile(input.source.clone()).await?;
        let created = ws
            .create_kpi_script(
                &input.key,
                KpiScriptContent {
                    name: input.name,
                    description: input.description,
                    goal: input.goal.into(),
                    unit: input.unit,
                    source: input.source,
                    params: input.params.into_iter().map(Into::into).collect(),
                },
            )
            .await?;
        Ok(KpiScript::new(&workspace, created))
    }

    /// Saves a new version; earlier versions stay as they were.
    async fn update_kpi_script(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        key: String,
        input: KpiScriptUpdateInput,
    ) -> ApiResult<KpiScript> {
        let state = state(ctx);
        let ws = caller(ctx)?
            .workspace(&workspace, Permission::WriteScripts)
            .await?;
        if let Some(source) = &input.source {
            state.scripts.compile(source.clone()).await?;
        }
        let updated = ws
            .update_kpi_script(
                &key,
                KpiScriptChanges {
                    name: input.name,
                    description: input.description,
                    goal: input.goal.map(Into::into),
                    unit: input.unit,
                    source: input.source,
                    params: input
                        .params
                        .map(|ps| ps.into_iter().map(Into::into).collect()),
                },
            )
            .await?;
        Ok(KpiScript::new(&workspace, updated))
    }

    /// Archives a custom KPI: it leaves listings and can no longer be run by key
    /// (explicit versions still can, so past results stay explainable).
    async fn archive_kpi_script(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        key: String,
    ) -> ApiResult<KpiScript> {
        let ws = caller(ctx)?
            .workspace(&workspace, Permission::WriteScripts)
            .await?;
        Ok(KpiScript::new(
            &workspace,
            ws.archive_kpi_script(&key).await?,
        ))
    }
}
