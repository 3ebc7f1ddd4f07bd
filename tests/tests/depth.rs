//! The bottom of the hourglass over HTTP: depth per organization, the short list,
//! and both halves in one answer.

#![allow(clippy::unwrap_used)]

use hourglass_tests::{Backend, TestApp, error_code, on_both_backends};
use serde_json::{Value, json};

const INGEST: &str = "mutation($events: [EventInput!]!) {
  ingestEvents(workspace: \"deep\", events: $events) { accepted rejected { code message } }
}";

fn ev(id: &str, kind: &str, minute: u32, contact: &str, org: &str, asset: Option<&str>) -> Value {
    json!({
        "messageId": id, "kind": kind, "contactId": contact, "organizationId": org, "assetId": asset,
        "occurredAt": format!("2026-04-01T10:{minute:02}:00Z"),
    })
}

async fn seeded(backend: Backend) -> Option<TestApp> {
    let app = TestApp::spawn(backend).await?;
    app.create_workspace("deep").await;
    app.graphql_ok(
        "mutation {
            lp: createAsset(workspace: \"deep\", input: {id: \"lp\", kind: LANDING_PAGE}) { id }
            web: createAsset(workspace: \"deep\", input: {id: \"web\", kind: WEBINAR, durationSeconds: 3600, landingPage: \"lp\"}) { id }
            acme: createOrganization(workspace: \"deep\", input: {id: \"acme\", name: \"Acme\", domain: \"acme.com\"}) { id }
        }",
        json!({}),
    )
    .await;
    let attend = |id: &str, minute, who: &str, org: &str, seconds: f64| {
        let mut e = ev(id, "ATTENDANCE", minute, who, org, Some("web"));
        e["value"] = json!(seconds);
        e
    };
    let mut share = ev("s1", "SHARE", 30, "ann", "acme", Some("web"));
    share["properties"] = json!({"recipient": "bob"});
    let mut outside = ev("s2", "SHARE", 31, "ann", "acme", Some("web"));
    outside["properties"] = json!({"recipient": "someone@elsewhere.org"});
    let mut lead = ev("st1", "STAGE_CHANGE", 40, "ann", "acme", None);
    lead["properties"] = json!({"to": "LEAD"});
    let mut mql = ev("st2", "STAGE_CHANGE", 41, "eve", "initech", None);
    mql["properties"] = json!({"to": "MQL"});
    let events = vec![
        attend("a1", 0, "ann", "acme", 1800.0),
        attend("a2", 1, "ann", "acme", 1700.0), // 3500 s of 3600: stayed
        attend("a3", 2, "bob", "acme", 3000.0),
        attend("a4", 3, "cy", "acme", 1000.0),
        ev("q1", "QUESTION", 20, "bob", "acme", Some("web")),
        share,
        outside,
        lead,
        attend("a5", 5, "dee", "globex", 100.0),
        ev("v1", "PAGE_VIEW", 6, "eve", "initech", Some("lp")),
        mql,
    ];
    let answer = app.graphql_ok(INGEST, json!({"events": events})).await;
    assert_eq!(answer["ingestEvents"]["rejected"], json!([]), "{answer}");
    Some(app)
}

const SHORT_LIST: &str = "query($filter: KpiFilterInput) {
  organizations(workspace: \"deep\", orderBy: DEPTH, filter: $filter) {
    edges { node { id rank depth { score engagedContacts attendees fullStayAttendees questionAskers
      infoRequests internalShares colleagueSpread breadth contributions { part count weight points } } } }
  }
}";

async fn the_short_list_ranks_accounts_and_shows_why(backend: Backend) {
    let Some(app) = seeded(backend).await else {
        return;
    };
    let data = app.graphql_ok(SHORT_LIST, json!({})).await;
    let nodes: Vec<&Value> = data["organizations"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .collect();
    let order: Vec<(&str, u64)> = nodes
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n["rank"].as_u64().unwrap()))
        .collect();
    assert_eq!(order, vec![("acme", 1), ("globex", 2), ("initech", 3)]);
    let acme = &nodes[0]["depth"];
    assert_eq!(
        (
            acme["engagedContacts"].as_u64(),
            acme["attendees"].as_u64(),
            acme["fullStayAttendees"].as_u64(),
            acme["questionAskers"].as_u64(),
            acme["internalShares"].as_u64(),
            acme["colleagueSpread"].as_u64(),
            acme["breadth"].as_u64()
        ),
        (
            Some(3),
            Some(3),
            Some(1),
            Some(1),
            Some(1),
            Some(2),
            Some(1)
        )
    );
    // 3×1 + 3×2 + 1×3 + 1×3 + 1×2 + 2×1 + 1×1
    assert_eq!(acme["score"], 20.0);
    let points: f64 = acme["contributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["points"].as_f64().unwrap())
        .sum();
    assert_eq!(points, 20.0, "the working adds up to the score");
    assert_eq!(nodes[1]["depth"]["score"], 4.0);

    // The weights are the workspace's: make breadth dominate and initech's landing-page
    // visit no longer trails globex's short attendance.
    app.graphql_ok(
        "mutation { updateWorkspace(slug: \"deep\", input: {depthWeights: {engagedContacts: 0, attendees: 0,
            fullStayAttendees: 0, questionAskers: 0, infoRequests: 0, internalShares: 0, colleagueSpread: 0, breadth: 1}}) {
            depthWeights { attendees breadth } } }",
        json!({}),
    )
    .await;
    let data = app.graphql_ok(SHORT_LIST, json!({})).await;
    let scores: Vec<f64> = data["organizations"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["depth"]["score"].as_f64().unwrap())
        .collect();
    assert_eq!(scores, vec![1.0, 1.0, 1.0]);

    // A filter narrows what is measured: before minute 1 only ann had attended, and only half of it.
    let early = app
        .graphql_ok(
            "{ organization(workspace: \"deep\", id: \"acme\") { depth(filter: {to: \"2026-04-01T10:01:00Z\"}) { attendees fullStayAttendees } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        early["organization"]["depth"],
        json!({"attendees": 1, "fullStayAttendees": 0})
    );
}

/// `Organization.depth` with filters on a whole page, two filters at once: each
/// organization gets its own depth within each filter, as counted from the seeded
/// events (the page's rows are loaded together, one read per filter).
async fn depth_on_a_page_of_organizations_is_per_organization_and_filter(backend: Backend) {
    let Some(app) = seeded(backend).await else {
        return;
    };
    let data = app
        .graphql_ok(
            "{ organizations(workspace: \"deep\", first: 10) { edges { node { id
                early: depth(filter: {to: \"2026-04-01T10:04:00Z\"}) { attendees fullStayAttendees }
                later: depth(filter: {to: \"2026-04-01T10:06:00Z\"}) { attendees fullStayAttendees }
            } } } }",
            json!({}),
        )
        .await;
    let got: std::collections::BTreeMap<String, (Value, Value)> = data["organizations"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let node = &e["node"];
            (
                node["id"].as_str().unwrap().to_owned(),
                (node["early"].clone(), node["later"].clone()),
            )
        })
        .collect();
    let depth =
        |attendees: u64, full: u64| json!({"attendees": attendees, "fullStayAttendees": full});
    // Before minute 4: ann (3,500 of 3,600 s: stayed), bob and cy attended for acme.
    // Before minute 6: also dee for globex (100 s). Initech only viewed the landing page.
    let want = std::collections::BTreeMap::from([
        ("acme".to_owned(), (depth(3, 1), depth(3, 1))),
        ("globex".to_owned(), (depth(0, 0), depth(1, 0))),
        ("initech".to_owned(), (depth(0, 0), depth(0, 0))),
    ]);
    assert_eq!(got, want);
}

async fn the_hourglass_answers_both_halves_and_the_bottom_starts_at_lead(backend: Backend) {
    let Some(app) = seeded(backend).await else {
        return;
    };
    let query = "{ hourglass(workspace: \"deep\") {
        top { attendances registrants attendees pageViews }
        bottom { leadStages organizationCount totals { attendees score } shortList { id rank } } } }";
    let data = app.graphql_ok(query, json!({})).await;
    let h = &data["hourglass"];
    assert_eq!(h["top"]["attendances"], 5);
    assert_eq!(h["top"]["attendees"], 4, "the top counts everyone");
    assert_eq!(
        h["bottom"]["leadStages"],
        json!(["LEAD", "MQL", "SQL", "OPPORTUNITY", "CUSTOMER"])
    );
    assert_eq!(h["bottom"]["organizationCount"], 2, "globex has no lead");
    assert_eq!(
        h["bottom"]["shortList"],
        json!([{"id": "acme", "rank": 1}, {"id": "initech", "rank": 3}])
    );
    assert_eq!(h["bottom"]["totals"]["attendees"], 3);

    let count = || async {
        app.graphql_ok(query, json!({})).await["hourglass"]["bottom"]["organizationCount"].clone()
    };
    let stages = |list: &str| {
        format!(
            "mutation {{ updateWorkspace(slug: \"deep\", input: {{lifecycleStages: {list}}}) {{ lifecycleStages }} }}"
        )
    };
    // Stages that leave VISITOR out: globex's dee, first seen in events, is still no
    // lead.
    app.graphql_ok(
        &stages(r#"["LEAD", "MQL", "SQL", "OPPORTUNITY", "CUSTOMER"]"#),
        json!({}),
    )
    .await;
    assert_eq!(count().await, 2, "a VISITOR is no lead, listed or not");
    // An agency's own stage makes nobody a lead until the workspace lists it ...
    let mut oql = ev("st3", "STAGE_CHANGE", 50, "dee", "globex", None);
    oql["properties"] = json!({"to": "OQL"});
    app.graphql_ok(INGEST, json!({"events": [oql]})).await;
    assert_eq!(count().await, 2, "OQL is not configured yet");
    // ... and between LEAD and MQL it brings globex in.
    app.graphql_ok(
        &stages(r#"["VISITOR", "LEAD", "OQL", "MQL", "SQL", "OPPORTUNITY", "CUSTOMER"]"#),
        json!({}),
    )
    .await;
    assert_eq!(count().await, 3);

    let bad = app
        .graphql("mutation { updateWorkspace(slug: \"deep\", input: {lifecycleStages: [\"VISITOR\", \"MQL\"]}) { slug } }", json!({}))
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
    let bad = app
        .graphql("mutation { updateWorkspace(slug: \"deep\", input: {fullStayThreshold: 1.5}) { slug } }", json!({}))
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
}

async fn the_full_stay_threshold_is_a_workspace_setting(backend: Backend) {
    let Some(app) = seeded(backend).await else {
        return;
    };
    let full =
        "{ organization(workspace: \"deep\", id: \"acme\") { depth { fullStayAttendees } } }";
    assert_eq!(
        app.graphql_ok(full, json!({})).await["organization"]["depth"]["fullStayAttendees"],
        1
    );
    app.graphql_ok("mutation { updateWorkspace(slug: \"deep\", input: {fullStayThreshold: 0.8}) { fullStayThreshold } }", json!({})).await;
    assert_eq!(
        app.graphql_ok(full, json!({})).await["organization"]["depth"]["fullStayAttendees"],
        2,
        "bob's 3000 s now count"
    );
}

/// Contacts described through the API: their e-mail addresses make shares to them
/// internal, and a share to one's own address never is.
async fn described_contacts_make_shares_internal_by_address_but_not_to_oneself(backend: Backend) {
    let Some(app) = seeded(backend).await else {
        return;
    };
    let described = app
        .graphql_ok(
            "mutation {
                ann: describeContact(workspace: \"deep\", id: \"ann\", input: {email: \" Ann@Acme.com \", name: \"Ann Lee\", title: \"CMO\"}) { id organization email name title stage }
                fay: describeContact(workspace: \"deep\", id: \"fay\", input: {email: \"fay@partner.example\", organization: \"acme\"}) { id organization email stage }
            }",
            json!({}),
        )
        .await;
    assert_eq!(
        described["ann"],
        json!({"id": "ann", "organization": "acme", "email": "ann@acme.com",
               "name": "Ann Lee", "title": "CMO", "stage": "LEAD"})
    );
    assert_eq!(
        described["fay"],
        json!({"id": "fay", "organization": "acme", "email": "fay@partner.example", "stage": "VISITOR"}),
        "a contact no event named yet is created"
    );
    let internal =
        "{ organization(workspace: \"deep\", id: \"acme\") { depth { internalShares } } }";
    let shares = || async {
        app.graphql_ok(internal, json!({})).await["organization"]["depth"]["internalShares"].clone()
    };
    assert_eq!(shares().await, 1, "the seeded share to bob");
    // Ann shares to her own address (at acme's domain: not a colleague), to fay's
    // address (at a partner's domain: a colleague by her address) and outside.
    let mut events = Vec::new();
    for (id, to) in [
        ("s3", "ann@acme.com"),
        ("s4", "FAY@partner.example"),
        ("s5", "x@elsewhere.org"),
    ] {
        let mut share = ev(id, "SHARE", 50, "ann", "acme", Some("web"));
        share["properties"] = json!({"recipient": to});
        events.push(share);
    }
    app.graphql_ok(INGEST, json!({"events": events})).await;
    assert_eq!(shares().await, 2, "bob, and fay by her address");

    for (input, code) in [
        ("{email: \"not an address\"}", "BAD_USER_INPUT"),
        ("{organization: \"nobody\"}", "NOT_FOUND"),
        ("{name: \"\"}", "BAD_USER_INPUT"),
    ] {
        let bad = app
            .graphql(
                &format!("mutation {{ describeContact(workspace: \"deep\", id: \"ann\", input: {input}) {{ id }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(error_code(&bad), code, "{input}");
    }
}

/// The people of an account: who attended and for how long, who stayed to the end,
/// who asked, as counted from the seeded events.
async fn an_organizations_people_show_who_stayed_and_who_asked(backend: Backend) {
    let Some(app) = seeded(backend).await else {
        return;
    };
    let query = "query($filter: KpiFilterInput) { organization(workspace: \"deep\", id: \"acme\") {
        people(filter: $filter) { contact name title stage events attendedSeconds stayedToEnd questions internalShares assets } } }";
    app.graphql_ok(
        "mutation { describeContact(workspace: \"deep\", id: \"ann\", input: {name: \"Ann Lee\", title: \"CMO\"}) { id } }",
        json!({}),
    )
    .await;
    let people = |filter: Value| {
        let app = &app;
        async move {
            app.graphql_ok(query, json!({"filter": filter})).await["organization"]["people"].clone()
        }
    };
    let person = |contact: &str,
                  events: u64,
                  seconds: f64,
                  stayed: bool,
                  questions: u64,
                  shares: u64| {
        // Ann was described and reached LEAD; the others are as events left them.
        let (name, title, stage) = match contact {
            "ann" => (json!("Ann Lee"), json!("CMO"), "LEAD"),
            _ => (json!(null), json!(null), "VISITOR"),
        };
        json!({"contact": contact, "name": name, "title": title, "stage": stage, "events": events,
               "attendedSeconds": seconds, "stayedToEnd": stayed,
               "questions": questions, "internalShares": shares, "assets": 1})
    };
    // Ann: two attendances (3,500 of 3,600 s), a share to bob, one outside, her stage
    // change; bob: 3,000 s and a question; cy: 1,000 s.
    assert_eq!(
        people(json!(null)).await,
        json!([
            person("ann", 5, 3500.0, true, 0, 1),
            person("bob", 2, 3000.0, false, 1, 0),
            person("cy", 1, 1000.0, false, 0, 0),
        ])
    );
    // Before minute 4: the attendances only.
    assert_eq!(
        people(json!({"to": "2026-04-01T10:04:00Z"})).await,
        json!([
            person("ann", 2, 3500.0, true, 0, 0),
            person("bob", 1, 3000.0, false, 0, 0),
            person("cy", 1, 1000.0, false, 0, 0),
        ])
    );
}

on_both_backends!(
    an_organizations_people_show_who_stayed_and_who_asked,
    described_contacts_make_shares_internal_by_address_but_not_to_oneself,
    depth_on_a_page_of_organizations_is_per_organization_and_filter,
    the_short_list_ranks_accounts_and_shows_why,
    the_hourglass_answers_both_halves_and_the_bottom_starts_at_lead,
    the_full_stay_threshold_is_a_workspace_setting,
);
