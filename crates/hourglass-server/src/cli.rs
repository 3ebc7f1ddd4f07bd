//! The `hourglass` command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::settings::Settings;

/// Hourglass: GraphQL analytics for B2B marketing engagement.
#[derive(Debug, Parser)]
#[command(name = "hourglass", version, about)]
pub struct Cli {
    /// A TOML settings file (see config/default.toml). Environment variables
    /// HOURGLASS_* and flags override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// What to do; `serve` when left out.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (GraphQL and GraphiQL on /graphql, NDJSON ingest on /v1/events).
    Serve(ServeArgs),
    /// Apply, roll back or list schema migrations.
    Migrate {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Load a deterministic demo workspace (campaigns, a webinar funnel, ~100,000 events).
    Demo(DemoArgs),
    /// Print the GraphQL schema (SDL).
    Schema,
}

#[derive(Debug, Default, Args)]
pub struct DatabaseArgs {
    /// Database URL (default: sqlite://hourglass.db?mode=rwc).
    #[arg(long, value_name = "URL", global = true)]
    pub database_url: Option<String>,
}

#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on, such as 0.0.0.0:8080.
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Roll back the newest migrations.
    Down {
        /// How many to roll back.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Slug of the demo workspace.
    #[arg(long, default_value = "demo")]
    pub workspace: String,
    /// Seed of the generator; the same seed loads the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Roughly how many events to generate.
    #[arg(long, default_value_t = 100_000)]
    pub events: usize,
}

impl DatabaseArgs {
    pub fn apply(&self, settings: &mut Settings) {
        if let Some(url) = &self.database_url {
            settings.database_url.clone_from(url);
        }
    }
}
