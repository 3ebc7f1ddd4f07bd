//! Where to move spend: a campaign's paid channels ranked by the cost per outcome of
//! its goal, and which shift of money the data support — or "not enough data yet".

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use hourglass_core::attribution::{Attribution, AttributionModel};
use hourglass_core::spend_advice::{self, Outcome, Shift};
use hourglass_core::{Goal as CoreGoal, Permission};

use super::compare::Verdict;
use super::filter::KpiFilterInput;
use super::types::Goal;
use super::{caller, cost, external_id};
use crate::error::{ApiError, ApiResult};

/// What a campaign's channels are judged by. Without one, the campaign's goal says:
/// FIND → LEAD, KEEP → ENGAGED_CUSTOMER, GROW → REFERRAL.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "hourglass_core::spend_advice::Outcome")]
pub enum SpendOutcome {
    /// A person reaching LEAD or a later stage (their first such STAGE_CHANGE in the
    /// filter).
    Lead,
    /// A person's first REGISTRATION of the campaign in the filter.
    Registrant,
    /// A person's first ATTENDANCE of the campaign in the filter.
    Attendee,
    /// A person reaching CUSTOMER or a later stage.
    Customer,
    /// A contact at CUSTOMER or beyond with an event of the campaign in the filter,
    /// credited among their paid touches of the campaign in the filter.
    EngagedCustomer,
    /// A REFERRAL event, credited to the referrer's touches.
    Referral,
}

/// Which one paid touch an outcome is credited to. Outcomes are credited whole, so
/// that they can be counted and compared; there is no LINEAR here.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq, Default)]
pub enum TouchCredit {
    /// The earliest paid touch in the window.
    FirstTouch,
    /// The latest paid touch before the outcome.
    #[default]
    LastTouch,
}

/// A cost per outcome with its exact 95 % interval (Garwood's, for the outcome count).
#[derive(SimpleObject, Debug, Clone)]
pub struct CostInterval {
    /// Spend / outcomes; null without outcomes.
    pub value: Option<f64>,
    pub lower: f64,
    /// Null (unbounded) without outcomes.
    pub upper: Option<f64>,
}

/// One channel's outcomes per unit of spend against the reference channel's, over the
/// days on which both spent.
#[derive(SimpleObject, Debug, Clone)]
pub struct ChannelRatio {
    /// This channel's outcomes per unit of spend over the reference's (its maximum
    /// likelihood estimate); above 1 is cheaper. Null when the reference has none.
    pub ratio: Option<f64>,
    /// The anytime-valid 95 % confidence sequence for the ratio (null: unbounded).
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    /// Always-valid p-value for equal rates, before Holm's adjustment.
    pub p_value: f64,
    /// Fixed-sample p-value (exact conditional binomial test): valid only for one
    /// look at a sample size fixed in advance.
    pub fixed_sample_p_value: f64,
    /// Days on which both spent.
    pub shared_days: u64,
    /// Outcomes of both on those days.
    pub outcomes: u64,
}

/// One paid channel of the campaign.
#[derive(SimpleObject, Debug, Clone)]
pub struct ChannelAdvice {
    pub channel: String,
    pub spend: f64,
    /// Outcomes credited to its touches.
    pub outcomes: u64,
    pub cost_per_outcome: CostInterval,
    /// Against the reference; null for the reference itself and channels not compared.
    pub versus_reference: Option<ChannelRatio>,
    /// The always-valid p-value after Holm's adjustment over the channels compared.
    pub adjusted_p_value: Option<f64>,
    /// BETTER: more outcomes per unit of spend than the reference (cheaper).
    pub verdict: Option<Verdict>,
    /// More outcomes (of this pair, on days both spend) a verdict would take at the
    /// current rates; 0 once decided; null when not in any useful time.
    pub more_outcomes_needed: Option<u64>,
}

/// What the data support doing with the money.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
pub enum SpendShift {
    /// Move money from the `moveFrom` channels to `moveTo`.
    MoveSpend,
    /// No channel is shown cheaper or dearer yet.
    NotEnoughData,
    /// Fewer than two channels have spend.
    NothingToCompare,
}

/// Where to move a campaign's spend.
#[derive(SimpleObject, Debug, Clone)]
pub struct SpendAdvice {
    pub campaign: ID,
    pub goal: Goal,
    pub outcome: SpendOutcome,
    pub model: TouchCredit,
    pub lookback_days: u32,
    /// The campaign's currency, else the workspace's.
    pub currency: Option<String>,
    /// Outcomes in the filter.
    pub outcomes: u64,
    /// Of those, how many had no paid touch of the campaign in their window.
    pub unattributed_outcomes: u64,
    /// Outcomes a pair of channels needs before a verdict: the workspace's minimum
    /// sample.
    pub minimum_outcomes: u64,
    /// Cheapest first; channels with spend but no outcome after them.
    pub channels: Vec<ChannelAdvice>,
    /// The channel the others are compared with: the cheapest with at least the
    /// minimum outcomes, else the cheapest with spend.
    pub reference: Option<String>,
    pub shift: SpendShift,
    pub move_from: Vec<String>,
    pub move_to: Option<String>,
    /// With NOT_ENOUGH_DATA: the fewest more outcomes any pair needs for a verdict at
    /// the current rates (null: not in any useful time).
    pub more_outcomes_needed: Option<u64>,
    /// The advice in one sentence.
    pub summary: String,
}

#[derive(Debug, Default)]
pub struct AdviceQuery;

#[Object]
impl AdviceQuery {
    /// Ranks a campaign's paid channels by cost per outcome of its goal, each with an
    /// exact 95 % interval, and says which shift of money the data support: from the
    /// channels shown dearer than the cheapest (an anytime-valid test, Holm-adjusted,
    /// valid however often it is looked at) — or "not enough data yet" with the
    /// outcomes still missing. Outcomes are credited to the campaign's paid touches
    /// (its events on channels with spend) of the person or their organization within
    /// `lookbackDays` before the outcome, on the day of the touch. The filter's
    /// campaign is this one; its channel and asset are ignored.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "cost::with_children(cost::SPEND_ADVICE, child_complexity)")]
    async fn spend_advice(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        campaign: ID,
        filter: Option<KpiFilterInput>,
        outcome: Option<SpendOutcome>,
        #[graphql(default)] model: TouchCredit,
        #[graphql(default = 90)] lookback_days: i32,
    ) -> ApiResult<SpendAdvice> {
        let lookback_days = u32::try_from(lookback_days)
            .ok()
            .filter(|d| (1..=Attribution::MAX_LOOKBACK_DAYS).contains(d))
            .ok_or_else(|| ApiError::BadUserInput {
                message: format!("lookbackDays is 1 to {}", Attribution::MAX_LOOKBACK_DAYS),
                field: Some("lookbackDays".into()),
            })?;
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        let campaign_id = external_id(&campaign, "campaign")?;
        let goal: CoreGoal = ws.campaign(&campaign_id).await?.goal.parse().map_err(|_| {
            ApiError::internal(&"a stored campaign goal is not one of FIND, KEEP, GROW")
        })?;
        let mut filter = filter.unwrap_or_default().into_filter()?;
        filter.campaign = Some(campaign_id);
        let outcome = outcome.unwrap_or_else(|| Outcome::of_goal(goal).into());
        if let Some(stage) = Outcome::from(outcome).stage()
            && !ws.lifecycle_stages().iter().any(|s| s == stage)
        {
            return Err(ApiError::BadUserInput {
                message: format!(
                    "this workspace's lifecycleStages do not list {stage}: choose another outcome"
                ),
                field: Some("outcome".into()),
            });
        }
        let attribution = Attribution {
            model: match model {
                TouchCredit::FirstTouch => AttributionModel::FirstTouch,
                TouchCredit::LastTouch => AttributionModel::LastTouch,
            },
            lookback_days,
        };
        let credit = ws
            .channel_credit(&filter, Outcome::from(outcome), attribution)
            .await?;
        let minimum_outcomes = ws.min_sample();
        // Root finding and numerical integration per pair of channels: off the
        // async workers.
        let channels = credit.channels;
        let advice =
            tokio::task::spawn_blocking(move || spend_advice::advise(channels, minimum_outcomes))
                .await
                .map_err(|e| ApiError::internal(&e))?;
        let channels: Vec<ChannelAdvice> = advice.channels.into_iter().map(channel).collect();
        let currency = credit.currency;
        let summary = summary(&advice.shift, &channels, outcome, currency.as_deref());
        let (shift, move_from, move_to, more_outcomes_needed) = match advice.shift {
            Shift::Move { from, to } => (SpendShift::MoveSpend, from, Some(to), None),
            Shift::NotEnoughData {
                more_outcomes_needed,
            } => (
                SpendShift::NotEnoughData,
                Vec::new(),
                None,
                more_outcomes_needed,
            ),
            Shift::NothingToCompare => (SpendShift::NothingToCompare, Vec::new(), None, None),
        };
        Ok(SpendAdvice {
            campaign,
            goal: goal.into(),
            outcome,
            model,
            lookback_days,
            currency,
            outcomes: credit.outcomes,
            unattributed_outcomes: credit.unattributed,
            minimum_outcomes,
            channels,
            reference: advice.reference,
            shift,
            move_from,
            move_to,
            more_outcomes_needed,
            summary,
        })
    }
}

fn channel(c: spend_advice::ChannelAdvice) -> ChannelAdvice {
    ChannelAdvice {
        channel: c.channel,
        spend: c.cost.spend,
        outcomes: c.cost.outcomes,
        cost_per_outcome: CostInterval {
            value: c.cost.value,
            lower: c.cost.lower,
            upper: c.cost.upper,
        },
        versus_reference: c.versus_reference.map(|r| ChannelRatio {
            ratio: r.ratio,
            lower: r.lower,
            upper: r.upper,
            p_value: r.p_value,
            fixed_sample_p_value: r.fixed_sample_p_value,
            shared_days: r.shared_days,
            outcomes: r.outcomes,
        }),
        adjusted_p_value: c.adjusted_p_value,
        verdict: c.verdict.map(Into::into),
        more_outcomes_needed: c.more_outcomes_needed,
    }
}

/// The advice as a marketer would say it.
fn summary(
    shift: &Shift,
    channels: &[ChannelAdvice],
    outcome: SpendOutcome,
    currency: Option<&str>,
) -> String {
    let noun = match outcome {
        SpendOutcome::Lead => "lead",
        SpendOutcome::Registrant => "registrant",
        SpendOutcome::Attendee => "attendee",
        SpendOutcome::Customer => "customer",
        SpendOutcome::EngagedCustomer => "engaged customer",
        SpendOutcome::Referral => "referral",
    };
    let money = |amount: f64| match currency {
        Some(currency) => format!("{amount:.2} {currency}"),
        None => format!("{amount:.2}"),
    };
    let cost = |name: &str| -> String {
        match channels.iter().find(|c| c.channel == name) {
            Some(ChannelAdvice {
                cost_per_outcome: CostInterval { value: Some(v), .. },
                ..
            }) => format!("{} per {noun}", money(*v)),
            Some(c) => format!("no {noun} for {}", money(c.spend)),
            None => format!("no {noun}"),
        }
    };
    match shift {
        Shift::Move { from, to } => {
            let from_costs: Vec<String> =
                from.iter().map(|f| format!("{f} ({})", cost(f))).collect();
            format!(
                "Move money from {} to {to} ({}): the difference holds however often you look.",
                from_costs.join(", "),
                cost(to)
            )
        }
        Shift::NotEnoughData {
            more_outcomes_needed: Some(n),
        } => format!(
            "Not enough data yet: about {n} more {noun}s on days both channels spend, at the current rates, before a channel can be shown cheaper."
        ),
        Shift::NotEnoughData {
            more_outcomes_needed: None,
        } => format!(
            "Not enough data yet, and at the current rates the channels' cost per {noun} is too close to tell apart in any useful time."
        ),
        Shift::NothingToCompare => {
            "Nothing to compare: fewer than two channels of the campaign have spend.".to_owned()
        }
    }
}
