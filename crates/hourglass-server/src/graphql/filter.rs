//! The filter every KPI query takes, as GraphQL input: which campaign, channel,
//! asset and organization, over which instants or calendar days.

use async_graphql::{ID, InputObject};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use hourglass_core::TimeRange;
use hourglass_core::filter::start_of_day;
use hourglass_storage::KpiFilter;

use super::external_id;
use crate::error::{ApiError, ApiResult};

/// Which events a KPI counts. Every field narrows; leave one out to keep it open.
#[derive(InputObject, Debug, Clone, Default)]
pub struct KpiFilterInput {
    pub campaign: Option<ID>,
    /// A channel name such as email or paid_search (case-insensitive).
    pub channel: Option<String>,
    pub asset: Option<ID>,
    pub organization: Option<ID>,
    /// Start of the range, inclusive.
    pub from: Option<DateTime<Utc>>,
    /// End of the range, exclusive.
    pub to: Option<DateTime<Utc>>,
    /// Whole calendar days in a time zone, instead of `from`/`to`.
    pub days: Option<DayRangeInput>,
}

/// Calendar days `[from, to)` as a time zone counts them: each day starts at local
/// midnight (or the first local time after a daylight-saving gap).
#[derive(InputObject, Debug, Clone)]
pub struct DayRangeInput {
    /// First day, inclusive.
    pub from: NaiveDate,
    /// Day after the last, exclusive.
    pub to: NaiveDate,
    /// An IANA time zone such as Europe/Berlin or America/New_York.
    #[graphql(default = "UTC")]
    pub time_zone: String,
}

/// An IANA time zone by name, or `BAD_USER_INPUT` naming `timeZone`.
pub(crate) fn time_zone(name: &str) -> ApiResult<Tz> {
    name.parse().map_err(|_| ApiError::BadUserInput {
        message: format!("'{name}' is not an IANA time zone such as Europe/Berlin"),
        field: Some("timeZone".into()),
    })
}

impl DayRangeInput {
    fn into_range(self) -> ApiResult<TimeRange> {
        let tz = time_zone(&self.time_zone)?;
        Ok(TimeRange::new(
            Some(start_of_day(self.from, &tz)),
            Some(start_of_day(self.to, &tz)),
        )?)
    }
}

impl KpiFilterInput {
    pub fn into_filter(self) -> ApiResult<KpiFilter> {
        let calendar_days = self.days.as_ref().map(|days| (days.from, days.to));
        Ok(KpiFilter {
            calendar_days,
            campaign: self
                .campaign
                .map(|c| external_id(&c, "campaign"))
                .transpose()?,
            channel: self
                .channel
                .as_deref()
                .map(hourglass_core::event::channel)
                .transpose()?,
            asset: self.asset.map(|a| external_id(&a, "asset")).transpose()?,
            organization: self
                .organization
                .map(|o| external_id(&o, "organization"))
                .transpose()?,
            range: match (self.days, self.from, self.to) {
                (None, from, to) => TimeRange::new(from, to)?,
                (Some(days), None, None) => days.into_range()?,
                (Some(_), _, _) => {
                    return Err(ApiError::BadUserInput {
                        message: "give either days or from/to, not both".into(),
                        field: Some("days".into()),
                    });
                }
            },
        })
    }
}
