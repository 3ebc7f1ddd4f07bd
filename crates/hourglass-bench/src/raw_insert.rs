//! The ingest baseline: what the database does for the same rows without any of
//! hourglass's work (validation, catalog look-ups, idempotency, secondary indexes).
//! A scratch table with the events table's columns (migration
//! m20261125_000001) and only a primary key; one multi-row INSERT per batch.

use std::collections::HashMap;

use chrono::DateTime;
use hourglass_core::EventDraft;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement, Value};

/// The scratch table; created before and dropped after the measurement.
const TABLE: &str = "bench_raw_events";
const COLUMNS: usize = 13;

/// One event as the events table stores it: ids already turned into row ids.
#[derive(Debug, Clone)]
pub struct RawRow {
    message_id: String,
    kind: String,
    occurred_at: i64,
    received_at: i64,
    contact_id: Option<i64>,
    anonymous_id: Option<String>,
    organization_id: Option<i64>,
    campaign_id: Option<i64>,
    asset_id: Option<i64>,
    channel: Option<String>,
    value: Option<f64>,
    properties: String,
}

/// Turns drafts into rows, numbering external ids the way a catalog would.
#[derive(Debug, Default)]
pub struct RawRows {
    ids: HashMap<String, i64>,
}

impl RawRows {
    fn id(&mut self, prefix: char, external: Option<String>) -> Option<i64> {
        let key = format!("{prefix}{}", external?);
        let next = self.ids.len() as i64 + 1;
        Some(*self.ids.entry(key).or_insert(next))
    }

    pub fn convert(&mut self, batch: Vec<EventDraft>) -> Vec<RawRow> {
        let received_at = chrono::Utc::now().timestamp_millis();
        batch
            .into_iter()
            .map(|d| RawRow {
                occurred_at: d
                    .occurred_at
                    .as_deref()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map_or(0, |t| t.timestamp_millis()),
                received_at,
                contact_id: self.id('c', d.contact_id),
                organization_id: self.id('o', d.organization_id),
                campaign_id: self.id('m', d.campaign_id),
                asset_id: self.id('a', d.asset_id),
                message_id: d.message_id.unwrap_or_default(),
                kind: d.kind.unwrap_or_default(),
                anonymous_id: d.anonymous_id,
                channel: d.channel,
                value: d.value,
                properties: d
                    .properties
                    .map_or_else(|| "{}".to_owned(), |p| p.to_string()),
            })
            .collect()
    }
}

/// Inserts rows into the scratch table over its own connection pool.
#[derive(Debug, Clone)]
pub struct RawInserter {
    db: DatabaseConnection,
}

impl RawInserter {
    /// Creates the scratch table (dropping a leftover one).
    pub async fn create(db: DatabaseConnection) -> anyhow::Result<Self> {
        let (id, properties) = match db.get_database_backend() {
            DatabaseBackend::Postgres => ("id BIGSERIAL PRIMARY KEY", "JSONB"),
            _ => ("id INTEGER PRIMARY KEY AUTOINCREMENT", "TEXT"),
        };
        db.execute_unprepared(&format!("DROP TABLE IF EXISTS {TABLE}"))
            .await?;
        db.execute_unprepared(&format!(
            "CREATE TABLE {TABLE} ({id}, workspace_id BIGINT NOT NULL, \
             message_id VARCHAR NOT NULL, kind VARCHAR(24) NOT NULL, \
             occurred_at BIGINT NOT NULL, received_at BIGINT NOT NULL, contact_id BIGINT, \
             anonymous_id VARCHAR, organization_id BIGINT, campaign_id BIGINT, \
             asset_id BIGINT, channel VARCHAR(64), value DOUBLE PRECISION, \
             properties {properties} NOT NULL)"
        ))
        .await?;
        Ok(Self { db })
    }

    pub async fn drop_table(&self) -> anyhow::Result<()> {
        self.db
            .execute_unprepared(&format!("DROP TABLE IF EXISTS {TABLE}"))
            .await?;
        Ok(())
    }

    /// One multi-row INSERT of `rows`; returns how many rows it stored.
    pub async fn insert(&self, rows: Vec<RawRow>) -> anyhow::Result<u64> {
        let backend = self.db.get_database_backend();
        let postgres = backend == DatabaseBackend::Postgres;
        let mut sql = format!(
            "INSERT INTO {TABLE} (workspace_id, message_id, kind, occurred_at, received_at, \
             contact_id, anonymous_id, organization_id, campaign_id, asset_id, channel, value, \
             properties) VALUES "
        );
        let mut values: Vec<Value> = Vec::with_capacity(rows.len() * COLUMNS);
        for (i, row) in rows.into_iter().enumerate() {
            if i > 0 {
                sql.push(',');
            }
            sql.push('(');
            for column in 0..COLUMNS {
                if column > 0 {
                    sql.push(',');
                }
                if postgres {
                    let n = values.len() + column + 1;
                    sql.push_str(&format!("${n}"));
                    if column == COLUMNS - 1 {
                        sql.push_str("::jsonb");
                    }
                } else {
                    sql.push('?');
                }
            }
            sql.push(')');
            values.extend([
                1i64.into(),
                row.message_id.into(),
                row.kind.into(),
                row.occurred_at.into(),
                row.received_at.into(),
                row.contact_id.into(),
                row.anonymous_id.into(),
                row.organization_id.into(),
                row.campaign_id.into(),
                row.asset_id.into(),
                row.channel.into(),
                row.value.into(),
                row.properties.into(),
            ]);
        }
        let result = self
            .db
            .execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        Ok(result.rows_affected())
    }
}
