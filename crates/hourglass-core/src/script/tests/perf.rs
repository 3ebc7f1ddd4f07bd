//! The hot-account KPI over 1,000,000 events in 10,000 organizations, as a script and
//! in native Rust. Ignored by default (slow in debug builds); run with
//! `cargo test -p hourglass-core --release -- --ignored --nocapture script_vs_native`.

use std::collections::{HashMap, HashSet};

use super::*;

fn population() -> Vec<OrgRecords> {
    let kinds = [
        EventKind::PageView,
        EventKind::Click,
        EventKind::Attendance,
        EventKind::Share,
        EventKind::Question,
    ];
    (0..10_000)
        .map(|o| {
            let events = (0..100)
                .map(|i| {
                    let kind = kinds[(i + o) % kinds.len()];
                    let who = format!("c{}", (i * 7 + o) % 12);
                    match kind {
                        EventKind::Attendance => {
                            attend(i as i64, &who, "web", 300.0 * ((i % 5) as f64))
                        }
                        EventKind::Share if i % 2 == 0 => share(i as i64, &who, Some("c3")),
                        EventKind::Share => {
                            share(i as i64, &who, Some(&format!("x{i}@org{o}.com")))
                        }
                        _ => ev(kind, i as i64, Some(&who)),
                    }
                })
                .collect();
            let contacts = (0..12)
                .map(|c| contact(&format!("c{c}"), "LEAD", None))
                .collect();
            org(&format!("org{o}"), events, contacts)
        })
        .collect()
}

/// The same KPI written directly in Rust.
fn native(records: &OrgRecords, assets: &[AssetInfo]) -> f64 {
    let durations: HashMap<&str, f64> = assets
        .iter()
        .filter_map(|a| a.duration_seconds.map(|d| (a.id.as_str(), f64::from(d))))
        .collect();
    let mut attendees = HashSet::new();
    let mut seconds: HashMap<(&str, &str), f64> = HashMap::new();
    let mut questions = 0;
    let mut shares = 0;
    let ids: HashSet<&str> = records.contacts.iter().map(|c| c.id.as_str()).collect();
    let domain = records.organization.domain.as_deref().unwrap_or("");
    for e in &records.events {
        match e.kind {
            EventKind::Attendance if e.asset.as_deref() == Some("web") => {
                if let (Some(c), Some(v)) = (e.contact.as_deref(), e.value) {
                    attendees.insert(c);
                    *seconds.entry((c, "web")).or_default() += v;
                }
            }
            EventKind::Question => questions += 1,
            EventKind::Share => {
                if let Some(serde_json::Value::String(r)) = e.properties.get("recipient")
                    && (ids.contains(r.as_str())
                        || r.to_ascii_lowercase()
                            .rsplit_once('@')
                            .is_some_and(|(_, d)| d == domain))
                {
                    shares += 1;
                }
            }
            _ => {}
        }
    }
    let stayed = seconds
        .iter()
        .filter(|((_, a), s)| durations.get(a).is_some_and(|d| **s >= 0.9 * d))
        .count();
    let _hot = attendees.len() >= 3 && stayed >= 1 && questions >= 1;
    (attendees.len() * 2 + questions * 3 + shares) as f64
}

#[test]
#[ignore = "benchmark: run in release with --ignored"]
fn script_vs_native_on_a_million_events() {
    let orgs = population();
    let shared = shared();
    let engine = ScriptEngine::new(ScriptLimits::default());
    let script = engine.compile(HOT_ACCOUNT).unwrap();

    let started = Instant::now();
    let expected: Vec<f64> = orgs.iter().map(|o| native(o, &shared.assets)).collect();
    let native_time = started.elapsed();

    let trivial = engine.compile("1").unwrap();
    let started = Instant::now();
    engine.run_all(&trivial, &orgs, &shared, later(600), 1);
    println!("overhead of a trivial script: {:?}", started.elapsed());
    for threads in [1, 2] {
        let started = Instant::now();
        let results = engine.run_all(&script, &orgs, &shared, later(600), threads);
        let script_time = started.elapsed();
        for (r, want) in results.iter().zip(&expected) {
            assert_eq!(r.as_ref().unwrap().value, *want);
        }
        println!(
            "threads {threads}: script {script_time:?}, native (1 thread) {native_time:?}, ratio {:.1}",
            script_time.as_secs_f64() / native_time.as_secs_f64()
        );
    }
}

#[test]
#[ignore = "benchmark"]
fn conversion_cost() {
    let orgs = population();
    let prepared = super::super::convert::PreparedShared::new(&shared());
    let started = Instant::now();
    let mut n = 0;
    for o in &orgs {
        n += super::super::convert::run_scope(o, &prepared).len();
    }
    println!("run_scope for all: {:?} ({n})", started.elapsed());
    let engine = ScriptEngine::new(ScriptLimits::default());
    let script = engine.compile("1").unwrap();
    let started = Instant::now();
    for o in &orgs {
        let mut scope = super::super::convert::run_scope(o, &prepared);
        let _ = engine
            .engine
            .eval_ast_with_scope::<rhai::Dynamic>(&mut scope, &script.ast);
    }
    println!("run_scope + eval for all: {:?}", started.elapsed());
    let looped = engine
        .compile(r#"let n = 0; for e in events { if e.kind == "QUESTION" { n += 1; } } n"#)
        .unwrap();
    let started = Instant::now();
    let results = engine.run_all(&looped, &orgs, &shared(), later(600), 1);
    assert!(results.iter().all(|r| r.as_ref().unwrap().value == 20.0));
    println!(
        "a loop over every event in the script: {:?}",
        started.elapsed()
    );
}
