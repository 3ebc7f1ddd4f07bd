//! Time series: the top of the hourglass and spend for each period of a range, read
//! from the aggregates once for all periods.

use chrono::NaiveDate;
use hourglass_core::money::{Amounts, Spend};
use hourglass_core::{TimeRange, TopCounts};

use crate::answer_cache::Asked;
use crate::error::Result;
use crate::kpis::{KpiFilter, days_spent_in};
use crate::workspaces::WorkspaceStore;

/// One point's period: where it starts and ends, and the calendar days it spans
/// when it is whole days (spend is recorded per calendar day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    pub range: TimeRange,
    pub calendar_days: Option<(NaiveDate, NaiveDate)>,
}

impl Period {
    /// The filter narrowed to this period.
    pub fn filter(&self, filter: &KpiFilter) -> KpiFilter {
        KpiFilter {
            range: self.range,
            calendar_days: self.calendar_days,
            ..filter.clone()
        }
    }
}

impl WorkspaceStore {
    /// Top-of-hourglass counts for each period (disjoint, in time order; the filter's
    /// own range is not applied), exact per period as [`top_counts`](Self::top_counts)
    /// is: one read of rollup rows for every period, raw events only for parts of
    /// hours at their edges (and for an organization filter). Kept in the answer cache.
    pub async fn top_series(
        &self,
        filter: &KpiFilter,
        periods: &[Period],
    ) -> Result<Vec<TopCounts>> {
        self.remembered(
            Asked::Series(filter.clone(), periods.to_vec()),
            self.top_series_computed(filter, periods),
        )
        .await
    }

    async fn top_series_computed(
        &self,
        filter: &KpiFilter,
        periods: &[Period],
    ) -> Result<Vec<TopCounts>> {
        if !self.rollups_current() {
            let mut series = Vec::with_capacity(periods.len());
            for period in periods {
                series.push(self.top_counts_raw(&period.filter(filter)).await?);
            }
            return Ok(series);
        }
        let resolved = self.resolve(filter).await?;
        let scope = self.scope(&resolved).await?;
        let ranges: Vec<TimeRange> = periods.iter().map(|p| p.range).collect();
        Ok(self
            .cells_per_window(&resolved, &scope, &ranges)
            .await?
            .iter()
            .map(|cells| cells.top_counts(&scope))
            .collect())
    }

    /// Spend for each period, from one read of the spend days they span.
    pub async fn spend_series(&self, filter: &KpiFilter, periods: &[Period]) -> Result<Vec<Spend>> {
        if filter.asset.is_some() || filter.organization.is_some() {
            return Ok(periods.iter().map(|_| Spend::NotRecorded).collect());
        }
        let days: Vec<(Option<NaiveDate>, Option<NaiveDate>)> = periods
            .iter()
            .map(|p| days_spent_in(&p.filter(filter)))
            .collect();
        let first = days.iter().filter_map(|(from, _)| *from).min();
        let last = days.iter().filter_map(|(_, to)| *to).max();
        let resolved = self.resolve(filter).await?;
        let spent = self.spend_days(&resolved, (first, last)).await?;
        Ok(days
            .iter()
            .map(|(from, to)| {
                let mut amounts = Amounts::default();
                for day in &spent {
                    if from.is_none_or(|f| day.day >= f) && to.is_none_or(|t| day.day < t) {
                        amounts.add(day.currency.as_deref(), day.amount);
                    }
                }
                Spend::Recorded(amounts)
            })
            .collect())
    }
}
