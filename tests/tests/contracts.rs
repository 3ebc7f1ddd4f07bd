//! Contracts that are not behaviour: the committed schema, crate boundaries, docs.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

use hourglass_server::error::ErrorCode;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `schema.graphql` is what front-end teams generate code from: it must be the
/// schema the server serves. Run with `UPDATE_SCHEMA=1` to accept a change.
#[test]
fn committed_schema_matches_the_server() {
    let path = repo_root().join("schema.graphql");
    let live = hourglass_server::graphql::sdl();
    if std::env::var("UPDATE_SCHEMA").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &live).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == live,
        "schema.graphql is out of date; review the change and run `UPDATE_SCHEMA=1 cargo test --test contracts`"
    );
}

fn normal_dependencies(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(repo_root())
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "-p",
            package,
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn core_does_no_io_and_knows_no_framework() {
    let deps = normal_dependencies("hourglass-core");
    for forbidden in [
        "sea-orm",
        "sqlx",
        "actix-web",
        "async-graphql",
        "tokio",
        "reqwest",
        "hyper",
    ] {
        assert!(
            !deps.iter().any(|d| d == forbidden),
            "hourglass-core depends on {forbidden}"
        );
    }
}

#[test]
fn storage_knows_no_transport() {
    let deps = normal_dependencies("hourglass-storage");
    for forbidden in ["actix-web", "async-graphql", "reqwest"] {
        assert!(
            !deps.iter().any(|d| d == forbidden),
            "hourglass-storage depends on {forbidden}"
        );
    }
}

/// Every error code has a row `| \`CODE\` | status | meaning |` in the README's table,
/// with the status the server answers it with; the list comes from the enum itself.
#[test]
fn every_error_code_is_documented_in_the_readme_with_its_status() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    for code in ErrorCode::ALL {
        let row = format!("| `{}` |", code.as_str());
        let line = readme
            .lines()
            .find(|line| line.starts_with(&row))
            .unwrap_or_else(|| panic!("README.md's error table lacks {}", code.as_str()));
        let documented = line[row.len()..].split('|').next().unwrap_or("").trim();
        assert_eq!(
            documented,
            code.status().as_u16().to_string(),
            "README.md gives {} another status than the server",
            code.as_str()
        );
    }
    for code in hourglass_core::RejectionCode::ALL {
        assert!(
            readme.contains(&format!("`{}`", code.as_str())),
            "README.md lacks {}",
            code.as_str()
        );
    }
}

/// `kpiCatalog` promises dashboards a field of `KpiReport` per key: a key without
/// one is a KPI nobody can query.
#[test]
fn every_catalog_key_is_a_field_of_the_kpi_report() {
    use async_graphql::parser::parse_schema;
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};

    let sdl = hourglass_server::graphql::sdl();
    let document = parse_schema(&sdl).unwrap();
    let fields: Vec<String> = document
        .definitions
        .iter()
        .find_map(|d| match d {
            TypeSystemDefinition::Type(t) if t.node.name.node == "KpiReport" => {
                match &t.node.kind {
                    TypeKind::Object(o) => Some(
                        o.fields
                            .iter()
                            .map(|f| f.node.name.node.to_string())
                            .collect(),
                    ),
                    _ => None,
                }
            }
            _ => None,
        })
        .expect("the schema has a KpiReport object");
    let missing: Vec<&str> = hourglass_core::kpi::CATALOG
        .iter()
        .map(|k| k.key)
        .filter(|key| !fields.iter().any(|f| f == key))
        .collect();
    assert!(
        missing.is_empty(),
        "catalog keys without a KpiReport field: {missing:?}"
    );
}
