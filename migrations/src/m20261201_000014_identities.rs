//! Identity stitching and Segment-style tracking.
//!
//! - `identities`: an anonymous visitor id known to be a contact, from the first
//!   event or `identify` call that carried both. From then on the visitor's events,
//!   the earlier ones included, are that contact's (their `contact_id` is set), so
//!   the person is counted once everywhere.
//! - A partial index on the events of anonymous visitors not yet known, which is
//!   exactly what stitching looks up; the other events pay nothing for it.
//! - `track_names`: a workspace's own mapping of tracked event names (Segment's
//!   `track` calls) to event kinds, over the built-in one.
//!
//! Existing events that carried both ids are linked here; the rollups' version
//! bump makes the server rebuild them, and a rebuild stitches first.

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
enum Identities {
    Table,
    WorkspaceId,
    AnonymousId,
    ContactId,
    LinkedAt,
}

#[derive(DeriveIden)]
enum TrackNames {
    Table,
    WorkspaceId,
    Name,
    Kind,
    UpdatedAt,
}

const UNKNOWN_VISITORS_INDEX: &str = "events_unknown_visitors";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Identities::Table)
                    .col(big_integer(Identities::WorkspaceId))
                    .col(string_len(Identities::AnonymousId, 200))
                    .col(big_integer(Identities::ContactId))
                    .col(big_integer(Identities::LinkedAt))
                    .primary_key(
                        Index::create()
                            .col(Identities::WorkspaceId)
                            .col(Identities::AnonymousId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Identities::Table, Identities::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TrackNames::Table)
                    .col(big_integer(TrackNames::WorkspaceId))
                    .col(string_len(TrackNames::Name, 200))
                    .col(string_len(TrackNames::Kind, 32))
                    .col(big_integer(TrackNames::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(TrackNames::WorkspaceId)
                            .col(TrackNames::Name),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(TrackNames::Table, TrackNames::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // Constants only: nothing here comes from a user.
        db.execute_unprepared(&format!(
            "CREATE INDEX {UNKNOWN_VISITORS_INDEX} ON events (workspace_id, anonymous_id) \
             WHERE contact_id IS NULL AND anonymous_id IS NOT NULL"
        ))
        .await?;
        // The first event that named both ids links them, as ingest now does.
        db.execute_unprepared(
            "INSERT INTO identities (workspace_id, anonymous_id, contact_id, linked_at) \
             SELECT e.workspace_id, e.anonymous_id, e.contact_id, e.received_at FROM events e \
             WHERE e.id IN (SELECT MIN(id) FROM events \
               WHERE contact_id IS NOT NULL AND anonymous_id IS NOT NULL \
               GROUP BY workspace_id, anonymous_id)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&format!("DROP INDEX {UNKNOWN_VISITORS_INDEX}"))
            .await?;
        manager
            .drop_table(Table::drop().table(TrackNames::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Identities::Table).to_owned())
            .await
    }
}
