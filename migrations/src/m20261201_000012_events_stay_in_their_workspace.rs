//! Events stay in their workspace, by the database's own rule: an event may only
//! name a contact, organization, campaign or asset of its own workspace (and a
//! workspace that exists). Tenancy no longer rests on application code alone.
//!
//! Plain foreign keys cannot say "of the same workspace" without composite keys on
//! every catalog table, and on PostgreSQL each key is a row-level trigger — five
//! per ingested event, which is why migration 7 dropped them. So: on PostgreSQL one
//! statement-level trigger per insert or update, which checks the statement's rows
//! (its transition table) in one set-based query; on SQLite, whose single-column
//! keys stay, a row trigger of four primary-key probes. Either refuses the whole
//! statement, with SQLSTATE 23503 (foreign key violation) on PostgreSQL.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The columns an event names another row by, and that row's table.
const REFERENCES: [(&str, &str); 4] = [
    ("contact_id", "contacts"),
    ("organization_id", "organizations"),
    ("campaign_id", "campaigns"),
    ("asset_id", "assets"),
];

const MESSAGE: &str =
    "an event may only name a contact, organization, campaign or asset of its own workspace";

/// `true` for a row `e` that names a row of another workspace, or no workspace.
fn strays(e: &str) -> String {
    let mut conditions = vec![format!(
        "NOT EXISTS (SELECT 1 FROM workspaces w WHERE w.id = {e}.workspace_id)"
    )];
    conditions.extend(REFERENCES.iter().map(|(column, table)| {
        format!(
            "({e}.{column} IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM {table} t WHERE t.id = {e}.{column} AND t.workspace_id = {e}.workspace_id))"
        )
    }));
    conditions.join(" OR ")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared(&format!(
                    "CREATE FUNCTION events_stay_in_their_workspace() RETURNS trigger \
                     LANGUAGE plpgsql AS $$ BEGIN \
                       IF EXISTS (SELECT 1 FROM stored e WHERE {}) THEN \
                         RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'foreign_key_violation'; \
                       END IF; \
                       RETURN NULL; \
                     END $$",
                    strays("e")
                ))
                .await?;
                for operation in ["INSERT", "UPDATE"] {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER events_stay_in_their_workspace_{} AFTER {operation} \
                         ON events REFERENCING NEW TABLE AS stored FOR EACH STATEMENT \
                         EXECUTE FUNCTION events_stay_in_their_workspace()",
                        operation.to_lowercase()
                    ))
                    .await?;
                }
            }
            _ => {
                let columns: Vec<&str> = REFERENCES.iter().map(|(c, _)| *c).collect();
                for (operation, on) in [
                    ("insert", "INSERT".to_owned()),
                    (
                        "update",
                        format!("UPDATE OF workspace_id, {}", columns.join(", ")),
                    ),
                ] {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER events_stay_in_their_workspace_{operation} BEFORE {on} \
                         ON events FOR EACH ROW WHEN {} \
                         BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
                        strays("NEW")
                    ))
                    .await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for operation in ["insert", "update"] {
            let on = match manager.get_database_backend() {
                DatabaseBackend::Postgres => " ON events",
                _ => "",
            };
            db.execute_unprepared(&format!(
                "DROP TRIGGER IF EXISTS events_stay_in_their_workspace_{operation}{on}"
            ))
            .await?;
        }
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared("DROP FUNCTION IF EXISTS events_stay_in_their_workspace()")
                .await?;
        }
        Ok(())
    }
}
