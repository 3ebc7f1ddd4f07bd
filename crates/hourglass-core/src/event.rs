//! Engagement events as clients send them, and the rules that make one acceptable.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::catalog::{FieldError, MAX_AMOUNT, json_has_nul};
use crate::ids::ExternalId;
use crate::kinds::{EventKind, Stage, vocabulary};

vocabulary! {
    /// Why one event of a batch was refused. The rest of the batch is unaffected.
    RejectionCode, "rejection code" {
        /// The line is not a JSON object of event fields (NDJSON only).
        MalformedEvent = "MALFORMED_EVENT",
        /// A required field is absent.
        MissingField = "MISSING_FIELD",
        /// `kind` is not one of the event kinds.
        UnknownKind = "UNKNOWN_KIND",
        /// `occurredAt` is not an RFC 3339 time, or is too far in the future.
        InvalidTimestamp = "INVALID_TIMESTAMP",
        /// An id is empty, too long or holds control characters.
        InvalidId = "INVALID_ID",
        /// `value` is missing where the kind needs it, or out of its range.
        InvalidValue = "INVALID_VALUE",
        /// `properties` is not an object, or a property the kind reads is wrong.
        InvalidProperties = "INVALID_PROPERTIES",
        /// The event is larger than the per-event limit.
        EventTooLarge = "EVENT_TOO_LARGE",
        /// `contactTraits` come without a contactId, or one of them is not valid.
        InvalidContactTraits = "INVALID_CONTACT_TRAITS",
    }
}

/// One refused event: a machine-readable code and a sentence for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub code: RejectionCode,
    pub message: String,
}

impl Rejection {
    pub fn new(code: RejectionCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Limits that keep one event, and one batch, within reason. Configurable by operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventLimits {
    /// Largest event accepted, measured as its JSON encoding.
    pub max_event_bytes: usize,
    /// Most events accepted in one request.
    pub max_batch_events: usize,
    /// How far `occurredAt` may lie ahead of the server's clock (tracker clock skew).
    pub max_future_skew: Duration,
}

impl Default for EventLimits {
    fn default() -> Self {
        Self {
            max_event_bytes: 32 * 1024,
            max_batch_events: 500,
            max_future_skew: Duration::hours(24),
        }
    }
}

/// A message id for an event that came without one (a row of an imported file):
/// derived from its fields, so the same row always gets the same id and importing a
/// file twice stores each row once. Two rows with the same fields are one event.
pub fn derived_message_id(fields: &Map<String, Value>) -> String {
    use sha2::{Digest, Sha256};
    // serde_json's map is ordered by key: the text is the same for the same fields.
    let canonical = Value::Object(fields.clone()).to_string();
    let digest = Sha256::digest(canonical.as_bytes());
    format!("row-{}", hex::encode(&digest[..16]))
}

/// An event exactly as a client sent it, before any check.
///
/// Every field is optional here so that a missing one is reported as
/// `MISSING_FIELD` for that event instead of failing the whole batch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventDraft {
    pub message_id: Option<String>,
    pub kind: Option<String>,
    pub occurred_at: Option<String>,
    pub contact_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub organization_id: Option<String>,
    pub campaign_id: Option<String>,
    pub asset_id: Option<String>,
    pub channel: Option<String>,
    pub value: Option<f64>,
    pub properties: Option<Value>,
    /// What identifies the event's contact to a marketer, as the tracker or CRM knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_traits: Option<ContactTraitsDraft>,
}

/// A contact's traits as a client sent them, before any check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactTraitsDraft {
    pub email: Option<String>,
    pub name: Option<String>,
    pub title: Option<String>,
}

/// What identifies a contact to a marketer, checked: the e-mail address in lower case,
/// the name and job title trimmed. A trait left out stays as the contact has it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactTraits {
    pub email: Option<String>,
    pub name: Option<String>,
    pub title: Option<String>,
}

impl ContactTraits {
    /// These traits, with any given in `newer` taking their place.
    pub fn updated_by(self, newer: &Self) -> Self {
        Self {
            email: newer.email.clone().or(self.email),
            name: newer.name.clone().or(self.name),
            title: newer.title.clone().or(self.title),
        }
    }
}

impl ContactTraitsDraft {
    pub(crate) fn validate(self) -> Result<ContactTraits, FieldError> {
        Ok(ContactTraits {
            email: self
                .email
                .as_deref()
                .map(crate::catalog::email)
                .transpose()?,
            name: self
                .name
                .as_deref()
                .map(|n| crate::catalog::name("contactTraits.name", n))
                .transpose()?,
            title: self
                .title
                .as_deref()
                .map(|t| crate::catalog::name("contactTraits.title", t))
                .transpose()?,
        })
    }
}

/// An event that passed every check, ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub message_id: ExternalId,
    pub kind: EventKind,
    pub occurred_at: DateTime<Utc>,
    pub contact_id: Option<ExternalId>,
    pub anonymous_id: Option<ExternalId>,
    pub organization_id: Option<ExternalId>,
    pub campaign_id: Option<ExternalId>,
    pub asset_id: Option<ExternalId>,
    pub channel: Option<String>,
    pub value: Option<f64>,
    pub properties: Map<String, Value>,
    /// Traits of the event's contact (only with a contact).
    pub contact_traits: Option<ContactTraits>,
}

impl NewEvent {
    /// The stage a `STAGE_CHANGE` event moves its contact to.
    pub fn stage_to(&self) -> Option<Stage> {
        if self.kind != EventKind::StageChange {
            return None;
        }
        self.properties
            .get("to")
            .and_then(Value::as_str)
            .and_then(|s| Stage::parse(s).ok())
    }
}

/// Longest channel name kept; channels are short words like `paid_search`.
const MAX_CHANNEL_LEN: usize = 64;

/// Normalises a channel name: trimmed, lower case, inner white space as `_`.
pub fn normalize_channel(raw: &str) -> String {
    raw.split_whitespace()
        .collect::<Vec<_>>()
        .join("_")
        .to_lowercase()
}

/// A channel as events, spend and filters name it: normalised, not empty, short, and
/// free of control characters.
pub fn channel(raw: &str) -> Result<String, FieldError> {
    let channel = normalize_channel(raw);
    if channel.is_empty()
        || channel.chars().count() > MAX_CHANNEL_LEN
        || channel.chars().any(char::is_control)
    {
        return Err(FieldError::new(
            "channel",
            format!(
                "must be a short name of at most {MAX_CHANNEL_LEN} characters, such as paid_search"
            ),
        ));
    }
    Ok(channel)
}

impl EventDraft {
    /// Checks every rule of domain.md for one event. `received_at` is the server's
    /// clock, passed in because this crate never reads one.
    pub fn validate(
        self,
        limits: &EventLimits,
        received_at: DateTime<Utc>,
    ) -> Result<NewEvent, Rejection> {
        let size = serde_json::to_vec(&self).map_or(usize::MAX, |bytes| bytes.len());
        if size > limits.max_event_bytes {
            return Err(Rejection::new(
                RejectionCode::EventTooLarge,
                format!(
                    "the event is {size} bytes; the limit is {} bytes",
                    limits.max_event_bytes
                ),
            ));
        }

        let message_id = required_id(self.message_id, "messageId")?;
        let kind = match self.kind {
            None => return Err(missing("kind")),
            Some(raw) => raw
                .parse::<EventKind>()
                .map_err(|e| Rejection::new(RejectionCode::UnknownKind, e.to_string()))?,
        };
        let occurred_at = parse_occurred_at(self.occurred_at, limits, received_at)?;

        let contact_id = optional_id(self.contact_id, "contactId")?;
        let anonymous_id = optional_id(self.anonymous_id, "anonymousId")?;
        let organization_id = optional_id(self.organization_id, "organizationId")?;
        if contact_id.is_none() && anonymous_id.is_none() && organization_id.is_none() {
            return Err(Rejection::new(
                RejectionCode::MissingField,
                "an event needs someone: give contactId, anonymousId or organizationId",
            ));
        }
        let campaign_id = optional_id(self.campaign_id, "campaignId")?;
        let asset_id = optional_id(self.asset_id, "assetId")?;

        // A blank channel is no channel; anything else follows the one channel rule.
        let channel = match self.channel.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(
                channel(raw)
                    .map_err(|e| Rejection::new(RejectionCode::InvalidId, e.to_string()))?,
            ),
        };

        let properties = match self.properties {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map,
            Some(_) => {
                return Err(Rejection::new(
                    RejectionCode::InvalidProperties,
                    "properties must be a JSON object",
                ));
            }
        };

        check_value(kind, self.value)?;
        if properties
            .iter()
            .any(|(key, value)| key.contains('\0') || json_has_nul(value))
        {
            return Err(Rejection::new(
                RejectionCode::InvalidProperties,
                "properties may not contain the NUL character (U+0000)",
            ));
        }
        check_properties(kind, &properties)?;
        let contact_traits =
            match (self.contact_traits, &contact_id) {
                (None, _) => None,
                (Some(_), None) => {
                    return Err(Rejection::new(
                        RejectionCode::InvalidContactTraits,
                        "contactTraits describe the event's contact: give contactId",
                    ));
                }
                (Some(draft), Some(_)) => Some(draft.validate().map_err(|e| {
                    Rejection::new(RejectionCode::InvalidContactTraits, e.to_string())
                })?),
            };

        Ok(NewEvent {
            message_id,
            kind,
            occurred_at,
            contact_id,
            anonymous_id,
            organization_id,
            campaign_id,
            asset_id,
            channel,
            value: self.value,
            properties,
            contact_traits,
        })
    }
}

fn missing(field: &str) -> Rejection {
    Rejection::new(RejectionCode::MissingField, format!("{field} is required"))
}

fn required_id(raw: Option<String>, what: &'static str) -> Result<ExternalId, Rejection> {
    optional_id(raw, what)?.ok_or_else(|| missing(what))
}

fn optional_id(raw: Option<String>, what: &'static str) -> Result<Option<ExternalId>, Rejection> {
    raw.map(|raw| ExternalId::parse(&raw, what))
        .transpose()
        .map_err(|e| Rejection::new(RejectionCode::InvalidId, e.to_string()))
}

fn parse_occurred_at(
    raw: Option<String>,
    limits: &EventLimits,
    received_at: DateTime<Utc>,
) -> Result<DateTime<Utc>, Rejection> {
    let raw = raw.ok_or_else(|| missing("occurredAt"))?;
    let at = DateTime::parse_from_rfc3339(&raw)
        .map_err(|e| {
            Rejection::new(
                RejectionCode::InvalidTimestamp,
                format!(
                    "occurredAt '{raw}' is not an RFC 3339 time such as 2026-03-01T09:30:00Z ({e})"
                ),
            )
        })?
        .with_timezone(&Utc);
    if at > received_at + limits.max_future_skew {
        return Err(Rejection::new(
            RejectionCode::InvalidTimestamp,
            format!(
                "occurredAt {at} is more than {} hours ahead of the server's clock",
                limits.max_future_skew.num_hours()
            ),
        ));
    }
    if at.timestamp() < 0 {
        return Err(Rejection::new(
            RejectionCode::InvalidTimestamp,
            "occurredAt is before 1970",
        ));
    }
    Ok(at)
}

/// Longest attendance we believe for one event: a week of seconds.
const MAX_ATTENDED_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

fn check_value(kind: EventKind, value: Option<f64>) -> Result<(), Rejection> {
    let invalid = |msg: String| Err(Rejection::new(RejectionCode::InvalidValue, msg));
    if let Some(v) = value
        && !(v.is_finite() && v.abs() <= MAX_AMOUNT)
    {
        return invalid(format!(
            "value must be a finite number from -{MAX_AMOUNT:e} to {MAX_AMOUNT:e}; got {v}"
        ));
    }
    match (kind, value) {
        (EventKind::Attendance, None) => {
            invalid("ATTENDANCE needs value: the seconds attended".into())
        }
        (EventKind::Attendance, Some(v)) if !(0.0..=MAX_ATTENDED_SECONDS).contains(&v) => invalid(
            format!("ATTENDANCE value is seconds attended, 0 to {MAX_ATTENDED_SECONDS}; got {v}"),
        ),
        (EventKind::SurveyResponse, None) => {
            invalid("SURVEY_RESPONSE needs value: the score from 0 to 10".into())
        }
        (EventKind::SurveyResponse, Some(v)) if !(0.0..=10.0).contains(&v) || v.fract() != 0.0 => {
            invalid(format!(
                "SURVEY_RESPONSE value is a whole score from 0 to 10; got {v}"
            ))
        }
        (EventKind::Revenue, None) => invalid("REVENUE needs value: the amount won".into()),
        _ => Ok(()),
    }
}

/// The longest `SHARE` recipient accepted: room for any e-mail address.
pub const MAX_RECIPIENT_LEN: usize = 320;

fn check_properties(kind: EventKind, properties: &Map<String, Value>) -> Result<(), Rejection> {
    let invalid = |msg: String| Err(Rejection::new(RejectionCode::InvalidProperties, msg));
    let string_prop = |name: &str| -> Result<Option<&str>, Rejection> {
        match properties.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Rejection::new(
                RejectionCode::InvalidProperties,
                format!("properties.{name} must be a string"),
            )),
        }
    };
    match kind {
        EventKind::StageChange => {
            match string_prop("to")? {
                None => {
                    return invalid(
                        "STAGE_CHANGE needs properties.to, the new lifecycle stage".into(),
                    );
                }
                Some(to) => {
                    Stage::parse(to).map_err(|e| {
                        Rejection::new(RejectionCode::InvalidProperties, e.to_string())
                    })?;
                }
            }
            if let Some(from) = string_prop("from")? {
                Stage::parse(from)
                    .map_err(|e| Rejection::new(RejectionCode::InvalidProperties, e.to_string()))?;
            }
        }
        EventKind::Revenue => {
            if let Some(currency) = string_prop("currency")?
                && !(currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()))
            {
                return invalid(format!(
                    "properties.currency is an ISO 4217 code such as EUR or USD; got '{currency}'"
                ));
            }
            string_prop("deal")?;
        }
        EventKind::Share => {
            // A contact id (at most 200 characters) or an e-mail address (at most
            // 254): anything longer is not a recipient, and depth keys facts by it.
            if let Some(recipient) = string_prop("recipient")?
                && recipient.chars().count() > MAX_RECIPIENT_LEN
            {
                return invalid(format!(
                    "properties.recipient is a contact id or an e-mail address of at most \
                     {MAX_RECIPIENT_LEN} characters"
                ));
            }
        }
        EventKind::Referral => {
            string_prop("referred")?;
        }
        EventKind::SurveyResponse => {
            string_prop("survey")?;
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-03-02T00:00:00Z".parse().unwrap()
    }

    fn draft(kind: &str) -> EventDraft {
        EventDraft {
            message_id: Some("m-1".into()),
            kind: Some(kind.into()),
            occurred_at: Some("2026-03-01T09:30:00+01:00".into()),
            contact_id: Some("c-1".into()),
            ..EventDraft::default()
        }
    }

    fn code(draft: EventDraft) -> RejectionCode {
        draft
            .validate(&EventLimits::default(), now())
            .unwrap_err()
            .code
    }

    #[test]
    fn contact_traits_are_checked_and_need_a_contact() {
        let traits = |email: Option<&str>, name: Option<&str>| ContactTraitsDraft {
            email: email.map(Into::into),
            name: name.map(Into::into),
            title: None,
        };
        let with = |t: ContactTraitsDraft| EventDraft {
            contact_traits: Some(t),
            ..draft("PAGE_VIEW")
        };
        let event = with(traits(Some(" Ann@Acme.COM "), Some(" Ann Lee ")))
            .validate(&EventLimits::default(), now())
            .unwrap();
        assert_eq!(
            event.contact_traits,
            Some(ContactTraits {
                email: Some("ann@acme.com".into()),
                name: Some("Ann Lee".into()),
                title: None,
            })
        );
        assert_eq!(
            code(with(traits(Some("not an address"), None))),
            RejectionCode::InvalidContactTraits
        );
        assert_eq!(
            code(with(traits(None, Some("  ")))),
            RejectionCode::InvalidContactTraits
        );
        let anonymous = EventDraft {
            contact_id: None,
            anonymous_id: Some("v-1".into()),
            ..with(traits(None, Some("Ann")))
        };
        assert_eq!(code(anonymous), RejectionCode::InvalidContactTraits);

        let older = ContactTraits {
            email: Some("a@x.com".into()),
            name: Some("A".into()),
            title: Some("CFO".into()),
        };
        let newer = ContactTraits {
            title: Some("CEO".into()),
            ..ContactTraits::default()
        };
        assert_eq!(
            older.updated_by(&newer),
            ContactTraits {
                email: Some("a@x.com".into()),
                name: Some("A".into()),
                title: Some("CEO".into()),
            }
        );
    }

    #[test]
    fn a_plain_page_view_is_accepted_and_normalised() {
        let mut d = draft("PAGE_VIEW");
        d.channel = Some("  Paid   Search ".into());
        let event = d.validate(&EventLimits::default(), now()).unwrap();
        assert_eq!(event.kind, EventKind::PageView);
        assert_eq!(event.occurred_at.to_rfc3339(), "2026-03-01T08:30:00+00:00");
        assert_eq!(event.channel.as_deref(), Some("paid_search"));
    }

    #[test]
    fn each_broken_field_has_its_own_code() {
        assert_eq!(code(draft("PAGEVIEW")), RejectionCode::UnknownKind);
        let mut d = draft("CLICK");
        d.occurred_at = Some("yesterday".into());
        assert_eq!(code(d), RejectionCode::InvalidTimestamp);
        let mut d = draft("CLICK");
        d.occurred_at = Some("2026-03-04T00:00:01Z".into());
        assert_eq!(code(d), RejectionCode::InvalidTimestamp, "too far ahead");
        let mut d = draft("CLICK");
        d.message_id = None;
        assert_eq!(code(d), RejectionCode::MissingField);
        let mut d = draft("CLICK");
        d.contact_id = None;
        assert_eq!(code(d), RejectionCode::MissingField, "nobody did it");
        let mut d = draft("CLICK");
        d.contact_id = Some(String::new());
        assert_eq!(code(d), RejectionCode::InvalidId);
        let mut d = draft("CLICK");
        d.properties = Some(json!([1, 2]));
        assert_eq!(code(d), RejectionCode::InvalidProperties);
    }

    #[test]
    fn kinds_that_carry_a_number_insist_on_a_sensible_one() {
        assert_eq!(code(draft("ATTENDANCE")), RejectionCode::InvalidValue);
        let mut d = draft("ATTENDANCE");
        d.value = Some(-5.0);
        assert_eq!(code(d), RejectionCode::InvalidValue);
        let mut d = draft("SURVEY_RESPONSE");
        d.value = Some(11.0);
        assert_eq!(code(d), RejectionCode::InvalidValue);
        let mut d = draft("SURVEY_RESPONSE");
        d.value = Some(7.5);
        assert_eq!(code(d), RejectionCode::InvalidValue);
        let mut d = draft("SURVEY_RESPONSE");
        d.value = Some(9.0);
        assert!(d.validate(&EventLimits::default(), now()).is_ok());
        let mut d = draft("CLICK");
        d.value = Some(f64::NAN);
        assert_eq!(code(d), RejectionCode::InvalidValue);
    }

    #[test]
    fn stage_changes_need_a_valid_target_stage() {
        assert_eq!(
            code(draft("STAGE_CHANGE")),
            RejectionCode::InvalidProperties
        );
        let mut d = draft("STAGE_CHANGE");
        d.properties = Some(json!({"to": "hot"}));
        assert_eq!(code(d), RejectionCode::InvalidProperties);
        let mut d = draft("STAGE_CHANGE");
        d.properties = Some(json!({"to": "OQL", "from": "MQL"}));
        let event = d.validate(&EventLimits::default(), now()).unwrap();
        assert_eq!(event.stage_to().unwrap().as_str(), "OQL");
    }

    #[test]
    fn text_no_database_can_store_and_absurd_amounts_are_rejected_per_event() {
        for properties in [
            json!({"text": "a\u{0}b"}),
            json!({"a\u{0}": 1}),
            json!({"x": [{"y": "\u{0}"}]}),
        ] {
            let mut d = draft("CLICK");
            d.properties = Some(properties.clone());
            assert_eq!(code(d), RejectionCode::InvalidProperties, "{properties}");
        }
        let mut d = draft("REVENUE");
        d.value = Some(1e308);
        assert_eq!(code(d), RejectionCode::InvalidValue);
        let mut d = draft("CLICK");
        d.channel = Some("e\u{0}mail".into());
        assert_eq!(code(d), RejectionCode::InvalidId);
        let mut d = draft("CLICK");
        d.channel = Some("  Paid   Search ".into());
        let event = d.validate(&EventLimits::default(), now()).unwrap();
        assert_eq!(event.channel.as_deref(), Some("paid_search"));
    }

    #[test]
    fn revenue_currency_is_an_iso_code() {
        let mut d = draft("REVENUE");
        d.value = Some(1200.0);
        d.properties = Some(json!({"currency": "euro"}));
        assert_eq!(code(d), RejectionCode::InvalidProperties);
    }

    #[test]
    fn a_share_recipient_is_an_id_or_an_address_not_an_essay() {
        let mut d = draft("SHARE");
        d.properties = Some(json!({"recipient": "x".repeat(MAX_RECIPIENT_LEN + 1)}));
        assert_eq!(code(d), RejectionCode::InvalidProperties);
        let mut d = draft("SHARE");
        let longest = format!("{}@acme.com", "x".repeat(MAX_RECIPIENT_LEN - 9));
        d.properties = Some(json!({ "recipient": longest }));
        assert!(d.validate(&EventLimits::default(), now()).is_ok());
    }

    #[test]
    fn oversize_events_are_refused_not_truncated() {
        let mut d = draft("COMMENT");
        d.properties = Some(json!({"text": "x".repeat(40 * 1024)}));
        assert_eq!(code(d), RejectionCode::EventTooLarge);
    }

    #[test]
    fn unknown_fields_are_refused_when_parsing_a_draft() {
        let err = serde_json::from_str::<EventDraft>(r#"{"messageId":"a","occured_at":"x"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("occured_at"), "{err}");
    }
}
