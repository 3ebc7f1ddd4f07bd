//! Schema migrations for hourglass, for SQLite and PostgreSQL alike.
//!
//! Migrations are append-only: a released migration is never edited, only followed
//! by a new one. Each has a working `down`, and a storage test runs up → down → up.
//! File names follow `mYYYYMMDD_HHMMSS_what.rs`.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_tables;
mod m20261125_000002_depth_and_scripts;
mod m20261125_000003_covering_kpi_index;
mod m20261125_000004_agencies_and_keys;
mod m20261129_000005_rollups;
mod m20261130_000006_data_version;
mod m20261130_000007_events_without_foreign_keys;
mod m20261130_000008_engagement_facts;
mod m20261130_000009_contact_descriptions;
mod m20261130_000010_rare_kind_indexes;
mod m20261130_000011_reporting_currency;
mod m20261201_000012_events_stay_in_their_workspace;
mod m20261201_000013_tracker_links;
mod m20261201_000014_identities;

/// Every migration, in the order they apply.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_tables::Migration),
            Box::new(m20261125_000002_depth_and_scripts::Migration),
            Box::new(m20261125_000003_covering_kpi_index::Migration),
            Box::new(m20261125_000004_agencies_and_keys::Migration),
            Box::new(m20261129_000005_rollups::Migration),
            Box::new(m20261130_000006_data_version::Migration),
            Box::new(m20261130_000007_events_without_foreign_keys::Migration),
            Box::new(m20261130_000008_engagement_facts::Migration),
            Box::new(m20261130_000009_contact_descriptions::Migration),
            Box::new(m20261130_000010_rare_kind_indexes::Migration),
            Box::new(m20261130_000011_reporting_currency::Migration),
            Box::new(m20261201_000012_events_stay_in_their_workspace::Migration),
            Box::new(m20261201_000013_tracker_links::Migration),
            Box::new(m20261201_000014_identities::Migration),
        ]
    }
}
