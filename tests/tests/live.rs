//! Live dashboards over GraphQL-over-WebSocket: the key travels in `connection_init`,
//! a subscription sees its own workspace's committed batches and nothing else.

#![allow(clippy::unwrap_used)]

use hourglass_tests::ws::{Socket, authenticated, connect, next, send};
use hourglass_tests::{Backend, TestApp, on_both_backends};
use serde_json::json;

const SUBSCRIBE: &str = "subscription($w: ID!) { eventsIngested(workspace: $w) { workspace accepted duplicates rejected } }";

async fn subscribe(socket: &mut Socket, id: &str, workspace: &str) {
    send(
        socket,
        json!({"id": id, "type": "subscribe", "payload": {"query": SUBSCRIBE, "variables": {"w": workspace}}}),
    )
    .await;
}

async fn ingest(app: &TestApp, workspace: &str, ids: &[&str]) {
    let body: String = ids
        .iter()
        .map(|id| {
            format!(
                "{}\n",
                json!({"messageId": id, "kind": "PAGE_VIEW", "occurredAt": "2026-05-01T10:00:00Z", "contactId": "c1"})
            )
        })
        .collect();
    let response = app.post_ndjson(workspace, body).await;
    assert_eq!(response.status(), 200);
}

async fn a_subscriber_sees_its_workspaces_batches_only(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.create_workspace("live").await;
    app.create_workspace("quiet").await;
    let reader = app.issue_key(Some("live"), "READ").await;
    let mut socket = authenticated(&app, &reader).await;
    subscribe(&mut socket, "1", "live").await;
    // The subscription is registered once the server has read the message; a query on
    // the same connection answered afterwards proves that ordering.
    send(
        &mut socket,
        json!({"id": "q", "type": "subscribe", "payload": {"query": "{ viewer { role } }"}}),
    )
    .await;
    let answer = next(&mut socket).await.unwrap().unwrap();
    assert_eq!(answer["id"], "q", "{answer}");
    assert_eq!(answer["payload"]["data"]["viewer"]["role"], "READ");
    assert_eq!(
        next(&mut socket).await.unwrap().unwrap()["type"],
        "complete"
    );

    ingest(&app, "quiet", &["other-1"]).await; // another workspace: no notice
    ingest(&app, "live", &["a", "b", "c"]).await;
    ingest(&app, "live", &["a", "b"]).await; // nothing new: no notice
    ingest(&app, "live", &["a", "d"]).await;

    let first = next(&mut socket).await.unwrap().unwrap();
    assert_eq!(first["type"], "next", "{first}");
    assert_eq!(
        first["payload"]["data"]["eventsIngested"],
        json!({"workspace": "live", "accepted": 3, "duplicates": 0, "rejected": 0})
    );
    let second = next(&mut socket).await.unwrap().unwrap();
    assert_eq!(
        second["payload"]["data"]["eventsIngested"],
        json!({"workspace": "live", "accepted": 1, "duplicates": 1, "rejected": 0})
    );
}

async fn a_connection_without_a_valid_key_is_closed(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    for payload in [
        json!({}),
        json!({"Authorization": "Bearer hg_0000000000000000_0000000000000000000000000000000000000000000000000000000000000000"}),
        json!({"Authorization": "not a key"}),
    ] {
        let mut socket = connect(&app, payload.clone()).await;
        // async-graphql closes a refused graphql-transport-ws connection with 1002;
        // the reason carries our code.
        match next(&mut socket).await {
            Some(Err((code, reason))) => {
                assert_eq!(code, 1002, "{payload}");
                assert!(reason.starts_with("UNAUTHENTICATED"), "{payload}: {reason}");
            }
            other => panic!("{payload} was answered with {other:?}"),
        }
    }
}

async fn subscriptions_follow_the_same_scope_and_roles(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.create_workspace("live").await;
    let tracker = app.issue_key(Some("live"), "INGEST").await;
    let mut socket = authenticated(&app, &tracker).await;
    subscribe(&mut socket, "1", "live").await;
    let refused = next(&mut socket).await.unwrap().unwrap();
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{refused}"
    );

    let mut socket = authenticated(&app, &app.key).await;
    for (id, workspace) in [("2", "no-such-workspace"), ("3", "")] {
        subscribe(&mut socket, id, workspace).await;
        let refused = loop {
            let message = next(&mut socket).await.unwrap().unwrap();
            if message["type"] != "complete" {
                break message;
            }
        };
        assert_eq!(refused["id"], id);
        assert_eq!(
            refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
            "{refused}"
        );
    }
}

on_both_backends!(
    a_subscriber_sees_its_workspaces_batches_only,
    a_connection_without_a_valid_key_is_closed,
    subscriptions_follow_the_same_scope_and_roles,
);
