//! The bottom of the hourglass: engagement depth per organization, the short list,
//! and both halves of the hourglass in one answer.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use hourglass_core::Permission;
use hourglass_core::Stage;
use hourglass_core::depth::{DepthParts, DepthScore, Ranked};
use hourglass_storage::{KpiFilter, WorkspaceStore};

use super::catalog::Organization;
use super::kpis::{KpiFilterInput, KpiReport, kpi_report};
use super::types::DepthPart;
use super::{caller, state};
use crate::error::{ApiError, ApiResult};

/// One line of a depth score's working.
#[derive(SimpleObject, Debug, Clone)]
pub struct DepthContribution {
    pub part: DepthPart,
    /// The measured count.
    pub count: u64,
    /// The workspace's weight for the part.
    pub weight: f64,
    /// count × weight.
    pub points: f64,
}

/// How deeply an organization engages within a filter, with the score's working
/// shown so a salesperson can see why an account is on the short list.
#[derive(SimpleObject, Debug, Clone)]
pub struct OrganizationDepth {
    /// The weighted sum of the parts.
    pub score: f64,
    pub engaged_contacts: u64,
    pub attendees: u64,
    pub full_stay_attendees: u64,
    pub question_askers: u64,
    pub info_requests: u64,
    pub internal_shares: u64,
    pub colleague_spread: u64,
    pub breadth: u64,
    pub contributions: Vec<DepthContribution>,
}

impl From<DepthScore> for OrganizationDepth {
    fn from(d: DepthScore) -> Self {
        let p = d.parts;
        Self {
            score: d.score,
            engaged_contacts: p.engaged_contacts,
            attendees: p.attendees,
            full_stay_attendees: p.full_stay_attendees,
            question_askers: p.question_askers,
            info_requests: p.info_requests,
            internal_shares: p.internal_shares,
            colleague_spread: p.colleague_spread,
            breadth: p.breadth,
            contributions: d
                .contributions
                .into_iter()
                .map(|c| DepthContribution {
                    part: c.part.into(),
                    count: c.count,
                    weight: c.weight,
                    points: c.points,
                })
                .collect(),
        }
    }
}

/// How a list of organizations is ordered.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq, Default)]
pub enum OrganizationOrder {
    /// In creation order.
    #[default]
    Created,
    /// Deepest engagement first: the short list.
    Depth,
}

/// The bottom half: organizations with a contact at LEAD or beyond.
#[derive(SimpleObject, Debug)]
pub struct HourglassBottom {
    /// Lifecycle stages that count as LEAD or beyond in this workspace.
    pub lead_stages: Vec<String>,
    /// Organizations with a lead and at least one event in the filter.
    pub organization_count: u64,
    /// Their depth parts summed (score included).
    pub totals: OrganizationDepth,
    /// The deepest of them, ranked.
    pub short_list: Vec<Organization>,
}

/// Both halves of the hourglass for one filter.
#[derive(SimpleObject, Debug)]
pub struct Hourglass {
    /// Volume KPIs over everyone.
    pub top: KpiReport,
    /// Depth KPIs for the organizations with at least one lead.
    pub bottom: HourglassBottom,
}

#[derive(Debug, Default)]
pub struct DepthQuery;

#[Object]
impl DepthQuery {
    /// The top (volume over everyone) and the bottom (depth for organizations with a
    /// contact at LEAD or beyond) of the hourglass in one answer.
    async fn hourglass(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        campaign: Option<ID>,
        filter: Option<KpiFilterInput>,
        #[graphql(default = 10)] short_list_size: i32,
    ) -> ApiResult<Hourglass> {
        let state = state(ctx);
        let max = state.settings.graphql.max_page_size;
        let size = usize::try_from(short_list_size)
            .ok()
            .filter(|n| *n as u64 <= max)
            .ok_or_else(|| ApiError::BadUserInput {
                message: format!("shortListSize is 0 to {max}"),
                field: Some("shortListSize".into()),
            })?;
        let mut filter = filter.unwrap_or_default();
        if campaign.is_some() {
            filter.campaign = campaign;
        }
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        let top = kpi_report(&ws, filter.clone()).await?;
        let stages = ws.lifecycle_stages();
        let ranked: Vec<Ranked> = ws
            .short_list(&filter.into_filter()?)
            .await?
            .iter()
            .filter(|r| {
                r.organization
                    .stage
                    .as_deref()
                    .is_some_and(|s| Stage::is_lead_or_beyond(&stages, s))
            })
            .cloned()
            .collect();
        let totals: DepthParts = ranked.iter().map(|r| r.depth.parts).sum();
        let organization_count = ranked.len() as u64;
        let short_list = Organization::ranked(&ws, ranked.into_iter().take(size)).await?;
        let lead_at = stages.iter().position(|s| s == "LEAD").unwrap_or(0);
        Ok(Hourglass {
            top,
            bottom: HourglassBottom {
                lead_stages: stages[lead_at..].to_vec(),
                organization_count,
                totals: ws.depth_weights().score(totals).into(),
                short_list,
            },
        })
    }
}

/// `Organization.depth` with a filter, batched: the organizations of a page that
/// ask within one workspace and filter are read in one engagement query and scored
/// together on the blocking pool, instead of one read per row.
#[derive(Debug, Default)]
pub(crate) struct DepthLoader;

/// One organization's depth within a filter, in the workspace of the handle the
/// organization was loaded through (its permission already checked).
#[derive(Debug, Clone)]
pub(crate) struct DepthKey {
    pub ws: WorkspaceStore,
    pub filter: KpiFilter,
    pub organization: hourglass_core::ExternalId,
}

impl DepthKey {
    /// Keys of one group are loaded together: same workspace, data and filter.
    fn group(&self) -> (i64, i64, &KpiFilter) {
        let workspace = self.ws.workspace();
        (workspace.id, workspace.data_version, &self.filter)
    }
}

impl PartialEq for DepthKey {
    fn eq(&self, other: &Self) -> bool {
        self.group() == other.group() && self.organization == other.organization
    }
}

impl Eq for DepthKey {}

impl std::hash::Hash for DepthKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.group().hash(state);
        self.organization.hash(state);
    }
}

// A key's hash and equality read only the workspace's id and data version, the
// filter and the organization, none of which the handle's interior mutability (its
// pool, its own-writes counter) touches.
#[allow(clippy::mutable_key_type)]
impl Loader<DepthKey> for DepthLoader {
    type Value = OrganizationDepth;
    type Error = ApiError;

    async fn load(&self, keys: &[DepthKey]) -> Result<HashMap<DepthKey, Self::Value>, ApiError> {
        let mut groups: HashMap<(i64, i64, &KpiFilter), Vec<&DepthKey>> = HashMap::new();
        for key in keys {
            groups.entry(key.group()).or_default().push(key);
        }
        let mut depths = HashMap::with_capacity(keys.len());
        for group in groups.into_values() {
            let Some(first) = group.first() else { continue };
            let ws = &first.ws;
            let organizations: Vec<_> = group.iter().map(|k| k.organization.clone()).collect();
            let scores = ws.depths_of(&first.filter, &organizations).await?;
            let nothing = ws.depth_weights().score(DepthParts::default());
            for key in group {
                let score = scores
                    .get(key.organization.as_str())
                    .cloned()
                    .unwrap_or_else(|| nothing.clone());
                depths.insert(key.clone(), score.into());
            }
        }
        Ok(depths)
    }
}
