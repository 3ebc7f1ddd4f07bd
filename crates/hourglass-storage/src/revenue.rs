//! Revenue: REVENUE amounts per currency, and the share of them attributed to the
//! touches a filter selects.
//!
//! Read from the REVENUE rows (a rare kind with its own partial index) and, for
//! attribution, from the earlier events of the people and organizations those
//! sales belong to. Both answers are kept in the answer cache.

use hourglass_core::EventKind;
use hourglass_core::attribution::{AttributedRevenue, Attribution, Sale, Touch};
use hourglass_core::money::Amounts;
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, Query};
use sea_orm::{FromQueryResult, JsonValue};

use crate::answer_cache::Asked;
use crate::entities::event;
use crate::error::Result;
use crate::kpis::{AssetScope, KpiFilter, Resolved};
use crate::touches::{Moment, TouchIndex, TouchRow};
use crate::workspaces::WorkspaceStore;

#[derive(Debug, FromQueryResult)]
struct SaleRow {
    occurred_at: i64,
    contact_id: Option<i64>,
    organization_id: Option<i64>,
    value: Option<f64>,
    properties: JsonValue,
}

impl SaleRow {
    fn moment(&self) -> Moment {
        Moment {
            at: self.occurred_at,
            contact_id: self.contact_id,
            organization_id: self.organization_id,
        }
    }
}

impl WorkspaceStore {
    /// The sum of the filter's REVENUE amounts, per currency (the event's
    /// `properties.currency`, else the workspace's).
    pub async fn revenue(&self, filter: &KpiFilter) -> Result<Amounts> {
        self.remembered(
            Asked::Revenue(filter.clone()),
            self.revenue_computed(filter),
        )
        .await
    }

    async fn revenue_computed(&self, filter: &KpiFilter) -> Result<Amounts> {
        let resolved = self.resolve(filter).await?;
        let mut amounts = Amounts::default();
        for sale in self.sales(&resolved).await? {
            amounts.add(sale.currency.as_deref(), sale.amount);
        }
        Ok(amounts)
    }

    /// Revenue credited to the touches the filter selects. The sales are the REVENUE
    /// events in the filter's range (and organization, if it names one), whatever
    /// campaign they carry; each is shared by `attribution` among the earlier events
    /// of its contact and of its organization that carry a campaign or a channel.
    /// The filter's campaign, channel and asset then select which touches' credit
    /// counts.
    pub async fn attributed_revenue(
        &self,
        filter: &KpiFilter,
        attribution: Attribution,
    ) -> Result<AttributedRevenue> {
        self.remembered(
            Asked::Attributed(filter.clone(), attribution),
            self.attributed_computed(filter, attribution),
        )
        .await
    }

    async fn attributed_computed(
        &self,
        filter: &KpiFilter,
        attribution: Attribution,
    ) -> Result<AttributedRevenue> {
        let resolved = self.resolve(filter).await?;
        let sales_filter = Resolved {
            organization: resolved.organization,
            range: resolved.range,
            ..Resolved::default()
        };
        let sales = self.sale_rows(&sales_filter).await?;
        let moments: Vec<Moment> = sales.iter().map(SaleRow::moment).collect();
        let touches = TouchIndex::new(
            self.touches_of(&moments, attribution, Condition::all())
                .await?,
        );
        let selected = |touch: &TouchRow| {
            resolved
                .campaign
                .is_none_or(|c| touch.campaign_id == Some(c))
                && resolved
                    .channel
                    .as_ref()
                    .is_none_or(|c| touch.channel.as_ref() == Some(c))
                && resolved.asset.is_none_or(|a| touch.asset_id == Some(a))
        };

        let mut revenue = AttributedRevenue::default();
        for row in sales {
            let Some(sale) = self.sale(&row) else {
                continue;
            };
            let mine: Vec<Touch> = touches
                .before(&row.moment(), attribution)
                .map(|t| Touch {
                    at: t.occurred_at,
                    id: t.id,
                    selected: selected(t),
                })
                .collect();
            revenue.add(attribution, &sale, &mine);
        }
        Ok(revenue)
    }

    /// The REVENUE events of the whole filter, as sales.
    async fn sales(&self, resolved: &Resolved) -> Result<Vec<Sale>> {
        Ok(self
            .sale_rows(resolved)
            .await?
            .iter()
            .filter_map(|row| self.sale(row))
            .collect())
    }

    async fn sale_rows(&self, resolved: &Resolved) -> Result<Vec<SaleRow>> {
        let e = Alias::new("e");
        let mut query = Query::select();
        query
            .columns(
                [
                    "occurred_at",
                    "contact_id",
                    "organization_id",
                    "value",
                    "properties",
                ]
                .map(|c| (e.clone(), Alias::new(c))),
            )
            .from_as(event::Entity, e.clone())
            .cond_where(
                self.condition_on(&e, resolved, AssetScope::Exact).add(
                    Expr::col((e.clone(), Alias::new("kind"))).eq(EventKind::Revenue.as_str()),
                ),
            );
        self.select(&query).await
    }

    /// A REVENUE row as a sale; `None` for a row without an amount, which validation
    /// never lets in.
    fn sale(&self, row: &SaleRow) -> Option<Sale> {
        let currency = row
            .properties
            .get("currency")
            .and_then(JsonValue::as_str)
            .or(self.currency());
        Some(Sale {
            at: row.occurred_at,
            amount: row.value?,
            currency: currency.map(str::to_owned),
        })
    }
}
