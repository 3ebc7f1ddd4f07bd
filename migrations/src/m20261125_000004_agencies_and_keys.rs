//! Tenancy: agencies own workspaces, and API keys belong to an agency or to one of
//! its workspaces.
//!
//! Workspace slugs become unique per agency instead of across the server, so one
//! agency can never learn that another has taken a slug. Workspaces that exist before
//! this migration move to an agency called `default`.
//!
//! SQLite cannot drop a column's UNIQUE constraint, so there the workspaces table is
//! rebuilt as SQLite's documentation prescribes: foreign keys off on one connection,
//! copy, drop, rename, check, foreign keys back on.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseExecutor, sqlx};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Agencies {
    Table,
    Id,
    Slug,
    Name,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Workspaces {
    Table,
    Id,
    AgencyId,
    Slug,
    Name,
    MinSample,
    CreatedAt,
    DepthWeights,
    FullStayThreshold,
    LifecycleStages,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    /// The public half of a key, shown in listings and used to find it.
    PublicId,
    AgencyId,
    /// NULL for a key acting on all of its agency's workspaces.
    WorkspaceId,
    Role,
    Name,
    /// SHA-256 of the secret half, hex.
    SecretHash,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

const DEFAULT_AGENCY: &str = "default";
const AGENCY_SLUG_INDEX: &str = "workspaces_agency_slug";

/// The workspaces table as migrations 1 and 2 left it, with or without its agency.
fn workspaces_table(name: &str, owned_by_agency: bool) -> TableCreateStatement {
    let mut table = Table::create();
    table
        .table(Alias::new(name))
        .col(big_pk_auto(Workspaces::Id));
    if owned_by_agency {
        table.col(big_integer(Workspaces::AgencyId)).foreign_key(
            ForeignKey::create()
                .from(Alias::new(name), Workspaces::AgencyId)
                .to(Agencies::Table, Agencies::Id)
                .on_delete(ForeignKeyAction::Cascade),
        );
        table.col(string_len(Workspaces::Slug, 64));
    } else {
        table.col(string_len_uniq(Workspaces::Slug, 64));
    }
    table
        .col(string(Workspaces::Name))
        .col(integer(Workspaces::MinSample).default(30))
        .col(big_integer(Workspaces::CreatedAt))
        .col(json_binary_null(Workspaces::DepthWeights))
        .col(double(Workspaces::FullStayThreshold).default(0.9))
        .col(json_binary_null(Workspaces::LifecycleStages))
        .take()
}

fn agency_slug_index() -> IndexCreateStatement {
    Index::create()
        .name(AGENCY_SLUG_INDEX)
        .table(Workspaces::Table)
        .col(Workspaces::AgencyId)
        .col(Workspaces::Slug)
        .unique()
        .take()
}

/// Replaces SQLite's workspaces table by a copy with (up) or without (down) its agency.
async fn rebuild_sqlite_workspaces(
    manager: &SchemaManager<'_>,
    owned_by_agency: bool,
) -> Result<(), DbErr> {
    let DatabaseExecutor::Connection(db) = manager.get_connection() else {
        return Err(DbErr::Migration(
            "the SQLite workspaces rebuild needs its own connection, not a transaction".into(),
        ));
    };
    let copied = "slug, name, min_sample, created_at, depth_weights, \
                  full_stay_threshold, lifecycle_stages";
    let (columns, values) = if owned_by_agency {
        (
            format!("id, agency_id, {copied}"),
            format!("id, (SELECT id FROM agencies WHERE slug = '{DEFAULT_AGENCY}'), {copied}"),
        )
    } else {
        (format!("id, {copied}"), format!("id, {copied}"))
    };
    let mut statements = vec![
        workspaces_table("workspaces_new", owned_by_agency).to_string(SqliteQueryBuilder),
        format!("INSERT INTO workspaces_new ({columns}) SELECT {values} FROM workspaces"),
        "DROP TABLE workspaces".to_owned(),
        "ALTER TABLE workspaces_new RENAME TO workspaces".to_owned(),
    ];
    if owned_by_agency {
        statements.push(agency_slug_index().to_string(SqliteQueryBuilder));
    }

    // PRAGMA foreign_keys is per connection and ignored inside a transaction, so the
    // whole rebuild runs on one connection taken from the pool.
    let pool = db.get_sqlite_connection_pool();
    let mut conn = pool.acquire().await.map_err(sql_error)?;
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&mut *conn)
        .await
        .map_err(sql_error)?;
    let rebuilt = async {
        sqlx::query("BEGIN").execute(&mut *conn).await?;
        for statement in &statements {
            // Built above from sea-query statements and constants: nothing a user typed.
            let statement = sqlx::AssertSqlSafe(statement.as_str());
            if let Err(e) = sqlx::query(statement).execute(&mut *conn).await {
                sqlx::query("ROLLBACK").execute(&mut *conn).await?;
                return Err(e);
            }
        }
        let dangling = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&mut *conn)
            .await?;
        if !dangling.is_empty() {
            sqlx::query("ROLLBACK").execute(&mut *conn).await?;
            return Err(sqlx::Error::Protocol(format!(
                "{} rows would reference a missing row after the rebuild",
                dangling.len()
            )));
        }
        sqlx::query("COMMIT").execute(&mut *conn).await?;
        Ok(())
    }
    .await;
    let restored = sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut *conn)
        .await;
    rebuilt.map_err(sql_error)?;
    restored.map_err(sql_error)?;
    Ok(())
}

fn sql_error(e: sqlx::Error) -> DbErr {
    DbErr::Migration(format!("rebuilding the workspaces table: {e}"))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Agencies::Table)
                    .col(big_pk_auto(Agencies::Id))
                    .col(string_len_uniq(Agencies::Slug, 64))
                    .col(string(Agencies::Name))
                    .col(big_integer(Agencies::CreatedAt))
                    .take(),
            )
            .await?;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "INSERT INTO agencies (slug, name, created_at) \
                 SELECT '{DEFAULT_AGENCY}', 'Default agency', {now_ms} \
                 WHERE EXISTS (SELECT 1 FROM workspaces)"
            ))
            .await?;

        match manager.get_database_backend() {
            DatabaseBackend::Sqlite => rebuild_sqlite_workspaces(manager, true).await?,
            _ => {
                let db = manager.get_connection();
                for statement in [
                    "ALTER TABLE workspaces ADD COLUMN agency_id BIGINT \
                     REFERENCES agencies (id) ON DELETE CASCADE"
                        .to_owned(),
                    format!(
                        "UPDATE workspaces SET agency_id = \
                         (SELECT id FROM agencies WHERE slug = '{DEFAULT_AGENCY}')"
                    ),
                    "ALTER TABLE workspaces ALTER COLUMN agency_id SET NOT NULL".to_owned(),
                    "ALTER TABLE workspaces DROP CONSTRAINT IF EXISTS workspaces_slug_key"
                        .to_owned(),
                ] {
                    db.execute_unprepared(&statement).await?;
                }
                manager.create_index(agency_slug_index()).await?;
            }
        }

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(big_pk_auto(ApiKeys::Id))
                    .col(string_len_uniq(ApiKeys::PublicId, 32))
                    .col(big_integer(ApiKeys::AgencyId))
                    .col(big_integer_null(ApiKeys::WorkspaceId))
                    .col(string_len(ApiKeys::Role, 16))
                    .col(string(ApiKeys::Name))
                    .col(string_len(ApiKeys::SecretHash, 64))
                    .col(big_integer(ApiKeys::CreatedAt))
                    .col(big_integer_null(ApiKeys::LastUsedAt))
                    .col(big_integer_null(ApiKeys::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiKeys::Table, ApiKeys::AgencyId)
                            .to(Agencies::Table, Agencies::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiKeys::Table, ApiKeys::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("api_keys_agency")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::AgencyId)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiKeys::Table).if_exists().take())
            .await?;
        match manager.get_database_backend() {
            DatabaseBackend::Sqlite => rebuild_sqlite_workspaces(manager, false).await?,
            _ => {
                manager
                    .drop_index(
                        Index::drop()
                            .name(AGENCY_SLUG_INDEX)
                            .table(Workspaces::Table)
                            .to_owned(),
                    )
                    .await?;
                let db = manager.get_connection();
                db.execute_unprepared(
                    "ALTER TABLE workspaces ADD CONSTRAINT workspaces_slug_key UNIQUE (slug)",
                )
                .await?;
                db.execute_unprepared("ALTER TABLE workspaces DROP COLUMN agency_id")
                    .await?;
            }
        }
        manager
            .drop_table(Table::drop().table(Agencies::Table).if_exists().take())
            .await
    }
}
