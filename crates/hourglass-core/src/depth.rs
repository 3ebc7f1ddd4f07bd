//! Bottom-of-hourglass KPIs: how deeply one organization engages.
//!
//! Once contacts are leads, counting people stops being useful; what matters is how
//! many people of one account engage, how far, and with how much. Each part here is
//! a count; the score weighs them with the workspace's weights and shows its working.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::engagement::{AssetInfo, Colleagues, OrgFacts, OrgInfo};
use crate::kinds::{EventKind, vocabulary};

vocabulary! {
    /// The parts a depth score is made of.
    DepthPart, "depth part" {
        EngagedContacts = "ENGAGED_CONTACTS",
        Attendees = "ATTENDEES",
        FullStayAttendees = "FULL_STAY_ATTENDEES",
        QuestionAskers = "QUESTION_ASKERS",
        InfoRequests = "INFO_REQUESTS",
        InternalShares = "INTERNAL_SHARES",
        ColleagueSpread = "COLLEAGUE_SPREAD",
        Breadth = "BREADTH",
    }
}

/// The measured parts of an organization's engagement depth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DepthParts {
    /// Distinct contacts with any event.
    pub engaged_contacts: u64,
    /// Distinct contacts who attended (any ATTENDANCE event).
    pub attendees: u64,
    /// Distinct contacts whose summed attended seconds on one webinar or video reached
    /// the threshold share of its duration.
    pub full_stay_attendees: u64,
    /// Distinct contacts who asked a question.
    pub question_askers: u64,
    /// INFO_REQUEST events.
    pub info_requests: u64,
    /// SHARE events whose recipient is a colleague: a contact of the same organization,
    /// or an e-mail address at its domain.
    pub internal_shares: u64,
    /// Distinct contacts who engaged with an asset after a colleague had engaged with it
    /// first: how far a piece travels inside the account. Of contacts whose first
    /// engagement with an asset fell on the same millisecond, the smaller id counts as
    /// first.
    pub colleague_spread: u64,
    /// Distinct assets engaged with.
    pub breadth: u64,
}

impl std::ops::Add for DepthParts {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            engaged_contacts: self.engaged_contacts + o.engaged_contacts,
            attendees: self.attendees + o.attendees,
            full_stay_attendees: self.full_stay_attendees + o.full_stay_attendees,
            question_askers: self.question_askers + o.question_askers,
            info_requests: self.info_requests + o.info_requests,
            internal_shares: self.internal_shares + o.internal_shares,
            colleague_spread: self.colleague_spread + o.colleague_spread,
            breadth: self.breadth + o.breadth,
        }
    }
}

impl std::iter::Sum for DepthParts {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), |a, b| a + b)
    }
}

/// How much each part counts toward the depth score. Set per workspace.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DepthWeights {
    pub engaged_contacts: f64,
    pub attendees: f64,
    pub full_stay_attendees: f64,
    pub question_askers: f64,
    pub info_requests: f64,
    pub internal_shares: f64,
    pub colleague_spread: f64,
    pub breadth: f64,
}

impl Default for DepthWeights {
    fn default() -> Self {
        Self {
            engaged_contacts: 1.0,
            attendees: 2.0,
            full_stay_attendees: 3.0,
            question_askers: 3.0,
            info_requests: 4.0,
            internal_shares: 2.0,
            colleague_spread: 1.0,
            breadth: 1.0,
        }
    }
}

/// One line of a score's working: the part, its count, its weight and the points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Contribution {
    pub part: DepthPart,
    pub count: u64,
    pub weight: f64,
    pub points: f64,
}

/// A depth score with every part shown, so a salesperson can see why an account ranks.
#[derive(Debug, Clone, PartialEq)]
pub struct DepthScore {
    pub parts: DepthParts,
    pub score: f64,
    pub contributions: Vec<Contribution>,
}

impl DepthWeights {
    /// Weights must be finite and not negative: a negative weight would rank
    /// engagement as a penalty, which is never what a short list means.
    pub fn validate(&self) -> Result<(), crate::catalog::FieldError> {
        let all = [
            self.engaged_contacts,
            self.attendees,
            self.full_stay_attendees,
            self.question_askers,
            self.info_requests,
            self.internal_shares,
            self.colleague_spread,
            self.breadth,
        ];
        if all.iter().all(|w| w.is_finite() && *w >= 0.0) {
            Ok(())
        } else {
            Err(crate::catalog::FieldError::new(
                "depthWeights",
                "every weight must be a finite number of at least 0",
            ))
        }
    }

    pub fn score(&self, parts: DepthParts) -> DepthScore {
        let lines = [
            (
                DepthPart::EngagedContacts,
                parts.engaged_contacts,
                self.engaged_contacts,
            ),
            (DepthPart::Attendees, parts.attendees, self.attendees),
            (
                DepthPart::FullStayAttendees,
                parts.full_stay_attendees,
                self.full_stay_attendees,
            ),
            (
                DepthPart::QuestionAskers,
                parts.question_askers,
                self.question_askers,
            ),
            (
                DepthPart::InfoRequests,
                parts.info_requests,
                self.info_requests,
            ),
            (
                DepthPart::InternalShares,
                parts.internal_shares,
                self.internal_shares,
            ),
            (
                DepthPart::ColleagueSpread,
                parts.colleague_spread,
                self.colleague_spread,
            ),
            (DepthPart::Breadth, parts.breadth, self.breadth),
        ];
        let contributions: Vec<Contribution> = lines
            .into_iter()
            .map(|(part, count, weight)| Contribution {
                part,
                count,
                weight,
                points: count as f64 * weight,
            })
            .collect();
        DepthScore {
            parts,
            score: contributions.iter().map(|c| c.points).sum(),
            contributions,
        }
    }
}

/// One organization's place on the short list.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    /// 1 for the deepest engagement.
    pub rank: u64,
    pub organization: OrgInfo,
    pub depth: DepthScore,
}

/// Scores every organization and ranks them deepest first: [`score`] then [`rank`].
pub fn short_list(
    orgs: Vec<OrgFacts>,
    assets: &[AssetInfo],
    weights: &DepthWeights,
    threshold: f64,
) -> Vec<Ranked> {
    rank(score(orgs, &assets_by_id(assets), weights, threshold))
}

/// The workspace's assets by external id, as [`measure`] looks them up.
pub fn assets_by_id(assets: &[AssetInfo]) -> HashMap<String, AssetInfo> {
    assets.iter().map(|a| (a.id.clone(), a.clone())).collect()
}

/// Each organization with its depth score. Organizations score independently, so a
/// short list can be scored a part at a time and ranked once.
pub fn score(
    orgs: Vec<OrgFacts>,
    assets: &HashMap<String, AssetInfo>,
    weights: &DepthWeights,
    threshold: f64,
) -> Vec<(OrgInfo, DepthScore)> {
    orgs.into_iter()
        .map(|org| {
            let depth = weights.score(measure(&org, assets, threshold));
            (org.organization, depth)
        })
        .collect()
}

/// Ranks scored organizations deepest first; ties go to the larger number of engaged
/// contacts, then to the organization id, so the order is stable.
pub fn rank(mut scored: Vec<(OrgInfo, DepthScore)>) -> Vec<Ranked> {
    scored.sort_by(|(a_org, a), (b_org, b)| {
        b.score
            .total_cmp(&a.score)
            .then(b.parts.engaged_contacts.cmp(&a.parts.engaged_contacts))
            .then_with(|| a_org.id.cmp(&b_org.id))
    });
    scored
        .into_iter()
        .enumerate()
        .map(|(i, (organization, depth))| Ranked {
            rank: i as u64 + 1,
            organization,
            depth,
        })
        .collect()
}

/// Measures one organization from its facts. `threshold` is the share of a webinar's
/// or video's duration that counts as staying to the end (0.9 by default).
pub fn measure(org: &OrgFacts, assets: &HashMap<String, AssetInfo>, threshold: f64) -> DepthParts {
    let mut engaged = HashSet::new();
    let mut attendees = HashSet::new();
    let mut askers = HashSet::new();
    let mut engaged_assets = HashSet::new();
    let mut info_requests = 0;
    let mut internal_shares = 0;
    let mut attended: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    // Who engaged with each asset first: the earliest (instant, contact id).
    let mut first_on_asset: HashMap<&str, (i64, &str)> = HashMap::new();

    let colleagues = Colleagues::of(org);

    for fact in &org.facts {
        if let Some(asset) = fact.asset.as_deref() {
            engaged_assets.insert(asset);
        }
        let Some(contact) = fact.contact.as_deref() else {
            continue;
        };
        engaged.insert(contact);
        if let Some(asset) = fact.asset.as_deref() {
            let first = first_on_asset
                .entry(asset)
                .or_insert((fact.first_at, contact));
            *first = (*first).min((fact.first_at, contact));
        }
        match fact.kind {
            EventKind::Attendance => {
                attendees.insert(contact);
                if let Some(asset) = fact.asset.as_deref() {
                    *attended.entry((contact, asset)).or_default() += fact.value_sum;
                }
            }
            EventKind::Question => {
                askers.insert(contact);
            }
            EventKind::InfoRequest => info_requests += fact.events,
            EventKind::Share
                if fact
                    .recipient
                    .as_deref()
                    .is_some_and(|r| colleagues.is_internal_share(Some(contact), r)) =>
            {
                internal_shares += fact.events;
            }
            _ => {}
        }
    }

    // Everyone on an asset but its first engager came after a colleague.
    let spread: HashSet<&str> = org
        .facts
        .iter()
        .filter_map(|f| Some((f.asset.as_deref()?, f.contact.as_deref()?)))
        .filter(|(asset, contact)| {
            first_on_asset
                .get(asset)
                .is_some_and(|(_, first)| first != contact)
        })
        .map(|(_, contact)| contact)
        .collect();

    let full_stay: HashSet<&str> = attended
        .iter()
        .filter(|((_, asset), seconds)| stayed_to_end(assets, asset, **seconds, threshold))
        .map(|((contact, _), _)| *contact)
        .collect();

    DepthParts {
        engaged_contacts: engaged.len() as u64,
        attendees: attendees.len() as u64,
        full_stay_attendees: full_stay.len() as u64,
        question_askers: askers.len() as u64,
        info_requests,
        internal_shares,
        colleague_spread: spread.len() as u64,
        breadth: engaged_assets.len() as u64,
    }
}

/// Whether `seconds` attended on `asset` reach the `threshold` share of its duration
/// (only webinars and videos have one).
fn stayed_to_end(
    assets: &HashMap<String, AssetInfo>,
    asset: &str,
    seconds: f64,
    threshold: f64,
) -> bool {
    assets
        .get(asset)
        .and_then(|a| a.duration_seconds)
        .is_some_and(|d| d > 0 && seconds >= threshold * f64::from(d))
}

/// One person's engagement within an organization's facts: who stayed, who asked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersonDepth {
    /// The contact's external id.
    pub contact: String,
    /// Events of any kind.
    pub events: u64,
    /// Attended seconds, over every webinar and video.
    pub attended_seconds: f64,
    /// Whether their attended seconds on one webinar or video reached the threshold
    /// share of its duration.
    pub stayed_to_end: bool,
    pub questions: u64,
    pub info_requests: u64,
    /// SHARE events to a colleague (see [`Colleagues`]).
    pub internal_shares: u64,
    /// Distinct assets engaged with.
    pub assets: u64,
}

/// The people of one organization with any engagement in its facts, most engaged
/// first: the depth of each lead, not only of the account.
pub fn people(
    org: &OrgFacts,
    assets: &HashMap<String, AssetInfo>,
    threshold: f64,
) -> Vec<PersonDepth> {
    let colleagues = Colleagues::of(org);
    let mut by_contact: BTreeMap<&str, PersonDepth> = BTreeMap::new();
    let mut touched: HashSet<(&str, &str)> = HashSet::new();
    let mut attended: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    for fact in &org.facts {
        let Some(contact) = fact.contact.as_deref() else {
            continue;
        };
        let person = by_contact.entry(contact).or_insert_with(|| PersonDepth {
            contact: contact.to_owned(),
            ..PersonDepth::default()
        });
        person.events += fact.events;
        if let Some(asset) = fact.asset.as_deref() {
            touched.insert((contact, asset));
        }
        match fact.kind {
            EventKind::Attendance => {
                person.attended_seconds += fact.value_sum;
                if let Some(asset) = fact.asset.as_deref() {
                    *attended.entry((contact, asset)).or_default() += fact.value_sum;
                }
            }
            EventKind::Question => person.questions += fact.events,
            EventKind::InfoRequest => person.info_requests += fact.events,
            EventKind::Share
                if fact
                    .recipient
                    .as_deref()
                    .is_some_and(|r| colleagues.is_internal_share(Some(contact), r)) =>
            {
                person.internal_shares += fact.events;
            }
            _ => {}
        }
    }
    for (contact, _) in &touched {
        if let Some(person) = by_contact.get_mut(contact) {
            person.assets += 1;
        }
    }
    for ((contact, asset), seconds) in attended {
        if stayed_to_end(assets, asset, seconds, threshold)
            && let Some(person) = by_contact.get_mut(contact)
        {
            person.stayed_to_end = true;
        }
    }
    let mut people: Vec<PersonDepth> = by_contact.into_values().collect();
    people.sort_by(|a, b| {
        b.events
            .cmp(&a.events)
            .then_with(|| a.contact.cmp(&b.contact))
    });
    people
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engagement::{ContactInfo, EngagementEvent, OrgInfo, OrgRecords};
    use crate::kinds::AssetKind;
    use chrono::{DateTime, Duration, Utc};
    use serde_json::json;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_770_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    fn event(minute: i64, kind: EventKind, contact: &str, asset: Option<&str>) -> EngagementEvent {
        EngagementEvent {
            kind,
            at: at(minute),
            contact: Some(contact.into()),
            asset: asset.map(Into::into),
            campaign: None,
            channel: None,
            value: None,
            properties: serde_json::Map::new(),
        }
    }

    fn attended(minute: i64, contact: &str, seconds: f64) -> EngagementEvent {
        EngagementEvent {
            value: Some(seconds),
            ..event(minute, EventKind::Attendance, contact, Some("web"))
        }
    }

    fn share(minute: i64, contact: &str, recipient: &str) -> EngagementEvent {
        let mut e = event(minute, EventKind::Share, contact, Some("guide"));
        e.properties = json!({ "recipient": recipient })
            .as_object()
            .unwrap()
            .clone();
        e
    }

    fn org(events: Vec<EngagementEvent>) -> OrgFacts {
        OrgFacts::from(&OrgRecords {
            organization: OrgInfo {
                id: "acme".into(),
                name: None,
                domain: Some("acme.com".into()),
                stage: None,
                contact_count: 4,
            },
            events,
            facts: Vec::new(),
            contacts: ["ann", "bob", "cy", "dee"]
                .iter()
                .map(|id| ContactInfo {
                    id: (*id).into(),
                    stage: "LEAD".into(),
                    email: None,
                })
                .collect(),
        })
    }

    fn assets() -> HashMap<String, AssetInfo> {
        HashMap::from([(
            "web".to_owned(),
            AssetInfo {
                id: "web".into(),
                kind: Some(AssetKind::Webinar),
                title: None,
                duration_seconds: Some(3600),
            },
        )])
    }

    #[test]
    fn measures_each_part_as_defined() {
        let records = org(vec![
            event(0, EventKind::PageView, "ann", Some("guide")),
            event(5, EventKind::PageView, "bob", Some("guide")),
            event(6, EventKind::PageView, "ann", Some("guide")),
            attended(60, "ann", 1800.0),
            attended(95, "ann", 1500.0), // 3300 s of 3600: 91.7 % — stayed
            attended(60, "bob", 3000.0), // 83 % — did not
            attended(61, "cy", 3240.0),  // exactly 90 % — stayed
            event(70, EventKind::Question, "bob", Some("web")),
            event(71, EventKind::Question, "bob", Some("web")),
            event(80, EventKind::InfoRequest, "cy", None),
            share(90, "ann", "dee"),
            share(91, "ann", "Zed@ACME.com"),
            share(92, "ann", "someone@other.org"),
            share(93, "ann", "ann"),
        ]);
        let parts = measure(&records, &assets(), 0.9);
        assert_eq!(
            parts,
            DepthParts {
                engaged_contacts: 3,
                attendees: 3,
                full_stay_attendees: 2,
                question_askers: 1,
                info_requests: 1,
                internal_shares: 2,
                colleague_spread: 2, // bob after ann on the guide, bob and cy after ann on the webinar
                breadth: 2,
            }
        );
    }

    #[test]
    fn tallied_facts_measure_like_the_events_they_tally() {
        let fact = |kind, contact: &str, asset: Option<&str>, events, value_sum, first_at| {
            crate::engagement::EngagementFact {
                kind,
                contact: Some(contact.into()),
                asset: asset.map(Into::into),
                recipient: (kind == EventKind::Share).then(|| "dee".into()),
                events,
                value_sum,
                first_at,
            }
        };
        let minute = |m: i64| at(m).timestamp_millis();
        // ann's attendance arrives as two days' facts; bob's info requests and ann's
        // shares as one fact of several events each.
        let mut tallied = org(vec![]);
        tallied.facts = vec![
            fact(
                EventKind::Attendance,
                "ann",
                Some("web"),
                1,
                1800.0,
                minute(60),
            ),
            fact(
                EventKind::Attendance,
                "ann",
                Some("web"),
                2,
                1500.0,
                minute(1500),
            ),
            fact(
                EventKind::Attendance,
                "bob",
                Some("web"),
                1,
                3000.0,
                minute(61),
            ),
            fact(EventKind::InfoRequest, "bob", None, 3, 0.0, minute(80)),
            fact(EventKind::Share, "ann", Some("guide"), 4, 0.0, minute(90)),
        ];
        let parts = measure(&tallied, &assets(), 0.9);
        assert_eq!(
            parts,
            DepthParts {
                engaged_contacts: 2,
                attendees: 2,
                full_stay_attendees: 1, // ann: 3300 of 3600 s over two facts
                question_askers: 0,
                info_requests: 3,
                internal_shares: 4,
                colleague_spread: 1, // bob, after ann on the webinar
                breadth: 2,
            }
        );
    }

    #[test]
    fn of_colleagues_who_came_at_the_same_instant_the_smaller_id_came_first() {
        let records = org(vec![
            event(0, EventKind::PageView, "cy", Some("guide")),
            event(0, EventKind::PageView, "bob", Some("guide")),
            event(0, EventKind::PageView, "dee", Some("guide")),
        ]);
        // bob is first; cy and dee came after a colleague, whatever the storage order.
        assert_eq!(measure(&records, &assets(), 0.9).colleague_spread, 2);
        let mut reversed = records.clone();
        reversed.facts.reverse();
        assert_eq!(measure(&reversed, &assets(), 0.9).colleague_spread, 2);
    }

    #[test]
    fn the_threshold_is_a_parameter() {
        let records = org(vec![attended(0, "bob", 3000.0)]);
        assert_eq!(measure(&records, &assets(), 0.9).full_stay_attendees, 0);
        assert_eq!(measure(&records, &assets(), 0.8).full_stay_attendees, 1);
    }

    #[test]
    fn the_score_shows_its_working() {
        let parts = DepthParts {
            attendees: 3,
            question_askers: 1,
            internal_shares: 2,
            ..DepthParts::default()
        };
        let score = DepthWeights::default().score(parts);
        assert_eq!(score.score, 3.0 * 2.0 + 3.0 + 2.0 * 2.0);
        let attendees = score
            .contributions
            .iter()
            .find(|c| c.part == DepthPart::Attendees)
            .unwrap();
        assert_eq!(
            (attendees.count, attendees.weight, attendees.points),
            (3, 2.0, 6.0)
        );
        assert_eq!(
            score.contributions.iter().map(|c| c.points).sum::<f64>(),
            score.score
        );
    }

    #[test]
    fn the_short_list_ranks_deepest_first_and_breaks_ties_stably() {
        let mut quiet = org(vec![event(0, EventKind::PageView, "ann", Some("guide"))]);
        quiet.organization.id = "quiet".into();
        let mut busy = org(vec![
            attended(0, "ann", 3500.0),
            attended(0, "bob", 100.0),
            event(1, EventKind::Question, "bob", Some("web")),
        ]);
        busy.organization.id = "busy".into();
        let mut twin = quiet.clone();
        twin.organization.id = "a-twin".into();
        let assets: Vec<AssetInfo> = assets().into_values().collect();
        let list = short_list(
            vec![quiet.clone(), busy.clone(), twin.clone()],
            &assets,
            &DepthWeights::default(),
            0.9,
        );
        let order: Vec<(&str, u64)> = list
            .iter()
            .map(|r| (r.organization.id.as_str(), r.rank))
            .collect();
        assert_eq!(order, vec![("busy", 1), ("a-twin", 2), ("quiet", 3)]);

        // Scored a part at a time, as storage streams a large workspace, and ranked
        // once: the same list.
        let by_id = assets_by_id(&assets);
        let weights = DepthWeights::default();
        let mut parts = score(vec![twin], &by_id, &weights, 0.9);
        parts.extend(score(vec![quiet, busy], &by_id, &weights, 0.9));
        assert_eq!(rank(parts), list);
    }

    #[test]
    fn people_show_who_stayed_and_who_asked() {
        let records = org(vec![
            attended(60, "ann", 1800.0),
            attended(95, "ann", 1500.0), // 3300 s of 3600: stayed
            attended(60, "bob", 3000.0), // 83 %: did not
            event(70, EventKind::Question, "bob", Some("web")),
            event(71, EventKind::Question, "bob", Some("web")),
            share(80, "bob", "cy"),
            event(90, EventKind::PageView, "dee", Some("guide")),
        ]);
        let people = people(&records, &assets(), 0.9);
        let row = |p: &PersonDepth| {
            (
                p.contact.clone(),
                p.events,
                p.attended_seconds,
                p.stayed_to_end,
                p.questions,
                p.internal_shares,
                p.assets,
            )
        };
        assert_eq!(
            people.iter().map(row).collect::<Vec<_>>(),
            vec![
                ("bob".to_owned(), 4, 3000.0, false, 2, 1, 2),
                ("ann".to_owned(), 2, 3300.0, true, 0, 0, 1),
                ("dee".to_owned(), 1, 0.0, false, 0, 0, 1),
            ]
        );
    }

    #[test]
    fn negative_or_infinite_weights_are_refused() {
        let mut weights = DepthWeights::default();
        assert!(weights.validate().is_ok());
        weights.breadth = -1.0;
        assert!(weights.validate().is_err());
        weights.breadth = f64::NAN;
        assert!(weights.validate().is_err());
    }
}
