//! Abusive scripts: each ends quickly with the right kind of error, a position where
//! one exists, and a message naming the limit.

use super::*;

/// Deadline 200 ms per organization; everything must end well within 3 s.
fn sandboxed(limits: ScriptLimits, source: &str) -> ScriptError {
    let engine = ScriptEngine::new(ScriptLimits {
        per_org_timeout: Duration::from_millis(200),
        ..limits
    });
    let started = Instant::now();
    let result = engine
        .compile(source)
        .and_then(|script| engine.run(&script, &acme(), &shared(), &later(30)));
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(3),
        "{source}: took {elapsed:?}"
    );
    match result {
        Ok(out) => panic!("{source}\nsucceeded with {out:?}"),
        Err(e) => e,
    }
}

fn abuse(source: &str) -> ScriptError {
    sandboxed(ScriptLimits::default(), source)
}

fn assert_limit(e: &ScriptError, words: &[&str]) {
    assert_eq!(e.kind, ScriptErrorKind::LimitExceeded, "{e}");
    assert_eq!(e.kind.code(), "SCRIPT_LIMIT_EXCEEDED");
    assert!(words.iter().any(|w| e.message.contains(w)), "{e}");
}

#[test]
fn an_endless_loop_stops_at_the_deadline() {
    let unlimited_ops = ScriptLimits {
        max_operations: u64::MAX,
        ..ScriptLimits::default()
    };
    let e = sandboxed(unlimited_ops, "let x = 0;\nloop { x += 1; }");
    assert_limit(&e, &["ran longer than 200 ms"]);
    assert_eq!(e.line, Some(2));
}

#[test]
fn an_endless_loop_stops_at_the_operation_limit() {
    let few_ops = ScriptLimits {
        max_operations: 10_000,
        ..ScriptLimits::default()
    };
    let e = sandboxed(few_ops, "while true {}");
    assert_limit(&e, &["more than 10000 operations"]);
    assert!(e.line.is_some());
}

#[test]
fn an_endless_loop_inside_a_closure_given_to_a_helper_stops_at_the_deadline() {
    let unlimited_ops = ScriptLimits {
        max_operations: u64::MAX,
        ..ScriptLimits::default()
    };
    let e = sandboxed(unlimited_ops, "events.filter(|e| { loop {} }).len()");
    assert_limit(&e, &["ran longer than 200 ms"]);
}

#[test]
fn runaway_recursion_stops_at_the_call_depth() {
    let e = abuse("fn down(n) { down(n + 1) }\ndown(0)");
    assert_limit(&e, &["recursion deeper than 64 calls"]);
    assert!(e.line.is_some() && e.column.is_some());
}

#[test]
fn exponential_string_growth_stops_at_the_string_size() {
    let e = abuse("let s = \"ab\";\nloop { s += s; }");
    assert_limit(&e, &["a string grew beyond 1048576 bytes"]);
    assert_eq!(e.line, Some(2));
}

#[test]
fn string_padding_stops_at_the_string_size() {
    let e = abuse(r#"let s = ""; s.pad(100000000, "x"); s.len()"#);
    assert_limit(&e, &["a string grew beyond"]);
}

#[test]
fn array_growth_stops_at_a_limit() {
    let e = abuse("let a = [1];\nloop { a += a; }");
    assert_limit(&e, &["an array grew beyond 50000 items"]);
    assert_eq!(e.line, Some(2));
    let e = abuse("let a = [];\nloop { a.push(1); }");
    assert_limit(&e, &["an array grew beyond", "ran longer than"]);
    let e = abuse("let a = []; a.pad(100000000, 0); a.len()");
    assert_limit(&e, &["an array grew beyond"]);
}

#[test]
fn a_giant_map_stops_at_a_limit() {
    let e = abuse("let m = #{};\nlet i = 0;\nloop { m[`k${i}`] = i; i += 1; }");
    assert_limit(&e, &["a map grew beyond", "ran longer than", "operations"]);
    let small = ScriptLimits {
        max_map_size: 100,
        ..ScriptLimits::default()
    };
    let e = sandboxed(
        small.clone(),
        "let m = #{};\nfor i in 0..1000 { m[`k${i}`] = i; }\n1",
    );
    assert_limit(&e, &["a map grew beyond 100 entries"]);
    assert_eq!(e.line, Some(2));
    // Through a nested map, a closure's captured map and a method's `this`.
    for source in [
        "let m = #{ a: #{} };\nfor i in 0..1000 { m.a[`k${i}`] = i; }\n1",
        "let m = [#{}];\nfor i in 0..1000 { m[0][`k${i}`] = i; }\n1",
        "let m = #{};\nlet f = |k| m[k] = 1;\nfor i in 0..1000 { f.call(`k${i}`); }\n1",
        "fn put(k) { this[k] = 1 }\nlet m = #{};\nfor i in 0..1000 { m.put(`k${i}`); }\n1",
    ] {
        let e = sandboxed(small.clone(), source);
        assert_limit(&e, &["a map grew beyond 100 entries"]);
    }
}

#[test]
fn a_map_of_new_large_strings_stops_at_the_string_size_not_at_gigabytes() {
    let e = abuse(
        "let s = \"x\"; s.pad(100000, \"y\");\nlet m = #{}; let i = 0;\nloop { m[`k${i}`] = s + i; i += 1; }",
    );
    assert_limit(&e, &["a string grew beyond 1048576 bytes"]);
    assert_eq!(e.line, Some(3));
}

#[test]
fn a_deeply_nested_expression_is_refused_at_compile_time() {
    let source = format!("{}1{}", "(".repeat(5_000), ")".repeat(5_000));
    let e = abuse(&source);
    assert_eq!(e.kind, ScriptErrorKind::Compile);
    assert!(e.message.contains("nested more than 64 levels"), "{e}");
    assert_eq!(e.line, Some(1));
    assert!(e.column.is_some());
    let in_fn = format!("fn f() {{ {}1{} }}\nf()", "[".repeat(500), "]".repeat(500));
    assert_eq!(abuse(&in_fn).kind, ScriptErrorKind::Compile);
}

#[test]
fn an_unknown_function_is_a_runtime_error_with_position() {
    let e = abuse("let x = 1;\nlet y = frobnicate(x);\ny");
    assert_eq!(e.kind, ScriptErrorKind::Runtime);
    assert_eq!((e.line, e.column), (Some(2), Some(9)));
    assert!(
        e.message
            .contains("no function `frobnicate` that takes (integer)"),
        "{e}"
    );
    let e = abuse("contacts_wth(events, \"SHARE\")");
    assert!(e.message.contains("did you mean `contacts_with`"), "{e}");
}

#[test]
fn wrong_return_types_say_what_was_returned_and_what_is_expected() {
    for (source, returned) in [
        (r#""hot""#, "the string \"hot\""),
        ("[1, 2, 3]", "an array of 3 items"),
        ("let x = 1;", "nothing"),
        ("()", "nothing"),
        ("true", "the boolean true"),
        ("0.0 / 0.0", "NaN"),
        ("1.0 / 0.0", "inf"),
        ("events", "event list"),
        (r#"#{ label: "x" }"#, "no \"value\""),
        (r#"#{ value: "3" }"#, "must be a number"),
        (r#"#{ valeu: 3 }"#, "key \"valeu\""),
        (r#"#{ value: 3, label: 4 }"#, "\"label\" is"),
        (
            r#"#{ value: 3, breakdown: #{ a: "x" } }"#,
            "breakdown \"a\"",
        ),
        (
            r#"#{ value: 3, breakdown: [1] }"#,
            "\"breakdown\" is an array",
        ),
    ] {
        let e = abuse(source);
        assert_eq!(e.kind, ScriptErrorKind::Runtime, "{source}: {e}");
        assert!(e.message.contains(returned), "{source}: {e}");
    }
    assert!(
        abuse(r#""hot""#)
            .message
            .contains("expected a number, or a map")
    );
}

#[test]
fn import_is_a_compile_error() {
    let e = abuse("import \"fs\" as fs;\n1");
    assert_eq!(e.kind, ScriptErrorKind::Compile);
    assert_eq!((e.line, e.column), (Some(1), Some(1)));
    assert!(e.message.contains("cannot load modules"), "{e}");
}

#[test]
fn eval_is_a_compile_error_and_cannot_be_reached_through_a_function_pointer() {
    let e = abuse("let x = 1;\neval(\"x + 1\")");
    assert_eq!(e.kind, ScriptErrorKind::Compile);
    assert_eq!((e.line, e.column), (Some(2), Some(1)));
    assert!(e.message.contains("`eval` is not available"), "{e}");
    assert_eq!(
        abuse(r#"Fn("eval").call("1")"#).kind,
        ScriptErrorKind::Runtime
    );
}

#[test]
fn there_is_no_clock_and_no_sleep() {
    let e = abuse("let t = timestamp();\nt");
    assert_eq!(e.kind, ScriptErrorKind::Runtime);
    assert_eq!((e.line, e.column), (Some(1), Some(9)));
    assert!(e.message.contains("scripts have no clock"), "{e}");
    for source in ["sleep(10)", "sleep(10.0)", r#"call(Fn("sleep"), 10)"#] {
        assert_eq!(abuse(source).kind, ScriptErrorKind::Runtime, "{source}");
    }
}

#[test]
fn a_thrown_value_is_a_runtime_error_with_position() {
    let e = abuse("let x = 1;\nthrow \"bad data\";");
    assert_eq!(e.kind, ScriptErrorKind::Runtime);
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("bad data"), "{e}");
}

#[test]
fn errors_inside_functions_point_at_the_failing_line() {
    let e = abuse("fn score(x) {\n  x.nope()\n}\nscore(1)");
    assert_eq!(e.kind, ScriptErrorKind::Runtime);
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("in function `score`"), "{e}");
}

#[test]
fn division_by_zero_is_a_runtime_error() {
    let e = abuse("let n = 0;\n10 / n");
    assert_eq!(e.kind, ScriptErrorKind::Runtime);
    assert_eq!(e.line, Some(2));
}

#[test]
fn compiling_at_the_depth_cap_is_safe_on_a_small_stack() {
    let engine = ScriptEngine::new(ScriptLimits {
        max_expr_depth: 1_000_000,
        max_call_levels: 1_000_000,
        ..ScriptLimits::default()
    });
    let nested = format!("{}1{}", "(".repeat(5_000), ")".repeat(5_000));
    let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
    let fits = format!("{}1{}", "(".repeat(40), ")".repeat(40));
    let outcome = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let refused = engine.compile(&nested).map(|_| ()).unwrap_err();
            let script = engine
                .compile(&format!("fn down(n) {{ down(n + {deep}) }}\ndown(0)"))
                .unwrap_err();
            let recursion = engine
                .compile(&format!(
                    "fn down(n) {{ let x = {fits}; down(n + x) }}\ndown(0)"
                ))
                .and_then(|s| engine.run(&s, &acme(), &shared(), &later(30)))
                .unwrap_err();
            (refused.kind, script.kind, recursion)
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(outcome.0, ScriptErrorKind::Compile);
    assert_eq!(
        outcome.1,
        ScriptErrorKind::Compile,
        "functions get half the depth"
    );
    assert_eq!(outcome.2.kind, ScriptErrorKind::LimitExceeded);
    assert!(
        outcome.2.message.contains("deeper than 256 calls"),
        "{}",
        outcome.2
    );
}
