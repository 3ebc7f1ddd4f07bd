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
    /// Load a deterministic demo workspace: the small demo (~100,000 events) or, with
    /// `--shape b2b` or more than 100,000 events, a B2B-shaped one of any size.
    Demo(DemoArgs),
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Imports events from a CSV or NDJSON file (a CRM export, a spreadsheet) into a
    /// workspace: streamed in batches through the same checks as `POST /v1/events`,
    /// with progress on a terminal. Rows without a messageId get one derived from
    /// their content, so importing a file again stores nothing twice. Rejected rows
    /// are written to a report file; the exit status is 2 when there were any.
    ///
    /// Examples:
    ///   hourglass import crm-export.csv --agency acme --workspace main --mapping crm.toml
    ///   hourglass import history.ndjson --agency acme --workspace main
    Import(ImportArgs),
    /// Write, check and run custom KPI scripts.
    #[command(subcommand)]
    Kpi(KpiCommand),
    /// The aggregate layer KPIs read: rebuild it from raw events.
    Rollups {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(subcommand)]
        action: RollupsCommand,
    },
    /// Agencies and API keys: how an operator lets the first client in.
    Admin {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(subcommand)]
        action: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an agency (the owner of workspaces and keys).
    CreateAgency {
        /// Lower-case letters, digits and '-'.
        slug: String,
        /// A display name; the slug when left out.
        #[arg(long)]
        name: Option<String>,
    },
    /// Issue an API key and print it once on stdout.
    CreateKey {
        #[arg(long)]
        agency: String,
        /// Limit the key to one workspace; without it the key acts on all of the
        /// agency's workspaces.
        #[arg(long)]
        workspace: Option<String>,
        /// ADMIN, ANALYST, INGEST or READ.
        #[arg(long)]
        role: String,
        /// What the key is for, shown in listings.
        #[arg(long)]
        name: Option<String>,
    },
    /// List an agency's keys (never their secrets).
    ListKeys {
        #[arg(long)]
        agency: String,
    },
    /// Revoke a key by its public id (the part after `hg_`, before the second `_`).
    RevokeKey {
        #[arg(long)]
        agency: String,
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RollupsCommand {
    /// Recompute person numbers and rollups from raw events (after a restore, or to
    /// check them); every workspace when none is named. Ingest into a workspace
    /// waits while it is rebuilt.
    Rebuild {
        /// The agency that owns the workspace (with --workspace).
        #[arg(long, requires = "workspace")]
        agency: Option<String>,
        /// Only this workspace (with --agency).
        #[arg(long, requires = "agency")]
        workspace: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KpiCommand {
    /// Compile a script without running it; exit 1 with line and column on error.
    Validate {
        /// The .rhai script.
        file: PathBuf,
    },
    /// Run a script on fixture organizations and compare with their expected outputs;
    /// exit 0 when every case passes, 1 otherwise.
    Test {
        file: PathBuf,
        /// A JSON fixtures file (see scripts/kpis/*.test.json).
        #[arg(long)]
        fixtures: PathBuf,
    },
    /// Run a script on a workspace's real data and print each organization's value.
    Run {
        file: PathBuf,
        #[command(flatten)]
        database: DatabaseArgs,
        /// The agency that owns the workspace.
        #[arg(long)]
        agency: String,
        #[arg(long)]
        workspace: String,
        /// Only events of this campaign.
        #[arg(long)]
        campaign: Option<String>,
        /// Only events on this asset.
        #[arg(long)]
        asset: Option<String>,
        /// Start of the range (RFC 3339), inclusive.
        #[arg(long)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// End of the range (RFC 3339), exclusive; scripts see it as `now`.
        #[arg(long)]
        to: Option<chrono::DateTime<chrono::Utc>>,
        /// Parameter values as a JSON object, e.g. '{"min_attendees": 3}'.
        #[arg(long, default_value = "{}")]
        params: String,
        /// How many organizations to print, highest value first.
        #[arg(long, default_value_t = 20)]
        top: usize,
    },
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file: CSV (with a header row) or NDJSON (one event per line).
    pub file: PathBuf,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The agency that owns the workspace.
    #[arg(long)]
    pub agency: String,
    /// The workspace to import into.
    #[arg(long)]
    pub workspace: String,
    /// The file's format; by default from its extension (.csv, else NDJSON).
    #[arg(long, value_enum)]
    pub format: Option<ImportFormat>,
    /// How CSV columns become event fields (TOML: [columns] "Column" = "field",
    /// [constants] field = value). Without it, columns are named after the fields.
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// Where rejected rows go (default: FILE.rejected.csv).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFormat {
    Csv,
    /// hourglass's own events, one JSON object per line (as `POST /v1/events`).
    Ndjson,
    /// Segment tracking-spec messages, one per line (a Segment export or archive).
    Segment,
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
    /// Slug of the agency that owns the demo workspace; created if missing.
    #[arg(long, default_value = "demo")]
    pub agency: String,
    /// Slug of the demo workspace.
    #[arg(long, default_value = "demo")]
    pub workspace: String,
    /// Seed of the generator; the same seed loads the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// How many events to generate: roughly for the small demo, exactly for b2b.
    #[arg(long, default_value_t = crate::demo::DEFAULT_EVENTS)]
    pub events: usize,
    /// small: three campaigns, one webinar funnel, 50 organizations, one quarter.
    /// b2b: twenty campaigns (FIND/KEEP/GROW), five channels, up to 10,000
    /// organizations with a few large accounts and a long tail, anonymous visitors
    /// who later become contacts, bursty webinars, spend per campaign/channel/day,
    /// one year of business hours in Berlin, New York and Kolkata; streamed, so
    /// 10,000,000 events work. Default: small up to 100,000 events, b2b above.
    #[arg(long, value_enum)]
    pub shape: Option<crate::demo::DemoShape>,
}

impl DatabaseArgs {
    pub fn apply(&self, settings: &mut Settings) {
        if let Some(url) = &self.database_url {
            settings.database_url.clone_from(url);
        }
    }
}
