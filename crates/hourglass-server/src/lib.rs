//! The hourglass service: actix-web transport, the GraphQL schema, the CLI.
//!
//! This crate is transport. It parses, calls core and storage, and maps errors
//! to the public codes in [`error`]; KPI maths lives in `hourglass-core`.

pub mod access;
pub mod admin;
pub mod app;
pub mod backup_cli;
pub mod cli;
pub mod config_cli;
pub mod demo;
pub mod error;
pub mod failure;
mod fair_slots;
pub mod graphql;
mod http;
pub mod import_cli;
mod ingest;
pub mod invocation;
pub mod kpi_cli;
mod links;
pub mod logging;
pub mod observability;
mod request_id;
pub mod rollups_cli;
pub mod scripts;
mod segment;
pub mod settings;
mod ws;

pub use app::Application;
pub use settings::Settings;
