//! What an agency declares about a custom KPI: its key, description, goal, unit,
//! parameters and source. The sandbox that runs the source is in [`crate::script`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::catalog::FieldError;

/// Largest script source accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 64 * 1024;
/// Most parameters one script may declare.
pub const MAX_PARAMS: usize = 32;

/// A parameter a script declares, with the value it takes when the caller gives none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamDecl {
    pub name: String,
    #[serde(default)]
    pub default: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A script key: what dashboards ask for, such as `hot_account`.
pub fn key(raw: &str) -> Result<String, FieldError> {
    let ok = (2..=64).contains(&raw.len())
        && raw.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(FieldError::new(
            "key",
            "is 2 to 64 lower-case letters, digits or '_', starting with a letter (like hot_account)",
        ))
    }
}

/// A unit shown next to values, such as `points` or `%`.
pub fn unit(raw: &str) -> Result<String, FieldError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 32 || trimmed.chars().any(char::is_control) {
        return Err(FieldError::new(
            "unit",
            "is 1 to 32 characters, such as points",
        ));
    }
    Ok(trimmed.to_owned())
}

/// A script's source: not empty, not huge.
pub fn source(raw: &str) -> Result<(), FieldError> {
    if raw.trim().is_empty() {
        return Err(FieldError::new("source", "must not be empty"));
    }
    if raw.len() > MAX_SOURCE_BYTES {
        return Err(FieldError::new(
            "source",
            format!("is {} bytes; the limit is {MAX_SOURCE_BYTES}", raw.len()),
        ));
    }
    crate::catalog::text("source", raw)
}

/// Declared parameters: named like variables, each once.
pub fn params(declared: &[ParamDecl]) -> Result<(), FieldError> {
    if declared.len() > MAX_PARAMS {
        return Err(FieldError::new(
            "params",
            format!("at most {MAX_PARAMS} parameters"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for p in declared {
        let ok = (1..=64).contains(&p.name.len())
            && p.name
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
            && p.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(FieldError::new(
                "params",
                format!(
                    "'{}' is not a parameter name (lower-case letters, digits, '_')",
                    p.name
                ),
            ));
        }
        if !seen.insert(p.name.as_str()) {
            return Err(FieldError::new(
                "params",
                format!("'{}' is declared twice", p.name),
            ));
        }
        if crate::catalog::json_has_nul(&p.default) {
            return Err(FieldError::new(
                "params",
                format!("the default of '{}' contains the NUL character", p.name),
            ));
        }
        if let Some(description) = &p.description {
            crate::catalog::text("params", description)?;
        }
    }
    Ok(())
}

/// The values a run sees: each declared parameter's default, overridden by what the
/// caller gave. A value for an undeclared parameter is refused, so typos surface.
pub fn resolve_params(
    declared: &[ParamDecl],
    given: &Map<String, Value>,
) -> Result<Map<String, Value>, FieldError> {
    if let Some(unknown) = given
        .keys()
        .find(|k| !declared.iter().any(|p| &p.name == *k))
    {
        let names: Vec<&str> = declared.iter().map(|p| p.name.as_str()).collect();
        return Err(FieldError::new(
            "params",
            format!(
                "'{unknown}' is not a parameter of this script; it declares: {}",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        ));
    }
    Ok(declared
        .iter()
        .map(|p| {
            let value = given
                .get(&p.name)
                .cloned()
                .unwrap_or_else(|| p.default.clone());
            (p.name.clone(), value)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decl(name: &str, default: Value) -> ParamDecl {
        ParamDecl {
            name: name.into(),
            default,
            description: None,
        }
    }

    #[test]
    fn keys_are_snake_case_words() {
        assert!(key("hot_account").is_ok());
        assert!(key("Hot").is_err());
        assert!(key("9lives").is_err());
        assert!(key("a").is_err());
    }

    #[test]
    fn caller_values_override_defaults_and_typos_are_refused() {
        let declared = vec![
            decl("min_attendees", json!(3)),
            decl("threshold", json!(0.9)),
        ];
        let given = json!({"threshold": 0.8}).as_object().unwrap().clone();
        let resolved = resolve_params(&declared, &given).unwrap();
        assert_eq!(resolved["min_attendees"], json!(3));
        assert_eq!(resolved["threshold"], json!(0.8));
        let typo = json!({"treshold": 0.8}).as_object().unwrap().clone();
        let err = resolve_params(&declared, &typo).unwrap_err();
        assert!(err.message.contains("min_attendees, threshold"), "{err}");
    }

    #[test]
    fn declarations_are_checked() {
        assert!(params(&[decl("a", Value::Null), decl("a", Value::Null)]).is_err());
        assert!(params(&[decl("Bad Name", Value::Null)]).is_err());
        assert!(source("   ").is_err());
        assert!(source(&"x".repeat(MAX_SOURCE_BYTES + 1)).is_err());
    }
}
