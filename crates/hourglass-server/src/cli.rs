//! The `hourglass` command line.
//!
//! Help is written for the operator, in their words: what each command does for them,
//! an example of each one that takes arguments, and never the names of the libraries
//! underneath (`tests/cli.rs` walks every command and checks).

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::settings::Settings;

const ABOUT: &str = "Self-hosted analytics for B2B marketing: send engagement events, \
                     ask for KPIs over GraphQL.";

const LONG_ABOUT: &str = "\
Self-hosted analytics for B2B marketing: send engagement events, ask for KPIs over GraphQL.

`hourglass` on its own starts the server (the same as `hourglass serve`). To look around
first, `hourglass demo` loads a sample workspace and prints a key to query it with.

Settings come from built-in defaults, then a --config file, then HOURGLASS_* environment
variables, then flags; `hourglass config` shows what is in effect and where each value
came from. Commands print their result and nothing else; add -v to see what happens on
the way.";

const EXAMPLES: &str = "\
Examples:
  hourglass demo                                  load a sample workspace, print a key
  hourglass serve --bind 0.0.0.0:8080             start the server for the network
  hourglass admin create-agency acme              the first agency ...
  hourglass admin create-key --agency acme --role ADMIN   ... and its first key
  hourglass config                                the settings in effect
  hourglass backup hourglass-backup.db            copy the database while it serves";

/// Where the options every command takes are listed in help.
const GLOBAL: &str = "Global options";

/// The command line: global options, then what to do.
#[derive(Debug, Parser)]
#[command(
    name = "hourglass",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_long_help = EXAMPLES
)]
pub struct Cli {
    /// A settings file in TOML (config/default.toml lists every setting). HOURGLASS_*
    /// environment variables and flags override it.
    #[arg(long, global = true, value_name = "FILE", help_heading = GLOBAL)]
    pub config: Option<PathBuf>,

    /// Show what happens on the way (migrations, connections): -v for progress,
    /// -vv for detail. Without it commands print their result only.
    #[arg(short, long, global = true, action = ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,

    /// What to do; `serve` when left out.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the server: GraphQL on /graphql, event ingest on /v1/events.
    ///
    /// GraphiQL, a page to try queries in, is on /graphql too. Pending database changes
    /// are applied first (unless migrate_on_start = false). Ctrl-C or SIGTERM stops it
    /// cleanly: requests in flight finish first (shutdown_timeout_secs).
    #[command(after_long_help = "\
Examples:
  hourglass serve
  hourglass serve --bind 0.0.0.0:8080 --database-url postgres://hourglass@db.internal/hourglass
  HOURGLASS_LOG_FORMAT=json hourglass serve --config /etc/hourglass.toml")]
    Serve(ServeArgs),
    /// Update the database's structure, roll it back, or show where it stands.
    ///
    /// `serve` applies pending changes by itself unless migrate_on_start = false.
    #[command(after_long_help = "\
Examples:
  hourglass migrate status
  hourglass migrate up --database-url postgres://hourglass@db.internal/hourglass
  hourglass migrate down --steps 1")]
    Migrate {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Load a sample workspace to explore, and print a key to query it with.
    ///
    /// The small demo (~100,000 events) or, with `--shape b2b` or more than 100,000
    /// events, a B2B-shaped one of any size. It creates the agency and workspace if
    /// needed and prints an ADMIN key for the agency. Loading it twice stores nothing
    /// new.
    #[command(after_long_help = "\
Examples:
  hourglass demo
  hourglass demo --shape b2b --events 1000000 --seed 7
  hourglass demo --agency northwind --workspace trial --database-url sqlite://trial.db?mode=rwc")]
    Demo(DemoArgs),
    /// Print the GraphQL schema, for API clients and code generators.
    Schema,
    /// Import events from a CSV or NDJSON file (a CRM export, a spreadsheet).
    ///
    /// The file is streamed into the workspace in batches through the same checks as
    /// `POST /v1/events`, with progress on a terminal. Rows without a messageId get
    /// one derived from their content, so importing a file again stores nothing
    /// twice. Rejected rows are written to a report file; the exit status is 2 when
    /// there were any.
    #[command(after_long_help = "\
Examples:
  hourglass import crm-export.csv --agency acme --workspace main --mapping crm.toml
  hourglass import history.ndjson --agency acme --workspace main
  hourglass import archive.jsonl --agency acme --workspace main --format segment")]
    Import(ImportArgs),
    /// Check, test and run your own KPI scripts (.rhai files).
    ///
    /// Try a script here before you add it to a workspace with the GraphQL API.
    #[command(
        subcommand,
        after_long_help = "\
Examples:
  hourglass kpi validate hot_account.rhai
  hourglass kpi test hot_account.rhai --fixtures hot_account.test.json
  hourglass kpi run hot_account.rhai --agency acme --workspace main --top 10"
    )]
    Kpi(KpiCommand),
    /// Recompute the stored KPI totals from the raw events.
    ///
    /// After a restore, or to check them: a sound database answers the same after.
    #[command(after_long_help = "\
Examples:
  hourglass rollups rebuild
  hourglass rollups rebuild --agency acme --workspace main")]
    Rollups {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(subcommand)]
        action: RollupsCommand,
    },
    /// Create agencies and API keys; list and revoke keys.
    ///
    /// How an operator lets the first client in: an agency and its first ADMIN key.
    /// Everything after that (workspaces, more keys) goes through GraphQL with a key.
    /// These commands talk to the database directly; run them where it is reachable.
    #[command(after_long_help = "\
Examples:
  hourglass admin create-agency northwind --name \"Northwind Agency\"
  KEY=$(hourglass admin create-key --agency northwind --role ADMIN)
  hourglass admin list-keys --agency northwind
  hourglass admin revoke-key --agency northwind 3f9c0a1b2c3d4e5f")]
    Admin {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(subcommand)]
        action: AdminCommand,
    },
    /// Show the settings in effect and where each value comes from.
    ///
    /// One line per setting: its value and whether it is the default or comes from the
    /// --config file, an environment variable or a flag. Passwords are masked. Give
    /// `serve`'s flags to see what `serve` would run with.
    #[command(after_long_help = "\
Examples:
  hourglass config
  hourglass --config /etc/hourglass.toml config --bind 0.0.0.0:8080
  HOURGLASS_GRAPHQL__MAX_DEPTH=8 hourglass config --json")]
    Config(ConfigArgs),
    /// Copy the SQLite database to a file while the server keeps running.
    ///
    /// The copy is consistent: the database as one moment saw it, every write
    /// acknowledged before the backup began included. Restore by stopping the server
    /// and putting the copy in place of the database (moving its -wal and -shm files
    /// aside), or by pointing --database-url at it. For PostgreSQL, use pg_dump.
    #[command(after_long_help = "\
Examples:
  hourglass backup /backups/hourglass-$(date +%F).db
  hourglass backup nightly.db --force --database-url sqlite:///var/lib/hourglass/hourglass.db")]
    Backup(BackupArgs),
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an agency: the owner of workspaces and keys.
    ///
    /// An agency with client workspaces, or an in-house team with one.
    #[command(after_long_help = "\
Examples:
  hourglass admin create-agency northwind
  hourglass admin create-agency northwind --name \"Northwind Agency\"")]
    CreateAgency {
        /// Its short name in URLs and commands: lower-case letters, digits and '-'.
        slug: String,
        /// A display name; the slug when left out.
        #[arg(long)]
        name: Option<String>,
    },
    /// Issue an API key and print it, once.
    ///
    /// The key is all that goes to stdout, so `KEY=$(…)` captures it; what it is for
    /// goes to stderr. Only a hash of it is stored: it cannot be shown again.
    #[command(after_long_help = "\
Examples:
  hourglass admin create-key --agency northwind --role ADMIN
  hourglass admin create-key --agency northwind --workspace acme --role INGEST --name \"website tracker\"
  hourglass admin create-key --agency northwind --workspace acme --role READ --name \"Looker dashboard\"")]
    CreateKey {
        /// The agency the key belongs to.
        #[arg(long)]
        agency: String,
        /// Limit the key to one workspace; without it the key acts on all of the
        /// agency's workspaces.
        #[arg(long)]
        workspace: Option<String>,
        /// What the key may do: ADMIN (everything), ANALYST (read, write KPI
        /// scripts), INGEST (send events only) or READ.
        #[arg(long)]
        role: String,
        /// What the key is for, shown in listings.
        #[arg(long)]
        name: Option<String>,
    },
    /// List an agency's keys, never their secrets.
    ///
    /// One line per key: public id, role, workspace (* for all), name, when made, when
    /// last used, and whether it is active or revoked.
    #[command(after_long_help = "\
Examples:
  hourglass admin list-keys --agency northwind")]
    ListKeys {
        /// The agency whose keys to list.
        #[arg(long)]
        agency: String,
    },
    /// Revoke a key by its public id.
    ///
    /// The public id is the part after `hg_`, before the second `_`, as list-keys
    /// shows it. The key stops working on its next request (within
    /// auth.key_cache_seconds on a running server).
    #[command(after_long_help = "\
Examples:
  hourglass admin revoke-key --agency northwind 3f9c0a1b2c3d4e5f")]
    RevokeKey {
        /// The agency the key belongs to.
        #[arg(long)]
        agency: String,
        /// The key's public id, as `list-keys` shows it.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RollupsCommand {
    /// Recompute person numbers and KPI totals from the raw events.
    ///
    /// After a restore, or to check them; every workspace when none is named. Ingest
    /// into a workspace waits while it is rebuilt.
    #[command(after_long_help = "\
Examples:
  hourglass rollups rebuild
  hourglass rollups rebuild --agency acme --workspace main")]
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
    /// Check a script without running it.
    ///
    /// On a mistake it exits with 1 and says the line and column.
    #[command(after_long_help = "\
Examples:
  hourglass kpi validate scripts/kpis/hot_account.rhai")]
    Validate {
        /// The script (.rhai).
        file: PathBuf,
    },
    /// Test a script on made-up organizations against the values they should give.
    ///
    /// Exits with 0 when every case passes, 1 otherwise, so it fits a CI step.
    #[command(after_long_help = "\
Examples:
  hourglass kpi test scripts/kpis/hot_account.rhai --fixtures scripts/kpis/hot_account.test.json")]
    Test {
        /// The script (.rhai).
        file: PathBuf,
        /// The cases, in JSON (see scripts/kpis/*.test.json).
        #[arg(long)]
        fixtures: PathBuf,
    },
    /// Run a script on a workspace's data and print each organization's value.
    ///
    /// Highest first; `--top` says how many.
    #[command(after_long_help = "\
Examples:
  hourglass kpi run scripts/kpis/hot_account.rhai --agency demo --workspace demo --top 10
  hourglass kpi run depth.rhai --agency acme --workspace main --campaign q3-webinar \\
      --from 2026-07-01T00:00:00Z --to 2026-10-01T00:00:00Z --params '{\"min_attendees\": 3}'")]
    Run {
        /// The script (.rhai).
        file: PathBuf,
        #[command(flatten)]
        database: DatabaseArgs,
        /// The agency that owns the workspace.
        #[arg(long)]
        agency: String,
        /// The workspace whose data the script reads.
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
    /// Comma-separated values with a header row.
    Csv,
    /// hourglass's own events, one JSON object per line (as `POST /v1/events`).
    Ndjson,
    /// Segment tracking-spec messages, one per line (a Segment export or archive).
    Segment,
}

/// A setting given on the command line: which key it sets, under which flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagSetting {
    /// The setting's key, as in the config file (`bind`, `graphql.max_depth`).
    pub key: &'static str,
    /// The flag that set it, as typed (`--bind`).
    pub flag: &'static str,
    pub value: String,
}

#[derive(Debug, Default, Args)]
pub struct DatabaseArgs {
    /// Where the data is: sqlite://FILE?mode=rwc (embedded) or
    /// postgres://USER@HOST/DB (default: sqlite://hourglass.db?mode=rwc).
    #[arg(long, value_name = "URL", global = true)]
    pub database_url: Option<String>,
}

#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on, such as 0.0.0.0:8080 (port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The settings `serve` would run with when given the same flags.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Print JSON instead: each key with its value and where it came from.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the copy. It must not exist yet, unless --force.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Replace FILE if it exists (the old copy stays whole until the new one is
    /// complete).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending change.
    #[command(after_long_help = "\
Examples:
  hourglass migrate up")]
    Up,
    /// Roll back the newest changes.
    #[command(after_long_help = "\
Examples:
  hourglass migrate down --steps 2")]
    Down {
        /// How many to roll back.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List every change and whether it is applied.
    #[command(after_long_help = "\
Examples:
  hourglass migrate status")]
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
    /// The settings these flags set.
    pub fn flags(&self) -> Vec<FlagSetting> {
        self.database_url
            .iter()
            .map(|url| FlagSetting {
                key: "database_url",
                flag: "--database-url",
                value: url.clone(),
            })
            .collect()
    }

    pub fn apply(&self, settings: &mut Settings) {
        if let Some(url) = &self.database_url {
            settings.database_url.clone_from(url);
        }
    }
}

impl ServeArgs {
    /// The settings these flags set.
    pub fn flags(&self) -> Vec<FlagSetting> {
        let mut flags = self.database.flags();
        if let Some(bind) = &self.bind {
            flags.push(FlagSetting {
                key: "bind",
                flag: "--bind",
                value: bind.clone(),
            });
        }
        flags
    }

    pub fn apply(&self, settings: &mut Settings) {
        self.database.apply(settings);
        if let Some(bind) = &self.bind {
            settings.bind.clone_from(bind);
        }
    }
}
