//! The demo a newcomer loads first: it loads, reloads idempotently, and its KPIs over
//! HTTP are what the generated events add up to, counted here.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

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
            "{ all: kpis(workspace: \"demo\") { impressions clicks uniqueVisitors eventCounts { kind count } clickThroughRate { value numerator n } }
               web: kpis(workspace: \"demo\", filter: {asset: \"webinar-pipeline\"}) { landingPageViewers registrants attendees }
               funnel(workspace: \"demo\", asset: \"webinar-pipeline\") { steps { name count } }
               asset(workspace: \"demo\", id: \"webinar-pipeline\") { landingPage }
               campaigns(workspace: \"demo\") { edges { node { id goal } } } }",
            json!({}),
        )
        .await;

    // The reference: the generated events themselves, counted here.
    let events = hourglass_server::demo::small_events(42, 6_000);
    assert_eq!(
        events.len() as u64,
        first.accepted,
        "every generated event is stored"
    );
    let mut per_kind: BTreeMap<String, u64> = BTreeMap::new();
    for e in &events {
        *per_kind.entry(e.kind.clone().unwrap()).or_default() += 1;
    }
    let counted: BTreeMap<String, u64> = data["all"]["eventCounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["count"].as_u64().unwrap() > 0)
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_owned(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counted, per_kind);
    let all = &data["all"];
    assert_eq!(all["impressions"], per_kind["IMPRESSION"]);
    assert_eq!(all["clicks"], per_kind["CLICK"]);
    assert_eq!(all["clickThroughRate"]["numerator"], per_kind["CLICK"]);
    assert_eq!(all["clickThroughRate"]["n"], per_kind["IMPRESSION"]);
    // A person is a contact, else an anonymous visitor (kept apart).
    let person = |e: &hourglass_core::EventDraft| match (&e.contact_id, &e.anonymous_id) {
        (Some(c), _) => format!("c:{c}"),
        (None, Some(a)) => format!("a:{a}"),
        (None, None) => String::new(),
    };
    let people = |kinds: &[&str], assets: &[&str]| -> BTreeSet<String> {
        events
            .iter()
            .filter(|e| kinds.contains(&e.kind.as_deref().unwrap()))
            .filter(|e| {
                assets.is_empty() || e.asset_id.as_deref().is_some_and(|a| assets.contains(&a))
            })
            .map(person)
            .filter(|p| !p.is_empty())
            .collect()
    };
    assert_eq!(
        all["uniqueVisitors"],
        people(&["IMPRESSION", "PAGE_VIEW"], &[]).len()
    );
    let landing = data["asset"]["landingPage"].as_str().unwrap();
    let family = ["webinar-pipeline", landing];
    let expected = vec![
        people(&["PAGE_VIEW"], &[landing]).len() as u64,
        people(&["REGISTRATION"], &family).len() as u64,
        people(&["ATTENDANCE"], &family).len() as u64,
    ];
    let web = &data["web"];
    let plain: Vec<u64> = ["landingPageViewers", "registrants", "attendees"]
        .iter()
        .map(|k| web[k].as_u64().unwrap())
        .collect();
    assert_eq!(plain, expected);
    let steps: Vec<u64> = data["funnel"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["count"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, expected);
    assert!(
        expected[0] > expected[1] && expected[1] > expected[2] && expected[2] > 0,
        "a funnel narrows: {expected:?}"
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
