//! Depth per lead over HTTP: the ranked list of leads, one contact's lead score
//! explained part by part, and the named people behind a webinar's counts — held to
//! a reference worked out in this file from the events sent, on both backends.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use hourglass_tests::{Backend, TestApp, error_code, on_both_backends};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const WS: &str = "leads";
/// The webinar's running time; staying to the end is 90 % of it (the default).
const WEBINAR_SECONDS: f64 = 3600.0;
/// Default depth weights (domain.md / README): engaged 1, attended 2, full stay 3,
/// asked 3, info request 4, internal share 2, followed a colleague 1, asset 1.
const WEIGHTS: [f64; 8] = [1.0, 2.0, 3.0, 3.0, 4.0, 2.0, 1.0, 1.0];

#[derive(Debug, Clone)]
struct Sent {
    id: String,
    kind: &'static str,
    at: DateTime<Utc>,
    contact: Option<String>,
    organization: Option<&'static str>,
    asset: Option<&'static str>,
    value: Option<f64>,
    recipient: Option<String>,
}

impl Sent {
    fn json(&self) -> Value {
        let mut e = json!({
            "messageId": self.id, "kind": self.kind,
            "occurredAt": self.at.to_rfc3339(),
            "contactId": self.contact, "organizationId": self.organization,
            "assetId": self.asset, "value": self.value,
        });
        if self.contact.is_none() {
            e["anonymousId"] = json!(format!("anon-{}", self.id));
        }
        if let Some(r) = &self.recipient {
            e["properties"] = json!({ "recipient": r });
        }
        e
    }
}

/// Whose organization a contact is, when it has one: acme's people, initech's, and
/// free agents whose events name no organization. Some events of acme's people do not
/// name acme (a tracker that knows the person, not the account).
fn home(contact: usize) -> Option<&'static str> {
    match contact % 3 {
        0 => Some("acme"),
        1 => Some("initech"),
        _ => None,
    }
}

/// 700 random events over four days, from 18 contacts and some anonymous visitors.
fn random_events() -> Vec<Sent> {
    let mut rng = StdRng::seed_from_u64(20261130);
    let start: DateTime<Utc> = "2026-05-04T00:00:00Z".parse().unwrap();
    (0..700)
        .map(|i| {
            let contact = rng.random_range(0..20usize);
            let anonymous = contact >= 18;
            let organization = if anonymous || rng.random_bool(0.2) {
                None
            } else {
                home(contact)
            };
            let asset = ["web", "guide", "lp"][rng.random_range(0..3)];
            let (kind, asset, value) = match rng.random_range(0..10) {
                0..=2 => ("PAGE_VIEW", Some(asset), None),
                3..=4 => (
                    "ATTENDANCE",
                    Some("web"),
                    Some(f64::from(rng.random_range(60..1500))),
                ),
                5 => ("QUESTION", Some("web"), None),
                6 => ("INFO_REQUEST", None, None),
                7 => ("SHARE", Some("guide"), None),
                8 => ("DOWNLOAD", Some("guide"), None),
                _ => ("CLICK", Some(asset), None),
            };
            let recipient = (kind == "SHARE").then(|| {
                match rng.random_range(0..4) {
                    0 => format!("c{}", rng.random_range(0..18)), // maybe a colleague
                    1 => format!("c{contact}"),                   // oneself
                    2 => "someone@acme.com".to_owned(),
                    _ => "x@elsewhere.org".to_owned(),
                }
            });
            Sent {
                id: format!("e{i}"),
                kind,
                at: start + Duration::minutes(rng.random_range(0..4 * 24 * 60)),
                contact: (!anonymous).then(|| format!("c{contact}")),
                organization,
                asset,
                value,
                recipient,
            }
        })
        .collect()
}

/// One person's engagement, worked out from the events as domain.md and the README
/// define it.
#[derive(Debug, Default, Clone, PartialEq)]
struct Expected {
    events: u64,
    attended: bool,
    seconds: f64,
    stayed: bool,
    questions: u64,
    info_requests: u64,
    internal_shares: u64,
    followed: bool,
    assets: u64,
    score: f64,
}

fn expected(events: &[&Sent]) -> BTreeMap<String, Expected> {
    let domain = |org: &str| format!("@{org}.com");
    // First engager per (organization, asset): earliest instant, then smaller id.
    let mut first: HashMap<(&str, &str), (DateTime<Utc>, &str)> = HashMap::new();
    for e in events {
        if let (Some(org), Some(asset), Some(c)) = (e.organization, e.asset, &e.contact) {
            let f = first.entry((org, asset)).or_insert((e.at, c));
            *f = (*f).min((e.at, c.as_str()));
        }
    }
    let mut out: BTreeMap<String, Expected> = BTreeMap::new();
    let mut seconds_on: HashMap<(&str, &str), f64> = HashMap::new();
    let mut assets: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for e in events {
        let Some(c) = &e.contact else { continue };
        let x = out.entry(c.clone()).or_default();
        x.events += 1;
        if let Some(asset) = e.asset {
            assets.entry(c).or_default().insert(asset);
        }
        if let (Some(org), Some(asset)) = (e.organization, e.asset)
            && first[&(org, asset)].1 != c
        {
            x.followed = true;
        }
        match e.kind {
            "ATTENDANCE" => {
                x.attended = true;
                x.seconds += e.value.unwrap();
                *seconds_on.entry((c, e.asset.unwrap())).or_default() += e.value.unwrap();
            }
            "QUESTION" => x.questions += 1,
            "INFO_REQUEST" => x.info_requests += 1,
            "SHARE" => {
                // Internal: to another contact of the organization the event names
                // (by id), or to an address at its domain.
                let r = e.recipient.as_deref().unwrap();
                if let Some(org) = e.organization {
                    let colleague = r
                        .strip_prefix('c')
                        .and_then(|n| n.parse::<usize>().ok())
                        .is_some_and(|n| home(n) == Some(org) && r != c);
                    if colleague || r.ends_with(&domain(org)) {
                        x.internal_shares += 1;
                    }
                }
            }
            _ => {}
        }
    }
    for (c, x) in out.iter_mut() {
        x.stayed = seconds_on
            .iter()
            .any(|((who, _), s)| who == c && *s >= 0.9 * WEBINAR_SECONDS);
        x.assets = assets.get(c.as_str()).map_or(0, |a| a.len() as u64);
        let parts = [
            1.0,
            f64::from(u8::from(x.attended)),
            f64::from(u8::from(x.stayed)),
            f64::from(u8::from(x.questions > 0)),
            x.info_requests as f64,
            x.internal_shares as f64,
            f64::from(u8::from(x.followed)),
            x.assets as f64,
        ];
        x.score = parts.iter().zip(WEIGHTS).map(|(p, w)| p * w).sum();
    }
    out
}

/// Contacts ranked as the README says: score, then events, then id.
fn ranked(expected: &BTreeMap<String, Expected>) -> Vec<(String, Expected)> {
    let mut list: Vec<(String, Expected)> = expected
        .iter()
        .map(|(c, x)| (c.clone(), x.clone()))
        .collect();
    list.sort_by(|(a, x), (b, y)| {
        y.score
            .total_cmp(&x.score)
            .then(y.events.cmp(&x.events))
            .then_with(|| a.cmp(b))
    });
    list
}

fn actual(person: &Value) -> Expected {
    Expected {
        events: person["events"].as_u64().unwrap(),
        attended: person["attended"].as_bool().unwrap(),
        seconds: person["attendedSeconds"].as_f64().unwrap(),
        stayed: person["stayedToEnd"].as_bool().unwrap(),
        questions: person["questions"].as_u64().unwrap(),
        info_requests: person["infoRequests"].as_u64().unwrap(),
        internal_shares: person["internalShares"].as_u64().unwrap(),
        followed: person["followedColleague"].as_bool().unwrap(),
        assets: person["assets"].as_u64().unwrap(),
        score: person["leadScore"].as_f64().unwrap(),
    }
}

const PERSON: &str = "contact organization stage leadScore events attended attendedSeconds
  stayedToEnd questions infoRequests internalShares followedColleague assets
  contributions { part count weight points }";

async fn seeded(backend: Backend) -> Option<(TestApp, Vec<Sent>)> {
    let app = TestApp::spawn(backend).await?;
    app.create_workspace(WS).await;
    app.graphql_ok(
        "mutation($ws: ID!) {
            lp: createAsset(workspace: $ws, input: {id: \"lp\", kind: LANDING_PAGE}) { id }
            web: createAsset(workspace: $ws, input: {id: \"web\", kind: WEBINAR, durationSeconds: 3600, landingPage: \"lp\"}) { id }
            guide: createAsset(workspace: $ws, input: {id: \"guide\", kind: WHITEPAPER}) { id }
            acme: createOrganization(workspace: $ws, input: {id: \"acme\", domain: \"acme.com\"}) { id }
            initech: createOrganization(workspace: $ws, input: {id: \"initech\", domain: \"initech.com\"}) { id }
        }",
        json!({ "ws": WS }),
    )
    .await;
    let mut events = random_events();
    let send = |batch: &[Sent]| {
        let body: String = batch.iter().map(|e| format!("{}\n", e.json())).collect();
        let app = &app;
        async move {
            let response = app.post_ndjson(WS, body).await;
            let status = response.status();
            assert!(
                status.is_success(),
                "{status} {}",
                response.text().await.unwrap()
            );
        }
    };
    // The events that name no organization arrive before the CRM says who works
    // where, so they belong to none; afterwards an event gets its contact's
    // organization at ingest. So some people have events in both groups.
    let (unnamed, named): (Vec<Sent>, Vec<Sent>) = events
        .iter()
        .cloned()
        .partition(|e| e.organization.is_none());
    for batch in unnamed.chunks(350) {
        send(batch).await;
    }
    for c in 0..18 {
        if let Some(org) = home(c) {
            app.graphql_ok(
                "mutation($ws: ID!, $id: ID!, $org: ID!) {
                    describeContact(workspace: $ws, id: $id, input: {organization: $org}) { id }
                }",
                json!({ "ws": WS, "id": format!("c{c}"), "org": org }),
            )
            .await;
        }
    }
    for batch in named.chunks(350) {
        send(batch).await;
    }
    // The reference reads each event's organization as stored, whichever way ingest
    // arrived at it.
    let stored = stored_organizations(&app).await;
    for e in &mut events {
        e.organization = stored[&e.id];
    }
    assert!(
        events
            .iter()
            .any(|e| e.contact.is_some() && e.organization.is_none() && home_of(e).is_some()),
        "some of an organization's people have events that name none"
    );
    // Three contacts move on, so that a stage filter has something to keep.
    let stage = |id: &str, c: &str, to: &str| {
        json!({"messageId": id, "kind": "STAGE_CHANGE", "contactId": c,
               "occurredAt": "2026-05-01T00:00:00Z", "properties": {"to": to}})
    };
    let answer = app
        .graphql_ok(
            "mutation($ws: ID!, $events: [EventInput!]!) {
                ingestEvents(workspace: $ws, events: $events) { accepted rejected { code } }
            }",
            json!({ "ws": WS, "events": [stage("st1", "c0", "MQL"), stage("st2", "c2", "MQL"), stage("st3", "c4", "LEAD")] }),
        )
        .await;
    assert_eq!(answer["ingestEvents"]["accepted"], 3, "{answer}");
    Some((app, events))
}

/// Each stored event's organization, by message id.
async fn stored_organizations(app: &TestApp) -> HashMap<String, Option<&'static str>> {
    let mut found = HashMap::new();
    let mut after = Value::Null;
    loop {
        let data = app
            .graphql_ok(
                "query($ws: ID!, $after: String) { events(workspace: $ws, first: 100, after: $after) {
                    pageInfo { hasNextPage endCursor } nodes { messageId organization } } }",
                json!({"ws": WS, "after": after}),
            )
            .await;
        let page = &data["events"];
        for node in page["nodes"].as_array().unwrap() {
            let organization = match node["organization"].as_str() {
                Some("acme") => Some("acme"),
                Some("initech") => Some("initech"),
                Some(other) => panic!("an organization no event named: {other}"),
                None => None,
            };
            found.insert(node["messageId"].as_str().unwrap().to_owned(), organization);
        }
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            return found;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

/// The organization of an event's contact, if it has one.
fn home_of(e: &Sent) -> Option<&'static str> {
    let n: usize = e.contact.as_deref()?.strip_prefix('c')?.parse().ok()?;
    home(n)
}

/// From the middle of the first day to the middle of the last: whole days from the
/// aggregate layer, ragged edges from raw events.
const FROM: &str = "2026-05-04T13:30:00Z";
const TO: &str = "2026-05-07T09:15:00Z";

fn in_range(events: &[Sent]) -> Vec<&Sent> {
    let (from, to): (DateTime<Utc>, DateTime<Utc>) = (FROM.parse().unwrap(), TO.parse().unwrap());
    events
        .iter()
        .filter(|e| e.at >= from && e.at < to)
        .collect()
}

async fn the_ranked_list_of_leads_matches_the_reference(backend: Backend) {
    let Some((app, events)) = seeded(backend).await else {
        return;
    };
    let reference = ranked(&expected(&in_range(&events)));
    assert!(reference.len() >= 15, "every contact engages in the range");
    let query = format!(
        "query($ws: ID!, $after: String) {{
          contacts(workspace: $ws, orderBy: DEPTH, filter: {{from: \"{FROM}\", to: \"{TO}\"}}, first: 7, after: $after) {{
            pageInfo {{ hasNextPage endCursor }}
            edges {{ node {{ id rank stage depth {{ {PERSON} }} }} }}
          }}
        }}"
    );
    let mut listed = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = app
            .graphql_ok(&query, json!({"ws": WS, "after": after}))
            .await;
        let page = &data["contacts"];
        listed.extend(
            page["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"].clone()),
        );
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    let got: Vec<(String, Expected)> = listed
        .iter()
        .map(|n| (n["id"].as_str().unwrap().to_owned(), actual(&n["depth"])))
        .collect();
    assert_eq!(got, reference);
    let ranks: Vec<u64> = listed.iter().map(|n| n["rank"].as_u64().unwrap()).collect();
    assert_eq!(ranks, (1..=reference.len() as u64).collect::<Vec<_>>());

    // The score is explained part by part, and the parts add up to it.
    let top = &listed[0]["depth"];
    let points: f64 = top["contributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_f64().unwrap() * c["weight"].as_f64().unwrap())
        .sum();
    assert_eq!(points, top["leadScore"].as_f64().unwrap());

    // A stage filter keeps the list's order among the contacts at those stages.
    let mqls = app
        .graphql_ok(
            &format!(
                "query($ws: ID!) {{ contacts(workspace: $ws, orderBy: DEPTH, stages: [\"MQL\"],
                   filter: {{from: \"{FROM}\", to: \"{TO}\"}}) {{ edges {{ node {{ id rank stage }} }} }} }}"
            ),
            json!({"ws": WS}),
        )
        .await;
    let order: Vec<&str> = reference
        .iter()
        .map(|(c, _)| c.as_str())
        .filter(|c| ["c0", "c2"].contains(c))
        .collect();
    let got: Vec<(&str, u64, &str)> = mqls["contacts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let n = &e["node"];
            (
                n["id"].as_str().unwrap(),
                n["rank"].as_u64().unwrap(),
                n["stage"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, vec![(order[0], 1, "MQL"), (order[1], 2, "MQL")]);
}

async fn one_contacts_depth_and_a_webinars_people(backend: Backend) {
    let Some((app, events)) = seeded(backend).await else {
        return;
    };
    let reference = expected(&in_range(&events));
    // One contact's depth within the range, and one with no event in a range of
    // its own: a zero score with every part shown.
    let data = app
        .graphql_ok(
            &format!(
                "query($ws: ID!) {{
                  a: contact(workspace: $ws, id: \"c5\") {{ depth(filter: {{from: \"{FROM}\", to: \"{TO}\"}}) {{ {PERSON} }} }}
                  b: contact(workspace: $ws, id: \"c5\") {{ depth(filter: {{from: \"2020-01-01T00:00:00Z\", to: \"2020-01-02T00:00:00Z\"}}) {{ leadScore events contributions {{ part count }} }} }}
                }}"
            ),
            json!({"ws": WS}),
        )
        .await;
    assert_eq!(actual(&data["a"]["depth"]), reference["c5"]);
    assert_eq!(data["b"]["depth"]["leadScore"], 0.0);
    assert_eq!(
        data["b"]["depth"]["contributions"]
            .as_array()
            .unwrap()
            .len(),
        8
    );

    // The webinar's attendees within the range: each with their seconds on it, full
    // stay, questions, and colleagues who also came.
    let on_webinar: Vec<&Sent> = in_range(&events)
        .into_iter()
        .filter(|e| e.asset == Some("web"))
        .collect();
    let webinar = expected(&on_webinar);
    let attendees: Vec<(String, Expected)> = ranked(&webinar)
        .into_iter()
        .filter(|(_, x)| x.attended)
        .collect();
    let data = app
        .graphql_ok(
            &format!(
                "query($ws: ID!) {{ asset(workspace: $ws, id: \"web\") {{
                  people(who: ATTENDED, filter: {{from: \"{FROM}\", to: \"{TO}\"}}, first: 100) {{
                    edges {{ node {{ rank colleagues person {{ {PERSON} }} }} }}
                  }}
                  stayed: people(who: STAYED_TO_END, filter: {{from: \"{FROM}\", to: \"{TO}\"}}) {{ edges {{ node {{ person {{ contact }} }} }} }}
                }} }}"
            ),
            json!({"ws": WS}),
        )
        .await;
    let nodes: Vec<&Value> = data["asset"]["people"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .collect();
    let got: Vec<(String, Expected)> = nodes
        .iter()
        .map(|n| {
            let p = &n["person"];
            (p["contact"].as_str().unwrap().to_owned(), actual(p))
        })
        .collect();
    assert_eq!(got, attendees);
    // Colleagues: the others on the list whose webinar events name the same
    // organization.
    let org_of = |c: &str| -> Option<&str> {
        nodes
            .iter()
            .find(|n| n["person"]["contact"] == c)
            .and_then(|n| n["person"]["organization"].as_str())
    };
    for n in &nodes {
        let me = n["person"]["contact"].as_str().unwrap();
        let mut want: Vec<&str> = attendees
            .iter()
            .map(|(c, _)| c.as_str())
            .filter(|c| *c != me && org_of(me).is_some() && org_of(c) == org_of(me))
            .collect();
        want.sort_unstable();
        let mut colleagues: Vec<&str> = n["colleagues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        colleagues.sort_unstable();
        assert_eq!(colleagues, want, "colleagues of {me}");
    }
    assert!(
        nodes.iter().any(|n| n["person"]["organization"].is_null()),
        "contacts whose events name no organization are listed"
    );
    let stayed: Vec<&str> = data["asset"]["stayed"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["person"]["contact"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = attendees
        .iter()
        .filter(|(_, x)| x.stayed)
        .map(|(c, _)| c.as_str())
        .collect();
    assert!(!want.is_empty(), "someone stayed to the end");
    assert_eq!(stayed, want);

    // The asset is the list's own: naming another in the filter is refused.
    let refused = app
        .graphql(
            "query($ws: ID!) { asset(workspace: $ws, id: \"web\") { people(filter: {asset: \"guide\"}) { edges { cursor } } } }",
            json!({"ws": WS}),
        )
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");
}

async fn events_describe_their_contacts(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.create_workspace(WS).await;
    app.graphql_ok(
        // No domain: only a colleague's own address makes a share internal.
        "mutation { createOrganization(workspace: \"leads\", input: {id: \"acme\"}) { id } }",
        json!({}),
    )
    .await;
    let ingest = "mutation($events: [EventInput!]!) {
        ingestEvents(workspace: \"leads\", events: $events) { accepted duplicates rejected { index code } }
    }";
    let view = |id: &str, contact: &str| {
        json!({"messageId": id, "kind": "PAGE_VIEW", "contactId": contact,
               "organizationId": "acme", "occurredAt": "2026-05-04T10:00:00Z"})
    };
    let with_traits = |id: &str, contact: &str, traits: Value| {
        let mut e = view(id, contact);
        e["contactTraits"] = traits;
        e
    };
    let answer = app
        .graphql_ok(
            ingest,
            json!({"events": [
                with_traits("t1", "ann", json!({"email": " Ann.Lee@ACME.com", "name": "Ann Lee", "title": "CFO"})),
                with_traits("t2", "bob", json!({"email": "bob@acme.com"})),
                with_traits("t3", "cy", json!({"email": "no address"})),
                json!({"messageId": "t4", "kind": "PAGE_VIEW", "anonymousId": "v1",
                       "occurredAt": "2026-05-04T10:00:00Z", "contactTraits": {"name": "Vee"}}),
            ]}),
        )
        .await;
    assert_eq!(answer["ingestEvents"]["accepted"], 2);
    assert_eq!(
        answer["ingestEvents"]["rejected"],
        json!([{"index": 2, "code": "INVALID_CONTACT_TRAITS"}, {"index": 3, "code": "INVALID_CONTACT_TRAITS"}])
    );
    // Over NDJSON: a later title for ann, the other traits kept; a resent t1 with other
    // traits is a duplicate and changes nothing.
    let lines = [
        with_traits("t5", "ann", json!({"title": "CEO"})),
        with_traits("t1", "ann", json!({"name": "Someone Else"})),
    ];
    let body: String = lines.iter().map(|e| format!("{e}\n")).collect();
    let response = app.post_ndjson(WS, body).await;
    assert!(response.status().is_success());
    let data = app
        .graphql_ok(
            "{ ann: contact(workspace: \"leads\", id: \"ann\") { email name title }
               bob: contact(workspace: \"leads\", id: \"bob\") { email name title } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data,
        json!({"ann": {"email": "ann.lee@acme.com", "name": "Ann Lee", "title": "CEO"},
               "bob": {"email": "bob@acme.com", "name": null, "title": null}})
    );

    // The address an event gave makes a share to it internal, and a share to one's own
    // address is not.
    let share = |id: &str, from: &str, to: &str| {
        json!({"messageId": id, "kind": "SHARE", "contactId": from, "organizationId": "acme",
               "occurredAt": "2026-05-04T11:00:00Z", "properties": {"recipient": to}})
    };
    app.graphql_ok(
        ingest,
        json!({"events": [share("s1", "bob", "ANN.LEE@acme.com"), share("s2", "bob", "bob@acme.com")]}),
    )
    .await;
    let data = app
        .graphql_ok(
            "{ contact(workspace: \"leads\", id: \"bob\") { depth { internalShares name } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["contact"]["depth"]["internalShares"], 1);
}

on_both_backends!(
    events_describe_their_contacts,
    the_ranked_list_of_leads_matches_the_reference,
    one_contacts_depth_and_a_webinars_people,
);
