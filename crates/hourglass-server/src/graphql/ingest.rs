//! `ingestEvents`: a tracker's batch of events.

use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use hourglass_core::EventDraft;
use hourglass_core::event::ContactTraitsDraft;

use hourglass_core::Permission;

use super::types::{EventKind, RejectionCode};
use super::{caller, state};
use crate::error::ApiResult;
use crate::ingest::{self, IngestReport};

/// One engagement event. Ids are your own: unknown contacts, organizations,
/// campaigns and assets are created on first sight.
#[derive(InputObject, Debug)]
pub struct EventInput {
    /// Your unique id for this event; resending it is harmless (counted as a duplicate).
    pub message_id: String,
    pub kind: EventKind,
    /// When it happened (RFC 3339; stored in UTC).
    pub occurred_at: DateTime<Utc>,
    pub contact_id: Option<ID>,
    /// A visitor id for people not known as contacts yet.
    pub anonymous_id: Option<String>,
    /// Defaults to the contact's organization.
    pub organization_id: Option<ID>,
    pub campaign_id: Option<ID>,
    pub asset_id: Option<ID>,
    /// Where it happened: email, social, paid_search, … (normalised to lower case).
    pub channel: Option<String>,
    /// The number the kind carries: seconds attended, NPS score, revenue amount.
    pub value: Option<f64>,
    /// Free properties; some kinds read named ones (see EventKind).
    pub properties: Option<Json<serde_json::Value>>,
    /// What identifies the event's contact (needs contactId): stored on the contact;
    /// the latest ingested value of each trait wins, a trait left out stays as it is.
    pub contact_traits: Option<ContactTraitsInput>,
}

/// A contact's e-mail address, name and job title, as a tracker or CRM knows them.
#[derive(InputObject, Debug)]
pub struct ContactTraitsInput {
    /// Stored in lower case; a share to it from a colleague is an internal share.
    pub email: Option<String>,
    pub name: Option<String>,
    /// Job title.
    pub title: Option<String>,
}

impl From<EventInput> for EventDraft {
    fn from(e: EventInput) -> Self {
        let kind: hourglass_core::EventKind = e.kind.into();
        EventDraft {
            message_id: Some(e.message_id),
            kind: Some(kind.as_str().to_owned()),
            occurred_at: Some(e.occurred_at.to_rfc3339()),
            contact_id: e.contact_id.map(|id| id.0),
            anonymous_id: e.anonymous_id,
            organization_id: e.organization_id.map(|id| id.0),
            campaign_id: e.campaign_id.map(|id| id.0),
            asset_id: e.asset_id.map(|id| id.0),
            channel: e.channel,
            value: e.value,
            properties: e.properties.map(|p| p.0),
            contact_traits: e.contact_traits.map(|t| ContactTraitsDraft {
                email: t.email,
                name: t.name,
                title: t.title,
            }),
        }
    }
}

/// One refused event.
#[derive(SimpleObject, Debug)]
pub struct RejectedEvent {
    /// Position of the event in the request (zero-based).
    pub index: u64,
    pub message_id: Option<String>,
    pub code: RejectionCode,
    /// What is wrong, for a person.
    pub message: String,
}

/// What a batch came to. Valid events are stored even when others are rejected.
#[derive(SimpleObject, Debug)]
pub struct IngestResult {
    /// Newly stored events.
    pub accepted: u64,
    /// Events whose messageId was already stored, or repeated in the batch.
    pub duplicates: u64,
    pub rejected: Vec<RejectedEvent>,
}

impl From<IngestReport> for IngestResult {
    fn from(report: IngestReport) -> Self {
        Self {
            accepted: report.accepted,
            duplicates: report.duplicates,
            rejected: report
                .rejected
                .into_iter()
                .map(|r| RejectedEvent {
                    index: r.index as u64,
                    message_id: r.message_id,
                    code: r.rejection.code.into(),
                    message: r.rejection.message,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Default)]
pub struct IngestMutation;

#[Object]
impl IngestMutation {
    /// Stores a batch of events (at most `ingest.max_batch_events`, 500 by default).
    /// The answer comes after the batch is committed.
    async fn ingest_events(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        events: Vec<EventInput>,
    ) -> ApiResult<IngestResult> {
        let ws = caller(ctx)?
            .workspace(&workspace, Permission::Ingest)
            .await?;
        let items = events
            .into_iter()
            .enumerate()
            .map(|(index, event)| (index, Ok(EventDraft::from(event))))
            .collect();
        let report = ingest::ingest(state(ctx), &ws, items).await?;
        Ok(report.into())
    }
}
