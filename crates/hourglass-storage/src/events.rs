//! Reading events back: newest first, filtered, paged by (time, id).

use hourglass_core::EventKind;
use sea_orm::sea_query::{
    Alias, Condition, Expr, ExprTrait, JoinType, Order, Query, SelectStatement,
};
use sea_orm::{EntityName, FromQueryResult, JsonValue};

use crate::entities::{asset, campaign, contact, event, organization};
use crate::error::Result;
use crate::kpis::{AssetScope, KpiFilter};
use crate::page::{Page, PageRequest};
use crate::workspaces::WorkspaceStore;

/// Which events to list: a KPI filter plus an optional kind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventsFilter {
    pub kpi: KpiFilter,
    pub kind: Option<EventKind>,
}

/// One stored event, with the client's external ids.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct EventRecord {
    pub id: i64,
    pub message_id: String,
    pub kind: String,
    pub occurred_at: i64,
    pub received_at: i64,
    pub contact: Option<String>,
    pub anonymous_id: Option<String>,
    pub organization: Option<String>,
    pub campaign: Option<String>,
    pub asset: Option<String>,
    pub channel: Option<String>,
    pub value: Option<f64>,
    pub properties: JsonValue,
}

impl WorkspaceStore {
    /// Events newest first. The page key is `(occurred_at ms, id)`.
    pub async fn events(
        &self,
        filter: &EventsFilter,
        page: PageRequest<(i64, i64)>,
    ) -> Result<Page<(i64, i64), EventRecord>> {
        let resolved = self.resolve(&filter.kpi).await?;
        let e = Alias::new("e");
        let col = |name: &str| Expr::col((e.clone(), Alias::new(name)));
        let mut condition = self.condition_on(&e, &resolved, AssetScope::Exact);
        if let Some(kind) = filter.kind {
            condition = condition.add(col("kind").eq(kind.as_str()));
        }
        if let Some((at, id)) = page.after {
            condition = condition.add(
                Condition::any()
                    .add(col("occurred_at").lt(at))
                    .add(col("occurred_at").eq(at).and(col("id").lt(id))),
            );
        }
        let mut query = joined_events(&e);
        query
            .cond_where(condition)
            .order_by((e.clone(), Alias::new("occurred_at")), Order::Desc)
            .order_by((e.clone(), Alias::new("id")), Order::Desc)
            .limit(page.first + 1);
        let rows: Vec<EventRecord> = self.select(&query).await?;
        Ok(Page::from_overfetch(
            rows.into_iter()
                .map(|r| ((r.occurred_at, r.id), r))
                .collect(),
            page.first,
        ))
    }

    /// Every event of `kind` in the filter, with external ids: for KPIs that need the
    /// rows of a rare kind (survey answers, stage changes) rather than sums.
    pub(crate) async fn events_of_kind(
        &self,
        filter: &KpiFilter,
        kind: EventKind,
    ) -> Result<Vec<EventRecord>> {
        let resolved = self.resolve(filter).await?;
        let e = Alias::new("e");
        let mut query = joined_events(&e);
        query.cond_where(
            self.condition_on(&e, &resolved, AssetScope::Exact)
                .add(Expr::col((e.clone(), Alias::new("kind"))).eq(kind.as_str())),
        );
        self.select(&query).await
    }
}

/// Every column of [`EventRecord`] from the events table known as `e`, with the
/// external ids of its contact, organization, campaign and asset joined in.
pub(crate) fn joined_events(e: &Alias) -> SelectStatement {
    let mut query = Query::select();
    query
        .columns(
            [
                "id",
                "message_id",
                "kind",
                "occurred_at",
                "received_at",
                "anonymous_id",
                "channel",
                "value",
                "properties",
            ]
            .map(|c| (e.clone(), Alias::new(c))),
        )
        .from_as(event::Entity, e.clone());
    for (table, alias, fk, label) in [
        (contact::Entity.table_name(), "c", "contact_id", "contact"),
        (
            organization::Entity.table_name(),
            "o",
            "organization_id",
            "organization",
        ),
        (
            campaign::Entity.table_name(),
            "k",
            "campaign_id",
            "campaign",
        ),
        (asset::Entity.table_name(), "a", "asset_id", "asset"),
    ] {
        let alias = Alias::new(alias);
        let on = Expr::col((alias.clone(), Alias::new("id"))).equals((e.clone(), Alias::new(fk)));
        query
            .join_as(JoinType::LeftJoin, Alias::new(table), alias.clone(), on)
            .expr_as(
                Expr::col((alias, Alias::new("external_id"))),
                Alias::new(label),
            );
    }
    query
}
