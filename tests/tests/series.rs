//! Time series over HTTP, on both backends: every point compared with counts made
//! here from the events sent, bucketed by chrono-tz on the test's side.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use chrono_tz::Europe::Berlin;
use hourglass_tests::{Backend, TestApp, error_code, on_both_backends};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const INGEST: &str = "mutation($ws: ID!, $events: [EventInput!]!) {
  ingestEvents(workspace: $ws, events: $events) { accepted }
}";

const SERIES: &str = "query($f: KpiFilterInput!, $bucket: SeriesBucket!, $tz: String! = \"UTC\") {
  timeSeries(workspace: \"ts\", filter: $f, bucket: $bucket, timeZone: $tz) {
    bucket timeZone
    points {
      label start end partial
      kpis {
        impressions clicks uniqueVisitors spend
        clickThroughRate { numerator n sufficient }
      }
    }
  }
}";

/// One sent event, as the reference sees it.
struct Sent {
    kind: &'static str,
    at: DateTime<Utc>,
    person: String,
    campaign: Option<&'static str>,
}

/// What a period holds, counted from the events sent.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    impressions: u64,
    clicks: u64,
}

/// Events at random instants from 20 March to 12 April 2026 (Berlin changes to summer
/// time on 29 March), with no event at all from 2 to 4 April: empty days.
fn random_events() -> Vec<Sent> {
    let mut rng = StdRng::seed_from_u64(20_260_329);
    let start = Utc.with_ymd_and_hms(2026, 3, 20, 0, 0, 0).unwrap();
    let gap = (
        Utc.with_ymd_and_hms(2026, 4, 1, 22, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 4, 4, 22, 0, 0).unwrap(),
    );
    let mut sent = Vec::new();
    while sent.len() < 600 {
        let at = start + Duration::minutes(rng.random_range(0..23 * 24 * 60));
        if at >= gap.0 && at < gap.1 {
            continue;
        }
        sent.push(Sent {
            kind: if rng.random_bool(0.8) {
                "IMPRESSION"
            } else {
                "CLICK"
            },
            at,
            person: format!("v{}", rng.random_range(0..60)),
            campaign: rng.random_bool(0.5).then_some("spring"),
        });
    }
    sent
}

fn expected_by(
    events: &[Sent],
    label: impl Fn(DateTime<Utc>) -> String,
) -> BTreeMap<String, Expected> {
    let mut by: BTreeMap<String, Expected> = BTreeMap::new();
    for e in events {
        let period = by.entry(label(e.at)).or_default();
        match e.kind {
            "IMPRESSION" => period.impressions += 1,
            _ => period.clicks += 1,
        }
    }
    by
}

fn check(points: &[Value], expected: &BTreeMap<String, Expected>) {
    for point in points {
        let label = point["label"].as_str().unwrap();
        let want = expected.get(label);
        let kpis = &point["kpis"];
        let impressions = want.map_or(0, |w| w.impressions);
        let clicks = want.map_or(0, |w| w.clicks);
        // Only impressions make visitors here (clicks are no visit).
        assert_eq!(kpis["impressions"], impressions, "{label}");
        assert_eq!(kpis["clicks"], clicks, "{label}");
        assert_eq!(kpis["clickThroughRate"]["n"], impressions, "{label}");
        assert_eq!(kpis["clickThroughRate"]["numerator"], clicks, "{label}");
    }
    let labels: BTreeSet<&str> = points
        .iter()
        .map(|p| p["label"].as_str().unwrap())
        .collect();
    for label in expected.keys() {
        assert!(
            labels.contains(label.as_str()),
            "{label} has events but no point"
        );
    }
}

/// The reference's visitors: people with an impression in the period.
fn visitors(events: &[Sent], label: impl Fn(DateTime<Utc>) -> String) -> BTreeMap<String, usize> {
    let mut by: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.kind == "IMPRESSION") {
        by.entry(label(e.at)).or_default().insert(&e.person);
    }
    by.into_iter().map(|(k, v)| (k, v.len())).collect()
}

async fn daily_points_follow_berlin_days_across_daylight_saving(backend: Backend) {
    let events = random_events();
    let Some(app) = app_with_backend(backend, &events).await else {
        return;
    };
    app.graphql_ok(
        "mutation {
          a: recordSpend(workspace: \"ts\", campaign: \"spring\", channel: \"display\", day: \"2026-03-29\", amount: 50) { amount }
          b: recordSpend(workspace: \"ts\", campaign: \"spring\", channel: \"display\", day: \"2026-04-03\", amount: 20) { amount }
        }",
        json!({}),
    )
    .await;
    let filter =
        json!({"days": {"from": "2026-03-20", "to": "2026-04-13", "timeZone": "Europe/Berlin"}});
    let series = &app
        .graphql_ok(
            SERIES,
            json!({"f": filter, "bucket": "DAY", "tz": "Europe/Berlin"}),
        )
        .await["timeSeries"];
    assert_eq!(series["bucket"], "DAY");
    let points = series["points"].as_array().unwrap();
    assert_eq!(points.len(), 24, "20 March to 12 April, every day present");
    let berlin_day = |at: DateTime<Utc>| at.with_timezone(&Berlin).date_naive().to_string();
    check(points, &expected_by(&events, berlin_day));
    let people = visitors(&events, berlin_day);
    for point in points {
        let label = point["label"].as_str().unwrap();
        assert_eq!(
            point["kpis"]["uniqueVisitors"],
            people.get(label).copied().unwrap_or(0),
            "{label}"
        );
        assert_eq!(point["partial"], false);
        let spend = match label {
            "2026-03-29" => 50.0,
            "2026-04-03" => 20.0,
            _ => 0.0,
        };
        assert_eq!(point["kpis"]["spend"], spend, "{label}");
    }
    // 29 March lasts 23 hours; the empty days are there, as zeros.
    let day = |label: &str| points.iter().find(|p| p["label"] == label).unwrap();
    let hours = |p: &Value| {
        let start: DateTime<Utc> = p["start"].as_str().unwrap().parse().unwrap();
        let end: DateTime<Utc> = p["end"].as_str().unwrap().parse().unwrap();
        (end - start).num_hours()
    };
    assert_eq!(hours(day("2026-03-29")), 23);
    assert_eq!(hours(day("2026-03-30")), 24);
    assert_eq!(day("2026-04-03")["kpis"]["impressions"], 0);
    assert_eq!(day("2026-04-03")["kpis"]["uniqueVisitors"], 0);
    assert_eq!(day("2026-04-03")["kpis"]["clickThroughRate"]["n"], 0);

    // The campaign filter applies to every point.
    let spring = json!({"campaign": "spring", "days": {"from": "2026-03-20", "to": "2026-04-13", "timeZone": "Europe/Berlin"}});
    let spring = &app
        .graphql_ok(
            SERIES,
            json!({"f": spring, "bucket": "DAY", "tz": "Europe/Berlin"}),
        )
        .await["timeSeries"]["points"];
    let spring_events: Vec<Sent> = events
        .into_iter()
        .filter(|e| e.campaign == Some("spring"))
        .collect();
    check(
        spring.as_array().unwrap(),
        &expected_by(&spring_events, berlin_day),
    );
}

async fn weeks_and_months_are_calendar_periods_cut_to_the_range(backend: Backend) {
    let events = random_events();
    let Some(app) = app_with_backend(backend, &events).await else {
        return;
    };
    // From Friday 20 March: the first ISO week (W12, from Monday the 16th) is cut.
    let filter =
        json!({"days": {"from": "2026-03-20", "to": "2026-04-13", "timeZone": "Europe/Berlin"}});
    let weeks = app
        .graphql_ok(
            SERIES,
            json!({"f": filter, "bucket": "WEEK", "tz": "Europe/Berlin"}),
        )
        .await["timeSeries"]["points"]
        .clone();
    let weeks = weeks.as_array().unwrap();
    let labels: Vec<&str> = weeks.iter().map(|w| w["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["2026-W12", "2026-W13", "2026-W14", "2026-W15"]);
    assert_eq!(weeks[0]["partial"], true);
    assert_eq!(weeks[0]["start"], "2026-03-19T23:00:00+00:00");
    assert_eq!(weeks[1]["partial"], false);
    let iso_week = |at: DateTime<Utc>| {
        let week = at.with_timezone(&Berlin).iso_week();
        format!("{}-W{:02}", week.year(), week.week())
    };
    check(weeks, &expected_by(&events, iso_week));
    let people = visitors(&events, iso_week);
    for week in weeks {
        let label = week["label"].as_str().unwrap();
        assert_eq!(week["kpis"]["uniqueVisitors"], people[label], "{label}");
    }

    // Months in New York, from instants at its midnights: two whole months.
    let months = app
        .graphql_ok(
            SERIES,
            json!({"f": {"from": "2026-03-01T05:00:00Z", "to": "2026-05-01T04:00:00Z"},
                   "bucket": "MONTH", "tz": "America/New_York"}),
        )
        .await["timeSeries"]["points"]
        .clone();
    let months = months.as_array().unwrap();
    let new_york_month = |at: DateTime<Utc>| {
        at.with_timezone(&chrono_tz::America::New_York)
            .format("%Y-%m")
            .to_string()
    };
    assert_eq!(months.len(), 2);
    assert_eq!(months[0]["partial"], false, "from is New York's 1 March");
    check(months, &expected_by(&events, new_york_month));
}

async fn a_series_needs_a_bounded_range_a_real_zone_and_a_sane_length(backend: Backend) {
    let Some(app) = app_with_backend(backend, &[]).await else {
        return;
    };
    for (variables, why) in [
        (
            json!({"f": {"from": "2026-03-01T00:00:00Z"}, "bucket": "DAY"}),
            "unbounded",
        ),
        (
            json!({"f": {"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "bucket": "DAY"}),
            "too many days",
        ),
        (
            json!({"f": {"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}, "bucket": "DAY", "tz": "Mars/Olympus"}),
            "no such zone",
        ),
    ] {
        let answer = app.graphql(SERIES, variables).await;
        assert_eq!(error_code(&answer), "BAD_USER_INPUT", "{why}: {answer}");
    }
    // Six years by month is fine, and an empty workspace gives zeros.
    let months = app
        .graphql_ok(
            SERIES,
            json!({"f": {"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "bucket": "MONTH"}),
        )
        .await;
    let points = months["timeSeries"]["points"].as_array().unwrap();
    assert_eq!(points.len(), 72);
    assert!(points.iter().all(|p| p["kpis"]["impressions"] == 0));
}

async fn app_with_backend(backend: Backend, events: &[Sent]) -> Option<TestApp> {
    // Two years of daily points with SERIES' 16 fields cost 100 + 732 × 16 = 11,812,
    // over the default budget of 10,000 (fewer fields or weekly points fit).
    let app = TestApp::spawn_with(backend, |s| s.graphql.max_cost = 20_000).await?;
    app.create_workspace("ts").await;
    if !events.is_empty() {
        let payload: Vec<Value> = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                json!({"messageId": format!("e{i}"), "kind": e.kind, "anonymousId": e.person,
                       "occurredAt": e.at.to_rfc3339(), "campaignId": e.campaign})
            })
            .collect();
        // Within the limit on events per batch.
        for batch in payload.chunks(200) {
            let ingested = app
                .graphql_ok(INGEST, json!({"ws": "ts", "events": batch}))
                .await;
            assert_eq!(ingested["ingestEvents"]["accepted"], batch.len());
        }
    }
    Some(app)
}

async fn every_field_of_a_point_answers_over_its_own_period(backend: Backend) {
    let Some(app) = app_with_backend(backend, &[]).await else {
        return;
    };
    // acme: 2 page views on 3 March (Berlin), 3 on 5 March; NPS answers on 3 March (a
    // promoter) and 5 March (a detractor).
    let mut events = Vec::new();
    for (i, day) in ["03", "03", "05", "05", "05"].iter().enumerate() {
        events.push(json!({"messageId": format!("pv{i}"), "kind": "PAGE_VIEW", "contactId": format!("c{i}"),
                           "organizationId": "acme", "occurredAt": format!("2026-03-{day}T10:00:00Z")}));
    }
    for (i, (day, score)) in [("03", 10), ("05", 2)].iter().enumerate() {
        events.push(json!({"messageId": format!("nps{i}"), "kind": "SURVEY_RESPONSE", "contactId": format!("c{i}"),
                           "value": score, "properties": {"survey": "q1"},
                           "occurredAt": format!("2026-03-{day}T11:00:00Z")}));
    }
    app.graphql_ok(INGEST, json!({"ws": "ts", "events": events}))
        .await;
    app.graphql_ok(
        "mutation($input: KpiScriptInput!) { createKpiScript(workspace: \"ts\", input: $input) { version } }",
        json!({"input": {"key": "views", "name": "Views", "goal": "FIND", "unit": "views",
                         "source": "count(events, \"PAGE_VIEW\")"}}),
    )
    .await;
    let answer = app
        .graphql_ok(
            "{ timeSeries(workspace: \"ts\", bucket: DAY, timeZone: \"Europe/Berlin\",
                          filter: {days: {from: \"2026-03-03\", to: \"2026-03-06\", timeZone: \"Europe/Berlin\"}}) {
                 points { label kpis { pageViews nps { score responses }
                                       custom(key: \"views\") { aggregate { sum } } } } } }",
            json!({}),
        )
        .await;
    let points = answer["timeSeries"]["points"].as_array().unwrap();
    let got: Vec<(String, u64, Value, Value)> = points
        .iter()
        .map(|p| {
            (
                p["label"].as_str().unwrap().to_owned(),
                p["kpis"]["pageViews"].as_u64().unwrap(),
                p["kpis"]["nps"]["score"].clone(),
                p["kpis"]["custom"]["aggregate"]["sum"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("2026-03-03".to_owned(), 2, json!(100.0), json!(2.0)),
            ("2026-03-04".to_owned(), 0, Value::Null, json!(0.0)),
            ("2026-03-05".to_owned(), 3, json!(-100.0), json!(3.0)),
        ]
    );
}

async fn cut_points_share_spend_and_long_half_hour_series_answer(backend: Backend) {
    let events = [
        ("2025-06-01T20:00:00Z", "v1"),
        ("2025-06-01T17:00:00Z", "v2"),
        ("2025-12-31T18:29:00Z", "v1"),
    ]
    .map(|(at, who)| Sent {
        kind: "IMPRESSION",
        at: at.parse().unwrap(),
        person: who.to_owned(),
        campaign: Some("spring"),
    });
    let Some(app) = app_with_backend(backend, &events).await else {
        return;
    };
    // 1, 2, 4, 8, 16 spent on 1–5 March: a sum tells which days a point holds.
    for (day, amount) in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16)] {
        app.graphql_ok(
            &format!(
                "mutation {{ recordSpend(workspace: \"ts\", campaign: \"spring\", channel: \"display\", day: \"2026-03-0{day}\", amount: {amount}) {{ amount }} }}"
            ),
            json!({}),
        )
        .await;
    }
    // New York (UTC-5) from 1 March 07:00 to 4 March 10:00: the cut first point holds
    // no local midnight, the cut last one 4 March's.
    let points = app
        .graphql_ok(
            SERIES,
            json!({"f": {"from": "2026-03-01T12:00:00Z", "to": "2026-03-04T15:00:00Z"},
                   "bucket": "DAY", "tz": "America/New_York"}),
        )
        .await["timeSeries"]["points"]
        .clone();
    let spend: Vec<(String, f64)> = points
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["label"].as_str().unwrap().to_owned(),
                p["kpis"]["spend"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        spend,
        [
            ("2026-03-01", 0.0),
            ("2026-03-02", 2.0),
            ("2026-03-03", 4.0),
            ("2026-03-04", 8.0)
        ]
        .map(|(d, a)| (d.to_owned(), a))
    );
    // Two years of Kolkata days: each day's edges are half hours, so every day has its
    // own range of hour rows (more than one UNION may take).
    let long = app
        .graphql_ok(
            SERIES,
            json!({"f": {"days": {"from": "2024-01-01", "to": "2026-01-01", "timeZone": "Asia/Kolkata"}},
                   "bucket": "DAY", "tz": "Asia/Kolkata"}),
        )
        .await["timeSeries"]["points"]
        .clone();
    let long = long.as_array().unwrap();
    assert_eq!(long.len(), 731);
    let kolkata_day = |at: DateTime<Utc>| {
        at.with_timezone(&chrono_tz::Asia::Kolkata)
            .date_naive()
            .to_string()
    };
    let expected = expected_by(&events, kolkata_day);
    check(long, &expected);
    // 1 June 17:00 UTC is 22:30 in Kolkata, 20:00 UTC the 2nd at 01:30.
    assert_eq!(expected.len(), 3);
}

on_both_backends!(
    cut_points_share_spend_and_long_half_hour_series_answer,
    every_field_of_a_point_answers_over_its_own_period,
    daily_points_follow_berlin_days_across_daylight_saving,
    weeks_and_months_are_calendar_periods_cut_to_the_range,
    a_series_needs_a_bounded_range_a_real_zone_and_a_sane_length,
);
