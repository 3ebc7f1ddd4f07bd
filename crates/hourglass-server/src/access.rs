//! Who is calling and what they may do: the API key of a request becomes a
//! [`Caller`], and every workspace a request touches is reached through it with the
//! permission the action needs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use actix_web::http::header;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hourglass_core::Permission;
use hourglass_storage::{Principal, Store, Tenant, WorkspaceStore};

use crate::error::{ApiError, ApiResult};
use crate::observability::meters::{self, Refusal};
use crate::settings::RateLimitSettings;

/// An authenticated request's key: its tenant and role.
#[derive(Debug, Clone)]
pub struct Caller(Principal);

impl Caller {
    pub fn principal(&self) -> &Principal {
        &self.0
    }

    /// A workspace the key can see, checked for `needs`. A workspace outside the key's
    /// scope is `NOT_FOUND` whatever the role, exactly like one that does not exist;
    /// only then does a role that falls short get `FORBIDDEN`.
    pub async fn workspace(&self, slug: &str, needs: Permission) -> ApiResult<WorkspaceStore> {
        let workspace = self.0.tenant.workspace(slug).await?;
        self.require(needs)?;
        Ok(workspace)
    }

    /// The key's tenant, for actions on the agency itself (workspaces, keys).
    pub fn tenant(&self, needs: Permission) -> ApiResult<&Tenant> {
        self.require(needs)?;
        Ok(&self.0.tenant)
    }

    pub fn require(&self, needs: Permission) -> ApiResult<()> {
        if self.0.role.allows(needs) {
            return Ok(());
        }
        let action = match needs {
            Permission::Read => "reading",
            Permission::Ingest => "sending events",
            Permission::WriteScripts => "writing KPI scripts",
            Permission::Administer => "administering workspaces, the catalog and keys",
        };
        Err(ApiError::Forbidden(format!(
            "a {} key does not allow {action}",
            self.0.role
        )))
    }
}

/// The key a request presents: `Authorization: Bearer <key>`.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    bearer(value)
}

/// The key in an `Authorization` value (the scheme is case-insensitive).
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The key of a Segment-style request: the write key, sent the way Segment's
/// libraries send it (HTTP Basic, the key as user name and no password), or Bearer.
pub fn write_key(req: &HttpRequest) -> Option<String> {
    use base64::Engine as _;
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(key) = bearer(value) {
        return Some(key.to_owned());
    }
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    // `key:` — a key never holds a colon, so whatever follows the first one is the
    // (ignored) password.
    let key = decoded.split(':').next().unwrap_or_default();
    (!key.is_empty()).then(|| key.to_owned())
}

/// Turns a presented key into a caller, or `UNAUTHENTICATED`. Every way a key can
/// be wrong gets the same answer. HTTP and WebSocket both come through here, so both
/// get the store's cache of recently verified keys (`auth.key_cache_seconds`).
pub async fn authenticate(store: &Store, token: Option<&str>) -> ApiResult<Caller> {
    let Some(token) = token else {
        return Err(ApiError::Unauthenticated(
            "send an API key: Authorization: Bearer <key>".into(),
        ));
    };
    match store.authenticate(token).await? {
        Some(principal) => Ok(Caller(principal)),
        None => Err(ApiError::Unauthenticated(
            "the API key is not valid (unknown, malformed or revoked)".into(),
        )),
    }
}

/// Requests per key per second, with bursts: GCRA through `governor`, one cell per
/// key id. Unlimited when the configured rate is 0. Beside it, failed
/// authentications per client address: an address that presents wrong keys more
/// than `failed_auth_per_minute` times is refused with 429 before any key it sends is
/// looked at, until the limiter lets it try again.
#[derive(Clone)]
pub struct RateLimits {
    per_key: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    failed_auth: Option<Arc<FailedAuthentications>>,
    /// Tracker link clicks per address (they carry no key).
    clicks: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
}

/// Failures per address (GCRA), and the addresses refused until an instant.
struct FailedAuthentications {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    refused_until: Mutex<HashMap<IpAddr, Instant>>,
}

/// Refused addresses kept before expired ones are swept out.
const SWEEP_ABOVE: usize = 1024;

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("per_key", &self.per_key.as_ref().map(|_| "on"))
            .field("failed_auth", &self.failed_auth.as_ref().map(|_| "on"))
            .field("clicks", &self.clicks.as_ref().map(|_| "on"))
            .finish()
    }
}

impl RateLimits {
    pub fn new(settings: &RateLimitSettings) -> Self {
        let per_key = NonZeroU32::new(settings.requests_per_second).map(|rate| {
            let burst = NonZeroU32::new(settings.burst).unwrap_or(rate);
            Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            ))
        });
        let failed_auth = NonZeroU32::new(settings.failed_auth_per_minute).map(|failures| {
            Arc::new(FailedAuthentications {
                limiter: RateLimiter::keyed(Quota::per_minute(failures)),
                refused_until: Mutex::new(HashMap::new()),
            })
        });
        let clicks = NonZeroU32::new(settings.link_clicks_per_minute)
            .map(|clicks| Arc::new(RateLimiter::keyed(Quota::per_minute(clicks))));
        Self {
            per_key,
            failed_auth,
            clicks,
        }
    }

    /// Counts one tracker link click from `address`, or says how long it must wait;
    /// an address the transport does not know is never refused.
    pub fn admit_click(&self, address: Option<IpAddr>) -> ApiResult<()> {
        let (Some(limiter), Some(address)) = (&self.clicks, address) else {
            return Ok(());
        };
        if limiter.len() > SWEEP_ABOVE {
            limiter.retain_recent();
        }
        limiter.check_key(&address).map_err(|not_until| {
            meters::refused(Refusal::Rate);
            ApiError::RateLimited {
                retry_after_secs: whole_seconds(
                    not_until.wait_time_from(DefaultClock::default().now()),
                ),
            }
        })
    }

    /// Counts one request for `caller`, or says how long it must wait.
    pub fn check(&self, caller: &Caller) -> ApiResult<()> {
        let Some(limiter) = &self.per_key else {
            return Ok(());
        };
        limiter
            .check_key(&caller.principal().key.public_id)
            .map_err(|not_until| {
                meters::refused(Refusal::Rate);
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                ApiError::RateLimited {
                    retry_after_secs: whole_seconds(wait),
                }
            })
    }

    /// Refuses an address that failed to authenticate too often, before its key is
    /// looked at; `None` (an address the transport does not know) is never refused.
    pub fn admit_address(&self, address: Option<IpAddr>) -> ApiResult<()> {
        let (Some(failed), Some(address)) = (&self.failed_auth, address) else {
            return Ok(());
        };
        let now = Instant::now();
        let mut refused = failed
            .refused_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match refused.get(&address) {
            Some(until) if *until > now => {
                meters::refused(Refusal::Rate);
                Err(ApiError::RateLimited {
                    retry_after_secs: whole_seconds(*until - now),
                })
            }
            Some(_) => {
                refused.remove(&address);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts a failed authentication from `address`: `error` as it is, or, when the
    /// address has now failed too often, RATE_LIMITED until it may try again.
    pub fn failed(&self, address: Option<IpAddr>, error: ApiError) -> ApiError {
        let (Some(failed), Some(address)) = (&self.failed_auth, address) else {
            return error;
        };
        let Err(not_until) = failed.limiter.check_key(&address) else {
            return error;
        };
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let mut refused = failed
            .refused_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if refused.len() > SWEEP_ABOVE {
            refused.retain(|_, until| *until > now);
            failed.limiter.retain_recent();
        }
        refused.insert(address, now + wait);
        ApiError::RateLimited {
            retry_after_secs: whole_seconds(wait),
        }
    }
}

/// `Retry-After` takes whole seconds; round up so that a client waiting exactly that
/// long is let in.
fn whole_seconds(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_reads_the_key_and_nothing_else() {
        assert_eq!(bearer("Bearer hg_x"), Some("hg_x"));
        assert_eq!(bearer("bearer   hg_x "), Some("hg_x"));
        assert_eq!(bearer("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("hg_x"), None);
    }

    #[test]
    fn retry_after_rounds_up_to_a_whole_second() {
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1000)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1001)), 2);
        assert_eq!(whole_seconds(Duration::ZERO), 1);
    }
}
