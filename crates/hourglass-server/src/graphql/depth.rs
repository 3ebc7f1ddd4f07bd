//! The bottom of the hourglass: engagement depth per organization and the short list.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, ID, SimpleObject};
use hourglass_core::depth::{DepthParts, DepthScore};
use hourglass_storage::{KpiFilter, WorkspaceStore};

use super::external_id;
use super::filter::KpiFilterInput;
use super::types::DepthContribution;
use crate::error::{ApiError, ApiResult};

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
            contributions: DepthContribution::all(d.contributions),
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

/// `Organization.depth` with a filter, batched: the organizations of a page that
/// ask within one workspace and filter are read in one engagement query and scored
/// together on the blocking pool, instead of one read per row.
#[derive(Debug, Default)]
pub(crate) struct DepthLoader;

/// One organization's or contact's answer within a filter, in the workspace of the
/// handle it was loaded through (its permission already checked).
#[derive(Debug, Clone)]
pub(crate) struct InFilter {
    pub ws: WorkspaceStore,
    pub filter: KpiFilter,
    pub id: hourglass_core::ExternalId,
}

impl InFilter {
    /// Keys of one group are loaded together: same workspace, data and filter.
    fn group(&self) -> (i64, i64, &KpiFilter) {
        let workspace = self.ws.workspace();
        (workspace.id, workspace.data_version, &self.filter)
    }

    /// `keys` in groups that load together.
    pub fn groups(keys: &[Self]) -> Vec<Vec<&Self>> {
        let mut groups: HashMap<(i64, i64, &KpiFilter), Vec<&Self>> = HashMap::new();
        for key in keys {
            groups.entry(key.group()).or_default().push(key);
        }
        groups.into_values().collect()
    }
}

impl InFilter {
    /// A row's answer within `filter`: without one, the answer it was ranked by (when
    /// listed in a ranked order); otherwise loaded by `L`, batched with the other rows
    /// of its page that ask for the same.
    pub async fn answer<L>(
        ctx: &Context<'_>,
        handle: &WorkspaceStore,
        id: &ID,
        filter: Option<KpiFilterInput>,
        ranked: Option<&L::Value>,
    ) -> ApiResult<L::Value>
    where
        L: Loader<Self, Error = ApiError>,
        L::Value: Clone,
    {
        if filter.is_none()
            && let Some(answer) = ranked
        {
            return Ok(answer.clone());
        }
        let key = Self {
            ws: handle.clone(),
            filter: filter.unwrap_or_default().into_filter()?,
            id: external_id(id, "id")?,
        };
        let loader = ctx
            .data::<DataLoader<L>>()
            .map_err(|e| ApiError::internal(&e.message))?;
        loader
            .load_one(key)
            .await?
            .ok_or_else(|| ApiError::internal(&format!("the loader skipped {}", id.as_str())))
    }
}

impl PartialEq for InFilter {
    fn eq(&self, other: &Self) -> bool {
        self.group() == other.group() && self.id == other.id
    }
}

impl Eq for InFilter {}

impl std::hash::Hash for InFilter {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.group().hash(state);
        self.id.hash(state);
    }
}

// A key's hash and equality read only the workspace's id and data version, the
// filter and the id, none of which the handle's interior mutability (its pool, its
// own-writes counter) touches.
#[allow(clippy::mutable_key_type)]
impl Loader<InFilter> for DepthLoader {
    type Value = OrganizationDepth;
    type Error = ApiError;

    async fn load(&self, keys: &[InFilter]) -> Result<HashMap<InFilter, Self::Value>, ApiError> {
        let mut depths = HashMap::with_capacity(keys.len());
        for group in InFilter::groups(keys) {
            let Some(first) = group.first() else { continue };
            let ws = &first.ws;
            let organizations: Vec<_> = group.iter().map(|k| k.id.clone()).collect();
            let scores = ws.depths_of(&first.filter, &organizations).await?;
            let nothing = ws.depth_weights().score(DepthParts::default());
            for key in group {
                let score = scores
                    .get(key.id.as_str())
                    .cloned()
                    .unwrap_or_else(|| nothing.clone());
                depths.insert(key.clone(), score.into());
            }
        }
        Ok(depths)
    }
}
