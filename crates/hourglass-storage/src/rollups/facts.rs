//! Per-contact engagement facts: the part of the aggregate layer depth reads.
//!
//! Every stored event that names an organization or a contact adds to two rows of
//! `engagement_facts`: one for its UTC day and one for all time, each keyed by
//! campaign, organization (0 for a contact's event that names none: the group leads
//! without an organization are scored from), contact, asset, channel, kind and (for a
//! share) its recipient. A row holds how many events, the sum of their values and when the
//! first happened — everything `core::depth::measure` needs, at a few rows per
//! contact and asset instead of one per event. Adding is plain arithmetic, so a
//! batch merges with one multi-row upsert per chunk and no read.

use std::collections::BTreeMap;

use hourglass_core::EventKind;
use hourglass_core::event::MAX_RECIPIENT_LEN;
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, FromQueryResult, Value};

use super::plan::Window;
use super::{AggregatedEvent, GRAIN_DAY, NO_CAMPAIGN, NO_CHANNEL, col, day_of};
use crate::error::{Result, StorageError};

/// `grain` of a row covering all time (its `bucket` is 0).
pub(crate) const GRAIN_ALL_TIME: i16 = 0;
/// `organization_id` / `contact_id` / `asset_id` of events that name none (row ids
/// start at 1).
pub(crate) const NONE: i64 = 0;
/// `recipient` of every fact but a share's.
const NO_RECIPIENT: &str = "";

/// Rows one upsert carries (13 values each): well under both backends' caps on
/// bind parameters.
const UPSERT_CHUNK: usize = 500;

/// The columns of a fact row's identity within its workspace, in the primary key's
/// order (which starts with `workspace_id`); [`FactKey::values`] gives them in this
/// order.
const KEY_COLUMNS: [&str; 9] = [
    "grain",
    "campaign_id",
    "organization_id",
    "bucket",
    "contact_id",
    "asset_id",
    "channel",
    "kind",
    "recipient",
];

/// The columns a row adds up.
const TALLY_COLUMNS: [&str; 3] = ["events", "value_sum", "first_at"];

pub(crate) const TABLE: &str = "engagement_facts";

pub(crate) fn table() -> Alias {
    Alias::new(TABLE)
}

/// A recipient as the `recipient` column can hold it. Validation caps recipients at
/// `MAX_RECIPIENT_LEN`, but events stored before it may carry longer ones. Such a
/// recipient is no contact id and no contact's address, so only the part after its
/// last `@` can make it internal (an address at the organization's domain): keep that.
fn storable_recipient(recipient: &str) -> &str {
    if recipient.chars().count() <= MAX_RECIPIENT_LEN {
        return recipient;
    }
    match recipient.rfind('@') {
        Some(at) if recipient[at..].chars().count() <= MAX_RECIPIENT_LEN => &recipient[at..],
        _ => NO_RECIPIENT,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct FactKey {
    grain: i16,
    bucket: i64,
    campaign: i64,
    organization: i64,
    contact: i64,
    asset: i64,
    channel: String,
    kind: EventKind,
    recipient: String,
}

impl FactKey {
    /// The key's values in [`KEY_COLUMNS`] order.
    fn values(&self) -> [Value; 9] {
        [
            self.grain.into(),
            self.campaign.into(),
            self.organization.into(),
            self.bucket.into(),
            self.contact.into(),
            self.asset.into(),
            self.channel.clone().into(),
            self.kind.as_str().into(),
            self.recipient.clone().into(),
        ]
    }
}

#[derive(Debug, Clone, Copy)]
struct FactTally {
    events: i64,
    value_sum: f64,
    first_at: i64,
}

/// Rows one DELETE of emptied rows names (9 values each).
const DELETE_CHUNK: usize = 100;

/// Additions to fact rows, not yet stored.
#[derive(Debug, Default)]
pub(crate) struct FactDelta {
    rows: BTreeMap<FactKey, FactTally>,
    /// Whether any event was taken out, so rows may have been emptied.
    removes: bool,
}

impl FactDelta {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Adds an event. One that names neither an organization nor a contact (an
    /// anonymous visitor's) has no place in depth; one that names a contact and no
    /// organization counts toward that person's depth as a lead.
    pub fn add(&mut self, event: &AggregatedEvent<'_>) {
        self.count(
            event,
            FactTally {
                events: 1,
                value_sum: event.value.unwrap_or(0.0),
                first_at: event.occurred_at,
            },
        );
    }

    /// Takes a stored event back out, when stitching gives an anonymous visitor's
    /// event a contact. Counts and sums come back out exactly; a row's first instant
    /// stays as it was (an earlier instant is never taken back), and a row left with
    /// no events is deleted by [`apply`](Self::apply).
    pub fn remove(&mut self, event: &AggregatedEvent<'_>) {
        self.removes = true;
        self.count(
            event,
            FactTally {
                events: -1,
                value_sum: -event.value.unwrap_or(0.0),
                first_at: i64::MAX,
            },
        );
    }

    fn count(&mut self, event: &AggregatedEvent<'_>, add: FactTally) {
        if event.organization.is_none() && event.contact.is_none() {
            return;
        }
        let organization = event.organization.unwrap_or(NONE);
        let recipient = match event.kind {
            EventKind::Share => event.recipient.map_or(NO_RECIPIENT, storable_recipient),
            _ => NO_RECIPIENT,
        };
        let key = |grain, bucket| FactKey {
            grain,
            bucket,
            campaign: event.campaign.unwrap_or(NO_CAMPAIGN),
            organization,
            contact: event.contact.unwrap_or(NONE),
            asset: event.asset.unwrap_or(NONE),
            channel: event.channel.unwrap_or(NO_CHANNEL).to_owned(),
            kind: event.kind,
            recipient: recipient.to_owned(),
        };
        for key in [
            key(GRAIN_ALL_TIME, 0),
            key(GRAIN_DAY, day_of(event.occurred_at)),
        ] {
            self.rows
                .entry(key)
                .and_modify(|t| {
                    t.events += add.events;
                    t.value_sum += add.value_sum;
                    t.first_at = Ord::min(t.first_at, add.first_at);
                })
                .or_insert(add);
        }
    }

    /// Adds the delta to the stored rows of `workspace_id`: one upsert per chunk
    /// that sums counts and values and keeps the earlier first instant.
    pub async fn apply(self, txn: &DatabaseTransaction, workspace_id: i64) -> Result<()> {
        let backend = txn.get_database_backend();
        let earlier = match backend {
            DbBackend::Postgres => "LEAST",
            _ => "MIN",
        };
        let rows: Vec<(FactKey, FactTally)> = self.rows.into_iter().collect();
        for chunk in rows.chunks(UPSERT_CHUNK) {
            let primary_key = || std::iter::once("workspace_id").chain(KEY_COLUMNS);
            let mut insert = Query::insert();
            insert
                .into_table(table())
                .columns(primary_key().chain(TALLY_COLUMNS).map(col));
            for (key, tally) in chunk {
                let tallied: [Value; 3] = [
                    tally.events.into(),
                    tally.value_sum.into(),
                    tally.first_at.into(),
                ];
                insert.values_panic(
                    std::iter::once(workspace_id.into())
                        .chain(key.values())
                        .chain(tallied)
                        .map(Into::into),
                );
            }
            insert.on_conflict(
                sea_orm::sea_query::OnConflict::columns(primary_key().map(col))
                    .values([
                        (
                            col("events"),
                            Expr::cust("engagement_facts.events + excluded.events"),
                        ),
                        (
                            col("value_sum"),
                            Expr::cust("engagement_facts.value_sum + excluded.value_sum"),
                        ),
                        (
                            col("first_at"),
                            Expr::cust(format!(
                                "{earlier}(engagement_facts.first_at, excluded.first_at)"
                            )),
                        ),
                    ])
                    .to_owned(),
            );
            txn.execute_raw(backend.build(&insert)).await?;
        }
        if self.removes {
            // Only the rows events were taken from, by primary key.
            let taken: Vec<&FactKey> = rows
                .iter()
                .filter(|(_, tally)| tally.events < 0)
                .map(|(key, _)| key)
                .collect();
            for chunk in taken.chunks(DELETE_CHUNK) {
                let mut any = Condition::any();
                for key in chunk {
                    let mut all = Condition::all();
                    for (column, value) in KEY_COLUMNS.iter().zip(key.values()) {
                        all = all.add(Expr::col(col(column)).eq(value));
                    }
                    any = any.add(all);
                }
                let emptied = Query::delete()
                    .from_table(table())
                    .and_where(Expr::col(col("workspace_id")).eq(workspace_id))
                    .cond_where(any)
                    .and_where(Expr::col(col("events")).lte(0))
                    .to_owned();
                txn.execute_raw(backend.build(&emptied)).await?;
            }
        }
        Ok(())
    }
}

/// One organization's stored fact rows (or, for `organization_id` 0, those of every
/// contact whose events name none), packed into one JSON array of `[contact_id,
/// asset_id, kind, recipient, events, value_sum, first_at]`: a large account has
/// thousands of rows, and handing each over as a row of its own costs the driver more
/// than using it costs us. Rows of the same key on other days, campaigns or channels
/// are not summed here (that would sort them all); `core::engagement::tally` does.
#[derive(Debug, FromQueryResult)]
pub(crate) struct PackedFacts {
    pub organization_id: i64,
    facts: String,
}

/// One stored fact row, by row ids (0: none).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredFact {
    pub contact: i64,
    pub asset: i64,
    pub kind: EventKind,
    pub recipient: String,
    pub events: u64,
    pub value_sum: f64,
    pub first_at: i64,
}

impl StoredFact {
    pub fn contact(&self) -> Option<i64> {
        (self.contact != NONE).then_some(self.contact)
    }

    pub fn asset(&self) -> Option<i64> {
        (self.asset != NONE).then_some(self.asset)
    }
}

impl PackedFacts {
    /// The rows; kinds this code does not know are left out.
    pub fn unpack(&self) -> Result<Vec<StoredFact>> {
        // A kind is a plain upper-case name, borrowed from the text without a copy (an
        // escaped one would fail to borrow, and a corrupt row says so); an empty
        // recipient allocates nothing.
        type Packed<'a> = (i64, i64, &'a str, String, i64, f64, i64);
        let packed: Vec<Packed<'_>> = serde_json::from_str(&self.facts)
            .map_err(|e| StorageError::Corrupt(format!("packed engagement facts: {e}")))?;
        Ok(packed
            .into_iter()
            .filter_map(
                |(contact, asset, kind, recipient, events, value_sum, first_at)| {
                    Some(StoredFact {
                        contact,
                        asset,
                        kind: kind.parse().ok()?,
                        recipient,
                        events: u64::try_from(events).unwrap_or(0),
                        value_sum,
                        first_at,
                    })
                },
            )
            .collect())
    }
}

/// The fact rows that meet `dimensions` (the workspace and the filter, on columns of
/// [`table`]) over whole UTC days `days` (or all time), one packed row per
/// organization (0: none; `dimensions` says whether it is wanted).
pub(crate) async fn read(
    db: &impl ConnectionTrait,
    dimensions: Condition,
    days: Option<Window>,
) -> Result<Vec<PackedFacts>> {
    let c = |name: &str| Expr::col(col(name));
    let mut condition = dimensions;
    match days {
        None => condition = condition.add(c("grain").eq(GRAIN_ALL_TIME)),
        Some((from, to)) => {
            condition = condition.add(c("grain").eq(GRAIN_DAY));
            if let Some(from) = from {
                condition = condition.add(c("bucket").gte(from));
            }
            if let Some(to) = to {
                condition = condition.add(c("bucket").lt(to));
            }
        }
    }
    // Grouped by organization only, which both indexes deliver in order (the key after
    // one campaign, the second index without): no sort.
    let backend = db.get_database_backend();
    let packed = match backend {
        DbBackend::Postgres => {
            "json_agg(json_build_array(contact_id, asset_id, kind, recipient, events, \
             value_sum, first_at))::text"
        }
        _ => {
            "json_group_array(json_array(contact_id, asset_id, kind, recipient, events, \
             value_sum, first_at))"
        }
    };
    let query = Query::select()
        .column(col("organization_id"))
        .expr_as(Expr::cust(packed), col("facts"))
        .from(table())
        .cond_where(condition)
        .group_by_col(col("organization_id"))
        .to_owned();
    Ok(PackedFacts::find_by_statement(backend.build(&query))
        .all(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_over_long_recipient_keeps_what_can_still_make_it_internal() {
        assert_eq!(storable_recipient("ann@acme.com"), "ann@acme.com");
        let long_local = format!("{}@acme.com", "x".repeat(400));
        assert_eq!(storable_recipient(&long_local), "@acme.com");
        assert_eq!(storable_recipient(&"y".repeat(400)), NO_RECIPIENT);
        let long_domain = format!("a@{}", "d".repeat(400));
        assert_eq!(storable_recipient(&long_domain), NO_RECIPIENT);
    }
}
