//! Closed vocabularies: event kinds, asset kinds, campaign goals, and the open
//! vocabulary of lifecycle stages.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A name that is not one of a vocabulary's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a known {vocabulary}; expected one of: {expected}")]
pub struct ParseKindError {
    pub vocabulary: &'static str,
    pub value: String,
    pub expected: String,
}

/// Declares a closed vocabulary spelled in SCREAMING_SNAKE_CASE, as the API and the
/// database both spell it, with `as_str`, `FromStr`, `Display` and `ALL`.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $label:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every word of the vocabulary, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling used by the API and stored in the database.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::kinds::ParseKindError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::kinds::ParseKindError {
                        vocabulary: $label,
                        value: s.to_owned(),
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use vocabulary;

vocabulary! {
    /// What happened in one engagement event.
    EventKind, "event kind" {
        Impression = "IMPRESSION",
        PageView = "PAGE_VIEW",
        Like = "LIKE",
        Share = "SHARE",
        Repost = "REPOST",
        Comment = "COMMENT",
        Click = "CLICK",
        Download = "DOWNLOAD",
        Registration = "REGISTRATION",
        /// `value` holds the seconds attended.
        Attendance = "ATTENDANCE",
        Question = "QUESTION",
        InfoRequest = "INFO_REQUEST",
        Mention = "MENTION",
        Testimonial = "TESTIMONIAL",
        /// `value` holds the NPS score, 0 to 10.
        SurveyResponse = "SURVEY_RESPONSE",
        Referral = "REFERRAL",
        /// `properties.to` holds the new lifecycle stage.
        StageChange = "STAGE_CHANGE",
        /// `value` holds the amount won.
        Revenue = "REVENUE",
        /// Something a tracker reported that is none of the above (a Segment `track`
        /// call whose name the workspace has not mapped): kept, not dropped, with
        /// its name in `properties.event`. No built-in KPI counts it; custom KPIs
        /// and a later mapping can.
        Custom = "CUSTOM",
    }
}

impl EventKind {
    /// Kinds that show a person saw something: they make a unique visitor.
    pub const VISIT_KINDS: &'static [EventKind] = &[EventKind::Impression, EventKind::PageView];

    /// The kinds the `engagements` KPI adds up.
    pub const ENGAGEMENT_KINDS: &'static [EventKind] = &[
        EventKind::Like,
        EventKind::Share,
        EventKind::Repost,
        EventKind::Comment,
        EventKind::Click,
        EventKind::Download,
    ];
}

vocabulary! {
    /// What kind of content an asset is.
    AssetKind, "asset kind" {
        Article = "ARTICLE",
        LandingPage = "LANDING_PAGE",
        Webinar = "WEBINAR",
        Video = "VIDEO",
        Whitepaper = "WHITEPAPER",
        Event = "EVENT",
        Email = "EMAIL",
        Ad = "AD",
        SocialPost = "SOCIAL_POST",
    }
}

impl AssetKind {
    /// Webinars and videos have a running time that full-stay KPIs compare against.
    pub const fn has_duration(self) -> bool {
        matches!(self, AssetKind::Webinar | AssetKind::Video)
    }
}

vocabulary! {
    /// The one goal a campaign serves.
    Goal, "goal" {
        /// Find new customers.
        Find = "FIND",
        /// Keep existing customers.
        Keep = "KEEP",
        /// Grow what existing customers buy.
        Grow = "GROW",
    }
}

/// A lifecycle stage such as `LEAD` or `CUSTOMER`.
///
/// Stages are an open vocabulary: agencies add their own (for example `OQL`), so a
/// stage is a validated upper-case word rather than a closed enum.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Stage(String);

impl Stage {
    /// The stages every workspace starts with, in lifecycle order.
    pub const DEFAULTS: &'static [&'static str] =
        &["VISITOR", "LEAD", "MQL", "SQL", "OPPORTUNITY", "CUSTOMER"];

    pub fn parse(raw: &str) -> Result<Self, ParseKindError> {
        let ok = (1..=32).contains(&raw.len())
            && raw.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
            && raw
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ParseKindError {
                vocabulary: "lifecycle stage",
                value: raw.to_owned(),
                expected: format!(
                    "an upper-case word of up to 32 letters, digits or '_', such as {}",
                    Self::DEFAULTS.join(", ")
                ),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where `stage` stands in a workspace's `order` of stages. A stage the order does
    /// not list stands before all of them: VISITOR when a workspace's order leaves it
    /// out (every contact first seen in an event is a VISITOR), or an agency's own
    /// stage not configured yet. Nobody becomes a lead by a stage the workspace never
    /// named.
    pub fn rank(order: &[String], stage: &str) -> usize {
        order
            .iter()
            .position(|s| s == stage)
            .map_or(0, |listed| listed + 1)
    }

    /// Whether `stage` is LEAD or beyond in `order`: the bottom of the hourglass.
    pub fn is_lead_or_beyond(order: &[String], stage: &str) -> bool {
        let lead = Self::rank(order, "LEAD").max(1);
        Self::rank(order, stage) >= lead
    }
}

impl TryFrom<String> for Stage {
    type Error = ParseKindError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Stage> for String {
    fn from(stage: Stage) -> Self {
        stage.0
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vocabulary_word_round_trips_through_its_spelling() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(*kind));
        }
        for kind in AssetKind::ALL {
            assert_eq!(kind.as_str().parse::<AssetKind>(), Ok(*kind));
        }
        for goal in Goal::ALL {
            assert_eq!(goal.as_str().parse::<Goal>(), Ok(*goal));
        }
    }

    #[test]
    fn unknown_words_name_the_vocabulary_and_the_alternatives() {
        let err = "PAGEVIEW".parse::<EventKind>().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("event kind"), "{text}");
        assert!(text.contains("PAGE_VIEW"), "{text}");
    }

    #[test]
    fn stages_rank_by_the_workspace_order_and_unlisted_ones_before_all() {
        let order: Vec<String> = Stage::DEFAULTS.iter().map(|s| (*s).to_owned()).collect();
        assert!(Stage::rank(&order, "CUSTOMER") > Stage::rank(&order, "MQL"));
        assert!(Stage::rank(&order, "OQL") < Stage::rank(&order, "VISITOR"));
        assert!(!Stage::is_lead_or_beyond(&order, "OQL"), "not configured");
        assert!(Stage::is_lead_or_beyond(&order, "LEAD"));
        assert!(Stage::is_lead_or_beyond(&order, "SQL"));
        assert!(!Stage::is_lead_or_beyond(&order, "VISITOR"));

        // An order without VISITOR: contacts first seen in events are no leads.
        let agency: Vec<String> = ["LEAD", "OQL", "MQL", "CUSTOMER"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert!(!Stage::is_lead_or_beyond(&agency, "VISITOR"));
        assert!(Stage::is_lead_or_beyond(&agency, "LEAD"));
        assert!(Stage::is_lead_or_beyond(&agency, "OQL"), "configured");
        assert!(Stage::rank(&agency, "VISITOR") < Stage::rank(&agency, "LEAD"));
    }

    #[test]
    fn stages_accept_agency_words_but_not_free_text() {
        assert!(Stage::parse("OQL").is_ok());
        assert!(Stage::parse("CUSTOMER").is_ok());
        assert!(Stage::parse("lead").is_err());
        assert!(Stage::parse("").is_err());
        assert!(Stage::parse("HOT LEAD").is_err());
    }
}
