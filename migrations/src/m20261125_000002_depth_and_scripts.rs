//! The bottom of the hourglass and custom KPIs: per-workspace depth settings, and
//! KPI scripts with immutable versions.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
    /// JSON object of depth-score weights; NULL means the defaults.
    DepthWeights,
    /// Share of a webinar's duration that counts as staying to the end.
    FullStayThreshold,
    /// JSON array of lifecycle stages in order; NULL means the defaults.
    LifecycleStages,
}

#[derive(DeriveIden)]
enum KpiScripts {
    Table,
    Id,
    WorkspaceId,
    Key,
    CurrentVersion,
    ArchivedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum KpiScriptVersions {
    Table,
    Id,
    ScriptId,
    Version,
    Name,
    Description,
    Goal,
    Unit,
    Source,
    /// JSON array of declared parameters: { name, default, description }.
    Params,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in [
            json_binary_null(Workspaces::DepthWeights),
            double(Workspaces::FullStayThreshold).default(0.9).take(),
            json_binary_null(Workspaces::LifecycleStages),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Workspaces::Table)
                        .add_column(column)
                        .take(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(KpiScripts::Table)
                    .col(big_pk_auto(KpiScripts::Id))
                    .col(big_integer(KpiScripts::WorkspaceId))
                    .col(string_len(KpiScripts::Key, 64))
                    .col(integer(KpiScripts::CurrentVersion))
                    .col(big_integer_null(KpiScripts::ArchivedAt))
                    .col(big_integer(KpiScripts::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(KpiScripts::Table, KpiScripts::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("kpi_scripts_workspace_key")
                    .table(KpiScripts::Table)
                    .col(KpiScripts::WorkspaceId)
                    .col(KpiScripts::Key)
                    .unique()
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(KpiScriptVersions::Table)
                    .col(big_pk_auto(KpiScriptVersions::Id))
                    .col(big_integer(KpiScriptVersions::ScriptId))
                    .col(integer(KpiScriptVersions::Version))
                    .col(string(KpiScriptVersions::Name))
                    .col(text_null(KpiScriptVersions::Description))
                    .col(string_len(KpiScriptVersions::Goal, 8))
                    .col(string_len_null(KpiScriptVersions::Unit, 32))
                    .col(text(KpiScriptVersions::Source))
                    .col(json_binary(KpiScriptVersions::Params))
                    .col(big_integer(KpiScriptVersions::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(KpiScriptVersions::Table, KpiScriptVersions::ScriptId)
                            .to(KpiScripts::Table, KpiScripts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("kpi_script_versions_script_version")
                    .table(KpiScriptVersions::Table)
                    .col(KpiScriptVersions::ScriptId)
                    .col(KpiScriptVersions::Version)
                    .unique()
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(KpiScriptVersions::Table)
                    .if_exists()
                    .take(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(KpiScripts::Table).if_exists().take())
            .await?;
        for column in [
            Workspaces::LifecycleStages,
            Workspaces::FullStayThreshold,
            Workspaces::DepthWeights,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Workspaces::Table)
                        .drop_column(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
