//! `hourglass rollups rebuild`: the operator's way to recompute the aggregate layer.

use std::process::ExitCode;

use hourglass_storage::{RebuildSummary, Store};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::RollupsCommand;

pub async fn run(store: &Store, command: RollupsCommand) -> anyhow::Result<ExitCode> {
    let RollupsCommand::Rebuild { agency, workspace } = command;
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} events ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let rebuilt: Vec<(String, RebuildSummary)> = match (agency, workspace) {
        (Some(agency), Some(slug)) => {
            let mut ws = store.agency_tenant(&agency).await?.workspace(&slug).await?;
            bar.set_message(format!("rebuilding '{slug}'"));
            let summary = ws
                .rebuild_rollups(&|done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                })
                .await?;
            vec![(slug, summary)]
        }
        _ => {
            store
                .rebuild_all_rollups(&|slug, done, total| {
                    bar.set_message(format!("rebuilding '{slug}'"));
                    bar.set_length(total);
                    bar.set_position(done);
                })
                .await?
        }
    };
    bar.finish_and_clear();
    for (slug, summary) in rebuilt {
        println!(
            "workspace '{slug}': {} events, {} people, {} rollup rows, {} engagement fact rows",
            summary.events, summary.people, summary.rollup_rows, summary.fact_rows
        );
    }
    Ok(ExitCode::SUCCESS)
}
