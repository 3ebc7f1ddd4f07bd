//! Revenue: REVENUE amounts per currency, and the share of them attributed to the
//! touches a filter selects.
//!
//! Read from the REVENUE rows (a rare kind with its own partial index) and, for
//! attribution, from the earlier events of the people and organizations those
//! sales belong to. Both answers are kept in the answer cache.

use std::collections::{BTreeSet, HashMap};

use hourglass_core::EventKind;
use hourglass_core::attribution::{AttributedRevenue, Attribution, Sale, Touch};
use hourglass_core::money::Amounts;
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, Query};
use sea_orm::{FromQueryResult, JsonValue};

use crate::answer_cache::Asked;
use crate::entities::event;
use crate::error::Result;
use crate::kpis::{AssetScope, KpiFilter, Resolved};
use crate::workspaces::WorkspaceStore;

/// Kinds that are outcomes rather than marketing touches: they never earn credit.
const NOT_TOUCHES: [EventKind; 2] = [EventKind::Revenue, EventKind::StageChange];

/// Contacts or organizations per touch query: keeps every `IN` list small.
const IDS_PER_QUERY: usize = 500;

#[derive(Debug, FromQueryResult)]
struct SaleRow {
    occurred_at: i64,
    contact_id: Option<i64>,
    organization_id: Option<i64>,
    value: Option<f64>,
    properties: JsonValue,
}

#[derive(Debug, Clone, FromQueryResult)]
struct TouchRow {
    id: i64,
    occurred_at: i64,
    contact_id: Option<i64>,
    organization_id: Option<i64>,
    campaign_id: Option<i64>,
    channel: Option<String>,
    asset_id: Option<i64>,
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
        let touches = self.touches_of(&sales, attribution).await?;

        // Touches in time order, indexed by contact and by organization, so that a
        // sale's window is two binary searches rather than a walk of every touch.
        let mut touches = touches;
        touches.sort_by_key(|t| (t.occurred_at, t.id));
        let mut by_contact: HashMap<i64, Vec<usize>> = HashMap::new();
        let mut by_organization: HashMap<i64, Vec<usize>> = HashMap::new();
        for (at, touch) in touches.iter().enumerate() {
            if let Some(contact) = touch.contact_id {
                by_contact.entry(contact).or_default().push(at);
            }
            if let Some(organization) = touch.organization_id {
                by_organization.entry(organization).or_default().push(at);
            }
        }
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
            // The touches of the sale's window, by contact and by organization; a touch
            // of the contact that also names the organization is one touch.
            let from = sale.at.saturating_sub(attribution.lookback_ms());
            let window = |map: &HashMap<i64, Vec<usize>>, id: Option<i64>| -> Vec<usize> {
                let Some(list) = id.and_then(|id| map.get(&id)) else {
                    return Vec::new();
                };
                let start = list.partition_point(|i| touches[*i].occurred_at < from);
                let end = list.partition_point(|i| touches[*i].occurred_at < sale.at);
                list[start..end.max(start)].to_vec()
            };
            let mut mine: BTreeSet<usize> = BTreeSet::new();
            mine.extend(window(&by_contact, row.contact_id));
            mine.extend(window(&by_organization, row.organization_id));
            let mine: Vec<Touch> = mine
                .into_iter()
                .map(|at| &touches[at])
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

    /// Every touch that could earn credit from `sales`: events with a campaign or a
    /// channel of the sales' contacts and organizations, from the first sale's window
    /// to the last sale.
    async fn touches_of(
        &self,
        sales: &[SaleRow],
        attribution: Attribution,
    ) -> Result<Vec<TouchRow>> {
        let (Some(first), Some(last)) = (
            sales.iter().map(|s| s.occurred_at).min(),
            sales.iter().map(|s| s.occurred_at).max(),
        ) else {
            return Ok(Vec::new());
        };
        let contacts: BTreeSet<i64> = sales.iter().filter_map(|s| s.contact_id).collect();
        let organizations: BTreeSet<i64> = sales.iter().filter_map(|s| s.organization_id).collect();
        let contacts: Vec<i64> = contacts.into_iter().collect();
        let organizations: Vec<i64> = organizations.into_iter().collect();

        let e = Alias::new("e");
        let col = |name: &str| Expr::col((e.clone(), Alias::new(name)));
        let window = Condition::all()
            .add(col("workspace_id").eq(self.id()))
            .add(col("occurred_at").gte(first.saturating_sub(attribution.lookback_ms())))
            .add(col("occurred_at").lt(last))
            .add(col("kind").is_not_in(NOT_TOUCHES.map(EventKind::as_str)))
            .add(
                Condition::any()
                    .add(col("campaign_id").is_not_null())
                    .add(col("channel").is_not_null()),
            );
        let mut found: HashMap<i64, TouchRow> = HashMap::new();
        for (column, ids) in [
            ("contact_id", &contacts),
            ("organization_id", &organizations),
        ] {
            for chunk in ids.chunks(IDS_PER_QUERY) {
                let mut query = Query::select();
                query
                    .columns(
                        [
                            "id",
                            "occurred_at",
                            "contact_id",
                            "organization_id",
                            "campaign_id",
                            "channel",
                            "asset_id",
                        ]
                        .map(|c| (e.clone(), Alias::new(c))),
                    )
                    .from_as(event::Entity, e.clone())
                    .cond_where(window.clone().add(col(column).is_in(chunk.iter().copied())));
                for row in self.select::<TouchRow>(&query).await? {
                    found.insert(row.id, row);
                }
            }
        }
        Ok(found.into_values().collect())
    }
}
