use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use hourglass_core::Role;
use hourglass_server::cli::{Cli, Command, MigrateAction, ServeArgs};
use hourglass_server::observability::traces::{self, TraceGuard};
use hourglass_server::{
    Application, Settings, admin, app, demo, graphql, import_cli, kpi_cli, rollups_cli,
};

#[actix_web::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let mut settings = Settings::load(cli.config.as_deref()).context("reading settings")?;
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => {
            args.database.apply(&mut settings);
            if let Some(bind) = args.bind {
                settings.bind = bind;
            }
            let _traces = init_logging(&settings)?;
            let application = Application::build(settings.clone()).await?;
            tracing::info!(
                address = %application.address(),
                metrics_address = application
                    .metrics_address()
                    .map_or_else(|| "off".to_owned(), |a| a.to_string()),
                database = app::redact(&settings.database_url),
                "hourglass is listening; GraphiQL at http://{}/graphql",
                application.address()
            );
            application.run_until_stopped().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { database, action } => {
            database.apply(&mut settings);
            settings.migrate_on_start = false;
            let _traces = init_logging(&settings)?;
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
            let _traces = init_logging(&settings)?;
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
            println!(
                "next: `hourglass serve`, open http://{}/graphql and set the header \
                 {{\"Authorization\": \"Bearer {}\"}}",
                settings.bind,
                key.secret.reveal()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Rollups { database, action } => {
            database.apply(&mut settings);
            let _traces = init_logging(&settings)?;
            let store = app::connect(&settings).await?;
            rollups_cli::run(&store, action).await
        }
        Command::Admin { database, action } => {
            database.apply(&mut settings);
            let _traces = init_logging(&settings)?;
            let store = app::connect(&settings).await?;
            admin::run(&store, action).await
        }
        Command::Schema => {
            print!("{}", graphql::sdl());
            Ok(ExitCode::SUCCESS)
        }
        Command::Kpi(command) => {
            let _traces = init_logging(&settings)?;
            kpi_cli::run(command, settings).await
        }
        Command::Import(args) => {
            args.database.apply(&mut settings);
            let _traces = init_logging(&settings)?;
            import_cli::run(args, settings).await
        }
    }
}

/// Logs (and, when configured, trace export) for this process; keep the guard
/// alive until the command ends so that the last spans are flushed.
fn init_logging(settings: &Settings) -> anyhow::Result<TraceGuard> {
    Ok(traces::install(settings, &settings.log_level)?)
}
