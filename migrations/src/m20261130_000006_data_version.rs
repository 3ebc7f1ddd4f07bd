//! `workspaces.data_version`: a counter every write transaction of a workspace
//! bumps (ingest, catalog, spend, settings, scripts, a rollups rebuild). KPI answers
//! are cached under it, so a commit makes every cached answer of the workspace
//! unreachable at once, in every server process that shares the database.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Workspaces {
    Table,
    DataVersion,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Workspaces::Table)
                    .add_column(big_integer(Workspaces::DataVersion).default(0))
                    .take(),
            )
            .await?;
        // Store the value in every existing row rather than leave SQLite to read it
        // from the column's default (see `Tenant::create_workspace`).
        manager
            .get_connection()
            .execute_unprepared("UPDATE workspaces SET data_version = 0")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Workspaces::Table)
                    .drop_column(Workspaces::DataVersion)
                    .take(),
            )
            .await
    }
}
