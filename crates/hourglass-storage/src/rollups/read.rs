//! Reading a filter's cells: whole days from rollup rows, ragged edges (and every
//! organization filter) from raw events.

use std::collections::BTreeSet;

use hourglass_core::{AssetKind, EventKind, TimeRange};
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, Query, UnionType};
use sea_orm::{ColumnTrait, EntityName, EntityTrait, FromQueryResult, QueryFilter, QuerySelect};

use super::cells::Scope;
use super::cells::Tally;
use super::months::{GRAIN_MONTH, split};
use super::plan::{Plan, Window, split_hours};
use super::stored_columns;
use super::write::StoredRow;
use super::{ALL_ASSETS, Cells, GRAIN_DAY, GRAIN_HOUR, Key, MonthBook, col, table};
use crate::entities::{asset, event};
use crate::error::Result;
use crate::kpis::{AssetScope, Resolved};
use crate::time::to_millis;
use crate::workspaces::WorkspaceStore;

/// Terms of one UNION ALL: SQLite refuses a compound SELECT of more than 500. A
/// daily series in a half-hour zone has a range of hours per day (its days never
/// touch a UTC hour boundary), so a long one takes several queries.
const UNION_TERMS: usize = 400;

/// The rollup rows a read needs: sealed months, and ranges of day and hour buckets.
#[derive(Debug, Default)]
struct Parts {
    months: Vec<i64>,
    days: Vec<Window>,
    hours: Vec<Window>,
}

/// `windows` (disjoint, in order) with each run of adjacent ones joined: a daily series
/// reads one range of hour rows, not one per day.
fn coalesce(windows: Vec<Window>) -> Vec<Window> {
    let mut joined: Vec<Window> = Vec::with_capacity(windows.len());
    for (from, to) in windows {
        match joined.last_mut() {
            Some(last) if last.1.is_some() && last.1 == from => last.1 = to,
            _ => joined.push((from, to)),
        }
    }
    joined
}

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

    /// The filter's events as cells, read from rollups where whole UTC days and hours
    /// allow and from raw events elsewhere.
    pub(crate) async fn cells(&self, resolved: &Resolved, scope: &Scope) -> Result<Cells> {
        let mut cells = self
            .cells_per_window(resolved, scope, &[resolved.range])
            .await?;
        Ok(cells.pop().unwrap_or_default())
    }

    /// The filter's events as cells for each of `windows` (disjoint, in time order;
    /// the filter's own range is not applied), with one read of rollup rows for all
    /// of them: a time series' points.
    pub(crate) async fn cells_per_window(
        &self,
        resolved: &Resolved,
        scope: &Scope,
        windows: &[TimeRange],
    ) -> Result<Vec<Cells>> {
        // Sealed months matter only to whole days: loaded when a window has one.
        let mut sealed: Option<BTreeSet<i64>> = None;
        let mut parts = Parts::default();
        let mut raw: Vec<Vec<Window>> = Vec::with_capacity(windows.len());
        for window in windows {
            let from = window.from.map(to_millis);
            let to = window.to.map(to_millis);
            if resolved.organization.is_some() {
                // Organizations are no rollup dimension: their few events are read raw.
                raw.push(vec![(from, to)]);
                continue;
            }
            let plan = Plan::new(from, to);
            if let Some(days) = plan.days {
                if sealed.is_none() {
                    sealed = Some(MonthBook::load(&self.store.db, self.id()).await?.sealed());
                }
                let (months, days) = split(days, sealed.as_ref().unwrap_or(&BTreeSet::new()));
                parts.months.extend(months);
                parts.days.extend(days);
            }
            let mut rest = Vec::new();
            for edge in plan.raw {
                let (hours, left) = split_hours(edge);
                parts.hours.extend(hours);
                rest.extend(left);
            }
            raw.push(rest);
        }
        let mut cells: Vec<Cells> = windows.iter().map(|_| Cells::default()).collect();
        // A row lies within one window: the one its bucket starts in.
        let starts: Vec<i64> = windows
            .iter()
            .map(|w| w.from.map_or(i64::MIN, to_millis))
            .collect();
        for (key, tally) in self.rollup_rows(resolved, scope, parts).await? {
            let at = starts.partition_point(|start| *start <= key.bucket);
            if let Some(window) = at.checked_sub(1).and_then(|i| cells.get_mut(i)) {
                let asset = (key.asset != ALL_ASSETS).then_some(key.asset);
                window.add(key.kind, asset, &tally);
            }
        }
        for (window, raw) in cells.iter_mut().zip(raw) {
            if !raw.is_empty() {
                self.add_raw_events(window, resolved, &raw).await?;
            }
        }
        Ok(cells)
    }

    /// The rollup rows of `parts` that the filter's campaign, channel and assets
    /// select, in one query.
    async fn rollup_rows(
        &self,
        resolved: &Resolved,
        scope: &Scope,
        parts: Parts,
    ) -> Result<Vec<(Key, Tally)>> {
        // With an asset, its family's own rows; without, the all-assets rows plus the
        // landing pages' rows for landing viewers.
        let assets: Vec<i64> = match scope.asset {
            Some(_) => scope.family.clone(),
            None => std::iter::once(ALL_ASSETS)
                .chain(scope.landing.iter().copied())
                .collect(),
        };
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
        let mut queries = Vec::new();
        if !parts.months.is_empty() {
            queries.push(part(
                GRAIN_MONTH,
                Condition::all().add(Expr::col(col("bucket")).is_in(parts.months)),
            ));
        }
        let windows = coalesce(parts.days)
            .into_iter()
            .map(|w| (GRAIN_DAY, w))
            .chain(coalesce(parts.hours).into_iter().map(|w| (GRAIN_HOUR, w)));
        for (grain, (from, to)) in windows {
            let mut buckets = Condition::all();
            if let Some(from) = from {
                buckets = buckets.add(Expr::col(col("bucket")).gte(from));
            }
            if let Some(to) = to {
                buckets = buckets.add(Expr::col(col("bucket")).lt(to));
            }
            queries.push(part(grain, buckets));
        }
        let mut parts = Vec::new();
        for chunk in queries.chunks(UNION_TERMS) {
            let mut terms = chunk.iter().cloned();
            let Some(mut query) = terms.next() else {
                continue;
            };
            for other in terms {
                query.union(UnionType::All, other);
            }
            let rows: Vec<StoredRow> = self.select(&query).await?;
            for row in rows {
                parts.extend(row.into_parts()?);
            }
        }
        Ok(parts)
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
