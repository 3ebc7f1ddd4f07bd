//! What the B2B-shaped demo describes before its events: the population (how many
//! organizations, contacts and anonymous visitors a size gets), twenty campaigns with
//! their assets, the organizations, and spend per campaign, channel and day.
//!
//! It is plain data so that two loaders can use it: the library's `hourglass demo`
//! (through `WorkspaceStore`) and the bench (through GraphQL mutations, because the
//! bench may only use public interfaces).

use chrono::{DateTime, Duration, NaiveDate, TimeZone as _, Utc};
use chrono_tz::Tz;
use hourglass_core::{AssetKind, Goal};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The five channels the B2B demo uses.
pub const CHANNELS: [&str; 5] = ["email", "social", "paid_search", "organic", "webinar"];

/// The business-hour time zones of organizations, visitors and webinars.
pub const ZONES: [Tz; 3] = [
    chrono_tz::Europe::Berlin,
    chrono_tz::America::New_York,
    chrono_tz::Asia::Kolkata,
];

/// How many campaigns the B2B demo runs.
pub const CAMPAIGNS: usize = 20;
/// Days of data: about one year, ending in the past.
pub const DAYS: i64 = 365;
/// How long each campaign runs.
pub const CAMPAIGN_DAYS: i64 = 90;
/// When the webinar of a campaign goes live, in days after the campaign starts.
pub const WEBINAR_AFTER_DAYS: i64 = 45;

/// The first instant of the demo year (UTC).
pub fn year_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// How many people and accounts a size gets. At 10,000,000 events: 10,000
/// organizations, 100,000 contacts and 200,000 anonymous visitors; smaller sizes
/// scale down (never below a few hundred), so a 100,000-event run is not all tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Population {
    pub organizations: usize,
    pub contacts: usize,
    pub anonymous_visitors: usize,
}

impl Population {
    pub fn for_events(events: u64) -> Self {
        let events = usize::try_from(events).unwrap_or(usize::MAX);
        Self {
            organizations: (events / 1_000).clamp(200, 10_000),
            contacts: (events / 100).clamp(2_000, 100_000),
            anonymous_visitors: (events / 50).clamp(4_000, 1_000_000),
        }
    }
}

/// A campaign of the demo, with the facts its events are generated from.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignSpec {
    pub id: String,
    pub name: String,
    pub goal: Goal,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub budget: f64,
    /// Where its ads and e-mails go (the channels spend is recorded for).
    pub paid_channels: [&'static str; 2],
    /// The zone whose afternoon the webinar is held in.
    pub zone: Tz,
    /// The webinar starts at this instant and lasts `webinar_seconds`.
    pub webinar_live: DateTime<Utc>,
    pub webinar_seconds: i32,
}

impl CampaignSpec {
    pub fn landing_page(&self) -> String {
        format!("lp-{}", self.id)
    }
    pub fn webinar(&self) -> String {
        format!("webinar-{}", self.id)
    }
    pub fn ad(&self) -> String {
        format!("ad-{}", self.id)
    }
    /// Articles, videos and whitepapers, in that order.
    pub fn content(&self) -> [String; 3] {
        [
            format!("article-{}", self.id),
            format!("video-{}", self.id),
            format!("whitepaper-{}", self.id),
        ]
    }
}

/// An asset to describe.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetSpec {
    pub id: String,
    pub kind: AssetKind,
    pub title: String,
    pub duration_seconds: Option<i32>,
    pub landing_page: Option<String>,
}

/// What one campaign spent in one channel on one UTC day.
#[derive(Debug, Clone, PartialEq)]
pub struct SpendSpec {
    pub campaign: String,
    pub channel: &'static str,
    pub day: NaiveDate,
    pub amount: f64,
}

const TOPICS: [&str; 10] = [
    "Pipeline by design",
    "Account scoring",
    "Intent data",
    "Revenue operations",
    "Customer health",
    "Onboarding at scale",
    "Expansion plays",
    "Partner marketing",
    "Field events",
    "Product-led growth",
];

/// The twenty campaigns: half FIND, a quarter KEEP, a quarter GROW, starting every
/// 13 days through the year so that they overlap.
pub fn campaigns() -> Vec<CampaignSpec> {
    (0..CAMPAIGNS)
        .map(|i| {
            let goal = match i % 4 {
                0 | 1 => Goal::Find,
                2 => Goal::Keep,
                _ => Goal::Grow,
            };
            let paid_channels = match goal {
                Goal::Find => ["paid_search", "social"],
                Goal::Keep => ["email", "social"],
                Goal::Grow => ["email", "paid_search"],
            };
            let starts_at = year_start() + Duration::days(i as i64 * 13);
            let zone = ZONES[i % ZONES.len()];
            let live_day = (starts_at + Duration::days(WEBINAR_AFTER_DAYS)).date_naive();
            let webinar_live = live_day
                .and_hms_opt(16, 0, 0)
                .and_then(|t| zone.from_local_datetime(&t).earliest())
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or(starts_at);
            CampaignSpec {
                id: format!("camp-{:02}", i + 1),
                name: format!("{} ({})", TOPICS[i % TOPICS.len()], i / TOPICS.len() + 1),
                goal,
                starts_at,
                ends_at: starts_at + Duration::days(CAMPAIGN_DAYS),
                budget: 5_000.0 + 1_000.0 * (i % 7) as f64,
                paid_channels,
                zone,
                webinar_live,
                webinar_seconds: [3_600, 5_400, 2_700][i % 3],
            }
        })
        .collect()
}

/// Six assets per campaign: a landing page, the webinar it promotes, an ad, an
/// article, a video and a whitepaper.
pub fn assets(campaigns: &[CampaignSpec]) -> Vec<AssetSpec> {
    campaigns
        .iter()
        .flat_map(|c| {
            let [article, video, whitepaper] = c.content();
            [
                AssetSpec {
                    id: c.landing_page(),
                    kind: AssetKind::LandingPage,
                    title: format!("Register: {}", c.name),
                    duration_seconds: None,
                    landing_page: None,
                },
                AssetSpec {
                    id: c.webinar(),
                    kind: AssetKind::Webinar,
                    title: format!("{} (live)", c.name),
                    duration_seconds: Some(c.webinar_seconds),
                    landing_page: Some(c.landing_page()),
                },
                AssetSpec {
                    id: c.ad(),
                    kind: AssetKind::Ad,
                    title: format!("Ad: {}", c.name),
                    duration_seconds: None,
                    landing_page: None,
                },
                AssetSpec {
                    id: article,
                    kind: AssetKind::Article,
                    title: format!("Why {} matters", c.name),
                    duration_seconds: None,
                    landing_page: None,
                },
                AssetSpec {
                    id: video,
                    kind: AssetKind::Video,
                    title: format!("{} in ten minutes", c.name),
                    duration_seconds: Some(600),
                    landing_page: None,
                },
                AssetSpec {
                    id: whitepaper,
                    kind: AssetKind::Whitepaper,
                    title: format!("The {} handbook", c.name),
                    duration_seconds: None,
                    landing_page: None,
                },
            ]
        })
        .collect()
}

/// The external id of the organization ranked `rank` (0 = largest).
pub fn organization_id(rank: usize) -> String {
    format!("org-{:05}", rank + 1)
}

/// A made-up but stable company name and domain for the organization of `rank`.
pub fn organization_name(rank: usize) -> (String, String) {
    const FIRST: [&str; 16] = [
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
        "Vandelay",
        "Wonka",
        "Oscorp",
        "Gringotts",
        "Duff",
        "Nakatomi",
    ];
    const SECOND: [&str; 8] = [
        "Logistics",
        "Health",
        "Finance",
        "Robotics",
        "Foods",
        "Energy",
        "Media",
        "Systems",
    ];
    let first = FIRST[rank % FIRST.len()];
    let second = SECOND[(rank / FIRST.len()) % SECOND.len()];
    let series = rank / (FIRST.len() * SECOND.len());
    (
        format!("{first} {second} {}", series + 1),
        format!(
            "{}-{}-{}.example",
            first.to_lowercase(),
            second.to_lowercase(),
            series + 1
        ),
    )
}

/// Spend per campaign, paid channel and UTC day over each campaign's run.
pub fn spend(campaigns: &[CampaignSpec], seed: u64) -> Vec<SpendSpec> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x05ee_db2b);
    let mut rows = Vec::new();
    for (i, c) in campaigns.iter().enumerate() {
        let base = 40.0 + 10.0 * (i % 5) as f64;
        for day in 0..CAMPAIGN_DAYS {
            let date = (c.starts_at + Duration::days(day)).date_naive();
            for channel in c.paid_channels {
                let amount = (base * rng.random_range(0.5..1.5f64) * 100.0).round() / 100.0;
                rows.push(SpendSpec {
                    campaign: c.id.clone(),
                    channel,
                    day: date,
                    amount,
                });
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_campaigns_mix_the_three_goals_and_each_webinar_has_its_landing_page() {
        let campaigns = campaigns();
        assert_eq!(campaigns.len(), CAMPAIGNS);
        for goal in [Goal::Find, Goal::Keep, Goal::Grow] {
            assert!(campaigns.iter().filter(|c| c.goal == goal).count() >= 5);
        }
        let assets = assets(&campaigns);
        let webinars: Vec<_> = assets
            .iter()
            .filter(|a| a.kind == AssetKind::Webinar)
            .collect();
        assert_eq!(webinars.len(), CAMPAIGNS);
        assert!(webinars.iter().all(|w| {
            w.duration_seconds.is_some()
                && w.landing_page
                    .as_deref()
                    .is_some_and(|lp| lp.starts_with("lp-"))
        }));
        let end = year_start() + Duration::days(DAYS + CAMPAIGN_DAYS);
        assert!(campaigns.iter().all(|c| c.webinar_live < end));
    }

    #[test]
    fn the_population_grows_with_the_size_up_to_ten_thousand_organizations() {
        let big = Population::for_events(10_000_000);
        assert_eq!(big.organizations, 10_000);
        assert_eq!(big.anonymous_visitors, 200_000);
        let small = Population::for_events(100_000);
        assert!(small.organizations < big.organizations);
    }
}
