//! The counts behind top-of-hourglass KPIs, computed in the database.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use hourglass_core::money::{Amounts, Spend};
use hourglass_core::{EventKind, ExternalId, FunnelCounts, TimeRange, TopCounts};
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, EntityName, EntityTrait, FromQueryResult, QueryFilter, QuerySelect};

use crate::answer_cache::{Asked, Cacheable, Question};
use crate::entities::{asset, campaign, event, spend, workspace};
use crate::error::{Result, StorageError};
use crate::time::to_millis;
use crate::workspaces::WorkspaceStore;

/// Which events a KPI counts: every field narrows, `None` leaves it open.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct KpiFilter {
    pub campaign: Option<ExternalId>,
    /// A normalised channel name.
    pub channel: Option<String>,
    pub asset: Option<ExternalId>,
    pub organization: Option<ExternalId>,
    pub range: TimeRange,
    /// The calendar days `[from, to)` the range was asked as, if it was (`range` then
    /// holds where they start and end in the caller's time zone). Spend is recorded per
    /// calendar day, so these dates select it, in whatever zone they were asked.
    pub calendar_days: Option<(NaiveDate, NaiveDate)>,
}

/// What was spent on one day in one channel and currency.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub(crate) struct DaySpend {
    pub day: NaiveDate,
    pub channel: String,
    pub currency: Option<String>,
    pub amount: f64,
}

/// The days `[from, to)` whose spend a filter counts. Calendar days select their
/// dates; otherwise a day's spend counts when the day, read as UTC, starts inside
/// the range.
pub(crate) fn days_spent_in(filter: &KpiFilter) -> (Option<NaiveDate>, Option<NaiveDate>) {
    if let Some((from, to)) = filter.calendar_days {
        return (Some(from), Some(to));
    }
    let day = |at: chrono::DateTime<chrono::Utc>| -> NaiveDate {
        let date = at.date_naive();
        if at.time() == chrono::NaiveTime::MIN {
            date
        } else {
            date.succ_opt().unwrap_or(date)
        }
    };
    (filter.range.from.map(day), filter.range.to.map(day))
}

/// A filter with external ids turned into row ids.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resolved {
    pub campaign: Option<i64>,
    pub channel: Option<String>,
    pub asset: Option<i64>,
    /// The asset, its landing page, and what it promotes: where its funnel lives.
    pub asset_family: Vec<i64>,
    pub organization: Option<i64>,
    pub range: TimeRange,
}

/// A step a person takes: an event of one of `kinds`, on a landing page if
/// `on_landing_page`.
#[derive(Debug, Clone, Copy)]
struct Step<'a> {
    kinds: &'a [EventKind],
    on_landing_page: bool,
}

/// Which assets a condition admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AssetScope {
    /// Only the filtered asset.
    Exact,
    /// The filtered asset's funnel family.
    Family,
}

impl WorkspaceStore {
    /// The cached answer to `asked` at this workspace's data version, or `compute`'s,
    /// which is then cached. Errors are not.
    ///
    /// A computation takes several reads, each of the latest commit. It is kept only if
    /// the data version is still the one asked under when it is done: then no commit
    /// fell between its reads, and it is the answer at that version. Otherwise it is
    /// returned (nothing older than the version asked under is in it) but not kept.
    pub(crate) async fn remembered<T: Cacheable>(
        &self,
        asked: Asked,
        compute: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let question = Question {
            workspace: self.id(),
            data_version: self.data_version(),
            asked,
        };
        if let Some(answer) = self.store.answers.get(&question) {
            return Ok(answer);
        }
        let answer = compute.await?;
        if self.store.answers.keeps(&question)
            && self.stored_data_version().await? == question.data_version
        {
            self.store.answers.put(question, &answer);
        }
        Ok(answer)
    }

    /// The workspace's data version as stored now.
    async fn stored_data_version(&self) -> Result<i64> {
        let version: Option<i64> = workspace::Entity::find_by_id(self.id())
            .select_only()
            .column(workspace::Column::DataVersion)
            .into_tuple()
            .one(&self.store.db)
            .await?;
        version.ok_or_else(|| StorageError::not_found("workspace", self.workspace().slug.clone()))
    }

    /// Counts for the top of the hourglass. Event counts cover the filter exactly;
    /// funnel people (landing viewers, registrants, attendees) follow the filtered
    /// asset's family, so a webinar's registration rate sees its landing page.
    ///
    /// Read from the rollups (see `rollups`); a workspace whose rollups are not
    /// current yet is answered from raw events.
    ///
    /// Answers are kept in the store's answer cache under the workspace's data
    /// version (see `answer_cache`), as are those of [`funnel`](Self::funnel) and
    /// [`spend_total`](Self::spend_total).
    pub async fn top_counts(&self, filter: &KpiFilter) -> Result<TopCounts> {
        self.remembered(Asked::Top(filter.clone()), self.top_counts_computed(filter))
            .await
    }

    async fn top_counts_computed(&self, filter: &KpiFilter) -> Result<TopCounts> {
        let resolved = self.resolve(filter).await?;
        if !self.rollups_current() {
            return self.top_counts_raw_resolved(&resolved).await;
        }
        let scope = self.scope(&resolved).await?;
        Ok(self.cells(&resolved, &scope).await?.top_counts(&scope))
    }

    /// Distinct people at each step of `asset`'s funnel within `filter`.
    pub async fn funnel(&self, asset: &ExternalId, filter: &KpiFilter) -> Result<FunnelCounts> {
        let asked = Asked::Funnel(asset.clone(), filter.clone());
        self.remembered(asked, self.funnel_computed(asset, filter))
            .await
    }

    async fn funnel_computed(
        &self,
        asset: &ExternalId,
        filter: &KpiFilter,
    ) -> Result<FunnelCounts> {
        let filter = KpiFilter {
            asset: Some(asset.clone()),
            ..filter.clone()
        };
        let resolved = self.resolve(&filter).await?;
        if !self.rollups_current() {
            return self.funnel_counts_resolved(&resolved).await;
        }
        let scope = self.scope(&resolved).await?;
        Ok(self.cells(&resolved, &scope).await?.funnel(&scope))
    }

    /// The same counts as [`top_counts`](Self::top_counts), computed from raw events
    /// with `COUNT(DISTINCT …)`: the reference the rollups are tested and
    /// benchmarked against, and the answer while a workspace's rollups are stale.
    pub async fn top_counts_raw(&self, filter: &KpiFilter) -> Result<TopCounts> {
        let resolved = self.resolve(filter).await?;
        self.top_counts_raw_resolved(&resolved).await
    }

    async fn top_counts_raw_resolved(&self, resolved: &Resolved) -> Result<TopCounts> {
        let rows: Vec<(String, i64)> = event::Entity::find()
            .select_only()
            .column(event::Column::Kind)
            .column_as(Expr::col(event::Column::Id).count(), "n")
            .filter(self.condition(resolved, AssetScope::Exact))
            .group_by(event::Column::Kind)
            .into_tuple()
            .all(&self.store.db)
            .await?;
        let events: BTreeMap<EventKind, u64> = rows
            .into_iter()
            .filter_map(|(kind, n)| Some((kind.parse().ok()?, u64::try_from(n).ok()?)))
            .collect();

        let visited = Step {
            kinds: EventKind::VISIT_KINDS,
            on_landing_page: false,
        };
        let unique_visitors = self
            .distinct_people(resolved, AssetScope::Exact, visited, None)
            .await?;
        Ok(TopCounts {
            events,
            unique_visitors,
            funnel: self.funnel_counts_resolved(resolved).await?,
        })
    }

    /// Money spent within the filter per currency (a campaign's, else the workspace's),
    /// or [`Spend::NotRecorded`] when the filter names an asset or an organization:
    /// spend is recorded per campaign, channel and day only.
    pub async fn spend_total(&self, filter: &KpiFilter) -> Result<Spend> {
        self.remembered(Asked::Spend(filter.clone()), self.spend_computed(filter))
            .await
    }

    async fn spend_computed(&self, filter: &KpiFilter) -> Result<Spend> {
        if filter.asset.is_some() || filter.organization.is_some() {
            return Ok(Spend::NotRecorded);
        }
        let resolved = self.resolve(filter).await?;
        let mut amounts = Amounts::default();
        for day in self.spend_days(&resolved, days_spent_in(filter)).await? {
            amounts.add(day.currency.as_deref(), day.amount);
        }
        Ok(Spend::Recorded(amounts))
    }

    /// Spend per day, channel and currency (a campaign's, else the workspace's) for
    /// the filter's campaign and channel, over days `[from, to)`.
    pub(crate) async fn spend_days(
        &self,
        resolved: &Resolved,
        (from, to): (Option<NaiveDate>, Option<NaiveDate>),
    ) -> Result<Vec<DaySpend>> {
        let s = Alias::new("s");
        let k = Alias::new("k");
        let col = |name: &str| Expr::col((s.clone(), Alias::new(name)));
        let mut condition = Condition::all().add(col("workspace_id").eq(self.id()));
        if let Some(id) = resolved.campaign {
            condition = condition.add(col("campaign_id").eq(id));
        }
        if let Some(channel) = &resolved.channel {
            condition = condition.add(col("channel").eq(channel.as_str()));
        }
        if let Some(from) = from {
            condition = condition.add(col("day").gte(from));
        }
        if let Some(to) = to {
            condition = condition.add(col("day").lt(to));
        }
        let currency = Expr::col((k.clone(), Alias::new("currency")));
        let mut query = Query::select();
        query
            .expr_as(col("day"), Alias::new("day"))
            .expr_as(col("channel"), Alias::new("channel"))
            .expr_as(currency, Alias::new("currency"))
            .expr_as(col("amount").sum(), Alias::new("amount"))
            .from_as(spend::Entity, s.clone())
            .join_as(
                sea_orm::JoinType::LeftJoin,
                campaign::Entity,
                k.clone(),
                Expr::col((k.clone(), Alias::new("id")))
                    .equals((s.clone(), Alias::new("campaign_id"))),
            )
            .cond_where(condition)
            .group_by_col((s.clone(), Alias::new("day")))
            .group_by_col((s, Alias::new("channel")))
            .group_by_col((k, Alias::new("currency")));
        let mut days: Vec<DaySpend> = self.select(&query).await?;
        for day in &mut days {
            if day.currency.is_none() {
                day.currency = self.currency().map(str::to_owned);
            }
        }
        Ok(days)
    }

    async fn funnel_counts_resolved(&self, resolved: &Resolved) -> Result<FunnelCounts> {
        let viewed = Step {
            kinds: &[EventKind::PageView],
            on_landing_page: true,
        };
        let registered = Step {
            kinds: &[EventKind::Registration],
            on_landing_page: false,
        };
        let attended = Step {
            kinds: &[EventKind::Attendance],
            on_landing_page: false,
        };
        let family = AssetScope::Family;
        Ok(FunnelCounts {
            landing_viewers: self.distinct_people(resolved, family, viewed, None).await?,
            registrants: self
                .distinct_people(resolved, family, registered, None)
                .await?,
            attendees: self
                .distinct_people(resolved, family, attended, None)
                .await?,
            registered_viewers: self
                .distinct_people(resolved, family, registered, Some(viewed))
                .await?,
            registered_attendees: self
                .distinct_people(resolved, family, attended, Some(registered))
                .await?,
        })
    }

    /// Distinct people (contact, else anonymous id) who took `step` in the filter (its
    /// asset exactly or its family, per `scope`) and, if given, also took `before` in
    /// it.
    async fn distinct_people(
        &self,
        resolved: &Resolved,
        scope: AssetScope,
        step: Step<'_>,
        before: Option<Step<'_>>,
    ) -> Result<u64> {
        let events = event::Entity.table_name();
        let mut condition = self
            .condition(resolved, scope)
            .add(self.step_condition(events, step));
        if let Some(before) = before {
            let b = Alias::new("b");
            // The same person: the same contact, or the same anonymous id where
            // neither event knows the contact.
            let same_person = Expr::cust(format!(
                "(({events}.contact_id IS NOT NULL AND b.contact_id = {events}.contact_id) \
                 OR ({events}.contact_id IS NULL AND b.contact_id IS NULL \
                 AND b.anonymous_id = {events}.anonymous_id))"
            ));
            let took_before = Query::select()
                .expr(Expr::val(1))
                .from_as(event::Entity, b.clone())
                .cond_where(
                    self.condition_on(&b, resolved, scope)
                        .add(self.step_condition("b", before))
                        .add(same_person),
                )
                .to_owned();
            condition = condition.add(Expr::exists(took_before));
        }
        // A person is their contact id, or their anonymous id when no contact is
        // known; the two never coincide, so the distinct counts add up.
        let (contacts, anonymous): (i64, i64) = event::Entity::find()
            .select_only()
            .column_as(Expr::cust("COUNT(DISTINCT contact_id)"), "contacts")
            .column_as(
                Expr::cust("COUNT(DISTINCT CASE WHEN contact_id IS NULL THEN anonymous_id END)"),
                "anonymous",
            )
            .filter(condition)
            .into_tuple()
            .one(&self.store.db)
            .await?
            .unwrap_or((0, 0));
        Ok(u64::try_from(contacts + anonymous).unwrap_or(0))
    }

    /// The condition that an event of the table known as `table` takes `step`.
    fn step_condition(&self, table: &str, step: Step<'_>) -> Condition {
        let kind = Expr::col((Alias::new(table), Alias::new("kind")));
        let mut condition = Condition::all().add(kind.is_in(step.kinds.iter().map(|k| k.as_str())));
        if step.on_landing_page {
            condition = condition.add(Expr::cust(format!(
                "{table}.asset_id IN (SELECT id FROM assets WHERE workspace_id = {} AND kind = '{}')",
                self.id(),
                hourglass_core::AssetKind::LandingPage.as_str()
            )));
        }
        condition
    }

    fn condition(&self, resolved: &Resolved, scope: AssetScope) -> Condition {
        self.condition_on(&Alias::new(event::Entity.table_name()), resolved, scope)
    }

    /// The filter as a condition on the events table known as `table` in a query.
    pub(crate) fn condition_on(
        &self,
        table: &Alias,
        resolved: &Resolved,
        scope: AssetScope,
    ) -> Condition {
        let col = |name: &str| Expr::col((table.clone(), Alias::new(name)));
        let mut condition = Condition::all().add(col("workspace_id").eq(self.id()));
        if let Some(id) = resolved.campaign {
            condition = condition.add(col("campaign_id").eq(id));
        }
        if let Some(channel) = &resolved.channel {
            condition = condition.add(col("channel").eq(channel.as_str()));
        }
        if let Some(id) = resolved.organization {
            condition = condition.add(col("organization_id").eq(id));
        }
        match (scope, resolved.asset) {
            (_, None) => {}
            (AssetScope::Exact, Some(id)) => {
                condition = condition.add(col("asset_id").eq(id));
            }
            (AssetScope::Family, Some(_)) => {
                condition =
                    condition.add(col("asset_id").is_in(resolved.asset_family.iter().copied()));
            }
        }
        if let Some(from) = resolved.range.from {
            condition = condition.add(col("occurred_at").gte(to_millis(from)));
        }
        if let Some(to) = resolved.range.to {
            condition = condition.add(col("occurred_at").lt(to_millis(to)));
        }
        condition
    }

    pub(crate) async fn resolve(&self, filter: &KpiFilter) -> Result<Resolved> {
        let db = &self.store.db;
        let ws = self.id();
        let campaign = match &filter.campaign {
            Some(ext) => Some(self.campaign(ext).await?.id),
            None => None,
        };
        let organization = match &filter.organization {
            Some(ext) => Some(self.organization(ext).await?.id),
            None => None,
        };
        let (asset, asset_family) = match &filter.asset {
            None => (None, Vec::new()),
            Some(ext) => {
                let found = self
                    .find_asset(ext)
                    .await?
                    .ok_or_else(|| StorageError::not_found("asset", ext.as_str()))?;
                let promoted: Vec<i64> = asset::Entity::find()
                    .select_only()
                    .column(asset::Column::Id)
                    .filter(asset::Column::WorkspaceId.eq(ws))
                    .filter(asset::Column::LandingPageId.eq(found.id))
                    .into_tuple()
                    .all(db)
                    .await?;
                let mut family = vec![found.id];
                family.extend(found.landing_page_id);
                family.extend(promoted);
                (Some(found.id), family)
            }
        };
        Ok(Resolved {
            campaign,
            channel: filter.channel.clone(),
            asset,
            asset_family,
            organization,
            range: filter.range,
        })
    }
}

#[cfg(test)]
mod tests {
    use hourglass_core::{ExternalId, Slug};

    use super::*;
    use crate::{NewOrganization, Store, StoreOptions};

    #[tokio::test]
    async fn an_answer_computed_across_a_commit_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("h.db").display());
        let store = Store::connect(&StoreOptions::new(url)).await.unwrap();
        store.migrate_up().await.unwrap();
        let slug = |s: &str| Slug::parse(s).unwrap();
        store.create_agency(&slug("agency"), "A").await.unwrap();
        let tenant = store.agency_tenant("agency").await.unwrap();
        tenant.create_workspace(&slug("work"), "W").await.unwrap();
        let (reader, writer) = (
            tenant.workspace("work").await.unwrap(),
            tenant.workspace("work").await.unwrap(),
        );
        let asked = Asked::Spend(KpiFilter::default());
        let question = Question {
            workspace: reader.id(),
            data_version: reader.data_version(),
            asked: asked.clone(),
        };
        let organization = |id: &str| NewOrganization {
            id: ExternalId::parse(id, "id").unwrap(),
            name: None,
            domain: None,
        };

        // Another handle commits while the answer is computed: not kept.
        let answer = reader
            .remembered(asked.clone(), async {
                writer.create_organization(organization("o1")).await?;
                Ok(Spend::NotRecorded)
            })
            .await
            .unwrap();
        assert_eq!(answer, Spend::NotRecorded, "the caller still gets it");
        assert_eq!(store.answers.get::<Spend>(&question), None);

        // With no commit in between, a fresh handle's answer is kept.
        let fresh = tenant.workspace("work").await.unwrap();
        let kept = Question {
            data_version: fresh.data_version(),
            ..question
        };
        fresh
            .remembered(asked, async { Ok(Spend::Recorded(Amounts::default())) })
            .await
            .unwrap();
        assert_eq!(
            store.answers.get::<Spend>(&kept),
            Some(Spend::Recorded(Amounts::default()))
        );
    }
}
