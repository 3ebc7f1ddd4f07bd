//! The figures the README prints "on the demo", held to the demo a newcomer loads
//! (`hourglass demo`: seed 42, 100,000 events), on both backends. Each value below is
//! copied from the README line quoted beside it; a change that moves one must change
//! the README too.

#![allow(clippy::unwrap_used)]

use hourglass_tests::{AGENCY, Backend, TestApp, TestDatabase, on_both_backends};
use serde_json::{Value, json};

/// A number as the README rounds it.
fn rounded(value: &Value, places: usize) -> String {
    format!("{:.places$}", value.as_f64().unwrap())
}

async fn the_readme_figures_are_the_demos(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let store = db.store().await;
    hourglass_server::demo::load(
        &store,
        AGENCY,
        "demo",
        42,
        hourglass_server::demo::DEFAULT_EVENTS,
    )
    .await
    .unwrap();
    let app = TestApp::spawn_on(db, |_| {}).await;
    let data = app
        .graphql_ok(
            "{ web: kpis(workspace: \"demo\", filter: {asset: \"webinar-pipeline\"}) {
                 landingPageViewers registrants attendees
                 registrationRate { value lower upper } attendanceRate { value } }
               all: kpis(workspace: \"demo\") {
                 nps { score lower upper responses promoters passives detractors } }
               q3: kpis(workspace: \"demo\", filter: {campaign: \"q3-webinar\"}) {
                 spend revenue { amount currency }
                 costPerLead { value outcomes } costPerCustomer { value outcomes }
                 linear: roi { value lower upper sales }
                 first: roi(model: FIRST_TOUCH) { value }
                 last: roi(model: LAST_TOUCH, lookbackDays: 60) { value lower upper } }
               leads: contacts(workspace: \"demo\", orderBy: DEPTH, first: 1, filter: {campaign: \"q3-webinar\"}) {
                 edges { node { id name title organization depth { leadScore attendedSeconds stayedToEnd questions infoRequests assets } } } }
               asset(workspace: \"demo\", id: \"webinar-pipeline\") {
                 people(who: ATTENDED, first: 1) { edges { node { colleagues person {
                   contact name title organization attendedSeconds stayedToEnd questions } } } } }
               advice: spendAdvice(workspace: \"demo\", campaign: \"q3-webinar\") { summary }
               keep: spendAdvice(workspace: \"demo\", campaign: \"customer-onboarding\") {
                 shift outcomes channels { costPerOutcome { value lower upper } } } }",
            json!({}),
        )
        .await;

    // "On the demo: 3,197 landing-page viewers, 739 registrants (rate 0.231, interval
    // 0.217–0.246), 405 attendees (0.548 of registrants)."
    let web = &data["web"];
    assert_eq!(
        (
            &web["landingPageViewers"],
            &web["registrants"],
            &web["attendees"]
        ),
        (&json!(3197), &json!(739), &json!(405))
    );
    let rate = &web["registrationRate"];
    assert_eq!(
        [
            rounded(&rate["value"], 3),
            rounded(&rate["lower"], 3),
            rounded(&rate["upper"], 3)
        ],
        ["0.231", "0.217", "0.246"]
    );
    assert_eq!(rounded(&web["attendanceRate"]["value"], 3), "0.548");

    // "450 survey answers, of which 305 count …: 125 promoters, 117 passives, 63
    // detractors, NPS 20.3 (interval 11.7–28.6)."
    let nps = &data["all"]["nps"];
    assert_eq!(
        (
            &nps["responses"],
            &nps["promoters"],
            &nps["passives"],
            &nps["detractors"]
        ),
        (&json!(305), &json!(125), &json!(117), &json!(63))
    );
    assert_eq!(
        [
            rounded(&nps["score"], 1),
            rounded(&nps["lower"], 1),
            rounded(&nps["upper"], 1)
        ],
        ["20.3", "11.7", "28.6"]
    );

    // "`q3-webinar` spent 11,264.85 EUR for 739 leads (15.24 EUR each) and 10
    // customers (1,126.49 EUR each); its ten sales bring 258,000 EUR, … LINEAR (ROI
    // 11.3, interval 3.0–19.6 …), FIRST_TOUCH (14.3) and … LAST_TOUCH with a 60-day
    // window (6.1, interval −1 to 14.3 …)."
    let q3 = &data["q3"];
    assert_eq!(rounded(&q3["spend"], 2), "11264.85");
    assert_eq!(
        (
            rounded(&q3["costPerLead"]["value"], 2),
            &q3["costPerLead"]["outcomes"]
        ),
        ("15.24".to_owned(), &json!(739))
    );
    // 11,264.85 / 10 = 1,126.485, which the README rounds half up.
    let per_customer = q3["costPerCustomer"]["value"].as_f64().unwrap();
    assert!((per_customer - 1126.485).abs() < 1e-9, "{per_customer}");
    assert_eq!(q3["costPerCustomer"]["outcomes"], 10);
    assert_eq!(
        q3["revenue"],
        json!([{"amount": 258000.0, "currency": "EUR"}])
    );
    let linear = &q3["linear"];
    assert_eq!(
        [
            rounded(&linear["value"], 1),
            rounded(&linear["lower"], 1),
            rounded(&linear["upper"], 1)
        ],
        ["11.3", "3.0", "19.6"]
    );
    assert_eq!(linear["sales"], 10);
    assert_eq!(rounded(&q3["first"]["value"], 1), "14.3");
    let last = &q3["last"];
    assert_eq!(
        [
            rounded(&last["value"], 1),
            rounded(&last["lower"], 1),
            rounded(&last["upper"], 1)
        ],
        ["6.1", "-1.0", "14.3"]
    );

    // "the top lead for q3-webinar is c-0650, Jonas Haas (Data Analyst) of org-034:
    // score 18, having attended 3,498 s (stayed to the end), asked a question,
    // requested information and engaged with 4 assets."
    let lead = &data["leads"]["edges"][0]["node"];
    assert_eq!(
        (
            &lead["id"],
            &lead["name"],
            &lead["title"],
            &lead["organization"]
        ),
        (
            &json!("c-0650"),
            &json!("Jonas Haas"),
            &json!("Data Analyst"),
            &json!("org-034")
        )
    );
    assert_eq!(
        lead["depth"],
        json!({"leadScore": 18.0, "attendedSeconds": 3498.0, "stayedToEnd": true,
               "questions": 1, "infoRequests": 1, "assets": 4})
    );

    // "405 people attended webinar-pipeline; the first listed, c-0390 (Jonas Tanaka,
    // Operations Lead) of org-016, attended 3,425 s, stayed to the end, asked a
    // question, and five colleagues also came."
    let first = &data["asset"]["people"]["edges"][0]["node"];
    assert_eq!(
        first["person"],
        json!({"contact": "c-0390", "name": "Jonas Tanaka", "title": "Operations Lead",
               "organization": "org-016", "attendedSeconds": 3425.0, "stayedToEnd": true,
               "questions": 1})
    );
    assert_eq!(first["colleagues"].as_array().unwrap().len(), 5);

    // "its answer is "Move money from paid_search (no lead for 4057.76 EUR) to social
    // (9.82 EUR per lead)". `customer-onboarding` (KEEP) has one paid channel: 9
    // engaged customers at 103.65 EUR each (54.60–226.67), nothing to compare."
    assert!(
        data["advice"]["summary"].as_str().unwrap().starts_with(
            "Move money from paid_search (no lead for 4057.76 EUR) to social (9.82 EUR per lead)"
        ),
        "{}",
        data["advice"]["summary"]
    );
    let keep = &data["keep"];
    assert_eq!(
        (&keep["shift"], &keep["outcomes"]),
        (&json!("NOTHING_TO_COMPARE"), &json!(9))
    );
    let cost = &keep["channels"][0]["costPerOutcome"];
    assert_eq!(
        [
            rounded(&cost["value"], 2),
            rounded(&cost["lower"], 2),
            rounded(&cost["upper"], 2)
        ],
        ["103.65", "54.60", "226.67"]
    );
}

on_both_backends!(the_readme_figures_are_the_demos);
