//! The cache of verified API keys, over HTTP on both backends: a key the server has
//! just verified is still refused on the very next request once it is revoked through
//! the API, a wrong secret is refused while the right key is cached, and a key revoked
//! by another process (straight in the database, as `hourglass admin revoke-key` does)
//! works until the cache's time-to-live has passed and never after.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use hourglass_tests::{AGENCY, Backend, TestApp, client_with_key, on_both_backends};
use serde_json::{Value, json};

const VIEWER: &str = "{ viewer { role } }";
const REVOKE_KEY: &str = "mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }";

/// The public id of a key `hg_<public id>_<secret>`.
fn public_id(key: &str) -> &str {
    key.strip_prefix("hg_")
        .and_then(|rest| rest.split('_').next())
        .unwrap()
}

/// `{ viewer { role } }` sent with `key`: the HTTP status and the body.
async fn viewer(app: &TestApp, key: &str) -> (u16, Value) {
    let response = client_with_key(key)
        .post(app.url("/graphql"))
        .json(&json!({ "query": VIEWER }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn assert_accepted(app: &TestApp, key: &str, what: &str) {
    let (status, body) = viewer(app, key).await;
    assert_eq!(status, 200, "{what}: {body:#}");
    assert!(
        body["data"]["viewer"]["role"].is_string(),
        "{what}: {body:#}"
    );
}

async fn assert_refused(app: &TestApp, key: &str, what: &str) {
    let (status, body) = viewer(app, key).await;
    assert_eq!(
        (status, body["errors"][0]["extensions"]["code"].as_str()),
        (401, Some("UNAUTHENTICATED")),
        "{what}: {body:#}"
    );
}

/// A server that trusts a verified key for `seconds`.
async fn spawn(backend: Backend, seconds: u64) -> Option<TestApp> {
    TestApp::spawn_with(backend, |settings| {
        settings.auth.key_cache_seconds = seconds;
    })
    .await
}

async fn a_key_revoked_through_the_api_is_refused_on_the_very_next_request(backend: Backend) {
    // A long time-to-live: only the eviction on revocation can explain a refusal.
    let Some(app) = spawn(backend, 600).await else {
        return;
    };
    app.create_workspace("acme").await;
    for (scope, role) in [(None, "READ"), (Some("acme"), "ADMIN")] {
        let key = app.issue_key(scope, role).await;
        // Verified against the database, then answered from the cache.
        assert_accepted(&app, &key, "first use").await;
        assert_accepted(&app, &key, "cached use").await;
        let revoked = app
            .graphql_ok(REVOKE_KEY, json!({ "id": public_id(&key) }))
            .await;
        assert!(revoked["revokeApiKey"]["revokedAt"].is_string());
        assert_refused(&app, &key, "the request right after revocation").await;
        assert_refused(&app, &key, "and every one after it").await;
    }
    assert_accepted(&app, &app.key, "the revoking key is untouched").await;
}

async fn a_wrong_secret_is_refused_while_the_right_key_is_cached(backend: Backend) {
    let Some(app) = spawn(backend, 600).await else {
        return;
    };
    let key = app.issue_key(None, "ADMIN").await;
    assert_accepted(&app, &key, "the right key, now cached").await;
    let secret = key.rsplit('_').next().unwrap();
    for wrong in [
        "0".repeat(secret.len()),
        // One character off.
        format!(
            "{}{}",
            &secret[..secret.len() - 1],
            if secret.ends_with('0') { '1' } else { '0' }
        ),
    ] {
        let forged = format!("hg_{}_{wrong}", public_id(&key));
        assert_ne!(forged, key);
        assert_refused(&app, &forged, "a wrong secret for a cached public id").await;
    }
    assert_accepted(&app, &key, "the right key still works").await;
}

async fn a_key_revoked_by_another_process_works_until_the_ttl_and_never_after(backend: Backend) {
    const TTL: Duration = Duration::from_secs(2);
    let Some(app) = spawn(backend, TTL.as_secs()).await else {
        return;
    };
    let key = app.issue_key(None, "READ").await;
    // Another process on the same database, as the admin CLI is: its own store.
    let other_process = app.db.store().await;
    let tenant = other_process.agency_tenant(AGENCY).await.unwrap();

    assert_accepted(&app, &key, "first use").await;
    let verified = Instant::now();
    tenant.revoke_api_key(public_id(&key)).await.unwrap();
    other_process.close().await.unwrap();
    assert!(
        verified.elapsed() < TTL / 2,
        "the revocation took {:?}: too slow to tell the cache's doing",
        verified.elapsed()
    );
    assert_accepted(&app, &key, "revoked elsewhere, but cached").await;

    // Used all along, the key is still refused once the time-to-live has passed since
    // it was verified: use does not extend the entry.
    let deadline = verified + TTL + Duration::from_secs(3);
    let refused_at = loop {
        let (status, body) = viewer(&app, &key).await;
        match status {
            200 => {}
            401 => break Instant::now(),
            other => panic!("HTTP {other}: {body:#}"),
        }
        assert!(
            Instant::now() < deadline,
            "a key revoked elsewhere still works {:?} after it was verified (TTL {TTL:?})",
            verified.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        refused_at.duration_since(verified) < TTL + Duration::from_secs(1),
        "refused only after {:?}",
        refused_at.duration_since(verified)
    );
    assert_refused(&app, &key, "refused from then on").await;
    assert_accepted(&app, &app.key, "other keys are untouched").await;
}

async fn with_no_cache_a_key_revoked_by_another_process_is_refused_at_once(backend: Backend) {
    let Some(app) = spawn(backend, 0).await else {
        return;
    };
    let key = app.issue_key(None, "READ").await;
    assert_accepted(&app, &key, "first use").await;
    assert_accepted(&app, &key, "second use").await;
    let other_process = app.db.store().await;
    other_process
        .agency_tenant(AGENCY)
        .await
        .unwrap()
        .revoke_api_key(public_id(&key))
        .await
        .unwrap();
    other_process.close().await.unwrap();
    assert_refused(&app, &key, "key_cache_seconds = 0 checks every request").await;
}

on_both_backends!(
    a_key_revoked_through_the_api_is_refused_on_the_very_next_request,
    a_wrong_secret_is_refused_while_the_right_key_is_cached,
    a_key_revoked_by_another_process_works_until_the_ttl_and_never_after,
    with_no_cache_a_key_revoked_by_another_process_is_refused_at_once,
);
