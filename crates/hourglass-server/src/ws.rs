//! GraphQL over WebSocket: async-graphql speaks the protocol (`graphql-transport-ws`,
//! and the older `graphql-ws`); this transport adds the rules the protocol gives the
//! server and the library leaves out, closing the connection with the code the
//! protocol names:
//!
//! - no `connection_init` within `graphql.connection_init_timeout_seconds`: 4408;
//! - a `subscribe` before the connection was acknowledged: 4401;
//! - a `subscribe` whose id is already running on the connection: 4409 (the library
//!   would silently replace the running one).
//!
//! It also pings the client every few seconds and drops a connection that has gone
//! quiet, as a half-open TCP connection would otherwise hold its subscriptions.

use std::collections::HashSet;
use std::future::Future;
use std::str::FromStr as _;
use std::time::{Duration, Instant};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use async_graphql::http::{WebSocket, WebSocketProtocols, WsMessage};
use async_graphql::{Data, Executor};
use futures_util::StreamExt as _;
use serde::Deserialize;

use crate::observability::meters::Open;

/// How often the server pings, and how long a client may stay silent — or leave
/// what is sent to it unread.
const HEARTBEAT: Duration = Duration::from_secs(5);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);
/// A close frame's reason is at most 123 bytes (RFC 6455: 125 with the code).
const MAX_CLOSE_REASON: usize = 123;

/// Accepts a WebSocket upgrade for GraphQL and serves it on its own task.
/// `on_init` turns the `connection_init` payload into the connection's data (or
/// refuses it: async-graphql then closes the connection with the refusal as reason).
pub fn serve<E, OnInit, Init>(
    req: &HttpRequest,
    payload: web::Payload,
    executor: E,
    init_timeout: Duration,
    on_init: OnInit,
) -> actix_web::Result<HttpResponse>
where
    E: Executor,
    OnInit: FnOnce(serde_json::Value) -> Init + Send + Unpin + 'static,
    Init: Future<Output = async_graphql::Result<Data>> + Send + 'static,
{
    let protocol = req
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .and_then(|offered| {
            offered
                .split(',')
                .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
        })
        .ok_or_else(|| {
            actix_web::error::ErrorBadRequest(
                "offer the graphql-transport-ws (or graphql-ws) subprotocol",
            )
        })?;
    let (mut response, session, messages) = actix_ws::handle(req, payload)?;
    response.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(protocol.sec_websocket_protocol()),
    );
    let messages = messages.aggregate_continuations();
    actix_web::rt::spawn(run(
        session,
        messages,
        executor,
        protocol,
        init_timeout,
        on_init,
    ));
    Ok(response)
}

async fn run<E, OnInit, Init>(
    mut session: Session,
    mut messages: actix_ws::AggregatedMessageStream,
    executor: E,
    protocol: WebSocketProtocols,
    init_timeout: Duration,
    on_init: OnInit,
) where
    E: Executor,
    OnInit: FnOnce(serde_json::Value) -> Init + Send + Unpin + 'static,
    Init: Future<Output = async_graphql::Result<Data>> + Send + 'static,
{
    let _open = Open::websocket();
    let (to_graphql, received) = tokio::sync::mpsc::unbounded_channel::<String>();
    let received = futures_util::stream::unfold(received, |mut received| async move {
        received.recv().await.map(|text| (text, received))
    });
    let mut graphql = std::pin::pin!(
        WebSocket::new(executor, Box::pin(received), protocol).on_connection_init(on_init)
    );
    let mut rules = Rules::new(protocol);
    let init_deadline = tokio::time::sleep(init_timeout);
    let mut init_deadline = std::pin::pin!(init_deadline);
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut last_heard = Instant::now();

    let close = loop {
        tokio::select! {
            message = messages.next() => {
                let text = match message {
                    None | Some(Err(_)) => break None,
                    Some(Ok(AggregatedMessage::Text(text))) => text.to_string(),
                    Some(Ok(AggregatedMessage::Binary(bytes))) => {
                        String::from_utf8_lossy(&bytes).into_owned()
                    }
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        last_heard = Instant::now();
                        if !delivered(session.pong(&bytes)).await {
                            return;
                        }
                        continue;
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => {
                        last_heard = Instant::now();
                        continue;
                    }
                    Some(Ok(AggregatedMessage::Close(_))) => break None,
                };
                last_heard = Instant::now();
                if let Some(refusal) = rules.received(&text) {
                    break Some(refusal);
                }
                if to_graphql.send(text).is_err() {
                    break None;
                }
            }
            reply = graphql.next() => match reply {
                None => break None,
                Some(WsMessage::Text(text)) => {
                    rules.sent(&text);
                    if !delivered(session.text(text)).await {
                        return;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    break Some((code, reason));
                }
            },
            () = &mut init_deadline, if !rules.initialising_started => {
                break Some((4408, "Connection initialisation timeout".to_owned()));
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > CLIENT_TIMEOUT {
                    break None;
                }
                if !delivered(session.ping(b"")).await {
                    return;
                }
            }
        }
    };
    let reason = close.map(|(code, reason)| CloseReason {
        code: CloseCode::Other(code),
        description: Some(within_close_frame(reason)),
    });
    // A client that has gone, or reads nothing, has nothing to hear.
    let _ = tokio::time::timeout(CLIENT_TIMEOUT, session.close(reason)).await;
}

/// Whether a frame went out: the session's queue is short, so a client that stops
/// reading would otherwise hold this task (and its heartbeat) forever.
async fn delivered<E>(send: impl Future<Output = Result<(), E>>) -> bool {
    matches!(tokio::time::timeout(CLIENT_TIMEOUT, send).await, Ok(Ok(())))
}

/// A reason cut to what a close frame holds, at a character boundary.
fn within_close_frame(mut reason: String) -> String {
    if reason.len() > MAX_CLOSE_REASON {
        let mut end = MAX_CLOSE_REASON;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

/// The protocol rules of one connection, kept from the messages each way.
#[derive(Debug)]
struct Rules {
    protocol: WebSocketProtocols,
    initialising_started: bool,
    acknowledged: bool,
    /// Ids of operations started and not yet completed.
    running: HashSet<String>,
    /// Ids the client completed while running: the library answers each with a
    /// `complete` of its own, which must not free the id once more (it may be
    /// running again by then).
    completed_by_client: HashSet<String>,
}

/// The parts of a protocol message the rules read.
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

impl Rules {
    fn new(protocol: WebSocketProtocols) -> Self {
        Self {
            protocol,
            initialising_started: false,
            acknowledged: false,
            running: HashSet::new(),
            completed_by_client: HashSet::new(),
        }
    }

    /// A client message: `Some((code, reason))` when it breaks a rule and the
    /// connection must close. A message that is not a protocol message passes, for
    /// the library to refuse.
    fn received(&mut self, text: &str) -> Option<(u16, String)> {
        let Ok(message) = serde_json::from_str::<Envelope>(text) else {
            return None;
        };
        match (message.kind.as_str(), message.id) {
            ("connection_init", _) => self.initialising_started = true,
            ("subscribe" | "start", Some(id)) => {
                if !self.acknowledged && self.protocol == WebSocketProtocols::GraphQLWS {
                    return Some((4401, "Unauthorized".to_owned()));
                }
                if !self.running.insert(id.clone()) {
                    return Some((4409, format!("Subscriber for {id} already exists")));
                }
            }
            ("complete" | "stop", Some(id)) if self.running.remove(&id) => {
                self.completed_by_client.insert(id);
            }
            _ => {}
        }
        None
    }

    /// A server message: an acknowledgement, or the end of an operation.
    fn sent(&mut self, text: &str) {
        let Ok(message) = serde_json::from_str::<Envelope>(text) else {
            return;
        };
        match (message.kind.as_str(), message.id) {
            ("connection_ack", _) => self.acknowledged = true,
            ("complete" | "error", Some(id)) if !self.completed_by_client.remove(&id) => {
                self.running.remove(&id);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_free_again_once_its_operation_ends() {
        let mut rules = Rules::new(WebSocketProtocols::GraphQLWS);
        let subscribe = r#"{"type": "subscribe", "id": "1", "payload": {"query": "{ a }"}}"#;
        assert_eq!(rules.received(subscribe).map(|r| r.0), Some(4401));
        rules.received(r#"{"type": "connection_init"}"#);
        rules.sent(r#"{"type": "connection_ack"}"#);
        assert_eq!(rules.received(subscribe), None);
        assert_eq!(rules.received(subscribe).map(|r| r.0), Some(4409));
        rules.sent(r#"{"type": "complete", "id": "1"}"#);
        assert_eq!(rules.received(subscribe), None);
        // The client completes it and starts it again before the library's echo of
        // the completion goes out: the echo does not free the new operation's id.
        rules.received(r#"{"type": "complete", "id": "1"}"#);
        assert_eq!(rules.received(subscribe), None);
        rules.sent(r#"{"type": "complete", "id": "1"}"#);
        assert_eq!(rules.received(subscribe).map(|r| r.0), Some(4409));
        assert_eq!(rules.received("not json"), None);
    }

    #[test]
    fn a_close_reason_fits_its_frame() {
        let long = format!("Subscriber for {} already exists", "é".repeat(100));
        let cut = within_close_frame(long);
        assert!(cut.len() <= MAX_CLOSE_REASON && cut.starts_with("Subscriber for é"));
    }
}
