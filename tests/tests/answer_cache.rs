//! Cached KPI answers are never served after a commit that changes them: not after
//! events, catalog changes or spend, not when another process (another store on the
//! same database, with its own cache) wrote, and a handle sees its own writes. The
//! expected figures are counted from the events each test sends.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, NaiveDate, Utc};
use hourglass_core::{
    AssetKind, EventDraft, EventKind, EventLimits, ExternalId, Goal, NewEvent, Slug,
};
use hourglass_storage::{AssetChanges, KpiFilter, NewAsset, NewCampaign, Store, WorkspaceStore};
use hourglass_tests::{Backend, TestDatabase, on_both_backends, spent};

const AGENCY: &str = "cache-agency";
const SLUG: &str = "cached";

fn id(raw: &str) -> ExternalId {
    ExternalId::parse(raw, "id").unwrap()
}

fn at(hours: i64) -> DateTime<Utc> {
    "2026-05-04T08:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::hours(hours)
}

/// `n` page views of `asset` by `n` different visitors, message ids from `first`.
fn views(first: usize, n: usize, asset: &str) -> Vec<NewEvent> {
    (first..first + n)
        .map(|i| {
            EventDraft {
                message_id: Some(format!("view-{i}")),
                kind: Some("PAGE_VIEW".into()),
                occurred_at: Some(at(i as i64 % 48).to_rfc3339()),
                anonymous_id: Some(format!("visitor-{i}")),
                campaign_id: Some("launch".into()),
                asset_id: Some(asset.into()),
                ..EventDraft::default()
            }
            .validate(&EventLimits::default(), Utc::now())
            .unwrap()
        })
        .collect()
}

/// A new database with the test's agency and workspace, and the workspace's handle.
async fn fresh_workspace(backend: Backend) -> Option<(TestDatabase, Store, WorkspaceStore)> {
    let db = TestDatabase::create(backend).await?;
    let store = db.store().await;
    let tenant = hourglass_server::admin::agency_or_create(&store, AGENCY, "Test")
        .await
        .unwrap();
    let ws = tenant
        .create_workspace(&Slug::parse(SLUG).unwrap(), "Test")
        .await
        .unwrap();
    Some((db, store, ws))
}

/// A fresh handle, as a request gets: the workspace row read anew.
async fn handle(store: &Store) -> WorkspaceStore {
    hourglass_server::admin::agency_or_create(store, AGENCY, "Test")
        .await
        .unwrap()
        .workspace(SLUG)
        .await
        .unwrap()
}

async fn page_views(ws: &WorkspaceStore) -> u64 {
    ws.top_counts(&KpiFilter::default())
        .await
        .unwrap()
        .count(EventKind::PageView)
}

async fn answers_follow_every_kind_of_write(backend: Backend) {
    let Some((db, store, ws)) = fresh_workspace(backend).await else {
        return;
    };
    ws.create_campaign(NewCampaign {
        id: id("launch"),
        name: "Launch".into(),
        goal: Goal::Find,
        starts_at: None,
        ends_at: None,
        budget: None,
        currency: None,
    })
    .await
    .unwrap();
    for (asset, kind) in [
        ("lp-a", AssetKind::LandingPage),
        ("lp-b", AssetKind::LandingPage),
        ("webinar", AssetKind::Webinar),
    ] {
        ws.create_asset(NewAsset {
            id: id(asset),
            kind,
            title: None,
            url: None,
            duration_seconds: (kind == AssetKind::Webinar).then_some(3600),
            landing_page: (kind == AssetKind::Webinar).then(|| id("lp-a")),
        })
        .await
        .unwrap();
    }

    // Events: the answer grows with each committed batch, asked through fresh handles.
    ws.ingest(views(0, 5, "lp-a"), Utc::now()).await.unwrap();
    assert_eq!(page_views(&handle(&store).await).await, 5);
    assert_eq!(page_views(&handle(&store).await).await, 5, "now cached");
    handle(&store)
        .await
        .ingest(views(5, 3, "lp-b"), Utc::now())
        .await
        .unwrap();
    assert_eq!(page_views(&handle(&store).await).await, 8);

    // A handle sees its own write at once, though it was had before it.
    let own = handle(&store).await;
    assert_eq!(page_views(&own).await, 8);
    own.ingest(views(8, 2, "lp-a"), Utc::now()).await.unwrap();
    assert_eq!(page_views(&own).await, 10);

    // Resending stored events changes nothing and keeps the data version.
    let before = handle(&store).await.workspace().data_version;
    let again = own.ingest(views(0, 10, "lp-a"), Utc::now()).await.unwrap();
    assert_eq!(again.accepted, 0);
    assert_eq!(handle(&store).await.workspace().data_version, before);

    // The catalog: moving the webinar's landing page moves its funnel's viewers
    // (7 visitors viewed lp-a, 3 viewed lp-b), with no event written.
    let funnel = |ws: WorkspaceStore| async move {
        ws.funnel(&id("webinar"), &KpiFilter::default())
            .await
            .unwrap()
            .landing_viewers
    };
    assert_eq!(funnel(handle(&store).await).await, 7);
    handle(&store)
        .await
        .update_asset(
            &id("webinar"),
            AssetChanges {
                landing_page: Some(id("lp-b")),
                ..AssetChanges::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(funnel(handle(&store).await).await, 3, "lp-b's visitors");
    handle(&store)
        .await
        .ingest(views(10, 6, "lp-b"), Utc::now())
        .await
        .unwrap();
    assert_eq!(funnel(handle(&store).await).await, 9);

    // Spend.
    let day = NaiveDate::from_ymd_opt(2026, 5, 4).unwrap();
    let spend =
        |ws: WorkspaceStore| async move { ws.spend_total(&KpiFilter::default()).await.unwrap() };
    assert_eq!(spend(handle(&store).await).await, spent(None, &[]));
    handle(&store)
        .await
        .record_spend(&id("launch"), "email", day, 120.0)
        .await
        .unwrap();
    assert_eq!(spend(handle(&store).await).await, spent(None, &[120.0]));
    handle(&store)
        .await
        .record_spend(&id("launch"), "email", day, 80.0)
        .await
        .unwrap();
    assert_eq!(
        spend(handle(&store).await).await,
        spent(None, &[80.0]),
        "replaced"
    );

    // Another process: its own store and cache on the same database. Both have the
    // answer cached; a write through one is seen through the other.
    let other = db.store().await;
    assert_eq!(page_views(&handle(&other).await).await, 16);
    assert_eq!(page_views(&handle(&store).await).await, 16);
    handle(&other)
        .await
        .ingest(views(16, 4, "lp-a"), Utc::now())
        .await
        .unwrap();
    assert_eq!(page_views(&handle(&store).await).await, 20);
    assert_eq!(page_views(&handle(&other).await).await, 20);
}

/// Attendance of `contact` of `organization` (message id `id`).
fn attended(id: &str, contact: &str, organization: &str) -> NewEvent {
    EventDraft {
        message_id: Some(id.into()),
        kind: Some("ATTENDANCE".into()),
        occurred_at: Some(at(1).to_rfc3339()),
        contact_id: Some(contact.into()),
        organization_id: Some(organization.into()),
        asset_id: Some("webinar".into()),
        value: Some(600.0),
        ..EventDraft::default()
    }
    .validate(&EventLimits::default(), Utc::now())
    .unwrap()
}

/// The ranked short list is computed once per data version: asking again (the next
/// page, the next dashboard) gets the very same list; a write brings a new one.
async fn the_short_list_is_computed_once_per_data_version(backend: Backend) {
    let Some((_db, store, ws)) = fresh_workspace(backend).await else {
        return;
    };
    ws.ingest(
        vec![
            attended("a1", "ann", "acme"),
            attended("a2", "bob", "acme"),
            attended("g1", "gil", "globex"),
        ],
        Utc::now(),
    )
    .await
    .unwrap();
    let filter = KpiFilter::default();
    let first = handle(&store).await.short_list(&filter).await.unwrap();
    let again = handle(&store).await.short_list(&filter).await.unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &again), "not recomputed");
    let order = |list: &[hourglass_core::depth::Ranked]| -> Vec<(String, u64)> {
        list.iter()
            .map(|r| (r.organization.id.clone(), r.depth.parts.attendees))
            .collect()
    };
    assert_eq!(
        order(&first),
        vec![("acme".to_owned(), 2), ("globex".to_owned(), 1)]
    );

    // Three globex attendees now: globex leads, in the very next answer.
    handle(&store)
        .await
        .ingest(
            vec![
                attended("g2", "gus", "globex"),
                attended("g3", "gwen", "globex"),
            ],
            Utc::now(),
        )
        .await
        .unwrap();
    let after = handle(&store).await.short_list(&filter).await.unwrap();
    assert_eq!(
        order(&after),
        vec![("globex".to_owned(), 3), ("acme".to_owned(), 2)]
    );
}

on_both_backends!(
    answers_follow_every_kind_of_write,
    the_short_list_is_computed_once_per_data_version,
);
