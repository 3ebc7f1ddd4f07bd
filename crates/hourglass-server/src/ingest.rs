//! The one ingest path behind both GraphQL `ingestEvents` and NDJSON `POST /v1/events`:
//! validate each event, store the valid ones in one transaction, report the rest.

use std::time::Instant;

use chrono::Utc;
use hourglass_core::identity::Identification;
use hourglass_core::{EventDraft, Rejection, RejectionCode};
use hourglass_storage::WorkspaceStore;
use serde::Serialize;

use crate::error::{ApiError, ApiResult};
use crate::graphql::AppState;
use crate::graphql::live::IngestNotice;
use crate::observability::meters::{self, Refusal};

/// One refused event: where it was in the request, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedEvent {
    /// Zero-based position in the request: the list index for GraphQL, the line
    /// number for NDJSON.
    pub index: usize,
    pub message_id: Option<String>,
    #[serde(flatten)]
    pub rejection: Rejection,
}

/// What a request's events came to.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IngestReport {
    /// Newly stored events.
    pub accepted: u64,
    /// Events already stored under the same messageId, or repeated in the request.
    pub duplicates: u64,
    /// Identifications applied (Segment's identify, group and alias calls).
    #[serde(skip_serializing_if = "is_zero")]
    pub identified: u64,
    /// Events stored earlier under an anonymous id that this request linked to a
    /// contact, and that are now that contact's.
    #[serde(skip_serializing_if = "is_zero")]
    pub stitched: u64,
    pub rejected: Vec<RejectedEvent>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One event of a request: its position and either a draft or why it could not
/// even be read.
pub type Item = (usize, Result<EventDraft, Rejection>);

/// Refuses a request of more events than `ingest.max_batch_events` — the one
/// batch-size rule, which NDJSON applies to its line count before parsing a line.
pub fn admit_batch(state: &AppState, events: usize) -> ApiResult<()> {
    let max = state.settings.ingest.max_batch_events;
    if events > max {
        meters::refused(Refusal::Size);
        return Err(ApiError::BatchTooLarge { got: events, max });
    }
    Ok(())
}

/// Validates and stores a request's events in `ws`. Returns only after the valid
/// events are committed, and then tells live subscribers when any were new.
pub async fn ingest(
    state: &AppState,
    ws: &WorkspaceStore,
    items: Vec<Item>,
) -> ApiResult<IngestReport> {
    ingest_with_identities(state, ws, items, Vec::new()).await
}

/// [`ingest`], with identifications applied in the same transaction, before the
/// events (so an event of a visitor identified in the same request is the contact's).
pub async fn ingest_with_identities(
    state: &AppState,
    ws: &WorkspaceStore,
    items: Vec<Item>,
    identifications: Vec<Identification>,
) -> ApiResult<IngestReport> {
    let limits = &state.settings.ingest.limits();
    admit_batch(state, items.len() + identifications.len())?;
    let started = Instant::now();
    let received_at = Utc::now();
    let mut valid = Vec::with_capacity(items.len());
    let mut rejected = Vec::new();
    for (index, item) in items {
        let message_id = item
            .as_ref()
            .ok()
            .and_then(|draft| draft.message_id.clone());
        match item.and_then(|draft| draft.validate(limits, received_at)) {
            Ok(event) => valid.push(event),
            Err(rejection) => rejected.push(RejectedEvent {
                index,
                message_id,
                rejection,
            }),
        }
    }
    let outcome = ws.ingest_batch(valid, identifications, received_at).await?;
    let report = IngestReport {
        accepted: outcome.accepted,
        duplicates: outcome.duplicates,
        identified: outcome.identified,
        stitched: outcome.stitched,
        rejected,
    };
    meters::ingest_batch(
        report.accepted,
        report.duplicates,
        report.rejected.iter().map(|r| r.rejection.code.as_str()),
        started.elapsed(),
    );
    // Stitching alone changes who is counted, so it is news too.
    if report.accepted > 0 || outcome.linked > 0 {
        state.ingest_feed.publish(
            ws.workspace().id,
            IngestNotice {
                workspace: ws.workspace().slug.clone().into(),
                accepted: report.accepted,
                duplicates: report.duplicates,
                rejected: report.rejected.len() as u64,
                committed_at: Utc::now(),
            },
        );
    }
    Ok(report)
}

/// One NDJSON line (or an imported file's line) as an event draft, or why it is not
/// one; the same reading for `POST /v1/events` and `hourglass import`.
pub fn parse_event_line(line: &[u8], max_event_bytes: usize) -> Result<EventDraft, Rejection> {
    if line.len() > max_event_bytes {
        return Err(Rejection::new(
            RejectionCode::EventTooLarge,
            format!(
                "the event is {} bytes; the limit is {max_event_bytes} bytes",
                line.len()
            ),
        ));
    }
    serde_json::from_slice(line).map_err(|e| {
        Rejection::new(
            RejectionCode::MalformedEvent,
            format!("the line is not a JSON object of event fields: {e}"),
        )
    })
}
