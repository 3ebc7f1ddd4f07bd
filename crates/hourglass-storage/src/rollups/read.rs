//! Reading a filter's cells: whole days from rollup rows, ragged edges (and every
//! organization filter) from raw events.

use hourglass_core::{AssetKind, EventKind, TimeRange};
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, Query, UnionType};
use sea_orm::{ColumnTrait, EntityName, EntityTrait, FromQueryResult, QueryFilter, QuerySelect};

use super::cells::Scope;
use super::months::{GRAIN_MONTH, split};
use super::plan::{Plan, Window};
use super::stored_columns;
use super::write::StoredRow;
use super::{ALL_ASSETS, Cells, GRAIN_DAY, MonthBook, col, table};
use crate::entities::{asset, event};
use crate::error::Result;
use crate::kpis::{AssetScope, Resolved};
use crate::time::to_millis;
use crate::workspaces::WorkspaceStore;

#[derive(Debug, FromQueryResult)]
struct RawGroup {
    kind: String,
    asset_id: Option<i64>,
    person: Option<i32>,
    events: i64,
    value_sum: Option<f64>,
}

impl WorkspaceStore {
    /// Where the filter's counts and funnel look.
    pub(crate) async fn scope(&self, resolved: &Resolved) -> Result<Scope> {
        let mut landing = asset::Entity::find()
            .select_only()
            .column(asset::Column::Id)
            .filter(asset::Column::WorkspaceId.eq(self.id()))
            .filter(asset::Column::Kind.eq(AssetKind::LandingPage.as_str()));
        if resolved.asset.is_some() {
            landing = landing.filter(asset::Column::Id.is_in(resolved.asset_family.clone()));
        }
        let landing: Vec<i64> = landing.into_tuple().all(&self.store.db).await?;
        Ok(Scope {
            asset: resolved.asset,
            family: resolved.asset_family.clone(),
            landing: landing.into_iter().collect(),
        })
    }

    /// The filter's events as cells, read from rollups where whole UTC days allow
    /// and from raw events elsewhere.
    pub(crate) async fn cells(&self, resolved: &Resolved, scope: &Scope) -> Result<Cells> {
        let from = resolved.range.from.map(to_millis);
        let to = resolved.range.to.map(to_millis);
        let plan = if resolved.organization.is_some() {
            Plan {
                days: None,
                raw: vec![(from, to)],
            }
        } else {
            Plan::new(from, to)
        };
        let mut cells = Cells::default();
        if let Some(days) = plan.days {
            self.add_rollup_rows(&mut cells, resolved, scope, days)
                .await?;
        }
        if !plan.raw.is_empty() {
            self.add_raw_events(&mut cells, resolved, &plan.raw).await?;
        }
        Ok(cells)
    }

    async fn add_rollup_rows(
        &self,
        cells: &mut Cells,
        resolved: &Resolved,
        scope: &Scope,
        (from, to): Window,
    ) -> Result<()> {
        // With an asset, its family's own rows; without, the all-assets rows plus the
        // landing pages' rows for landing viewers.
        let assets: Vec<i64> = match scope.asset {
            Some(_) => scope.family.clone(),
            None => std::iter::once(ALL_ASSETS)
                .chain(scope.landing.iter().copied())
                .collect(),
        };
        // Sealed months wholly inside the range come from their month rows, every
        // other whole day from its day row.
        let db = &self.store.db;
        let (months, day_windows) =
            split((from, to), &MonthBook::load(db, self.id()).await?.sealed());
        // One indexed range per part, glued with UNION ALL: an OR across grains would
        // keep SQLite from using the primary key past the workspace.
        let part = |grain: i16, buckets: Condition| {
            let mut condition = Condition::all()
                .add(Expr::col(col("workspace_id")).eq(self.id()))
                .add(Expr::col(col("grain")).eq(grain))
                .add(Expr::col(col("asset_id")).is_in(assets.clone()))
                .add(buckets);
            if let Some(campaign) = resolved.campaign {
                condition = condition.add(Expr::col(col("campaign_id")).eq(campaign));
            }
            if let Some(channel) = &resolved.channel {
                condition = condition.add(Expr::col(col("channel")).eq(channel.as_str()));
            }
            Query::select()
                .columns(stored_columns().map(col))
                .from(table())
                .cond_where(condition)
                .to_owned()
        };
        let mut parts = Vec::new();
        if !months.is_empty() {
            parts.push(part(
                GRAIN_MONTH,
                Condition::all().add(Expr::col(col("bucket")).is_in(months)),
            ));
        }
        for (from, to) in day_windows {
            let mut days = Condition::all();
            if let Some(from) = from {
                days = days.add(Expr::col(col("bucket")).gte(from));
            }
            if let Some(to) = to {
                days = days.add(Expr::col(col("bucket")).lt(to));
            }
            parts.push(part(GRAIN_DAY, days));
        }
        let mut parts = parts.into_iter();
        let Some(mut query) = parts.next() else {
            return Ok(());
        };
        for other in parts {
            query.union(UnionType::All, other);
        }
        let rows = StoredRow::find_by_statement(db.get_database_backend().build(&query))
            .all(db)
            .await?;
        for row in rows {
            if let Some((key, tally)) = row.into_parts()? {
                let asset = (key.asset != ALL_ASSETS).then_some(key.asset);
                cells.add(key.kind, asset, &tally);
            }
        }
        Ok(())
    }

    async fn add_raw_events(
        &self,
        cells: &mut Cells,
        resolved: &Resolved,
        windows: &[Window],
    ) -> Result<()> {
        let events = Alias::new(event::Entity.table_name());
        let unbounded = Resolved {
            range: TimeRange::default(),
            ..resolved.clone()
        };
        let at = || Expr::col((events.clone(), Alias::new("occurred_at")));
        let mut any_window = Condition::any();
        for (from, to) in windows {
            let mut window = Condition::all();
            if let Some(from) = from {
                window = window.add(at().gte(*from));
            }
            if let Some(to) = to {
                window = window.add(at().lt(*to));
            }
            any_window = any_window.add(window);
        }
        let query = Query::select()
            .columns(["kind", "asset_id", "person"].map(|c| (events.clone(), col(c))))
            .expr_as(Expr::cust("COUNT(*)"), col("events"))
            .expr_as(Expr::cust("SUM(value)"), col("value_sum"))
            .from(events.clone())
            .cond_where(
                self.condition_on(&events, &unbounded, AssetScope::Family)
                    .add(any_window),
            )
            .group_by_columns(["kind", "asset_id", "person"].map(|c| (events.clone(), col(c))))
            .to_owned();
        let groups: Vec<RawGroup> = self.select(&query).await?;
        for group in groups {
            let Ok(kind) = group.kind.parse::<EventKind>() else {
                continue;
            };
            cells.add_raw(
                kind,
                group.asset_id,
                group.person.and_then(|p| u32::try_from(p).ok()),
                u64::try_from(group.events).unwrap_or(0),
                group.value_sum.unwrap_or(0.0),
            );
        }
        Ok(())
    }
}
