//! Segment-compatible ingestion: the bodies that Segment's tracking libraries post
//! to `/v1/batch`, `/v1/track`, … (and analytics.js's short `/v1/t`, `/v1/p`, …),
//! read as events and identifications for the one ingest path. The HTTP handler is
//! in `http`; this module is only the reading.

use chrono::{DateTime, Utc};
use hourglass_core::identity::Identification;
use hourglass_core::segment::{TrackNames, Translated, translate};
use hourglass_core::{Rejection, RejectionCode};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::ingest::Item;

/// What a route receives: a batch of messages, or one message of a known type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Batch,
    Single(&'static str),
}

/// The routes, as Segment's libraries post to them: the server-side libraries use
/// `/v1/batch` (and the single-call paths), analytics.js the one-letter paths.
pub const ROUTES: [(&str, Call); 14] = [
    ("/v1/batch", Call::Batch),
    ("/v1/b", Call::Batch),
    ("/v1/track", Call::Single("track")),
    ("/v1/t", Call::Single("track")),
    ("/v1/page", Call::Single("page")),
    ("/v1/p", Call::Single("page")),
    ("/v1/screen", Call::Single("screen")),
    ("/v1/s", Call::Single("screen")),
    ("/v1/identify", Call::Single("identify")),
    ("/v1/i", Call::Single("identify")),
    ("/v1/group", Call::Single("group")),
    ("/v1/g", Call::Single("group")),
    ("/v1/alias", Call::Single("alias")),
    ("/v1/a", Call::Single("alias")),
];

/// A request body: its messages, and the write key when the body carries it (as
/// analytics.js sends it, with no Authorization header).
#[derive(Debug)]
pub struct Body {
    pub write_key: Option<String>,
    /// As sent: a message that is not a JSON object keeps its place, to be refused
    /// at its index.
    pub messages: Vec<Value>,
}

/// Reads a body. A body that is not a JSON object (or whose `batch` is not a list)
/// is refused whole, with 400, as Segment's API does; a message that is not an
/// object is refused alone, later.
pub fn read(bytes: &[u8], call: Call) -> ApiResult<Body> {
    let malformed =
        |what: String| ApiError::BadRequest(format!("the body is not a Segment {what}"));
    let mut body: Map<String, Value> = serde_json::from_slice(bytes)
        .map_err(|e| malformed(format!("message or batch in JSON: {e}")))?;
    let write_key = match body.remove("writeKey") {
        Some(Value::String(key)) if !key.is_empty() => Some(key),
        _ => None,
    };
    let messages = match call {
        Call::Single(kind) => {
            // The path says what the call is, whatever the body's own `type` says.
            body.insert("type".into(), kind.into());
            vec![Value::Object(body)]
        }
        Call::Batch => {
            let Some(Value::Array(batch)) = body.remove("batch") else {
                return Err(malformed("batch: it needs \"batch\": [messages]".into()));
            };
            // A batch's own context fills in for messages that have none.
            let context = body.remove("context");
            batch
                .into_iter()
                .map(|mut message| {
                    if let (Value::Object(message), Some(context)) = (&mut message, &context) {
                        message.entry("context").or_insert_with(|| context.clone());
                    }
                    message
                })
                .collect()
        }
    };
    Ok(Body {
        write_key,
        messages,
    })
}

/// Every message as an event draft (or why not) at its index, and the
/// identifications, in order.
pub fn translate_all(
    messages: Vec<Value>,
    names: &TrackNames,
    received_at: DateTime<Utc>,
    max_event_bytes: usize,
) -> (Vec<Item>, Vec<Identification>) {
    let mut items = Vec::with_capacity(messages.len());
    let mut identifications = Vec::new();
    for (index, message) in messages.into_iter().enumerate() {
        match read_message(message, names, received_at, max_event_bytes) {
            Ok(Translated::Event(draft)) => items.push((index, Ok(draft))),
            Ok(Translated::Identity(identity)) => identifications.push(identity),
            Err(rejection) => items.push((index, Err(rejection))),
        }
    }
    (items, identifications)
}

/// One message as an event draft or an identification, or why it is neither.
pub fn read_message(
    message: Value,
    names: &TrackNames,
    received_at: DateTime<Utc>,
    max_event_bytes: usize,
) -> Result<Translated, Rejection> {
    let Value::Object(message) = message else {
        return Err(Rejection::new(
            RejectionCode::MalformedEvent,
            "a message is not a JSON object",
        ));
    };
    let size = serde_json::to_vec(&message).map_or(usize::MAX, |bytes| bytes.len());
    if size > max_event_bytes {
        return Err(Rejection::new(
            RejectionCode::EventTooLarge,
            format!("the message is {size} bytes; the limit is {max_event_bytes} bytes"),
        ));
    }
    translate(message, names, received_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_lends_its_context_and_gives_up_its_write_key() {
        let body = read(
            br#"{"writeKey": "hg_k", "context": {"library": {"name": "x"}},
                "batch": [{"type": "track", "event": "A"}, {"type": "page", "context": {}}, 7]}"#,
            Call::Batch,
        )
        .unwrap();
        assert_eq!(body.write_key.as_deref(), Some("hg_k"));
        assert_eq!(body.messages.len(), 3);
        assert_eq!(body.messages[0]["context"]["library"]["name"], "x");
        assert_eq!(body.messages[1]["context"], serde_json::json!({}));
        let (items, identities) =
            translate_all(body.messages, &TrackNames::default(), Utc::now(), 32_768);
        assert!(identities.is_empty());
        let refused: Vec<usize> = items
            .iter()
            .filter(|(_, item)| item.is_err())
            .map(|(index, _)| *index)
            .collect();
        // The track has no one, the page no one either: both refused by validation
        // later; the number is refused here.
        assert_eq!(refused, vec![2]);
    }

    #[test]
    fn a_single_call_takes_its_type_from_the_path() {
        let body = read(
            br#"{"type": "track", "userId": "u"}"#,
            Call::Single("identify"),
        )
        .unwrap();
        assert_eq!(body.messages[0]["type"], "identify");
        assert!(read(b"[1, 2]", Call::Batch).is_err());
        assert!(read(br#"{"batch": {}}"#, Call::Batch).is_err());
    }
}
