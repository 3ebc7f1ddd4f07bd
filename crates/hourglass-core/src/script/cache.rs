//! A bounded, thread-safe cache of compiled scripts by key (such as `"scriptId@version"`).

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use super::engine::{CompiledScript, ScriptEngine};
use super::error::ScriptError;

/// Compiled scripts by key. When full, the least recently used entry makes room.
/// Only successful compilations are kept. An entry also remembers a hash of its
/// source, so a key reused for different source is compiled afresh rather than
/// answered with the old script.
pub struct ScriptCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    tick: u64,
    entries: HashMap<String, Entry>,
}

struct Entry {
    script: CompiledScript,
    source_hash: u64,
    used: u64,
}

impl fmt::Debug for ScriptCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

fn hash_source(source: &str) -> u64 {
    let mut h = DefaultHasher::new();
    source.hash(&mut h);
    h.finish()
}

impl ScriptCache {
    /// A cache holding at most `capacity` scripts (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// How many scripts are cached.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves only a cache behind: keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached script for `key`, or `source` compiled by `engine` and cached.
    /// Compilation happens outside the lock.
    pub fn get_or_compile(
        &self,
        key: &str,
        engine: &ScriptEngine,
        source: &str,
    ) -> Result<CompiledScript, ScriptError> {
        let source_hash = hash_source(source);
        {
            let mut inner = self.lock();
            inner.tick += 1;
            let tick = inner.tick;
            if let Some(entry) = inner.entries.get_mut(key)
                && entry.source_hash == source_hash
            {
                entry.used = tick;
                return Ok(entry.script.clone());
            }
        }
        let script = engine.compile(source)?;
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        if !inner.entries.contains_key(key) && inner.entries.len() >= self.capacity {
            let oldest = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                inner.entries.remove(&oldest);
            }
        }
        inner.entries.insert(
            key.to_owned(),
            Entry {
                script: script.clone(),
                source_hash,
                used: tick,
            },
        );
        Ok(script)
    }
}
