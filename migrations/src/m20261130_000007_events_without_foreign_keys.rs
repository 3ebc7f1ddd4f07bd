//! PostgreSQL: the events table loses its foreign keys.
//!
//! Each was a row-level trigger on every inserted event (five lookups per row), a
//! large share of an ingest batch's time once the rollups were cheap. Events are
//! written by one code path (`WorkspaceStore::ingest`), which creates or looks up
//! every catalog row an event names in the same transaction, and nothing deletes
//! catalog rows: the references hold by construction. SQLite keeps its keys: there
//! they are cheap index probes, and dropping one means rebuilding the table.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (column, referenced table, on delete) of each key, named as PostgreSQL named
/// them when migration 1 created them unnamed.
const KEYS: [(&str, &str, &str); 5] = [
    ("workspace_id", "workspaces", "CASCADE"),
    ("contact_id", "contacts", "SET NULL"),
    ("organization_id", "organizations", "SET NULL"),
    ("campaign_id", "campaigns", "SET NULL"),
    ("asset_id", "assets", "SET NULL"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for (column, _, _) in KEYS {
            db.execute_unprepared(&format!(
                "ALTER TABLE events DROP CONSTRAINT IF EXISTS events_{column}_fkey"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for (column, table, on_delete) in KEYS {
            db.execute_unprepared(&format!(
                "ALTER TABLE events ADD CONSTRAINT events_{column}_fkey FOREIGN KEY ({column}) \
                 REFERENCES {table} (id) ON DELETE {on_delete}"
            ))
            .await?;
        }
        Ok(())
    }
}
