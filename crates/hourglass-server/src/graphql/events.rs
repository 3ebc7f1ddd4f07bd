//! Reading events back, newest first.

use async_graphql::connection::{Connection, OpaqueCursor};
use async_graphql::{Context, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use hourglass_core::Permission;
use hourglass_storage::{EventRecord, EventsFilter, from_millis};

use super::filter::KpiFilterInput;
use super::types::EventKind;
use super::{caller, cost, page, state};
use crate::error::ApiResult;

/// One stored engagement event.
#[derive(SimpleObject, Debug, Clone)]
pub struct Event {
    pub message_id: ID,
    /// Null only for a kind this server version no longer knows.
    pub kind: Option<EventKind>,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub contact: Option<ID>,
    pub anonymous_id: Option<String>,
    pub organization: Option<ID>,
    pub campaign: Option<ID>,
    pub asset: Option<ID>,
    pub channel: Option<String>,
    pub value: Option<f64>,
    pub properties: Json<serde_json::Value>,
}

impl From<EventRecord> for Event {
    fn from(r: EventRecord) -> Self {
        Self {
            message_id: ID(r.message_id),
            kind: r
                .kind
                .parse::<hourglass_core::EventKind>()
                .ok()
                .map(Into::into),
            occurred_at: from_millis(r.occurred_at),
            received_at: from_millis(r.received_at),
            contact: r.contact.map(ID),
            anonymous_id: r.anonymous_id,
            organization: r.organization.map(ID),
            campaign: r.campaign.map(ID),
            asset: r.asset.map(ID),
            channel: r.channel,
            value: r.value,
            properties: Json(r.properties),
        }
    }
}

#[derive(Debug, Default)]
pub struct EventQuery;

#[Object]
impl EventQuery {
    /// Events newest first, narrowed by the filter and optionally one kind.
    #[graphql(complexity = "cost::page(first, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        filter: Option<KpiFilterInput>,
        kind: Option<EventKind>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<OpaqueCursor<(i64, i64)>, Event>> {
        let state = state(ctx);
        let has_previous = after.is_some();
        let request = page::request(&state.settings, first, after)?;
        let filter = EventsFilter {
            kpi: filter.unwrap_or_default().into_filter()?,
            kind: kind.map(Into::into),
        };
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        Ok(page::connection(
            ws.events(&filter, request).await?,
            has_previous,
            Event::from,
        ))
    }
}
