//! One organization's engagement records: what the bottom-of-hourglass KPIs and
//! custom KPI scripts are computed from. Storage fills these; nothing here reads a
//! database.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::kinds::{AssetKind, EventKind};

/// An organization as KPIs see it.
#[derive(Debug, Clone, PartialEq, Default)]
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

/// Everything about one organization within a filter: what a custom KPI script runs
/// on. A script that never reads `events` is fed facts from the aggregate layer and
/// no events; one that does gets its events, and its facts are tallied from them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrgRecords {
    pub organization: OrgInfo,
    /// Its events within the filter, oldest first.
    pub events: Vec<EngagementEvent>,
    /// Its engagement facts, [`tally`]'d; empty when they are to be tallied from
    /// `events`.
    pub facts: Vec<EngagementFact>,
    /// All its contacts.
    pub contacts: Vec<ContactInfo>,
}

/// Events of one organization that agree on everything depth looks at — kind,
/// contact, asset and, for a share, its recipient — tallied. Storage keeps these per
/// UTC day as the aggregate layer's per-contact facts, so depth reads a few rows per
/// contact instead of every event; a single raw event is a fact of one.
#[derive(Debug, Clone, PartialEq)]
pub struct EngagementFact {
    pub kind: EventKind,
    /// Shared: a large account repeats each of its contacts and assets in thousands
    /// of facts.
    pub contact: Option<Arc<str>>,
    pub asset: Option<Arc<str>>,
    /// `properties.recipient` of a SHARE; `None` for every other kind.
    pub recipient: Option<Arc<str>>,
    /// How many events.
    pub events: u64,
    /// The sum of their values (a missing value adds nothing).
    pub value_sum: f64,
    /// When the earliest of them happened, in ms since 1970.
    pub first_at: i64,
}

impl EngagementFact {
    /// The fact of one raw event.
    pub fn of_event(event: &EngagementEvent) -> Self {
        let recipient = match event.kind {
            EventKind::Share => event
                .properties
                .get("recipient")
                .and_then(Value::as_str)
                .map(Arc::from),
            _ => None,
        };
        Self {
            kind: event.kind,
            contact: event.contact.as_deref().map(Arc::from),
            asset: event.asset.as_deref().map(Arc::from),
            recipient,
            events: 1,
            value_sum: event.value.unwrap_or(0.0),
            first_at: event.at.timestamp_millis(),
        }
    }
}

/// One organization's engagement within a filter as facts: what depth is measured from.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgFacts {
    pub organization: OrgInfo,
    /// In no particular order; several facts may share a key (days, edges).
    pub facts: Vec<EngagementFact>,
    /// All its contacts.
    pub contacts: Vec<ContactInfo>,
}

impl From<&OrgRecords> for OrgFacts {
    /// The records' facts, tallied from their events when they have none.
    fn from(records: &OrgRecords) -> Self {
        let facts = if records.facts.is_empty() {
            tally(records.events.iter().map(EngagementFact::of_event))
        } else {
            records.facts.clone()
        };
        Self {
            organization: records.organization.clone(),
            facts,
            contacts: records.contacts.clone(),
        }
    }
}

impl From<OrgFacts> for OrgRecords {
    /// Records fed from the aggregate layer: facts, no events.
    fn from(facts: OrgFacts) -> Self {
        Self {
            organization: facts.organization,
            events: Vec::new(),
            facts: facts.facts,
            contacts: facts.contacts,
        }
    }
}

/// Merges facts that agree on kind, contact, asset and recipient into one, ordered by
/// first instant (then contact, asset, kind, recipient): one canonical list however
/// the facts were read — days of the aggregate layer, raw edges of a range, or single
/// events — so a script sees the same `facts` whichever way it was fed.
pub fn tally(facts: impl IntoIterator<Item = EngagementFact>) -> Vec<EngagementFact> {
    // Sort by key and merge neighbours: no hashing and no copies of the ids, which
    // matters for a large account's tens of thousands of facts.
    let mut facts: Vec<EngagementFact> = facts.into_iter().collect();
    facts.sort_unstable_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then_with(|| a.contact.cmp(&b.contact))
            .then_with(|| a.asset.cmp(&b.asset))
            .then_with(|| a.recipient.cmp(&b.recipient))
    });
    let mut merged: Vec<EngagementFact> = Vec::with_capacity(facts.len());
    for fact in facts {
        match merged.last_mut() {
            Some(into)
                if into.kind == fact.kind
                    && into.contact == fact.contact
                    && into.asset == fact.asset
                    && into.recipient == fact.recipient =>
            {
                into.events += fact.events;
                into.value_sum += fact.value_sum;
                into.first_at = into.first_at.min(fact.first_at);
            }
            _ => merged.push(fact),
        }
    }
    merged.sort_by(|a, b| {
        a.first_at
            .cmp(&b.first_at)
            .then_with(|| a.contact.cmp(&b.contact))
            .then_with(|| a.asset.cmp(&b.asset))
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| a.recipient.cmp(&b.recipient))
    });
    merged
}

/// Who counts as a colleague of a sharer: the rule behind internal shares, used by
/// the built-in depth KPI and the scripts' `internal_shares` helper alike.
#[derive(Debug, Clone)]
pub struct Colleagues<'a> {
    ids: std::collections::HashSet<&'a str>,
    emails: std::collections::HashSet<String>,
    /// Each contact's own address, so that a share to oneself by e-mail is known.
    email_of: std::collections::HashMap<&'a str, String>,
    domain: Option<String>,
}

impl<'a> Colleagues<'a> {
    pub fn new(
        contacts: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
        domain: Option<&str>,
    ) -> Self {
        let mut ids = std::collections::HashSet::new();
        let mut emails = std::collections::HashSet::new();
        let mut email_of = std::collections::HashMap::new();
        for (id, email) in contacts {
            ids.insert(id);
            if let Some(email) = email {
                let email = email.trim().to_lowercase();
                emails.insert(email.clone());
                email_of.insert(id, email);
            }
        }
        Self {
            ids,
            emails,
            email_of,
            domain: domain
                .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
                .filter(|d| !d.is_empty()),
        }
    }

    /// The colleagues of one organization: its contacts and its domain.
    pub fn of(org: &'a OrgFacts) -> Self {
        Self::new(
            org.contacts
                .iter()
                .map(|c| (c.id.as_str(), c.email.as_deref())),
            org.organization.domain.as_deref(),
        )
    }

    /// A share from `sharer` reached a colleague when `recipient` is another contact
    /// of the organization (by id or e-mail) or an address at its domain or a
    /// subdomain. Sharing with oneself is not spreading the word.
    pub fn is_internal_share(&self, sharer: Option<&str>, recipient: &str) -> bool {
        if sharer == Some(recipient) {
            return false;
        }
        if self.ids.contains(recipient) {
            return true;
        }
        let recipient = recipient.trim().to_lowercase();
        if sharer.and_then(|s| self.email_of.get(s)) == Some(&recipient) {
            return false;
        }
        let Some((_, at)) = recipient.rsplit_once('@') else {
            return false;
        };
        self.emails.contains(&recipient)
            || self.domain.as_deref().is_some_and(|d| {
                at == d || at.strip_suffix(d).is_some_and(|sub| sub.ends_with('.'))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_reaches_a_colleague_by_id_address_or_domain_never_oneself() {
        let colleagues = Colleagues::new(
            [
                ("ann", Some("Ann@Acme.com")),
                ("bob", Some("bob@partner.example")),
                ("cy", None),
            ],
            Some("acme.com"),
        );
        let internal = |sharer, to| colleagues.is_internal_share(Some(sharer), to);
        assert!(internal("ann", "cy"), "a colleague by id");
        assert!(
            internal("ann", "BOB@partner.example"),
            "by a colleague's address"
        );
        assert!(
            internal("ann", "dee@sales.acme.com"),
            "an address at a subdomain"
        );
        assert!(!internal("ann", "x@elsewhere.com"));
        assert!(!internal("ann", "ann"), "oneself by id");
        assert!(!internal("ann", " ann@acme.COM"), "oneself by address");
        assert!(internal("bob", "ann@acme.com"), "ann's address from bob");
    }
}
