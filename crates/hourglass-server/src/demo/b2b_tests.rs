//! The B2B demo's shape, checked on a few hundred thousand events.

use std::collections::{BTreeMap, HashSet};

use chrono::DateTime;
use hourglass_core::{EventDraft, EventLimits};

use super::*;

fn all(seed: u64, events: u64) -> Vec<EventDraft> {
    B2bEvents::new(seed, events, 1_000).flatten().collect()
}

#[test]
fn the_same_seed_gives_the_same_events_and_message_ids() {
    let a = all(7, 20_000);
    assert_eq!(a, all(7, 20_000));
    assert_ne!(a, all(8, 20_000));
    let ids: HashSet<_> = a.iter().map(|d| d.message_id.clone()).collect();
    assert_eq!(ids.len(), a.len(), "message ids are unique");
}

#[test]
fn it_hands_out_exactly_the_events_asked_for_in_batches() {
    let batches: Vec<_> = B2bEvents::new(1, 10_250, 500).collect();
    assert_eq!(batches.len(), 21);
    assert!(batches[..20].iter().all(|b| b.len() == 500));
    assert_eq!(batches[20].len(), 250);
    let first: Vec<_> = B2bEvents::new(1, 20_000, 500).take(20).flatten().collect();
    let flat: Vec<_> = batches.into_iter().flatten().take(10_000).collect();
    assert_eq!(flat, first, "a smaller size is a prefix of a larger one");
}

#[test]
fn every_event_is_valid_and_inside_the_demo_year() {
    let now = Utc::now();
    let end = year_start() + Duration::days(DAYS + 30);
    for draft in all(3, 50_000) {
        let at = DateTime::parse_from_rfc3339(draft.occurred_at.as_deref().unwrap_or_default())
            .unwrap()
            .with_timezone(&Utc);
        assert!(at >= year_start() - Duration::days(30) && at < end, "{at}");
        assert!(draft.validate(&EventLimits::default(), now).is_ok());
    }
}

#[test]
fn the_largest_organizations_hold_a_big_share_of_the_events() {
    let events = all(42, 200_000);
    let mut per_org: BTreeMap<String, u64> = BTreeMap::new();
    for d in &events {
        if let Some(org) = &d.organization_id {
            *per_org.entry(org.clone()).or_default() += 1;
        }
    }
    let mut counts: Vec<u64> = per_org.values().copied().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let total: u64 = counts.iter().sum();
    let top_tenth: u64 = counts[..counts.len() / 10].iter().sum();
    assert!(
        top_tenth * 100 > total * 45,
        "top 10 % of organizations: {top_tenth} of {total} events"
    );
    assert!(
        counts.len() > 150,
        "a long tail: {} organizations",
        counts.len()
    );
    assert_eq!(
        per_org.get("org-00001"),
        counts.first(),
        "rank 1 is the largest"
    );
}

#[test]
fn some_anonymous_visitors_later_send_events_as_contacts() {
    let events = all(42, 100_000);
    let before: HashSet<&str> = events
        .iter()
        .filter_map(|d| d.anonymous_id.as_deref()?.strip_prefix("a-"))
        .collect();
    let after: HashSet<&str> = events
        .iter()
        .filter_map(|d| d.contact_id.as_deref()?.strip_prefix("c-"))
        .collect();
    let both = before.intersection(&after).count();
    assert!(
        both > 100,
        "{both} people seen first anonymous, then as contacts"
    );
    let visitors: HashSet<&str> = events
        .iter()
        .filter_map(|d| d.anonymous_id.as_deref()?.strip_prefix("v-"))
        .collect();
    assert!(
        visitors.len() > 1_000,
        "{} anonymous visitors",
        visitors.len()
    );
}

#[test]
fn webinars_fill_up_before_the_date_and_are_attended_in_the_live_window() {
    let campaigns = campaigns();
    let events = all(5, 100_000);
    for c in &campaigns {
        let webinar = c.webinar();
        let times = |kind: &str| -> Vec<DateTime<Utc>> {
            events
                .iter()
                .filter(|d| {
                    d.kind.as_deref() == Some(kind)
                        && d.asset_id.as_deref() == Some(webinar.as_str())
                })
                .filter_map(|d| DateTime::parse_from_rfc3339(d.occurred_at.as_deref()?).ok())
                .map(|t| t.with_timezone(&Utc))
                .collect()
        };
        let registrations = times("REGISTRATION");
        assert!(!registrations.is_empty(), "{webinar} has registrations");
        assert!(registrations.iter().all(|t| *t < c.webinar_live));
        let last_week = registrations
            .iter()
            .filter(|t| **t > c.webinar_live - Duration::days(7))
            .count();
        assert!(
            last_week * 2 > registrations.len(),
            "registrations build up"
        );
        let window_end = c.webinar_live + Duration::seconds(i64::from(c.webinar_seconds) + 3_600);
        let attendance = times("ATTENDANCE");
        assert!(!attendance.is_empty());
        assert!(
            attendance
                .iter()
                .all(|t| *t >= c.webinar_live && *t < window_end)
        );
    }
}
