//! The aggregate layer: what KPI queries read instead of raw events.
//!
//! Every stored event adds to two rows of `rollups` for its UTC day and two for its
//! UTC hour: one for all assets and, when it names one, one for its asset; each keyed
//! further by kind, campaign and channel. A row holds the number of events, the sum of their values
//! and the exact set of their people as a roaring bitmap over the workspace's dense
//! person numbers (`people`). Counts add up across rows; people are unioned, so a
//! person seen on many days is still one person.
//!
//! Past months are *sealed* (see `months`): they also get month rows, the union of
//! their days, so a year reads about a dozen rows per key. A range is answered from
//! sealed months and whole UTC days of rollups; at its ragged edges (a day in New
//! York starts mid-UTC-day) from whole UTC hours of rollups; and only what is left, a
//! part of an hour (a day in Kolkata starts on the half hour, an instant anywhere), from
//! raw events, which carry the same person numbers. Hour rows are what make a daily
//! series in any whole-hour time zone an aggregate read. An organization filter reads raw events
//! only: organizations are not a rollup dimension, and one organization's events
//! are few and indexed.
//!
//! Depth reads the per-contact side of the layer, `engagement_facts` (see `facts`):
//! per organization (or none, for a contact's events that name none), contact,
//! asset, kind and day, how many events, their value sum and the first instant, with
//! the same split of a range into whole days and raw edges.
//!
//! Rows are written in the ingest transaction while it holds the workspace's write
//! lock, so a read-modify-write of a bitmap never races another batch, and a commit
//! makes events and rollups visible together. `rebuild` recomputes everything from
//! raw events.

mod cells;
pub(crate) mod facts;
mod months;
mod people;
mod plan;
mod read;
mod rebuild;
mod write;

pub(crate) use cells::Cells;
pub(crate) use facts::FactDelta;
pub(crate) use months::MonthBook;
pub(crate) use people::PersonNumbers;
pub(crate) use plan::Plan;
pub use rebuild::RebuildSummary;
pub(crate) use write::Delta;

use hourglass_core::EventKind;
use sea_orm::sea_query::Alias;

/// The generation of rollups this code writes. A workspace whose `rollup_version`
/// is behind is answered from raw events until it is rebuilt. 2: engagement facts;
/// 3: hour rows; 4: facts of contacts whose events name no organization; 5: anonymous
/// visitors stitched to the contacts they turned out to be.
pub(crate) const VERSION: i32 = 5;

/// `grain` of a row covering one UTC hour.
pub(crate) const GRAIN_HOUR: i16 = 0;
pub(crate) const HOUR_MS: i64 = 3_600_000;
/// `grain` of a row covering one UTC day.
pub(crate) const GRAIN_DAY: i16 = 1;
pub(crate) const DAY_MS: i64 = 86_400_000;

/// `asset_id` of a row that covers every asset (and events with none).
pub(crate) const ALL_ASSETS: i64 = -1;
/// `campaign_id` of events that name no campaign.
pub(crate) const NO_CAMPAIGN: i64 = 0;
/// `channel` of events that name no channel.
pub(crate) const NO_CHANNEL: &str = "";

/// The columns of a rollup row's identity within its workspace, in the primary key's
/// order (which starts with `workspace_id`); [`Key::values`] gives them in this order.
pub(crate) const KEY_COLUMNS: [&str; 6] = [
    "grain",
    "asset_id",
    "campaign_id",
    "bucket",
    "channel",
    "kind",
];
/// The columns a row adds up.
pub(crate) const TALLY_COLUMNS: [&str; 3] = ["events", "value_sum", "people"];

/// The primary key: the workspace, then [`KEY_COLUMNS`].
pub(crate) fn primary_key() -> impl Iterator<Item = &'static str> {
    std::iter::once("workspace_id").chain(KEY_COLUMNS)
}

/// What every read of a row selects: its key within the workspace and its tally.
pub(crate) fn stored_columns() -> impl Iterator<Item = &'static str> {
    KEY_COLUMNS.into_iter().chain(TALLY_COLUMNS)
}

pub(crate) fn table() -> Alias {
    Alias::new("rollups")
}

pub(crate) fn col(name: &str) -> Alias {
    Alias::new(name)
}

/// The UTC day an instant (ms) falls in, as the ms of its start.
pub(crate) fn day_of(at_ms: i64) -> i64 {
    at_ms.div_euclid(DAY_MS) * DAY_MS
}

/// The UTC hour an instant (ms) falls in, as the ms of its start.
pub(crate) fn hour_of(at_ms: i64) -> i64 {
    at_ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// `properties.recipient` of SHARE events as text, NULL for every other kind.
pub(crate) fn recipient_of_shares(backend: sea_orm::DbBackend) -> sea_orm::sea_query::Expr {
    sea_orm::sea_query::Expr::cust(match backend {
        sea_orm::DbBackend::Postgres => {
            "CASE WHEN kind = 'SHARE' THEN properties ->> 'recipient' END"
        }
        _ => "CASE WHEN kind = 'SHARE' THEN json_extract(properties, '$.recipient') END",
    })
}

/// What the aggregate layer needs of one stored event, in row ids: ingest and a
/// rebuild describe each event once and add it to the rollups and the facts alike.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AggregatedEvent<'a> {
    pub kind: EventKind,
    pub occurred_at: i64,
    pub campaign: Option<i64>,
    pub channel: Option<&'a str>,
    pub asset: Option<i64>,
    pub value: Option<f64>,
    /// The person's dense number, for the rollups' people sets.
    pub person: Option<u32>,
    pub organization: Option<i64>,
    pub contact: Option<i64>,
    /// `properties.recipient`; the facts keep it for shares only.
    pub recipient: Option<&'a str>,
}

/// A rollup row's identity within its workspace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key {
    pub grain: i16,
    pub asset: i64,
    pub campaign: i64,
    pub bucket: i64,
    pub channel: String,
    pub kind: EventKind,
}

impl Key {
    /// The key's values in [`KEY_COLUMNS`] order.
    pub fn values(&self) -> [sea_orm::Value; 6] {
        [
            self.grain.into(),
            self.asset.into(),
            self.campaign.into(),
            self.bucket.into(),
            self.channel.clone().into(),
            self.kind.as_str().into(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_start_at_utc_midnight_before_and_after_the_epoch() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(DAY_MS - 1), 0);
        assert_eq!(day_of(DAY_MS), DAY_MS);
        assert_eq!(day_of(-1), -DAY_MS);
    }
}
