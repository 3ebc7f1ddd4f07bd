//! Both halves of the hourglass in one answer: volume over everyone at the top,
//! depth for the organizations with a lead at the bottom.

use async_graphql::{Context, ID, Object, SimpleObject};
use hourglass_core::Permission;
use hourglass_core::Stage;
use hourglass_core::depth::{DepthParts, Ranked};

use super::catalog::Organization;
use super::depth::OrganizationDepth;
use super::filter::KpiFilterInput;
use super::kpis::{KpiReport, kpi_report};
use super::{caller, cost, state};
use crate::error::{ApiError, ApiResult};

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
pub struct HourglassQuery;

#[Object]
impl HourglassQuery {
    /// The top (volume over everyone) and the bottom (depth for organizations with a
    /// contact at LEAD or beyond) of the hourglass in one answer.
    #[graphql(complexity = "cost::with_children(cost::HOURGLASS, child_complexity)")]
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
