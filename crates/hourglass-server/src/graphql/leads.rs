//! Depth per lead: each person's engagement scored as a lead, the ranked list of
//! leads, and the named people behind an asset's bottom-of-hourglass counts.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use async_graphql::{Enum, ID, SimpleObject};
use hourglass_core::depth::{self as core, DepthParts, DepthScore, Lead};
use hourglass_storage::WorkspaceStore;
use hourglass_storage::entities::contact;

use super::depth::InFilter;
use super::types::DepthContribution;
use crate::error::{ApiError, ApiResult};

/// One person's engagement within a filter, scored as a lead.
#[derive(SimpleObject, Clone, Debug)]
pub struct PersonDepth {
    /// The contact's id.
    pub contact: ID,
    pub name: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// Lifecycle stage.
    pub stage: Option<String>,
    /// The organization their events name; null when they name none.
    pub organization: Option<ID>,
    /// The lead score: the workspace's depth weights applied to the parts of depth
    /// that apply to one person, shown in `contributions`.
    pub lead_score: f64,
    /// The lead score's working. For one person ENGAGED_CONTACTS, ATTENDEES,
    /// FULL_STAY_ATTENDEES, QUESTION_ASKERS and COLLEAGUE_SPREAD count 0 or 1,
    /// INFO_REQUESTS and INTERNAL_SHARES count their events, BREADTH their assets.
    /// Over an organization's people every part but BREADTH adds up to the
    /// organization's depth.
    pub contributions: Vec<DepthContribution>,
    /// Events of any kind.
    pub events: u64,
    /// Whether they attended a webinar or video at all.
    pub attended: bool,
    /// Seconds attended, over every webinar and video.
    pub attended_seconds: f64,
    /// Whether they stayed to the end of one webinar or video: attended seconds at
    /// least the workspace's full-stay threshold of its duration.
    pub stayed_to_end: bool,
    pub questions: u64,
    pub info_requests: u64,
    /// Shares to a colleague.
    pub internal_shares: u64,
    /// Whether they engaged with an asset after a colleague had engaged with it first.
    pub followed_colleague: bool,
    /// Distinct assets engaged with.
    pub assets: u64,
}

impl PersonDepth {
    /// A person's engagement and score with what is known of the contact.
    pub(crate) fn new(
        person: core::PersonDepth,
        score: DepthScore,
        contact: Option<&contact::Model>,
    ) -> Self {
        Self {
            contact: ID(person.contact),
            name: contact.and_then(|c| c.name.clone()),
            title: contact.and_then(|c| c.title.clone()),
            stage: contact.map(|c| c.stage.clone()),
            organization: person.organization.map(ID),
            lead_score: score.score,
            contributions: DepthContribution::all(score.contributions),
            events: person.events,
            attended: person.attended,
            attended_seconds: person.attended_seconds,
            stayed_to_end: person.stayed_to_end,
            questions: person.questions,
            info_requests: person.info_requests,
            internal_shares: person.internal_shares,
            followed_colleague: person.followed_colleague,
            assets: person.assets,
        }
    }

    /// People with their scores, named from their contact rows in one read.
    pub(crate) async fn described(
        ws: &WorkspaceStore,
        people: Vec<(core::PersonDepth, DepthScore)>,
    ) -> ApiResult<Vec<Self>> {
        let ids: Vec<String> = people.iter().map(|(p, _)| p.contact.clone()).collect();
        let contacts = ws.contacts_named(&ids).await?;
        Ok(people
            .into_iter()
            .map(|(person, score)| {
                let contact = contacts.get(&person.contact);
                Self::new(person, score, contact)
            })
            .collect())
    }

    /// People scored with the workspace's weights and named.
    pub(crate) async fn scored(
        ws: &WorkspaceStore,
        people: Vec<core::PersonDepth>,
    ) -> ApiResult<Vec<Self>> {
        let weights = ws.depth_weights();
        let scored = people
            .into_iter()
            .map(|p| {
                let score = weights.score(p.parts());
                (p, score)
            })
            .collect();
        Self::described(ws, scored).await
    }
}

/// How a list of contacts is ordered.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq, Default)]
pub enum ContactOrder {
    /// In creation order.
    #[default]
    Created,
    /// Highest lead score within the filter first: the ranked list of leads (only
    /// contacts with events in it).
    Depth,
}

/// Which of an asset's people to list.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq, Default)]
pub enum AudienceStep {
    /// Everyone with an event on the asset.
    #[default]
    Engaged,
    /// Everyone who attended it.
    Attended,
    /// Everyone who stayed to the end.
    StayedToEnd,
    /// Everyone who asked a question on it.
    AskedQuestion,
}

impl AudienceStep {
    pub(crate) fn includes(self, person: &core::PersonDepth) -> bool {
        match self {
            Self::Engaged => person.events > 0,
            Self::Attended => person.attended,
            Self::StayedToEnd => person.stayed_to_end,
            Self::AskedQuestion => person.questions > 0,
        }
    }
}

/// One person of an asset's audience, with their engagement with that asset.
#[derive(SimpleObject, Clone, Debug)]
pub struct AudienceMember {
    /// Place in the list (1 = highest lead score on this asset).
    pub rank: u64,
    /// Their engagement with this asset alone.
    pub person: PersonDepth,
    /// Others of the list from the same organization, highest score first.
    pub colleagues: Vec<ID>,
}

/// An asset's audience at one step, ranked: each person with the others of the list
/// from their organization.
pub(crate) fn audience(leads: &[Lead], who: AudienceStep) -> Vec<(Lead, Vec<ID>)> {
    let listed: Vec<&Lead> = leads.iter().filter(|l| who.includes(&l.person)).collect();
    let mut by_organization: HashMap<&str, Vec<&str>> = HashMap::new();
    for lead in &listed {
        if let Some(org) = lead.person.organization.as_deref() {
            by_organization
                .entry(org)
                .or_default()
                .push(&lead.person.contact);
        }
    }
    listed
        .iter()
        .map(|lead| {
            let colleagues = lead
                .person
                .organization
                .as_deref()
                .and_then(|org| by_organization.get(org))
                .map(|people| {
                    people
                        .iter()
                        .filter(|c| **c != lead.person.contact)
                        .map(|c| ID((*c).to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            ((*lead).clone(), colleagues)
        })
        .collect()
}

/// `Contact.depth` with a filter, batched: the contacts of a page that ask within
/// one workspace and filter are looked up in the filter's one ranked list of leads.
#[derive(Debug, Default)]
pub(crate) struct LeadLoader;

// As for the depth loader: a key's hash and equality read no interior mutability.
#[allow(clippy::mutable_key_type)]
impl Loader<InFilter> for LeadLoader {
    type Value = PersonDepth;
    type Error = ApiError;

    async fn load(&self, keys: &[InFilter]) -> Result<HashMap<InFilter, Self::Value>, ApiError> {
        let mut found = HashMap::with_capacity(keys.len());
        for group in InFilter::groups(keys) {
            let Some(first) = group.first() else { continue };
            let ws = &first.ws;
            let leads = ws.leads(&first.filter).await?;
            let by_contact: HashMap<&str, &Lead> = leads
                .iter()
                .map(|l| (l.person.contact.as_str(), l))
                .collect();
            let nothing = ws.depth_weights().score(DepthParts::default());
            let people = group
                .iter()
                .map(|key| match by_contact.get(key.id.as_str()) {
                    Some(lead) => (lead.person.clone(), lead.score.clone()),
                    None => (
                        core::PersonDepth {
                            contact: key.id.as_str().to_owned(),
                            ..core::PersonDepth::default()
                        },
                        nothing.clone(),
                    ),
                })
                .collect();
            let described = PersonDepth::described(ws, people).await?;
            for (key, person) in group.into_iter().zip(described) {
                found.insert(key.clone(), person);
            }
        }
        Ok(found)
    }
}
