//! Recomputing a workspace's people, rollups and engagement facts from its raw
//! events (stitched to their contacts first): after a migration, a new dimension,
//! or a restore.

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, FromQueryResult,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use std::collections::BTreeSet;

use super::facts::{self, FactDelta};
use super::{AggregatedEvent, Delta, MonthBook, PersonNumbers, VERSION, col, recipient_of_shares};
use crate::entities::{event, workspace};
use crate::error::Result;
use crate::store::Store;
use crate::workspaces::WorkspaceStore;
use sea_orm::ActiveModelTrait;

/// Events read per page of a rebuild.
const PAGE: u64 = 50_000;
/// Rollup rows held in memory before they are written.
const FLUSH_ROWS: usize = 200_000;

/// What a rebuild recomputed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RebuildSummary {
    pub events: u64,
    pub people: u64,
    pub rollup_rows: u64,
    pub fact_rows: u64,
}

#[derive(Debug, FromQueryResult)]
struct EventRow {
    id: i64,
    kind: String,
    occurred_at: i64,
    contact_id: Option<i64>,
    anonymous_id: Option<String>,
    campaign_id: Option<i64>,
    asset_id: Option<i64>,
    channel: Option<String>,
    value: Option<f64>,
    organization_id: Option<i64>,
    /// A share's recipient; `None` for other kinds (not read for them).
    recipient: Option<String>,
}

impl WorkspaceStore {
    /// Recomputes person numbers and every rollup row of the workspace from its raw
    /// events, in one transaction that holds the workspace's write lock: ingest into
    /// the workspace waits, readers see the old rollups until the commit.
    /// `progress` hears (events done, events in all) after each page.
    pub async fn rebuild_rollups(
        &mut self,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<RebuildSummary> {
        let write = self.begin_write().await?;
        let txn: &DatabaseTransaction = &write;
        let ws = self.id();
        let total = event::Entity::find()
            .filter(event::Column::WorkspaceId.eq(ws))
            .count(txn)
            .await?;
        let backend = txn.get_database_backend();
        for name in ["rollups", "rollup_months", "engagement_facts", "people"] {
            let delete = Query::delete()
                .from_table(col(name))
                .and_where(Expr::col(col("workspace_id")).eq(ws))
                .to_owned();
            txn.execute_raw(backend.build(&delete)).await?;
        }
        crate::identity::stitch_all(txn, ws).await?;

        let mut numbers = PersonNumbers::starting_empty();
        let mut delta = Delta::default();
        let mut fact_delta = FactDelta::default();
        let mut months = BTreeSet::new();
        let mut summary = RebuildSummary::default();
        let mut after = i64::MIN;
        loop {
            let page = event::Entity::find()
                .select_only()
                .columns([
                    event::Column::Id,
                    event::Column::Kind,
                    event::Column::OccurredAt,
                    event::Column::ContactId,
                    event::Column::AnonymousId,
                    event::Column::CampaignId,
                    event::Column::AssetId,
                    event::Column::Channel,
                    event::Column::Value,
                    event::Column::OrganizationId,
                ])
                .expr_as(recipient_of_shares(backend), "recipient")
                .filter(event::Column::WorkspaceId.eq(ws))
                .filter(event::Column::Id.gt(after))
                .order_by_asc(event::Column::Id)
                .limit(PAGE)
                .into_model::<EventRow>()
                .all(txn)
                .await?;
            let (Some(first), Some(last)) = (page.first(), page.last()) else {
                break;
            };
            let ids = (first.id, last.id);
            for row in &page {
                let person = numbers.person(row.contact_id, row.anonymous_id.as_deref())?;
                if let Ok(kind) = row.kind.parse() {
                    let aggregated = AggregatedEvent {
                        kind,
                        occurred_at: row.occurred_at,
                        campaign: row.campaign_id,
                        channel: row.channel.as_deref(),
                        asset: row.asset_id,
                        value: row.value,
                        person,
                        organization: row.organization_id,
                        contact: row.contact_id,
                        recipient: row.recipient.as_deref(),
                    };
                    delta.add(&aggregated);
                    fact_delta.add(&aggregated);
                }
            }
            summary.events += page.len() as u64;
            after = ids.1;
            numbers.store_new(txn, ws).await?;
            set_event_people(txn, ws, ids).await?;
            if delta.len() >= FLUSH_ROWS {
                months.extend(delta.months());
                std::mem::take(&mut delta).apply(txn, ws).await?;
            }
            if fact_delta.len() >= FLUSH_ROWS {
                std::mem::take(&mut fact_delta).apply(txn, ws).await?;
            }
            progress(summary.events, total);
        }
        months.extend(delta.months());
        delta.apply(txn, ws).await?;
        fact_delta.apply(txn, ws).await?;
        // Seal by the rule ingest follows, so a rebuild reproduces what ingest built.
        MonthBook::default()
            .record_and_seal(txn, ws, &months)
            .await?;

        summary.people = numbers.count().into();
        summary.rollup_rows = count_rows(txn, "rollups", ws).await?;
        summary.fact_rows = count_rows(txn, facts::TABLE, ws).await?;
        let mut active = self.workspace.clone().into_active_model();
        active.rollup_version = Set(VERSION);
        let updated = active.update(txn).await?;
        write.commit().await?;
        self.workspace = updated;
        Ok(summary)
    }
}

/// Copies person numbers onto the events with ids in `[first, last]`.
async fn set_event_people(
    txn: &DatabaseTransaction,
    ws: i64,
    (first, last): (i64, i64),
) -> Result<()> {
    let backend = txn.get_database_backend();
    let person_of = [
        (
            "(SELECT p.number FROM people p WHERE p.workspace_id = events.workspace_id \
             AND p.contact_id = events.contact_id)",
            true,
        ),
        (
            "(SELECT p.number FROM people p WHERE p.workspace_id = events.workspace_id \
             AND p.anonymous_id = events.anonymous_id AND p.contact_id IS NULL)",
            false,
        ),
    ];
    for (subquery, with_contact) in person_of {
        let contact = Expr::col(col("contact_id"));
        let update = Query::update()
            .table(col("events"))
            .value(col("person"), Expr::cust(subquery))
            .and_where(Expr::col(col("workspace_id")).eq(ws))
            .and_where(Expr::col(col("id")).gte(first))
            .and_where(Expr::col(col("id")).lte(last))
            .and_where(if with_contact {
                contact.is_not_null()
            } else {
                contact.is_null()
            })
            .to_owned();
        txn.execute_raw(backend.build(&update)).await?;
    }
    Ok(())
}

async fn count_rows(txn: &DatabaseTransaction, table: &str, ws: i64) -> Result<u64> {
    #[derive(Debug, FromQueryResult)]
    struct Count {
        n: i64,
    }
    let query = Query::select()
        .expr_as(Expr::cust("COUNT(*)"), col("n"))
        .from(col(table))
        .and_where(Expr::col(col("workspace_id")).eq(ws))
        .to_owned();
    let n = Count::find_by_statement(txn.get_database_backend().build(&query))
        .one(txn)
        .await?
        .map_or(0, |c| c.n);
    Ok(u64::try_from(n).unwrap_or(0))
}

impl Store {
    /// Rebuilds the rollups of every workspace whose rollups are behind this code's
    /// (after the migration that introduced them, or a later change of their shape).
    pub async fn rebuild_stale_rollups(&self) -> Result<Vec<(String, RebuildSummary)>> {
        self.rebuild_rollups_of(true, &|_, _, _| {}).await
    }

    /// Rebuilds the rollups of every workspace of every agency: the operator's
    /// `hourglass rollups rebuild` (after a restore, say). `progress` hears the
    /// workspace's slug, events done and events in all.
    pub async fn rebuild_all_rollups(
        &self,
        progress: &(dyn Fn(&str, u64, u64) + Sync),
    ) -> Result<Vec<(String, RebuildSummary)>> {
        self.rebuild_rollups_of(false, progress).await
    }

    async fn rebuild_rollups_of(
        &self,
        only_stale: bool,
        progress: &(dyn Fn(&str, u64, u64) + Sync),
    ) -> Result<Vec<(String, RebuildSummary)>> {
        let mut query = workspace::Entity::find().order_by_asc(workspace::Column::Id);
        if only_stale {
            query = query.filter(workspace::Column::RollupVersion.ne(VERSION));
        }
        let workspaces = query.all(&self.db).await?;
        let mut rebuilt = Vec::with_capacity(workspaces.len());
        for workspace in workspaces {
            let slug = workspace.slug.clone();
            let mut ws = WorkspaceStore::new(self.clone(), workspace);
            let summary = ws
                .rebuild_rollups(&|done, total| progress(&slug, done, total))
                .await?;
            tracing::info!(
                workspace = %slug,
                events = summary.events,
                rows = summary.rollup_rows,
                "rollups rebuilt"
            );
            rebuilt.push((slug, summary));
        }
        Ok(rebuilt)
    }
}
