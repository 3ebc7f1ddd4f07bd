//! `GET /l/{code}`: a public tracker link. No key — the link is its own permission,
//! to record a click in its own workspace — so every client address gets its own
//! rate limit (`rate_limit.link_clicks_per_minute`). A person's click is stored as
//! a CLICK event (through the one ingest path, committed before the answer) and
//! counted on the link; then the visitor is sent to the link's destination with its
//! UTM parameters. HEAD requests and link-preview robots are redirected without
//! being counted. An unknown or archived code is a plain 404 page.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, cookie};
use chrono::Utc;
use hourglass_core::EventDraft;
use hourglass_core::link::{is_code, is_preview_robot};
use hourglass_storage::FollowedLink;
use rand::Rng as _;

use crate::error::ApiError;
use crate::graphql::AppState;
use crate::ingest;

/// The first-party cookie that keeps one anonymous visitor id per browser.
const VISITOR_COOKIE: &str = "hg_visitor";
/// A year: the visitor stays the same person across a campaign.
const VISITOR_DAYS: i64 = 365;

const NOT_FOUND_PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Link not found</title></head>\
<body><h1>Link not found</h1><p>This link does not exist or is no longer in use.</p></body></html>";

/// Answers a request for `/l/{code}`.
pub async fn follow(req: &HttpRequest, code: &str, state: &AppState) -> HttpResponse {
    let address = req.peer_addr().map(|a| a.ip());
    if let Err(ApiError::RateLimited { retry_after_secs }) = state.rate_limits.admit_click(address)
    {
        return HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, retry_after_secs.to_string()))
            .content_type("text/plain; charset=utf-8")
            .body("Too many clicks from this address; try again shortly.");
    }
    if !is_code(code) {
        return not_found();
    }
    let followed = match state.store.follow_link(code).await {
        Ok(Some(followed)) => followed,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::error!(error = %e, "following a tracker link");
            return unavailable();
        }
    };
    let location = match followed.link.redirect_to() {
        Ok(location) => location,
        Err(e) => {
            tracing::error!(error = %e, code, "a stored tracker link cannot redirect");
            return unavailable();
        }
    };
    let known = req
        .cookie(VISITOR_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| is_visitor_id(v));
    let visitor = known.clone().unwrap_or_else(fresh_visitor_id);
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    if req.method() == Method::GET && !is_preview_robot(user_agent) {
        record_click(state, &followed, code, &visitor).await;
    }
    let mut response = HttpResponse::build(StatusCode::FOUND);
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer-when-downgrade"));
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            response.insert_header((header::LOCATION, value));
        }
        Err(_) => return unavailable(),
    }
    if known.is_none() {
        response.cookie(
            cookie::Cookie::build(VISITOR_COOKIE, visitor)
                .path("/l/")
                .http_only(true)
                .same_site(cookie::SameSite::Lax)
                .max_age(cookie::time::Duration::days(VISITOR_DAYS))
                .finish(),
        );
    }
    response.finish()
}

/// Stores the click and counts it on the link. A failure is logged, never shown:
/// the visitor still gets where the link goes.
async fn record_click(state: &AppState, followed: &FollowedLink, code: &str, visitor: &str) {
    let link = &followed.link;
    let draft = EventDraft {
        message_id: Some(format!("link-{code}-{}", fresh_visitor_id())),
        kind: Some("CLICK".into()),
        occurred_at: Some(Utc::now().to_rfc3339()),
        contact_id: link.contact.clone(),
        anonymous_id: Some(visitor.to_owned()),
        campaign_id: link.campaign.clone(),
        asset_id: link.asset.clone(),
        channel: link.channel.clone(),
        properties: Some(serde_json::json!({ "link": code })),
        ..EventDraft::default()
    };
    match ingest::ingest(state, &followed.workspace, vec![(0, Ok(draft))]).await {
        Ok(report) if report.accepted == 1 => {
            if let Err(e) = followed.count_click().await {
                tracing::warn!(error = %e, code, "a click was stored but not counted on its link");
            }
        }
        Ok(report) => tracing::warn!(code, ?report.rejected, "a click was not stored"),
        Err(e) => tracing::warn!(error = %e, code, "a click was not stored"),
    }
}

/// 128 random bits in hex.
fn fresh_visitor_id() -> String {
    format!("{:032x}", rand::rng().random::<u128>())
}

fn is_visitor_id(value: &str) -> bool {
    value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(NOT_FOUND_PAGE)
}

fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .content_type("text/plain; charset=utf-8")
        .body("This link cannot be followed right now; try again shortly.")
}
