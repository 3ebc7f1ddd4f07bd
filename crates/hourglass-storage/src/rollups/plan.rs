//! Which parts of a range come from rollups and which from raw events.

use super::{DAY_MS, HOUR_MS, day_of, hour_of};

/// `[from, to)` in ms; either end may be open.
pub(crate) type Window = (Option<i64>, Option<i64>);

/// A range split into whole UTC days (answered by rollup rows) and the partial days
/// at its edges (answered by raw events). The parts never overlap and cover the
/// range exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Day buckets `[from, to)` (bucket start times), or `None` for no whole day.
    pub days: Option<Window>,
    /// Raw windows, each within at most two UTC days.
    pub raw: Vec<Window>,
}

impl Plan {
    pub fn new(from: Option<i64>, to: Option<i64>) -> Self {
        let first_whole = from.map(|at| {
            let day = day_of(at);
            if day == at { day } else { day + DAY_MS }
        });
        let end_whole = to.map(day_of);
        if let (Some(first), Some(end)) = (first_whole, end_whole)
            && first >= end
        {
            // No whole day inside: the range is a raw window of under two days.
            return Self {
                days: None,
                raw: vec![(from, to)],
            };
        }
        let mut raw = Vec::new();
        if let (Some(from), Some(first)) = (from, first_whole)
            && from < first
        {
            raw.push((Some(from), Some(first)));
        }
        if let (Some(to), Some(end)) = (to, end_whole)
            && end < to
        {
            raw.push((Some(end), Some(to)));
        }
        Self {
            days: Some((first_whole, end_whole)),
            raw,
        }
    }
}

/// A bounded raw window split into the whole UTC hours inside it (answered by hour
/// rows) and what is left at its edges, each under an hour (raw events).
pub(crate) fn split_hours((from, to): Window) -> (Option<Window>, Vec<Window>) {
    let (Some(from), Some(to)) = (from, to) else {
        return (None, vec![(from, to)]);
    };
    let first = if hour_of(from) == from {
        from
    } else {
        hour_of(from) + HOUR_MS
    };
    let end = hour_of(to);
    if first >= end {
        return (None, vec![(Some(from), Some(to))]);
    }
    let mut raw = Vec::new();
    if from < first {
        raw.push((Some(from), Some(first)));
    }
    if end < to {
        raw.push((Some(end), Some(to)));
    }
    (Some((Some(first), Some(end))), raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = HOUR_MS;

    fn inside((from, to): Window, at: i64) -> bool {
        from.is_none_or(|f| at >= f) && to.is_none_or(|t| at < t)
    }

    /// Every instant of the range is answered exactly once: by the day it falls in
    /// (when that day is whole), by the hour it falls in (when that hour is whole and
    /// its day is not), or by one raw window; none outside it is answered.
    fn assert_partition(from: Option<i64>, to: Option<i64>) {
        let plan = Plan::new(from, to);
        let mut hours = Vec::new();
        let mut raw = Vec::new();
        for window in &plan.raw {
            let (Some(f), Some(t)) = *window else {
                panic!("raw windows are bounded: {plan:?}");
            };
            assert!(t - f <= 2 * DAY_MS, "{plan:?}");
            let (whole, rest) = split_hours(*window);
            hours.extend(whole);
            for (f, t) in &rest {
                let (f, t) = (f.unwrap(), t.unwrap());
                assert!(t - f < 2 * HOUR_MS, "{rest:?}");
            }
            raw.extend(rest);
        }
        let probe_from = from.unwrap_or(-10 * DAY_MS) - 3 * DAY_MS;
        let probe_to = to.unwrap_or(10 * DAY_MS) + 3 * DAY_MS;
        let mut at = probe_from;
        while at < probe_to {
            let by_days = plan.days.is_some_and(|days| inside(days, day_of(at)));
            let by_hours = hours.iter().filter(|w| inside(**w, hour_of(at))).count();
            let by_raw = raw.iter().filter(|w| inside(**w, at)).count();
            let answered = usize::from(by_days) + by_hours + by_raw;
            let expected = usize::from(inside((from, to), at));
            assert_eq!(answered, expected, "at {at} for {from:?}..{to:?}: {plan:?}");
            at += 15 * 60_000 + 7;
        }
    }

    #[test]
    fn whole_days_come_from_rollups_and_only_edges_from_raw_events() {
        let plan = Plan::new(Some(2 * DAY_MS), Some(5 * DAY_MS));
        assert_eq!(plan.days, Some((Some(2 * DAY_MS), Some(5 * DAY_MS))));
        assert!(plan.raw.is_empty());

        // 90 days in New York: each end is five hours into a UTC day.
        let plan = Plan::new(Some(5 * HOUR), Some(90 * DAY_MS + 5 * HOUR));
        assert_eq!(plan.days, Some((Some(DAY_MS), Some(90 * DAY_MS))));
        assert_eq!(
            plan.raw,
            vec![
                (Some(5 * HOUR), Some(DAY_MS)),
                (Some(90 * DAY_MS), Some(90 * DAY_MS + 5 * HOUR))
            ]
        );
        assert_eq!(Plan::new(None, None).raw, vec![]);
    }

    #[test]
    fn raw_edges_are_whole_hours_but_for_parts_of_an_hour() {
        // New York's day starts five hours into the UTC day: all hours.
        assert_eq!(
            split_hours((Some(0), Some(5 * HOUR))),
            (Some((Some(0), Some(5 * HOUR))), vec![])
        );
        // Kolkata's starts at 18:30 UTC: half an hour of raw events, then hours.
        let half = 30 * 60_000;
        assert_eq!(
            split_hours((Some(18 * HOUR + half), Some(DAY_MS))),
            (
                Some((Some(19 * HOUR), Some(DAY_MS))),
                vec![(Some(18 * HOUR + half), Some(19 * HOUR))]
            )
        );
        // Inside one hour: no whole hour.
        assert_eq!(
            split_hours((Some(HOUR + 1), Some(2 * HOUR - 1))),
            (None, vec![(Some(HOUR + 1), Some(2 * HOUR - 1))])
        );
        // Within two hours, crossing one boundary: two raw parts, no hour.
        assert_eq!(
            split_hours((Some(HOUR + 1), Some(2 * HOUR + 1))),
            (None, vec![(Some(HOUR + 1), Some(2 * HOUR + 1))])
        );
    }

    #[test]
    fn every_range_is_partitioned_exactly() {
        let points = [
            None,
            Some(-DAY_MS - 1),
            Some(0),
            Some(1),
            Some(5 * HOUR + 30 * 60_000),
            Some(DAY_MS - 1),
            Some(DAY_MS),
            Some(DAY_MS + 1),
            Some(2 * DAY_MS - 1),
            Some(3 * DAY_MS + 19 * HOUR),
            Some(7 * DAY_MS),
        ];
        for from in points {
            for to in points {
                if let (Some(f), Some(t)) = (from, to)
                    && f >= t
                {
                    continue;
                }
                assert_partition(from, to);
            }
        }
    }
}
