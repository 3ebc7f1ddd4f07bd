//! The aggregate layer: KPI reads stop scanning raw events.
//!
//! - `people`: a dense number per person (contact, else anonymous visitor) and
//!   workspace, so the people of a bucket fit a small roaring bitmap.
//! - `events.person`: that number on every event, so raw edges of a range can be
//!   unioned with the bitmaps.
//! - `rollups`: per UTC day (`grain` 1), kind, campaign, channel and asset (or all
//!   assets): the number of events, the sum of their values and the bitmap of their
//!   people. Written in the ingest transaction; rebuilt from raw events on demand.
//! - `rollup_months`: the months a workspace has rollups in, and whether each is
//!   *sealed*: a sealed month also has month rows (`grain` 2), the union of its days,
//!   kept up to date by ingest from then on, so a long range reads a dozen rows
//!   where it would read hundreds of days.
//! - `workspaces.rollup_version`: which generation of rollups a workspace holds; a
//!   workspace behind the current one is answered from raw events until rebuilt
//!   (`Store::migrate_up` rebuilds them).
//!
//! KPI counts no longer read the wide covering index of migration 3, so it goes; the
//! (campaign | asset | organization, kind) indexes become (…, time), which is what
//! the raw edges of a range and the organization filter look up.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Workspaces {
    Table,
    Id,
    RollupVersion,
}

#[derive(DeriveIden, Clone, Copy)]
enum Events {
    Table,
    WorkspaceId,
    Kind,
    OccurredAt,
    ContactId,
    AnonymousId,
    AssetId,
    CampaignId,
    Channel,
    OrganizationId,
    Person,
}

#[derive(DeriveIden, Clone, Copy)]
enum People {
    Table,
    WorkspaceId,
    Number,
    ContactId,
    AnonymousId,
}

#[derive(DeriveIden, Clone, Copy)]
enum RollupMonths {
    Table,
    WorkspaceId,
    Month,
    Sealed,
}

#[derive(DeriveIden, Clone, Copy)]
enum Rollups {
    Table,
    WorkspaceId,
    Grain,
    AssetId,
    CampaignId,
    Bucket,
    Channel,
    Kind,
    Events,
    ValueSum,
    People,
}

fn index(name: &str, table: impl IntoIden, columns: &[Events]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(*column);
    }
    index.take()
}

/// Indexes replaced: (name, columns before, columns after).
const REPLACED: [(&str, &str, [Events; 3]); 3] = [
    (
        "events_workspace_campaign_kind",
        "events_workspace_campaign_time",
        [Events::WorkspaceId, Events::CampaignId, Events::OccurredAt],
    ),
    (
        "events_workspace_asset_kind",
        "events_workspace_asset_time",
        [Events::WorkspaceId, Events::AssetId, Events::OccurredAt],
    ),
    (
        "events_workspace_organization_kind",
        "events_workspace_organization_time",
        [
            Events::WorkspaceId,
            Events::OrganizationId,
            Events::OccurredAt,
        ],
    ),
];

const COVERING: &str = "events_kpi_covering";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Workspaces::Table)
                    .add_column(integer(Workspaces::RollupVersion).default(0))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .add_column(integer_null(Events::Person))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(People::Table)
                    .col(big_integer(People::WorkspaceId))
                    .col(integer(People::Number))
                    .col(big_integer_null(People::ContactId))
                    .col(string_null(People::AnonymousId))
                    .primary_key(Index::create().col(People::WorkspaceId).col(People::Number))
                    .foreign_key(
                        ForeignKey::create()
                            .from(People::Table, People::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        for (name, column) in [
            ("people_workspace_contact", People::ContactId),
            ("people_workspace_anonymous", People::AnonymousId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(People::Table)
                        .col(People::WorkspaceId)
                        .col(column)
                        .unique()
                        .take(),
                )
                .await?;
        }

        // The key reads as the queries narrow: workspace, grain, one asset (or all),
        // one campaign, then a range of buckets; channel and kind are read per row.
        manager
            .create_table(
                Table::create()
                    .table(Rollups::Table)
                    .col(big_integer(Rollups::WorkspaceId))
                    .col(small_integer(Rollups::Grain))
                    .col(big_integer(Rollups::AssetId))
                    .col(big_integer(Rollups::CampaignId))
                    .col(big_integer(Rollups::Bucket))
                    .col(string_len(Rollups::Channel, 64))
                    .col(string_len(Rollups::Kind, 24))
                    .col(big_integer(Rollups::Events))
                    .col(double(Rollups::ValueSum))
                    .col(blob_null(Rollups::People))
                    .primary_key(
                        Index::create()
                            .col(Rollups::WorkspaceId)
                            .col(Rollups::Grain)
                            .col(Rollups::AssetId)
                            .col(Rollups::CampaignId)
                            .col(Rollups::Bucket)
                            .col(Rollups::Channel)
                            .col(Rollups::Kind),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Rollups::Table, Rollups::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RollupMonths::Table)
                    .col(big_integer(RollupMonths::WorkspaceId))
                    .col(big_integer(RollupMonths::Month))
                    .col(boolean(RollupMonths::Sealed).default(false))
                    .primary_key(
                        Index::create()
                            .col(RollupMonths::WorkspaceId)
                            .col(RollupMonths::Month),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(RollupMonths::Table, RollupMonths::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;

        for (old, new, columns) in REPLACED {
            manager
                .create_index(index(new, Events::Table, &columns))
                .await?;
            manager
                .drop_index(Index::drop().name(old).table(Events::Table).to_owned())
                .await?;
        }
        manager
            .drop_index(Index::drop().name(COVERING).table(Events::Table).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index(
                COVERING,
                Events::Table,
                &[
                    Events::WorkspaceId,
                    Events::Kind,
                    Events::OccurredAt,
                    Events::ContactId,
                    Events::AnonymousId,
                    Events::AssetId,
                    Events::CampaignId,
                    Events::Channel,
                    Events::OrganizationId,
                ],
            ))
            .await?;
        for (old, new, columns) in REPLACED {
            manager
                .create_index(index(
                    old,
                    Events::Table,
                    &[columns[0], columns[1], Events::Kind],
                ))
                .await?;
            manager
                .drop_index(Index::drop().name(new).table(Events::Table).to_owned())
                .await?;
        }
        manager
            .drop_table(Table::drop().table(RollupMonths::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(Rollups::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(People::Table).take())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .drop_column(Events::Person)
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Workspaces::Table)
                    .drop_column(Workspaces::RollupVersion)
                    .take(),
            )
            .await
    }
}
