//! The engine as a whole: the domain example, inputs, outputs, logs, compile errors,
//! parallel runs, large organizations and the cache.

use super::*;

#[test]
fn hot_account_example_scores_attendees_questions_and_internal_shares() {
    let out = run_on(&acme(), HOT_ACCOUNT).unwrap();
    // 4 webinar attendees × 2 + 2 questions × 3 + 4 internal shares.
    assert_eq!(out.value, 18.0);
    assert_eq!(out.label.as_deref(), Some("hot"));
    assert_eq!(
        out.breakdown,
        vec![
            ("attendees".to_owned(), 4.0),
            ("questions".to_owned(), 2.0),
            ("shares".to_owned(), 4.0),
            ("stayed".to_owned(), 1.0),
        ]
    );
}

#[test]
fn hot_account_needs_someone_who_stayed_to_the_end() {
    let mut records = acme();
    // ann's second attendance event is what takes her past 90 %.
    records
        .events
        .retain(|e| !(e.contact.as_deref() == Some("ann") && e.value == Some(400.0)));
    let out = run_on(&records, HOT_ACCOUNT).unwrap();
    assert_eq!(out.label.as_deref(), Some("not hot"));
    assert_eq!(out.value, 18.0, "the score does not depend on staying");
}

#[test]
fn scripts_see_org_params_time_range_filter_and_assets() {
    let s = shared();
    assert_eq!(value("org.contact_count"), 5.0);
    assert_eq!(
        label(&r#"`${org.id}|${org.name}|${org.domain}|${org.stage}`"#.pipe_label()),
        "acme|acme Inc.|acme.com|MQL"
    );
    assert_eq!(value("now"), s.now.timestamp_millis() as f64);
    assert_eq!(value("to - from"), 2.0 * 86_400_000.0);
    assert_eq!(label("#{ value: 0, label: filter.campaign }"), "spring");
    assert_eq!(value("if filter.asset == () { 1 } else { 0 }"), 1.0);
    assert_eq!(
        value("params.nested.list[1] + params.nested.list.len()"),
        7.5
    );
    assert_eq!(value(r#"assets["web"].duration + assets.len()"#), 3603.0);
    assert_eq!(
        value(r#"if assets["nope"] == () && "vid" in assets { 1 } else { 0 }"#),
        1.0
    );
    assert_eq!(
        label(r#"#{ value: 0, label: assets.get("web").title + "/" + assets["web"].kind }"#),
        "Spring webinar/WEBINAR"
    );
    assert_eq!(
        value(r#"if assets["paper"].duration == () { 1 } else { 0 }"#),
        1.0
    );
}

/// Wraps an expression into a script returning it as the label.
trait PipeLabel {
    fn pipe_label(&self) -> String;
}
impl PipeLabel for str {
    fn pipe_label(&self) -> String {
        format!("#{{ value: 0, label: {self} }}")
    }
}

#[test]
fn events_and_contacts_behave_like_read_only_lists_of_maps() {
    assert_eq!(value("events.len() + contacts.len()"), 22.0);
    assert_eq!(
        label(
            r#"#{ value: 0, label: events[2].kind + " " + events[2].contact + " " + events[2].asset }"#
        ),
        "ATTENDANCE ann web"
    );
    assert_eq!(
        value("events[2].value + events[-1].at - events[-1].at"),
        3000.0
    );
    assert_eq!(value("events[0].at"), at(0).timestamp_millis() as f64);
    assert_eq!(
        value(r#"if events[-1].contact == () && events[0].properties.len() == 0 { 1 } else { 0 }"#),
        1.0
    );
    assert_eq!(
        label(r#"#{ value: 0, label: events[11].properties.recipient }"#),
        "carol@acme.com"
    );
    assert_eq!(
        value(r#"let n = 0; for e in events { if e.kind == "SHARE" { n += 1; } } n"#),
        6.0
    );
    assert_eq!(
        value(r#"events.filter(|e| e.kind == "QUESTION").len()"#),
        2.0
    );
    assert_eq!(
        value(r#"events.filter(|e| e.value != ()).map(|e| e.value).reduce(|a, b| a + b, 0.0)"#),
        9089.0
    );
    assert_eq!(value(r#"events.reduce(|n, e| n + 1, 0)"#), 17.0);
    assert_eq!(value(r#"events.count(|e| e.contact == "cat")"#), 3.0);
    assert_eq!(value(r#"[1, 2, 3].count(|x| x > 1) + events.len"#), 19.0);
    assert_eq!(
        value(r#"events.find(|e| e.kind == "QUESTION").at - events[8].at"#),
        0.0
    );
    assert_eq!(
        value(r#"if events.find(|e| e.kind == "REVENUE") == () { 1 } else { 0 }"#),
        1.0
    );
    assert_eq!(
        value(
            r#"if events.some(|e| e.kind == "SHARE") && !events.all(|e| e.kind == "SHARE") { 1 } else { 0 }"#
        ),
        1.0
    );
    assert_eq!(
        label(
            r#"#{ value: 0, label: contacts.first().id + contacts.last().id + contacts[1].stage }"#
        ),
        "anneveLEAD"
    );
    assert_eq!(value("events.to_array().len()"), 17.0);
    assert_eq!(
        value("if events.get(100) == () && !contacts.is_empty() { 1 } else { 0 }"),
        1.0
    );
    let e = error("events[17]");
    assert_eq!(e.kind, ScriptErrorKind::Runtime);
    assert!(e.message.contains("outside the list"), "{e}");
}

#[test]
fn inputs_cannot_be_changed_and_the_message_says_how_to_copy_them() {
    let e = error("events = 1; 1");
    assert_eq!(e.kind, ScriptErrorKind::Runtime);
    assert!(e.message.contains("`events` is an input"), "{e}");
    assert_eq!((e.line, e.column), (Some(1), Some(1)));
    assert_eq!(value("let o = org; o.id = \"x\"; o.contact_count"), 5.0);
}

#[test]
fn a_typo_in_a_variable_is_a_compile_error_with_position_and_the_names_that_exist() {
    let e = engine()
        .compile("let n = 1;\nlet total = count(evnts, \"QUESTION\");\ntotal")
        .unwrap_err();
    assert_eq!(e.kind, ScriptErrorKind::Compile);
    assert_eq!((e.line, e.column), (Some(2), Some(19)));
    assert!(e.message.contains("`evnts`"), "{e}");
    assert!(e.message.contains("did you mean `events`"), "{e}");
    assert!(
        e.message
            .contains("org, events, facts, contacts, assets, params, now, from, to, filter"),
        "{e}"
    );
    assert_eq!(e.kind.code(), "SCRIPT_COMPILE_ERROR");
}

#[test]
fn syntax_errors_are_compile_errors_with_position() {
    let e = engine().compile("let x = (1 + ;\nx").unwrap_err();
    assert_eq!(e.kind, ScriptErrorKind::Compile);
    assert_eq!(e.line, Some(1));
    assert!(e.column.is_some());
}

#[test]
fn numbers_and_maps_are_outputs() {
    assert_eq!(value("42"), 42.0);
    assert_eq!(value("2.5"), 2.5);
    let out = run_on(
        &acme(),
        r#"#{ value: 3, label: "x", breakdown: #{ b: 2, a: 1.5 } }"#,
    )
    .unwrap();
    assert_eq!(out.value, 3.0);
    assert_eq!(out.label.as_deref(), Some("x"));
    assert_eq!(
        out.breakdown,
        vec![("a".to_owned(), 1.5), ("b".to_owned(), 2.0)]
    );
    let bare = run_on(&acme(), "#{ value: 1 }").unwrap();
    assert_eq!((bare.label, bare.breakdown.len()), (None, 0));
}

#[test]
fn print_and_debug_are_captured_not_written_to_stdout() {
    let out = run_on(
        &acme(),
        "print(\"hello\"); debug(\"dbg\"); print(org.id); 1",
    )
    .unwrap();
    assert_eq!(out.logs, vec!["hello", "[line 1] \"dbg\"", "acme"]);
}

#[test]
fn print_output_is_capped_at_max_log_lines() {
    let engine = ScriptEngine::new(ScriptLimits {
        max_log_lines: 5,
        ..ScriptLimits::default()
    });
    let script = engine.compile("for i in 0..1000 { print(i); } 1").unwrap();
    let out = engine.run(&script, &acme(), &shared(), &later(30)).unwrap();
    assert_eq!(out.logs.len(), 5);
    assert_eq!(out.logs[..4], ["0", "1", "2", "3"]);
    assert!(out.logs[4].contains("996 more lines"), "{:?}", out.logs);
    let long = run_on(&acme(), "let s = \"x\"; s.pad(5000, \"y\"); print(s); 1").unwrap();
    assert!(long.logs[0].len() <= 2_010, "long lines are cut");
}

#[test]
fn run_all_returns_results_in_input_order_and_isolates_a_failing_organization() {
    let orgs: Vec<OrgRecords> = (0..40)
        .map(|i| {
            let contacts = (0..i)
                .map(|c| contact(&format!("c{c}"), "LEAD", None))
                .collect();
            org(if i == 7 { "bad" } else { "good" }, Vec::new(), contacts)
        })
        .collect();
    let engine = engine();
    let script = engine
        .compile(r#"if org.id == "bad" { throw "boom" } org.contact_count"#)
        .unwrap();
    for threads in [0, 1, 4, 100] {
        let results = engine.run_all(&script, &orgs, &shared(), &later(30), threads);
        assert_eq!(results.len(), 40);
        for (i, r) in results.iter().enumerate() {
            match r {
                Err(e) if i == 7 => {
                    assert_eq!(e.kind, ScriptErrorKind::Runtime);
                    assert!(e.message.contains("boom"), "{e}");
                    assert_eq!(e.line, Some(1));
                }
                Ok(out) => assert_eq!(out.value, i as f64),
                other => panic!("org {i}: {other:?}"),
            }
        }
    }
    assert!(
        engine
            .run_all(&script, &[], &shared(), &later(30), 4)
            .is_empty()
    );
}

#[test]
fn run_all_keeps_other_organizations_going_when_one_hits_the_time_limit() {
    let engine = ScriptEngine::new(ScriptLimits {
        per_org_timeout: Duration::from_millis(100),
        max_operations: u64::MAX,
        ..ScriptLimits::default()
    });
    let orgs = vec![
        org("a", vec![], vec![]),
        org("slow", vec![], vec![]),
        org("c", vec![], vec![]),
    ];
    let script = engine
        .compile(r#"if org.id == "slow" { loop {} } 1"#)
        .unwrap();
    let results = engine.run_all(&script, &orgs, &shared(), &later(30), 2);
    assert!(results[0].is_ok() && results[2].is_ok());
    assert_eq!(
        results[1].as_ref().unwrap_err().kind,
        ScriptErrorKind::LimitExceeded
    );
}

#[test]
fn a_query_deadline_that_has_passed_runs_nothing() {
    let engine = engine();
    let script = engine.compile("1").unwrap();
    let past = QueryDeadline::new(Instant::now() - Duration::from_millis(1));
    let results = engine.run_all(&script, &[acme(), acme()], &shared(), &past, 2);
    for r in results {
        let e = r.unwrap_err();
        assert_eq!(e.kind, ScriptErrorKind::LimitExceeded);
        assert!(e.message.contains("query ran out of time"), "{e}");
    }
}

#[test]
fn the_query_deadline_stops_a_run_before_its_own_timeout() {
    let engine = ScriptEngine::new(ScriptLimits {
        per_org_timeout: Duration::from_secs(20),
        max_operations: u64::MAX,
        ..ScriptLimits::default()
    });
    let script = engine.compile("loop {}").unwrap();
    let started = Instant::now();
    let deadline = QueryDeadline::new(started + Duration::from_millis(150));
    let e = engine
        .run(&script, &acme(), &shared(), &deadline)
        .unwrap_err();
    assert_eq!(e.kind, ScriptErrorKind::LimitExceeded);
    assert!(e.message.contains("the query ran out of time"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn an_abandoned_query_stops_its_runs_at_once() {
    let engine = ScriptEngine::new(ScriptLimits {
        per_org_timeout: Duration::from_secs(60),
        max_operations: u64::MAX,
        ..ScriptLimits::default()
    });
    let script = engine.compile("loop {}").unwrap();
    let query = later(60);
    let started = Instant::now();
    let results = std::thread::scope(|s| {
        let running =
            s.spawn(|| engine.run_all(&script, &[acme(), acme(), acme()], &shared(), &query, 1));
        std::thread::sleep(Duration::from_millis(100));
        query.abandon();
        running.join().unwrap()
    });
    // Stopped at the next check, a minute before either deadline; the organizations
    // after the first never start.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    for r in results {
        assert_eq!(r.unwrap_err().kind, ScriptErrorKind::LimitExceeded);
    }
}

/// 200,000 events: the input lists are handles, so size limits and copies do not apply.
fn big_org() -> OrgRecords {
    let kinds = [
        EventKind::PageView,
        EventKind::Click,
        EventKind::Attendance,
        EventKind::Share,
    ];
    let events = (0..200_000)
        .map(|i| {
            let kind = kinds[i % 4];
            let contact = format!("c{}", i % 1_000);
            let mut e = ev(kind, i as i64, Some(&contact));
            if kind == EventKind::Attendance {
                e.asset = Some("web".into());
                e.value = Some(60.0);
            }
            e
        })
        .collect();
    let contacts = (0..1_000)
        .map(|c| contact(&format!("c{c}"), "LEAD", None))
        .collect();
    org("big", events, contacts)
}

#[test]
fn a_large_organization_with_200k_events_is_usable() {
    let records = big_org();
    let engine = ScriptEngine::new(ScriptLimits {
        per_org_timeout: Duration::from_secs(60),
        ..ScriptLimits::default()
    });
    let source = r#"
        let n = events.len();
        let clicks = count(events, "CLICK");
        let att = of_kind(events, "ATTENDANCE");
        let people = distinct(events, "contact");
        let stayed = full_stay(events, assets, 0.9).len();
        let groups = group_by(att, "contact").len();
        let seconds = sum(att, "value");
        let last = events[-1].at - events[0].at;
        #{ value: n, breakdown: #{ clicks: clicks, att: att.len(), people: people,
           stayed: stayed, groups: groups, seconds: seconds, minutes: last / 60000 } }
    "#;
    let script = engine.compile(source).unwrap();
    let out = engine
        .run(&script, &records, &shared(), &later(120))
        .unwrap();
    assert_eq!(out.value, 200_000.0);
    let b: std::collections::HashMap<_, _> = out.breakdown.into_iter().collect();
    assert_eq!(b["clicks"], 50_000.0);
    assert_eq!(b["att"], 50_000.0);
    assert_eq!(b["people"], 1_000.0);
    // 250 contacts attend, each 200 × 60 s, well past 90 % of 3,600 s.
    assert_eq!(b["stayed"], 250.0);
    assert_eq!(b["groups"], 250.0);
    assert_eq!(b["seconds"], 3_000_000.0);
    assert_eq!(b["minutes"], 199_999.0);
    let looped = engine
        .compile(r#"let n = 0; for e in events { if e.kind == "SHARE" { n += 1; } } n"#)
        .unwrap();
    let out = engine
        .run(&looped, &records, &shared(), &later(120))
        .unwrap();
    assert_eq!(out.value, 50_000.0);
}

#[test]
fn the_cache_compiles_once_per_key_and_stays_bounded() {
    let engine = engine();
    let cache = ScriptCache::new(2);
    let a = cache.get_or_compile("a@1", &engine, "1").unwrap();
    let again = cache.get_or_compile("a@1", &engine, "1").unwrap();
    assert!(std::sync::Arc::ptr_eq(&a.ast, &again.ast));
    cache.get_or_compile("b@1", &engine, "2").unwrap();
    cache.get_or_compile("a@1", &engine, "1").unwrap();
    cache.get_or_compile("c@1", &engine, "3").unwrap();
    assert_eq!(cache.len(), 2, "b was least recently used and made room");
    let changed = cache.get_or_compile("a@1", &engine, "41 + 1").unwrap();
    assert_eq!(
        engine
            .run(&changed, &acme(), &shared(), &later(5))
            .unwrap()
            .value,
        42.0
    );
    assert!(cache.get_or_compile("d@1", &engine, "evnts").is_err());
    assert_eq!(cache.len(), 2, "failures are not cached");
}

#[test]
fn engines_and_scripts_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ScriptEngine>();
    assert_send_sync::<CompiledScript>();
    assert_send_sync::<ScriptCache>();
}

#[test]
fn a_script_says_whether_it_reads_events() {
    let engine = engine();
    let reads = |source: &str| engine.compile(source).unwrap().reads_events();
    assert!(reads("events.len()"));
    assert!(reads("let xs = facts; count(events, \"CLICK\") + xs.len()"));
    assert!(reads("facts.filter(|f| events.len() > 0).len()"));
    assert!(!reads("count(facts, \"CLICK\")"));
    assert!(!reads("contacts.len() + org.contact_count"));
    // Its own variable of that name is not the input.
    assert!(!reads("let events = [1, 2]; events.len()"));
    // Comments and strings mention it without reading it.
    assert!(!reads("// events\n\"events\".len()"));
}
