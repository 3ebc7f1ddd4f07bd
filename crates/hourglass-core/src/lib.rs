//! Hourglass domain: the vocabulary of B2B engagement analytics, event validation,
//! KPI definitions and the statistics every rate carries.
//!
//! This crate does no I/O and knows nothing of databases, HTTP or GraphQL; the
//! storage and server crates translate to and from these types. A test in
//! `hourglass-tests` holds that boundary.

pub mod access;
pub mod advocacy;
pub mod attribution;
pub mod catalog;
pub mod definition;
pub mod depth;
pub mod engagement;
pub mod event;
pub mod filter;
pub mod fixtures;
pub mod identity;
pub mod ids;
pub mod kinds;
pub mod kpi;
pub mod link;
pub mod money;
pub mod script;
pub mod segment;
pub mod sequential;
pub mod series;
pub mod spend_advice;
pub mod stages;
pub mod stats;

pub use access::{ApiKeySecret, Permission, Role};
pub use catalog::FieldError;
pub use event::{EventDraft, EventLimits, NewEvent, Rejection, RejectionCode};
pub use filter::{FilterError, TimeRange};
pub use ids::{ExternalId, IdError, Slug};
pub use kinds::{AssetKind, EventKind, Goal, ParseKindError, Stage};
pub use kpi::{FunnelCounts, FunnelStep, Half, KpiDefinition, TopCounts, TopReport, Unit};
pub use script::{ScriptEngine, ScriptError, ScriptErrorKind, ScriptLimits};
pub use stats::{Rate, wilson_interval};
