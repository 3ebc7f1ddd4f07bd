//! Time ranges for KPI filters.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Why a filter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("the range is empty: 'from' ({from}) must be before 'to' ({to})")]
    EmptyRange {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
}

/// A half-open interval `[from, to)` in UTC; either end may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TimeRange {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl TimeRange {
    pub fn new(
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Self, FilterError> {
        if let (Some(from), Some(to)) = (from, to)
            && from >= to
        {
            return Err(FilterError::EmptyRange { from, to });
        }
        Ok(Self { from, to })
    }

    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from.is_none_or(|from| at >= from) && self.to.is_none_or(|to| at < to)
    }
}

/// The UTC instant at which a calendar day starts in a time zone: the first
/// existing local time of that day (a DST gap at midnight moves it forward).
pub fn start_of_day<Tz: TimeZone>(day: NaiveDate, tz: &Tz) -> DateTime<Utc> {
    let midnight: NaiveDateTime = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    (0..=24 * 4)
        .find_map(|quarter| {
            let local = midnight + chrono::Duration::minutes(15 * quarter);
            tz.from_local_datetime(&local).earliest()
        })
        .map_or_else(|| midnight.and_utc(), |dt| dt.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_half_open() {
        let from: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let to: DateTime<Utc> = "2026-02-01T00:00:00Z".parse().unwrap();
        let range = TimeRange::new(Some(from), Some(to)).unwrap();
        assert!(range.contains(from));
        assert!(!range.contains(to));
        assert!(TimeRange::new(Some(to), Some(from)).is_err());
        assert!(TimeRange::new(Some(to), Some(to)).is_err());
    }

    #[test]
    fn a_day_starts_at_local_midnight() {
        let day = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
        let offset = chrono::FixedOffset::east_opt(2 * 3600).unwrap();
        assert_eq!(
            start_of_day(day, &offset).to_rfc3339(),
            "2026-06-30T22:00:00+00:00"
        );
    }
}
