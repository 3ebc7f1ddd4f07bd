//! The small demo (today's default): three campaigns (one per goal), a webinar with
//! its landing page, several channels, 50 organizations, 2,000 contacts, anonymous
//! visitors, and about 100,000 events over one quarter. Tests depend on its numbers:
//! change it only together with them.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use hourglass_core::{AssetKind, Goal};
use hourglass_storage::{NewAsset, NewCampaign, NewOrganization, WorkspaceStore};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{id, ignore_existing};

pub(super) const ORGANIZATIONS: usize = 50;
pub(super) const CONTACTS: usize = 2_000;
/// Contacts beyond this index belong to no organization (freelancers, gmail users).
pub(super) const CONTACTS_IN_ORGANIZATIONS: usize = 1_800;
pub(super) const ANONYMOUS_VISITORS: usize = 4_000;
pub(super) const DAYS: i64 = 92;
pub(super) const WEBINAR_SECONDS: i32 = 3_600;

pub(super) fn quarter_start() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2026, 7, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or_default()
}

/// Creates what the demo describes, leaving anything already there alone.
pub(super) async fn describe_catalog(ws: &WorkspaceStore) -> anyhow::Result<()> {
    let start = quarter_start();
    for (key, name, goal, budget) in [
        (
            "q3-webinar",
            "Q3 webinar: Pipeline by design",
            Goal::Find,
            12_000.0,
        ),
        (
            "customer-onboarding",
            "Customer onboarding videos",
            Goal::Keep,
            3_000.0,
        ),
        (
            "upsell-analytics",
            "Upsell: analytics add-on",
            Goal::Grow,
            5_000.0,
        ),
    ] {
        ignore_existing(
            ws.create_campaign(NewCampaign {
                id: id(key)?,
                name: name.into(),
                goal,
                starts_at: Some(start),
                ends_at: Some(start + Duration::days(DAYS)),
                budget: Some(budget),
                currency: Some("EUR".into()),
            })
            .await,
        )?;
    }
    let asset = |key: &str,
                 kind,
                 title: &str,
                 duration,
                 landing_page: Option<&str>|
     -> anyhow::Result<NewAsset> {
        Ok(NewAsset {
            id: id(key)?,
            kind,
            title: Some(title.into()),
            url: Some(format!("https://northwind.example/{key}")),
            duration_seconds: duration,
            landing_page: landing_page.map(id).transpose()?,
        })
    };
    for new in [
        asset(
            "lp-webinar",
            AssetKind::LandingPage,
            "Register: Pipeline by design",
            None,
            None,
        )?,
        asset(
            "webinar-pipeline",
            AssetKind::Webinar,
            "Pipeline by design (live)",
            Some(WEBINAR_SECONDS),
            Some("lp-webinar"),
        )?,
        asset(
            "article-hourglass",
            AssetKind::Article,
            "Why the funnel becomes an hourglass",
            None,
            None,
        )?,
        asset(
            "whitepaper-abm",
            AssetKind::Whitepaper,
            "Account-based marketing that sales trusts",
            None,
            None,
        )?,
        asset(
            "video-onboarding",
            AssetKind::Video,
            "Getting started in 15 minutes",
            Some(900),
            None,
        )?,
        asset(
            "email-upsell",
            AssetKind::Email,
            "Meet the analytics add-on",
            None,
            None,
        )?,
        asset(
            "ad-linkedin",
            AssetKind::Ad,
            "Pipeline by design: save your seat",
            None,
            None,
        )?,
        asset(
            "post-social",
            AssetKind::SocialPost,
            "5 signs your funnel is an hourglass",
            None,
            None,
        )?,
    ] {
        ignore_existing(ws.create_asset(new).await)?;
    }
    for (i, (name, domain)) in organization_names().into_iter().enumerate() {
        ignore_existing(
            ws.create_organization(NewOrganization {
                id: id(&format!("org-{:03}", i + 1))?,
                name: Some(name),
                domain: Some(domain),
            })
            .await,
        )?;
    }
    Ok(())
}

pub(super) fn organization_names() -> Vec<(String, String)> {
    const FIRST: [&str; 10] = [
        "Acme",
        "Globex",
        "Initech",
        "Umbrella",
        "Stark",
        "Wayne",
        "Tyrell",
        "Cyberdyne",
        "Soylent",
        "Hooli",
    ];
    const SECOND: [&str; 5] = ["Logistics", "Health", "Finance", "Robotics", "Foods"];
    FIRST
        .iter()
        .flat_map(|a| SECOND.iter().map(move |b| (*a, *b)))
        .take(ORGANIZATIONS)
        .map(|(a, b)| {
            (
                format!("{a} {b}"),
                format!("{}-{}.example", a.to_lowercase(), b.to_lowercase()),
            )
        })
        .collect()
}

pub(super) async fn record_spend(ws: &WorkspaceStore, seed: u64) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let start = quarter_start().date_naive();
    for day in 0..DAYS {
        let date = start + Duration::days(day);
        for (campaign, channel, base) in [
            ("q3-webinar", "social", 80.0),
            ("q3-webinar", "paid_search", 45.0),
            ("customer-onboarding", "email", 10.0),
            ("upsell-analytics", "email", 25.0),
        ] {
            let amount = (base * rng.random_range(0.6..1.4f64) * 100.0).round() / 100.0;
            ws.record_spend(&id(campaign)?, channel, date, amount)
                .await?;
        }
    }
    Ok(())
}
