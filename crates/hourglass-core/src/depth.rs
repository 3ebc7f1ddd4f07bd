//! Bottom-of-hourglass KPIs: how deeply one organization engages.
//!
//! Once contacts are leads, counting people stops being useful; what matters is how
//! many people of one account engage, how far, and with how much. Each part here is
//! a count; the score weighs them with the workspace's weights and shows its working.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::engagement::{AssetInfo, Colleagues, EngagementFact, OrgFacts, OrgInfo};
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
///
/// An organization's depth is its people's, added up ([`PersonDepth::parts`]: one
/// definition of who attended, stayed, asked, shared with or followed a colleague),
/// except breadth: the distinct assets of all its facts, a person's or not.
pub fn measure(org: &OrgFacts, assets: &HashMap<String, AssetInfo>, threshold: f64) -> DepthParts {
    let mut people = People::default();
    people.add_organization(org);
    let summed: DepthParts = people
        .finish(assets, threshold)
        .iter()
        .map(PersonDepth::parts)
        .sum();
    let breadth = org
        .facts
        .iter()
        .filter_map(|f| f.asset.as_deref())
        .collect::<HashSet<_>>()
        .len() as u64;
    DepthParts { breadth, ..summed }
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

/// One person's engagement: how deeply one lead engages, and who stayed and who
/// asked behind an organization's counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersonDepth {
    /// The contact's external id.
    pub contact: String,
    /// The organization their events name (the first by id when they name several;
    /// `None` when they name none).
    pub organization: Option<String>,
    /// Events of any kind.
    pub events: u64,
    /// Whether they attended at all (any ATTENDANCE event).
    pub attended: bool,
    /// Attended seconds, over every webinar and video.
    pub attended_seconds: f64,
    /// Whether their attended seconds on one webinar or video reached the threshold
    /// share of its duration.
    pub stayed_to_end: bool,
    pub questions: u64,
    pub info_requests: u64,
    /// SHARE events to a colleague (see [`Colleagues`]).
    pub internal_shares: u64,
    /// Whether they engaged with an asset after a colleague of their organization
    /// had engaged with it first.
    pub followed_colleague: bool,
    /// Distinct assets engaged with.
    pub assets: u64,
}

impl PersonDepth {
    /// The depth parts as they apply to one person: each part that counts distinct
    /// contacts is 0 or 1, the event counts are theirs, breadth is their assets. Over
    /// an organization's people these add up to the organization's parts, all but
    /// breadth (two colleagues on one asset are one asset to the account).
    pub fn parts(&self) -> DepthParts {
        DepthParts {
            engaged_contacts: u64::from(self.events > 0),
            attendees: u64::from(self.attended),
            full_stay_attendees: u64::from(self.stayed_to_end),
            question_askers: u64::from(self.questions > 0),
            info_requests: self.info_requests,
            internal_shares: self.internal_shares,
            colleague_spread: u64::from(self.followed_colleague),
            breadth: self.assets,
        }
    }
}

/// Who engaged with each asset first: the earliest (instant, contact id). Of
/// contacts whose first engagement fell on the same millisecond, the smaller id.
fn first_engagers(facts: &[EngagementFact]) -> HashMap<&str, (i64, &str)> {
    let mut first: HashMap<&str, (i64, &str)> = HashMap::new();
    for fact in facts {
        let (Some(asset), Some(contact)) = (fact.asset.as_deref(), fact.contact.as_deref()) else {
            continue;
        };
        let entry = first.entry(asset).or_insert((fact.first_at, contact));
        *entry = (*entry).min((fact.first_at, contact));
    }
    first
}

/// One person's engagement gathered so far, over every group of facts they are in.
#[derive(Debug, Default)]
struct PersonTally {
    organization: Option<String>,
    events: u64,
    attended: bool,
    seconds_by_asset: BTreeMap<Arc<str>, f64>,
    questions: u64,
    info_requests: u64,
    internal_shares: u64,
    followed_colleague: bool,
    assets: BTreeSet<Arc<str>>,
}

/// People's engagement, gathered from an organization's facts at a time (and from
/// the facts of contacts whose events name no organization) and finished once.
/// A person's attended seconds add up across groups before the full-stay rule is
/// applied, and an asset they engaged with under two groups is one asset. Internal
/// shares and following a colleague are judged within each group: colleagues are
/// the people of the organization the events name.
#[derive(Debug, Default)]
pub struct People {
    by_contact: BTreeMap<Arc<str>, PersonTally>,
}

impl People {
    /// Adds one organization's facts, with its people as colleagues.
    pub fn add_organization(&mut self, org: &OrgFacts) {
        let colleagues = Colleagues::of(org);
        let first = first_engagers(&org.facts);
        for fact in &org.facts {
            let Some(contact) = &fact.contact else {
                continue;
            };
            let person = self.tally(contact, Some(&org.organization.id));
            if let Some(asset) = fact.asset.as_deref()
                && first.get(asset).is_some_and(|(_, f)| *f != &**contact)
            {
                person.followed_colleague = true;
            }
            if fact.kind == EventKind::Share
                && fact
                    .recipient
                    .as_deref()
                    .is_some_and(|r| colleagues.is_internal_share(Some(contact), r))
            {
                person.internal_shares += fact.events;
            }
            person.add(fact);
        }
    }

    /// Adds facts of contacts whose events name no organization: they have no
    /// colleagues, so no internal shares and no colleague to follow.
    pub fn add_unaffiliated(&mut self, facts: &[EngagementFact]) {
        for fact in facts {
            if let Some(contact) = &fact.contact {
                self.tally(contact, None).add(fact);
            }
        }
    }

    fn tally(&mut self, contact: &Arc<str>, organization: Option<&str>) -> &mut PersonTally {
        let person = self.by_contact.entry(Arc::clone(contact)).or_default();
        if let Some(org) = organization
            && person
                .organization
                .as_deref()
                .is_none_or(|known| org < known)
        {
            person.organization = Some(org.to_owned());
        }
        person
    }

    /// Everyone gathered, most events first (then by contact id). `threshold` is the
    /// share of a webinar's or video's duration that counts as staying to the end.
    pub fn finish(self, assets: &HashMap<String, AssetInfo>, threshold: f64) -> Vec<PersonDepth> {
        let mut people: Vec<PersonDepth> = self
            .by_contact
            .into_iter()
            .map(|(contact, t)| PersonDepth {
                contact: contact.to_string(),
                organization: t.organization,
                events: t.events,
                attended: t.attended,
                attended_seconds: t.seconds_by_asset.values().sum(),
                stayed_to_end: t
                    .seconds_by_asset
                    .iter()
                    .any(|(asset, s)| stayed_to_end(assets, asset, *s, threshold)),
                questions: t.questions,
                info_requests: t.info_requests,
                internal_shares: t.internal_shares,
                followed_colleague: t.followed_colleague,
                assets: t.assets.len() as u64,
            })
            .collect();
        people.sort_by(|a, b| {
            b.events
                .cmp(&a.events)
                .then_with(|| a.contact.cmp(&b.contact))
        });
        people
    }
}

impl PersonTally {
    /// What every fact adds, whatever its group.
    fn add(&mut self, fact: &EngagementFact) {
        self.events += fact.events;
        if let Some(asset) = &fact.asset {
            self.assets.insert(Arc::clone(asset));
        }
        match fact.kind {
            EventKind::Attendance => {
                self.attended = true;
                // Attendance with no asset counts as attending, with no asset to stay to
                // the end of.
                let key = fact.asset.clone().unwrap_or_else(|| Arc::from(""));
                *self.seconds_by_asset.entry(key).or_default() += fact.value_sum;
            }
            EventKind::Question => self.questions += fact.events,
            EventKind::InfoRequest => self.info_requests += fact.events,
            _ => {}
        }
    }
}

/// The people of one organization with any engagement in its facts, most engaged
/// first: the depth of each lead, not only of the account.
pub fn people(
    org: &OrgFacts,
    assets: &HashMap<String, AssetInfo>,
    threshold: f64,
) -> Vec<PersonDepth> {
    let mut people = People::default();
    people.add_organization(org);
    people.finish(assets, threshold)
}

/// A person on the ranked list of leads.
#[derive(Debug, Clone, PartialEq)]
pub struct Lead {
    pub person: PersonDepth,
    /// Their lifecycle stage.
    pub stage: String,
    /// Their lead score: the workspace's depth weights applied to [`PersonDepth::parts`].
    pub score: DepthScore,
}

/// People scored with the workspace's weights and ranked deepest first; ties go to
/// more events, then to the contact id, so the order is stable.
pub fn rank_leads(people: Vec<(PersonDepth, String)>, weights: &DepthWeights) -> Vec<Lead> {
    let mut leads: Vec<Lead> = people
        .into_iter()
        .map(|(person, stage)| Lead {
            score: weights.score(person.parts()),
            person,
            stage,
        })
        .collect();
    leads.sort_by(|a, b| {
        b.score
            .score
            .total_cmp(&a.score.score)
            .then(b.person.events.cmp(&a.person.events))
            .then_with(|| a.person.contact.cmp(&b.person.contact))
    });
    leads
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
    fn a_persons_parts_add_up_to_the_organizations_all_but_breadth() {
        let records = org(vec![
            event(0, EventKind::PageView, "ann", Some("guide")),
            event(5, EventKind::PageView, "bob", Some("guide")),
            attended(60, "ann", 1800.0),
            attended(95, "ann", 1500.0),
            attended(60, "bob", 3000.0),
            attended(61, "cy", 3240.0),
            event(70, EventKind::Question, "bob", Some("web")),
            event(80, EventKind::InfoRequest, "cy", None),
            share(90, "ann", "dee"),
            share(91, "ann", "Zed@ACME.com"),
            share(93, "ann", "ann"),
        ]);
        let people = people(&records, &assets(), 0.9);
        // Worked out by hand from the events above: ann was first on both assets.
        let by_id = |id: &str| people.iter().find(|p| p.contact == id).unwrap().parts();
        assert_eq!(
            by_id("ann"),
            DepthParts {
                engaged_contacts: 1,
                attendees: 1,
                full_stay_attendees: 1,
                internal_shares: 2,
                breadth: 2,
                ..DepthParts::default()
            }
        );
        assert_eq!(
            by_id("bob"),
            DepthParts {
                engaged_contacts: 1,
                attendees: 1,
                question_askers: 1,
                colleague_spread: 1,
                breadth: 2,
                ..DepthParts::default()
            }
        );
        let summed: DepthParts = people.iter().map(PersonDepth::parts).sum();
        let org_parts = measure(&records, &assets(), 0.9);
        assert_eq!(
            DepthParts {
                breadth: org_parts.breadth,
                ..summed
            },
            org_parts
        );
        assert_eq!(
            summed.breadth, 5,
            "ann 2, bob 2, cy 1: per person, not per account"
        );
    }

    #[test]
    fn a_person_is_one_person_across_their_organization_and_events_naming_none() {
        let fact = |kind, contact: &str, asset: &str, value_sum, first_at| EngagementFact {
            kind,
            contact: Some(contact.into()),
            asset: Some(asset.into()),
            recipient: None,
            events: 1,
            value_sum,
            first_at,
        };
        let mut records = org(vec![]);
        records.facts = vec![
            fact(EventKind::Attendance, "ann", "web", 2000.0, 10),
            fact(EventKind::PageView, "bob", "guide", 0.0, 5),
        ];
        // ann's second half of the webinar and a page view on the guide came in events
        // that name no organization; eve has no organization at all.
        let unaffiliated = vec![
            fact(EventKind::Attendance, "ann", "web", 1300.0, 20),
            fact(EventKind::PageView, "ann", "guide", 0.0, 1),
            fact(EventKind::Question, "eve", "web", 0.0, 30),
            EngagementFact {
                recipient: Some("ann".into()),
                ..fact(EventKind::Share, "eve", "guide", 0.0, 31)
            },
        ];
        let mut gathered = People::default();
        gathered.add_organization(&records);
        gathered.add_unaffiliated(&unaffiliated);
        let people = gathered.finish(&assets(), 0.9);
        let ann = people.iter().find(|p| p.contact == "ann").unwrap();
        assert_eq!(ann.attended_seconds, 3300.0);
        assert!(ann.stayed_to_end, "3300 of 3600 s, over both groups");
        assert_eq!(ann.assets, 2, "the webinar and the guide, each once");
        assert_eq!(ann.organization.as_deref(), Some("acme"));
        // bob came to the guide after ann's unaffiliated view, but that view was not
        // a colleague's as far as acme's facts know: bob was first there.
        let bob = people.iter().find(|p| p.contact == "bob").unwrap();
        assert!(!bob.followed_colleague);
        let eve = people.iter().find(|p| p.contact == "eve").unwrap();
        assert_eq!(
            (
                eve.organization.as_deref(),
                eve.questions,
                eve.internal_shares
            ),
            (None, 1, 0)
        );
    }

    #[test]
    fn leads_rank_by_their_score_then_events_then_id() {
        let person = |contact: &str, events, questions| PersonDepth {
            contact: contact.into(),
            events,
            questions,
            ..PersonDepth::default()
        };
        let leads = rank_leads(
            vec![
                (person("cy", 9, 0), "LEAD".into()),
                (person("ann", 1, 1), "MQL".into()),
                (person("bob", 1, 1), "LEAD".into()),
                (person("dee", 2, 0), "LEAD".into()),
            ],
            &DepthWeights::default(),
        );
        let order: Vec<(&str, f64)> = leads
            .iter()
            .map(|l| (l.person.contact.as_str(), l.score.score))
            .collect();
        // Engaged 1 point, a question asker 3 more.
        assert_eq!(
            order,
            vec![("ann", 4.0), ("bob", 4.0), ("cy", 1.0), ("dee", 1.0)]
        );
        assert_eq!(leads[0].stage, "MQL");
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
