//! A workspace's own names for tracked events: which kind a Segment `track` call of
//! that name becomes, over the built-in names of `core::segment`. A mapping applies
//! to what arrives after it; stored events keep the kind they were stored with.

use chrono::Utc;
use hourglass_core::EventKind;
use hourglass_core::segment::{TrackNames, normalize_track_name};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, FromQueryResult};

use crate::error::{Result, StorageError};
use crate::rollups::col;
use crate::time::to_millis;
use crate::workspaces::WorkspaceStore;

/// Longest track name a workspace can map (Segment's own names are short phrases).
pub const MAX_TRACK_NAME_LEN: usize = 200;

#[derive(Debug, FromQueryResult)]
struct Row {
    name: String,
    kind: String,
}

impl WorkspaceStore {
    /// The workspace's own track names, as mapped, by name.
    pub async fn own_track_names(&self) -> Result<Vec<(String, EventKind)>> {
        stored_names(&self.store.db, self.id()).await
    }

    /// How this workspace reads track names now.
    pub async fn track_names(&self) -> Result<TrackNames> {
        let own = self.own_track_names().await?;
        Ok(TrackNames::new(
            own.iter().map(|(name, kind)| (name.as_str(), *kind)),
        ))
    }

    /// Maps a track name (any spelling of it: names compare normalised) to a kind,
    /// replacing an earlier mapping of the same name. Returns the name as stored.
    pub async fn map_track_name(&self, name: &str, kind: EventKind) -> Result<String> {
        let name = checked(name)?;
        let txn = self.store.begin_write().await?;
        self.forget(&txn, &name).await?;
        let insert = Query::insert()
            .into_table(col("track_names"))
            .columns(["workspace_id", "name", "kind", "updated_at"].map(col))
            .values_panic([
                self.id().into(),
                name.clone().into(),
                kind.as_str().into(),
                to_millis(Utc::now()).into(),
            ])
            .to_owned();
        txn.execute_raw(txn.get_database_backend().build(&insert))
            .await?;
        txn.commit().await?;
        Ok(name)
    }

    /// Removes the workspace's mapping of a name; `false` when it had none.
    pub async fn unmap_track_name(&self, name: &str) -> Result<bool> {
        let txn = self.store.begin_write().await?;
        let removed = self.forget(&txn, name).await?;
        txn.commit().await?;
        Ok(removed)
    }

    /// Deletes every stored spelling of `name`.
    async fn forget(&self, txn: &DatabaseTransaction, name: &str) -> Result<bool> {
        let wanted = normalize_track_name(name);
        let spellings: Vec<String> = stored_names(txn, self.id())
            .await?
            .into_iter()
            .map(|(stored, _)| stored)
            .filter(|stored| normalize_track_name(stored) == wanted)
            .collect();
        if spellings.is_empty() {
            return Ok(false);
        }
        let delete = Query::delete()
            .from_table(col("track_names"))
            .and_where(Expr::col(col("workspace_id")).eq(self.id()))
            .and_where(Expr::col(col("name")).is_in(spellings))
            .to_owned();
        txn.execute_raw(txn.get_database_backend().build(&delete))
            .await?;
        Ok(true)
    }
}

/// A workspace's stored names and their kinds, by name, read through `db` (the
/// pool, or a write's own transaction).
async fn stored_names(
    db: &impl ConnectionTrait,
    workspace_id: i64,
) -> Result<Vec<(String, EventKind)>> {
    let query = Query::select()
        .columns(["name", "kind"].map(col))
        .from(col("track_names"))
        .and_where(Expr::col(col("workspace_id")).eq(workspace_id))
        .order_by(col("name"), sea_orm::Order::Asc)
        .to_owned();
    let rows = Row::find_by_statement(db.get_database_backend().build(&query))
        .all(db)
        .await?;
    rows.into_iter()
        .map(|row| {
            let kind = row.kind.parse().map_err(|_| {
                StorageError::Corrupt(format!("track name {} maps to {}", row.name, row.kind))
            })?;
            Ok((row.name, kind))
        })
        .collect()
}

fn checked(raw: &str) -> Result<String> {
    let name = hourglass_core::catalog::name("name", raw)?;
    if name.chars().count() > MAX_TRACK_NAME_LEN || normalize_track_name(&name).is_empty() {
        return Err(hourglass_core::FieldError::new(
            "name",
            format!("a track name has letters or digits, at most {MAX_TRACK_NAME_LEN} characters"),
        )
        .into());
    }
    Ok(name)
}
