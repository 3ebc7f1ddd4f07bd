//! The aggregate layer answers exactly what raw events answer, on SQLite and
//! PostgreSQL: after random batches (resent, repeated, late, for catalog rows nobody
//! described, stage changes, people nobody named, colleagues arriving at the same
//! instant), for random filters, instants, and whole days in time zones whose days
//! start off the UTC hour — the top-of-hourglass counts from rollups and the depth
//! short list from engagement facts.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use hourglass_core::filter::start_of_day;
use hourglass_core::identity::Identification;
use hourglass_core::{
    AssetKind, EventDraft, EventKind, EventLimits, ExternalId, NewEvent, Slug, TimeRange,
};
use hourglass_storage::{
    KpiFilter, NewAsset, NewOrganization, Store, StoreOptions, WorkspaceStore,
};
use hourglass_tests::{Backend, TestDatabase, on_both_backends};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

fn id(raw: &str) -> ExternalId {
    ExternalId::parse(raw, "id").unwrap()
}

fn start() -> DateTime<Utc> {
    // March holds both the US (8th) and the EU (29th) switch to summer time.
    "2026-03-01T00:00:00Z".parse().unwrap()
}

const DAYS: i64 = 40;
const ZONES: [&str; 5] = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Australia/Adelaide",
];
const KINDS: [EventKind; 10] = [
    EventKind::Impression,
    EventKind::PageView,
    EventKind::Click,
    EventKind::Registration,
    EventKind::Attendance,
    EventKind::Question,
    EventKind::InfoRequest,
    EventKind::Share,
    EventKind::StageChange,
    EventKind::Revenue,
];

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn random_event(rng: &mut StdRng, message: usize) -> NewEvent {
    let kind = *pick(rng, &KINDS);
    let who = rng.random_range(0..10);
    let (contact, anonymous, organization) = match who {
        0..=5 => {
            let c = rng.random_range(0..40);
            (Some(format!("c{c}")), None, Some(format!("o{}", c % 6)))
        }
        // An anonymous visitor who is also named: the contact is the person.
        6 => (
            Some(format!("c{}", rng.random_range(0..40))),
            Some(format!("a{}", rng.random_range(0..30))),
            None,
        ),
        7 => (None, Some(format!("a{}", rng.random_range(0..30))), None),
        // A visitor whose company is known (say, from its address) before the person.
        8 => (
            None,
            Some(format!("a{}", rng.random_range(0..30))),
            Some(format!("o{}", rng.random_range(0..6))),
        ),
        // Only an organization: counted, but nobody to count as a person.
        _ => (None, None, Some(format!("o{}", rng.random_range(0..6)))),
    };
    let (value, properties) = match kind {
        EventKind::Attendance => (Some(f64::from(rng.random_range(1..3600))), json!({})),
        EventKind::Revenue => (
            Some(f64::from(rng.random_range(100..9000))),
            json!({"currency": "EUR"}),
        ),
        EventKind::StageChange => (None, json!({"to": *pick(rng, &["LEAD", "MQL", "SQL"])})),
        // A colleague by id, by address at the domain, an outsider, or nobody named.
        EventKind::Share => (
            None,
            match rng.random_range(0..4) {
                0 => json!({"recipient": format!("c{}", rng.random_range(0..40))}),
                1 => {
                    json!({"recipient": format!("p{}@O{}.example", rng.random_range(0..9), rng.random_range(0..6))})
                }
                2 => json!({"recipient": "someone@elsewhere.example"}),
                _ => json!({}),
            },
        ),
        _ => (None, json!({})),
    };
    // Some events share a handful of instants: colleagues arriving at once.
    let (minutes, seconds) = if rng.random_bool(0.05) {
        (rng.random_range(0..3) * 24 * 60 + 600, 0)
    } else {
        (rng.random_range(0..DAYS * 24 * 60), rng.random_range(0..60))
    };
    EventDraft {
        message_id: Some(format!("m{message}")),
        kind: Some(kind.as_str().into()),
        occurred_at: Some(
            (start() + Duration::minutes(minutes) + Duration::seconds(seconds)).to_rfc3339(),
        ),
        contact_id: contact,
        anonymous_id: anonymous,
        organization_id: organization,
        // k9 and x-new are described by nobody: created on first sight.
        campaign_id: rng
            .random_bool(0.85)
            .then(|| pick(rng, &["k0", "k1", "k2", "k9"]).to_string()),
        asset_id: rng
            .random_bool(0.85)
            .then(|| pick(rng, &["lp", "webinar", "article", "x-new"]).to_string()),
        channel: rng
            .random_bool(0.9)
            .then(|| pick(rng, &["email", "social", "paid_search"]).to_string()),
        value,
        properties: Some(properties),
        contact_traits: None,
    }
    .validate(
        &EventLimits::default(),
        "2027-01-01T00:00:00Z".parse().unwrap(),
    )
    .unwrap()
}

fn random_range(rng: &mut StdRng) -> TimeRange {
    let instant = |rng: &mut StdRng| {
        start() + Duration::seconds(rng.random_range(-86_400..(DAYS + 1) * 86_400))
    };
    match rng.random_range(0..6) {
        0 => TimeRange::default(),
        1 => TimeRange::new(Some(instant(rng)), None).unwrap(),
        2 => TimeRange::new(None, Some(instant(rng))).unwrap(),
        3 => {
            let (a, b) = (instant(rng), instant(rng));
            if a == b {
                return TimeRange::default();
            }
            TimeRange::new(Some(a.min(b)), Some(a.max(b))).unwrap()
        }
        _ => {
            // Whole days in a time zone, as `days` in the API makes them.
            let tz: Tz = pick(rng, &ZONES).parse().unwrap();
            let first = NaiveDate::from_ymd_opt(2026, 2, 27).unwrap()
                + Duration::days(rng.random_range(0..DAYS));
            let last = first + Duration::days(rng.random_range(1..30));
            TimeRange::new(
                Some(start_of_day(first, &tz)),
                Some(start_of_day(last, &tz)),
            )
            .unwrap()
        }
    }
}

fn random_filter(rng: &mut StdRng) -> KpiFilter {
    let maybe = |rng: &mut StdRng, p: f64, items: &[&str]| -> Option<String> {
        rng.random_bool(p).then(|| pick(rng, items).to_string())
    };
    KpiFilter {
        campaign: maybe(rng, 0.5, &["k0", "k1", "k9"]).map(|c| id(&c)),
        channel: maybe(rng, 0.3, &["email", "social"]),
        asset: maybe(rng, 0.3, &["lp", "webinar", "article", "x-new"]).map(|a| id(&a)),
        organization: maybe(rng, 0.15, &["o1", "o4"]).map(|o| id(&o)),
        range: random_range(rng),
        calendar_days: None,
    }
}

/// A handle on an existing workspace through `store`.
async fn uncached_handle(store: &Store, slug: &str) -> WorkspaceStore {
    hourglass_server::admin::agency_or_create(store, "rollup-agency", "Test")
        .await
        .unwrap()
        .workspace(slug)
        .await
        .unwrap()
}

async fn workspace(store: &Store, slug: &str) -> WorkspaceStore {
    let tenant = hourglass_server::admin::agency_or_create(store, "rollup-agency", "Test")
        .await
        .unwrap();
    let ws = tenant
        .create_workspace(&Slug::parse(slug).unwrap(), "Test")
        .await
        .unwrap();
    for (asset, kind, landing) in [
        ("lp", AssetKind::LandingPage, None),
        ("webinar", AssetKind::Webinar, Some(id("lp"))),
        ("article", AssetKind::Article, None),
    ] {
        ws.create_asset(NewAsset {
            id: id(asset),
            kind,
            title: None,
            url: None,
            duration_seconds: (kind == AssetKind::Webinar).then_some(3600),
            landing_page: landing,
        })
        .await
        .unwrap();
    }
    // Half the organizations are described, with a domain; the rest are first seen
    // in events.
    for o in 0..3 {
        ws.create_organization(NewOrganization {
            id: id(&format!("o{o}")),
            name: None,
            domain: Some(format!("o{o}.example")),
        })
        .await
        .unwrap();
    }
    ws
}

/// Every rollup row of the database, people by who they are (sorted), sums rounded:
/// what a rebuild must reproduce. Not by number: stitching keeps a visitor's number
/// for the contact it turned out to be, where a rebuild numbers people afresh.
async fn rollup_rows(store: &Store) -> BTreeMap<String, (i64, i64, Vec<String>)> {
    let db = store.connection();
    let who: BTreeMap<(i64, i32), String> = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT workspace_id, number, contact_id, anonymous_id FROM people",
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            let contact: Option<i64> = row.try_get("", "contact_id").unwrap();
            let anonymous: Option<String> = row.try_get("", "anonymous_id").unwrap();
            let key = (
                row.try_get("", "workspace_id").unwrap(),
                row.try_get("", "number").unwrap(),
            );
            let name = match (contact, anonymous) {
                (Some(c), _) => format!("contact {c}"),
                (None, a) => format!("visitor {a:?}"),
            };
            (key, name)
        })
        .collect();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT workspace_id, grain, asset_id, campaign_id, bucket, channel, kind, \
             events, value_sum, people FROM rollups",
        ))
        .await
        .unwrap();
    rows.into_iter()
        .map(|row| {
            let key: (i64, i16, i64, i64, i64, String, String) = (
                row.try_get("", "workspace_id").unwrap(),
                row.try_get("", "grain").unwrap(),
                row.try_get("", "asset_id").unwrap(),
                row.try_get("", "campaign_id").unwrap(),
                row.try_get("", "bucket").unwrap(),
                row.try_get("", "channel").unwrap(),
                row.try_get("", "kind").unwrap(),
            );
            let people: Option<Vec<u8>> = row.try_get("", "people").unwrap();
            let mut people: Vec<String> = people
                .map(|bytes| {
                    roaring::RoaringBitmap::deserialize_from(&bytes[..])
                        .unwrap()
                        .into_iter()
                        .map(|n| {
                            let number = i32::try_from(n).unwrap();
                            who.get(&(key.0, number))
                                .cloned()
                                .unwrap_or_else(|| format!("nobody numbered {n}"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            people.sort();
            let sum: f64 = row.try_get("", "value_sum").unwrap();
            (
                format!("{key:?}"),
                (
                    row.try_get("", "events").unwrap(),
                    sum.round() as i64,
                    people,
                ),
            )
        })
        .collect()
}

/// Every engagement fact row of the database: what a rebuild must reproduce.
async fn fact_rows(store: &Store) -> BTreeMap<String, (i64, i64, i64)> {
    let db = store.connection();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT workspace_id, grain, campaign_id, organization_id, bucket, contact_id, \
             asset_id, channel, kind, recipient, events, value_sum, first_at \
             FROM engagement_facts",
        ))
        .await
        .unwrap();
    rows.into_iter()
        .map(|row| {
            let key: (i64, i16, i64, i64, i64, i64, i64, String, String, String) = (
                row.try_get("", "workspace_id").unwrap(),
                row.try_get("", "grain").unwrap(),
                row.try_get("", "campaign_id").unwrap(),
                row.try_get("", "organization_id").unwrap(),
                row.try_get("", "bucket").unwrap(),
                row.try_get("", "contact_id").unwrap(),
                row.try_get("", "asset_id").unwrap(),
                row.try_get("", "channel").unwrap(),
                row.try_get("", "kind").unwrap(),
                row.try_get("", "recipient").unwrap(),
            );
            let sum: f64 = row.try_get("", "value_sum").unwrap();
            (
                format!("{key:?}"),
                (
                    row.try_get("", "events").unwrap(),
                    sum.round() as i64,
                    row.try_get("", "first_at").unwrap(),
                ),
            )
        })
        .collect()
}

async fn rollups_answer_what_raw_events_answer(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let store = db.store().await;
    // Without the cache, and scoring the short list two organizations at a time.
    let uncached_store = Store::connect(&StoreOptions {
        answer_cache_entries: 0,
        short_list_part: 2,
        ..StoreOptions::new(&db.url)
    })
    .await
    .unwrap();
    for seed in [7, 8] {
        let mut ws = workspace(&store, &format!("random-{seed}")).await;
        let mut rng = StdRng::seed_from_u64(seed);
        let events: Vec<NewEvent> = (0..2_500).map(|i| random_event(&mut rng, i)).collect();
        let mut sent = 0;
        while sent < events.len() {
            let size = rng.random_range(1..200).min(events.len() - sent);
            let mut batch = events[sent..sent + size].to_vec();
            // Repeats inside a batch and events already stored must not count.
            if sent > 0 && rng.random_bool(0.3) {
                batch.push(events[rng.random_range(0..sent)].clone());
                batch.push(batch[0].clone());
            }
            // Now and then a tracker says who a visitor is, and where someone works.
            let told = if rng.random_bool(0.3) {
                rng.random_range(1..3)
            } else {
                0
            };
            let identifications: Vec<Identification> = (0..told)
                .map(|_| Identification {
                    contact_id: id(&format!("c{}", rng.random_range(0..40))),
                    anonymous_id: Some(id(&format!("a{}", rng.random_range(0..30)))),
                    organization_id: rng
                        .random_bool(0.3)
                        .then(|| id(&format!("o{}", rng.random_range(0..6)))),
                    organization_name: None,
                    traits: None,
                })
                .collect();
            let outcome = ws
                .ingest_batch(batch.clone(), identifications, Utc::now())
                .await
                .unwrap();
            assert_eq!(outcome.accepted, size as u64, "seed {seed} at {sent}");
            if rng.random_bool(0.2) {
                let again = ws.ingest(batch, Utc::now()).await.unwrap();
                assert_eq!(again.accepted, 0);
            }
            sent += size;
        }

        for round in 0..60 {
            let filter = random_filter(&mut rng);
            let raw = ws.top_counts_raw(&filter).await.unwrap();
            assert!(round > 0 || !raw.events.is_empty() || filter != KpiFilter::default());
            assert_eq!(
                ws.top_counts(&filter).await.unwrap(),
                raw,
                "seed {seed}, round {round}: {filter:?}"
            );
            let short_list = ws.short_list_raw(&filter).await.unwrap();
            assert!(round > 0 || !short_list.is_empty());
            assert_eq!(
                *ws.short_list(&filter).await.unwrap(),
                short_list,
                "seed {seed}, round {round}: {filter:?}"
            );
            let uncached = uncached_handle(&uncached_store, &format!("random-{seed}")).await;
            assert_eq!(
                *uncached.short_list(&filter).await.unwrap(),
                short_list,
                "seed {seed}, round {round}, two organizations at a time: {filter:?}"
            );
            // A page of organizations, one of them unknown, read together (the page,
            // not the filter, says which organizations).
            let page: Vec<ExternalId> = ["o1", "o3", "o5", "nobody"].map(id).to_vec();
            let depths = ws.depths_of(&filter, &page).await.unwrap();
            // Without the answer cache a page reads only its own organizations' facts.
            assert_eq!(uncached.depths_of(&filter, &page).await.unwrap(), depths);
            let every_organization = KpiFilter {
                organization: None,
                ..filter.clone()
            };
            let expected: BTreeMap<String, _> = ws
                .short_list_raw(&every_organization)
                .await
                .unwrap()
                .iter()
                .filter(|r| ["o1", "o3", "o5"].contains(&r.organization.id.as_str()))
                .map(|r| (r.organization.id.clone(), r.depth.clone()))
                .collect();
            assert_eq!(
                depths.into_iter().collect::<BTreeMap<_, _>>(),
                expected,
                "seed {seed}, round {round}: {filter:?}"
            );
        }

        // What ingest built batch by batch is what a rebuild computes in one go.
        let before = rollup_rows(&store).await;
        let facts_before = fact_rows(&store).await;
        assert!(!before.is_empty() && !facts_before.is_empty());
        let summary = ws.rebuild_rollups(&|_, _| {}).await.unwrap();
        assert_eq!(summary.events, events.len() as u64);
        assert_eq!(rollup_rows(&store).await, before, "seed {seed}");
        assert_eq!(fact_rows(&store).await, facts_before, "seed {seed}");
        let whole = KpiFilter::default();
        assert_eq!(
            ws.top_counts(&whole).await.unwrap(),
            ws.top_counts_raw(&whole).await.unwrap()
        );
    }
}

/// The unique visitors of a month are not the sum of its days' visitors: the
/// person who comes back every day is one visitor.
async fn a_returning_visitor_is_one_visitor_across_days(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let store = db.store().await;
    let ws = workspace(&store, "returning").await;
    let events: Vec<NewEvent> = (0..30)
        .map(|day| {
            EventDraft {
                message_id: Some(format!("visit-{day}")),
                kind: Some("PAGE_VIEW".into()),
                occurred_at: Some(
                    (start() + Duration::days(day) + Duration::hours(13)).to_rfc3339(),
                ),
                anonymous_id: Some(if day % 2 == 0 { "ann" } else { "bob" }.into()),
                ..EventDraft::default()
            }
            .validate(&EventLimits::default(), Utc::now())
            .unwrap()
        })
        .collect();
    ws.ingest(events, Utc::now()).await.unwrap();
    let month = ws.top_counts(&KpiFilter::default()).await.unwrap();
    assert_eq!(month.count(EventKind::PageView), 30);
    assert_eq!(month.unique_visitors, 2, "30 days, two people");
}

/// Written down by hand: a visitor who views the landing page twice and then
/// registers as contact c1, and a visitor who turns out to be c2, who had viewed it
/// as herself too. From the registration on they are two people, not four, in the
/// visitors, the funnel and the depth of their organization, the earlier events
/// included; and a later anonymous view is c1's. A rebuild agrees.
async fn a_visitor_who_identifies_is_one_person_from_before(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let store = db.store().await;
    let mut ws = workspace(&store, "stitched").await;
    let event =
        |message: &str, kind: &str, day: i64, contact: Option<&str>, visitor: Option<&str>| {
            let asset = if kind == "REGISTRATION" {
                "webinar"
            } else {
                "lp"
            };
            EventDraft {
                message_id: Some(message.into()),
                kind: Some(kind.into()),
                occurred_at: Some((start() + Duration::days(day)).to_rfc3339()),
                contact_id: contact.map(Into::into),
                anonymous_id: visitor.map(Into::into),
                organization_id: contact.map(|_| "o1".into()),
                asset_id: Some(asset.into()),
                ..EventDraft::default()
            }
            .validate(&EventLimits::default(), Utc::now())
            .unwrap()
        };
    let everything = KpiFilter::default();
    let o1 = [id("o1")];
    ws.ingest(
        vec![
            event("v1-a", "PAGE_VIEW", 1, None, Some("v1")),
            event("v1-b", "PAGE_VIEW", 2, None, Some("v1")),
            event("c2-a", "PAGE_VIEW", 1, Some("c2"), None),
            event("v2-a", "PAGE_VIEW", 1, None, Some("v2")),
        ],
        Utc::now(),
    )
    .await
    .unwrap();
    let before = ws.top_counts(&everything).await.unwrap();
    assert_eq!(
        (before.unique_visitors, before.funnel.landing_viewers),
        (3, 3)
    );
    let depth = &ws.depths_of(&everything, &o1).await.unwrap()["o1"].parts;
    assert_eq!((depth.engaged_contacts, depth.breadth), (1, 1));

    let outcome = ws
        .ingest(
            vec![
                // c1 is new: it takes v1's person number.
                event("c1-reg", "REGISTRATION", 3, Some("c1"), Some("v1")),
                // c2 was counted already: v2's number gives way to hers.
                event("c2-reg", "REGISTRATION", 3, Some("c2"), Some("v2")),
            ],
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!((outcome.linked, outcome.stitched), (2, 3));
    let after = ws.top_counts(&everything).await.unwrap();
    assert_eq!(after.unique_visitors, 2);
    assert_eq!(after.count(EventKind::PageView), 4);
    assert_eq!(
        (
            after.funnel.landing_viewers,
            after.funnel.registrants,
            after.funnel.registered_viewers
        ),
        (2, 2, 2)
    );
    let depth = &ws.depths_of(&everything, &o1).await.unwrap()["o1"].parts;
    assert_eq!((depth.engaged_contacts, depth.breadth), (2, 2));

    // Later, v1 alone again: c1's view.
    ws.ingest(
        vec![event("v1-c", "PAGE_VIEW", 4, None, Some("v1"))],
        Utc::now(),
    )
    .await
    .unwrap();
    let later = ws.top_counts(&everything).await.unwrap();
    assert_eq!(
        (later.unique_visitors, later.count(EventKind::PageView)),
        (2, 5)
    );
    assert_eq!(ws.top_counts_raw(&everything).await.unwrap(), later);

    ws.rebuild_rollups(&|_, _| {}).await.unwrap();
    assert_eq!(ws.top_counts(&everything).await.unwrap(), later);
    let depth = &ws.depths_of(&everything, &o1).await.unwrap()["o1"].parts;
    assert_eq!((depth.engaged_contacts, depth.breadth), (2, 2));
}

on_both_backends!(
    rollups_answer_what_raw_events_answer,
    a_returning_visitor_is_one_visitor_across_days,
    a_visitor_who_identifies_is_one_person_from_before,
);
