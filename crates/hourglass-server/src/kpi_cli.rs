//! `hourglass kpi validate|test|run`: the agency's tools for custom KPI scripts.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hourglass_core::ExternalId;
use hourglass_core::TimeRange;
use hourglass_core::fixtures::Fixtures;
use hourglass_core::script::{QueryDeadline, ScriptEngine, ScriptError, SharedInput};
use hourglass_storage::KpiFilter;
use serde_json::{Map, Value};

use crate::cli::KpiCommand;
use crate::error::ApiError;
use crate::scripts::ScriptRunner;
use crate::settings::Settings;

fn read(file: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))
}

/// `FILE:LINE:COLUMN: CODE: message`, as editors understand it.
fn describe(file: &Path, e: &ScriptError) -> String {
    match (e.line, e.column) {
        (Some(line), Some(column)) => {
            format!(
                "{}:{line}:{column}: {}: {}",
                file.display(),
                e.kind.code(),
                e.message
            )
        }
        _ => format!("{}: {}: {}", file.display(), e.kind.code(), e.message),
    }
}

pub async fn run(command: KpiCommand, mut settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        KpiCommand::Validate { file } => {
            let source = read(&file)?;
            let engine = ScriptEngine::new(settings.scripts.limits());
            Ok(match engine.compile(&source) {
                Ok(_) => {
                    println!("{}: ok", file.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{}", describe(&file, &e));
                    ExitCode::FAILURE
                }
            })
        }
        KpiCommand::Test { file, fixtures } => {
            let source = read(&file)?;
            let fixtures: Fixtures = serde_json::from_str(&read(&fixtures)?)
                .with_context(|| format!("{} is not a fixtures file", fixtures.display()))?;
            test(&file, &source, &fixtures, &settings)
        }
        KpiCommand::Run {
            file,
            database,
            agency,
            workspace,
            campaign,
            asset,
            from,
            to,
            params,
            top,
        } => {
            database.apply(&mut settings);
            let source = read(&file)?;
            let params: Map<String, Value> =
                serde_json::from_str(&params).context("--params is a JSON object")?;
            let runner = ScriptRunner::new(&settings.scripts);
            let script = match runner.compile(source).await {
                Ok(script) => script,
                Err(ApiError::Script(e)) => {
                    eprintln!("{}", describe(&file, &e));
                    return Ok(ExitCode::FAILURE);
                }
                Err(other) => return Err(other.into()),
            };
            let store = crate::app::connect(&settings).await?;
            let ws = store
                .agency_tenant(&agency)
                .await?
                .workspace(&workspace)
                .await?;
            let id = |raw: String| ExternalId::parse(&raw, "id");
            let filter = KpiFilter {
                campaign: campaign.map(id).transpose()?,
                asset: asset.map(id).transpose()?,
                range: TimeRange::new(from, to)?,
                ..KpiFilter::default()
            };
            // Every given parameter is declared: a file has no declarations of its own.
            let declared: Vec<_> = params
                .iter()
                .map(|(name, value)| hourglass_core::definition::ParamDecl {
                    name: name.clone(),
                    default: value.clone(),
                    description: None,
                })
                .collect();
            let report = runner
                .run(&ws, script, &declared, &params, &filter)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut values: Vec<_> = report
                .outcomes
                .iter()
                .filter_map(|o| Some((&o.organization, o.result.as_ref().ok()?)))
                .collect();
            values.sort_by(|a, b| b.1.value.total_cmp(&a.1.value));
            println!("{:<24} {:>12}  label", "organization", "value");
            for (org, out) in values.iter().take(top) {
                println!(
                    "{:<24} {:>12.3}  {}",
                    org.id,
                    out.value,
                    out.label.as_deref().unwrap_or("")
                );
            }
            let failed: Vec<_> = report
                .outcomes
                .iter()
                .filter_map(|o| Some((&o.organization, o.result.as_ref().err()?)))
                .collect();
            for (org, e) in &failed {
                eprintln!("{}: {}", org.id, describe(&file, e));
            }
            let a = &report.aggregate;
            println!(
                "\n{} organizations, {} failed, in {:.0} ms; sum {:.3}, mean {}, median {}",
                report.outcomes.len(),
                failed.len(),
                report.elapsed.as_secs_f64() * 1e3,
                a.sum,
                a.mean.map_or("-".into(), |m| format!("{m:.3}")),
                a.median.map_or("-".into(), |m| format!("{m:.3}")),
            );
            Ok(if failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn test(
    file: &Path,
    source: &str,
    fixtures: &Fixtures,
    settings: &Settings,
) -> anyhow::Result<ExitCode> {
    let engine = ScriptEngine::new(settings.scripts.limits());
    let script = match engine.compile(source) {
        Ok(script) => script,
        Err(e) => {
            eprintln!("{}", describe(file, &e));
            return Ok(ExitCode::FAILURE);
        }
    };
    let shared = SharedInput {
        assets: fixtures.asset_infos(),
        params: fixtures.params.clone(),
        now: fixtures.now,
        campaign: None,
        asset: None,
        from: None,
        to: Some(fixtures.now),
    };
    let (mut passed, mut failed) = (0, 0);
    for case in &fixtures.cases {
        let deadline = QueryDeadline::new(Instant::now() + Duration::from_secs(10));
        let result = engine.run(&script, &case.records(), &shared, &deadline);
        let outcome = match &result {
            Ok(out) => Ok((out.value, out.label.as_deref())),
            Err(e) => Err(e.kind.code()),
        };
        match case.expect.check(outcome) {
            Ok(()) => {
                passed += 1;
                println!("ok   {}", case.name);
            }
            Err(why) => {
                failed += 1;
                println!("FAIL {}: {why}", case.name);
                if let Err(e) = &result {
                    println!("     {}", describe(file, e));
                }
            }
        }
    }
    println!("{}: {passed} passed, {failed} failed", file.display());
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
