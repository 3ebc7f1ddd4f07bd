//! Workspaces: the unit of tenancy.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use hourglass_core::Slug;
use hourglass_core::depth::DepthWeights as CoreWeights;
use hourglass_storage::{WorkspaceStore, WorkspaceUpdate, from_millis};

use hourglass_core::Permission;

use super::caller;
use crate::error::ApiResult;

/// One client company's data. Nothing ever crosses workspaces.
#[derive(SimpleObject, Clone, Debug)]
pub struct Workspace {
    /// The slug every other call names the workspace by.
    pub slug: ID,
    pub name: String,
    /// Rates with a smaller sample are marked insufficient.
    pub min_sample: i32,
    /// Share of a webinar's or video's duration that counts as staying to the end.
    pub full_stay_threshold: f64,
    /// Lifecycle stages in order; LEAD and what follows it are the bottom of the hourglass.
    pub lifecycle_stages: Vec<String>,
    /// How much each part of engagement depth counts toward the depth score.
    pub depth_weights: DepthWeights,
    /// ISO 4217 reporting currency: what revenue and spend that name no currency are
    /// in. Amounts in other currencies are kept apart, never converted.
    pub currency: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&WorkspaceStore> for Workspace {
    fn from(ws: &WorkspaceStore) -> Self {
        let w = ws.workspace();
        Self {
            slug: ID(w.slug.clone()),
            name: w.name.clone(),
            min_sample: w.min_sample,
            full_stay_threshold: ws.full_stay_threshold(),
            lifecycle_stages: ws.lifecycle_stages(),
            depth_weights: ws.depth_weights().into(),
            currency: ws.currency().map(str::to_owned),
            created_at: from_millis(w.created_at),
        }
    }
}

/// Weights of the depth score, one per part.
#[derive(SimpleObject, InputObject, Clone, Copy, Debug)]
#[graphql(input_name = "DepthWeightsInput")]
pub struct DepthWeights {
    pub engaged_contacts: f64,
    pub attendees: f64,
    pub full_stay_attendees: f64,
    pub question_askers: f64,
    pub info_requests: f64,
    pub internal_shares: f64,
    pub colleague_spread: f64,
    pub breadth: f64,
}

impl From<CoreWeights> for DepthWeights {
    fn from(w: CoreWeights) -> Self {
        Self {
            engaged_contacts: w.engaged_contacts,
            attendees: w.attendees,
            full_stay_attendees: w.full_stay_attendees,
            question_askers: w.question_askers,
            info_requests: w.info_requests,
            internal_shares: w.internal_shares,
            colleague_spread: w.colleague_spread,
            breadth: w.breadth,
        }
    }
}

impl From<DepthWeights> for CoreWeights {
    fn from(w: DepthWeights) -> Self {
        Self {
            engaged_contacts: w.engaged_contacts,
            attendees: w.attendees,
            full_stay_attendees: w.full_stay_attendees,
            question_askers: w.question_askers,
            info_requests: w.info_requests,
            internal_shares: w.internal_shares,
            colleague_spread: w.colleague_spread,
            breadth: w.breadth,
        }
    }
}

/// Settings of a workspace to change; absent fields stay as they are.
#[derive(InputObject, Debug)]
pub struct WorkspaceSettingsInput {
    pub name: Option<String>,
    /// Minimum sample size for a rate to count as sufficient (default 30).
    pub min_sample: Option<u32>,
    /// Share of a webinar's duration that counts as staying to the end (default 0.9).
    pub full_stay_threshold: Option<f64>,
    /// Lifecycle stages in order; must include LEAD. Agencies add their own, such as OQL.
    /// A stage not listed stands before all listed ones: nobody is a lead by it.
    pub lifecycle_stages: Option<Vec<String>>,
    /// All eight weights of the depth score (each a finite number ≥ 0).
    pub depth_weights: Option<DepthWeights>,
    /// ISO 4217 reporting currency such as EUR: revenue without a `currency` property
    /// and spend of a campaign without a currency are taken to be in it.
    pub currency: Option<String>,
}

#[derive(Debug, Default)]
pub struct WorkspaceQuery;

#[Object]
impl WorkspaceQuery {
    /// Every workspace the key can see (all of its agency's, or its one), by slug.
    async fn workspaces(&self, ctx: &Context<'_>) -> ApiResult<Vec<Workspace>> {
        let all = caller(ctx)?.tenant(Permission::Read)?.workspaces().await?;
        Ok(all.iter().map(Workspace::from).collect())
    }

    /// One workspace by slug.
    async fn workspace(&self, ctx: &Context<'_>, slug: ID) -> ApiResult<Workspace> {
        Ok(Workspace::from(
            &caller(ctx)?.workspace(&slug, Permission::Read).await?,
        ))
    }
}

#[derive(Debug, Default)]
pub struct WorkspaceMutation;

#[Object]
impl WorkspaceMutation {
    /// Creates a workspace in the key's agency (an agency-wide ADMIN key). The slug
    /// (lower-case letters, digits and '-') is permanent and unique in the agency.
    async fn create_workspace(
        &self,
        ctx: &Context<'_>,
        slug: String,
        name: String,
    ) -> ApiResult<Workspace> {
        let slug = Slug::parse(&slug)?;
        let created = caller(ctx)?
            .tenant(Permission::Administer)?
            .create_workspace(&slug, &name)
            .await?;
        Ok(Workspace::from(&created))
    }

    /// Changes a workspace's settings: name, minimum sample, stages, weights, currency.
    async fn update_workspace(
        &self,
        ctx: &Context<'_>,
        slug: ID,
        input: WorkspaceSettingsInput,
    ) -> ApiResult<Workspace> {
        let mut ws = caller(ctx)?
            .workspace(&slug, Permission::Administer)
            .await?;
        ws.update(WorkspaceUpdate {
            name: input.name,
            min_sample: input.min_sample,
            depth_weights: input.depth_weights.map(Into::into),
            full_stay_threshold: input.full_stay_threshold,
            lifecycle_stages: input.lifecycle_stages,
            currency: input.currency,
        })
        .await?;
        Ok(Workspace::from(&ws))
    }
}
