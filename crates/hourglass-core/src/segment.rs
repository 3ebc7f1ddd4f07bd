//! The Segment tracking spec, read as hourglass events and identifications.
//!
//! Trackers that speak Segment (analytics.js, analytics-node, analytics-python, …)
//! send `track`, `page`, `screen`, `identify`, `group` and `alias` messages. Each
//! becomes either an [`EventDraft`], which then passes the same checks as any other
//! event, or an [`Identification`]. Nothing here reads a clock or a database: the
//! receive time and the workspace's own track names are handed in.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::catalog::name;
use crate::event::{ContactTraitsDraft, EventDraft, Rejection, RejectionCode, derived_message_id};
use crate::identity::Identification;
use crate::ids::ExternalId;
use crate::kinds::EventKind;

/// Track names every workspace understands, as `(kind, names)`. Names compare
/// [normalised](normalize_track_name), so `Webinar Attended`, `webinar_attended`
/// and `webinarAttended` are one name; each kind's own spelling (`PAGE_VIEW`) works too.
pub const BUILT_IN_TRACK_NAMES: &[(EventKind, &[&str])] = &[
    (
        EventKind::Impression,
        &["Impression", "Ad Impression", "Ad Viewed"],
    ),
    (
        EventKind::PageView,
        &["Page Viewed", "Landing Page Viewed", "Pageview"],
    ),
    (EventKind::Like, &["Liked", "Post Liked"]),
    (EventKind::Share, &["Shared", "Content Shared"]),
    (EventKind::Repost, &["Reposted", "Retweeted"]),
    (EventKind::Comment, &["Commented", "Comment Added"]),
    (
        EventKind::Click,
        &[
            "Clicked",
            "Link Clicked",
            "CTA Clicked",
            "Ad Clicked",
            "Email Link Clicked",
        ],
    ),
    (
        EventKind::Download,
        &["Downloaded", "File Downloaded", "Whitepaper Downloaded"],
    ),
    (
        EventKind::Registration,
        &[
            "Registered",
            "Signed Up",
            "Webinar Registered",
            "Event Registered",
        ],
    ),
    (
        EventKind::Attendance,
        &["Attended", "Webinar Attended", "Event Attended"],
    ),
    (EventKind::Question, &["Question Asked"]),
    (
        EventKind::InfoRequest,
        &["Info Requested", "Information Requested", "Demo Requested"],
    ),
    (EventKind::Mention, &["Mentioned", "Brand Mentioned"]),
    (
        EventKind::Testimonial,
        &["Testimonial Given", "Testimonial Submitted"],
    ),
    (
        EventKind::SurveyResponse,
        &["Survey Answered", "Survey Responded", "NPS Submitted"],
    ),
    (EventKind::Referral, &["Referred", "Referral Sent"]),
    (
        EventKind::StageChange,
        &["Stage Changed", "Lifecycle Stage Changed"],
    ),
    (EventKind::Revenue, &["Order Completed", "Deal Won"]),
];

/// A track name as it is compared: lower case, letters and digits only.
pub fn normalize_track_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// How a workspace reads `track` names: its own mapping first, then the built-in
/// names, then [`EventKind::Custom`].
#[derive(Debug, Clone, Default)]
pub struct TrackNames {
    /// Normalised name → kind.
    own: BTreeMap<String, EventKind>,
}

impl TrackNames {
    /// The workspace's own names (as stored: any spelling) over the built-in ones.
    pub fn new<'a>(own: impl IntoIterator<Item = (&'a str, EventKind)>) -> Self {
        Self {
            own: own
                .into_iter()
                .map(|(name, kind)| (normalize_track_name(name), kind))
                .collect(),
        }
    }

    /// The kind a tracked name stands for.
    pub fn kind_of(&self, name: &str) -> EventKind {
        let name = normalize_track_name(name);
        if let Some(kind) = self.own.get(&name) {
            return *kind;
        }
        BUILT_IN_TRACK_NAMES
            .iter()
            .find(|(kind, names)| {
                normalize_track_name(kind.as_str()) == name
                    || names.iter().any(|n| normalize_track_name(n) == name)
            })
            .map_or(EventKind::Custom, |(kind, _)| *kind)
    }
}

/// One message of the tracking spec, as the libraries send it. Fields hourglass
/// does not read (`integrations`, `_metadata`, `sentAt`, …) are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentMessage {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub message_id: Option<String>,
    pub timestamp: Option<String>,
    pub original_timestamp: Option<String>,
    /// Segment allows numbers for ids; they are read as their decimal text.
    pub user_id: Option<Value>,
    pub anonymous_id: Option<Value>,
    pub previous_id: Option<Value>,
    pub group_id: Option<Value>,
    /// The name of a `track` call.
    pub event: Option<String>,
    /// The name of a `page` or `screen` call.
    pub name: Option<String>,
    pub properties: Option<Value>,
    pub traits: Option<Value>,
    pub context: Option<Value>,
}

/// What a message becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Translated {
    Event(EventDraft),
    Identity(Identification),
}

/// Reads one message. `received_at` stands in for a message without a timestamp,
/// as Segment itself does; a message without a `messageId` gets one derived from its
/// content as sent (so a retry is still recognised).
pub fn translate(
    raw: Map<String, Value>,
    names: &TrackNames,
    received_at: DateTime<Utc>,
) -> Result<Translated, Rejection> {
    let message_id = match raw.get("messageId").and_then(Value::as_str) {
        Some(id) if !id.trim().is_empty() => id.to_owned(),
        _ => derived_message_id(&raw),
    };
    let message: SegmentMessage = serde_json::from_value(Value::Object(raw)).map_err(|e| {
        invalid(
            RejectionCode::MalformedEvent,
            format!("not a Segment message: {e}"),
        )
    })?;
    let kind = message.kind.as_deref().map(str::to_ascii_lowercase);
    match kind.as_deref() {
        Some("track") => {
            let event = message
                .event
                .clone()
                .filter(|e| !e.trim().is_empty())
                .ok_or_else(|| invalid(RejectionCode::MissingField, "a track call needs event"))?;
            let kind = names.kind_of(&event);
            Ok(Translated::Event(event_draft(
                message,
                message_id,
                kind,
                Some(&event),
                received_at,
            )?))
        }
        Some("page" | "screen") => Ok(Translated::Event(event_draft(
            message,
            message_id,
            EventKind::PageView,
            None,
            received_at,
        )?)),
        Some("identify") => {
            identification(message, IdentityCall::Identify).map(Translated::Identity)
        }
        Some("group") => identification(message, IdentityCall::Group).map(Translated::Identity),
        Some("alias") => identification(message, IdentityCall::Alias).map(Translated::Identity),
        Some(other) => Err(invalid(
            RejectionCode::UnknownKind,
            format!(
                "'{other}' is not a Segment call hourglass reads; expected track, page, screen, identify, group or alias"
            ),
        )),
        None => Err(invalid(RejectionCode::MissingField, "type is required")),
    }
}

fn invalid(code: RejectionCode, message: impl Into<String>) -> Rejection {
    Rejection::new(code, message)
}

/// An id as text: Segment sends strings, and numbers from some libraries.
fn id_text(value: &Option<Value>, what: &str) -> Result<Option<String>, Rejection> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(invalid(
            RejectionCode::InvalidId,
            format!("{what} must be a string or a number"),
        )),
    }
}

fn object(value: Option<&Value>) -> Option<&Map<String, Value>> {
    value.and_then(Value::as_object)
}

fn text<'a>(map: Option<&'a Map<String, Value>>, keys: &[&str]) -> Option<&'a str> {
    let map = map?;
    keys.iter()
        .find_map(|k| map.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A number, or a string holding one (`"revenue": "25.00"` is common).
fn number(map: &Map<String, Value>, keys: &[&str]) -> Option<f64> {
    keys.iter().find_map(|k| match map.get(*k)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Where a kind's number comes from in `properties`, after `value`.
fn value_keys(kind: EventKind) -> &'static [&'static str] {
    match kind {
        EventKind::Revenue => &["value", "revenue", "total"],
        EventKind::SurveyResponse => &["value", "score"],
        EventKind::Attendance => &["value", "seconds", "duration"],
        _ => &["value"],
    }
}

fn event_draft(
    message: SegmentMessage,
    message_id: String,
    kind: EventKind,
    event_name: Option<&str>,
    received_at: DateTime<Utc>,
) -> Result<EventDraft, Rejection> {
    let mut properties = match message.properties {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(invalid(
                RejectionCode::InvalidProperties,
                "properties must be a JSON object",
            ));
        }
    };
    let context = object(message.context.as_ref());
    let campaign = object(context.and_then(|c| c.get("campaign")));
    if let Some(name) = &message.name {
        properties
            .entry("name")
            .or_insert_with(|| name.clone().into());
    }
    if let Some(event) = event_name {
        properties.entry("event").or_insert_with(|| event.into());
    }
    let value = number(&properties, value_keys(kind));
    let organization = text(context, &["groupId"]).map(str::to_owned);
    let draft = EventDraft {
        message_id: Some(message_id),
        kind: Some(kind.as_str().to_owned()),
        occurred_at: Some(
            message
                .timestamp
                .or(message.original_timestamp)
                .unwrap_or_else(|| received_at.to_rfc3339_opts(SecondsFormat::Millis, true)),
        ),
        contact_id: id_text(&message.user_id, "userId")?,
        anonymous_id: id_text(&message.anonymous_id, "anonymousId")?,
        organization_id: organization,
        campaign_id: text(Some(&properties), &["campaignId", "campaign_id"])
            .or_else(|| text(campaign, &["name"]))
            .map(str::to_owned),
        asset_id: text(Some(&properties), &["assetId", "asset_id"]).map(str::to_owned),
        channel: text(Some(&properties), &["channel"])
            .or_else(|| text(campaign, &["medium"]))
            .map(str::to_owned),
        value,
        properties: Some(Value::Object(properties)),
        contact_traits: None,
    };
    Ok(draft)
}

#[derive(Debug, Clone, Copy)]
enum IdentityCall {
    Identify,
    Group,
    Alias,
}

fn identification(
    message: SegmentMessage,
    call: IdentityCall,
) -> Result<Identification, Rejection> {
    let user = id_text(&message.user_id, "userId")?.ok_or_else(|| {
        invalid(
            RejectionCode::MissingField,
            "userId is required: hourglass keeps traits of known contacts only",
        )
    })?;
    let contact_id = parse_id(&user, "userId")?;
    let earlier = match call {
        IdentityCall::Alias => &message.previous_id,
        IdentityCall::Identify | IdentityCall::Group => &message.anonymous_id,
    };
    let anonymous_id = id_text(earlier, "anonymousId")?
        .map(|id| parse_id(&id, "anonymousId"))
        .transpose()?;
    let traits = object(message.traits.as_ref())
        .or_else(|| object(object(message.context.as_ref()).and_then(|c| c.get("traits"))));
    let (organization_id, organization_name, traits) = match call {
        IdentityCall::Group => {
            let group = id_text(&message.group_id, "groupId")?.ok_or_else(|| {
                invalid(RejectionCode::MissingField, "a group call needs groupId")
            })?;
            let name = text(traits, &["name"])
                .map(|n| checked_name("traits.name", n))
                .transpose()?;
            (Some(parse_id(&group, "groupId")?), name, None)
        }
        IdentityCall::Identify => {
            let company = object(traits.and_then(|t| t.get("company")));
            let organization = company
                .and_then(|c| c.get("id"))
                .map(|id| id_text(&Some(id.clone()), "traits.company.id"))
                .transpose()?
                .flatten()
                .map(|id| parse_id(&id, "traits.company.id"))
                .transpose()?;
            let name = match organization {
                Some(_) => text(company, &["name"])
                    .map(|n| checked_name("traits.company.name", n))
                    .transpose()?,
                None => None,
            };
            (organization, name, contact_traits(traits)?)
        }
        IdentityCall::Alias => (None, None, None),
    };
    Ok(Identification {
        contact_id,
        anonymous_id,
        organization_id,
        organization_name,
        traits,
    })
}

fn parse_id(raw: &str, what: &'static str) -> Result<ExternalId, Rejection> {
    ExternalId::parse(raw, what).map_err(|e| invalid(RejectionCode::InvalidId, e.to_string()))
}

fn checked_name(field: &'static str, raw: &str) -> Result<String, Rejection> {
    name(field, raw).map_err(|e| invalid(RejectionCode::InvalidContactTraits, e.to_string()))
}

/// The traits hourglass keeps: e-mail, name (or first and last name) and title.
fn contact_traits(
    traits: Option<&Map<String, Value>>,
) -> Result<Option<crate::event::ContactTraits>, Rejection> {
    let Some(traits) = traits else {
        return Ok(None);
    };
    let full_name = text(Some(traits), &["name"])
        .map(str::to_owned)
        .or_else(|| {
            let parts: Vec<&str> = [
                text(Some(traits), &["firstName", "first_name"]),
                text(Some(traits), &["lastName", "last_name"]),
            ]
            .into_iter()
            .flatten()
            .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        });
    let draft = ContactTraitsDraft {
        email: text(Some(traits), &["email"]).map(str::to_owned),
        name: full_name,
        title: text(Some(traits), &["title"]).map(str::to_owned),
    };
    if draft == ContactTraitsDraft::default() {
        return Ok(None);
    }
    draft
        .validate()
        .map(Some)
        .map_err(|e| invalid(RejectionCode::InvalidContactTraits, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        "2026-11-30T12:00:00Z".parse().unwrap()
    }

    fn message(json: Value) -> Map<String, Value> {
        json.as_object().unwrap().clone()
    }

    #[test]
    fn names_compare_without_case_spaces_or_punctuation() {
        let names = TrackNames::default();
        assert_eq!(names.kind_of("Webinar Attended"), EventKind::Attendance);
        assert_eq!(names.kind_of("webinar_attended"), EventKind::Attendance);
        assert_eq!(names.kind_of("PAGE_VIEW"), EventKind::PageView);
        assert_eq!(names.kind_of("Invented Here"), EventKind::Custom);
        let own = TrackNames::new([("Invented Here", EventKind::Question)]);
        assert_eq!(own.kind_of("invented-here"), EventKind::Question);
    }

    #[test]
    fn an_unknown_track_name_is_kept_as_custom_with_its_name() {
        let Ok(Translated::Event(draft)) = translate(
            message(serde_json::json!({
                "type": "track", "event": "Pricing Calculator Used", "userId": 42,
                "messageId": "m-1", "timestamp": "2026-11-30T10:00:00.123456+00:00",
                "properties": {"plan": "pro"},
                "context": {"campaign": {"name": "q4-launch", "medium": "email"}, "groupId": "acme"}
            })),
            &TrackNames::default(),
            at(),
        ) else {
            panic!("a track call is an event");
        };
        assert_eq!(draft.kind.as_deref(), Some("CUSTOM"));
        assert_eq!(draft.contact_id.as_deref(), Some("42"));
        assert_eq!(draft.campaign_id.as_deref(), Some("q4-launch"));
        assert_eq!(draft.channel.as_deref(), Some("email"));
        assert_eq!(draft.organization_id.as_deref(), Some("acme"));
        let properties = draft.properties.unwrap();
        assert_eq!(properties["event"], "Pricing Calculator Used");
        assert_eq!(properties["plan"], "pro");
    }

    #[test]
    fn a_message_without_id_or_timestamp_gets_a_stable_id_and_the_receive_time() {
        let raw =
            message(serde_json::json!({"type": "page", "anonymousId": "v-1", "name": "Pricing"}));
        let first = translate(raw.clone(), &TrackNames::default(), at()).unwrap();
        let again = translate(raw.clone(), &TrackNames::default(), at()).unwrap();
        assert_eq!(first, again);
        let Translated::Event(draft) = first else {
            panic!("a page call is an event")
        };
        assert_eq!(draft.kind.as_deref(), Some("PAGE_VIEW"));
        assert_eq!(
            draft.occurred_at.as_deref(),
            Some("2026-11-30T12:00:00.000Z")
        );
        assert!(draft.message_id.unwrap().starts_with("row-"));
    }

    #[test]
    fn revenue_and_scores_come_from_their_segment_properties() {
        let track = |event: &str, properties: Value| match translate(
            message(
                serde_json::json!({"type": "track", "event": event, "userId": "u", "properties": properties}),
            ),
            &TrackNames::default(),
            at(),
        ) {
            Ok(Translated::Event(draft)) => draft.value,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            track("Order Completed", serde_json::json!({"revenue": "25.50"})),
            Some(25.5)
        );
        assert_eq!(
            track("NPS Submitted", serde_json::json!({"score": 9})),
            Some(9.0)
        );
        assert_eq!(
            track("Webinar Attended", serde_json::json!({"seconds": 1200})),
            Some(1200.0)
        );
    }

    #[test]
    fn identify_links_the_anonymous_id_and_keeps_the_traits_hourglass_knows() {
        let Ok(Translated::Identity(identity)) = translate(
            message(serde_json::json!({
                "type": "identify", "userId": "u-7", "anonymousId": "v-9",
                "traits": {"email": "Ada@Example.com", "firstName": "Ada", "lastName": "Lovelace",
                           "title": "CTO", "company": {"id": "acme", "name": "Acme Ltd"}}
            })),
            &TrackNames::default(),
            at(),
        ) else {
            panic!("identify is an identification");
        };
        assert_eq!(identity.contact_id.as_str(), "u-7");
        assert_eq!(identity.anonymous_id.unwrap().as_str(), "v-9");
        assert_eq!(identity.organization_id.unwrap().as_str(), "acme");
        assert_eq!(identity.organization_name.as_deref(), Some("Acme Ltd"));
        let traits = identity.traits.unwrap();
        assert_eq!(traits.email.as_deref(), Some("ada@example.com"));
        assert_eq!(traits.name.as_deref(), Some("Ada Lovelace"));
    }

    #[test]
    fn calls_hourglass_cannot_use_say_why() {
        let code = |json: Value| {
            translate(message(json), &TrackNames::default(), at())
                .unwrap_err()
                .code
        };
        assert_eq!(
            code(serde_json::json!({"type": "identify", "anonymousId": "v"})),
            RejectionCode::MissingField
        );
        assert_eq!(
            code(serde_json::json!({"type": "group", "userId": "u"})),
            RejectionCode::MissingField
        );
        assert_eq!(
            code(serde_json::json!({"type": "track", "userId": "u"})),
            RejectionCode::MissingField
        );
        assert_eq!(
            code(serde_json::json!({"type": "teleport", "userId": "u"})),
            RejectionCode::UnknownKind
        );
        assert_eq!(
            code(serde_json::json!({"type": "track", "event": "x", "userId": {"a": 1}})),
            RejectionCode::InvalidId
        );
    }
}
