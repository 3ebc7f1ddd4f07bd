//! The storage suite, run on SQLite and PostgreSQL alike.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use hourglass_core::money::Spend;
use hourglass_core::{
    AssetKind, EventDraft, EventKind, EventLimits, ExternalId, Goal, NewEvent, Slug, TimeRange,
};
use hourglass_storage::{
    EventsFilter, KpiFilter, NewAsset, NewCampaign, PageRequest, StorageError, Store,
    WorkspaceStore,
};
use hourglass_tests::{Backend, TestDatabase, on_both_backends, spent};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::ConnectionTrait;
use serde_json::json;

fn id(raw: &str) -> ExternalId {
    ExternalId::parse(raw, "id").unwrap()
}

fn at(raw: &str) -> DateTime<Utc> {
    raw.parse().unwrap()
}

fn draft(message_id: &str, kind: EventKind, occurred_at: DateTime<Utc>) -> EventDraft {
    EventDraft {
        message_id: Some(message_id.into()),
        kind: Some(kind.as_str().into()),
        occurred_at: Some(occurred_at.to_rfc3339()),
        ..EventDraft::default()
    }
}

fn valid(d: EventDraft) -> NewEvent {
    d.validate(&EventLimits::default(), at("2026-06-01T00:00:00Z"))
        .unwrap()
}

fn by_contact(message_id: &str, kind: EventKind, contact: &str) -> NewEvent {
    valid(EventDraft {
        contact_id: Some(contact.into()),
        ..draft(message_id, kind, at("2026-01-10T10:00:00Z"))
    })
}

async fn workspace(store: &Store, slug: &str) -> WorkspaceStore {
    let tenant = hourglass_server::admin::agency_or_create(store, "test-agency", "Test")
        .await
        .unwrap();
    tenant
        .create_workspace(&Slug::parse(slug).unwrap(), "Test")
        .await
        .unwrap()
}

async fn setup(backend: Backend) -> Option<(TestDatabase, Store)> {
    let db = TestDatabase::create(backend).await?;
    let store = db.store().await;
    Some((db, store))
}

/// How many migrations `migrate_down` must undo so that `name` is undone too.
async fn steps_to_undo(store: &Store, name: &str) -> u32 {
    let migrations = store.migration_status().await.unwrap();
    let position = migrations.iter().position(|(m, _)| m == name).unwrap();
    u32::try_from(migrations.len() - position).unwrap()
}

/// The foreign keys of the events table: none on PostgreSQL since migration 7
/// (row triggers on every ingested event), all five on SQLite.
async fn event_foreign_keys(store: &Store) -> usize {
    let db = store.connection();
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            "SELECT COUNT(*) AS n FROM information_schema.table_constraints \
             WHERE table_name = 'events' AND constraint_type = 'FOREIGN KEY'"
        }
        _ => "SELECT COUNT(*) AS n FROM pragma_foreign_key_list('events')",
    };
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .unwrap()
        .unwrap();
    let n: i64 = row.try_get("", "n").unwrap();
    usize::try_from(n).unwrap()
}

async fn migrations_run_up_down_and_up_again(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let expected_keys = match backend {
        Backend::Postgres => 0,
        Backend::Sqlite => 5,
    };
    assert_eq!(event_foreign_keys(&store).await, expected_keys);
    // Undoing migration 7 puts PostgreSQL's keys back, under the names it drops them by.
    store
        .migrate_down(Some(
            steps_to_undo(&store, "m20261130_000007_events_without_foreign_keys").await,
        ))
        .await
        .unwrap();
    assert_eq!(event_foreign_keys(&store).await, 5);
    store.migrate_up().await.unwrap();
    assert_eq!(event_foreign_keys(&store).await, expected_keys);
    assert!(
        store
            .migration_status()
            .await
            .unwrap()
            .iter()
            .all(|(_, applied)| *applied)
    );
    store.migrate_down(None).await.unwrap();
    assert!(
        store
            .migration_status()
            .await
            .unwrap()
            .iter()
            .all(|(_, applied)| !applied)
    );
    store.migrate_up().await.unwrap();
    let ws = workspace(&store, "after-redo").await;
    let outcome = ws
        .ingest(vec![by_contact("m1", EventKind::Click, "c1")], Utc::now())
        .await
        .unwrap();
    assert_eq!(outcome.accepted, 1);
}

async fn ingest_is_idempotent_per_message_id(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ws = workspace(&store, "idem").await;
    let batch: Vec<NewEvent> = (0..5)
        .map(|i| by_contact(&format!("m{i}"), EventKind::PageView, "c1"))
        .collect();

    let first = ws.ingest(batch.clone(), Utc::now()).await.unwrap();
    assert_eq!((first.accepted, first.duplicates), (5, 0));

    let again = ws.ingest(batch.clone(), Utc::now()).await.unwrap();
    assert_eq!(
        (again.accepted, again.duplicates),
        (0, 5),
        "same batch twice"
    );

    let overlapping: Vec<NewEvent> = (3..8)
        .map(|i| by_contact(&format!("m{i}"), EventKind::PageView, "c1"))
        .collect();
    let overlap = ws.ingest(overlapping, Utc::now()).await.unwrap();
    assert_eq!(
        (overlap.accepted, overlap.duplicates),
        (3, 2),
        "overlapping batch"
    );

    let inside = vec![
        by_contact("x", EventKind::Click, "c1"),
        by_contact("x", EventKind::Like, "c2"),
        by_contact("y", EventKind::Click, "c1"),
    ];
    let inside = ws.ingest(inside, Utc::now()).await.unwrap();
    assert_eq!(
        (inside.accepted, inside.duplicates),
        (2, 1),
        "duplicate inside one batch"
    );

    let counts = ws.top_counts(&KpiFilter::default()).await.unwrap();
    assert_eq!(counts.count(EventKind::PageView), 8);
    assert_eq!(counts.count(EventKind::Click), 2);
    assert_eq!(
        counts.count(EventKind::Like),
        0,
        "the first of two equal message ids wins"
    );
}

async fn first_sight_creates_the_catalog_and_contacts_join_organizations(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ws = workspace(&store, "catalog").await;
    let before_joining = valid(EventDraft {
        contact_id: Some("jane".into()),
        campaign_id: Some("spring".into()),
        asset_id: Some("guide".into()),
        ..draft("1", EventKind::Download, at("2026-01-10T10:00:00Z"))
    });
    ws.ingest(vec![before_joining], Utc::now()).await.unwrap();
    let events = vec![
        valid(EventDraft {
            contact_id: Some("jane".into()),
            organization_id: Some("acme".into()),
            ..draft("2", EventKind::PageView, at("2026-01-11T10:00:00Z"))
        }),
        // Names no organization: it inherits jane's.
        valid(EventDraft {
            contact_id: Some("jane".into()),
            ..draft("3", EventKind::Click, at("2026-01-12T10:00:00Z"))
        }),
    ];
    ws.ingest(events, Utc::now()).await.unwrap();

    let campaign = ws.campaign(&id("spring")).await.unwrap();
    assert_eq!(campaign.name, "spring");
    assert_eq!(campaign.goal, "FIND");
    assert_eq!(ws.asset(&id("guide")).await.unwrap().asset.kind, None);
    let jane = ws.contact(&id("jane")).await.unwrap();
    assert_eq!(jane.organization.as_deref(), Some("acme"));
    assert_eq!(jane.contact.stage, "VISITOR");

    let acme = KpiFilter {
        organization: Some(id("acme")),
        ..KpiFilter::default()
    };
    let counts = ws.top_counts(&acme).await.unwrap();
    assert_eq!(counts.count(EventKind::PageView), 1);
    assert_eq!(
        counts.count(EventKind::Click),
        1,
        "derived from the contact"
    );
    assert_eq!(
        counts.count(EventKind::Download),
        0,
        "sent before jane joined acme"
    );
}

async fn stage_changes_follow_the_latest_event_not_the_latest_arrival(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ws = workspace(&store, "stages").await;
    let change = |msg: &str, when: &str, to: &str| {
        valid(EventDraft {
            contact_id: Some("bob".into()),
            properties: Some(json!({ "to": to })),
            ..draft(msg, EventKind::StageChange, at(when))
        })
    };
    ws.ingest(vec![change("a", "2026-02-01T00:00:00Z", "MQL")], Utc::now())
        .await
        .unwrap();
    // Arrives later but happened earlier: must not move bob back.
    ws.ingest(
        vec![change("b", "2026-01-01T00:00:00Z", "LEAD")],
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(ws.contact(&id("bob")).await.unwrap().contact.stage, "MQL");
    ws.ingest(vec![change("c", "2026-03-01T00:00:00Z", "OQL")], Utc::now())
        .await
        .unwrap();
    assert_eq!(ws.contact(&id("bob")).await.unwrap().contact.stage, "OQL");
}

/// Random events over a small world, counted by the database and by hand.
struct World {
    events: Vec<NewEvent>,
}

const ASSETS: [&str; 4] = ["lp", "webinar", "article", "ad"];

impl World {
    fn generate(seed: u64, n: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let kinds = [
            EventKind::Impression,
            EventKind::PageView,
            EventKind::Click,
            EventKind::Registration,
            EventKind::Attendance,
            EventKind::Share,
            EventKind::Question,
        ];
        let start = at("2026-01-01T00:00:00Z");
        let events = (0..n)
            .map(|i| {
                let kind = kinds[rng.random_range(0..kinds.len())];
                let (contact, anonymous, organization) = if rng.random_bool(0.7) {
                    let c = rng.random_range(0..25);
                    (Some(format!("c{c}")), None, Some(format!("o{}", c % 4)))
                } else {
                    (None, Some(format!("a{}", rng.random_range(0..15))), None)
                };
                valid(EventDraft {
                    contact_id: contact,
                    anonymous_id: anonymous,
                    organization_id: organization,
                    campaign_id: rng
                        .random_bool(0.8)
                        .then(|| format!("k{}", rng.random_range(0..2))),
                    asset_id: rng
                        .random_bool(0.9)
                        .then(|| ASSETS[rng.random_range(0..4)].to_owned()),
                    channel: Some(["email", "social"][rng.random_range(0..2)].to_owned()),
                    value: (kind == EventKind::Attendance).then(|| rng.random_range(0.0..3600.0)),
                    ..draft(
                        &format!("e{i}"),
                        kind,
                        start + Duration::minutes(rng.random_range(0..60 * 24 * 60)),
                    )
                })
            })
            .collect();
        Self { events }
    }

    fn matches(e: &NewEvent, f: &KpiFilter, assets: Option<&[&str]>) -> bool {
        let eq = |want: &Option<ExternalId>, got: &Option<ExternalId>| {
            want.as_ref().is_none_or(|w| got.as_ref() == Some(w))
        };
        eq(&f.campaign, &e.campaign_id)
            && eq(&f.organization, &e.organization_id)
            && f.channel
                .as_ref()
                .is_none_or(|c| e.channel.as_ref() == Some(c))
            && f.range.contains(e.occurred_at)
            && match assets {
                None => true,
                Some(allowed) => e
                    .asset_id
                    .as_ref()
                    .is_some_and(|a| allowed.contains(&a.as_str())),
            }
    }

    /// The reference: what domain.md says, computed in plain Rust.
    fn expected(&self, f: &KpiFilter) -> hourglass_core::TopCounts {
        let exact: Option<Vec<&str>> = f.asset.as_ref().map(|a| vec![a.as_str()]);
        // The webinar's family is itself and its landing page; the landing page's
        // family is itself and the webinar it promotes.
        let family: Option<Vec<&str>> = f.asset.as_ref().map(|a| match a.as_str() {
            "webinar" | "lp" => vec!["webinar", "lp"],
            other => vec![other],
        });
        let person = |e: &NewEvent| match (&e.contact_id, &e.anonymous_id) {
            (Some(c), _) => format!("c:{c}"),
            (None, Some(a)) => format!("a:{a}"),
            _ => unreachable!(),
        };
        let people = |kinds: &[EventKind], assets: Option<&[&str]>| -> HashSet<String> {
            self.events
                .iter()
                .filter(|e| kinds.contains(&e.kind) && Self::matches(e, f, assets))
                .map(person)
                .collect()
        };
        let mut events = BTreeMap::new();
        for e in self
            .events
            .iter()
            .filter(|e| Self::matches(e, f, exact.as_deref()))
        {
            *events.entry(e.kind).or_insert(0) += 1;
        }
        let landing_family: Vec<&str> = match &family {
            Some(assets) => assets.iter().copied().filter(|a| *a == "lp").collect(),
            None => vec!["lp"],
        };
        let viewers = people(&[EventKind::PageView], Some(&landing_family));
        let registrants = people(&[EventKind::Registration], family.as_deref());
        let attendees = people(&[EventKind::Attendance], family.as_deref());
        let len = |set: &HashSet<String>| set.len() as u64;
        hourglass_core::TopCounts {
            events,
            unique_visitors: len(&people(EventKind::VISIT_KINDS, exact.as_deref())),
            funnel: hourglass_core::FunnelCounts {
                landing_viewers: len(&viewers),
                registrants: len(&registrants),
                attendees: len(&attendees),
                registered_viewers: registrants.intersection(&viewers).count() as u64,
                registered_attendees: attendees.intersection(&registrants).count() as u64,
            },
        }
    }
}

async fn top_counts_match_a_naive_reference_on_random_events(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    for seed in [1, 2, 3] {
        let ws = workspace(&store, &format!("random-{seed}")).await;
        ws.create_asset(NewAsset {
            id: id("lp"),
            kind: AssetKind::LandingPage,
            title: None,
            url: None,
            duration_seconds: None,
            landing_page: None,
        })
        .await
        .unwrap();
        ws.create_asset(NewAsset {
            id: id("webinar"),
            kind: AssetKind::Webinar,
            title: None,
            url: None,
            duration_seconds: Some(3600),
            landing_page: Some(id("lp")),
        })
        .await
        .unwrap();
        let world = World::generate(seed, 1_500);
        // In batches, with every third batch resent: duplicates must not count.
        for (i, batch) in world.events.chunks(200).enumerate() {
            ws.ingest(batch.to_vec(), Utc::now()).await.unwrap();
            if i % 3 == 0 {
                let again = ws.ingest(batch.to_vec(), Utc::now()).await.unwrap();
                assert_eq!(again.accepted, 0);
            }
        }
        let mid = at("2026-01-20T00:00:00Z");
        let filters = [
            KpiFilter::default(),
            KpiFilter {
                campaign: Some(id("k0")),
                ..KpiFilter::default()
            },
            KpiFilter {
                channel: Some("email".into()),
                ..KpiFilter::default()
            },
            KpiFilter {
                organization: Some(id("o1")),
                ..KpiFilter::default()
            },
            KpiFilter {
                asset: Some(id("webinar")),
                ..KpiFilter::default()
            },
            KpiFilter {
                asset: Some(id("lp")),
                ..KpiFilter::default()
            },
            KpiFilter {
                asset: Some(id("article")),
                campaign: Some(id("k1")),
                ..KpiFilter::default()
            },
            KpiFilter {
                range: TimeRange::new(Some(mid), Some(mid + Duration::days(14))).unwrap(),
                ..KpiFilter::default()
            },
            KpiFilter {
                range: TimeRange::new(None, Some(mid)).unwrap(),
                channel: Some("social".into()),
                asset: Some(id("webinar")),
                ..KpiFilter::default()
            },
        ];
        for filter in &filters {
            let got = ws.top_counts(filter).await.unwrap();
            assert_eq!(
                got,
                world.expected(filter),
                "seed {seed}, filter {filter:?}"
            );
        }
    }
}

async fn unknown_filter_ids_are_reported_not_counted_as_zero(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ws = workspace(&store, "unknown").await;
    let filter = KpiFilter {
        campaign: Some(id("nope")),
        ..KpiFilter::default()
    };
    let err = ws.top_counts(&filter).await.unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::NotFound {
                what: "campaign",
                ..
            }
        ),
        "{err}"
    );
}

async fn spend_is_summed_by_campaign_channel_and_day(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ws = workspace(&store, "spend").await;
    ws.create_campaign(NewCampaign {
        id: id("k"),
        name: "K".into(),
        goal: Goal::Grow,
        starts_at: None,
        ends_at: None,
        budget: Some(1000.0),
        currency: Some("eur".into()),
    })
    .await
    .unwrap();
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
    ws.record_spend(&id("k"), "Paid Search", day(1), 10.0)
        .await
        .unwrap();
    ws.record_spend(&id("k"), "paid_search", day(1), 12.5)
        .await
        .unwrap(); // replaces
    ws.record_spend(&id("k"), "email", day(2), 5.0)
        .await
        .unwrap();
    ws.record_spend(&id("k"), "email", day(3), 7.0)
        .await
        .unwrap();
    assert!(
        ws.record_spend(&id("k"), "email", day(4), -1.0)
            .await
            .is_err()
    );

    let all = ws.spend_total(&KpiFilter::default()).await.unwrap();
    assert_eq!(all, spent(Some("EUR"), &[24.5]));
    let email = KpiFilter {
        channel: Some("email".into()),
        ..KpiFilter::default()
    };
    assert_eq!(
        ws.spend_total(&email).await.unwrap(),
        spent(Some("EUR"), &[12.0])
    );
    let second_day = KpiFilter {
        range: TimeRange::new(
            Some(at("2026-03-02T00:00:00Z")),
            Some(at("2026-03-03T00:00:00Z")),
        )
        .unwrap(),
        ..KpiFilter::default()
    };
    assert_eq!(
        ws.spend_total(&second_day).await.unwrap(),
        spent(Some("EUR"), &[5.0])
    );
    let by_asset = KpiFilter {
        asset: Some(id("k")),
        ..KpiFilter::default()
    };
    assert_eq!(ws.spend_total(&by_asset).await.unwrap(), Spend::NotRecorded);
}

async fn event_pages_are_newest_first_without_gaps_or_repeats(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ws = workspace(&store, "pages").await;
    // Several events share a timestamp, so the id must break ties.
    let events: Vec<NewEvent> = (0..23)
        .map(|i| {
            valid(EventDraft {
                contact_id: Some("c".into()),
                ..draft(
                    &format!("m{i:02}"),
                    EventKind::PageView,
                    at("2026-01-01T00:00:00Z") + Duration::hours(i / 3),
                )
            })
        })
        .collect();
    ws.ingest(events, Utc::now()).await.unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = ws
            .events(&EventsFilter::default(), PageRequest { after, first: 5 })
            .await
            .unwrap();
        seen.extend(
            page.items
                .iter()
                .map(|(_, e)| (e.occurred_at, e.message_id.clone())),
        );
        after = page.items.last().map(|(key, _)| *key);
        if !page.has_next_page {
            break;
        }
    }
    assert_eq!(seen.len(), 23);
    let unique: HashSet<_> = seen.iter().map(|(_, m)| m.clone()).collect();
    assert_eq!(unique.len(), 23);
    assert!(seen.windows(2).all(|w| w[0].0 >= w[1].0), "newest first");
}

async fn nothing_crosses_workspaces(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let a = workspace(&store, "alpha").await;
    let b = workspace(&store, "beta").await;
    // The same external ids and message ids in both.
    let events = |n| {
        (0..n)
            .map(|i| by_contact(&format!("m{i}"), EventKind::Click, "shared-contact"))
            .collect::<Vec<_>>()
    };
    assert_eq!(a.ingest(events(3), Utc::now()).await.unwrap().accepted, 3);
    assert_eq!(
        b.ingest(events(5), Utc::now()).await.unwrap().accepted,
        5,
        "message ids are per workspace"
    );
    assert_eq!(
        a.top_counts(&KpiFilter::default())
            .await
            .unwrap()
            .count(EventKind::Click),
        3
    );
    assert_eq!(
        b.top_counts(&KpiFilter::default())
            .await
            .unwrap()
            .count(EventKind::Click),
        5
    );
    let page = a
        .contacts(
            None,
            None,
            PageRequest {
                after: None,
                first: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    let c = KpiFilter {
        campaign: Some(id("only-in-beta")),
        ..KpiFilter::default()
    };
    b.ingest(
        vec![valid(EventDraft {
            contact_id: Some("x".into()),
            campaign_id: Some("only-in-beta".into()),
            ..draft("z", EventKind::Click, at("2026-01-01T00:00:00Z"))
        })],
        Utc::now(),
    )
    .await
    .unwrap();
    assert!(b.top_counts(&c).await.is_ok());
    assert!(matches!(
        a.top_counts(&c).await,
        Err(StorageError::NotFound { .. })
    ));
}

async fn concurrent_batches_store_each_message_once(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ws = workspace(&store, "race").await;
    let batch: Vec<NewEvent> = (0..300)
        .map(|i| {
            by_contact(
                &format!("m{i}"),
                EventKind::Impression,
                &format!("c{}", i % 40),
            )
        })
        .collect();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let ws = ws.clone();
            let batch = batch.clone();
            tokio::spawn(async move { ws.ingest(batch, Utc::now()).await.unwrap() })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        let outcome = task.await.unwrap();
        assert_eq!(outcome.accepted + outcome.duplicates, 300);
        accepted += outcome.accepted;
    }
    assert_eq!(accepted, 300);
    let counts = ws.top_counts(&KpiFilter::default()).await.unwrap();
    assert_eq!(counts.count(EventKind::Impression), 300);
    assert_eq!(counts.unique_visitors, 40);
}

/// Migration 4 rebuilds SQLite's workspaces table with foreign keys off: a rebuild that
/// let `DROP TABLE` cascade would empty every workspace. Rolling it back and applying it
/// again must keep every event, and hand the workspace to the `default` agency.
async fn tenancy_migration_keeps_existing_workspaces_and_their_data(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ws = workspace(&store, "legacy").await;
    let events: Vec<NewEvent> = (0..25)
        .map(|i| {
            by_contact(
                &format!("m-{i}"),
                EventKind::PageView,
                &format!("c-{}", i % 5),
            )
        })
        .collect();
    ws.ingest(events, Utc::now()).await.unwrap();
    let before = ws.top_counts(&KpiFilter::default()).await.unwrap();

    // Back to before migration 4 (through every later one, the rollups among them),
    // then forward again: the workspace's rollups are rebuilt from its raw events on
    // the way up.
    let steps = steps_to_undo(&store, "m20261125_000004_agencies_and_keys").await;
    store.migrate_down(Some(steps)).await.unwrap();
    store.migrate_up().await.unwrap();

    assert!(
        store.agency_tenant("test-agency").await.is_err(),
        "agencies made after migration 4 go with its rollback"
    );
    let tenant = store.agency_tenant("default").await.unwrap();
    let legacy = tenant.workspace("legacy").await.unwrap();
    assert_eq!(
        legacy.top_counts(&KpiFilter::default()).await.unwrap(),
        before
    );
    let page = legacy
        .events(
            &EventsFilter::default(),
            PageRequest {
                after: None,
                first: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 25);
}

/// Another process writing (the admin CLI, a migration) makes ingest wait for it, not
/// fail: on SQLite a transaction that only asks for the write lock when it first
/// writes cannot wait for it.
async fn ingest_waits_for_another_writer_instead_of_failing(backend: Backend) {
    let Some((db, store)) = setup(backend).await else {
        return;
    };
    let ws = workspace(&store, "shared").await;
    let mut options = hourglass_storage::StoreOptions::new(&db.url);
    options.max_connections = 1;
    let other = Store::connect(&options).await.unwrap();
    let hold: &[&str] = match backend {
        Backend::Sqlite => &["BEGIN IMMEDIATE"],
        Backend::Postgres => &["BEGIN", "LOCK TABLE events IN EXCLUSIVE MODE"],
    };
    for statement in hold {
        sea_orm::ConnectionTrait::execute_unprepared(other.connection(), statement)
            .await
            .unwrap();
    }
    let ingest = tokio::spawn(async move {
        let events = vec![by_contact("waited", EventKind::Click, "c-1")];
        ws.ingest(events, Utc::now()).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !ingest.is_finished(),
        "ingest waits while another writer holds the lock"
    );
    sea_orm::ConnectionTrait::execute_unprepared(other.connection(), "ROLLBACK")
        .await
        .unwrap();
    let outcome = ingest.await.unwrap().unwrap();
    assert_eq!(outcome.accepted, 1);
    other.close().await.unwrap();
}

on_both_backends!(
    migrations_run_up_down_and_up_again,
    ingest_waits_for_another_writer_instead_of_failing,
    tenancy_migration_keeps_existing_workspaces_and_their_data,
    ingest_is_idempotent_per_message_id,
    first_sight_creates_the_catalog_and_contacts_join_organizations,
    stage_changes_follow_the_latest_event_not_the_latest_arrival,
    top_counts_match_a_naive_reference_on_random_events,
    unknown_filter_ids_are_reported_not_counted_as_zero,
    spend_is_summed_by_campaign_channel_and_day,
    event_pages_are_newest_first_without_gaps_or_repeats,
    nothing_crosses_workspaces,
    concurrent_batches_store_each_message_once,
    script_versions_are_immutable_and_keys_unique,
);

mod scripts {
    use super::*;
    use hourglass_core::definition::ParamDecl;
    use hourglass_storage::{KpiScriptChanges, KpiScriptContent};

    fn content(source: &str) -> KpiScriptContent {
        KpiScriptContent {
            name: "Hot account".into(),
            description: Some("Attendees, questions and shares".into()),
            goal: Goal::Find,
            unit: Some("points".into()),
            source: source.into(),
            params: vec![ParamDecl {
                name: "min_attendees".into(),
                default: json!(3),
                description: None,
            }],
        }
    }

    pub(super) async fn script_versions_are_immutable_and_keys_unique(backend: Backend) {
        let Some((_db, store)) = setup(backend).await else {
            return;
        };
        let ws = workspace(&store, "scripts").await;
        let v1 = ws
            .create_kpi_script("hot_account", content("1"))
            .await
            .unwrap();
        assert_eq!((v1.version, v1.current_version), (1, 1));
        assert!(matches!(
            ws.create_kpi_script("hot_account", content("2")).await,
            Err(StorageError::AlreadyExists { .. })
        ));
        assert!(matches!(
            ws.create_kpi_script("Hot Account", content("2")).await,
            Err(StorageError::Invalid(_))
        ));
        let v2 = ws
            .update_kpi_script(
                "hot_account",
                KpiScriptChanges {
                    source: Some("2".into()),
                    ..KpiScriptChanges::default()
                },
            )
            .await
            .unwrap();
        assert_eq!((v2.version, v2.content.source.as_str()), (2, "2"));
        assert_eq!(
            v2.content.params, v1.content.params,
            "unchanged fields carry over"
        );
        let old = ws.kpi_script("hot_account", Some(1)).await.unwrap();
        assert_eq!((old.content.source.as_str(), old.current_version), ("1", 2));
        let history = ws.kpi_script_history("hot_account").await.unwrap();
        assert_eq!(
            history.iter().map(|r| r.version).collect::<Vec<_>>(),
            vec![2, 1]
        );

        ws.create_kpi_script("other", content("3")).await.unwrap();
        ws.archive_kpi_script("other").await.unwrap();
        let listed = ws
            .kpi_scripts(
                false,
                PageRequest {
                    after: None,
                    first: 10,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            listed
                .items
                .iter()
                .map(|(_, r)| r.key.as_str())
                .collect::<Vec<_>>(),
            vec!["hot_account"]
        );
        let all = ws
            .kpi_scripts(
                true,
                PageRequest {
                    after: None,
                    first: 10,
                },
            )
            .await
            .unwrap();
        assert_eq!(all.items.len(), 2);
        assert!(
            ws.update_kpi_script("other", KpiScriptChanges::default())
                .await
                .is_err()
        );

        let elsewhere = workspace(&store, "elsewhere").await;
        assert!(matches!(
            elsewhere.kpi_script("hot_account", None).await,
            Err(StorageError::NotFound { .. })
        ));
    }
}
use scripts::script_versions_are_immutable_and_keys_unique;
