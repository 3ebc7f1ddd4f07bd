//! A GraphQL-over-WebSocket (`graphql-transport-ws`) client for the end-to-end tests.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::TestApp;

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a graphql-transport-ws connection and sends nothing on it.
pub async fn open(app: &TestApp) -> Socket {
    let mut request = format!("ws://{}/graphql", app.address)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws",
        "the server agrees on the subprotocol"
    );
    socket
}

/// Opens a graphql-transport-ws connection and sends `connection_init` with `payload`.
pub async fn connect(app: &TestApp, payload: Value) -> Socket {
    let mut socket = open(app).await;
    send(
        &mut socket,
        json!({"type": "connection_init", "payload": payload}),
    )
    .await;
    socket
}

pub async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .unwrap();
}

/// The next protocol message, skipping pings; a close frame as `Err((code, reason))`;
/// `None` when the connection ended without one.
pub async fn next(socket: &mut Socket) -> Option<Result<Value, (u16, String)>> {
    // One deadline for the whole wait: the server's pings must not keep it going.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("the server answers within 10 s")?;
        match message.unwrap() {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "ping" {
                    send(socket, json!({"type": "pong"})).await;
                    continue;
                }
                return Some(Ok(value));
            }
            Message::Close(frame) => {
                return Some(Err(frame.map_or((0, String::new()), |f| {
                    (u16::from(f.code), f.reason.to_string())
                })));
            }
            _ => {}
        }
    }
}

/// A connection whose `connection_init` carried `key` and was acknowledged.
pub async fn authenticated(app: &TestApp, key: &str) -> Socket {
    let mut socket = connect(app, json!({"Authorization": format!("Bearer {key}")})).await;
    assert_eq!(
        next(&mut socket).await.unwrap().unwrap()["type"],
        "connection_ack"
    );
    socket
}

/// Starts operation `id` (a query, mutation or subscription) on the connection.
pub async fn start(socket: &mut Socket, id: &str, query: &str, variables: Value) {
    send(
        socket,
        json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}}),
    )
    .await;
}

/// The first answer (`next` or `error`) to operation `id`, skipping other
/// operations' messages and `complete`s; within 15 s (pings keep a connection
/// alive, so `next`'s own limit would not end the wait).
pub async fn answer_to(socket: &mut Socket, id: &str) -> Value {
    answers_to(socket, &[id]).await.remove(0)
}

/// The first answers to each of `ids`, in the order of `ids`, whatever order
/// they arrive in.
pub async fn answers_to(socket: &mut Socket, ids: &[&str]) -> Vec<Value> {
    let mut answers: Vec<Option<Value>> = vec![None; ids.len()];
    let collect = async {
        while answers.iter().any(Option::is_none) {
            let message = next(socket).await.unwrap().unwrap();
            if message["type"] == "complete" {
                continue;
            }
            if let Some(at) = ids.iter().position(|id| message["id"] == *id) {
                answers[at].get_or_insert(message);
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(15), collect)
        .await
        .is_err()
    {
        panic!("no answer to every one of {ids:?} within 15 s: {answers:?}");
    }
    answers.into_iter().flatten().collect()
}

/// The errors of an answer, as `next` (`payload.errors`) or `error` (`payload` is
/// the list of errors) carries them.
pub fn ws_errors(answer: &Value) -> &Value {
    if answer["type"] == "error" {
        &answer["payload"]
    } else {
        &answer["payload"]["errors"]
    }
}

/// The code of an answer's first error.
pub fn ws_error_code(answer: &Value) -> Option<&str> {
    ws_errors(answer)[0]["extensions"]["code"].as_str()
}
