//! The foundation: workspaces, their catalog (organizations, contacts, campaigns,
//! assets), engagement events and spend.
//!
//! Times are stored as milliseconds since the Unix epoch (UTC) in BIGINT columns: the
//! same type, ordering and arithmetic on SQLite and PostgreSQL.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
    Slug,
    Name,
    MinSample,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    WorkspaceId,
    ExternalId,
    Name,
    Domain,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Contacts {
    Table,
    Id,
    WorkspaceId,
    ExternalId,
    OrganizationId,
    Email,
    Stage,
    StageChangedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Campaigns {
    Table,
    Id,
    WorkspaceId,
    ExternalId,
    Name,
    Goal,
    StartsAt,
    EndsAt,
    Budget,
    Currency,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Assets {
    Table,
    Id,
    WorkspaceId,
    ExternalId,
    Kind,
    Title,
    Url,
    DurationSeconds,
    LandingPageId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Events {
    Table,
    Id,
    WorkspaceId,
    MessageId,
    Kind,
    OccurredAt,
    ReceivedAt,
    ContactId,
    AnonymousId,
    OrganizationId,
    CampaignId,
    AssetId,
    Channel,
    Value,
    Properties,
}

#[derive(DeriveIden)]
enum Spend {
    Table,
    Id,
    WorkspaceId,
    CampaignId,
    Channel,
    Day,
    Amount,
}

/// A foreign key from `table.column` to `target.id`.
fn references(
    table: impl IntoIden,
    column: impl IntoIden,
    target: impl IntoIden,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, column)
        .to(target, Alias::new("id"))
        .on_delete(on_delete)
        .take()
}

/// `(workspace_id, external_id)` is how clients name things: unique per workspace.
fn unique_external_id(name: &str, table: impl IntoIden) -> IndexCreateStatement {
    Index::create()
        .name(name)
        .table(table)
        .col(Alias::new("workspace_id"))
        .col(Alias::new("external_id"))
        .unique()
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Workspaces::Table)
                    .col(big_pk_auto(Workspaces::Id))
                    .col(string_len_uniq(Workspaces::Slug, 64))
                    .col(string(Workspaces::Name))
                    .col(integer(Workspaces::MinSample).default(30))
                    .col(big_integer(Workspaces::CreatedAt))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Organizations::Table)
                    .col(big_pk_auto(Organizations::Id))
                    .col(big_integer(Organizations::WorkspaceId))
                    .col(string(Organizations::ExternalId))
                    .col(string_null(Organizations::Name))
                    .col(string_null(Organizations::Domain))
                    .col(big_integer(Organizations::CreatedAt))
                    .foreign_key(&mut references(
                        Organizations::Table,
                        Organizations::WorkspaceId,
                        Workspaces::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique_external_id(
                "organizations_workspace_external_id",
                Organizations::Table,
            ))
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("organizations_workspace_domain")
                    .table(Organizations::Table)
                    .col(Organizations::WorkspaceId)
                    .col(Organizations::Domain)
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Contacts::Table)
                    .col(big_pk_auto(Contacts::Id))
                    .col(big_integer(Contacts::WorkspaceId))
                    .col(string(Contacts::ExternalId))
                    .col(big_integer_null(Contacts::OrganizationId))
                    .col(string_null(Contacts::Email))
                    .col(string_len(Contacts::Stage, 32).default("VISITOR"))
                    .col(big_integer_null(Contacts::StageChangedAt))
                    .col(big_integer(Contacts::CreatedAt))
                    .foreign_key(&mut references(
                        Contacts::Table,
                        Contacts::WorkspaceId,
                        Workspaces::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut references(
                        Contacts::Table,
                        Contacts::OrganizationId,
                        Organizations::Table,
                        ForeignKeyAction::SetNull,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique_external_id(
                "contacts_workspace_external_id",
                Contacts::Table,
            ))
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("contacts_workspace_organization")
                    .table(Contacts::Table)
                    .col(Contacts::WorkspaceId)
                    .col(Contacts::OrganizationId)
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Campaigns::Table)
                    .col(big_pk_auto(Campaigns::Id))
                    .col(big_integer(Campaigns::WorkspaceId))
                    .col(string(Campaigns::ExternalId))
                    .col(string(Campaigns::Name))
                    .col(string_len(Campaigns::Goal, 8))
                    .col(big_integer_null(Campaigns::StartsAt))
                    .col(big_integer_null(Campaigns::EndsAt))
                    .col(double_null(Campaigns::Budget))
                    .col(string_len_null(Campaigns::Currency, 3))
                    .col(big_integer(Campaigns::CreatedAt))
                    .foreign_key(&mut references(
                        Campaigns::Table,
                        Campaigns::WorkspaceId,
                        Workspaces::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique_external_id(
                "campaigns_workspace_external_id",
                Campaigns::Table,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Assets::Table)
                    .col(big_pk_auto(Assets::Id))
                    .col(big_integer(Assets::WorkspaceId))
                    .col(string(Assets::ExternalId))
                    .col(string_len_null(Assets::Kind, 16))
                    .col(string_null(Assets::Title))
                    .col(text_null(Assets::Url))
                    .col(integer_null(Assets::DurationSeconds))
                    .col(big_integer_null(Assets::LandingPageId))
                    .col(big_integer(Assets::CreatedAt))
                    .foreign_key(&mut references(
                        Assets::Table,
                        Assets::WorkspaceId,
                        Workspaces::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut references(
                        Assets::Table,
                        Assets::LandingPageId,
                        Assets::Table,
                        ForeignKeyAction::SetNull,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique_external_id(
                "assets_workspace_external_id",
                Assets::Table,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(big_pk_auto(Events::Id))
                    .col(big_integer(Events::WorkspaceId))
                    .col(string(Events::MessageId))
                    .col(string_len(Events::Kind, 24))
                    .col(big_integer(Events::OccurredAt))
                    .col(big_integer(Events::ReceivedAt))
                    .col(big_integer_null(Events::ContactId))
                    .col(string_null(Events::AnonymousId))
                    .col(big_integer_null(Events::OrganizationId))
                    .col(big_integer_null(Events::CampaignId))
                    .col(big_integer_null(Events::AssetId))
                    .col(string_len_null(Events::Channel, 64))
                    .col(double_null(Events::Value))
                    .col(json_binary(Events::Properties))
                    .foreign_key(&mut references(
                        Events::Table,
                        Events::WorkspaceId,
                        Workspaces::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut references(
                        Events::Table,
                        Events::ContactId,
                        Contacts::Table,
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut references(
                        Events::Table,
                        Events::OrganizationId,
                        Organizations::Table,
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut references(
                        Events::Table,
                        Events::CampaignId,
                        Campaigns::Table,
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut references(
                        Events::Table,
                        Events::AssetId,
                        Assets::Table,
                        ForeignKeyAction::SetNull,
                    ))
                    .take(),
            )
            .await?;
        // The idempotency key: a resent message is stored once.
        manager
            .create_index(
                Index::create()
                    .name("events_workspace_message_id")
                    .table(Events::Table)
                    .col(Events::WorkspaceId)
                    .col(Events::MessageId)
                    .unique()
                    .take(),
            )
            .await?;
        // KPI queries filter by workspace, then one of kind, campaign, asset or
        // organization, then time; the event list pages by (time, id).
        let event_indexes: [(&str, &[Events]); 6] = [
            (
                "events_workspace_kind_time",
                &[Events::Kind, Events::OccurredAt],
            ),
            (
                "events_workspace_campaign_kind",
                &[Events::CampaignId, Events::Kind],
            ),
            (
                "events_workspace_asset_kind",
                &[Events::AssetId, Events::Kind],
            ),
            (
                "events_workspace_organization_kind",
                &[Events::OrganizationId, Events::Kind],
            ),
            ("events_workspace_contact", &[Events::ContactId]),
            (
                "events_workspace_time_id",
                &[Events::OccurredAt, Events::Id],
            ),
        ];
        for (name, columns) in event_indexes {
            let mut index = Index::create();
            index
                .name(name)
                .table(Events::Table)
                .col(Events::WorkspaceId);
            for column in columns {
                index.col(*column);
            }
            manager.create_index(index.take()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Spend::Table)
                    .col(big_pk_auto(Spend::Id))
                    .col(big_integer(Spend::WorkspaceId))
                    .col(big_integer(Spend::CampaignId))
                    .col(string_len(Spend::Channel, 64))
                    .col(date(Spend::Day))
                    .col(double(Spend::Amount))
                    .foreign_key(&mut references(
                        Spend::Table,
                        Spend::WorkspaceId,
                        Workspaces::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut references(
                        Spend::Table,
                        Spend::CampaignId,
                        Campaigns::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("spend_campaign_channel_day")
                    .table(Spend::Table)
                    .col(Spend::CampaignId)
                    .col(Spend::Channel)
                    .col(Spend::Day)
                    .unique()
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents, so foreign keys never dangle.
        for table in [
            Spend::Table.into_iden(),
            Events::Table.into_iden(),
            Assets::Table.into_iden(),
            Campaigns::Table.into_iden(),
            Contacts::Table.into_iden(),
            Organizations::Table.into_iden(),
            Workspaces::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().take())
                .await?;
        }
        Ok(())
    }
}
