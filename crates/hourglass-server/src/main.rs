use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use hourglass_core::Role;
use hourglass_server::cli::{Cli, Command, MigrateAction, ServeArgs};
use hourglass_server::config_cli::Origin;
use hourglass_server::failure::{self, WithHint as _};
use hourglass_server::invocation::{Invocation, Process};
use hourglass_server::logging::{self, Verbosity};
use hourglass_server::{
    Application, Settings, admin, app, backup_cli, config_cli, demo, graphql, import_cli, kpi_cli,
    rollups_cli,
};

#[actix_web::main]
async fn main() -> ExitCode {
    // Usage mistakes are answered by the parser itself (exit status 2).
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{}", failure::one_line(&error));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let figment = Settings::figment(cli.config.as_deref());
    let mut settings: Settings = figment
        .extract()
        .context("reading settings")
        .hint("check the --config file and the HOURGLASS_* variables; config/default.toml lists every setting")?;
    let command = cli.command.unwrap_or(Command::Serve(ServeArgs::default()));
    // Kept to the end of the command: dropping it flushes exported traces.
    let _traces = logging::init(
        &settings,
        Verbosity {
            flags: cli.verbose,
            level_configured: Origin::of(&figment, "log_level") != Origin::Default,
            serving: matches!(command, Command::Serve(_)),
        },
    )?;
    match command {
        Command::Serve(args) => {
            args.apply(&mut settings);
            let application = Application::build(settings.clone()).await?;
            tracing::info!(
                address = %application.address(),
                metrics_address = application
                    .metrics_address()
                    .map_or_else(|| "off".to_owned(), |a| a.to_string()),
                database = hourglass_server::settings::redact(&settings.database_url),
                "hourglass is listening; GraphiQL at http://{}/graphql",
                application.address()
            );
            application.run_until_stopped().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { database, action } => {
            database.apply(&mut settings);
            settings.migrate_on_start = false;
            let store = app::connect(&settings).await?;
            match action {
                MigrateAction::Up => store.migrate_up().await?,
                MigrateAction::Down { steps } => store.migrate_down(Some(steps)).await?,
                MigrateAction::Status => {}
            }
            for (name, applied) in store.migration_status().await? {
                println!("{} {name}", if applied { "applied " } else { "pending " });
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => {
            args.database.apply(&mut settings);
            let store = app::connect(&settings).await?;
            let shape = args
                .shape
                .unwrap_or_else(|| demo::DemoShape::for_events(args.events));
            let summary = demo::load_shape(
                &store,
                &args.agency,
                &args.workspace,
                args.seed,
                args.events,
                shape,
            )
            .await?;
            println!(
                "demo workspace '{}' of agency '{}': {} events stored, {} already there",
                args.workspace, args.agency, summary.accepted, summary.duplicates
            );
            let tenant = store.agency_tenant(&args.agency).await?;
            let key = admin::issue_key(&tenant, None, Role::Admin, "demo").await?;
            println!(
                "an ADMIN key for agency '{}' (shown once): {}",
                args.agency,
                key.secret.reveal()
            );
            let again = Invocation::new(
                &Process::current(),
                cli.config.as_deref(),
                args.database.database_url.as_deref(),
            );
            println!(
                "next: `{}`{}, open http://{}/graphql and set the header \
                 {{\"Authorization\": \"Bearer {}\"}}",
                again.command(&["serve"]),
                again.note(),
                settings.bind,
                key.secret.reveal()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Rollups { database, action } => {
            database.apply(&mut settings);
            let store = app::connect(&settings).await?;
            rollups_cli::run(&store, action).await
        }
        Command::Admin { database, action } => {
            database.apply(&mut settings);
            let store = app::connect(&settings).await?;
            let again = Invocation::new(
                &Process::current(),
                cli.config.as_deref(),
                database.database_url.as_deref(),
            );
            admin::run(&store, action, &again).await
        }
        Command::Schema => {
            print!("{}", graphql::sdl());
            Ok(ExitCode::SUCCESS)
        }
        Command::Kpi(command) => kpi_cli::run(command, settings).await,
        Command::Import(args) => {
            args.database.apply(&mut settings);
            import_cli::run(args, settings).await
        }
        Command::Config(args) => {
            args.serve.apply(&mut settings);
            config_cli::run(&settings, &figment, &args.serve.flags(), args.json)
        }
        Command::Backup(args) => backup_cli::run(args, settings).await,
    }
}
