//! Dashboard queries over HTTP, each answer checked against the bench's own SQL
//! (`kpi_sql`), with the SQL's own time next to it.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::api::{Api, WORKSPACE, percentile_ms};
use crate::kpi_sql::{Days, Expected, Filter, KpiSql};
use crate::report::{Goal, Row};

/// The p50 a dashboard query should stay under, in ms.
const GOAL_P50_MS: f64 = 5.0;

/// Every count field of `KpiReport` and the event kind it counts.
const COUNT_FIELDS: [(&str, &str); 18] = [
    ("impressions", "IMPRESSION"),
    ("pageViews", "PAGE_VIEW"),
    ("likes", "LIKE"),
    ("shares", "SHARE"),
    ("reposts", "REPOST"),
    ("comments", "COMMENT"),
    ("clicks", "CLICK"),
    ("downloads", "DOWNLOAD"),
    ("registrations", "REGISTRATION"),
    ("attendances", "ATTENDANCE"),
    ("questions", "QUESTION"),
    ("infoRequests", "INFO_REQUEST"),
    ("mentions", "MENTION"),
    ("testimonials", "TESTIMONIAL"),
    ("surveyResponses", "SURVEY_RESPONSE"),
    ("referrals", "REFERRAL"),
    ("stageChanges", "STAGE_CHANGE"),
    ("revenueEvents", "REVENUE"),
];

/// The fields of the full report a dashboard shows.
fn report_fields() -> String {
    let counts: Vec<&str> = COUNT_FIELDS.iter().map(|(field, _)| *field).collect();
    let rate = "{ value numerator n lower upper sufficient }";
    format!(
        "{} eventCounts {{ kind count }} uniqueVisitors landingPageViewers registrants attendees \
         clickThroughRate {rate} registrationRate {rate} attendanceRate {rate} spend minSample",
        counts.join(" ")
    )
}

/// The full report a dashboard shows.
pub fn report_query() -> String {
    format!(
        "query Dashboard($filter: KpiFilterInput) {{ kpis(workspace: \"{WORKSPACE}\", filter: $filter) {{ {} }} }}",
        report_fields()
    )
}

/// The full report per day of `days.zone`: a dashboard's chart.
fn daily_series_query(days: &Days) -> String {
    format!(
        "query Series($filter: KpiFilterInput!) {{ timeSeries(workspace: \"{WORKSPACE}\", filter: $filter, \
         bucket: DAY, timeZone: \"{}\") {{ points {{ label kpis {{ {} }} }} }} }}",
        days.zone.name(),
        report_fields()
    )
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Compares one rate with the counts it must be built from.
fn check_rate(name: &str, rate: &Value, numerator: u64, n: u64, min_sample: u64) -> Vec<String> {
    let want = hourglass_core::Rate::new(numerator, n, min_sample);
    let mut wrong = Vec::new();
    let opt = |field: &str| rate[field].as_f64();
    if rate["numerator"].as_u64() != Some(numerator) || rate["n"].as_u64() != Some(n) {
        wrong.push(format!(
            "{name}: {}/{} (SQL: {numerator}/{n})",
            rate["numerator"], rate["n"]
        ));
    }
    for (field, expected) in [
        ("value", want.value),
        ("lower", want.lower),
        ("upper", want.upper),
    ] {
        let same = match (opt(field), expected) {
            (None, None) => true,
            (Some(a), Some(b)) => close(a, b),
            _ => false,
        };
        if !same {
            wrong.push(format!(
                "{name}.{field}: {} (expected {expected:?})",
                rate[field]
            ));
        }
    }
    if rate["sufficient"].as_bool() != Some(want.sufficient) {
        wrong.push(format!("{name}.sufficient: {}", rate["sufficient"]));
    }
    wrong
}

/// Every difference between a report and the SQL's numbers; empty when equal.
pub fn differences(report: &Value, expected: &Expected) -> Vec<String> {
    let mut wrong = Vec::new();
    let count = |kind: &str| expected.counts.get(kind).copied().unwrap_or(0);
    for (field, kind) in COUNT_FIELDS {
        if report[field].as_u64() != Some(count(kind)) {
            wrong.push(format!("{field}: {} (SQL: {})", report[field], count(kind)));
        }
    }
    let listed: std::collections::BTreeMap<String, u64> = report["eventCounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| Some((c["kind"].as_str()?.to_owned(), c["count"].as_u64()?)))
        .collect();
    if listed != expected.counts {
        wrong.push(format!(
            "eventCounts: {listed:?} (SQL: {:?})",
            expected.counts
        ));
    }
    for (field, want) in [
        ("uniqueVisitors", expected.unique_visitors),
        ("landingPageViewers", expected.landing_viewers),
        ("registrants", expected.registrants),
        ("attendees", expected.attendees),
    ] {
        if report[field].as_u64() != Some(want) {
            wrong.push(format!("{field}: {} (SQL: {want})", report[field]));
        }
    }
    let min_sample = report["minSample"].as_u64().unwrap_or(30);
    wrong.extend(check_rate(
        "clickThroughRate",
        &report["clickThroughRate"],
        count("CLICK"),
        count("IMPRESSION"),
        min_sample,
    ));
    wrong.extend(check_rate(
        "registrationRate",
        &report["registrationRate"],
        expected.registered_viewers,
        expected.landing_viewers,
        min_sample,
    ));
    wrong.extend(check_rate(
        "attendanceRate",
        &report["attendanceRate"],
        expected.registered_attendees,
        expected.registrants,
        min_sample,
    ));
    let spend_same = match (report["spend"].as_f64(), expected.spend) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * b.abs().max(1.0),
        _ => false,
    };
    if !spend_same {
        wrong.push(format!(
            "spend: {} (SQL: {:?})",
            report["spend"], expected.spend
        ));
    }
    wrong
}

/// How many times a dashboard query and its SQL baseline are timed.
#[derive(Debug, Clone, Copy)]
pub struct Repeat {
    pub http: usize,
    pub sql: usize,
}

/// Times `filter`'s report over HTTP and the SQL baseline, each as often as `repeat`
/// says; every answer must equal the SQL's.
pub async fn measure(
    api: &Api,
    sql: &KpiSql,
    label: &str,
    filter: &Filter,
    repeat: Repeat,
) -> anyhow::Result<Row> {
    let query = report_query();
    let variables = json!({ "filter": filter.to_graphql() });
    let mut sql_times = Vec::with_capacity(repeat.sql);
    let mut expected = None;
    for _ in 0..repeat.sql.max(1) {
        let started = Instant::now();
        let answer = sql.expected(filter).await.context(label.to_owned())?;
        sql_times.push(started.elapsed());
        expected = Some(answer);
    }
    let expected = expected.context("no SQL run")?;
    let mut http_times: Vec<Duration> = Vec::with_capacity(repeat.http);
    for _ in 0..repeat.http.max(1) {
        let (took, data) = api.timed(&query, variables.clone()).await?;
        http_times.push(took);
        let wrong = differences(&data["kpis"], &expected);
        anyhow::ensure!(
            wrong.is_empty(),
            "EQUALITY FAILURE in '{label}' (filter {}):\n  {}",
            filter.to_graphql(),
            wrong.join("\n  ")
        );
    }
    Ok(timed_row(label, "SQL", http_times, sql_times).goal(Goal::FigureAtMost(GOAL_P50_MS)))
}

/// The row of an HTTP query timed against its SQL baseline: both p50s, and the
/// query's p95 in the label.
fn timed_row(
    label: &str,
    baseline: &str,
    mut http_times: Vec<Duration>,
    mut sql_times: Vec<Duration>,
) -> Row {
    http_times.sort();
    sql_times.sort();
    let p95 = percentile_ms(&http_times, 0.95);
    Row::new(
        format!("{label}: p50 (p95 {p95:.1} ms), {baseline} as baseline"),
        percentile_ms(&http_times, 0.5),
        "ms",
    )
    .baseline(percentile_ms(&sql_times, 0.5))
}

/// Times a daily series of the full report over HTTP against the baseline of
/// recomputing each day's report in SQL; every point must equal its day's SQL.
pub async fn measure_series(
    api: &Api,
    sql: &KpiSql,
    label: &str,
    filter: &Filter,
    repeat: Repeat,
) -> anyhow::Result<Row> {
    let days = filter.days.context("a series needs days")?;
    let one_day = |day: chrono::NaiveDate| Filter {
        days: Some(Days {
            from: day,
            to: day.succ_opt().unwrap_or(day),
            zone: days.zone,
        }),
        ..filter.clone()
    };
    let dates: Vec<chrono::NaiveDate> =
        days.from.iter_days().take_while(|d| *d < days.to).collect();
    let mut sql_times = Vec::with_capacity(repeat.sql);
    let mut expected = Vec::new();
    for _ in 0..repeat.sql.max(1) {
        let started = Instant::now();
        expected.clear();
        for day in &dates {
            expected.push(
                sql.expected(&one_day(*day))
                    .await
                    .context(label.to_owned())?,
            );
        }
        sql_times.push(started.elapsed());
    }
    let query = daily_series_query(&days);
    let variables = json!({ "filter": filter.to_graphql() });
    let mut http_times: Vec<Duration> = Vec::with_capacity(repeat.http);
    for _ in 0..repeat.http.max(1) {
        let (took, data) = api.timed(&query, variables.clone()).await?;
        http_times.push(took);
        let points = data["timeSeries"]["points"].as_array().context("points")?;
        anyhow::ensure!(
            points.len() == dates.len(),
            "EQUALITY FAILURE in '{label}': {} points for {} days",
            points.len(),
            dates.len()
        );
        for ((point, want), day) in points.iter().zip(&expected).zip(&dates) {
            let wrong = differences(&point["kpis"], want);
            anyhow::ensure!(
                wrong.is_empty() && point["label"] == day.to_string(),
                "EQUALITY FAILURE in '{label}' on {day} ({}):\n  {}",
                point["label"],
                wrong.join("\n  ")
            );
        }
    }
    let baseline = format!("SQL per day ({} days)", dates.len());
    Ok(timed_row(label, &baseline, http_times, sql_times))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected() -> Expected {
        Expected {
            counts: [("IMPRESSION".to_owned(), 100), ("CLICK".to_owned(), 7)].into(),
            unique_visitors: 40,
            landing_viewers: 0,
            registrants: 0,
            attendees: 0,
            registered_viewers: 0,
            registered_attendees: 0,
            spend: Some(12.5),
        }
    }

    /// A report as the server would give it for `expected()`.
    fn report() -> Value {
        let mut report = json!({
            "eventCounts": [{ "kind": "IMPRESSION", "count": 100 }, { "kind": "CLICK", "count": 7 }],
            "uniqueVisitors": 40, "landingPageViewers": 0, "registrants": 0, "attendees": 0,
            "spend": 12.5, "minSample": 30,
        });
        for (field, kind) in COUNT_FIELDS {
            report[field] = json!(expected().counts.get(kind).copied().unwrap_or(0));
        }
        let rate = |num, n| {
            let r = hourglass_core::Rate::new(num, n, 30);
            json!({ "value": r.value, "numerator": num, "n": n, "lower": r.lower,
                    "upper": r.upper, "sufficient": r.sufficient })
        };
        report["clickThroughRate"] = rate(7, 100);
        report["registrationRate"] = rate(0, 0);
        report["attendanceRate"] = rate(0, 0);
        report
    }

    #[test]
    fn an_equal_report_has_no_differences() {
        assert_eq!(differences(&report(), &expected()), Vec::<String>::new());
    }

    #[test]
    fn every_wrong_number_is_named() {
        let mut wrong = report();
        wrong["clicks"] = json!(8);
        wrong["uniqueVisitors"] = json!(41);
        wrong["clickThroughRate"]["upper"] = json!(0.5);
        wrong["spend"] = json!(13.0);
        let found = differences(&wrong, &expected()).join("\n");
        for field in [
            "clicks",
            "uniqueVisitors",
            "clickThroughRate.upper",
            "spend",
        ] {
            assert!(found.contains(field), "{field} missing from:\n{found}");
        }
    }
}
