//! Tracker links: a short code that records a click and sends the visitor on to a
//! destination fixed when the link was made, with its UTM parameters added.
//!
//! The destination is the only place a link can send anyone, so there is no open
//! redirect: nothing of the request that follows a link (its path beyond the code,
//! its query string) reaches the `Location` it is answered with.

use url::Url;

use crate::FieldError;

/// Longest destination accepted, in bytes.
pub const MAX_DESTINATION_LEN: usize = 2_048;
/// Longest UTM value accepted, in bytes.
pub const MAX_UTM_LEN: usize = 200;
/// Characters of a link's code.
pub const CODE_LEN: usize = 10;
/// What codes are made of: letters and digits, read aloud without confusion.
pub const CODE_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";

/// The UTM parameters a link adds to its destination.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Utm {
    pub source: Option<String>,
    pub medium: Option<String>,
    pub campaign: Option<String>,
    pub term: Option<String>,
    pub content: Option<String>,
}

impl Utm {
    /// Checks every value: trimmed, not empty, at most [`MAX_UTM_LEN`] bytes.
    pub fn validated(self) -> Result<Self, FieldError> {
        let check = |name: &'static str, value: Option<String>| {
            value
                .map(|v| {
                    let v = v.trim().to_owned();
                    if v.is_empty() || v.len() > MAX_UTM_LEN {
                        Err(FieldError::new(
                            name,
                            format!("must be 1 to {MAX_UTM_LEN} characters"),
                        ))
                    } else {
                        Ok(v)
                    }
                })
                .transpose()
        };
        Ok(Self {
            source: check("utm.source", self.source)?,
            medium: check("utm.medium", self.medium)?,
            campaign: check("utm.campaign", self.campaign)?,
            term: check("utm.term", self.term)?,
            content: check("utm.content", self.content)?,
        })
    }

    fn pairs(&self) -> [(&'static str, Option<&str>); 5] {
        [
            ("utm_source", self.source.as_deref()),
            ("utm_medium", self.medium.as_deref()),
            ("utm_campaign", self.campaign.as_deref()),
            ("utm_term", self.term.as_deref()),
            ("utm_content", self.content.as_deref()),
        ]
    }
}

/// Where a link sends its visitors: an absolute http(s) URL with a host and no
/// credentials, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination(Url);

impl Destination {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let refuse = |why: &str| FieldError::new("destination", why.to_owned());
        let raw = raw.trim();
        if raw.len() > MAX_DESTINATION_LEN {
            return Err(refuse(&format!(
                "must be at most {MAX_DESTINATION_LEN} characters"
            )));
        }
        let url = Url::parse(raw).map_err(|e| refuse(&format!("is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(refuse("must be an http or https URL"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(refuse("must name a host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("must not carry a user name or password"));
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The destination with `utm`'s parameters set (replacing any of the same name it
    /// already had; its other parameters and fragment kept).
    pub fn with_utm(&self, utm: &Utm) -> String {
        let mut url = self.0.clone();
        let set: Vec<(&str, &str)> = utm
            .pairs()
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (name, v)))
            .collect();
        if set.is_empty() {
            return url.into();
        }
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(name, _)| !set.iter().any(|(n, _)| n == name))
            .map(|(n, v)| (n.into_owned(), v.into_owned()))
            .collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(kept)
            .extend_pairs(set);
        url.into()
    }
}

/// Whether a code has the shape of one this server makes (checked before any
/// lookup, so a crafted path costs nothing).
pub fn is_code(code: &str) -> bool {
    code.len() == CODE_LEN && code.bytes().all(|b| CODE_ALPHABET.contains(&b))
}

/// Whether a request comes from a link-preview robot or crawler rather than a
/// person: such requests are redirected but not counted as clicks. Matched on the
/// user agents of the chat, social and mail apps that fetch links to preview them,
/// and on generic crawler words.
pub fn is_preview_robot(user_agent: Option<&str>) -> bool {
    const ROBOTS: &[&str] = &[
        "bot",
        "crawler",
        "spider",
        "preview",
        "facebookexternalhit",
        "slack",
        "whatsapp",
        "telegram",
        "discord",
        "skype",
        "linkedin",
        "embedly",
        "outlook",
        "google-read-aloud",
        "headless",
        "curl/",
        "wget/",
    ];
    let Some(agent) = user_agent else {
        return true;
    };
    let agent = agent.to_ascii_lowercase();
    agent.trim().is_empty() || ROBOTS.iter().any(|robot| agent.contains(robot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_http_destinations_with_a_host_are_accepted() {
        for good in [
            "https://example.com/webinar",
            "http://example.com",
            "  https://example.com/a?b=c#d ",
        ] {
            assert!(Destination::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "javascript:alert(1)",
            "//evil.example/",
            "/relative",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "data:text/html,hi",
            "https://",
            "",
        ] {
            assert!(Destination::parse(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_DESTINATION_LEN));
        assert!(Destination::parse(&long).is_err());
    }

    #[test]
    fn utm_parameters_are_added_replacing_their_namesakes_only() {
        let destination =
            Destination::parse("https://example.com/page?ref=x&utm_source=old#top").unwrap();
        let utm = Utm {
            source: Some("newsletter".into()),
            medium: Some("email".into()),
            campaign: Some("q3 webinar".into()),
            ..Utm::default()
        };
        assert_eq!(
            destination.with_utm(&utm),
            "https://example.com/page?ref=x&utm_source=newsletter&utm_medium=email&utm_campaign=q3+webinar#top"
        );
        assert_eq!(
            destination.with_utm(&Utm::default()),
            "https://example.com/page?ref=x&utm_source=old#top"
        );
    }

    #[test]
    fn utm_values_are_trimmed_and_bounded() {
        let utm = Utm {
            source: Some(" news ".into()),
            ..Utm::default()
        };
        assert_eq!(utm.validated().unwrap().source.as_deref(), Some("news"));
        let empty = Utm {
            term: Some("  ".into()),
            ..Utm::default()
        };
        assert_eq!(empty.validated().unwrap_err().field, "utm.term");
    }

    #[test]
    fn codes_and_robots_are_told_apart() {
        assert!(is_code("a2b3c4d5e6"));
        assert!(!is_code("a2b3c4d5e"), "too short");
        assert!(!is_code("a2b3c4d5e0"), "0 is not in the alphabet");
        assert!(!is_code("../../etc/"));
        assert!(is_preview_robot(Some(
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
        )));
        assert!(is_preview_robot(Some(
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
        )));
        assert!(is_preview_robot(None));
        assert!(!is_preview_robot(Some(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
        )));
    }
}
