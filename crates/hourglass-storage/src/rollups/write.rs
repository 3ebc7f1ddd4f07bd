//! Adding stored events to the rollups: a batch becomes a delta per row, merged into
//! the stored rows with one read and one multi-row upsert per chunk.

use std::collections::{BTreeMap, BTreeSet};

use hourglass_core::EventKind;
use roaring::RoaringBitmap;
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, FromQueryResult, Statement, Value};

use super::cells::Tally;
use super::months::{GRAIN_MONTH, month_of};
use super::{
    ALL_ASSETS, AggregatedEvent, GRAIN_DAY, GRAIN_HOUR, KEY_COLUMNS, Key, NO_CAMPAIGN, NO_CHANNEL,
    TALLY_COLUMNS, col, day_of, hour_of, primary_key, stored_columns, table,
};
use crate::error::{Result, StorageError};

/// Rows one read or upsert carries (6 or 10 values each): well under both backends'
/// caps on bind parameters.
const UPSERT_CHUNK: usize = 500;

/// Additions to rollup rows, not yet stored.
#[derive(Debug, Default)]
pub(crate) struct Delta {
    rows: BTreeMap<Key, Tally>,
}

impl Delta {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// The months the delta's day rows fall in.
    pub fn months(&self) -> BTreeSet<i64> {
        self.rows
            .keys()
            .filter(|k| k.grain == GRAIN_DAY)
            .map(|k| month_of(k.bucket))
            .collect()
    }

    /// Adds each day row of a sealed month to that month's row too.
    pub fn add_to_sealed_months(&mut self, sealed: &BTreeSet<i64>) {
        let mut months: BTreeMap<Key, Tally> = BTreeMap::new();
        for (key, tally) in &self.rows {
            let month = month_of(key.bucket);
            if key.grain == GRAIN_DAY && sealed.contains(&month) {
                let month_key = Key {
                    grain: GRAIN_MONTH,
                    bucket: month,
                    ..key.clone()
                };
                months.entry(month_key).or_default().absorb(tally);
            }
        }
        self.rows.extend(months);
    }

    pub fn add(&mut self, event: &AggregatedEvent<'_>) {
        let mut tally = Tally {
            events: 1,
            value_sum: event.value.unwrap_or(0.0),
            people: RoaringBitmap::new(),
        };
        if let Some(person) = event.person {
            tally.people.insert(person);
        }
        for (grain, bucket) in [
            (GRAIN_DAY, day_of(event.occurred_at)),
            (GRAIN_HOUR, hour_of(event.occurred_at)),
        ] {
            let key = |asset| Key {
                grain,
                asset,
                campaign: event.campaign.unwrap_or(NO_CAMPAIGN),
                bucket,
                channel: event.channel.unwrap_or(NO_CHANNEL).to_owned(),
                kind: event.kind,
            };
            self.rows.entry(key(ALL_ASSETS)).or_default().absorb(&tally);
            if let Some(asset) = event.asset {
                self.rows.entry(key(asset)).or_default().absorb(&tally);
            }
        }
    }

    /// Merges the delta into the stored rows of `workspace_id`. The caller holds the
    /// workspace's write lock, so nobody changes these rows between read and write.
    pub async fn apply(self, txn: &DatabaseTransaction, workspace_id: i64) -> Result<()> {
        let mut rows = self.rows.into_iter().peekable();
        while rows.peek().is_some() {
            let part: BTreeMap<Key, Tally> = rows.by_ref().take(UPSERT_CHUNK).collect();
            let merged = merge_with_stored(txn, workspace_id, part).await?;
            upsert(txn, workspace_id, merged).await?;
        }
        Ok(())
    }

    /// Renumbers people in the stored rows of the delta's keys: each `from` in a row's
    /// people set becomes its `to`. Exact when the delta holds every event of each
    /// `from` person, as it does when identity stitching moves all of an anonymous
    /// visitor's events to a contact: no row then keeps `from` for another event.
    /// Counts and sums stay as they are.
    pub async fn renumber(
        self,
        txn: &DatabaseTransaction,
        workspace_id: i64,
        moves: &BTreeMap<u32, u32>,
    ) -> Result<()> {
        let keys: Vec<Key> = self.rows.into_keys().collect();
        for chunk in keys.chunks(UPSERT_CHUNK) {
            let mut rows = BTreeMap::new();
            for (key, mut tally) in read_stored(txn, workspace_id, chunk.iter()).await? {
                for (from, to) in moves {
                    if tally.people.remove(*from) {
                        tally.people.insert(*to);
                    }
                }
                rows.insert(key, tally);
            }
            upsert(txn, workspace_id, rows).await?;
        }
        Ok(())
    }
}

/// A rollup row as read back: its key and its tally. Every read of `rollups` (merging
/// a delta, sealing a month, answering a query) selects [`stored_columns`] into it.
#[derive(Debug, FromQueryResult)]
pub(crate) struct StoredRow {
    grain: i16,
    asset_id: i64,
    campaign_id: i64,
    bucket: i64,
    channel: String,
    kind: String,
    events: i64,
    value_sum: f64,
    people: Option<Vec<u8>>,
}

impl StoredRow {
    /// The row's key and tally; `None` for a kind this code does not know.
    pub fn into_parts(self) -> Result<Option<(Key, Tally)>> {
        let Ok(kind) = self.kind.parse::<EventKind>() else {
            return Ok(None);
        };
        let tally = Tally {
            events: u64::try_from(self.events).unwrap_or(0),
            value_sum: self.value_sum,
            people: decode(self.people.as_deref())?,
        };
        let key = Key {
            grain: self.grain,
            asset: self.asset_id,
            campaign: self.campaign_id,
            bucket: self.bucket,
            channel: self.channel,
            kind,
        };
        Ok(Some((key, tally)))
    }
}

/// Adds what is stored to each row of `part` (all of one range of day buckets).
async fn merge_with_stored(
    txn: &DatabaseTransaction,
    workspace_id: i64,
    mut part: BTreeMap<Key, Tally>,
) -> Result<BTreeMap<Key, Tally>> {
    for (key, stored) in read_stored(txn, workspace_id, part.keys()).await? {
        if let Some(tally) = part.get_mut(&key) {
            tally.absorb(&stored);
        }
    }
    Ok(part)
}

/// The stored rows of these keys (at most [`UPSERT_CHUNK`] of them), those that exist.
async fn read_stored(
    txn: &DatabaseTransaction,
    workspace_id: i64,
    keys: impl ExactSizeIterator<Item = &Key>,
) -> Result<Vec<(Key, Tally)>> {
    // Exactly these rows, by primary key: a batch of events spread over a year
    // touches a thousand rows, not every row of the days and campaigns it names.
    let backend = txn.get_database_backend();
    let mut values: Vec<Value> = Vec::with_capacity(keys.len() * KEY_COLUMNS.len() + 1);
    let mut tuples = Vec::with_capacity(keys.len());
    let placeholder = |value: Value, values: &mut Vec<Value>| {
        values.push(value);
        match backend {
            DbBackend::Postgres => format!("${}", values.len()),
            _ => "?".to_owned(),
        }
    };
    for key in keys {
        let fields: Vec<String> = key
            .values()
            .into_iter()
            .map(|value| placeholder(value, &mut values))
            .collect();
        tuples.push(format!("({})", fields.join(", ")));
    }
    if tuples.is_empty() {
        return Ok(Vec::new());
    }
    let workspace = placeholder(workspace_id.into(), &mut values);
    let on_key: Vec<String> = KEY_COLUMNS
        .iter()
        .map(|c| format!("r.{c} = k.{c}"))
        .collect();
    let selected: Vec<String> = stored_columns().map(|c| format!("r.{c}")).collect();
    let sql = format!(
        "WITH k ({}) AS (VALUES {}) SELECT {} FROM k JOIN rollups r \
         ON r.workspace_id = {workspace} AND {}",
        KEY_COLUMNS.join(", "),
        tuples.join(", "),
        selected.join(", "),
        on_key.join(" AND "),
    );
    let stored = StoredRow::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
        .all(txn)
        .await?;
    let mut rows = Vec::with_capacity(stored.len());
    for row in stored {
        rows.extend(row.into_parts()?);
    }
    Ok(rows)
}

pub(crate) async fn upsert(
    txn: &DatabaseTransaction,
    workspace_id: i64,
    rows: BTreeMap<Key, Tally>,
) -> Result<()> {
    let rows: Vec<(Key, Tally)> = rows.into_iter().collect();
    let backend = txn.get_database_backend();
    for chunk in rows.chunks(UPSERT_CHUNK) {
        let mut insert = Query::insert();
        insert
            .into_table(table())
            .columns(primary_key().chain(TALLY_COLUMNS).map(col));
        for (key, tally) in chunk {
            let people: Value = if tally.people.is_empty() {
                Value::Bytes(None)
            } else {
                encode(&tally.people)?.into()
            };
            let tallied: [Value; 3] = [
                i64::try_from(tally.events).unwrap_or(i64::MAX).into(),
                tally.value_sum.into(),
                people,
            ];
            insert.values_panic(
                std::iter::once(workspace_id.into())
                    .chain(key.values())
                    .chain(tallied)
                    .map(Into::into),
            );
        }
        insert.on_conflict(
            OnConflict::columns(primary_key().map(col))
                .update_columns(TALLY_COLUMNS.map(col))
                .to_owned(),
        );
        txn.execute_raw(backend.build(&insert)).await?;
    }
    Ok(())
}

pub(crate) fn encode(people: &RoaringBitmap) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(people.serialized_size());
    people
        .serialize_into(&mut bytes)
        .map_err(|e| StorageError::Corrupt(format!("serialising a people set: {e}")))?;
    Ok(bytes)
}

pub(crate) fn decode(bytes: Option<&[u8]>) -> Result<RoaringBitmap> {
    match bytes {
        None => Ok(RoaringBitmap::new()),
        Some(bytes) => RoaringBitmap::deserialize_from(bytes)
            .map_err(|e| StorageError::Corrupt(format!("a stored people set: {e}"))),
    }
}
