//! Sealed months: rows of `grain` 2 that are the union of a month's day rows, so a
//! range of a year reads a dozen rows per key instead of 365.
//!
//! A month is sealed once the workspace has events in a later month (a backfill in
//! time order seals each month as it moves past it; live ingest seals last month when
//! the first event of this one arrives). Sealing unions the month's day rows; from
//! then on ingest adds each event of that month to both its day row and its month row,
//! so a late event is never lost. Which months are sealed only changes how much a
//! query reads, never what it answers.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, FromQueryResult};

use super::cells::Tally;
use super::plan::Window;
use super::stored_columns;
use super::write::{StoredRow, upsert};
use super::{GRAIN_DAY, Key, col, table};
use crate::error::Result;

/// `grain` of a row covering one UTC calendar month.
pub(crate) const GRAIN_MONTH: i16 = 2;

fn months_table() -> sea_orm::sea_query::Alias {
    col("rollup_months")
}

fn date_of(at_ms: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_millis(at_ms)
        .unwrap_or_default()
        .date_naive()
}

fn millis(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
        .timestamp_millis()
}

/// The start (ms) of the UTC month an instant falls in.
pub(crate) fn month_of(at_ms: i64) -> i64 {
    let date = date_of(at_ms);
    millis(date.with_day(1).unwrap_or(date))
}

/// The start (ms) of the month after the one starting at `month`.
pub(crate) fn next_month(month: i64) -> i64 {
    let date = date_of(month);
    let (year, month) = if date.month() == 12 {
        (date.year() + 1, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1).map_or(i64::MAX, millis)
}

/// Splits whole days `[from, to)` into sealed months that lie wholly inside (read as
/// month rows) and the day ranges around them (read as day rows).
pub(crate) fn split(days: Window, sealed: &BTreeSet<i64>) -> (Vec<i64>, Vec<Window>) {
    let (from, to) = days;
    let inside: Vec<i64> = sealed
        .iter()
        .copied()
        .filter(|m| from.is_none_or(|f| *m >= f) && to.is_none_or(|t| next_month(*m) <= t))
        .collect();
    let mut windows = Vec::new();
    let mut cursor = from;
    for month in &inside {
        if cursor.is_none_or(|c| c < *month) {
            windows.push((cursor, Some(*month)));
        }
        cursor = Some(next_month(*month));
    }
    if cursor.is_none_or(|c| to.is_none_or(|t| c < t)) {
        windows.push((cursor, to));
    }
    (inside, windows)
}

/// The months a workspace has rollups in, and which are sealed.
#[derive(Debug, Default)]
pub(crate) struct MonthBook {
    months: BTreeMap<i64, bool>,
}

#[derive(Debug, FromQueryResult)]
struct MonthRow {
    month: i64,
    sealed: bool,
}

impl MonthBook {
    pub async fn load(db: &impl ConnectionTrait, workspace_id: i64) -> Result<Self> {
        let query = Query::select()
            .columns(["month", "sealed"].map(col))
            .from(months_table())
            .and_where(Expr::col(col("workspace_id")).eq(workspace_id))
            .to_owned();
        let rows = MonthRow::find_by_statement(db.get_database_backend().build(&query))
            .all(db)
            .await?;
        Ok(Self {
            months: rows.into_iter().map(|r| (r.month, r.sealed)).collect(),
        })
    }

    pub fn sealed(&self) -> BTreeSet<i64> {
        self.months
            .iter()
            .filter(|(_, sealed)| **sealed)
            .map(|(month, _)| *month)
            .collect()
    }

    /// Records the months a batch wrote day rows in, then seals every unsealed month
    /// before the newest. Call after the batch's rows are stored: sealing reads them.
    pub async fn record_and_seal(
        &mut self,
        txn: &DatabaseTransaction,
        workspace_id: i64,
        touched: &BTreeSet<i64>,
    ) -> Result<()> {
        let backend = txn.get_database_backend();
        let new: Vec<i64> = touched
            .iter()
            .copied()
            .filter(|m| !self.months.contains_key(m))
            .collect();
        if !new.is_empty() {
            let mut insert = Query::insert();
            insert
                .into_table(months_table())
                .columns(["workspace_id", "month", "sealed"].map(col));
            for month in &new {
                insert.values_panic([workspace_id.into(), (*month).into(), false.into()]);
                self.months.insert(*month, false);
            }
            insert.on_conflict(
                OnConflict::columns(["workspace_id", "month"].map(col))
                    .do_nothing()
                    .to_owned(),
            );
            txn.execute_raw(backend.build(&insert)).await?;
        }
        let Some(newest) = self.months.keys().next_back().copied() else {
            return Ok(());
        };
        let due: Vec<i64> = self
            .months
            .iter()
            .filter(|(month, sealed)| !**sealed && **month < newest)
            .map(|(month, _)| *month)
            .collect();
        for month in due {
            seal(txn, workspace_id, month).await?;
            self.months.insert(month, true);
        }
        Ok(())
    }
}

/// Writes the month's rows as the union of its day rows and marks it sealed.
async fn seal(txn: &DatabaseTransaction, workspace_id: i64, month: i64) -> Result<()> {
    let backend = txn.get_database_backend();
    let query = Query::select()
        .columns(stored_columns().map(col))
        .from(table())
        .and_where(Expr::col(col("workspace_id")).eq(workspace_id))
        .and_where(Expr::col(col("grain")).eq(GRAIN_DAY))
        .and_where(Expr::col(col("bucket")).gte(month))
        .and_where(Expr::col(col("bucket")).lt(next_month(month)))
        .to_owned();
    let days = StoredRow::find_by_statement(backend.build(&query))
        .all(txn)
        .await?;
    let mut rows: BTreeMap<Key, Tally> = BTreeMap::new();
    for day in days {
        if let Some((key, tally)) = day.into_parts()? {
            let key = Key {
                grain: GRAIN_MONTH,
                bucket: month,
                ..key
            };
            rows.entry(key).or_default().absorb(&tally);
        }
    }
    upsert(txn, workspace_id, rows).await?;
    let mark = Query::update()
        .table(months_table())
        .value(col("sealed"), true)
        .and_where(Expr::col(col("workspace_id")).eq(workspace_id))
        .and_where(Expr::col(col("month")).eq(month))
        .to_owned();
    txn.execute_raw(backend.build(&mark)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(date: &str) -> i64 {
        millis(date.parse().unwrap())
    }

    #[test]
    fn months_start_on_the_first_and_roll_over_the_year() {
        assert_eq!(month_of(ms("2026-03-17") + 5), ms("2026-03-01"));
        assert_eq!(next_month(ms("2026-12-01")), ms("2027-01-01"));
        assert_eq!(next_month(ms("2026-02-01")), ms("2026-03-01"));
    }

    #[test]
    fn sealed_months_inside_the_range_replace_their_days() {
        let sealed = BTreeSet::from([ms("2026-01-01"), ms("2026-02-01"), ms("2026-04-01")]);
        // From mid-January to mid-May: February and April whole, the rest in days.
        let (months, days) = split((Some(ms("2026-01-15")), Some(ms("2026-05-15"))), &sealed);
        assert_eq!(months, vec![ms("2026-02-01"), ms("2026-04-01")]);
        assert_eq!(
            days,
            vec![
                (Some(ms("2026-01-15")), Some(ms("2026-02-01"))),
                (Some(ms("2026-03-01")), Some(ms("2026-04-01"))),
                (Some(ms("2026-05-01")), Some(ms("2026-05-15"))),
            ]
        );
        // Open ends take every sealed month and leave the open tails to days.
        let (months, days) = split((None, None), &sealed);
        assert_eq!(months.len(), 3);
        assert_eq!(
            days,
            vec![
                (None, Some(ms("2026-01-01"))),
                (Some(ms("2026-03-01")), Some(ms("2026-04-01"))),
                (Some(ms("2026-05-01")), None),
            ]
        );
        // A range that ends where a sealed month ends leaves no empty day window.
        let (months, days) = split((Some(ms("2026-02-01")), Some(ms("2026-03-01"))), &sealed);
        assert_eq!((months, days), (vec![ms("2026-02-01")], vec![]));
    }
}
