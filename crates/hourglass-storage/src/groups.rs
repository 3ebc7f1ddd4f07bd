//! The groups a comparison compares: a filter's channels, assets or campaigns.

use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, JoinType, Order, Query};
use sea_orm::{EntityName, FromQueryResult};

use crate::entities::{asset, campaign, event};
use crate::error::Result;
use crate::kpis::{AssetScope, KpiFilter};
use crate::rollups::{ALL_ASSETS, DAY_MS, GRAIN_DAY, NO_CAMPAIGN, NO_CHANNEL, day_of};
use crate::time::to_millis;
use crate::workspaces::WorkspaceStore;

/// What a comparison groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupBy {
    Channel,
    Asset,
    Campaign,
}

/// Groups one comparison compares at most: the rest would be noise on a dashboard and
/// each costs a KPI computation.
pub const MAX_GROUPS: usize = 100;

#[derive(Debug, FromQueryResult)]
struct Group {
    name: String,
}

impl WorkspaceStore {
    /// The channels (names), assets or campaigns (external ids) with events in the
    /// filter, by name; at most [`MAX_GROUPS`]. Read from the day rows of the rollups
    /// over the days the range touches (a group with events only outside the range
    /// shows up with an empty sample), or from raw events for an organization.
    pub async fn groups(&self, filter: &KpiFilter, by: GroupBy) -> Result<Vec<String>> {
        let resolved = self.resolve(filter).await?;
        let (column, table, joined_id): (&str, Option<Alias>, &str) = match by {
            GroupBy::Channel => ("channel", None, ""),
            GroupBy::Asset => (
                "asset_id",
                Some(Alias::new(asset::Entity.table_name())),
                "asset_id",
            ),
            GroupBy::Campaign => (
                "campaign_id",
                Some(Alias::new(campaign::Entity.table_name())),
                "campaign_id",
            ),
        };
        let r = Alias::new("r");
        let col = |name: &str| Expr::col((r.clone(), Alias::new(name)));
        let mut query = Query::select();
        let (source, mut condition) = if resolved.organization.is_some() || !self.rollups_current()
        {
            let condition = self.condition_on(&r, &resolved, AssetScope::Exact);
            let condition = match by {
                GroupBy::Channel => condition.add(col("channel").is_not_null()),
                GroupBy::Asset => condition.add(col("asset_id").is_not_null()),
                GroupBy::Campaign => condition.add(col("campaign_id").is_not_null()),
            };
            (Alias::new(event::Entity.table_name()), condition)
        } else {
            let mut condition = Condition::all()
                .add(col("workspace_id").eq(self.id()))
                .add(col("grain").eq(GRAIN_DAY));
            condition = match (by, resolved.asset) {
                (GroupBy::Asset, None) => condition.add(col("asset_id").ne(ALL_ASSETS)),
                (_, None) => condition.add(col("asset_id").eq(ALL_ASSETS)),
                (_, Some(asset)) => condition.add(col("asset_id").eq(asset)),
            };
            if let Some(id) = resolved.campaign {
                condition = condition.add(col("campaign_id").eq(id));
            }
            if let Some(channel) = &resolved.channel {
                condition = condition.add(col("channel").eq(channel.as_str()));
            }
            condition = match by {
                GroupBy::Channel => condition.add(col("channel").ne(NO_CHANNEL)),
                GroupBy::Campaign => condition.add(col("campaign_id").ne(NO_CAMPAIGN)),
                GroupBy::Asset => condition,
            };
            if let Some(from) = resolved.range.from {
                condition = condition.add(col("bucket").gte(day_of(to_millis(from))));
            }
            if let Some(to) = resolved.range.to {
                condition = condition.add(col("bucket").lt(day_of(to_millis(to) - 1) + DAY_MS));
            }
            (Alias::new("rollups"), condition)
        };
        query.from_as(source, r.clone());
        match table {
            None => {
                query.expr_as(col(column), Alias::new("name"));
            }
            Some(table) => {
                let t = Alias::new("t");
                query
                    .join_as(
                        JoinType::InnerJoin,
                        table,
                        t.clone(),
                        Expr::col((t.clone(), Alias::new("id")))
                            .equals((r.clone(), Alias::new(joined_id))),
                    )
                    .expr_as(
                        Expr::col((t, Alias::new("external_id"))),
                        Alias::new("name"),
                    );
                condition = condition.add(col(column).is_not_null());
            }
        }
        query
            .distinct()
            .cond_where(condition)
            .order_by(Alias::new("name"), Order::Asc)
            .limit(MAX_GROUPS as u64);
        let groups: Vec<Group> = self.select(&query).await?;
        Ok(groups.into_iter().map(|g| g.name).collect())
    }
}
