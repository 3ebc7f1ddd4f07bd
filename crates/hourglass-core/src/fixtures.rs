//! Test fixtures for custom KPI scripts: hand-made organizations with the outputs
//! the agency expects, as `hourglass kpi test FILE --fixtures FIXTURES` reads them.
//!
//! ```json
//! {
//!   "assets": [{ "id": "web", "kind": "WEBINAR", "durationSeconds": 3600 }],
//!   "params": { "min_attendees": 3 },
//!   "now": "2026-04-02T00:00:00Z",
//!   "cases": [{
//!     "name": "three attendees, one stayed, one asked",
//!     "organization": { "id": "acme", "domain": "acme.com" },
//!     "contacts": [{ "id": "ann", "stage": "LEAD" }],
//!     "events": [{ "kind": "ATTENDANCE", "at": "2026-04-01T10:00:00Z", "contact": "ann", "asset": "web", "value": 3500 }],
//!     "expect": { "value": 13, "label": "hot" }
//!   }]
//! }
//! ```
//! `expect` holds `value` (compared within `tolerance`, default 1e-9) and optionally
//! `label`, or `error` with a code such as `SCRIPT_RUNTIME_ERROR`.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::engagement::{AssetInfo, ContactInfo, EngagementEvent, OrgInfo, OrgRecords};
use crate::kinds::{AssetKind, EventKind};

/// A fixtures file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fixtures {
    #[serde(default)]
    pub assets: Vec<FixtureAsset>,
    /// Parameter values for every case (merged over the script's declared defaults).
    #[serde(default)]
    pub params: Map<String, Value>,
    /// What scripts see as `now` (the filter's end).
    pub now: DateTime<Utc>,
    pub cases: Vec<FixtureCase>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixtureAsset {
    pub id: String,
    pub kind: Option<AssetKind>,
    pub title: Option<String>,
    pub duration_seconds: Option<i32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixtureOrganization {
    pub id: String,
    pub name: Option<String>,
    pub domain: Option<String>,
    pub stage: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixtureContact {
    pub id: String,
    #[serde(default = "visitor")]
    pub stage: String,
    pub email: Option<String>,
}

fn visitor() -> String {
    "VISITOR".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixtureEvent {
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    pub contact: Option<String>,
    pub asset: Option<String>,
    pub campaign: Option<String>,
    pub channel: Option<String>,
    pub value: Option<f64>,
    #[serde(default)]
    pub properties: Map<String, Value>,
}

/// What a case expects.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expectation {
    pub value: Option<f64>,
    pub label: Option<String>,
    /// An error code instead of a value.
    pub error: Option<String>,
    pub tolerance: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixtureCase {
    pub name: String,
    pub organization: FixtureOrganization,
    #[serde(default)]
    pub contacts: Vec<FixtureContact>,
    #[serde(default)]
    pub events: Vec<FixtureEvent>,
    pub expect: Expectation,
}

impl Fixtures {
    pub fn asset_infos(&self) -> Vec<AssetInfo> {
        self.assets
            .iter()
            .map(|a| AssetInfo {
                id: a.id.clone(),
                kind: a.kind,
                title: a.title.clone(),
                duration_seconds: a.duration_seconds,
            })
            .collect()
    }
}

impl FixtureCase {
    /// The case as the records a script runs on; events are sorted oldest first.
    pub fn records(&self) -> OrgRecords {
        let mut events: Vec<EngagementEvent> = self
            .events
            .iter()
            .map(|e| EngagementEvent {
                kind: e.kind,
                at: e.at,
                contact: e.contact.clone(),
                asset: e.asset.clone(),
                campaign: e.campaign.clone(),
                channel: e.channel.clone(),
                value: e.value,
                properties: e.properties.clone(),
            })
            .collect();
        events.sort_by_key(|e| e.at);
        OrgRecords {
            organization: OrgInfo {
                id: self.organization.id.clone(),
                name: self.organization.name.clone(),
                domain: self.organization.domain.clone(),
                stage: self.organization.stage.clone(),
                contact_count: self.contacts.len() as u64,
            },
            events,
            facts: Vec::new(),
            contacts: self
                .contacts
                .iter()
                .map(|c| ContactInfo {
                    id: c.id.clone(),
                    stage: c.stage.clone(),
                    email: c.email.clone(),
                })
                .collect(),
        }
    }
}

impl Expectation {
    /// Compares an outcome (a value and label, or an error code) with what is expected;
    /// `Err` says what differed.
    pub fn check(&self, outcome: Result<(f64, Option<&str>), &str>) -> Result<(), String> {
        match (&self.error, outcome) {
            (Some(code), Err(got)) if code == got => Ok(()),
            (Some(code), Err(got)) => Err(format!("expected error {code}, got error {got}")),
            (Some(code), Ok((value, _))) => {
                Err(format!("expected error {code}, got value {value}"))
            }
            (None, Err(got)) => Err(format!("expected a value, got error {got}")),
            (None, Ok((value, label))) => {
                let tolerance = self.tolerance.unwrap_or(1e-9);
                if let Some(expected) = self.value
                    && (value - expected).abs() > tolerance
                {
                    return Err(format!("expected value {expected}, got {value}"));
                }
                if let Some(expected) = &self.label
                    && label != Some(expected.as_str())
                {
                    return Err(format!("expected label {expected:?}, got {label:?}"));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixtures_file_reads_into_records() {
        let fixtures: Fixtures = serde_json::from_str(
            r#"{ "assets": [{"id": "web", "kind": "WEBINAR", "durationSeconds": 3600}],
                 "now": "2026-04-02T00:00:00Z",
                 "cases": [{ "name": "one", "organization": {"id": "acme"},
                   "contacts": [{"id": "ann"}],
                   "events": [
                     {"kind": "QUESTION", "at": "2026-04-01T11:00:00Z", "contact": "ann"},
                     {"kind": "ATTENDANCE", "at": "2026-04-01T10:00:00Z", "contact": "ann", "asset": "web", "value": 3500}
                   ],
                   "expect": {"value": 5} }] }"#,
        )
        .unwrap();
        let records = fixtures.cases[0].records();
        assert_eq!(
            records.events[0].kind,
            EventKind::Attendance,
            "sorted by time"
        );
        assert_eq!(records.contacts[0].stage, "VISITOR");
        assert_eq!(fixtures.asset_infos()[0].duration_seconds, Some(3600));
    }

    #[test]
    fn expectations_compare_values_labels_and_errors() {
        let value = Expectation {
            value: Some(5.0),
            label: Some("hot".into()),
            error: None,
            tolerance: None,
        };
        assert!(value.check(Ok((5.0, Some("hot")))).is_ok());
        assert!(value.check(Ok((5.1, Some("hot")))).is_err());
        assert!(value.check(Ok((5.0, None))).is_err());
        assert!(value.check(Err("SCRIPT_RUNTIME_ERROR")).is_err());
        let error = Expectation {
            value: None,
            label: None,
            error: Some("SCRIPT_LIMIT_EXCEEDED".into()),
            tolerance: None,
        };
        assert!(error.check(Err("SCRIPT_LIMIT_EXCEEDED")).is_ok());
        assert!(error.check(Ok((1.0, None))).is_err());
    }
}
