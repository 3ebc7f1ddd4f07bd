//! One organization's engagement records: what the bottom-of-hourglass KPIs and
//! custom KPI scripts are computed from. Storage fills these; nothing here reads a
//! database.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::kinds::{AssetKind, EventKind};

/// An organization as KPIs see it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgInfo {
    /// The client's external id.
    pub id: String,
    pub name: Option<String>,
    pub domain: Option<String>,
    /// The most advanced lifecycle stage among its contacts, by the workspace's order.
    pub stage: Option<String>,
    /// How many contacts belong to it (all of them, not only those with events).
    pub contact_count: u64,
}

/// A contact of the organization.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactInfo {
    pub id: String,
    pub stage: String,
    pub email: Option<String>,
}

/// An asset of the workspace, with what full-stay KPIs need.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetInfo {
    pub id: String,
    pub kind: Option<AssetKind>,
    pub title: Option<String>,
    pub duration_seconds: Option<i32>,
}

/// One event of the organization, with external ids.
#[derive(Debug, Clone, PartialEq)]
pub struct EngagementEvent {
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    pub contact: Option<String>,
    pub asset: Option<String>,
    pub campaign: Option<String>,
    pub channel: Option<String>,
    pub value: Option<f64>,
    pub properties: Map<String, Value>,
}

/// Everything about one organization within a filter.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgRecords {
    pub organization: OrgInfo,
    /// Its events within the filter, oldest first.
    pub events: Vec<EngagementEvent>,
    /// All its contacts.
    pub contacts: Vec<ContactInfo>,
}
