//! Live dashboards over GraphQL-over-WebSocket: the key travels in `connection_init`,
//! a subscription sees its own workspace's committed batches and nothing else.

#![allow(clippy::unwrap_used)]

use hourglass_tests::ws::{
    Socket, answer_to, authenticated, connect, next, open, send, start, ws_error_code,
};
use hourglass_tests::{Backend, TestApp, on_both_backends};
use serde_json::{Value, json};

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

const KPIS_UPDATED: &str = "subscription($w: ID!, $f: KpiFilterInput) { kpisUpdated(workspace: $w, filter: $f) { pageViews uniqueVisitors } }";

/// Page views of campaign `campaign` by `people` distinct contacts, one batch.
async fn views(app: &TestApp, workspace: &str, campaign: &str, ids: &[&str]) {
    let body: String = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            format!(
                "{}\n",
                json!({"messageId": id, "kind": "PAGE_VIEW", "occurredAt": "2026-05-01T10:00:00Z",
                       "contactId": format!("p{}", i % 2), "campaignId": campaign})
            )
        })
        .collect();
    let response = app.post_ndjson(workspace, body).await;
    assert_eq!(response.status(), 200);
}

/// The next `kpisUpdated` report on operation `id`.
async fn report(socket: &mut Socket, id: &str) -> Value {
    let message = answer_to(socket, id).await;
    assert_eq!(message["type"], "next", "{message}");
    message["payload"]["data"]["kpisUpdated"].clone()
}

/// A live report starts with the filter's KPIs now, follows each batch that changes
/// them (folding quick batches together), ignores batches that do not, and is the
/// same for every subscriber of the filter; a connection holds a bounded number of
/// subscriptions.
async fn live_kpis_follow_committed_events(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.graphql.max_subscriptions_per_connection = 3;
    })
    .await
    else {
        return;
    };
    app.create_workspace("live").await;
    views(&app, "live", "spring", &["s-1", "s-2", "s-3"]).await;
    let reader = app.issue_key(Some("live"), "READ").await;
    let filter = json!({"w": "live", "f": {"campaign": "spring"}});
    let mut first = authenticated(&app, &reader).await;
    let mut second = authenticated(&app, &reader).await;
    start(&mut first, "k", KPIS_UPDATED, filter.clone()).await;
    start(&mut second, "k", KPIS_UPDATED, filter.clone()).await;
    let now = json!({"pageViews": 3, "uniqueVisitors": 2});
    assert_eq!(report(&mut first, "k").await, now);
    assert_eq!(report(&mut second, "k").await, now);

    // Another campaign's batch changes nothing here: no push. Then five quick
    // batches of this campaign: pushed in fewer reports than batches, the last with
    // every event.
    views(&app, "live", "autumn", &["a-1"]).await;
    for batch in 0..5 {
        let id = format!("b-{batch}");
        views(&app, "live", "spring", &[id.as_str()]).await;
    }
    let mut pushes = Vec::new();
    loop {
        let pushed = report(&mut first, "k").await;
        pushes.push(pushed.clone());
        if pushed["pageViews"] == 8 {
            break;
        }
        assert!(pushes.len() < 5, "{pushes:?}");
    }
    assert!(
        pushes.len() < 5,
        "five batches, {} pushes: {pushes:?}",
        pushes.len()
    );
    assert!(
        pushes.iter().all(|p| p["pageViews"].as_u64() > Some(3)),
        "the other campaign's batch was pushed: {pushes:?}"
    );
    let mut seen_by_second = report(&mut second, "k").await;
    while seen_by_second["pageViews"] != 8 {
        seen_by_second = report(&mut second, "k").await;
    }
    assert_eq!(seen_by_second, json!({"pageViews": 8, "uniqueVisitors": 2}));

    // Two more subscriptions fit on the first connection; a fourth does not.
    start(&mut first, "e1", SUBSCRIBE, json!({"w": "live"})).await;
    start(&mut first, "e2", KPIS_UPDATED, json!({"w": "live"})).await;
    assert_eq!(report(&mut first, "e2").await["pageViews"], 9);
    start(&mut first, "e3", KPIS_UPDATED, json!({"w": "live"})).await;
    let refused = answer_to(&mut first, "e3").await;
    assert_eq!(ws_error_code(&refused), Some("BAD_REQUEST"), "{refused}");

    // The key is revoked: every live report it holds ends, on both connections.
    let id = reader.split('_').nth(1).unwrap();
    app.graphql_ok(
        "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }",
        json!({ "id": id }),
    )
    .await;
    let revoked_at = std::time::Instant::now();
    for socket in [&mut first, &mut second] {
        let ended = answer_to(socket, "k").await;
        assert_eq!(ws_error_code(&ended), Some("UNAUTHENTICATED"), "{ended}");
    }
    assert!(revoked_at.elapsed() < std::time::Duration::from_secs(3));
}

/// What graphql-transport-ws asks of a server: a connection that never says
/// `connection_init` is closed with 4408 once the wait is over, a `subscribe` before
/// the acknowledgement with 4401, and a second `subscribe` with the id of one still
/// running with 4409 — never a silent replacement.
async fn the_protocol_closes_with_its_own_codes(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.graphql.connection_init_timeout_seconds = 1;
    })
    .await
    else {
        return;
    };
    app.create_workspace("proto").await;
    let key = app.issue_key(Some("proto"), "READ").await;

    let mut silent = open(&app).await;
    let started = std::time::Instant::now();
    assert_eq!(
        next(&mut silent).await.unwrap().unwrap_err(),
        (4408, "Connection initialisation timeout".to_owned())
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));

    let mut hasty = open(&app).await;
    subscribe(&mut hasty, "1", "proto").await;
    assert_eq!(next(&mut hasty).await.unwrap().unwrap_err().0, 4401);

    let mut socket = authenticated(&app, &key).await;
    subscribe(&mut socket, "live", "proto").await;
    // The same id again while the first runs.
    subscribe(&mut socket, "live", "proto").await;
    assert_eq!(
        next(&mut socket).await.unwrap().unwrap_err(),
        (4409, "Subscriber for live already exists".to_owned())
    );

    // An id is free again once its operation completed.
    let mut socket = authenticated(&app, &key).await;
    for _ in 0..2 {
        start(
            &mut socket,
            "q",
            "{ workspace(slug: \"proto\") { slug } }",
            json!({}),
        )
        .await;
        let answer = answer_to(&mut socket, "q").await;
        assert_eq!(
            answer["payload"]["data"]["workspace"]["slug"], "proto",
            "{answer}"
        );
        assert_eq!(
            next(&mut socket).await.unwrap().unwrap()["type"],
            "complete"
        );
    }
}

on_both_backends!(
    a_subscriber_sees_its_workspaces_batches_only,
    a_connection_without_a_valid_key_is_closed,
    subscriptions_follow_the_same_scope_and_roles,
    live_kpis_follow_committed_events,
    the_protocol_closes_with_its_own_codes,
);
