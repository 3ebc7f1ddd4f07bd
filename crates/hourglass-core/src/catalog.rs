//! Rules for what clients describe: campaigns, assets, organizations, spend.

use chrono::{DateTime, Utc};

use crate::kinds::AssetKind;

/// Why a description was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Longest display name or title kept.
pub const MAX_NAME_LEN: usize = 200;
/// Longest URL kept.
pub const MAX_URL_LEN: usize = 2048;

/// Largest amount of money (spend, a budget, revenue) one record may carry: far above
/// any real figure, and far below where a database's sum could overflow.
pub const MAX_AMOUNT: f64 = 1e12;

/// A display name: one line, trimmed, not empty, not too long.
pub fn name(field: &'static str, raw: &str) -> Result<String, FieldError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "is one line of text without control characters",
        ));
    }
    if trimmed.chars().count() > MAX_NAME_LEN {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_NAME_LEN} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// An ISO 4217 currency code such as `EUR`.
pub fn currency(raw: &str) -> Result<String, FieldError> {
    if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(raw.to_ascii_uppercase())
    } else {
        Err(FieldError::new(
            "currency",
            format!("'{raw}' is not an ISO 4217 code such as EUR or USD"),
        ))
    }
}

/// A money amount: finite and not negative.
pub fn amount(field: &'static str, value: f64) -> Result<f64, FieldError> {
    if (0.0..=MAX_AMOUNT).contains(&value) {
        Ok(value)
    } else {
        Err(FieldError::new(
            field,
            format!("must be an amount from 0 to {MAX_AMOUNT:e}; got {value}"),
        ))
    }
}

/// Free text (a description, a script's source) may hold anything but the NUL
/// character, which no text needs and PostgreSQL cannot store.
pub fn text(field: &'static str, raw: &str) -> Result<(), FieldError> {
    if raw.contains('\0') {
        return Err(FieldError::new(
            field,
            "may not contain the NUL character (U+0000)",
        ));
    }
    Ok(())
}

/// Whether a JSON value holds the NUL character in any string or key.
pub fn json_has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(json_has_nul),
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(key, value)| key.contains('\0') || json_has_nul(value)),
        _ => false,
    }
}

/// A campaign's date range: the start comes before the end.
pub fn period(
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
) -> Result<(), FieldError> {
    match (starts_at, ends_at) {
        (Some(start), Some(end)) if start >= end => Err(FieldError::new(
            "endsAt",
            format!("must be after startsAt ({start})"),
        )),
        _ => Ok(()),
    }
}

/// An organization's web domain, lower case without scheme, path or `www.`.
pub fn domain(raw: &str) -> Result<String, FieldError> {
    let mut d = raw.trim().to_ascii_lowercase();
    for prefix in ["https://", "http://"] {
        if let Some(rest) = d.strip_prefix(prefix) {
            d = rest.to_owned();
        }
    }
    let d = d.split('/').next().unwrap_or_default();
    let d = d.strip_prefix("www.").unwrap_or(d);
    let valid = d.contains('.')
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if valid {
        Ok(d.to_owned())
    } else {
        Err(FieldError::new(
            "domain",
            format!("'{raw}' is not a domain such as example.com"),
        ))
    }
}

/// An e-mail address as contacts and share recipients are compared by: trimmed, lower
/// case, one `@` between a local part and a domain with a dot, at most 254
/// characters, no spaces or control characters.
pub fn email(raw: &str) -> Result<String, FieldError> {
    let address = raw.trim().to_lowercase();
    let valid = address.chars().count() <= 254
        && !address.chars().any(|c| c.is_whitespace() || c.is_control())
        && address.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && domain.split('.').all(|label| !label.is_empty())
        });
    if valid {
        Ok(address)
    } else {
        Err(FieldError::new(
            "email",
            format!("'{raw}' is not an e-mail address such as ann@example.com"),
        ))
    }
}

/// A URL: http(s) and not too long.
pub fn url(raw: &str) -> Result<String, FieldError> {
    let raw = raw.trim();
    if !(raw.starts_with("https://") || raw.starts_with("http://")) || raw.len() > MAX_URL_LEN {
        return Err(FieldError::new(
            "url",
            format!("must be an http(s) URL of at most {MAX_URL_LEN} characters"),
        ));
    }
    Ok(raw.to_owned())
}

/// A running time: only webinars and videos have one, and it is positive.
pub fn duration(kind: Option<AssetKind>, seconds: Option<i32>) -> Result<(), FieldError> {
    match (kind, seconds) {
        (_, None) => Ok(()),
        (_, Some(s)) if s <= 0 => Err(FieldError::new(
            "durationSeconds",
            "must be a positive number of seconds",
        )),
        (Some(kind), Some(_)) if kind.has_duration() => Ok(()),
        (kind, Some(_)) => Err(FieldError::new(
            "durationSeconds",
            format!(
                "only webinars and videos have a duration; this asset is {}",
                kind.map_or("of unknown kind", AssetKind::as_str)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_line_amounts_bounded_and_text_free_of_nul() {
        assert_eq!(name("name", "  Acme  ").unwrap(), "Acme");
        assert!(name("name", "Ac\u{0}me").is_err());
        assert!(name("name", "two\nlines").is_err());
        assert_eq!(amount("amount", 1e12).unwrap(), 1e12);
        assert!(amount("amount", 1e12 + 1.0).is_err());
        assert!(amount("amount", -0.01).is_err());
        assert!(amount("amount", f64::NAN).is_err());
        assert!(text("source", "line 1\nline 2\t").is_ok());
        assert!(text("source", "a\u{0}").is_err());
        assert!(json_has_nul(
            &serde_json::json!({"a": ["b", {"c\u{0}": 1}]})
        ));
        assert!(!json_has_nul(&serde_json::json!({"a": ["b", {"c": "d"}]})));
    }

    #[test]
    fn domains_are_normalised() {
        assert_eq!(domain("https://www.Acme.com/about").unwrap(), "acme.com");
        assert_eq!(domain("sub.acme.co.uk").unwrap(), "sub.acme.co.uk");
        assert!(domain("acme").is_err());
        assert!(domain("acme..com").is_err());
        assert!(domain("ac me.com").is_err());
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(email("  Ann@Acme.COM ").unwrap(), "ann@acme.com");
        assert!(email("ann.acme.com").is_err());
        assert!(email("ann@acme").is_err());
        assert!(email("@acme.com").is_err());
        assert!(email("ann@@acme.com").is_err());
        assert!(email("an n@acme.com").is_err());
        assert!(email("ann@acme..com").is_err());
        assert!(email(&format!("{}@acme.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn only_webinars_and_videos_have_durations() {
        assert!(duration(Some(AssetKind::Webinar), Some(3600)).is_ok());
        assert!(duration(Some(AssetKind::Article), Some(3600)).is_err());
        assert!(duration(Some(AssetKind::Video), Some(0)).is_err());
        assert!(duration(None, None).is_ok());
    }

    #[test]
    fn currencies_and_amounts() {
        assert_eq!(currency("eur").unwrap(), "EUR");
        assert!(currency("EURO").is_err());
        assert!(amount("budget", -1.0).is_err());
        assert!(amount("budget", f64::INFINITY).is_err());
    }
}
