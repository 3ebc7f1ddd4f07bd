//! A script's result -> the typed output, or an error that says what was returned and
//! what is expected.

use rhai::{Dynamic, Map};

use super::error::{ScriptError, ScriptErrorKind, type_name};
use super::library::as_number;

/// What one organization's run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptOutput {
    /// The KPI's value; always finite.
    pub value: f64,
    pub label: Option<String>,
    /// Named parts of the value, sorted by name.
    pub breakdown: Vec<(String, f64)>,
    /// What the script printed (`print`/`debug`), capped.
    pub logs: Vec<String>,
}

const EXPECTED: &str =
    "a number, or a map like #{ value: 12, label: \"hot\", breakdown: #{ attendees: 4 } }";

fn fail(message: String) -> ScriptError {
    ScriptError::new(ScriptErrorKind::Runtime, message)
}

/// Describes a returned value for an error message, with a short preview.
fn describe(v: &Dynamic) -> String {
    let preview = |s: String| {
        if s.chars().count() > 60 {
            format!("{}…", s.chars().take(60).collect::<String>())
        } else {
            s
        }
    };
    if v.is_unit() {
        "nothing (`()`): does the script end with a `;` or a `let`? End it with the value to report"
            .to_owned()
    } else if v.is_string() {
        format!("the string {:?}", preview(v.to_string()))
    } else if v.is_array() {
        let n = v.as_array_ref().map(|a| a.len()).unwrap_or(0);
        format!("an array of {n} items")
    } else if v.is_bool() {
        format!("the boolean {v}")
    } else {
        format!("a value of type {}", type_name(v.type_name()))
    }
}

fn finite(x: f64, what: &str) -> Result<f64, ScriptError> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(fail(format!(
            "{what} is {x}, which is not a finite number (a division by zero?); expected {EXPECTED}"
        )))
    }
}

/// Converts what a script returned.
pub(crate) fn to_output(result: Dynamic) -> Result<ScriptOutput, ScriptError> {
    if let Some(x) = as_number(&result) {
        return Ok(ScriptOutput {
            value: finite(x, "the returned value")?,
            label: None,
            breakdown: Vec::new(),
            logs: Vec::new(),
        });
    }
    let Some(map) = result.clone().try_cast::<Map>() else {
        return Err(fail(format!(
            "the script returned {}; expected {EXPECTED}",
            describe(&result)
        )));
    };
    from_map(&map)
}

fn from_map(map: &Map) -> Result<ScriptOutput, ScriptError> {
    if let Some(unknown) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "value" | "label" | "breakdown"))
    {
        return Err(fail(format!(
            "the returned map has a key \"{unknown}\"; it may only have value, label and breakdown"
        )));
    }
    let value = match map.get("value") {
        None => {
            return Err(fail(format!(
                "the returned map has no \"value\"; expected {EXPECTED}"
            )));
        }
        Some(v) => as_number(v).ok_or_else(|| {
            fail(format!(
                "the returned map's \"value\" is {}; it must be a number",
                describe(v)
            ))
        })?,
    };
    let value = finite(value, "the returned \"value\"")?;
    let label = match map.get("label") {
        None => None,
        Some(v) if v.is_unit() => None,
        Some(v) if v.is_string() => Some(v.to_string()),
        Some(v) => {
            return Err(fail(format!(
                "the returned map's \"label\" is {}; it must be a string",
                describe(v)
            )));
        }
    };
    let breakdown = match map.get("breakdown") {
        None => Vec::new(),
        Some(v) if v.is_unit() => Vec::new(),
        Some(v) => {
            let Some(parts) = v.clone().try_cast::<Map>() else {
                return Err(fail(format!(
                    "the returned map's \"breakdown\" is {}; it must be a map of names to numbers",
                    describe(v)
                )));
            };
            let mut out = Vec::with_capacity(parts.len());
            for (name, part) in &parts {
                let x = as_number(part).ok_or_else(|| {
                    fail(format!(
                        "breakdown \"{name}\" is {}; it must be a number",
                        describe(part)
                    ))
                })?;
                out.push((
                    name.to_string(),
                    finite(x, &format!("breakdown \"{name}\""))?,
                ));
            }
            out
        }
    };
    Ok(ScriptOutput {
        value,
        label,
        breakdown,
        logs: Vec::new(),
    })
}
