//! Partial indexes on the events of rare kinds that KPIs read as rows: survey
//! answers (the NPS counts each person's latest), stage changes (how far people
//! got) and revenue. Without them those KPIs scanned every event of the workspace
//! (3.8 s for the stage changes of 3M events on SQLite). Partial, so that the other
//! ninety-odd percent of events written pay nothing for them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (index name, kind): one index per kind, as both databases use a partial index
/// only for a query whose condition names its predicate.
const INDEXES: [(&str, &str); 3] = [
    ("events_survey_responses", "SURVEY_RESPONSE"),
    ("events_stage_changes", "STAGE_CHANGE"),
    ("events_revenue", "REVENUE"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, kind) in INDEXES {
            // Constants only: nothing here comes from a user.
            db.execute_unprepared(&format!(
                "CREATE INDEX {name} ON events (workspace_id, occurred_at) WHERE kind = '{kind}'"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, _) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        Ok(())
    }
}
