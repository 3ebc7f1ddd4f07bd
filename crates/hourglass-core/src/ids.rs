//! Identifiers that come from clients: workspace slugs and external ids.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a client-supplied identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    #[error("{what} is longer than {max} characters")]
    TooLong { what: &'static str, max: usize },
    #[error("{what} may not contain control characters or surrounding spaces")]
    BadCharacters { what: &'static str },
    #[error(
        "a workspace slug uses lower-case letters, digits and '-', starts with a letter or digit, and is 2 to 64 characters long"
    )]
    BadSlug,
}

/// A client's own identifier for a contact, organization, campaign, asset or message.
///
/// Clients bring their ids from their CRM or tracker, so we accept almost anything
/// printable, but not control characters or padding, which are always mistakes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExternalId(String);

impl ExternalId {
    pub const MAX_LEN: usize = 200;

    /// Validates `raw` as an external id; `what` names the field in the error.
    pub fn parse(raw: &str, what: &'static str) -> Result<Self, IdError> {
        if raw.is_empty() {
            return Err(IdError::Empty { what });
        }
        if raw.chars().count() > Self::MAX_LEN {
            return Err(IdError::TooLong {
                what,
                max: Self::MAX_LEN,
            });
        }
        if raw.chars().any(char::is_control) || raw.trim() != raw {
            return Err(IdError::BadCharacters { what });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ExternalId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value, "id")
    }
}

impl From<ExternalId> for String {
    fn from(id: ExternalId) -> Self {
        id.0
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A workspace's URL-safe name, chosen at creation and never changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let len_ok = (2..=64).contains(&raw.len());
        let chars_ok = raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let starts_ok = raw
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if len_ok && chars_ok && starts_ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(IdError::BadSlug)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Slug {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Slug> for String {
    fn from(slug: Slug) -> Self {
        slug.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_refuse_empty_padded_and_control_characters() {
        assert!(ExternalId::parse("crm-42", "contactId").is_ok());
        assert!(ExternalId::parse("jane@example.com", "contactId").is_ok());
        assert_eq!(
            ExternalId::parse("", "contactId"),
            Err(IdError::Empty { what: "contactId" })
        );
        assert!(ExternalId::parse(" x", "id").is_err());
        assert!(ExternalId::parse("a\nb", "id").is_err());
        assert!(ExternalId::parse(&"x".repeat(201), "id").is_err());
    }

    #[test]
    fn slugs_are_lower_case_url_safe_names() {
        assert!(Slug::parse("acme-corp").is_ok());
        assert!(Slug::parse("a1").is_ok());
        assert!(Slug::parse("Acme").is_err());
        assert!(Slug::parse("-acme").is_err());
        assert!(Slug::parse("a").is_err());
        assert!(Slug::parse("acme corp").is_err());
    }
}
