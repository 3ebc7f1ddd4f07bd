//! The small demo's events: awareness, a webinar funnel, content and advocacy.

use chrono::{DateTime, Duration, Utc};
use hourglass_core::EventDraft;
use hourglass_core::event::ContactTraitsDraft;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::small::{
    ANONYMOUS_VISITORS, CONTACTS, CONTACTS_IN_ORGANIZATIONS, DAYS, ORGANIZATIONS, WEBINAR_SECONDS,
    organization_names, quarter_start,
};

/// Who did something: a contact (with their organization) or an anonymous visitor.
#[derive(Clone, Copy)]
enum Who {
    Contact(usize),
    Anonymous(usize),
}

pub(super) struct Generator {
    rng: StdRng,
    scale: f64,
    seq: u64,
    organization_of: Vec<Option<usize>>,
    /// Whether a contact's traits went out already: with their first event, as a
    /// tracker that identifies people would send them.
    described: Vec<bool>,
    domains: Vec<String>,
    events: Vec<EventDraft>,
}

impl Generator {
    pub(super) fn new(seed: u64, target_events: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        // A few large accounts and a long tail: index drawn with a skewed power.
        let organization_of = (0..CONTACTS)
            .map(|i| {
                (i < CONTACTS_IN_ORGANIZATIONS)
                    .then(|| ((rng.random::<f64>().powf(1.8)) * ORGANIZATIONS as f64) as usize)
            })
            .collect();
        Self {
            rng,
            scale: target_events as f64 / 100_000.0,
            seq: 0,
            organization_of,
            described: vec![false; CONTACTS],
            domains: organization_names().into_iter().map(|(_, d)| d).collect(),
            events: Vec::with_capacity(target_events + target_events / 10),
        }
    }

    fn scaled(&self, n: f64) -> usize {
        (n * self.scale).round() as usize
    }

    fn random_time(&mut self) -> DateTime<Utc> {
        quarter_start() + Duration::seconds(self.rng.random_range(0..DAYS * 86_400))
    }

    fn random_person(&mut self, contact_share: f64) -> Who {
        if self.rng.random_bool(contact_share) {
            Who::Contact(self.rng.random_range(0..CONTACTS))
        } else {
            Who::Anonymous(self.rng.random_range(0..ANONYMOUS_VISITORS))
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        kind: &str,
        at: DateTime<Utc>,
        who: Who,
        campaign: Option<&str>,
        asset: Option<&str>,
        channel: Option<&str>,
        value: Option<f64>,
        properties: Option<serde_json::Value>,
    ) {
        self.seq += 1;
        let contact_traits = match who {
            Who::Contact(c) if !std::mem::replace(&mut self.described[c], true) => {
                Some(self.traits_of(c))
            }
            _ => None,
        };
        let (contact_id, anonymous_id, organization_id) = match who {
            Who::Contact(c) => (
                Some(format!("c-{:04}", c + 1)),
                None,
                self.organization_of[c].map(|o| format!("org-{:03}", o + 1)),
            ),
            Who::Anonymous(a) => (None, Some(format!("anon-{:05}", a + 1)), None),
        };
        self.events.push(EventDraft {
            message_id: Some(format!("demo-{:07}", self.seq)),
            kind: Some(kind.into()),
            occurred_at: Some(at.to_rfc3339()),
            contact_id,
            anonymous_id,
            organization_id,
            campaign_id: campaign.map(Into::into),
            asset_id: asset.map(Into::into),
            channel: channel.map(Into::into),
            value,
            properties,
            contact_traits,
        });
    }

    /// A made-up but plausible name, job title and work address for contact `c`
    /// (drawn from `c` alone, so that the events stay the same whatever is drawn).
    fn traits_of(&self, c: usize) -> ContactTraitsDraft {
        const FIRST: [&str; 20] = [
            "Ada", "Ben", "Chloe", "Dev", "Elif", "Femi", "Greta", "Hiro", "Ines", "Jonas",
            "Kemal", "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara",
        ];
        const LAST: [&str; 25] = [
            "Adler", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haas", "Ito",
            "Jansen", "Kowalski", "Larsen", "Moreau", "Novak", "Okafor", "Petrov", "Quist",
            "Rossi", "Silva", "Tanaka", "Ueda", "Varga", "Weber", "Xu", "Young",
        ];
        const TITLES: [&str; 7] = [
            "Head of Marketing",
            "Marketing Manager",
            "CFO",
            "VP Sales",
            "Operations Lead",
            "Data Analyst",
            "CEO",
        ];
        let (first, last) = (FIRST[c % FIRST.len()], LAST[(c / FIRST.len()) % LAST.len()]);
        let domain = self.organization_of[c]
            .and_then(|o| self.domains.get(o).cloned())
            .unwrap_or_else(|| "mail.example".to_owned());
        ContactTraitsDraft {
            email: Some(format!(
                "{}.{}{}@{domain}",
                first.to_lowercase(),
                last.to_lowercase(),
                c + 1
            )),
            name: Some(format!("{first} {last}")),
            title: Some(TITLES[c % TITLES.len()].to_owned()),
        }
    }

    pub(super) fn generate(mut self) -> Vec<EventDraft> {
        self.awareness_and_engagement();
        self.webinar_funnel();
        self.content_and_advocacy();
        self.events
    }

    /// Ads, social posts and e-mails seen, and what people did with them.
    fn awareness_and_engagement(&mut self) {
        let placements = [
            ("ad-linkedin", "q3-webinar", "social", 0.45, 0.025),
            ("post-social", "q3-webinar", "social", 0.35, 0.015),
            ("email-upsell", "upsell-analytics", "email", 0.20, 0.06),
        ];
        let impressions = self.scaled(55_000.0);
        for _ in 0..impressions {
            let pick = self.rng.random::<f64>();
            let (asset, campaign, channel, _, ctr) = if pick < placements[0].3 {
                placements[0]
            } else if pick < placements[0].3 + placements[1].3 {
                placements[1]
            } else {
                placements[2]
            };
            // E-mails go to known contacts; ads and posts reach anyone.
            let who = if channel == "email" {
                Who::Contact(self.rng.random_range(0..CONTACTS))
            } else {
                self.random_person(0.55)
            };
            let at = self.random_time();
            self.push(
                "IMPRESSION",
                at,
                who,
                Some(campaign),
                Some(asset),
                Some(channel),
                None,
                None,
            );
            let later = at + Duration::seconds(self.rng.random_range(5..600));
            if self.rng.random_bool(ctr) {
                self.push(
                    "CLICK",
                    later,
                    who,
                    Some(campaign),
                    Some(asset),
                    Some(channel),
                    None,
                    None,
                );
            }
            if channel == "social" {
                let roll = self.rng.random::<f64>();
                if roll < 0.02 {
                    self.push(
                        "LIKE",
                        later,
                        who,
                        Some(campaign),
                        Some(asset),
                        Some(channel),
                        None,
                        None,
                    );
                } else if roll < 0.026 {
                    let recipient = self.colleague_of(who);
                    self.push(
                        "SHARE",
                        later,
                        who,
                        Some(campaign),
                        Some(asset),
                        Some(channel),
                        None,
                        recipient,
                    );
                } else if roll < 0.030 {
                    self.push(
                        "REPOST",
                        later,
                        who,
                        Some(campaign),
                        Some(asset),
                        Some(channel),
                        None,
                        None,
                    );
                } else if roll < 0.033 {
                    self.push(
                        "COMMENT",
                        later,
                        who,
                        Some(campaign),
                        Some(asset),
                        Some(channel),
                        None,
                        None,
                    );
                }
            }
        }
    }

    /// A share's recipient: often a colleague (internal share), sometimes an outsider.
    fn colleague_of(&mut self, who: Who) -> Option<serde_json::Value> {
        let Who::Contact(c) = who else { return None };
        let org = self.organization_of[c]?;
        if self.rng.random_bool(0.6) {
            let colleague = (0..CONTACTS_IN_ORGANIZATIONS)
                .cycle()
                .skip(self.rng.random_range(0..CONTACTS_IN_ORGANIZATIONS))
                .take(CONTACTS_IN_ORGANIZATIONS)
                .find(|&other| other != c && self.organization_of[other] == Some(org))?;
            Some(json!({ "recipient": format!("c-{:04}", colleague + 1) }))
        } else {
            Some(json!({ "recipient": "someone@elsewhere.example" }))
        }
    }

    /// Landing page → registration → attendance → questions, and the stages that follow.
    fn webinar_funnel(&mut self) {
        let campaign = Some("q3-webinar");
        let webinar = Some("webinar-pipeline");
        let landing_views = self.scaled(6_000.0);
        let mut registered = vec![false; CONTACTS];
        for _ in 0..landing_views {
            let who = self.random_person(0.7);
            let at = self.random_time();
            let channel = if self.rng.random_bool(0.6) {
                "social"
            } else {
                "email"
            };
            self.push(
                "PAGE_VIEW",
                at,
                who,
                campaign,
                Some("lp-webinar"),
                Some(channel),
                None,
                None,
            );
            if let Who::Contact(c) = who
                && !registered[c]
                && self.rng.random_bool(0.22)
            {
                registered[c] = true;
                let at = at + Duration::seconds(self.rng.random_range(30..900));
                self.push(
                    "REGISTRATION",
                    at,
                    who,
                    campaign,
                    webinar,
                    Some("webinar"),
                    None,
                    None,
                );
                self.push(
                    "STAGE_CHANGE",
                    at,
                    who,
                    campaign,
                    None,
                    None,
                    None,
                    Some(json!({ "to": "LEAD", "from": "VISITOR" })),
                );
            }
        }
        let live = quarter_start() + Duration::days(60) + Duration::hours(15);
        let registrants: Vec<usize> = (0..CONTACTS).filter(|&c| registered[c]).collect();
        for c in registrants {
            if !self.rng.random_bool(0.55) {
                continue;
            }
            let who = Who::Contact(c);
            let full = self.rng.random_bool(0.4);
            let seconds = if full {
                self.rng.random_range(3_300..=WEBINAR_SECONDS)
            } else {
                self.rng.random_range(300..3_000)
            };
            // Some attendees drop out and rejoin: two attendance events that add up.
            if self.rng.random_bool(0.2) {
                let first = seconds / 3;
                self.push(
                    "ATTENDANCE",
                    live,
                    who,
                    campaign,
                    webinar,
                    Some("webinar"),
                    Some(f64::from(first)),
                    None,
                );
                self.push(
                    "ATTENDANCE",
                    live + Duration::seconds(i64::from(first) + 60),
                    who,
                    campaign,
                    webinar,
                    Some("webinar"),
                    Some(f64::from(seconds - first)),
                    None,
                );
            } else {
                self.push(
                    "ATTENDANCE",
                    live,
                    who,
                    campaign,
                    webinar,
                    Some("webinar"),
                    Some(f64::from(seconds)),
                    None,
                );
            }
            let during = live + Duration::seconds(i64::from(seconds / 2));
            if self.rng.random_bool(0.15) {
                self.push(
                    "QUESTION",
                    during,
                    who,
                    campaign,
                    webinar,
                    Some("webinar"),
                    None,
                    Some(json!({ "text": "How do we score accounts?" })),
                );
            }
            if self.rng.random_bool(0.08) {
                self.push(
                    "INFO_REQUEST",
                    during + Duration::hours(20),
                    who,
                    campaign,
                    webinar,
                    Some("email"),
                    None,
                    None,
                );
            }
            let after = live + Duration::days(self.rng.random_range(2..20));
            let ladder = [
                ("MQL", 0.30),
                ("SQL", 0.35),
                ("OPPORTUNITY", 0.45),
                ("CUSTOMER", 0.4),
            ];
            let mut from = "LEAD";
            for (step, (stage, p)) in ladder.iter().enumerate() {
                if !self.rng.random_bool(*p) {
                    break;
                }
                let at = after + Duration::days(step as i64 * 4);
                self.push(
                    "STAGE_CHANGE",
                    at,
                    who,
                    campaign,
                    None,
                    None,
                    None,
                    Some(json!({ "to": stage, "from": from })),
                );
                from = stage;
                if *stage == "CUSTOMER" {
                    let amount = f64::from(self.rng.random_range(8..60) * 1_000);
                    self.push(
                        "REVENUE",
                        at,
                        who,
                        campaign,
                        None,
                        None,
                        Some(amount),
                        Some(json!({ "currency": "EUR", "deal": format!("deal-{:04}", c + 1) })),
                    );
                }
            }
        }
    }

    /// Articles, whitepapers, onboarding videos, and the voice of customers.
    fn content_and_advocacy(&mut self) {
        for _ in 0..self.scaled(24_000.0) {
            let who = self.random_person(0.5);
            let at = self.random_time();
            let channel = if self.rng.random_bool(0.7) {
                "organic"
            } else {
                "social"
            };
            self.push(
                "PAGE_VIEW",
                at,
                who,
                None,
                Some("article-hourglass"),
                Some(channel),
                None,
                None,
            );
            if self.rng.random_bool(0.05) {
                let who = Who::Contact(self.rng.random_range(0..CONTACTS));
                self.push(
                    "DOWNLOAD",
                    at,
                    who,
                    Some("q3-webinar"),
                    Some("whitepaper-abm"),
                    Some(channel),
                    None,
                    None,
                );
            }
        }
        for _ in 0..self.scaled(2_500.0) {
            let who = Who::Contact(self.rng.random_range(0..CONTACTS));
            let at = self.random_time();
            self.push(
                "PAGE_VIEW",
                at,
                who,
                Some("customer-onboarding"),
                Some("video-onboarding"),
                Some("email"),
                None,
                None,
            );
        }
        for _ in 0..self.scaled(450.0) {
            let c = self.rng.random_range(0..CONTACTS / 4);
            let score = [10, 10, 9, 9, 9, 8, 8, 7, 7, 6, 5, 3][self.rng.random_range(0..12)];
            let at = self.random_time();
            self.push(
                "SURVEY_RESPONSE",
                at,
                Who::Contact(c),
                Some("customer-onboarding"),
                None,
                Some("email"),
                Some(f64::from(score)),
                Some(json!({ "survey": "nps-q3" })),
            );
        }
        for (kind, n) in [
            ("MENTION", 220.0),
            ("REFERRAL", 40.0),
            ("TESTIMONIAL", 15.0),
        ] {
            for _ in 0..self.scaled(n) {
                let c = self.rng.random_range(0..CONTACTS);
                let at = self.random_time();
                let properties = (kind == "REFERRAL").then(|| {
                    json!({ "referred": format!("org-{:03}", self.rng.random_range(1..=ORGANIZATIONS)) })
                });
                self.push(
                    kind,
                    at,
                    Who::Contact(c),
                    Some("upsell-analytics"),
                    None,
                    Some("referral"),
                    None,
                    properties,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use hourglass_core::EventLimits;

    use super::*;

    #[test]
    fn the_demo_is_deterministic_and_about_the_size_asked_for() {
        let a = Generator::new(7, 100_000).generate();
        let b = Generator::new(7, 100_000).generate();
        assert_eq!(a, b);
        assert!((90_000..115_000).contains(&a.len()), "{} events", a.len());
        let now = Utc::now();
        assert!(
            a.iter()
                .all(|d| d.clone().validate(&EventLimits::default(), now).is_ok())
        );
    }
}
