//! The demo a newcomer loads first: it loads, reloads idempotently, and its KPIs
//! agree with each other over HTTP.

#![allow(clippy::unwrap_used)]

use hourglass_tests::{AGENCY, Backend, TestApp, TestDatabase, on_both_backends};
use serde_json::json;

async fn the_demo_loads_once_and_its_kpis_add_up(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let store = db.store().await;
    let first = hourglass_server::demo::load(&store, AGENCY, "demo", 42, 6_000)
        .await
        .unwrap();
    assert!(first.accepted > 5_000, "{first:?}");
    let again = hourglass_server::demo::load(&store, AGENCY, "demo", 42, 6_000)
        .await
        .unwrap();
    assert_eq!(again.accepted, 0);
    assert_eq!(again.duplicates, first.accepted);

    let app = TestApp::spawn_on(db, |_| {}).await;
    let data = app
        .graphql_ok(
            "{ all: kpis(workspace: \"demo\") { impressions clicks eventCounts { count } clickThroughRate { value numerator n } }
               web: kpis(workspace: \"demo\", filter: {asset: \"webinar-pipeline\"}) { landingPageViewers registrants attendees registrationRate { value } }
               funnel(workspace: \"demo\", asset: \"webinar-pipeline\") { steps { name count } }
               campaigns(workspace: \"demo\") { edges { node { id goal } } }
               events(workspace: \"demo\", first: 1) { edges { node { messageId } } } }",
            json!({}),
        )
        .await;
    let all = &data["all"];
    let total: u64 = all["eventCounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, first.accepted);
    assert_eq!(all["clickThroughRate"]["numerator"], all["clicks"]);
    assert_eq!(all["clickThroughRate"]["n"], all["impressions"]);
    let steps: Vec<u64> = data["funnel"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["count"].as_u64().unwrap())
        .collect();
    let web = &data["web"];
    assert_eq!(
        steps,
        vec![
            web["landingPageViewers"].as_u64().unwrap(),
            web["registrants"].as_u64().unwrap(),
            web["attendees"].as_u64().unwrap(),
        ]
    );
    assert!(
        steps[0] > steps[1] && steps[1] > steps[2] && steps[2] > 0,
        "a funnel narrows: {steps:?}"
    );
    let goals: Vec<&str> = data["campaigns"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["goal"].as_str().unwrap())
        .collect();
    assert_eq!(goals, vec!["FIND", "KEEP", "GROW"]);
}

on_both_backends!(the_demo_loads_once_and_its_kpis_add_up);
