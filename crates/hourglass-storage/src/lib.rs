//! Persistence for hourglass on SQLite (embedded, the default) and PostgreSQL.
//!
//! Everything a workspace owns is reached through a [`WorkspaceStore`], which can
//! only be had from a [`Tenant`] (an agency, or one workspace of it) that can see
//! the workspace: queries are scoped by construction, not by remembering a `WHERE`
//! clause. Requests get their tenant from [`Store::authenticate`]. This crate returns its own
//! types and core types, never GraphQL types.

/// How many values one `IN (…)` list carries: well under both backends' caps on bind
/// parameters (SQLite 32,766; PostgreSQL 65,535), and short enough to plan well.
pub(crate) const LOOKUP_CHUNK: usize = 500;

mod advice;
mod answer_cache;
mod backup;
mod catalog;
mod engagement;
pub mod entities;
mod error;
mod events;
mod groups;
mod identity;
mod ingest;
mod key_cache;
mod kpis;
mod links;
pub mod meters;
mod nodelay;
mod page;
mod rare_kinds;
mod revenue;
mod rollups;
mod scripts;
mod series;
mod shared_reads;
mod store;
mod tenancy;
mod time;
mod touches;
mod track_names;
mod workspace_write;
mod workspaces;

pub use backup::{BackupError, BackupSummary};
pub use catalog::{
    AssetChanges, AssetRecord, CampaignChanges, ContactDescription, ContactRecord, NewAsset,
    NewCampaign, NewOrganization, OrganizationChanges,
};
pub use error::StorageError;
pub use events::{EventRecord, EventsFilter};
pub use groups::{GroupBy, MAX_GROUPS};
pub use ingest::IngestOutcome;
pub use kpis::KpiFilter;
pub use links::{FollowedLink, NewTrackerLink, TrackerLink};
pub use nodelay::set_tcp_nodelay_on_sockets;
pub use page::{Page, PageRequest};
pub use rollups::RebuildSummary;
pub use scripts::{KpiScriptChanges, KpiScriptContent, KpiScriptRecord};
pub use series::Period;
pub use store::{Backend, DEFAULT_ANSWER_CACHE_ENTRIES, Readiness, Store, StoreOptions};
pub use tenancy::{ApiKeyRecord, IssuedKey, Principal, Tenant};
pub use time::{from_millis, to_millis};
pub use workspaces::{WorkspaceStore, WorkspaceUpdate};

pub use entities::{
    agency::Model as Agency, asset::Model as Asset, campaign::Model as Campaign,
    contact::Model as Contact, organization::Model as Organization, spend::Model as Spend,
    workspace::Model as Workspace,
};
