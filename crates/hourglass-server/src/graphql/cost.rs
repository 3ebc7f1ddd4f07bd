//! What each field costs: the one price list admission control (`admission`) adds
//! up before an operation runs. A plain field costs 1; a field that computes from
//! the events costs what that computation weighs, measured on the demo workspace
//! (95,000 events) with the answer cache off: one unit is about 0.1 ms of server
//! time there (release build, 2 cores). Lists multiply what each of their items
//! costs by how many items they can hold. The README's cost table is this file.
//!
//! Prices assume nothing is cached: an answer from the cache is cheaper, but the
//! price has to be known before anything runs.

use chrono::{DateTime, NaiveDate, Utc};

use super::filter::KpiFilterInput;
use super::series::SeriesBucket;

/// A KPI report (`kpis`, `Campaign.kpis`, `Hourglass.top`): every event count and
/// distinct-people count of a filter, and its spend.
pub const KPI_REPORT: usize = 50;
/// A part of a report computed on its own when asked for: `stages`, `nps`,
/// `revenue`, `costPerLead`, `costPerCustomer`.
pub const REPORT_PART: usize = 100;
/// `roi`: every sale with its touches in the lookback window.
pub const ROI: usize = 900;
/// `funnel`: distinct people at three steps of one asset.
pub const FUNNEL: usize = 20;
/// The depth of every organization or every person over a filter, ranked:
/// `Hourglass.bottom`, `organizations` and `contacts` by DEPTH or with a filter,
/// `Asset.people`.
pub const DEPTH_RANKING: usize = 300;
/// One node's depth (`Organization.depth`, `Organization.people`,
/// `Contact.depth`): nodes of one request share the ranking computed once, so
/// each costs its share.
pub const DEPTH_NODE: usize = 5;
/// `hourglass`: a report and the depth ranking of the organizations with a lead.
pub const HOURGLASS: usize = KPI_REPORT + DEPTH_RANKING;
/// `timeSeries`: the counts of every period in one pass, then each point's own
/// fields (a point's `kpis` costs nothing more; its `stages` or `custom` do).
pub const SERIES: usize = 2 * KPI_REPORT;
/// `compare`: one rate per group, and the tests between them.
pub const COMPARE: usize = 60;
/// `spendAdvice`: the credited outcomes of every channel of a campaign.
pub const SPEND_ADVICE: usize = 2_000;
/// A custom KPI (`customKpi`, `KpiReport.custom`, `previewKpiScript`): a Rhai
/// script run once per organization.
pub const SCRIPT_RUN: usize = 1_000;
/// `validateKpiScript`: a compilation.
pub const SCRIPT_COMPILE: usize = 10;

/// The page size a connection is priced at when `first` is not given (the
/// server's default page size can be lower, never higher than the largest).
const UNSPECIFIED_PAGE: usize = 20;

/// The largest page size priced: a larger `first` is refused when it runs (over
/// `graphql.max_page_size`), and pricing it at face value could overflow.
const LARGEST_PRICED_PAGE: usize = 10_000;

/// Every price this file computes stays at or under this, so that async-graphql's
/// own sums of prices (unchecked additions) can never wrap around: a wrapped sum
/// would let any request under the budget.
const CEILING: usize = 1 << 40;

/// A connection: its page size times what each node costs, so a wide page of deep
/// nodes counts as it should.
pub fn page(first: Option<i32>, child_complexity: usize) -> usize {
    let first = first.map_or(UNSPECIFIED_PAGE, |n| usize::try_from(n).unwrap_or(0));
    first
        .clamp(1, LARGEST_PRICED_PAGE)
        .saturating_mul(child_complexity)
        .min(CEILING)
}

/// A connection that ranks by depth when `ranks` (a filter without DEPTH order is
/// refused when it runs), or lists in creation order.
pub fn ranked_page(ranks: bool, first: Option<i32>, child_complexity: usize) -> usize {
    let ranking = if ranks { DEPTH_RANKING } else { 0 };
    with_children(ranking, page(first, child_complexity))
}

/// `own` plus what the field's selection costs.
pub fn with_children(own: usize, child_complexity: usize) -> usize {
    own.saturating_add(child_complexity).min(CEILING)
}

/// A time series: [`SERIES`] plus each point's selection times the points the
/// filter's range can hold. A range without both ends, or of more points than a
/// series may have (`hourglass_core::series::MAX_PERIODS`), is refused with its
/// reason when it runs, so it is priced as one point.
pub fn series(filter: &KpiFilterInput, bucket: SeriesBucket, child_complexity: usize) -> usize {
    let per_point = match bucket {
        SeriesBucket::Day => 1,
        SeriesBucket::Week => 7,
        // The shortest month: never fewer points than the range holds.
        SeriesBucket::Month => 28,
    };
    let points = span_days(filter)
        // A range that starts mid-period touches one more.
        .map(|days| days.div_ceil(per_point) + 1)
        .filter(|points| *points <= hourglass_core::series::MAX_PERIODS)
        .unwrap_or(1);
    with_children(SERIES, points.saturating_mul(child_complexity))
}

/// Whole days the filter's range covers, rounded up; `None` without both ends.
fn span_days(filter: &KpiFilterInput) -> Option<usize> {
    let days = match (&filter.days, filter.from, filter.to) {
        (Some(days), _, _) => days_between(days.from, days.to),
        (None, Some(from), Some(to)) => instants_between(from, to),
        _ => return None,
    };
    usize::try_from(days.max(0)).ok()
}

/// `days` end before their `to` date.
fn days_between(from: NaiveDate, to: NaiveDate) -> i64 {
    (to - from).num_days()
}

fn instants_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    let seconds = (to - from).num_seconds();
    seconds.div_euclid(86_400) + i64::from(seconds.rem_euclid(86_400) > 0)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;
    use crate::graphql::filter::DayRangeInput;

    fn days(from: (i32, u32, u32), to: (i32, u32, u32)) -> KpiFilterInput {
        let date = |(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).expect("a date");
        KpiFilterInput {
            days: Some(DayRangeInput {
                from: date(from),
                to: date(to),
                time_zone: "UTC".into(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_series_is_priced_at_no_fewer_points_than_it_has() {
        // Counted by hand: January (to 1 February, exclusive) is 31 days, 5 or 6
        // weeks, 2 months at most.
        let january = days((2026, 1, 1), (2026, 2, 1));
        assert_eq!(series(&january, SeriesBucket::Day, 10), SERIES + 32 * 10);
        assert_eq!(series(&january, SeriesBucket::Week, 10), SERIES + 6 * 10);
        assert_eq!(series(&january, SeriesBucket::Month, 10), SERIES + 3 * 10);
        let instants = KpiFilterInput {
            from: Some(Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()),
            to: Some(Utc.with_ymd_and_hms(2026, 1, 3, 12, 0, 1).unwrap()),
            ..Default::default()
        };
        // Two days and a second: three days touched, one more for the cut start.
        assert_eq!(series(&instants, SeriesBucket::Day, 1), SERIES + 4);
        assert_eq!(
            series(&KpiFilterInput::default(), SeriesBucket::Day, 7),
            SERIES + 7
        );
        // Too many points to run: refused with its reason when it runs.
        let decades = days((2000, 1, 1), (2030, 1, 1));
        assert_eq!(series(&decades, SeriesBucket::Day, 1), SERIES + 1);
    }

    #[test]
    fn no_price_can_grow_large_enough_to_wrap_a_sum() {
        // Nested pages of the largest `first` a query can ask for.
        let mut price = 1;
        for _ in 0..12 {
            price = page(Some(i32::MAX), price);
            assert!(price <= CEILING);
        }
        assert_eq!(price, CEILING);
        assert_eq!(with_children(usize::MAX, usize::MAX), CEILING);
        // A hundred thousand such fields side by side still sum without wrapping.
        assert!(CEILING.checked_mul(100_000).is_some());
    }

    #[test]
    fn a_page_costs_its_size_times_its_node() {
        assert_eq!(page(Some(100), 3), 300);
        assert_eq!(page(None, 3), 60);
        // `first: 0` still asks for the page's other fields.
        assert_eq!(page(Some(0), 3), 3);
        assert_eq!(page(Some(-5), 3), 3);
    }
}
