//! Tests of the script sandbox, on hand-built organizations.

mod abuse;
mod engine;
mod helpers;

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, json};

use super::*;
use crate::engagement::{AssetInfo, ContactInfo, EngagementEvent, OrgInfo, OrgRecords};
use crate::kinds::{AssetKind, EventKind};

/// 2026-04-01T10:00:00Z plus `minutes`.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 1, 10, 0, 0).single().unwrap()
        + chrono::Duration::minutes(minutes)
}

fn ev(kind: EventKind, minutes: i64, contact: Option<&str>) -> EngagementEvent {
    EngagementEvent {
        kind,
        at: at(minutes),
        contact: contact.map(str::to_owned),
        asset: None,
        campaign: Some("spring".into()),
        channel: Some("webinar".into()),
        value: None,
        properties: Map::new(),
    }
}

fn attend(minutes: i64, contact: &str, asset: &str, seconds: f64) -> EngagementEvent {
    EngagementEvent {
        asset: Some(asset.into()),
        value: Some(seconds),
        ..ev(EventKind::Attendance, minutes, Some(contact))
    }
}

fn share(minutes: i64, contact: &str, recipient: Option<&str>) -> EngagementEvent {
    let mut e = ev(EventKind::Share, minutes, Some(contact));
    if let Some(r) = recipient {
        e.properties.insert("recipient".into(), json!(r));
    }
    e
}

fn contact(id: &str, stage: &str, email: Option<&str>) -> ContactInfo {
    ContactInfo {
        id: id.into(),
        stage: stage.into(),
        email: email.map(str::to_owned),
    }
}

fn org(id: &str, events: Vec<EngagementEvent>, contacts: Vec<ContactInfo>) -> OrgRecords {
    OrgRecords {
        organization: OrgInfo {
            id: id.into(),
            name: Some(format!("{id} Inc.")),
            domain: Some(format!("{id}.com")),
            stage: Some("MQL".into()),
            contact_count: contacts.len() as u64,
        },
        events,
        facts: Vec::new(),
        contacts,
    }
}

fn shared() -> SharedInput {
    let mut params = Map::new();
    params.insert("full_stay".into(), json!(0.9));
    params.insert("min_attendees".into(), json!(3));
    params.insert("webinar".into(), json!("web"));
    params.insert(
        "nested".into(),
        json!({ "list": [1, 2.5, "x", null, true] }),
    );
    SharedInput {
        assets: vec![
            AssetInfo {
                id: "web".into(),
                kind: Some(AssetKind::Webinar),
                title: Some("Spring webinar".into()),
                duration_seconds: Some(3600),
            },
            AssetInfo {
                id: "vid".into(),
                kind: Some(AssetKind::Video),
                title: None,
                duration_seconds: Some(100),
            },
            AssetInfo {
                id: "paper".into(),
                kind: Some(AssetKind::Whitepaper),
                title: Some("Paper".into()),
                duration_seconds: None,
            },
        ],
        params,
        now: at(24 * 60),
        campaign: Some("spring".into()),
        asset: None,
        from: Some(at(-24 * 60)),
        to: Some(at(24 * 60)),
    }
}

/// The hot account of domain.md: four attendees (ann stayed: 3000 + 400 of 3600 s;
/// dan fell just short at 3239 s), two questions, four internal shares of six.
fn acme() -> OrgRecords {
    let mut events = vec![
        ev(EventKind::PageView, 0, Some("ann")),
        ev(EventKind::Registration, 1, Some("ann")),
        attend(10, "ann", "web", 3000.0),
        attend(11, "bob", "web", 1800.0),
        attend(12, "cat", "web", 600.0),
        attend(13, "dan", "web", 3239.0),
        attend(14, "ann", "web", 400.0),
        attend(15, "eve", "vid", 50.0),
        ev(EventKind::Question, 20, Some("ann")),
        ev(EventKind::Question, 21, Some("bob")),
        share(30, "ann", Some("bob")),
        share(31, "ann", Some("carol@acme.com")),
        share(32, "bob", Some("friend@gmail.com")),
        share(33, "cat", Some("dan@ACME.com")),
        share(34, "cat", Some("someone@eu.acme.com")),
        share(35, "dan", None),
        ev(EventKind::PageView, 40, None),
    ];
    events[0].asset = Some("paper".into());
    org(
        "acme",
        events,
        vec![
            contact("ann", "MQL", Some("ann@acme.com")),
            contact("bob", "LEAD", Some("bob@acme.com")),
            contact("cat", "LEAD", None),
            contact("dan", "SQL", Some("dan@acme.com")),
            contact("eve", "LEAD", Some("eve@acme.com")),
        ],
    )
}

const HOT_ACCOUNT: &str = r#"
// Hot when >= 3 people attended, one stayed to the end and one asked a question.
let webinar = of_asset(events, params.webinar ?? filter.asset);
let attendees = contacts_with(webinar, "ATTENDANCE").len();
let stayed = full_stay(webinar, assets, params.full_stay ?? 0.9).len();
let questions = count(events, "QUESTION");
let shares = internal_shares(events, org, contacts);
let hot = attendees >= params.min_attendees && stayed >= 1 && questions >= 1;
#{
    value: attendees * 2 + questions * 3 + shares,
    label: if hot { "hot" } else { "not hot" },
    breakdown: #{ attendees: attendees, stayed: stayed, questions: questions, shares: shares }
}
"#;

fn engine() -> ScriptEngine {
    ScriptEngine::new(ScriptLimits::default())
}

fn later(secs: u64) -> QueryDeadline {
    QueryDeadline::new(Instant::now() + Duration::from_secs(secs))
}

/// Compiles and runs `source` for `records` with the default limits.
fn run_on(records: &OrgRecords, source: &str) -> Result<ScriptOutput, ScriptError> {
    let engine = engine();
    let script = engine.compile(source)?;
    engine.run(&script, records, &shared(), &later(30))
}

/// Runs `source` for acme and returns its value.
fn value(source: &str) -> f64 {
    match run_on(&acme(), source) {
        Ok(out) => out.value,
        Err(e) => panic!("{source}\nfailed: {e} ({:?})", e.kind),
    }
}

/// Runs `source` for acme and returns its label.
fn label(source: &str) -> String {
    match run_on(&acme(), source) {
        Ok(out) => out.label.unwrap_or_default(),
        Err(e) => panic!("{source}\nfailed: {e} ({:?})", e.kind),
    }
}

/// Runs `source` for acme and returns the error.
fn error(source: &str) -> ScriptError {
    match run_on(&acme(), source) {
        Ok(out) => panic!("{source}\nsucceeded with {out:?}"),
        Err(e) => e,
    }
}
