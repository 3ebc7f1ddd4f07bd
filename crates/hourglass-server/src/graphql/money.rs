//! Hard KPIs in money: revenue, cost per outcome and ROI, as GraphQL types.

use async_graphql::{Enum, SimpleObject};
use hourglass_core::attribution::{AttributedRevenue, Attribution};
use hourglass_core::money::{
    Amounts, CostPerOutcome as CoreCost, Money as CoreMoney, Roi as CoreRoi, Unavailable,
};

/// An amount in one currency.
#[derive(SimpleObject, Debug, Clone)]
pub struct Money {
    pub amount: f64,
    /// ISO 4217 code; null when neither the record nor the workspace names one.
    pub currency: Option<String>,
}

impl From<CoreMoney> for Money {
    fn from(m: CoreMoney) -> Self {
        Self {
            amount: m.amount,
            currency: m.currency,
        }
    }
}

/// Every currency of `amounts`, never added across.
pub fn per_currency(amounts: &Amounts) -> Vec<Money> {
    amounts.to_vec().into_iter().map(Into::into).collect()
}

/// Why a money KPI has no value.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "hourglass_core::money::Unavailable")]
pub enum CostUnavailable {
    /// The filter names an asset or organization; spend is recorded per campaign,
    /// channel and day only.
    SpendNotRecorded,
    /// The filter's spend is in more than one currency, which are never added.
    MixedCurrencies,
    /// Nothing was spent within the filter.
    NoSpend,
    /// Nobody reached the outcome within the filter.
    NoOutcomes,
    /// The outcome is a lifecycle stage the workspace does not list.
    StageNotListed,
}

/// Spend divided by the people who reached an outcome.
#[derive(SimpleObject, Debug, Clone)]
pub struct CostPerOutcome {
    /// Spend / outcomes; null with `unavailable` saying why.
    pub value: Option<f64>,
    /// The spend's currency.
    pub currency: Option<String>,
    /// People who reached the outcome; null when the workspace cannot count it.
    pub outcomes: Option<u64>,
    pub unavailable: Option<CostUnavailable>,
}

impl From<CoreCost> for CostPerOutcome {
    fn from(cost: CoreCost) -> Self {
        let (value, currency, unavailable) = match cost.cost {
            Ok(money) => (Some(money.amount), money.currency, None),
            Err(why) => (None, None, Some(why.into())),
        };
        Self {
            value,
            currency,
            outcomes: cost.outcomes,
            unavailable,
        }
    }
}

/// How a sale's amount is shared among the touches before it.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "hourglass_core::attribution::AttributionModel")]
pub enum AttributionModel {
    /// All of it to the earliest touch in the lookback window.
    FirstTouch,
    /// All of it to the latest touch before the sale.
    LastTouch,
    /// Equal shares to every touch in the window.
    Linear,
}

/// Return on investment: (attributed revenue − spend) / spend.
#[derive(SimpleObject, Debug, Clone)]
pub struct Roi {
    /// 1.5 means 150 % back on top of the spend, −1 nothing back; null with
    /// `unavailable` saying why.
    pub value: Option<f64>,
    /// The 95 % interval of `value`: spend taken as known, the attributed revenue as a
    /// compound Poisson total (sales as a Poisson process with independent credits;
    /// variance Σ credit², normal approximation, revenue not below 0).
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    /// Sales that gave the filter's touches credit in the spend's currency.
    pub credited_sales: u64,
    /// False while `creditedSales` is below the workspace's minimum sample: the
    /// interval's normal approximation needs many sales.
    pub sufficient: bool,
    pub unavailable: Option<CostUnavailable>,
    pub model: AttributionModel,
    pub lookback_days: u32,
    /// The spend divided by.
    pub spend: Option<Money>,
    /// Revenue credited to the filter's touches, in the spend's currency.
    pub attributed_revenue: Option<Money>,
    /// Revenue credited in other currencies than the spend's: left out of `value`,
    /// never converted. Every attributed currency when there is no spend.
    pub other_currencies: Vec<Money>,
    /// Revenue of sales with no touch at all in their window, per currency.
    pub unattributed_revenue: Vec<Money>,
    /// REVENUE events considered: those in the filter's range (and organization).
    pub sales: u64,
}

impl Roi {
    pub fn new(roi: CoreRoi, attribution: Attribution, revenue: &AttributedRevenue) -> Self {
        let (value, unavailable) = match roi.value {
            Ok(value) => (Some(value), None),
            Err(why) => (None, Some(Unavailable::into(why))),
        };
        Self {
            value,
            lower: roi.interval.map(|(lower, _)| lower),
            upper: roi.interval.map(|(_, upper)| upper),
            credited_sales: roi.credited_sales,
            sufficient: roi.sufficient,
            unavailable,
            model: attribution.model.into(),
            lookback_days: attribution.lookback_days,
            spend: roi.spend.map(Into::into),
            attributed_revenue: roi.revenue.map(Into::into),
            other_currencies: roi.other_currencies.into_iter().map(Into::into).collect(),
            unattributed_revenue: per_currency(&revenue.unattributed),
            sales: revenue.sales,
        }
    }
}
