//! Hard KPIs in money: revenue and spend kept per currency, cost per outcome and
//! return on investment.
//!
//! Nothing here converts currencies: amounts in different currencies are kept
//! apart, and a KPI that would have to add them is unavailable with the reason said.

use std::collections::BTreeMap;

use crate::stats::Z_95;

/// An amount in one currency. `currency` is `None` when neither the record nor the
/// workspace names one; such amounts only ever add up with each other.
#[derive(Debug, Clone, PartialEq)]
pub struct Money {
    pub amount: f64,
    pub currency: Option<String>,
}

/// Amounts summed per currency, never across currencies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Amounts(BTreeMap<Option<String>, f64>);

impl Amounts {
    pub fn add(&mut self, currency: Option<&str>, amount: f64) {
        *self.0.entry(currency.map(str::to_owned)).or_insert(0.0) += amount;
    }

    /// One entry per currency, in currency order (unstated first).
    pub fn to_vec(&self) -> Vec<Money> {
        self.0
            .iter()
            .map(|(currency, amount)| Money {
                amount: *amount,
                currency: currency.clone(),
            })
            .collect()
    }

    /// The amount in `currency`, zero when there is none.
    pub fn in_currency(&self, currency: Option<&str>) -> f64 {
        self.0
            .get(&currency.map(str::to_owned))
            .copied()
            .unwrap_or(0.0)
    }

    /// Every amount but the one in `currency`.
    pub fn except(&self, currency: Option<&str>) -> Vec<Money> {
        self.to_vec()
            .into_iter()
            .filter(|m| m.currency.as_deref() != currency)
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<Money> for Amounts {
    fn from_iter<I: IntoIterator<Item = Money>>(iter: I) -> Self {
        let mut amounts = Self::default();
        for money in iter {
            amounts.add(money.currency.as_deref(), money.amount);
        }
        amounts
    }
}

/// Money spent within a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Spend {
    /// The filter names an asset or an organization; spend is recorded per campaign,
    /// channel and day only.
    NotRecorded,
    /// Spend per currency (a campaign's currency, else the workspace's). Empty when
    /// nothing was spent.
    Recorded(Amounts),
}

impl Spend {
    /// The one amount spent, or why there is none to divide by.
    pub fn single(&self) -> Result<Money, Unavailable> {
        let Self::Recorded(amounts) = self else {
            return Err(Unavailable::SpendNotRecorded);
        };
        let mut spent = amounts.to_vec().into_iter().filter(|m| m.amount != 0.0);
        match (spent.next(), spent.next()) {
            (None, _) => Err(Unavailable::NoSpend),
            (Some(one), None) if one.amount > 0.0 => Ok(one),
            (Some(_), None) => Err(Unavailable::NoSpend),
            (Some(_), Some(_)) => Err(Unavailable::MixedCurrencies),
        }
    }
}

/// Why a money KPI has no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// The filter names an asset or organization, which spend is not recorded against.
    SpendNotRecorded,
    /// The filter's spend is in more than one currency, which are never added.
    MixedCurrencies,
    /// Nothing was spent within the filter.
    NoSpend,
    /// No outcome to divide the spend by.
    NoOutcomes,
    /// The outcome is a lifecycle stage the workspace does not list.
    StageNotListed,
}

/// Spend divided by the people who reached an outcome (leads, registrants, …).
#[derive(Debug, Clone, PartialEq)]
pub struct CostPerOutcome {
    /// People who reached the outcome; `None` when the workspace cannot count it.
    pub outcomes: Option<u64>,
    /// The cost of one outcome, in the spend's currency.
    pub cost: Result<Money, Unavailable>,
}

impl CostPerOutcome {
    /// `outcomes` is `None` when the outcome is a stage the workspace does not list.
    pub fn new(spend: &Spend, outcomes: Option<u64>) -> Self {
        let cost = spend.single().and_then(|spent| match outcomes {
            None => Err(Unavailable::StageNotListed),
            Some(0) => Err(Unavailable::NoOutcomes),
            Some(n) => Ok(Money {
                amount: spent.amount / n as f64,
                currency: spent.currency,
            }),
        });
        Self { outcomes, cost }
    }
}

/// Money credited sale by sale, per currency: the total, and what its interval needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Credit {
    pub total: Amounts,
    /// The sum of each sale's credit squared: the variance of the total (see [`Roi`]).
    pub squares: Amounts,
    /// Sales that gave any credit.
    pub sales: BTreeMap<Option<String>, u64>,
}

impl Credit {
    /// Adds one sale's credit.
    pub fn add(&mut self, currency: Option<&str>, credit: f64) {
        self.total.add(currency, credit);
        self.squares.add(currency, credit * credit);
        *self.sales.entry(currency.map(str::to_owned)).or_default() += 1;
    }
}

/// Return on investment: (attributed revenue − spend) / spend, both in the spend's
/// currency. Revenue attributed in other currencies is reported, never added.
///
/// The interval treats the spend as known and the sales as a Poisson process whose
/// credited amounts are independent draws: the credited total R is then compound
/// Poisson, Var(R) is estimated by Σ cᵢ² over the sales' credits cᵢ, and R ± 1.96 √Σ cᵢ²
/// (its lower end no below 0) gives (R − spend) / spend its 95 % interval, a normal
/// approximation that is only as good as the number of sales is large: hence
/// `sufficient`.
#[derive(Debug, Clone, PartialEq)]
pub struct Roi {
    pub value: Result<f64, Unavailable>,
    /// The 95 % interval of `value`, when it has one.
    pub interval: Option<(f64, f64)>,
    /// Sales that gave the filter's touches credit in the spend's currency.
    pub credited_sales: u64,
    /// Whether `credited_sales` reaches the workspace's minimum sample.
    pub sufficient: bool,
    /// The spend divided by, when there is one.
    pub spend: Option<Money>,
    /// Attributed revenue in the spend's currency (what `value` counts).
    pub revenue: Option<Money>,
    /// Attributed revenue in other currencies: left out of `value`.
    pub other_currencies: Vec<Money>,
}

impl Roi {
    pub fn new(spend: &Spend, credited: &Credit, min_sample: u64) -> Self {
        match spend.single() {
            Ok(spent) => {
                let currency = spent.currency.as_deref();
                let revenue = credited.total.in_currency(currency);
                let margin = Z_95 * credited.squares.in_currency(currency).sqrt();
                let roi = |revenue: f64| (revenue - spent.amount) / spent.amount;
                let credited_sales = credited
                    .sales
                    .get(&currency.map(str::to_owned))
                    .copied()
                    .unwrap_or(0);
                Self {
                    value: Ok(roi(revenue)),
                    interval: Some((roi((revenue - margin).max(0.0)), roi(revenue + margin))),
                    credited_sales,
                    sufficient: credited_sales >= min_sample,
                    revenue: Some(Money {
                        amount: revenue,
                        currency: spent.currency.clone(),
                    }),
                    other_currencies: credited.total.except(currency),
                    spend: Some(spent),
                }
            }
            Err(why) => Self {
                value: Err(why),
                interval: None,
                credited_sales: 0,
                sufficient: false,
                spend: None,
                revenue: None,
                other_currencies: credited.total.to_vec(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amounts(list: &[(Option<&str>, f64)]) -> Amounts {
        let mut amounts = Amounts::default();
        for (currency, amount) in list {
            amounts.add(*currency, *amount);
        }
        amounts
    }

    fn eur(amount: f64) -> Money {
        Money {
            amount,
            currency: Some("EUR".into()),
        }
    }

    #[test]
    fn amounts_add_up_within_a_currency_only() {
        let a = amounts(&[
            (Some("EUR"), 10.0),
            (Some("USD"), 5.0),
            (Some("EUR"), 2.5),
            (None, 1.0),
        ]);
        assert_eq!(a.in_currency(Some("EUR")), 12.5);
        assert_eq!(a.in_currency(Some("GBP")), 0.0);
        let listed: Vec<_> = a.to_vec().into_iter().map(|m| m.currency).collect();
        assert_eq!(listed, vec![None, Some("EUR".into()), Some("USD".into())]);
    }

    #[test]
    fn cost_per_outcome_divides_one_currency_or_says_why_not() {
        let spend = Spend::Recorded(amounts(&[(Some("EUR"), 300.0)]));
        let cost = CostPerOutcome::new(&spend, Some(12));
        assert_eq!(cost.cost, Ok(eur(25.0)));
        assert_eq!(
            CostPerOutcome::new(&spend, Some(0)).cost,
            Err(Unavailable::NoOutcomes)
        );
        assert_eq!(
            CostPerOutcome::new(&spend, None).cost,
            Err(Unavailable::StageNotListed)
        );
        assert_eq!(
            CostPerOutcome::new(&Spend::Recorded(Amounts::default()), Some(3)).cost,
            Err(Unavailable::NoSpend)
        );
        assert_eq!(
            CostPerOutcome::new(&Spend::NotRecorded, Some(3)).cost,
            Err(Unavailable::SpendNotRecorded)
        );
        let mixed = Spend::Recorded(amounts(&[(Some("EUR"), 1.0), (Some("USD"), 1.0)]));
        assert_eq!(
            CostPerOutcome::new(&mixed, Some(3)).cost,
            Err(Unavailable::MixedCurrencies)
        );
        // A currency whose spend sums to zero is no second currency.
        let zero_usd = Spend::Recorded(amounts(&[(Some("EUR"), 30.0), (Some("USD"), 0.0)]));
        assert_eq!(CostPerOutcome::new(&zero_usd, Some(3)).cost, Ok(eur(10.0)));
    }

    fn attributed(credits: &[(Option<&str>, f64)]) -> Credit {
        let mut credit = Credit::default();
        for (currency, amount) in credits {
            credit.add(*currency, *amount);
        }
        credit
    }

    #[test]
    fn roi_counts_revenue_in_the_spend_currency_and_lists_the_rest() {
        let spend = Spend::Recorded(amounts(&[(Some("EUR"), 200.0)]));
        let attributed = attributed(&[(Some("EUR"), 500.0), (Some("USD"), 900.0)]);
        let roi = Roi::new(&spend, &attributed, 30);
        assert_eq!(roi.value, Ok(1.5), "(500 - 200) / 200");
        assert_eq!(roi.revenue, Some(eur(500.0)));
        assert_eq!(roi.other_currencies.len(), 1);
        assert_eq!(roi.other_currencies[0].currency.as_deref(), Some("USD"));

        let nothing_back = Roi::new(&spend, &Credit::default(), 30);
        assert_eq!(nothing_back.value, Ok(-1.0), "all spend lost");
        assert_eq!(nothing_back.interval, Some((-1.0, -1.0)));

        let none = Roi::new(&Spend::Recorded(Amounts::default()), &attributed, 30);
        assert_eq!(none.value, Err(Unavailable::NoSpend));
        assert_eq!(none.interval, None);
        assert_eq!(none.other_currencies.len(), 2);
    }

    #[test]
    fn the_roi_interval_is_that_of_a_compound_poisson_total() {
        // Credits 300, 500, 200 and 1000 EUR against 1000 EUR spent. Worked out apart:
        //   R = 2000, Σc² = 90000 + 250000 + 40000 + 1000000 = 1380000,
        //   margin (python3): 1.959963984540054 * math.sqrt(1380000) = 2302.436355810491,
        //   ROI = 1.0, upper = (2000 + 2302.436355810491 − 1000) / 1000, lower clipped at
        //   revenue 0: −1.0.
        let spend = Spend::Recorded(amounts(&[(Some("EUR"), 1000.0)]));
        let credits = [300.0, 500.0, 200.0, 1000.0].map(|c| (Some("EUR"), c));
        let roi = Roi::new(&spend, &attributed(&credits), 3);
        assert_eq!(roi.value, Ok(1.0));
        let (lower, upper) = roi.interval.unwrap();
        assert_eq!(lower, -1.0);
        assert!((upper - 3.302436355810491).abs() < 1e-12, "{upper}");
        assert_eq!((roi.credited_sales, roi.sufficient), (4, true));

        // Forty sales of 100: R = 4000, margin (python3):
        // 1.959963984540054 * math.sqrt(400000) = 1239.5900646091231.
        let many = [100.0; 40].map(|c| (Some("EUR"), c));
        let roi = Roi::new(&spend, &attributed(&many), 30);
        let (lower, upper) = roi.interval.unwrap();
        assert!((lower - (4000.0 - 1239.5900646091231 - 1000.0) / 1000.0).abs() < 1e-12);
        assert!((upper - (4000.0 + 1239.5900646091231 - 1000.0) / 1000.0).abs() < 1e-12);
        assert!(roi.sufficient);
    }
}
