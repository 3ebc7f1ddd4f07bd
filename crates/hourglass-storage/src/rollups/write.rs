//! Adding stored events to the rollups: a batch becomes a delta per row, merged into
//! the stored rows with one read and one multi-row upsert per chunk.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use hourglass_core::EventKind;
use roaring::RoaringBitmap;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, FromQueryResult, Value};

use super::cells::Tally;
use super::months::{GRAIN_MONTH, month_of};
use super::{ALL_ASSETS, GRAIN_DAY, Key, NO_CAMPAIGN, NO_CHANNEL, col, day_of, table};
use crate::error::{Result, StorageError};

/// Rows one upsert carries: 10 values each, well under both backends' caps.
const UPSERT_CHUNK: usize = 500;
/// Distinct day buckets one read asks for.
const READ_BUCKETS: usize = 64;

/// What the rollups need of one stored event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RollupEvent<'a> {
    pub kind: EventKind,
    pub occurred_at: i64,
    pub campaign: Option<i64>,
    pub channel: Option<&'a str>,
    pub asset: Option<i64>,
    pub value: Option<f64>,
    pub person: Option<u32>,
}

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

    pub fn add(&mut self, event: RollupEvent<'_>) {
        let mut tally = Tally {
            events: 1,
            value_sum: event.value.unwrap_or(0.0),
            people: RoaringBitmap::new(),
        };
        if let Some(person) = event.person {
            tally.people.insert(person);
        }
        let key = |asset| Key {
            grain: GRAIN_DAY,
            asset,
            campaign: event.campaign.unwrap_or(NO_CAMPAIGN),
            bucket: day_of(event.occurred_at),
            channel: event.channel.unwrap_or(NO_CHANNEL).to_owned(),
            kind: event.kind,
        };
        self.rows.entry(key(ALL_ASSETS)).or_default().absorb(&tally);
        if let Some(asset) = event.asset {
            self.rows.entry(key(asset)).or_default().absorb(&tally);
        }
    }

    /// Merges the delta into the stored rows of `workspace_id`. The caller holds the
    /// workspace's write lock, so nobody changes these rows between read and write.
    pub async fn apply(self, txn: &DatabaseTransaction, workspace_id: i64) -> Result<()> {
        // Read and write a few dozen days at a time, so a backfill over years of late
        // events keeps its lookups and upserts small.
        let buckets: BTreeSet<i64> = self.rows.keys().map(|k| k.bucket).collect();
        let part_of: HashMap<i64, usize> = buckets
            .iter()
            .enumerate()
            .map(|(i, bucket)| (*bucket, i / READ_BUCKETS))
            .collect();
        let mut parts: Vec<BTreeMap<Key, Tally>> = Vec::new();
        parts.resize_with(buckets.len().div_ceil(READ_BUCKETS), BTreeMap::new);
        for (key, tally) in self.rows {
            if let Some(part) = part_of.get(&key.bucket).and_then(|i| parts.get_mut(*i)) {
                part.insert(key, tally);
            }
        }
        for part in parts {
            let merged = merge_with_stored(txn, workspace_id, part).await?;
            upsert(txn, workspace_id, merged).await?;
        }
        Ok(())
    }
}

#[derive(Debug, FromQueryResult)]
struct StoredRow {
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

/// Adds what is stored to each row of `part` (all of one range of day buckets).
async fn merge_with_stored(
    txn: &DatabaseTransaction,
    workspace_id: i64,
    mut part: BTreeMap<Key, Tally>,
) -> Result<BTreeMap<Key, Tally>> {
    let grains: BTreeSet<i16> = part.keys().map(|k| k.grain).collect();
    let assets: BTreeSet<i64> = part.keys().map(|k| k.asset).collect();
    let campaigns: BTreeSet<i64> = part.keys().map(|k| k.campaign).collect();
    let buckets: BTreeSet<i64> = part.keys().map(|k| k.bucket).collect();
    // The cross product of the batch's assets, campaigns and days: a superset of its
    // rows that the primary key finds directly; rows it did not touch are skipped.
    let query = Query::select()
        .columns(
            [
                "grain",
                "asset_id",
                "campaign_id",
                "bucket",
                "channel",
                "kind",
                "events",
                "value_sum",
                "people",
            ]
            .map(col),
        )
        .from(table())
        .and_where(Expr::col(col("workspace_id")).eq(workspace_id))
        .and_where(Expr::col(col("grain")).is_in(grains))
        .and_where(Expr::col(col("asset_id")).is_in(assets))
        .and_where(Expr::col(col("campaign_id")).is_in(campaigns))
        .and_where(Expr::col(col("bucket")).is_in(buckets))
        .to_owned();
    let backend = txn.get_database_backend();
    let stored = StoredRow::find_by_statement(backend.build(&query))
        .all(txn)
        .await?;
    for row in stored {
        let Ok(kind) = row.kind.parse::<EventKind>() else {
            continue;
        };
        let key = Key {
            grain: row.grain,
            asset: row.asset_id,
            campaign: row.campaign_id,
            bucket: row.bucket,
            channel: row.channel,
            kind,
        };
        if let Some(tally) = part.get_mut(&key) {
            tally.events += u64::try_from(row.events).unwrap_or(0);
            tally.value_sum += row.value_sum;
            tally.people |= decode(row.people.as_deref())?;
        }
    }
    Ok(part)
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
        insert.into_table(table()).columns(
            [
                "workspace_id",
                "grain",
                "asset_id",
                "campaign_id",
                "bucket",
                "channel",
                "kind",
                "events",
                "value_sum",
                "people",
            ]
            .map(col),
        );
        for (key, tally) in chunk {
            let people: Value = if tally.people.is_empty() {
                Value::Bytes(None)
            } else {
                encode(&tally.people)?.into()
            };
            insert.values_panic([
                workspace_id.into(),
                key.grain.into(),
                key.asset.into(),
                key.campaign.into(),
                key.bucket.into(),
                key.channel.clone().into(),
                key.kind.as_str().into(),
                i64::try_from(tally.events).unwrap_or(i64::MAX).into(),
                tally.value_sum.into(),
                people.into(),
            ]);
        }
        insert.on_conflict(
            OnConflict::columns(
                [
                    "workspace_id",
                    "grain",
                    "asset_id",
                    "campaign_id",
                    "bucket",
                    "channel",
                    "kind",
                ]
                .map(col),
            )
            .update_columns(["events", "value_sum", "people"].map(col))
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
