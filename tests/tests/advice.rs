//! `spendAdvice` over HTTP: outcomes credited to a campaign's paid touches, costs per
//! outcome with exact intervals, and the shift of money the data support — against
//! values worked out by hand and with SciPy, on both backends.

#![allow(clippy::unwrap_used)]

use chrono::{Duration, NaiveDate};
use hourglass_tests::{Backend, TestApp, error_code, on_both_backends};
use serde_json::{Value, json};

const WS: &str = "advice";

const ADVICE: &str = "query($campaign: ID!, $model: TouchCredit! = LAST_TOUCH, $lookback: Int! = 90, $outcome: SpendOutcome, $filter: KpiFilterInput) {
  spendAdvice(workspace: \"advice\", campaign: $campaign, model: $model, lookbackDays: $lookback, outcome: $outcome, filter: $filter) {
    goal outcome currency outcomes unattributedOutcomes minimumOutcomes reference shift moveFrom moveTo
    moreOutcomesNeeded summary
    channels { channel spend outcomes costPerOutcome { value lower upper }
      versusReference { ratio lower upper pValue fixedSamplePValue sharedDays outcomes }
      adjustedPValue verdict moreOutcomesNeeded }
  }
}";

fn day(n: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 1).unwrap() + Duration::days(n)
}

fn at(n: i64, hour: u32) -> String {
    format!("{}T{hour:02}:00:00Z", day(n))
}

fn touch(id: &str, contact: &str, campaign: &str, channel: &str, at: String) -> Value {
    json!({"messageId": id, "kind": "CLICK", "contactId": contact, "campaignId": campaign,
           "channel": channel, "occurredAt": at})
}

fn stage(id: &str, contact: &str, to: &str, at: String) -> Value {
    json!({"messageId": id, "kind": "STAGE_CHANGE", "contactId": contact,
           "occurredAt": at, "properties": {"to": to}})
}

async fn ingest(app: &TestApp, events: &[Value]) {
    for batch in events.chunks(400) {
        let answer = app
            .graphql_ok(
                "mutation($events: [EventInput!]!) {
                    ingestEvents(workspace: \"advice\", events: $events) { accepted rejected { code message } }
                }",
                json!({ "events": batch }),
            )
            .await;
        assert_eq!(answer["ingestEvents"]["rejected"], json!([]), "{answer}");
    }
}

async fn spend(app: &TestApp, campaign: &str, channel: &str, days: impl Iterator<Item = i64>) {
    for n in days {
        app.graphql_ok(
            "mutation($campaign: ID!, $channel: String!, $day: NaiveDate!) {
                recordSpend(workspace: \"advice\", campaign: $campaign, channel: $channel, day: $day, amount: 100) { amount }
            }",
            json!({"campaign": campaign, "channel": channel, "day": day(n)}),
        )
        .await;
    }
}

/// Campaign `spring` (FIND, EUR) spends 100 a day on email and on display for 20 days
/// (days 0–19) and on display alone on day 20. Each of days 0–19, six people click an
/// email and become leads the next morning, two people click a display ad and do; on
/// day 20, one more display click. An outcome is credited to the day of its touch, so
/// the leads of day 19's clicks belong to day 19, on which both channels spent.
async fn seeded(backend: Backend) -> Option<TestApp> {
    let app = TestApp::spawn(backend).await?;
    app.create_workspace(WS).await;
    app.graphql_ok(
        "mutation {
            s: createCampaign(workspace: \"advice\", input: {id: \"spring\", name: \"Spring\", goal: FIND, currency: \"EUR\"}) { id }
            o: createCampaign(workspace: \"advice\", input: {id: \"other\", name: \"Other\", goal: FIND, currency: \"EUR\"}) { id }
            t: createCampaign(workspace: \"advice\", input: {id: \"tiny\", name: \"Tiny\", goal: FIND, currency: \"EUR\"}) { id }
        }",
        json!({}),
    )
    .await;
    spend(&app, "spring", "email", 0..20).await;
    spend(&app, "spring", "display", 0..21).await;
    let mut events = Vec::new();
    for n in 0..20 {
        for (channel, people) in [("email", 6), ("display", 2)] {
            for i in 0..people {
                let who = format!("{channel}-{n}-{i}");
                events.push(touch(
                    &format!("t-{who}"),
                    &who,
                    "spring",
                    channel,
                    at(n, 9),
                ));
                events.push(stage(&format!("l-{who}"), &who, "LEAD", at(n + 1, 8)));
            }
        }
    }
    events.push(touch("t-late", "late", "spring", "display", at(20, 9)));
    events.push(stage("l-late", "late", "MQL", at(21, 8)));
    ingest(&app, &events).await;
    Some(app)
}

fn channel<'a>(advice: &'a Value, name: &str) -> &'a Value {
    advice["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == name)
        .unwrap()
}

fn close(a: &Value, b: f64) {
    let a = a.as_f64().unwrap();
    assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{a} against {b}");
}

async fn the_data_say_move_money_from_display_to_email(backend: Backend) {
    let Some(app) = seeded(backend).await else {
        return;
    };
    let data = app.graphql_ok(ADVICE, json!({"campaign": "spring"})).await;
    let advice = &data["spendAdvice"];
    assert_eq!(advice["goal"], "FIND");
    assert_eq!(
        advice["outcome"], "LEAD",
        "FIND campaigns are judged by leads"
    );
    assert_eq!(advice["currency"], "EUR");
    assert_eq!(advice["outcomes"], 161);
    assert_eq!(advice["unattributedOutcomes"], 0);
    let order: Vec<&str> = advice["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["channel"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["email", "display"]);
    assert_eq!(advice["reference"], "email");
    assert_eq!(advice["shift"], "MOVE_SPEND");
    assert_eq!(advice["moveFrom"], json!(["display"]));
    assert_eq!(advice["moveTo"], "email");
    assert!(
        advice["summary"].as_str().unwrap().starts_with(
            "Move money from display (51.22 EUR per lead) to email (16.67 EUR per lead)"
        ),
        "{}",
        advice["summary"]
    );

    // Costs and their exact intervals. SciPy 1.17:
    //   2000/120, 2000/(chi2.ppf(.975, 242)/2), 2000/(chi2.ppf(.025, 240)/2)
    //   2100/41,  2100/(chi2.ppf(.975, 84)/2),  2100/(chi2.ppf(.025, 82)/2)
    let email = channel(advice, "email");
    assert_eq!(
        (email["spend"].as_f64(), email["outcomes"].as_u64()),
        (Some(2000.0), Some(120))
    );
    close(&email["costPerOutcome"]["value"], 16.666666666666668);
    close(&email["costPerOutcome"]["lower"], 13.938196675774202);
    close(&email["costPerOutcome"]["upper"], 20.102133790428685);
    let display = channel(advice, "display");
    assert_eq!(
        (display["spend"].as_f64(), display["outcomes"].as_u64()),
        (Some(2100.0), Some(41))
    );
    close(&display["costPerOutcome"]["value"], 51.21951219512195);
    close(&display["costPerOutcome"]["lower"], 37.75543604374574);
    close(&display["costPerOutcome"]["upper"], 71.3744145900766);

    // Display against email over the 20 days both spent: the day-20 lead was bought on
    // a day email did not spend, so it is not in the pair. 40 of 160 outcomes at even
    // spend: ratio 1/3. Fixed-sample p, SciPy: binomtest(40, 160, 0.5).pvalue.
    let versus = &display["versusReference"];
    assert_eq!(
        (versus["sharedDays"].as_u64(), versus["outcomes"].as_u64()),
        (Some(20), Some(160))
    );
    close(&versus["ratio"], 1.0 / 3.0);
    close(&versus["fixedSamplePValue"], 1.7524500188513523e-10);
    assert!(
        versus["upper"].as_f64().unwrap() < 1.0,
        "the sequence excludes equal cost"
    );
    assert!(versus["lower"].as_f64().unwrap() < 1.0 / 3.0);
    assert!(versus["pValue"].as_f64().unwrap() < 0.05);
    assert!(
        versus["pValue"].as_f64().unwrap() > versus["fixedSamplePValue"].as_f64().unwrap(),
        "an always-valid p-value pays for looking at every day"
    );
    assert_eq!(display["verdict"], "WORSE");
    assert_eq!(
        email["verdict"],
        Value::Null,
        "the reference is not compared with itself"
    );

    // From day 5 on: spend of days 5–19 (email) and 5–20 (display). The leads of day
    // 4's clicks come on day 5, in the range, but their touches were bought on day 4,
    // whose spend is not counted: unattributed, not free.
    let data = app
        .graphql_ok(
            ADVICE,
            json!({"campaign": "spring", "filter": {"from": format!("{}T00:00:00Z", day(5))}}),
        )
        .await;
    let advice = &data["spendAdvice"];
    assert_eq!(advice["outcomes"], 16 * 8 + 1);
    assert_eq!(advice["unattributedOutcomes"], 8);
    let counts = |name: &str| {
        let c = channel(advice, name);
        (
            c["spend"].as_f64().unwrap(),
            c["outcomes"].as_u64().unwrap(),
        )
    };
    assert_eq!(counts("email"), (1500.0, 15 * 6));
    assert_eq!(counts("display"), (1600.0, 15 * 2 + 1));
}

async fn outcomes_go_to_the_campaigns_paid_touches_by_the_model(backend: Backend) {
    let Some(app) = seeded(backend).await else {
        return;
    };
    // Five more people become leads on day 10:
    // - p1: display on day 3, email on day 9 → FIRST_TOUCH display, LAST_TOUCH email;
    // - p2: email on day 9, then an unpaid webinar touch and another campaign's display
    //   click on day 10 → email either way (neither later touch is a paid touch of
    //   spring);
    // - p3: only a touch 30 days before → email, unattributed with lookbackDays 7;
    // - p4: no touch at all → unattributed;
    // - p5: becomes a VISITOR (no outcome), then SQL (an outcome), then CUSTOMER (the
    //   same person: no second lead).
    let mut events = vec![
        touch("p1-a", "p1", "spring", "display", at(3, 9)),
        touch("p1-b", "p1", "spring", "email", at(9, 9)),
        stage("p1-l", "p1", "LEAD", at(10, 12)),
        touch("p2-a", "p2", "spring", "email", at(9, 9)),
        touch("p2-b", "p2", "spring", "webinar", at(10, 8)),
        touch("p2-c", "p2", "other", "display", at(10, 9)),
        stage("p2-l", "p2", "LEAD", at(10, 12)),
        touch("p3-a", "p3", "spring", "email", at(-20, 9)),
        stage("p3-l", "p3", "LEAD", at(10, 12)),
        stage("p4-l", "p4", "LEAD", at(10, 12)),
        stage("p5-v", "p5", "VISITOR", at(10, 10)),
        touch("p5-a", "p5", "spring", "display", at(10, 9)),
        stage("p5-l", "p5", "SQL", at(10, 12)),
        stage("p5-c", "p5", "CUSTOMER", at(10, 13)),
    ];
    // The other campaign spends on display, and the webinar channel costs nothing.
    spend(&app, "other", "display", 10..11).await;
    ingest(&app, &std::mem::take(&mut events)).await;

    let outcomes = |data: &Value, name: &str| {
        channel(&data["spendAdvice"], name)["outcomes"]
            .as_u64()
            .unwrap()
    };
    let last = app.graphql_ok(ADVICE, json!({"campaign": "spring"})).await;
    assert_eq!(last["spendAdvice"]["outcomes"], 166);
    assert_eq!(last["spendAdvice"]["unattributedOutcomes"], 1, "p4");
    // email: 120 + p1 + p2 + p3; display: 41 + p5.
    assert_eq!(
        (outcomes(&last, "email"), outcomes(&last, "display")),
        (123, 42)
    );
    assert!(
        last["spendAdvice"]["channels"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["channel"] != "webinar"),
        "a channel without spend is no paid channel"
    );

    let first = app
        .graphql_ok(
            ADVICE,
            json!({"campaign": "spring", "model": "FIRST_TOUCH"}),
        )
        .await;
    // p1 moves to display.
    assert_eq!(
        (outcomes(&first, "email"), outcomes(&first, "display")),
        (122, 43)
    );

    let week = app
        .graphql_ok(ADVICE, json!({"campaign": "spring", "lookback": 7}))
        .await;
    // p3's touch falls outside; p1's display touch too, but its email touch is in.
    assert_eq!(week["spendAdvice"]["unattributedOutcomes"], 2);
    assert_eq!(outcomes(&week, "email"), 122);

    // Judged by customers instead: only p5 became one.
    let customers = app
        .graphql_ok(ADVICE, json!({"campaign": "spring", "outcome": "CUSTOMER"}))
        .await;
    assert_eq!(customers["spendAdvice"]["outcomes"], 1);
    assert_eq!(outcomes(&customers, "display"), 1);
}

async fn little_data_is_not_enough_and_says_how_much_more(backend: Backend) {
    let Some(app) = seeded(backend).await else {
        return;
    };
    spend(&app, "tiny", "email", 0..3).await;
    spend(&app, "tiny", "display", 0..3).await;
    let mut events = Vec::new();
    for n in 0..3 {
        for (channel, people) in [("email", 2), ("display", 1)] {
            for i in 0..people {
                let who = format!("tiny-{channel}-{n}-{i}");
                events.push(touch(&format!("t-{who}"), &who, "tiny", channel, at(n, 9)));
                events.push(stage(&format!("l-{who}"), &who, "LEAD", at(n, 11)));
            }
        }
    }
    ingest(&app, &events).await;
    let data = app.graphql_ok(ADVICE, json!({"campaign": "tiny"})).await;
    let advice = &data["spendAdvice"];
    assert_eq!(advice["shift"], "NOT_ENOUGH_DATA");
    assert_eq!(advice["moveFrom"], json!([]));
    assert_eq!(channel(advice, "display")["verdict"], "INSUFFICIENT_SAMPLE");
    let more = advice["moreOutcomesNeeded"].as_u64().unwrap();
    assert!(
        more >= 30 - 9,
        "at least the minimum sample's shortfall, got {more}"
    );
    assert!(
        advice["summary"]
            .as_str()
            .unwrap()
            .starts_with("Not enough data yet"),
        "{}",
        advice["summary"]
    );

    // One paid channel: nothing to compare.
    let data = app
        .graphql_ok(
            "{ spendAdvice(workspace: \"advice\", campaign: \"other\") { shift channels { channel } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["spendAdvice"]["shift"], "NOTHING_TO_COMPARE");

    // A workspace whose stages stop at MQL has no customers to judge by.
    app.graphql_ok(
        "mutation { updateWorkspace(slug: \"advice\", input: {lifecycleStages: [\"VISITOR\", \"LEAD\", \"MQL\"]}) { slug } }",
        json!({}),
    )
    .await;
    for (query, code) in [
        (
            "{ spendAdvice(workspace: \"advice\", campaign: \"spring\", lookbackDays: 0) { shift } }",
            "BAD_USER_INPUT",
        ),
        (
            "{ spendAdvice(workspace: \"advice\", campaign: \"spring\", outcome: CUSTOMER) { shift } }",
            "BAD_USER_INPUT",
        ),
        (
            "{ spendAdvice(workspace: \"advice\", campaign: \"nope\") { shift } }",
            "NOT_FOUND",
        ),
    ] {
        let answer = app.graphql(query, json!({})).await;
        assert_eq!(error_code(&answer), code, "{answer}");
    }
}

async fn keep_campaigns_are_judged_by_engaged_customers(backend: Backend) {
    let Some(app) = seeded(backend).await else {
        return;
    };
    app.graphql_ok(
        "mutation { createCampaign(workspace: \"advice\", input: {id: \"care\", name: \"Care\", goal: KEEP, currency: \"EUR\"}) { id } }",
        json!({}),
    )
    .await;
    spend(&app, "care", "email", 0..5).await;
    spend(&app, "care", "social", 0..5).await;
    // k1, k2, k3 and k5 are customers; k4 is a lead.
    // - k1: email on day 1, social on day 2 → FIRST_TOUCH email, LAST_TOUCH social;
    // - k2: email on day 3;
    // - k3: only an unpaid webinar touch → engaged, unattributed;
    // - k4: email on day 1, but no customer → no outcome;
    // - k5: only another campaign's email → not engaged by this one.
    let events = vec![
        stage("k1-c", "k1", "CUSTOMER", at(-5, 9)),
        stage("k2-c", "k2", "CUSTOMER", at(-5, 9)),
        stage("k3-c", "k3", "CUSTOMER", at(-5, 9)),
        stage("k4-l", "k4", "LEAD", at(-5, 9)),
        stage("k5-c", "k5", "CUSTOMER", at(-5, 9)),
        touch("k1-a", "k1", "care", "email", at(1, 9)),
        touch("k1-b", "k1", "care", "social", at(2, 9)),
        touch("k2-a", "k2", "care", "email", at(3, 9)),
        touch("k3-a", "k3", "care", "webinar", at(2, 9)),
        touch("k4-a", "k4", "care", "email", at(1, 9)),
        touch("k5-a", "k5", "spring", "email", at(1, 9)),
    ];
    ingest(&app, &events).await;
    let outcomes = |data: &Value, name: &str| {
        channel(&data["spendAdvice"], name)["outcomes"]
            .as_u64()
            .unwrap()
    };
    let last = app.graphql_ok(ADVICE, json!({"campaign": "care"})).await;
    assert_eq!(last["spendAdvice"]["outcome"], "ENGAGED_CUSTOMER");
    assert_eq!(last["spendAdvice"]["outcomes"], 3, "k1, k2, k3");
    assert_eq!(last["spendAdvice"]["unattributedOutcomes"], 1, "k3");
    assert_eq!(
        (outcomes(&last, "email"), outcomes(&last, "social")),
        (1, 1)
    );
    let first = app
        .graphql_ok(ADVICE, json!({"campaign": "care", "model": "FIRST_TOUCH"}))
        .await;
    assert_eq!(
        (outcomes(&first, "email"), outcomes(&first, "social")),
        (2, 0)
    );
}

on_both_backends!(
    keep_campaigns_are_judged_by_engaged_customers,
    the_data_say_move_money_from_display_to_email,
    outcomes_go_to_the_campaigns_paid_touches_by_the_model,
    little_data_is_not_enough_and_says_how_much_more,
);
