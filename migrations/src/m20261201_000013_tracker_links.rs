//! Tracker links: a short public code per link, what a click on it records
//! (campaign, asset, channel, and the contact when it was made for one), where it
//! sends the visitor, and how many clicks it has had.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum TrackerLinks {
    Table,
    Id,
    WorkspaceId,
    /// The public code in `/l/{code}`: unique across the server, since a click
    /// carries nothing else to find its workspace by.
    Code,
    Campaign,
    Asset,
    Channel,
    Contact,
    Destination,
    Utm,
    Clicks,
    ArchivedAt,
    CreatedAt,
}

const WORKSPACE_INDEX: &str = "tracker_links_workspace";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TrackerLinks::Table)
                    .col(big_pk_auto(TrackerLinks::Id))
                    .col(big_integer(TrackerLinks::WorkspaceId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TrackerLinks::Table, TrackerLinks::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .col(string_len_uniq(TrackerLinks::Code, 16))
                    .col(string_len_null(TrackerLinks::Campaign, 200))
                    .col(string_len_null(TrackerLinks::Asset, 200))
                    .col(string_len_null(TrackerLinks::Channel, 64))
                    .col(string_len_null(TrackerLinks::Contact, 200))
                    .col(text(TrackerLinks::Destination))
                    .col(json(TrackerLinks::Utm))
                    .col(big_integer(TrackerLinks::Clicks).default(0))
                    .col(big_integer_null(TrackerLinks::ArchivedAt))
                    .col(big_integer(TrackerLinks::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(WORKSPACE_INDEX)
                    .table(TrackerLinks::Table)
                    .col(TrackerLinks::WorkspaceId)
                    .col(TrackerLinks::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TrackerLinks::Table).to_owned())
            .await
    }
}
