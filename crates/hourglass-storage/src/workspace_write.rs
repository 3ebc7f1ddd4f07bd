//! The one way to write a workspace's data: a transaction that has bumped the
//! workspace's `data_version` before doing anything else.
//!
//! The bump does two jobs. It is the key of the KPI answer cache (`answer_cache`),
//! so the commit that changes an answer also retires every cached one, in every
//! process sharing the database. And on PostgreSQL the UPDATE takes the
//! workspace's row lock until commit, which serialises the workspace's writers
//! across processes: the rollups' read-modify-write relies on it. Within a process,
//! writers queue before taking a connection (`Store::workspace_writer`). On SQLite
//! the immediate transaction and the store's writer mutex exclude every other
//! writer.
//!
//! Inside a write, read through the write's own transaction, not the pool: read
//! before `begin_write` or after `commit` otherwise.

use std::ops::Deref;

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use tokio::sync::OwnedMutexGuard;

use crate::entities::workspace;
use crate::error::Result;
use crate::workspaces::WorkspaceStore;

/// An open write transaction of one workspace. Dropping it without
/// [`commit`](Self::commit) rolls everything back, the version bump included.
#[derive(Debug)]
pub(crate) struct WorkspaceWrite<'a> {
    txn: DatabaseTransaction,
    ws: &'a WorkspaceStore,
    /// The workspace's data version once this write commits.
    version: i64,
    /// This process's turn to write the workspace, held to the end.
    _turn: OwnedMutexGuard<()>,
}

impl WorkspaceStore {
    /// Starts a write of this workspace; see the module documentation.
    pub(crate) async fn begin_write(&self) -> Result<WorkspaceWrite<'_>> {
        let turn = self.store.workspace_writer(self.id()).await;
        let txn = self.store.begin_write().await?;
        // One statement bumps and reads back the version (both backends support
        // RETURNING).
        let bump = Query::update()
            .table(workspace::Entity)
            .value(
                workspace::Column::DataVersion,
                Expr::col(workspace::Column::DataVersion).add(1),
            )
            .and_where(Expr::col(workspace::Column::Id).eq(self.id()))
            .returning_col(workspace::Column::DataVersion)
            .to_owned();
        let version: i64 = txn
            .query_one_raw(txn.get_database_backend().build(&bump))
            .await?
            .map(|row| row.try_get("", "data_version"))
            .transpose()?
            .unwrap_or_default();
        Ok(WorkspaceWrite {
            txn,
            ws: self,
            version,
            _turn: turn,
        })
    }
}

impl WorkspaceWrite<'_> {
    /// Undoes everything, the version bump included, before the turn is passed on
    /// (a dropped write also rolls back, but lazily, when its connection is next used).
    pub async fn rollback(self) -> Result<()> {
        self.txn.rollback().await?;
        Ok(())
    }

    pub async fn commit(self) -> Result<()> {
        self.txn.commit().await?;
        self.ws.saw_data_version(self.version);
        Ok(())
    }
}

impl Deref for WorkspaceWrite<'_> {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}
