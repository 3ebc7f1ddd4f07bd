//! What `spendAdvice` weighs: per paid channel of one campaign and per day, the money
//! spent and the outcomes credited to that day's touches. Core's `spend_advice` does
//! the statistics.
//!
//! An outcome (a new lead, a registrant, an engaged customer…) is credited to one of
//! the campaign's **paid touches** — its events on a channel it recorded spend for —
//! of the outcome's contact or organization, by first or last touch, on the UTC day
//! of that touch: the day the money bought it. Outcomes with no paid touch in their
//! window, or whose touch falls before the filter's days (whose spend is not counted),
//! are counted as unattributed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use hourglass_core::attribution::{Attribution, AttributionModel};
use hourglass_core::spend_advice::{ChannelCredit, ChannelDay, ChannelOutcomes, Outcome};
use hourglass_core::{EventKind, Stage};
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, Query};
use sea_orm::{FromQueryResult, JsonValue};

use crate::answer_cache::Asked;
use crate::entities::{contact, event};
use crate::error::Result;
use crate::kpis::{AssetScope, KpiFilter, Resolved, days_spent_in};
use crate::rollups::DAY_MS;
use crate::touches::{Moment, TouchIndex, TouchRow, is_touch_kind};
use crate::workspaces::WorkspaceStore;

#[derive(Debug, FromQueryResult)]
struct OutcomeRow {
    id: i64,
    occurred_at: i64,
    contact_id: Option<i64>,
    organization_id: Option<i64>,
    anonymous_id: Option<String>,
    properties: JsonValue,
}

impl OutcomeRow {
    fn moment(&self) -> Moment {
        Moment {
            at: self.occurred_at,
            contact_id: self.contact_id,
            organization_id: self.organization_id,
        }
    }

    /// Who reached the outcome: the contact, else the anonymous visitor, kept apart.
    fn person(&self) -> Option<(bool, String)> {
        match (&self.contact_id, &self.anonymous_id) {
            (Some(contact), _) => Some((true, contact.to_string())),
            (None, Some(anonymous)) => Some((false, anonymous.clone())),
            (None, None) => None,
        }
    }
}

/// Days since 1970 of a UTC instant in ms.
fn day_number(at_ms: i64) -> i64 {
    at_ms.div_euclid(DAY_MS)
}

impl WorkspaceStore {
    /// The filter's campaign's paid channels with their daily spend and the
    /// outcomes credited to them (see the module's doc); kept in the answer cache.
    /// The filter must name a campaign; its channel and asset are ignored (every
    /// channel of the campaign competes).
    pub async fn channel_credit(
        &self,
        filter: &KpiFilter,
        outcome: Outcome,
        attribution: Attribution,
    ) -> Result<ChannelCredit> {
        self.remembered(
            Asked::ChannelCredit(filter.clone(), outcome, attribution),
            self.channel_credit_computed(filter, outcome, attribution),
        )
        .await
    }

    async fn channel_credit_computed(
        &self,
        filter: &KpiFilter,
        outcome: Outcome,
        attribution: Attribution,
    ) -> Result<ChannelCredit> {
        let filter = KpiFilter {
            channel: None,
            asset: None,
            ..filter.clone()
        };
        let Some(campaign) = &filter.campaign else {
            return Err(hourglass_core::FieldError::new(
                "campaign",
                "the advice is about one campaign's channels: name it",
            )
            .into());
        };
        // The campaign's currency, else the workspace's: what its spend is in.
        let currency = self
            .campaign(campaign)
            .await?
            .currency
            .or_else(|| self.currency().map(str::to_owned));
        let resolved = self.resolve(&filter).await?;
        let spend = self.spend_days(&resolved, days_spent_in(&filter)).await?;
        let paid: BTreeSet<String> = spend
            .iter()
            .filter(|s| s.amount > 0.0)
            .map(|s| s.channel.clone())
            .collect();
        let e = Alias::new("e");
        let col = |name: &str| Expr::col((e.clone(), Alias::new(name)));
        let paid_touches = Condition::all()
            .add(col("campaign_id").eq(resolved.campaign.unwrap_or(0)))
            .add(col("channel").is_in(paid.iter().map(String::as_str)));

        let mut credit = Credit {
            days: days_spent_in(&filter),
            per_day: BTreeMap::new(),
        };
        let pick = |window: Vec<&TouchRow>| -> Option<TouchRow> {
            match attribution.model {
                AttributionModel::FirstTouch => window.first().map(|t| (*t).clone()),
                _ => window.last().map(|t| (*t).clone()),
            }
        };
        let (outcomes, unattributed) = if outcome == Outcome::EngagedCustomer {
            let by_contact = self.engaged_customer_touches(&resolved, &paid).await?;
            let mut unattributed = 0;
            for touches in by_contact.values() {
                if !pick(touches.iter().collect()).is_some_and(|t| credit.add(&t)) {
                    unattributed += 1;
                }
            }
            (by_contact.len() as u64, unattributed)
        } else {
            let rows = self.outcome_rows(&resolved, outcome).await?;
            let moments: Vec<Moment> = rows.iter().map(OutcomeRow::moment).collect();
            let touches =
                TouchIndex::new(self.touches_of(&moments, attribution, paid_touches).await?);
            let mut unattributed = 0;
            for moment in &moments {
                if !pick(touches.before(moment, attribution).collect())
                    .is_some_and(|t| credit.add(&t))
                {
                    unattributed += 1;
                }
            }
            (moments.len() as u64, unattributed)
        };

        let mut days: BTreeMap<String, BTreeMap<i64, ChannelDay>> = BTreeMap::new();
        let epoch = NaiveDate::default();
        for s in &spend {
            day_of(&mut days, s.channel.clone(), (s.day - epoch).num_days()).spend += s.amount;
        }
        for ((channel, day), outcomes) in credit.per_day {
            day_of(&mut days, channel, day).outcomes += outcomes;
        }
        let channels = days
            .into_iter()
            .map(|(channel, days)| ChannelOutcomes {
                channel,
                days: days.into_values().collect(),
            })
            .collect();
        Ok(ChannelCredit {
            channels,
            currency,
            outcomes,
            unattributed,
        })
    }

    /// The outcomes in the filter's range (and organization): rows of the outcome's
    /// kind, the first per person for all but referrals, oldest first.
    async fn outcome_rows(&self, resolved: &Resolved, outcome: Outcome) -> Result<Vec<OutcomeRow>> {
        let (kind, of_campaign) = match outcome {
            Outcome::Lead | Outcome::Customer => (EventKind::StageChange, false),
            Outcome::Registrant => (EventKind::Registration, true),
            Outcome::Attendee => (EventKind::Attendance, true),
            Outcome::Referral => (EventKind::Referral, false),
            Outcome::EngagedCustomer => return Ok(Vec::new()),
        };
        let scope = Resolved {
            campaign: resolved.campaign.filter(|_| of_campaign),
            organization: resolved.organization,
            range: resolved.range,
            ..Resolved::default()
        };
        let e = Alias::new("e");
        let mut query = Query::select();
        query
            .columns(
                [
                    "id",
                    "occurred_at",
                    "contact_id",
                    "organization_id",
                    "anonymous_id",
                    "properties",
                ]
                .map(|c| (e.clone(), Alias::new(c))),
            )
            .from_as(event::Entity, e.clone())
            .cond_where(
                self.condition_on(&e, &scope, AssetScope::Exact)
                    .add(Expr::col((e.clone(), Alias::new("kind"))).eq(kind.as_str())),
            );
        let mut rows: Vec<OutcomeRow> = self.select(&query).await?;
        rows.sort_by_key(|r| (r.occurred_at, r.id));

        let stages = self.lifecycle_stages();
        // A stage the workspace does not list is reached by nobody.
        let reaches = |row: &OutcomeRow, stage: &str| {
            let needed = Stage::rank(&stages, stage);
            needed > 0
                && row
                    .properties
                    .get("to")
                    .and_then(JsonValue::as_str)
                    .is_some_and(|to| Stage::rank(&stages, to) >= needed)
        };
        let qualifies = |row: &OutcomeRow| match outcome {
            Outcome::Lead => reaches(row, "LEAD"),
            Outcome::Customer => reaches(row, "CUSTOMER"),
            _ => true,
        };
        if outcome == Outcome::Referral {
            return Ok(rows);
        }
        let mut seen = BTreeSet::new();
        Ok(rows
            .into_iter()
            .filter(|row| qualifies(row))
            .filter(|row| row.person().is_none_or(|p| seen.insert(p)))
            .collect())
    }

    /// For every contact now at CUSTOMER or beyond with an event of the campaign in
    /// the range, their paid touches of the campaign in the range, oldest first (none
    /// for a customer the campaign reached only through unpaid channels).
    async fn engaged_customer_touches(
        &self,
        resolved: &Resolved,
        paid: &BTreeSet<String>,
    ) -> Result<HashMap<i64, Vec<TouchRow>>> {
        #[derive(FromQueryResult)]
        struct Engagement {
            id: i64,
            occurred_at: i64,
            contact_id: i64,
            kind: String,
            channel: Option<String>,
        }
        let stages = self.lifecycle_stages();
        // None when the workspace does not list CUSTOMER.
        let customer = Stage::rank(&stages, "CUSTOMER");
        let customer_stages: Vec<&str> = stages
            .iter()
            .filter(|s| customer > 0 && Stage::rank(&stages, s) >= customer)
            .map(String::as_str)
            .collect();
        let scope = Resolved {
            campaign: resolved.campaign,
            organization: resolved.organization,
            range: resolved.range,
            ..Resolved::default()
        };
        let e = Alias::new("e");
        let c = Alias::new("c");
        let mut query = Query::select();
        query
            .columns(
                ["id", "occurred_at", "contact_id", "kind", "channel"]
                    .map(|col| (e.clone(), Alias::new(col))),
            )
            .from_as(event::Entity, e.clone())
            .join_as(
                sea_orm::JoinType::InnerJoin,
                contact::Entity,
                c.clone(),
                Expr::col((c.clone(), Alias::new("id")))
                    .equals((e.clone(), Alias::new("contact_id"))),
            )
            .cond_where(
                self.condition_on(&e, &scope, AssetScope::Exact)
                    .add(Expr::col((c, Alias::new("stage"))).is_in(customer_stages)),
            );
        let rows: Vec<Engagement> = self.select(&query).await?;
        let mut by_contact: HashMap<i64, Vec<TouchRow>> = HashMap::new();
        for row in rows {
            let touches = by_contact.entry(row.contact_id).or_default();
            let is_touch = row.kind.parse().is_ok_and(is_touch_kind);
            if let Some(channel) = row.channel.filter(|c| is_touch && paid.contains(c)) {
                touches.push(TouchRow {
                    id: row.id,
                    occurred_at: row.occurred_at,
                    contact_id: Some(row.contact_id),
                    organization_id: None,
                    campaign_id: resolved.campaign,
                    channel: Some(channel),
                    asset_id: None,
                });
            }
        }
        for touches in by_contact.values_mut() {
            touches.sort_by_key(|t| (t.occurred_at, t.id));
        }
        Ok(by_contact)
    }
}

/// A channel's entry for a day, made empty if there is none yet.
fn day_of(
    days: &mut BTreeMap<String, BTreeMap<i64, ChannelDay>>,
    channel: String,
    day: i64,
) -> &mut ChannelDay {
    days.entry(channel)
        .or_default()
        .entry(day)
        .or_insert(ChannelDay {
            day,
            spend: 0.0,
            outcomes: 0,
        })
}

/// Outcomes credited per channel and UTC day of the touch, over the days whose spend
/// is counted.
struct Credit {
    days: (Option<NaiveDate>, Option<NaiveDate>),
    per_day: BTreeMap<(String, i64), u64>,
}

impl Credit {
    /// One outcome more for the touch's channel on the touch's UTC day; false (no
    /// credit) when that day is outside the days whose spend is counted — the money
    /// that bought the touch is not in the comparison, so neither is what it bought.
    fn add(&mut self, touch: &TouchRow) -> bool {
        let Some(channel) = &touch.channel else {
            return false;
        };
        let day = day_number(touch.occurred_at);
        let epoch = NaiveDate::default();
        let number = |date: NaiveDate| (date - epoch).num_days();
        let (from, to) = self.days;
        if from.is_some_and(|f| day < number(f)) || to.is_some_and(|t| day >= number(t)) {
            return false;
        }
        *self.per_day.entry((channel.clone(), day)).or_default() += 1;
        true
    }
}
