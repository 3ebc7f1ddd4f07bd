//! Each helper function on the hand-built `acme` organization.

use super::*;

fn breakdown(source: &str) -> Vec<(String, f64)> {
    match run_on(&acme(), &format!("#{{ value: 0, breakdown: {source} }}")) {
        Ok(out) => out.breakdown,
        Err(e) => panic!("{source}\nfailed: {e}"),
    }
}

fn text(expr: &str) -> String {
    label(&format!("#{{ value: 0, label: `${{{expr}}}` }}"))
}

fn pairs(items: &[(&str, f64)]) -> Vec<(String, f64)> {
    items.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[test]
fn count_counts_events_of_a_kind_in_any_spelling() {
    assert_eq!(value(r#"count(events, "QUESTION")"#), 2.0);
    assert_eq!(value(r#"count(events, "attendance")"#), 6.0);
    assert_eq!(value(r#"count(events, "page view")"#), 2.0);
    assert_eq!(value(r#"count(events, "REVENUE")"#), 0.0);
}

#[test]
fn an_unknown_kind_is_a_runtime_error_that_suggests_the_right_one() {
    let e = error("let x = 1;\ncount(events, \"ATTENDENCE\")");
    assert_eq!(e.kind, ScriptErrorKind::Runtime);
    assert_eq!((e.line, e.column), (Some(2), Some(1)));
    assert!(e.message.contains("did you mean \"ATTENDANCE\""), "{e}");
    assert!(e.message.contains("PAGE_VIEW"), "{e}");
}

#[test]
fn count_by_kind_maps_each_present_kind_to_its_count() {
    assert_eq!(
        breakdown("count_by_kind(events)"),
        pairs(&[
            ("ATTENDANCE", 6.0),
            ("PAGE_VIEW", 2.0),
            ("QUESTION", 2.0),
            ("REGISTRATION", 1.0),
            ("SHARE", 6.0)
        ])
    );
}

#[test]
fn of_kind_of_asset_and_since_select_events_as_lists() {
    assert_eq!(value(r#"of_kind(events, "SHARE").len()"#), 6.0);
    assert_eq!(
        value(r#"distinct(of_kind(events, "SHARE"), "contact")"#),
        4.0
    );
    assert_eq!(value(r#"of_asset(events, "web").len()"#), 5.0);
    assert_eq!(
        value(r#"of_kind(of_asset(events, "web"), "ATTENDANCE")[-1].value"#),
        400.0
    );
    assert_eq!(value("since(events, events[10].at).len()"), 7.0);
    assert_eq!(value("since(events, now).len()"), 0.0);
}

#[test]
fn distinct_counts_different_non_unit_values_of_a_field() {
    assert_eq!(value(r#"distinct(events, "contact")"#), 5.0);
    assert_eq!(value(r#"distinct(events, "properties.recipient")"#), 5.0);
    assert_eq!(value(r#"distinct(contacts, "stage")"#), 3.0);
    assert_eq!(value(r#"distinct(contacts, "email")"#), 4.0);
}

#[test]
fn distinct_values_lists_them_first_seen_first() {
    assert_eq!(
        text(r#"distinct_values(events, "asset")"#),
        r#"["paper", "web", "vid"]"#
    );
    assert_eq!(
        text(r#"distinct_values(contacts, "stage")"#),
        r#"["MQL", "LEAD", "SQL"]"#
    );
}

#[test]
fn sum_and_mean_add_numbers_and_skip_unit() {
    assert_eq!(value(r#"sum(events, "value")"#), 9089.0);
    assert_eq!(
        value(r#"mean(of_kind(events, "ATTENDANCE"), "value")"#),
        9089.0 / 6.0
    );
    assert_eq!(
        value(r#"if mean(of_kind(events, "SHARE"), "value") == () { 1 } else { 0 }"#),
        1.0
    );
    let e = error(r#"sum(contacts, "stage")"#);
    assert!(e.message.contains("not a number"), "{e}");
}

#[test]
fn group_by_maps_each_value_to_its_items() {
    assert_eq!(value(r#"group_by(events, "kind").SHARE.len()"#), 6.0);
    assert_eq!(value(r#"group_by(events, "contact").len()"#), 5.0);
    assert_eq!(value(r#"group_by(contacts, "stage").LEAD.len()"#), 3.0);
    assert_eq!(
        value(r#"group_by(events.to_array(), "asset")["web"].len()"#),
        5.0
    );
}

#[test]
fn contacts_with_lists_distinct_contacts_with_an_event_of_a_kind() {
    assert_eq!(
        text(r#"contacts_with(events, "QUESTION")"#),
        r#"["ann", "bob"]"#
    );
    assert_eq!(
        text(r#"contacts_with(events, "SHARE")"#),
        r#"["ann", "bob", "cat", "dan"]"#
    );
}

#[test]
fn attended_seconds_sums_attendance_per_contact_overall_and_per_asset() {
    assert_eq!(
        breakdown("attended_seconds(events)"),
        pairs(&[
            ("ann", 3400.0),
            ("bob", 1800.0),
            ("cat", 600.0),
            ("dan", 3239.0),
            ("eve", 50.0)
        ])
    );
    assert_eq!(
        breakdown(r#"attended_seconds(events, "vid")"#),
        pairs(&[("eve", 50.0)])
    );
}

#[test]
fn full_stay_finds_contacts_reaching_a_share_of_an_assets_duration() {
    assert_eq!(text("full_stay(events, assets, 0.9)"), r#"["ann"]"#);
    assert_eq!(
        text("full_stay(events, assets, 0.5)"),
        r#"["ann", "bob", "dan", "eve"]"#
    );
    assert_eq!(text("full_stay(events, assets, 1)"), "[]");
    assert_eq!(
        text("full_stay(events, #{ web: #{ duration: 3000 } }, 1)"),
        r#"["ann", "dan"]"#
    );
    let e = error("full_stay(events, assets, -1.0)");
    assert!(e.message.contains("threshold"), "{e}");
}

#[test]
fn internal_shares_counts_shares_to_contacts_and_the_orgs_domain() {
    assert_eq!(value("internal_shares(events, org, contacts)"), 4.0);
    assert_eq!(
        value("internal_shares(events.to_array(), org, contacts.to_array())"),
        4.0
    );
    // Without a domain only contact ids and contacts' e-mails count: bob and dan@ACME.com.
    assert_eq!(
        value("let o = org; o.domain = (); internal_shares(events, o, contacts)"),
        2.0
    );
}

#[test]
fn days_between_and_days_convert_milliseconds() {
    assert_eq!(
        value("days_between(events[0].at, events[-1].at)"),
        40.0 / 1440.0
    );
    assert_eq!(value("days_between(now, from)"), -2.0);
    assert_eq!(value("days(2)"), 172_800_000.0);
    assert_eq!(value("days(0.5)"), 43_200_000.0);
    assert_eq!(value("since(events, now - days(1)).len()"), 17.0);
    let e = error(r#"days_between("monday", now)"#);
    assert!(e.message.contains("expected a number"), "{e}");
}

#[test]
fn event_helpers_also_take_arrays_of_event_maps() {
    assert_eq!(value(r#"count(events.to_array(), "SHARE")"#), 6.0);
    assert_eq!(value(r#"of_kind(events.to_array(), "SHARE").len()"#), 6.0);
    assert_eq!(value(r#"of_asset(events.to_array(), "vid").len()"#), 1.0);
    assert_eq!(value(r#"distinct(events.to_array(), "contact")"#), 5.0);
    assert_eq!(
        value("full_stay(events.to_array(), assets, 0.9).len()"),
        1.0
    );
    assert_eq!(value("since(events.to_array(), events[10].at).len()"), 7.0);
    let e = error(r#"distinct([1, 2], "x")"#);
    assert!(
        e.message
            .contains("item 0 of the array is integer, not a map"),
        "{e}"
    );
    let e = error(r#"count([#{ kind: "NOPE" }], "SHARE")"#);
    assert!(e.message.contains("not an event kind"), "{e}");
}

#[test]
fn a_field_a_list_does_not_have_is_an_error_naming_the_fields() {
    let e = error(r#"distinct(events, "contcat")"#);
    assert_eq!(e.kind, ScriptErrorKind::Runtime);
    assert!(e.message.contains("no field \"contcat\""), "{e}");
    assert!(e.message.contains("kind, at, contact"), "{e}");
}

#[test]
fn calling_a_helper_with_the_wrong_arguments_shows_how_to_call_it() {
    let e = error("count(events)");
    assert_eq!(e.kind, ScriptErrorKind::Runtime);
    assert!(
        e.message.contains("`count` cannot take (event list)"),
        "{e}"
    );
    assert!(e.message.contains("count(events, \"KIND\")"), "{e}");
}

#[test]
fn arrays_keep_rhais_own_functions() {
    assert_eq!(value("[1, 2, 3].filter(|x| x > 1).len()"), 2.0);
    assert_eq!(value("let a = [3, 1, 2]; a.sort(); a[0]"), 1.0);
    assert_eq!(value("#{ a: 1, b: 2 }.values().len()"), 2.0);
}

/// acme's records fed the way storage feeds a script that never names `events`:
/// its facts (tallied by storage), no events.
fn acme_as_facts() -> OrgRecords {
    OrgRecords::from(crate::engagement::OrgFacts::from(&acme()))
}

#[test]
fn facts_answer_what_events_answer() {
    // (expression over `events`, value written down in the tests above)
    let cases = [
        (r#"count(events, "attendance")"#, 6.0),
        (r#"count(events, "QUESTION")"#, 2.0),
        (r#"count_by_kind(events).SHARE"#, 6.0),
        (r#"contacts_with(events, "ATTENDANCE").len()"#, 5.0),
        (r#"contacts_with(events, "SHARE").len()"#, 4.0),
        (r#"attended_seconds(events).ann"#, 3400.0),
        (r#"attended_seconds(events, "vid").eve"#, 50.0),
        ("full_stay(events, assets, 0.9).len()", 1.0),
        ("full_stay(events, assets, 0.5).len()", 4.0),
        ("internal_shares(events, org, contacts)", 4.0),
        (r#"distinct(of_kind(events, "SHARE"), "contact")"#, 4.0),
        (
            r#"contacts_with(of_asset(events, "web"), "ATTENDANCE").len()"#,
            4.0,
        ),
    ];
    for (on_events, expected) in cases {
        let on_facts = on_events.replace("events", "facts");
        assert_eq!(value(on_events), expected, "{on_events}");
        assert_eq!(value(&on_facts), expected, "{on_facts} tallied from events");
        let fed = run_on(&acme_as_facts(), &on_facts).unwrap();
        assert_eq!(fed.value, expected, "{on_facts} fed as facts");
    }
}

#[test]
fn a_fact_tallies_one_kind_by_one_contact_on_one_asset() {
    // 17 events: ann's two attendances are one fact, every other event its own.
    assert_eq!(value("facts.len()"), 16.0);
    let ann = r#"facts.find(|f| f.kind == "ATTENDANCE" && f.contact == "ann")"#;
    assert_eq!(value(&format!("{ann}.events")), 2.0);
    assert_eq!(value(&format!("{ann}.value")), 3400.0);
    assert_eq!(value(&format!("{ann}.first_at")), value("events[2].at"));
    assert_eq!(
        text(r#"facts.filter(|f| f.kind == "SHARE" && f.contact == "cat").map(|f| f.recipient)"#),
        r#"["dan@ACME.com", "someone@eu.acme.com"]"#
    );
    assert_eq!(
        value(r#"sum(of_kind(facts, "ATTENDANCE"), "value")"#),
        9089.0
    );
    // Fed from the aggregate layer, a script that names `events` would see none:
    // which is why storage feeds facts only to scripts that never name it.
    assert_eq!(run_on(&acme_as_facts(), "events.len()").unwrap().value, 0.0);
}
