//! Comparisons of a rate KPI between channels, assets or campaigns, with verdicts
//! that stay valid however often the dashboard is looked at.

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use hourglass_core::sequential::{self, Sample, Tuning};
use hourglass_core::{Permission, Rate as CoreRate, TopReport};
use hourglass_storage::KpiFilter;

use super::filter::KpiFilterInput;
use super::types::Rate;
use super::{caller, cost, external_id};
use crate::error::{ApiError, ApiResult};

/// A rate KPI that can be compared between groups.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
// The values spell the KpiReport fields they compare, each a rate.
#[allow(clippy::enum_variant_names)]
pub enum RateKpi {
    ClickThroughRate,
    RegistrationRate,
    AttendanceRate,
}

impl RateKpi {
    fn of(self, report: &TopReport) -> CoreRate {
        match self {
            Self::ClickThroughRate => report.click_through_rate,
            Self::RegistrationRate => report.registration_rate,
            Self::AttendanceRate => report.attendance_rate,
        }
    }
}

/// What the groups of a comparison are.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "hourglass_storage::GroupBy")]
pub enum CompareBy {
    Channel,
    Asset,
    Campaign,
}

/// What the data says about a group against the reference.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "hourglass_core::sequential::Verdict")]
pub enum Verdict {
    /// Its rate is higher, and stays so at the 95 % level however often one looks.
    Better,
    /// Its rate is lower, likewise.
    Worse,
    /// The data so far cannot tell it from the reference: keep collecting.
    NotYetSignificant,
    /// It or the reference has fewer observations than the workspace's minimum sample.
    InsufficientSample,
}

/// Observations still to come, at the current rates and split, before the comparison
/// would decide (rough: the difference seen so far is taken as the truth).
#[derive(SimpleObject, Debug, Clone, Copy)]
pub struct MoreObservations {
    pub group: u64,
    pub reference: u64,
}

/// One group against the reference.
#[derive(SimpleObject, Debug, Clone)]
pub struct ComparedGroup {
    /// A channel name, or an asset's or campaign's id.
    pub group: String,
    pub rate: Rate,
    pub is_reference: bool,
    /// This group's rate minus the reference's; null for the reference or an empty sample.
    pub difference: Option<f64>,
    /// The anytime-valid 95 % confidence sequence for the difference, at the current sample.
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    /// The always-valid p-value matching the confidence sequence.
    pub p_value: Option<f64>,
    /// `pValue` after Holm's adjustment over every group of the comparison: what the
    /// verdict is judged by.
    pub adjusted_p_value: Option<f64>,
    /// The classic fixed-sample two-proportion z-test. Valid only if the sample size
    /// was fixed in advance and the result is looked at once — not for a dashboard.
    pub fixed_sample_p_value: Option<f64>,
    /// Null for the reference.
    pub verdict: Option<Verdict>,
    /// While NOT_YET_SIGNIFICANT: roughly how many more observations a verdict would
    /// take at the current rates, at the level shared by all groups (5 % / groups).
    pub more_observations: Option<MoreObservations>,
}

/// A rate KPI per group, each group against the reference.
#[derive(SimpleObject, Debug, Clone)]
pub struct Comparison {
    pub kpi: RateKpi,
    pub by: CompareBy,
    /// The group every other is compared with: the named baseline, else the group with
    /// the highest rate among those with a sufficient sample (else among all).
    pub reference: Option<String>,
    /// The total sample (both groups) at which the confidence sequences are tightest:
    /// the tuning constant of the asymptotic confidence sequence.
    pub tuned_for: u64,
    pub groups: Vec<ComparedGroup>,
}

#[derive(Debug, Default)]
pub struct CompareQuery;

#[Object]
impl CompareQuery {
    /// Compares a rate KPI between the filter's channels, assets or campaigns. Each
    /// group gets its rate with its Wilson interval and, against the reference, the
    /// difference with an anytime-valid 95 % confidence sequence (the asymptotic
    /// confidence sequence of Waudby-Smith et al., 2024) and the matching always-valid
    /// p-value, Holm-adjusted over the groups, and a verdict that stays valid however
    /// often it is looked at. At most 100 groups.
    #[graphql(complexity = "cost::with_children(cost::COMPARE, child_complexity)")]
    async fn compare(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        kpi: RateKpi,
        by: CompareBy,
        filter: Option<KpiFilterInput>,
        baseline: Option<String>,
    ) -> ApiResult<Comparison> {
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        let filter = filter.unwrap_or_default().into_filter()?;
        let names = ws.groups(&filter, by.into()).await?;
        let min_sample = ws.min_sample();
        let mut rates = Vec::with_capacity(names.len());
        for name in &names {
            let counts = ws.top_counts(&group_filter(&filter, by, name)?).await?;
            rates.push(kpi.of(&TopReport::from_counts(counts, min_sample)));
        }
        // A baseline channel is named as channels are everywhere: case-insensitively.
        let baseline = match (baseline, by) {
            (Some(name), CompareBy::Channel) => Some(hourglass_core::event::channel(&name)?),
            (named, _) => named,
        };
        let reference = match &baseline {
            Some(named) => Some(names.iter().position(|n| n == named).ok_or_else(|| {
                ApiError::BadUserInput {
                    message: format!("baseline '{named}' has no events in the filter"),
                    field: Some("baseline".into()),
                }
            })?),
            None => best(&rates, min_sample),
        };
        let tuning = Tuning::default();
        let groups = compared(&names, &rates, reference, tuning, min_sample);
        Ok(Comparison {
            kpi,
            by,
            reference: reference.map(|i| names[i].clone()),
            tuned_for: tuning.optimal_n,
            groups,
        })
    }
}

/// The filter narrowed to one group.
fn group_filter(filter: &KpiFilter, by: CompareBy, name: &str) -> ApiResult<KpiFilter> {
    let id = |field| external_id(&ID(name.to_owned()), field);
    let mut narrowed = filter.clone();
    match by {
        CompareBy::Channel => narrowed.channel = Some(name.to_owned()),
        CompareBy::Asset => narrowed.asset = Some(id("asset")?),
        CompareBy::Campaign => narrowed.campaign = Some(id("campaign")?),
    }
    Ok(narrowed)
}

/// The group with the highest rate among those with a sufficient sample, else among
/// those with any.
fn best(rates: &[CoreRate], min_sample: u64) -> Option<usize> {
    let highest = |admit: &dyn Fn(&CoreRate) -> bool| {
        rates
            .iter()
            .enumerate()
            .filter(|(_, r)| admit(r) && r.value.is_some())
            .max_by(|(_, a), (_, b)| {
                a.value
                    .partial_cmp(&b.value)
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .map(|(i, _)| i)
    };
    highest(&|r| r.n >= min_sample).or_else(|| highest(&|_| true))
}

fn compared(
    names: &[String],
    rates: &[CoreRate],
    reference: Option<usize>,
    tuning: Tuning,
    min_sample: u64,
) -> Vec<ComparedGroup> {
    let sample = |r: &CoreRate| Sample {
        successes: r.numerator,
        n: r.n,
    };
    let others: Vec<usize> = (0..names.len()).filter(|i| Some(*i) != reference).collect();
    // What a verdict after Holm needs at most: Bonferroni's level for this many groups.
    let level = sequential::ALPHA / others.len().max(1) as f64;
    let judged = reference.map(|at| {
        let samples: Vec<Sample> = others.iter().map(|i| sample(&rates[*i])).collect();
        sequential::compare(&samples, sample(&rates[at]), tuning, min_sample)
    });
    names
        .iter()
        .zip(rates)
        .enumerate()
        .map(|(i, (name, rate))| {
            let mut group = ComparedGroup {
                group: name.clone(),
                rate: (*rate).into(),
                is_reference: Some(i) == reference,
                difference: None,
                lower: None,
                upper: None,
                p_value: None,
                adjusted_p_value: None,
                fixed_sample_p_value: None,
                verdict: None,
                more_observations: None,
            };
            let (Some(at), Some(judged)) = (reference, &judged) else {
                return group;
            };
            let Some(slot) = others.iter().position(|o| *o == i) else {
                return group;
            };
            let comparison = judged[slot];
            group.verdict = Some(comparison.verdict.into());
            if let Some(d) = comparison.difference {
                group.difference = Some(d.estimate);
                group.lower = Some(d.lower);
                group.upper = Some(d.upper);
                group.p_value = Some(d.p_value);
                group.adjusted_p_value = Some(comparison.adjusted_p_value);
                group.fixed_sample_p_value = Some(d.fixed_p_value);
            }
            if comparison.verdict == sequential::Verdict::NotYetSignificant {
                group.more_observations = sequential::observations_needed(
                    sample(rate),
                    sample(&rates[at]),
                    tuning,
                    level,
                )
                .map(|more| MoreObservations {
                    group: more.a,
                    reference: more.b,
                });
            }
            group
        })
        .collect()
}
