//! `engagement_facts`: the per-contact side of the aggregate layer, which depth, the
//! short list and `Organization.depth` read instead of every raw event.
//!
//! A row tallies one organization's events that share a contact (0: none), asset
//! (0: none), campaign, channel, kind and — for shares — recipient, per UTC day
//! (`grain` 1) and over all time (`grain` 0, `bucket` 0): how many, the sum of their
//! values (attended seconds), and when the first happened (who came first to an
//! asset). Written in the ingest transaction, rebuilt with the rollups; the bump of
//! the rollup generation in code makes `migrate up` fill it for existing workspaces.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Workspaces {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum EngagementFacts {
    Table,
    WorkspaceId,
    Grain,
    CampaignId,
    OrganizationId,
    Bucket,
    ContactId,
    AssetId,
    Channel,
    Kind,
    Recipient,
    Events,
    ValueSum,
    FirstAt,
}

const BY_ORGANIZATION: &str = "engagement_facts_workspace_organization";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use EngagementFacts as F;
        // The key reads as the queries narrow: workspace, grain, one campaign (a
        // campaign's short list), then organizations; a page of organizations without
        // a campaign uses the second index.
        manager
            .create_table(
                Table::create()
                    .table(F::Table)
                    .col(big_integer(F::WorkspaceId))
                    .col(small_integer(F::Grain))
                    .col(big_integer(F::CampaignId))
                    .col(big_integer(F::OrganizationId))
                    .col(big_integer(F::Bucket))
                    .col(big_integer(F::ContactId))
                    .col(big_integer(F::AssetId))
                    .col(string_len(F::Channel, 64))
                    .col(string_len(F::Kind, 24))
                    .col(string_len(F::Recipient, 320))
                    .col(big_integer(F::Events))
                    .col(double(F::ValueSum))
                    .col(big_integer(F::FirstAt))
                    .primary_key(
                        Index::create()
                            .col(F::WorkspaceId)
                            .col(F::Grain)
                            .col(F::CampaignId)
                            .col(F::OrganizationId)
                            .col(F::Bucket)
                            .col(F::ContactId)
                            .col(F::AssetId)
                            .col(F::Channel)
                            .col(F::Kind)
                            .col(F::Recipient),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(F::Table, F::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(BY_ORGANIZATION)
                    .table(F::Table)
                    .col(F::WorkspaceId)
                    .col(F::Grain)
                    .col(F::OrganizationId)
                    .col(F::Bucket)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EngagementFacts::Table).take())
            .await
    }
}
