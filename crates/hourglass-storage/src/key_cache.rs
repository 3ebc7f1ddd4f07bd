//! Verified API keys, remembered for a few seconds so that a busy key is not looked up
//! (key, agency, workspace) on every request.
//!
//! An entry is what a successful check found: the stored hash of the key's secret and
//! the pieces of its [`Principal`](crate::Principal). It is used only when the presented
//! secret matches that hash (in constant time, as against the database), and only until
//! `ttl` after it was verified: using it does not extend it. Revoking a key through the
//! [`Store`](crate::Store) that holds the cache evicts it at once; a key revoked
//! elsewhere (another process on the same database) is refused at the latest `ttl`
//! after it was last verified here.
//!
//! A plain `Mutex<HashMap>`: the lock is held for a lookup and a hash comparison, never
//! across an await, and only verified keys are ever stored, so the map holds at most
//! the keys in use within the last `ttl`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hourglass_core::ApiKeySecret;

use crate::entities::{agency, workspace};
use crate::tenancy::{ApiKeyRecord, last_used_is_stale};

/// What a successful check of a key found, as the cache keeps it.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedKey {
    /// SHA-256 of the secret, hex, as stored: every use is compared with it.
    pub secret_hash: String,
    /// The key's row id, for writing its last-used time.
    pub row_id: i64,
    pub agency: agency::Model,
    pub only: Option<workspace::Model>,
    pub record: ApiKeyRecord,
}

/// What the cache says about a presented key.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// Not cached, or cached too long ago: ask the database.
    Miss,
    /// Cached, and the presented secret is not this key's.
    WrongSecret,
    /// Cached and matching. `touch`: this use is the one that writes the key's
    /// last-used time (it was stale, and no other use has claimed the write).
    Hit { key: Box<VerifiedKey>, touch: bool },
}

/// Taken before a key is read from the database and given back with the result: a
/// result read before an eviction is not cached after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Generation(u64);

pub(crate) struct KeyCache {
    ttl: Duration,
    inner: Mutex<Inner>,
}

struct Inner {
    entries: HashMap<String, Entry>,
    /// Bumped by every eviction.
    generation: u64,
    /// Expired entries are swept when the map reaches this size (then it doubles), so
    /// sweeping costs O(1) per insert however many keys are in use.
    sweep_at: usize,
}

struct Entry {
    key: VerifiedKey,
    verified_at: Instant,
}

const FIRST_SWEEP: usize = 64;

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the entries: they carry secret hashes.
        f.debug_struct("KeyCache")
            .field("ttl", &self.ttl)
            .field("len", &self.lock().entries.len())
            .finish()
    }
}

impl KeyCache {
    /// A cache that trusts a verified key for `ttl`; `Duration::ZERO` keeps nothing.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                generation: 0,
                sweep_at: FIRST_SWEEP,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves only a cache behind; and a revocation
        // must still be able to evict, so keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Looks `secret`'s public id up at `now` (`now_ms`: the same moment as stored
    /// times). An expired entry is dropped and is a miss.
    pub fn lookup(&self, secret: &ApiKeySecret, now: Instant, now_ms: i64) -> Lookup {
        if self.ttl.is_zero() {
            return Lookup::Miss;
        }
        let mut inner = self.lock();
        let public_id = secret.public_id();
        let Some(entry) = inner.entries.get_mut(public_id) else {
            return Lookup::Miss;
        };
        if now.saturating_duration_since(entry.verified_at) >= self.ttl {
            inner.entries.remove(public_id);
            return Lookup::Miss;
        }
        if !secret.matches(&entry.key.secret_hash) {
            return Lookup::WrongSecret;
        }
        let touch = last_used_is_stale(entry.key.record.last_used_at, now_ms);
        if touch {
            // Claimed here, under the lock: concurrent uses do not write it again.
            entry.key.record.last_used_at = Some(now_ms);
        }
        Lookup::Hit {
            key: Box::new(entry.key.clone()),
            touch,
        }
    }

    /// To take before reading a key from the database, for [`insert`](Self::insert).
    pub fn generation(&self) -> Generation {
        Generation(self.lock().generation)
    }

    /// Remembers a key verified at `now` from a read that began at `seen`, unless a
    /// key was evicted since (the read may predate a revocation).
    pub fn insert(&self, public_id: &str, key: VerifiedKey, seen: Generation, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != seen.0 {
            return;
        }
        if inner.entries.len() >= inner.sweep_at {
            let ttl = self.ttl;
            inner
                .entries
                .retain(|_, e| now.saturating_duration_since(e.verified_at) < ttl);
            inner.sweep_at = (inner.entries.len() * 2).max(FIRST_SWEEP);
        }
        inner.entries.insert(
            public_id.to_owned(),
            Entry {
                key,
                verified_at: now,
            },
        );
    }

    /// Forgets a key (it was revoked): its next use goes to the database.
    pub fn evict(&self, public_id: &str) {
        let mut inner = self.lock();
        inner.entries.remove(public_id);
        inner.generation += 1;
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use hourglass_core::Role;
    use hourglass_core::access::KEY_RANDOM_BYTES;

    use super::*;

    const TTL: Duration = Duration::from_secs(5);
    const MINUTE_MS: i64 = 60_000;

    fn secret(seed: u8) -> ApiKeySecret {
        ApiKeySecret::from_random([seed; KEY_RANDOM_BYTES])
    }

    fn verified(secret: &ApiKeySecret, last_used_at: Option<i64>) -> VerifiedKey {
        VerifiedKey {
            secret_hash: secret.secret_hash(),
            row_id: 1,
            agency: agency::Model {
                id: 1,
                slug: "agency".into(),
                name: "Agency".into(),
                created_at: 0,
            },
            only: None,
            record: ApiKeyRecord {
                public_id: secret.public_id().to_owned(),
                name: "test".into(),
                role: Role::Read,
                workspace: None,
                created_at: 0,
                last_used_at,
                revoked_at: None,
            },
        }
    }

    fn is_hit(lookup: &Lookup) -> bool {
        matches!(lookup, Lookup::Hit { .. })
    }

    /// A moment to count from; times in the tests are offsets from it.
    fn start() -> Instant {
        Instant::now()
    }

    #[test]
    fn an_entry_serves_until_its_ttl_and_use_does_not_extend_it() {
        let cache = KeyCache::new(TTL);
        let (key, t0) = (secret(1), start());
        let now_ms = 10 * MINUTE_MS;
        let seen = cache.generation();
        cache.insert(key.public_id(), verified(&key, Some(now_ms)), seen, t0);
        for offset in [
            Duration::ZERO,
            Duration::from_secs(2),
            TTL - Duration::from_millis(1),
        ] {
            assert!(
                is_hit(&cache.lookup(&key, t0 + offset, now_ms)),
                "at {offset:?} the entry is fresh"
            );
        }
        // Used just before expiry, yet expired at exactly `ttl` after verification.
        assert!(matches!(cache.lookup(&key, t0 + TTL, now_ms), Lookup::Miss));
        assert_eq!(cache.len(), 0, "an expired entry is dropped when met");
        assert!(matches!(
            cache.lookup(&key, t0 + Duration::from_secs(1), now_ms),
            Lookup::Miss
        ));
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache = KeyCache::new(Duration::ZERO);
        let (key, t0) = (secret(1), start());
        let seen = cache.generation();
        cache.insert(key.public_id(), verified(&key, None), seen, t0);
        assert_eq!(cache.len(), 0);
        assert!(matches!(cache.lookup(&key, t0, 0), Lookup::Miss));
    }

    #[test]
    fn a_wrong_secret_for_a_cached_public_id_is_refused() {
        let cache = KeyCache::new(TTL);
        let (key, t0) = (secret(1), start());
        let seen = cache.generation();
        cache.insert(key.public_id(), verified(&key, Some(0)), seen, t0);
        let forged =
            ApiKeySecret::parse(&format!("hg_{}_{}", key.public_id(), "0".repeat(64))).unwrap();
        assert_ne!(forged, key);
        assert!(matches!(cache.lookup(&forged, t0, 0), Lookup::WrongSecret));
        assert!(
            is_hit(&cache.lookup(&key, t0, 0)),
            "the right key still works"
        );
    }

    #[test]
    fn eviction_forgets_a_key_and_refuses_a_read_that_began_before_it() {
        let cache = KeyCache::new(TTL);
        let (key, other, t0) = (secret(1), secret(2), start());
        let seen = cache.generation();
        cache.insert(key.public_id(), verified(&key, None), seen, t0);
        cache.insert(other.public_id(), verified(&other, None), seen, t0);

        let before_revocation = cache.generation();
        cache.evict(key.public_id());
        assert!(matches!(cache.lookup(&key, t0, 0), Lookup::Miss));
        assert!(is_hit(&cache.lookup(&other, t0, 0)), "other keys stay");

        // A read that saw the key live before the revocation must not bring it back.
        cache.insert(key.public_id(), verified(&key, None), before_revocation, t0);
        assert!(matches!(cache.lookup(&key, t0, 0), Lookup::Miss));
        // A read that began after it is cached as usual.
        let after = cache.generation();
        cache.insert(key.public_id(), verified(&key, None), after, t0);
        assert!(is_hit(&cache.lookup(&key, t0, 0)));
    }

    #[test]
    fn one_use_a_minute_is_told_to_write_last_used() {
        let cache = KeyCache::new(Duration::from_secs(600));
        let (key, t0) = (secret(1), start());
        let used = 100 * MINUTE_MS;
        let seen = cache.generation();
        cache.insert(key.public_id(), verified(&key, Some(used)), seen, t0);
        let touches = |now_ms: i64| match cache.lookup(&key, t0, now_ms) {
            Lookup::Hit { touch, key } => {
                if touch {
                    assert_eq!(key.record.last_used_at, Some(now_ms));
                }
                touch
            }
            other => panic!("expected a hit, got {other:?}"),
        };
        assert!(!touches(used + 1_000));
        assert!(!touches(used + MINUTE_MS - 1));
        assert!(touches(used + MINUTE_MS), "a minute on: this use writes");
        assert!(!touches(used + MINUTE_MS + 1), "and only that one");
        assert!(touches(used + 2 * MINUTE_MS));
    }

    #[test]
    fn expired_entries_are_swept_as_the_map_grows() {
        let cache = KeyCache::new(TTL);
        let t0 = start();
        let seen = cache.generation();
        let seeds: Vec<u8> = (0..=u8::try_from(FIRST_SWEEP).unwrap()).collect();
        for &seed in &seeds[..FIRST_SWEEP] {
            let key = secret(seed);
            cache.insert(key.public_id(), verified(&key, None), seen, t0);
        }
        assert_eq!(cache.len(), FIRST_SWEEP);
        let late = secret(seeds[FIRST_SWEEP]);
        cache.insert(late.public_id(), verified(&late, None), seen, t0 + TTL);
        assert_eq!(cache.len(), 1, "only the fresh entry is left");
    }
}
