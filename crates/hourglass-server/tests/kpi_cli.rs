//! The example KPI scripts in scripts/kpis pass their fixtures through the CLI an
//! agency uses, and a broken script is reported with its position.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};

use support::hourglass;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kpis")
}

#[test]
fn every_example_script_passes_its_fixtures() {
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(examples())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "rhai"))
        .collect();
    scripts.sort();
    assert!(
        scripts.len() >= 4,
        "the four examples of the issue: {scripts:?}"
    );
    for script in scripts {
        let fixtures = script.with_extension("test.json");
        assert!(fixtures.exists(), "{} has no fixtures", script.display());
        let output = hourglass()
            .args(["kpi", "test"])
            .arg(&script)
            .arg("--fixtures")
            .arg(&fixtures)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{}:\n{stdout}\n{}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains(" 0 failed"), "{stdout}");
    }
}

#[test]
fn a_failing_fixture_fails_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("one.rhai");
    std::fs::write(&script, "count(events, \"CLICK\") + 1").unwrap();
    let fixtures = dir.path().join("one.test.json");
    std::fs::write(
        &fixtures,
        r#"{"now": "2026-01-02T00:00:00Z", "cases": [
            {"name": "right", "organization": {"id": "a"}, "expect": {"value": 1}},
            {"name": "wrong", "organization": {"id": "b"}, "expect": {"value": 2}}]}"#,
    )
    .unwrap();
    let output = hourglass()
        .args(["kpi", "test"])
        .arg(&script)
        .arg("--fixtures")
        .arg(&fixtures)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("FAIL wrong: expected value 2, got 1"),
        "{stdout}"
    );
    assert!(stdout.contains("1 passed, 1 failed"), "{stdout}");
}

#[test]
fn validate_points_at_the_line_and_column_of_a_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("typo.rhai");
    std::fs::write(
        &script,
        "let n = 1;\nlet m = count(evnts, \"CLICK\");\nn + m",
    )
    .unwrap();
    let output = hourglass()
        .args(["kpi", "validate"])
        .arg(&script)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("typo.rhai:2:"), "{stderr}");
    assert!(stderr.contains("SCRIPT_COMPILE_ERROR"), "{stderr}");
    let ok = hourglass()
        .args(["kpi", "validate"])
        .arg(examples().join("hot_account.rhai"))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}
