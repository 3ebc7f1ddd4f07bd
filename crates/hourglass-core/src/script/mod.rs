//! The sandbox for custom KPI scripts (Rhai).
//!
//! One [`ScriptEngine`] is built from [`ScriptLimits`] and serves every query and
//! thread. [`ScriptEngine::compile`] checks a script against the names it may use;
//! [`ScriptEngine::run`] runs it for one organization and
//! [`ScriptEngine::run_all`] for many in parallel. A bad script never hurts the
//! server: operations, expression depth, call depth, string/array/map sizes and wall
//! time are bounded; there are no modules, no `eval`, no clock, no file or network
//! access; `print`/`debug` go to [`ScriptOutput::logs`], never to stdout.
//!
//! # What a script sees
//!
//! | name | what |
//! | --- | --- |
//! | `org` | map `#{ id, name, domain, stage, contact_count }` (missing values are `()`) |
//! | `events` | the organization's events, oldest first; each is a map `#{ kind, at, contact, asset, campaign, channel, value, properties }`: `kind` a string such as `"ATTENDANCE"`, `at` milliseconds since 1970, `contact`/`asset`/`campaign`/`channel` strings or `()`, `value` a float or `()`, `properties` a map |
//! | `facts` | the organization's engagement tallied per kind, contact, asset and (for a share) recipient, oldest first: maps `#{ kind, contact, asset, recipient, events, value, first_at }` — `events` how many, `value` the sum of their values (attended seconds), `first_at` when the first happened |
//! | `contacts` | the organization's contacts: maps `#{ id, stage, email }` |
//! | `assets` | the workspace's assets by id: `assets[id]` is `#{ id, kind, title, duration }` (duration in seconds or `()`), `()` for an unknown id |
//! | `params` | map of the caller's parameter values |
//! | `now` | the filter's end, milliseconds since 1970 (scripts never see the real clock) |
//! | `from`, `to` | the filter's range in milliseconds, or `()` |
//! | `filter` | map `#{ campaign, asset }` (ids or `()`) |
//!
//! A script that never names `events` is fed `facts` from the aggregate layer, without
//! loading a raw event: the fast way for KPIs that count, sum or ask who did what.
//! `events` is there for what only single events know (instants, properties,
//! campaign and channel per event).
//!
//! These are read-only. `events`, `facts` and `contacts` are lists, not arrays: they work with
//! `len()`, `is_empty()`, `list[i]` (negative counts from the end), `get(i)`,
//! `first()`, `last()`, `for e in events`, `filter(|e| ...)` (gives a list),
//! `map(|e| ...)` (an array), `find(|e| ...)` (the first match or `()`),
//! `count(|e| ...)`, `some(|e| ...)`, `all(|e| ...)`,
//! `reduce(|acc, e| ..., initial)` and `to_array()` (an array of maps, subject to the
//! array size limit). `assets` works with `assets[id]`, `get(id)`, `id in assets`,
//! `len()`, `keys()` and `values()`.
//!
//! A script returns a number, or `#{ value: number, label: "text", breakdown: #{ name:
//! number } }` (label and breakdown optional). Anything else is an error.
//!
//! # Helpers
//!
//! `list` is `events`, `facts`, `contacts`, a list a helper returned, or an array of
//! maps; `KIND` is an event kind such as `"ATTENDANCE"`. Where a helper takes `events`
//! (all but `since`), it takes `facts` too and answers the same: a fact counts as the
//! events it tallies.
//!
//! | helper | returns |
//! | --- | --- |
//! | `count(events, KIND)` | how many events are of that kind |
//! | `count(list, \|x\| condition)` | how many items meet the condition |
//! | `count_by_kind(events)` | map kind -> count (kinds present only) |
//! | `of_kind(events, KIND)` | the events of that kind |
//! | `of_asset(events, asset_id)` | the events on that asset |
//! | `since(events, ms)` | the events at or after `ms` |
//! | `distinct(list, field)` | how many different non-`()` values `field` takes |
//! | `distinct_values(list, field)` | those values, first seen first |
//! | `sum(list, field)` | the sum of the field's numbers as a float (`()` skipped) |
//! | `mean(list, field)` | their mean, or `()` when there is none |
//! | `group_by(list, field)` | map value -> the items with that value (items whose field is `()` left out) |
//! | `contacts_with(events, KIND)` | the distinct contact ids with an event of that kind |
//! | `attended_seconds(events)` | map contact -> summed `ATTENDANCE` seconds (every attendee; 0 when none were sent) |
//! | `attended_seconds(events, asset_id)` | the same for one asset |
//! | `full_stay(events, assets, threshold)` | the distinct contacts whose summed attended seconds on some asset with a duration reach `threshold` × its duration (`0.9` = 90 %) |
//! | `internal_shares(events, org, contacts)` | how many `SHARE` events went to a colleague: `properties.recipient` is a contact's id or e-mail, or an address at `org.domain` (or a subdomain); a share to the sharer never counts |
//! | `days_between(ms_a, ms_b)` | days from `ms_a` to `ms_b`, as a float |
//! | `days(n)` | `n` days in milliseconds, for `now - days(30)` |
//!
//! `field` on events is one of `kind, at, contact, asset, campaign, channel, value,
//! properties` or `properties.NAME`; on facts `kind, contact, asset, recipient, events,
//! value, first_at`; on contacts `id, stage, email`; on arrays any map key. A field a list does not have, or a kind that does not exist, is an error
//! that names the valid ones.

mod aggregate;
mod cache;
mod convert;
mod engine;
mod error;
mod fields;
mod library;
mod limits;
mod lists;
mod output;
mod records;
mod sandbox;

pub use aggregate::{Aggregate, aggregate};
pub use cache::ScriptCache;
pub use convert::SharedInput;
pub use engine::{CompiledScript, ScriptEngine};
pub use error::{ScriptError, ScriptErrorKind};
pub use limits::{QueryDeadline, ScriptLimits};
pub use output::ScriptOutput;

#[cfg(test)]
mod tests;
