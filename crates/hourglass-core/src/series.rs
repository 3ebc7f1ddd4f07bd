//! Time series: the calendar periods of a range in the caller's time zone.
//!
//! A period is a local day, ISO week (Monday to Sunday) or month, from local midnight
//! to local midnight, so a day across a daylight-saving change lasts 23 or 25 hours.
//! The first and last periods are cut at the range's ends when it starts or ends
//! inside one.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeZone, Utc};

use crate::filter::start_of_day;

/// How long one point of a series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    Day,
    /// An ISO week: Monday to Sunday.
    Week,
    Month,
}

/// Most periods one series may have: three years of days.
pub const MAX_PERIODS: usize = 1_100;

/// One point's period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// Where it starts and ends, `[start, end)`; cut to the range at the ends.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The local calendar days it spans, `[first_day, end_day)`, when it is whole.
    pub days: Option<(NaiveDate, NaiveDate)>,
    /// The local days whose midnight falls inside it: the days whose spend it counts,
    /// so that the points of a series share a range's spend without overlap.
    pub spend_days: (NaiveDate, NaiveDate),
    /// `2026-03-29`, `2026-W13` (ISO week) or `2026-03`.
    pub label: String,
}

/// Why a series cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeriesError {
    #[error("a time series needs a range with both ends: give days, or from and to")]
    Unbounded,
    #[error(
        "the range holds more than {MAX_PERIODS} periods of this bucket: ask for a shorter \
         range or a longer bucket"
    )]
    TooManyPeriods,
}

/// The periods of `bucket` in `tz` that cover `[from, to)`, in order.
pub fn periods<Tz: TimeZone>(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket: Bucket,
    tz: &Tz,
) -> Result<Vec<Period>, SeriesError> {
    if from >= to {
        return Ok(Vec::new());
    }
    let mut day = period_start(from.with_timezone(tz).date_naive(), bucket);
    let mut periods = Vec::new();
    loop {
        let next = next_start(day, bucket);
        let (start, end) = (start_of_day(day, tz), start_of_day(next, tz));
        if start >= to {
            break;
        }
        // A day a zone skipped (Samoa's 30 December 2011) has no instant: no point.
        if end > from && end > start {
            let (cut_start, cut_end) = (start.max(from), end.min(to));
            periods.push(Period {
                start: cut_start,
                end: cut_end,
                days: (cut_start == start && cut_end == end).then_some((day, next)),
                spend_days: (first_midnight(cut_start, tz), first_midnight(cut_end, tz)),
                label: label(day, bucket),
            });
            if periods.len() > MAX_PERIODS {
                return Err(SeriesError::TooManyPeriods);
            }
        }
        day = next;
    }
    Ok(periods)
}

/// The first local day whose midnight is at or after `at`.
fn first_midnight<Tz: TimeZone>(at: DateTime<Utc>, tz: &Tz) -> NaiveDate {
    let day = at.with_timezone(tz).date_naive();
    if start_of_day(day, tz) >= at {
        day
    } else {
        day.succ_opt().unwrap_or(day)
    }
}

/// The first day of the period `day` is in.
fn period_start(day: NaiveDate, bucket: Bucket) -> NaiveDate {
    match bucket {
        Bucket::Day => day,
        Bucket::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
        Bucket::Month => day.with_day(1).unwrap_or(day),
    }
}

/// The first day of the period after the one starting on `start`.
fn next_start(start: NaiveDate, bucket: Bucket) -> NaiveDate {
    let next = match bucket {
        Bucket::Day => start.checked_add_days(Days::new(1)),
        Bucket::Week => start.checked_add_days(Days::new(7)),
        Bucket::Month => start.checked_add_months(Months::new(1)),
    };
    // Only past the year 262,143 is there no next day; stop there.
    next.unwrap_or(NaiveDate::MAX)
}

fn label(start: NaiveDate, bucket: Bucket) -> String {
    match bucket {
        Bucket::Day => start.format("%Y-%m-%d").to_string(),
        Bucket::Week => {
            let week = start.iso_week();
            format!("{}-W{:02}", week.year(), week.week())
        }
        Bucket::Month => start.format("%Y-%m").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn hours(p: &Period) -> i64 {
        (p.end - p.start).num_hours()
    }

    #[test]
    fn berlin_days_last_23_and_25_hours_across_daylight_saving() {
        // 2026: clocks go forward on 29 March, back on 25 October (EU rules).
        let spring = periods(
            at("2026-03-27T23:00:00Z"),
            at("2026-03-30T22:00:00Z"),
            Bucket::Day,
            &Berlin,
        )
        .unwrap();
        let labels: Vec<_> = spring.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["2026-03-28", "2026-03-29", "2026-03-30"]);
        assert_eq!(spring.iter().map(hours).collect::<Vec<_>>(), [24, 23, 24]);
        assert!(spring.iter().all(|p| p.days.is_some()));

        let autumn = periods(
            at("2026-10-24T22:00:00Z"),
            at("2026-10-25T23:00:00Z"),
            Bucket::Day,
            &Berlin,
        )
        .unwrap();
        assert_eq!(autumn.len(), 1);
        assert_eq!(hours(&autumn[0]), 25);
        assert_eq!(autumn[0].start, at("2026-10-24T22:00:00Z"));
    }

    #[test]
    fn weeks_start_on_monday_and_carry_their_iso_number() {
        // 1 January 2027 is a Friday: ISO week 53 of 2026 runs 28 Dec – 3 Jan.
        let weeks = periods(
            at("2026-12-27T23:00:00Z"),
            at("2027-01-10T23:00:00Z"),
            Bucket::Week,
            &Berlin,
        )
        .unwrap();
        let labels: Vec<_> = weeks.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["2026-W53", "2027-W01"]);
        let first = weeks[0].days.unwrap();
        assert_eq!(first.0.to_string(), "2026-12-28");
        assert_eq!(first.0.weekday(), chrono::Weekday::Mon);
        assert_eq!(first.1.to_string(), "2027-01-04");
    }

    #[test]
    fn the_ends_are_cut_to_the_range_and_marked_partial() {
        // From Wednesday noon to the next Wednesday midnight, by week.
        let weeks = periods(
            at("2026-03-04T11:00:00Z"),
            at("2026-03-10T23:00:00Z"),
            Bucket::Week,
            &Berlin,
        )
        .unwrap();
        assert_eq!(weeks.len(), 2);
        assert_eq!(weeks[0].start, at("2026-03-04T11:00:00Z"));
        assert_eq!(weeks[0].days, None, "cut: not whole");
        assert_eq!(
            weeks[0].end,
            at("2026-03-08T23:00:00Z"),
            "Monday 9th, local"
        );
        assert_eq!(weeks[1].end, at("2026-03-10T23:00:00Z"));
        assert_eq!(weeks[1].days, None);
        // Each local midnight, hence each day's spend, falls in exactly one period.
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(weeks[0].spend_days, (day("2026-03-05"), day("2026-03-09")));
        assert_eq!(weeks[1].spend_days, (day("2026-03-09"), day("2026-03-11")));
    }

    #[test]
    fn a_day_a_zone_skipped_is_no_period() {
        // Samoa moved across the date line: 30 December 2011 never happened there.
        let days = periods(
            at("2011-12-28T10:00:00Z"),
            at("2012-01-01T10:00:00Z"),
            Bucket::Day,
            &chrono_tz::Pacific::Apia,
        )
        .unwrap();
        let labels: Vec<_> = days.iter().map(|p| p.label.as_str()).collect();
        assert!(!labels.contains(&"2011-12-30"), "{labels:?}");
        assert!(days.iter().all(|p| p.end > p.start));
    }

    #[test]
    fn months_follow_the_calendar_and_series_are_bounded() {
        let months = periods(
            at("2026-01-01T00:00:00Z"),
            at("2026-04-01T00:00:00Z"),
            Bucket::Month,
            &Utc,
        )
        .unwrap();
        let labels: Vec<_> = months.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["2026-01", "2026-02", "2026-03"]);
        assert_eq!(hours(&months[1]), 28 * 24);
        let too_long = periods(
            at("2020-01-01T00:00:00Z"),
            at("2026-01-01T00:00:00Z"),
            Bucket::Day,
            &Utc,
        );
        assert_eq!(too_long, Err(SeriesError::TooManyPeriods));
    }
}
