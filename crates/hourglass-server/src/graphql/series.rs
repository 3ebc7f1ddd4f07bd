//! Time series: one KPI report per day, week or month in the caller's time zone.

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use hourglass_core::series::{self, SeriesError};
use hourglass_core::{Permission, TopReport};
use hourglass_storage::Period;

use super::filter::{self, DayRangeInput, KpiFilterInput};
use super::kpis::KpiReport;
use super::{caller, cost};
use crate::error::{ApiError, ApiResult};

/// How long one point of a series is.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "hourglass_core::series::Bucket")]
pub enum SeriesBucket {
    /// A calendar day in the series' time zone (23 or 25 hours across a DST change).
    Day,
    /// An ISO week, Monday to Sunday.
    Week,
    /// A calendar month.
    Month,
}

/// A KPI report per period, in order, every period present (empty ones as zeros).
#[derive(SimpleObject, Debug)]
pub struct TimeSeries {
    pub bucket: SeriesBucket,
    pub time_zone: String,
    pub points: Vec<SeriesPoint>,
}

/// One period of a series and its KPIs.
#[derive(SimpleObject, Debug)]
pub struct SeriesPoint {
    /// `2026-03-29` (day), `2026-W13` (ISO week) or `2026-03` (month).
    pub label: String,
    /// Where the period starts, inclusive.
    pub start: DateTime<Utc>,
    /// Where it ends, exclusive.
    pub end: DateTime<Utc>,
    /// True for a first or last period cut short by the range.
    pub partial: bool,
    /// Every KPI of the filter within this period: rates carry their own `n`,
    /// interval and sufficiency; distinct people are exact per period.
    pub kpis: KpiReport,
}

#[derive(Debug, Default)]
pub struct SeriesQuery;

#[Object]
impl SeriesQuery {
    /// The filter's KPIs per day, ISO week or month of `timeZone`, from the filter's
    /// range (which must have both ends: `days`, or `from` and `to`). Counts and
    /// distinct people of every period come from one read of the aggregates; select
    /// on `points { kpis { … } }` the KPIs to plot.
    #[graphql(complexity = "cost::series(&filter, bucket, child_complexity)")]
    async fn time_series(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        filter: KpiFilterInput,
        bucket: SeriesBucket,
        #[graphql(default = "UTC")] time_zone: String,
    ) -> ApiResult<TimeSeries> {
        let tz: Tz = filter::time_zone(&time_zone)?;
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        let kpi_filter = filter.clone().into_filter()?;
        let (Some(from), Some(to)) = (kpi_filter.range.from, kpi_filter.range.to) else {
            return Err(series_error(&SeriesError::Unbounded));
        };
        let periods =
            series::periods(from, to, bucket.into(), &tz).map_err(|e| series_error(&e))?;
        let stored: Vec<Period> = periods
            .iter()
            .map(|p| Period {
                range: hourglass_core::TimeRange {
                    from: Some(p.start),
                    to: Some(p.end),
                },
                // Whole periods spend their own days; a cut one the days whose local
                // midnight it holds, so no day's spend is in two points or none.
                calendar_days: Some(p.spend_days),
            })
            .collect();
        let counts = ws.top_series(&kpi_filter, &stored).await?;
        let spend = ws.spend_series(&kpi_filter, &stored).await?;
        let min_sample = ws.min_sample();
        let slug = ID(ws.workspace().slug.clone());
        let points = periods
            .into_iter()
            .zip(counts)
            .zip(spend)
            .map(|((period, counts), spend)| {
                // Each point's report answers its other fields (NPS, stages, money,
                // custom KPIs) over its own period.
                let own = match period.days {
                    Some((from, to)) => KpiFilterInput {
                        days: Some(DayRangeInput {
                            from,
                            to,
                            time_zone: time_zone.clone(),
                        }),
                        from: None,
                        to: None,
                        ..filter.clone()
                    },
                    None => KpiFilterInput {
                        days: None,
                        from: Some(period.start),
                        to: Some(period.end),
                        ..filter.clone()
                    },
                };
                SeriesPoint {
                    partial: period.days.is_none(),
                    label: period.label,
                    start: period.start,
                    end: period.end,
                    kpis: KpiReport::new(
                        TopReport::from_counts(counts, min_sample),
                        spend,
                        min_sample,
                        slug.clone(),
                        own,
                    ),
                }
            })
            .collect();
        Ok(TimeSeries {
            bucket,
            time_zone,
            points,
        })
    }
}

fn series_error(error: &SeriesError) -> ApiError {
    ApiError::BadUserInput {
        message: error.to_string(),
        field: Some("filter".into()),
    }
}
