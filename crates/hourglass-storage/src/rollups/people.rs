//! Dense person numbers per workspace: a contact, else an anonymous visitor id,
//! numbered 0, 1, 2, … in order of first sight, so rollup bitmaps stay small.

use std::collections::{BTreeSet, HashMap};

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, FromQueryResult};

use super::col;
use crate::LOOKUP_CHUNK;
use crate::error::{Result, StorageError};

/// Person numbers for the people of a batch.
#[derive(Debug, Default)]
pub(crate) struct PersonNumbers {
    contacts: HashMap<i64, u32>,
    anonymous: HashMap<String, u32>,
    next: u32,
    /// Numbered here and not stored yet.
    new: Vec<(u32, Option<i64>, Option<String>)>,
}

#[derive(Debug, FromQueryResult)]
struct Numbered {
    number: i32,
    contact_id: Option<i64>,
    anonymous_id: Option<String>,
}

impl PersonNumbers {
    /// Loads the numbers of these people and the next free number. The caller holds
    /// the workspace's write lock, so numbers it hands out are not taken meanwhile.
    pub async fn load(
        txn: &DatabaseTransaction,
        workspace_id: i64,
        contacts: &BTreeSet<i64>,
        anonymous: &BTreeSet<&str>,
    ) -> Result<Self> {
        let backend = txn.get_database_backend();
        let mut numbers = Self::default();
        let base = || {
            Query::select()
                .columns(["number", "contact_id", "anonymous_id"].map(col))
                .from(col("people"))
                .and_where(Expr::col(col("workspace_id")).eq(workspace_id))
                .to_owned()
        };
        let contacts: Vec<i64> = contacts.iter().copied().collect();
        for chunk in contacts.chunks(LOOKUP_CHUNK) {
            let query = base()
                .and_where(Expr::col(col("contact_id")).is_in(chunk.iter().copied()))
                .to_owned();
            numbers.remember(
                Numbered::find_by_statement(backend.build(&query))
                    .all(txn)
                    .await?,
            )?;
        }
        let anonymous: Vec<&str> = anonymous.iter().copied().collect();
        for chunk in anonymous.chunks(LOOKUP_CHUNK) {
            let query = base()
                .and_where(Expr::col(col("anonymous_id")).is_in(chunk.iter().copied()))
                .and_where(Expr::col(col("contact_id")).is_null())
                .to_owned();
            numbers.remember(
                Numbered::find_by_statement(backend.build(&query))
                    .all(txn)
                    .await?,
            )?;
        }
        numbers.next = next_number(txn, workspace_id).await?;
        Ok(numbers)
    }

    /// How many people are numbered: the next free number.
    pub fn count(&self) -> u32 {
        self.next
    }

    /// A contact's number, when it has one.
    pub fn of_contact(&self, contact: i64) -> Option<u32> {
        self.contacts.get(&contact).copied()
    }

    /// The number of an anonymous visitor no contact has taken over, when it has one.
    pub fn of_visitor(&self, anonymous: &str) -> Option<u32> {
        self.anonymous.get(anonymous).copied()
    }

    /// Numbers for a rebuild: nobody is numbered yet.
    pub fn starting_empty() -> Self {
        Self::default()
    }

    fn remember(&mut self, rows: Vec<Numbered>) -> Result<()> {
        for row in rows {
            let number = u32::try_from(row.number)
                .map_err(|_| StorageError::Corrupt(format!("person number {}", row.number)))?;
            match (row.contact_id, row.anonymous_id) {
                (Some(contact), _) => {
                    self.contacts.insert(contact, number);
                }
                (None, Some(anonymous)) => {
                    self.anonymous.insert(anonymous, number);
                }
                (None, None) => {}
            }
        }
        Ok(())
    }

    /// The person of an event: its contact, else its anonymous visitor; numbered on
    /// first sight. `None` for an event that names neither.
    pub fn person(&mut self, contact: Option<i64>, anonymous: Option<&str>) -> Result<Option<u32>> {
        if let Some(contact) = contact {
            if let Some(number) = self.contacts.get(&contact) {
                return Ok(Some(*number));
            }
            let number = self.take_next()?;
            self.contacts.insert(contact, number);
            self.new.push((number, Some(contact), None));
            return Ok(Some(number));
        }
        let Some(anonymous) = anonymous else {
            return Ok(None);
        };
        if let Some(number) = self.anonymous.get(anonymous) {
            return Ok(Some(*number));
        }
        let number = self.take_next()?;
        self.anonymous.insert(anonymous.to_owned(), number);
        self.new.push((number, None, Some(anonymous.to_owned())));
        Ok(Some(number))
    }

    fn take_next(&mut self) -> Result<u32> {
        let number = self.next;
        // i32::MAX keeps the number storable in an INTEGER column on both backends.
        if i32::try_from(number).is_err() {
            return Err(StorageError::Corrupt(
                "the workspace has run out of person numbers".into(),
            ));
        }
        self.next += 1;
        Ok(number)
    }

    /// Stores the people numbered since the last call.
    pub async fn store_new(&mut self, txn: &DatabaseTransaction, workspace_id: i64) -> Result<()> {
        let backend = txn.get_database_backend();
        let new = std::mem::take(&mut self.new);
        for chunk in new.chunks(LOOKUP_CHUNK) {
            let mut insert = Query::insert();
            insert
                .into_table(col("people"))
                .columns(["workspace_id", "number", "contact_id", "anonymous_id"].map(col));
            for (number, contact, anonymous) in chunk {
                insert.values_panic([
                    workspace_id.into(),
                    i32::try_from(*number).unwrap_or(i32::MAX).into(),
                    (*contact).into(),
                    anonymous.clone().into(),
                ]);
            }
            txn.execute_raw(backend.build(&insert)).await?;
        }
        Ok(())
    }
}

async fn next_number(txn: &DatabaseTransaction, workspace_id: i64) -> Result<u32> {
    #[derive(Debug, FromQueryResult)]
    struct Max {
        max: Option<i32>,
    }
    let query = Query::select()
        .expr_as(Expr::col(col("number")).max(), col("max"))
        .from(col("people"))
        .and_where(Expr::col(col("workspace_id")).eq(workspace_id))
        .to_owned();
    let max = Max::find_by_statement(txn.get_database_backend().build(&query))
        .one(txn)
        .await?
        .and_then(|m| m.max);
    match max {
        None => Ok(0),
        Some(max) => u32::try_from(max)
            .map(|m| m + 1)
            .map_err(|_| StorageError::Corrupt(format!("person number {max}"))),
    }
}
