//! Custom KPI scripts against native Rust: the hot-account KPI over 1,000,000 events
//! in 10,000 organizations, both spread over the same threads.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hourglass_core::EventKind;
use hourglass_core::engagement::{AssetInfo, ContactInfo, EngagementEvent, OrgInfo, OrgRecords};
use hourglass_core::script::{QueryDeadline, ScriptEngine, ScriptLimits, SharedInput};
use serde_json::{Map, Value, json};

use crate::report::{self, Goal, Row};

const HOT_ACCOUNT: &str = include_str!("../../../scripts/kpis/hot_account.rhai");

/// A deterministic population: every organization has `per_org` events by 12 people.
fn population(organizations: usize, per_org: usize) -> Vec<OrgRecords> {
    let start = DateTime::from_timestamp(1_775_000_000, 0).unwrap_or_default();
    let kinds = [
        EventKind::PageView,
        EventKind::Click,
        EventKind::Attendance,
        EventKind::Share,
        EventKind::Question,
    ];
    (0..organizations)
        .map(|o| {
            let events = (0..per_org)
                .map(|i| {
                    let kind = kinds[(i * 7 + o) % kinds.len()];
                    let mut properties = Map::new();
                    if kind == EventKind::Share {
                        let recipient = if i % 2 == 0 {
                            "c3".to_owned()
                        } else {
                            format!("x{i}@org{o}.example")
                        };
                        properties.insert("recipient".into(), Value::String(recipient));
                    }
                    EngagementEvent {
                        kind,
                        at: start + chrono::Duration::minutes(i as i64),
                        contact: Some(format!("c{}", (i * 5 + o) % 12)),
                        asset: Some(
                            if kind == EventKind::Attendance {
                                "web"
                            } else {
                                "guide"
                            }
                            .to_owned(),
                        ),
                        campaign: None,
                        channel: None,
                        value: (kind == EventKind::Attendance).then_some(400.0 * (i % 10) as f64),
                        properties,
                    }
                })
                .collect();
            OrgRecords {
                organization: OrgInfo {
                    id: format!("org{o}"),
                    name: None,
                    domain: Some(format!("org{o}.example")),
                    stage: Some("LEAD".into()),
                    contact_count: 12,
                },
                events,
                facts: Vec::new(),
                contacts: (0..12)
                    .map(|c| ContactInfo {
                        id: format!("c{c}"),
                        stage: "LEAD".into(),
                        email: None,
                    })
                    .collect(),
            }
        })
        .collect()
}

/// The hot-account KPI written directly in Rust.
fn native(
    org: &OrgRecords,
    durations: &HashMap<&str, f64>,
    threshold: f64,
    min_attendees: usize,
) -> (f64, bool) {
    let mut attendees = HashSet::new();
    let mut seconds: HashMap<(&str, &str), f64> = HashMap::new();
    let mut askers = HashSet::new();
    let (mut questions, mut shares) = (0u32, 0u32);
    let colleagues: HashSet<&str> = org.contacts.iter().map(|c| c.id.as_str()).collect();
    let domain = org.organization.domain.as_deref().unwrap_or("");
    for e in &org.events {
        let Some(contact) = e.contact.as_deref() else {
            continue;
        };
        match e.kind {
            EventKind::Attendance => {
                attendees.insert(contact);
                if let (Some(asset), Some(v)) = (e.asset.as_deref(), e.value) {
                    *seconds.entry((contact, asset)).or_default() += v;
                }
            }
            EventKind::Question => {
                askers.insert(contact);
                questions += 1;
            }
            EventKind::Share => {
                let to = e
                    .properties
                    .get("recipient")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let at_domain = to
                    .rsplit_once('@')
                    .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain));
                if to != contact && (colleagues.contains(to) || at_domain) {
                    shares += 1;
                }
            }
            _ => {}
        }
    }
    let stayed = seconds
        .iter()
        .filter(|((_, asset), s)| durations.get(asset).is_some_and(|d| **s >= threshold * d))
        .map(|((c, _), _)| *c)
        .collect::<HashSet<_>>()
        .len();
    let value = attendees.len() as f64 * 2.0 + f64::from(questions) * 3.0 + f64::from(shares);
    (
        value,
        attendees.len() >= min_attendees && stayed >= 1 && !askers.is_empty(),
    )
}

fn parallel<T: Send>(
    orgs: &[OrgRecords],
    threads: usize,
    f: impl Fn(&OrgRecords) -> T + Sync,
) -> Vec<T> {
    let chunk = orgs.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = orgs
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<T>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

pub fn run(organizations: usize, per_org: usize) -> anyhow::Result<()> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let orgs = population(organizations, per_org);
    let assets = vec![
        AssetInfo {
            id: "web".into(),
            kind: Some(hourglass_core::AssetKind::Webinar),
            title: None,
            duration_seconds: Some(3600),
        },
        AssetInfo {
            id: "guide".into(),
            kind: Some(hourglass_core::AssetKind::Whitepaper),
            title: None,
            duration_seconds: None,
        },
    ];
    let params = json!({ "min_attendees": 3, "threshold": 0.9 });
    let shared = SharedInput {
        assets: assets.clone(),
        params: params.as_object().cloned().unwrap_or_default(),
        now: Utc::now(),
        campaign: None,
        asset: None,
        from: None,
        to: None,
    };
    let engine = ScriptEngine::new(ScriptLimits::default());
    let script = engine
        .compile(HOT_ACCOUNT)
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let started = Instant::now();
    let durations: HashMap<&str, f64> = assets
        .iter()
        .filter_map(|a| a.duration_seconds.map(|d| (a.id.as_str(), f64::from(d))))
        .collect();
    let native_values = parallel(&orgs, threads, |org| native(org, &durations, 0.9, 3));
    let native_time = started.elapsed();

    let started = Instant::now();
    let results = engine.run_all(
        &script,
        &orgs,
        &shared,
        &QueryDeadline::new(Instant::now() + Duration::from_secs(600)),
        threads,
    );
    let script_time = started.elapsed();

    let mut mismatches = 0;
    for ((value, hot), result) in native_values.iter().zip(&results) {
        match result {
            Ok(out)
                if (out.value - value).abs() < 1e-9
                    && (out.label.as_deref() == Some("hot")) == *hot => {}
            other => {
                if mismatches == 0 {
                    eprintln!("first difference: native {value} hot={hot}, script {other:?}");
                }
                mismatches += 1;
            }
        }
    }
    let row = Row::new(
        format!(
            "custom KPI 'hot account', Rhai script vs native Rust: {} events in {organizations} \
             organizations, {threads} threads",
            organizations * per_org
        ),
        script_time.as_secs_f64() * 1e3,
        "ms",
    )
    .baseline(native_time.as_secs_f64() * 1e3)
    .goal(Goal::RatioAtMost(20.0));
    report::print("Custom KPI script against native Rust", &[row]);
    anyhow::ensure!(
        mismatches == 0,
        "{mismatches} organizations differ between script and native"
    );
    println!("script and native agree on all {organizations} organizations");
    Ok(())
}
