//! GraphQL mirrors of core vocabularies and shared output types.

use async_graphql::{Enum, SimpleObject};
use hourglass_core::Rate as CoreRate;
use hourglass_core::depth::Contribution;

/// What happened in one engagement event.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "hourglass_core::EventKind")]
pub enum EventKind {
    /// Content was shown (an ad, a post in a feed).
    Impression,
    /// A page was viewed. A page view of a LANDING_PAGE asset is a landing view.
    PageView,
    Like,
    /// Content was shared; `properties.recipient` names the recipient when known.
    Share,
    /// A repost or retweet.
    Repost,
    Comment,
    Click,
    Download,
    /// Someone registered (for a webinar or event).
    Registration,
    /// Someone attended; `value` is the seconds attended.
    Attendance,
    /// Someone asked a question; `properties.text` optional.
    Question,
    /// Someone asked for more information.
    InfoRequest,
    /// The brand was mentioned.
    Mention,
    Testimonial,
    /// An NPS answer; `value` is the score 0–10, `properties.survey` the survey id.
    SurveyResponse,
    /// A referral; `properties.referred` names who was referred.
    Referral,
    /// A lifecycle stage change; `properties.to` (and optionally `from`) name the stages.
    StageChange,
    /// A deal won; `value` is the amount, `properties.currency` and `properties.deal`.
    Revenue,
    /// A tracked event of no known kind (an unmapped Segment `track` name, kept in
    /// `properties.event`); counted by no built-in KPI.
    Custom,
}

/// What kind of content an asset is.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "hourglass_core::AssetKind")]
pub enum AssetKind {
    Article,
    LandingPage,
    /// Has a duration in seconds.
    Webinar,
    /// Has a duration in seconds.
    Video,
    Whitepaper,
    Event,
    Email,
    Ad,
    SocialPost,
}

/// The one goal a campaign serves.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "hourglass_core::Goal")]
pub enum Goal {
    /// Find new customers.
    Find,
    /// Keep existing customers.
    Keep,
    /// Grow what existing customers buy.
    Grow,
}

/// Why one event of a batch was refused.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "hourglass_core::RejectionCode")]
pub enum RejectionCode {
    /// The NDJSON line is not a JSON object of event fields.
    MalformedEvent,
    /// A required field is absent.
    MissingField,
    /// `kind` is not an event kind (NDJSON only; GraphQL checks the enum).
    UnknownKind,
    /// `occurredAt` is not RFC 3339, or too far in the future.
    InvalidTimestamp,
    /// An id is empty, too long, or holds control characters.
    InvalidId,
    /// `value` is missing where the kind needs it, or out of range.
    InvalidValue,
    /// `properties` is not an object, or a property the kind reads is wrong.
    InvalidProperties,
    /// The event is larger than the per-event limit.
    EventTooLarge,
    /// `contactTraits` come without a contactId, or one of them is not valid.
    InvalidContactTraits,
}

/// A proportion that is honest about its sample: `numerator / n` with a 95 % Wilson
/// score interval, and whether `n` reached the workspace's minimum sample.
#[derive(SimpleObject, Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// `numerator / n`; null when `n` is 0.
    pub value: Option<f64>,
    pub numerator: u64,
    /// The sample size: the rate's denominator.
    pub n: u64,
    /// Lower bound of the 95 % Wilson score interval; null when `n` is 0 or the
    /// numerator exceeds `n` (then the ratio is not a proportion).
    pub lower: Option<f64>,
    /// Upper bound of the 95 % Wilson score interval.
    pub upper: Option<f64>,
    /// False while `n` is below the workspace's minimum sample: judge nothing yet.
    pub sufficient: bool,
}

impl From<CoreRate> for Rate {
    fn from(r: CoreRate) -> Self {
        Self {
            value: r.value,
            numerator: r.numerator,
            n: r.n,
            lower: r.lower,
            upper: r.upper,
            sufficient: r.sufficient,
        }
    }
}

/// The parts a depth score is made of.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "hourglass_core::depth::DepthPart")]
pub enum DepthPart {
    /// Distinct contacts with any event.
    EngagedContacts,
    /// Distinct contacts who attended.
    Attendees,
    /// Distinct contacts who stayed through a webinar or video (threshold share of its duration).
    FullStayAttendees,
    /// Distinct contacts who asked a question.
    QuestionAskers,
    /// Information requests.
    InfoRequests,
    /// Shares whose recipient is a colleague (same organization, or an address at its domain).
    InternalShares,
    /// Distinct contacts who engaged with an asset after a colleague had engaged with it first.
    ColleagueSpread,
    /// Distinct assets engaged with.
    Breadth,
}

/// What an API key may do.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "hourglass_core::Role")]
pub enum Role {
    /// Keys, workspaces, settings and the catalog, and everything the other roles do.
    Admin,
    /// Reads everything; writes and previews custom KPI scripts.
    Analyst,
    /// Sends events and nothing else: for trackers and pipelines.
    Ingest,
    /// Reads: for dashboards.
    Read,
}

/// One line of a depth score's working.
#[derive(SimpleObject, Debug, Clone)]
pub struct DepthContribution {
    pub part: DepthPart,
    /// The measured count.
    pub count: u64,
    /// The workspace's weight for the part.
    pub weight: f64,
    /// count × weight.
    pub points: f64,
}

impl DepthContribution {
    /// A score's working, line by line.
    pub fn all(contributions: Vec<Contribution>) -> Vec<Self> {
        contributions
            .into_iter()
            .map(|c| Self {
                part: c.part.into(),
                count: c.count,
                weight: c.weight,
                points: c.points,
            })
            .collect()
    }
}
