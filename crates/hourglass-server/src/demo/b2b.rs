//! The B2B-shaped demo's events, streamed in batches so that 10,000,000 of them never
//! sit in memory at once.
//!
//! The shape is what a B2B marketing team sees: a few large accounts and a long
//! Zipf-like tail of organizations (contacts per organization, and so activity,
//! proportional to size); many anonymous visitors; anonymous visitors who later become
//! contacts (the same person sends events under an anonymous id, then under a contact
//! id); webinars whose registrations build up in the weeks before the date and whose
//! attendance, with seconds attended and questions, falls in the live window;
//! stage changes, survey responses, revenue; business hours in Berlin, New York and
//! Kolkata over one year. The same seed gives the same events and message ids, so a
//! second load stores nothing new.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use hourglass_core::EventDraft;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::b2b_catalog::{
    CampaignSpec, DAYS, Population, ZONES, campaigns, organization_id, year_start,
};

/// Zipf exponent of organization sizes: 1 makes the top 1 % of 10,000 organizations
/// hold about half of the contacts (and so of the activity).
const ZIPF_EXPONENT: f64 = 1.0;
/// Share of contacts that belong to no organization (freelancers, webmail users).
const UNAFFILIATED_SHARE: f64 = 0.05;
/// One contact in this many was first an anonymous visitor.
const CONVERTED_EVERY: u64 = 3;
/// Share of journeys made by anonymous visitors who never identify themselves.
const ANONYMOUS_JOURNEYS: f64 = 0.45;

/// Who acts in a journey.
#[derive(Debug, Clone, Copy)]
enum Person {
    /// An anonymous visitor by index.
    Visitor(usize),
    /// A contact by global index.
    Contact(usize),
}

/// The identity fields an event carries.
struct Identity {
    contact: Option<String>,
    anonymous: Option<String>,
    organization: Option<String>,
}

/// What one event is about, besides who and when.
#[derive(Clone, Copy)]
struct Touch<'a> {
    campaign: &'a str,
    asset: Option<&'a str>,
    channel: Option<&'a str>,
}

/// An iterator of event batches; the last batch may be shorter.
#[derive(Debug)]
pub struct B2bEvents {
    rng: StdRng,
    seed: u64,
    target: u64,
    emitted: u64,
    batch_size: usize,
    pending: Vec<EventDraft>,
    campaigns: Arc<Vec<CampaignSpec>>,
    population: Population,
    /// Cumulative Zipf weights of organizations, largest first.
    org_cumulative: Vec<f64>,
    /// `contact_start[r]..contact_start[r + 1]` are organization `r`'s contacts;
    /// contacts from `contact_start[organizations]` on belong to none.
    contact_start: Vec<usize>,
    contacts: usize,
}

impl B2bEvents {
    /// Exactly `events` events for `seed`, handed out `batch_size` at a time.
    pub fn new(seed: u64, events: u64, batch_size: usize) -> Self {
        let population = Population::for_events(events);
        let weights: Vec<f64> = (0..population.organizations)
            .map(|r| 1.0 / ((r + 1) as f64).powf(ZIPF_EXPONENT))
            .collect();
        let total: f64 = weights.iter().sum();
        let mut org_cumulative = Vec::with_capacity(weights.len());
        let mut running = 0.0;
        for w in &weights {
            running += w / total;
            org_cumulative.push(running);
        }
        let affiliated = population.contacts as f64 * (1.0 - UNAFFILIATED_SHARE);
        let mut contact_start = Vec::with_capacity(weights.len() + 1);
        let mut next = 0;
        for w in &weights {
            contact_start.push(next);
            next += ((affiliated * w / total).round() as usize).max(1);
        }
        contact_start.push(next);
        let contacts = next + (population.contacts as f64 * UNAFFILIATED_SHARE) as usize;
        Self {
            rng: StdRng::seed_from_u64(seed),
            seed,
            target: events,
            emitted: 0,
            batch_size: batch_size.max(1),
            pending: Vec::with_capacity(batch_size + 64),
            campaigns: Arc::new(campaigns()),
            population,
            org_cumulative,
            contact_start,
            contacts,
        }
    }

    /// The people and accounts this run draws from.
    pub fn population(&self) -> Population {
        self.population
    }

    /// A stable per-contact hash, so a contact's conversion never depends on the
    /// order events are generated in.
    fn contact_hash(&self, contact: usize) -> u64 {
        let mut x = self.seed ^ (contact as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    }

    /// When a contact who was first anonymous identified themselves, if they were.
    fn converted_at(&self, contact: usize) -> Option<DateTime<Utc>> {
        let h = self.contact_hash(contact);
        h.is_multiple_of(CONVERTED_EVERY)
            .then(|| year_start() + Duration::seconds(((h >> 8) % (DAYS as u64 * 86_400)) as i64))
    }

    fn organization_of(&self, contact: usize) -> Option<usize> {
        let organizations = self.contact_start.len() - 1;
        if contact >= self.contact_start[organizations] {
            return None;
        }
        Some(
            self.contact_start
                .partition_point(|&start| start <= contact)
                - 1,
        )
    }

    fn zone_of(&self, person: Person) -> Tz {
        let index = match person {
            Person::Visitor(v) => v,
            Person::Contact(c) => self.organization_of(c).unwrap_or(c),
        };
        ZONES[index % ZONES.len()]
    }

    /// Who the event is from at `at`: a converted contact is still anonymous before
    /// converting. `identified` forces the contact id (stage changes, revenue).
    fn identity(&self, person: Person, at: DateTime<Utc>, identified: bool) -> Identity {
        match person {
            Person::Visitor(v) => Identity {
                contact: None,
                anonymous: Some(format!("v-{:07}", v + 1)),
                organization: None,
            },
            Person::Contact(c) => {
                if !identified && self.converted_at(c).is_some_and(|when| at < when) {
                    return Identity {
                        contact: None,
                        anonymous: Some(format!("a-{:06}", c + 1)),
                        organization: None,
                    };
                }
                Identity {
                    contact: Some(format!("c-{:06}", c + 1)),
                    anonymous: None,
                    organization: self.organization_of(c).map(organization_id),
                }
            }
        }
    }

    /// A contact of an organization drawn by size, or now and then one with none.
    fn random_contact(&mut self) -> usize {
        let organizations = self.contact_start.len() - 1;
        let unaffiliated = self.contacts - self.contact_start[organizations];
        if unaffiliated > 0 && self.rng.random_bool(UNAFFILIATED_SHARE) {
            return self.contact_start[organizations] + self.rng.random_range(0..unaffiliated);
        }
        let u: f64 = self.rng.random();
        let org = self
            .org_cumulative
            .partition_point(|&c| c < u)
            .min(organizations - 1);
        let (start, end) = (self.contact_start[org], self.contact_start[org + 1]);
        start + self.rng.random_range(0..end - start)
    }

    fn random_person(&mut self) -> Person {
        if self.rng.random_bool(ANONYMOUS_JOURNEYS) {
            Person::Visitor(self.rng.random_range(0..self.population.anonymous_visitors))
        } else {
            Person::Contact(self.random_contact())
        }
    }

    /// A moment in business hours (08:00–18:00 on a weekday, mostly) of `zone`,
    /// on a day `day_offset` days into the year.
    fn business_time(&mut self, zone: Tz, day_offset: i64) -> DateTime<Utc> {
        let mut date = (year_start() + Duration::days(day_offset)).date_naive();
        if chrono::Datelike::weekday(&date).number_from_monday() > 5 && self.rng.random_bool(0.8) {
            date += Duration::days(2);
        }
        let seconds = self.rng.random_range(8 * 3_600..18 * 3_600);
        let local = date.and_time(NaiveTime::MIN) + Duration::seconds(seconds);
        zone.from_local_datetime(&local)
            .earliest()
            .or_else(|| {
                zone.from_local_datetime(&(local + Duration::hours(1)))
                    .earliest()
            })
            .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
    }

    fn push(&mut self, kind: &str, at: DateTime<Utc>, who: Identity, touch: Touch<'_>) {
        self.push_with(kind, at, who, touch, None, None);
    }

    fn push_with(
        &mut self,
        kind: &str,
        at: DateTime<Utc>,
        who: Identity,
        touch: Touch<'_>,
        value: Option<f64>,
        properties: Option<serde_json::Value>,
    ) {
        let seq = self.emitted + self.pending.len() as u64 + 1;
        self.pending.push(EventDraft {
            message_id: Some(format!("b2b-{}-{seq:09}", self.seed)),
            kind: Some(kind.to_owned()),
            occurred_at: Some(at.to_rfc3339()),
            contact_id: who.contact,
            anonymous_id: who.anonymous,
            organization_id: who.organization,
            campaign_id: Some(touch.campaign.to_owned()),
            asset_id: touch.asset.map(str::to_owned),
            channel: touch.channel.map(str::to_owned),
            value,
            properties,
            contact_traits: None,
        });
    }

    /// One person's session on one campaign; what kind of session follows the
    /// proportions of a B2B funnel.
    fn journey(&mut self) {
        let campaigns = Arc::clone(&self.campaigns);
        let campaign = &campaigns[self.rng.random_range(0..campaigns.len())];
        let person = self.random_person();
        let roll: f64 = self.rng.random();
        let is_contact = matches!(person, Person::Contact(_));
        if roll < 0.50 {
            self.awareness(campaign, person);
        } else if roll < 0.72 {
            self.content(campaign, person);
        } else if roll < 0.90 {
            self.webinar(campaign, person);
        } else if is_contact && roll < 0.95 {
            self.stages(campaign, person);
        } else if is_contact {
            self.voice(campaign, person);
        } else {
            self.content(campaign, person);
        }
    }

    fn campaign_day(&mut self, campaign: &CampaignSpec) -> i64 {
        let start = (campaign.starts_at - year_start()).num_days();
        start + self.rng.random_range(0..super::b2b_catalog::CAMPAIGN_DAYS)
    }

    /// Ads seen a few times, sometimes clicked, liked or shared.
    fn awareness(&mut self, campaign: &CampaignSpec, person: Person) {
        let zone = self.zone_of(person);
        let day = self.campaign_day(campaign);
        let mut at = self.business_time(zone, day);
        let channel = match person {
            Person::Contact(_) if self.rng.random_bool(0.3) => "email",
            _ => campaign.paid_channels[self.rng.random_range(0..2)],
        };
        let ad = campaign.ad();
        let touch = Touch {
            campaign: &campaign.id,
            asset: Some(ad.as_str()),
            channel: Some(channel),
        };
        for _ in 0..self.rng.random_range(1..=4) {
            at += Duration::minutes(self.rng.random_range(1..240));
            self.push("IMPRESSION", at, self.identity(person, at, false), touch);
        }
        let later = at + Duration::seconds(self.rng.random_range(5..600));
        if self.rng.random_bool(0.06) {
            self.push("CLICK", later, self.identity(person, later, false), touch);
            if self.rng.random_bool(0.5) {
                let lp = campaign.landing_page();
                let view = Touch {
                    asset: Some(lp.as_str()),
                    ..touch
                };
                let at = later + Duration::seconds(2);
                self.push("PAGE_VIEW", at, self.identity(person, at, false), view);
            }
        }
        if channel == "social" {
            let roll: f64 = self.rng.random();
            let who = self.identity(person, later, false);
            if roll < 0.03 {
                self.push("LIKE", later, who, touch);
            } else if roll < 0.04 {
                let recipient = self.recipient(person);
                self.push_with("SHARE", later, who, touch, None, Some(recipient));
            } else if roll < 0.045 {
                self.push("REPOST", later, who, touch);
            } else if roll < 0.05 {
                self.push("COMMENT", later, who, touch);
            }
        }
    }

    /// A share's recipient: mostly a colleague (an internal share), else an outsider.
    fn recipient(&mut self, person: Person) -> serde_json::Value {
        if let Person::Contact(c) = person
            && let Some(org) = self.organization_of(c)
            && self.rng.random_bool(0.6)
        {
            let (start, end) = (self.contact_start[org], self.contact_start[org + 1]);
            let colleague = start + self.rng.random_range(0..end - start);
            return json!({ "recipient": format!("c-{:06}", colleague + 1) });
        }
        json!({ "recipient": "someone@elsewhere.example" })
    }

    /// Articles, videos and whitepapers, found organically or on social.
    fn content(&mut self, campaign: &CampaignSpec, person: Person) {
        let zone = self.zone_of(person);
        let day = self.campaign_day(campaign);
        let mut at = self.business_time(zone, day);
        let channel = if self.rng.random_bool(0.7) {
            "organic"
        } else {
            "social"
        };
        let content = campaign.content();
        for _ in 0..self.rng.random_range(1..=3) {
            let asset = &content[self.rng.random_range(0..content.len())];
            let touch = Touch {
                campaign: &campaign.id,
                asset: Some(asset.as_str()),
                channel: Some(channel),
            };
            at += Duration::seconds(self.rng.random_range(20..900));
            self.push("PAGE_VIEW", at, self.identity(person, at, false), touch);
            if asset.starts_with("whitepaper") && self.rng.random_bool(0.2) {
                let at = at + Duration::seconds(30);
                self.push("DOWNLOAD", at, self.identity(person, at, false), touch);
            }
        }
    }

    /// The landing page in the weeks before the webinar (more as the date nears),
    /// a registration, then attendance in the live window with questions.
    fn webinar(&mut self, campaign: &CampaignSpec, person: Person) {
        let live = campaign.webinar_live;
        let before: f64 = self.rng.random::<f64>().powi(3) * 28.0;
        let viewed = live - Duration::seconds((before * 86_400.0) as i64 + 3_600);
        let lp = campaign.landing_page();
        let webinar = campaign.webinar();
        let on_page = Touch {
            campaign: &campaign.id,
            asset: Some(lp.as_str()),
            channel: Some(campaign.paid_channels[self.rng.random_range(0..2)]),
        };
        self.push(
            "PAGE_VIEW",
            viewed,
            self.identity(person, viewed, false),
            on_page,
        );
        let Person::Contact(_) = person else { return };
        if !self.rng.random_bool(0.35) {
            return;
        }
        let registered = viewed + Duration::seconds(self.rng.random_range(30..600));
        let on_webinar = Touch {
            campaign: &campaign.id,
            asset: Some(webinar.as_str()),
            channel: Some("webinar"),
        };
        let who = self.identity(person, registered, true);
        self.push("REGISTRATION", registered, who, on_webinar);
        if self.rng.random_bool(0.5) {
            let who = self.identity(person, registered, true);
            let stage = json!({ "to": "LEAD", "from": "VISITOR" });
            let touch = Touch {
                asset: None,
                channel: None,
                ..on_webinar
            };
            self.push_with("STAGE_CHANGE", registered, who, touch, None, Some(stage));
        }
        if !self.rng.random_bool(0.55) {
            return;
        }
        let duration = campaign.webinar_seconds;
        let joined = live + Duration::seconds(self.rng.random_range(0..600));
        let seconds = if self.rng.random_bool(0.4) {
            self.rng.random_range(duration * 9 / 10..=duration)
        } else {
            self.rng.random_range(300..duration * 9 / 10)
        };
        // Some attendees drop out and rejoin: two attendance events that add up.
        let parts = if self.rng.random_bool(0.2) {
            vec![
                (joined, seconds / 3),
                (
                    joined + Duration::seconds(i64::from(seconds / 3) + 60),
                    seconds - seconds / 3,
                ),
            ]
        } else {
            vec![(joined, seconds)]
        };
        for (at, attended) in parts {
            let who = self.identity(person, at, true);
            self.push_with(
                "ATTENDANCE",
                at,
                who,
                on_webinar,
                Some(f64::from(attended)),
                None,
            );
        }
        if self.rng.random_bool(0.15) {
            let at = joined + Duration::seconds(self.rng.random_range(0..i64::from(seconds)));
            let who = self.identity(person, at, true);
            let text = json!({ "text": "How do we score accounts?" });
            self.push_with("QUESTION", at, who, on_webinar, None, Some(text));
        }
        if self.rng.random_bool(0.08) {
            let at = live + Duration::hours(20);
            let who = self.identity(person, at, true);
            let touch = Touch {
                channel: Some("email"),
                ..on_webinar
            };
            self.push("INFO_REQUEST", at, who, touch);
        }
    }

    /// A contact moving down the lifecycle, and revenue when they become a customer.
    fn stages(&mut self, campaign: &CampaignSpec, person: Person) {
        let Person::Contact(c) = person else { return };
        let zone = self.zone_of(person);
        let day = self.campaign_day(campaign);
        let mut at = self.business_time(zone, day);
        let touch = Touch {
            campaign: &campaign.id,
            asset: None,
            channel: None,
        };
        let ladder = [
            ("LEAD", 1.0),
            ("MQL", 0.5),
            ("SQL", 0.5),
            ("OPPORTUNITY", 0.5),
            ("CUSTOMER", 0.4),
        ];
        let mut from = "VISITOR";
        for (stage, p) in ladder {
            if !self.rng.random_bool(p) {
                break;
            }
            at += Duration::days(self.rng.random_range(1..10));
            let change = json!({ "to": stage, "from": from });
            self.push_with(
                "STAGE_CHANGE",
                at,
                self.identity(person, at, true),
                touch,
                None,
                Some(change),
            );
            from = stage;
            if stage == "CUSTOMER" {
                let amount = f64::from(self.rng.random_range(8..120) * 1_000);
                let deal = json!({ "currency": "EUR", "deal": format!("deal-{}-{:06}", campaign.id, c + 1) });
                self.push_with(
                    "REVENUE",
                    at,
                    self.identity(person, at, true),
                    touch,
                    Some(amount),
                    Some(deal),
                );
            }
        }
    }

    /// Survey answers, mentions, referrals and testimonials.
    fn voice(&mut self, campaign: &CampaignSpec, person: Person) {
        let zone = self.zone_of(person);
        let day = self.campaign_day(campaign);
        let at = self.business_time(zone, day);
        let who = self.identity(person, at, true);
        let roll: f64 = self.rng.random();
        let email = Touch {
            campaign: &campaign.id,
            asset: None,
            channel: Some("email"),
        };
        if roll < 0.6 {
            let score = [10, 10, 9, 9, 9, 8, 8, 7, 7, 6, 5, 3][self.rng.random_range(0..12)];
            let survey = json!({ "survey": format!("nps-{}", campaign.id) });
            self.push_with(
                "SURVEY_RESPONSE",
                at,
                who,
                email,
                Some(f64::from(score)),
                Some(survey),
            );
        } else if roll < 0.85 {
            let social = Touch {
                channel: Some("social"),
                ..email
            };
            self.push("MENTION", at, who, social);
        } else if roll < 0.95 {
            let referred = organization_id(self.rng.random_range(0..self.population.organizations));
            let touch = Touch {
                channel: Some("organic"),
                ..email
            };
            self.push_with(
                "REFERRAL",
                at,
                who,
                touch,
                None,
                Some(json!({ "referred": referred })),
            );
        } else {
            self.push("TESTIMONIAL", at, who, email);
        }
    }
}

impl Iterator for B2bEvents {
    type Item = Vec<EventDraft>;

    fn next(&mut self) -> Option<Vec<EventDraft>> {
        let left = self.target.saturating_sub(self.emitted);
        if left == 0 {
            return None;
        }
        let size = self
            .batch_size
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        while self.pending.len() < size {
            self.journey();
        }
        let rest = self.pending.split_off(size);
        let batch = std::mem::replace(&mut self.pending, rest);
        self.emitted += batch.len() as u64;
        Some(batch)
    }
}

#[cfg(test)]
#[path = "b2b_tests.rs"]
mod tests;
