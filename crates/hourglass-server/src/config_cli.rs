//! `hourglass config`: the settings in effect and where each value came from.
//!
//! Generic over the keys: it walks the serialized [`Settings`], so a setting added to
//! the struct shows up here with nothing else to change. Where a value came from is
//! figment's metadata of the value (the provider that set it last), except for flags,
//! which are applied after figment and known by the command line itself.

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use figment::{Figment, Provider as _};
use serde_json::{Map, Value};

use crate::cli::FlagSetting;
use crate::settings::{ENV_NESTING, ENV_PREFIX, Settings};

/// Where a setting's value came from, lowest priority first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Nobody set it.
    Default,
    /// The `--config` file.
    File(PathBuf),
    /// An environment variable, by its name.
    Environment(String),
    /// A command-line flag, as typed.
    Flag(&'static str),
}

impl Origin {
    /// Where the dotted `key` got its value among `figment`'s layers (flags aside).
    pub fn of(figment: &Figment, key: &str) -> Self {
        let Some(metadata) = figment.find_metadata(key) else {
            return Self::Default;
        };
        if let Some(figment::Source::File(path)) = &metadata.source {
            return Self::File(path.clone());
        }
        if metadata.name == Settings::environment().metadata().name {
            return Self::Environment(variable_of(key));
        }
        Self::Default
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::File(_) => "file",
            Self::Environment(_) => "environment",
            Self::Flag(_) => "flag",
        }
    }

    /// The file, variable or flag; nothing for a default.
    fn name(&self) -> Option<String> {
        match self {
            Self::Default => None,
            Self::File(path) => Some(path.display().to_string()),
            Self::Environment(name) => Some(name.clone()),
            Self::Flag(flag) => Some((*flag).to_owned()),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} {name}", self.kind()),
            None => f.write_str(self.kind()),
        }
    }
}

/// The environment variable that sets `key`, spelled as it is set in this process
/// (figment matches the prefix and the rest without regard to case).
fn variable_of(key: &str) -> String {
    let expected = format!(
        "{ENV_PREFIX}{}",
        key.split('.')
            .map(str::to_ascii_uppercase)
            .collect::<Vec<_>>()
            .join(ENV_NESTING)
    );
    std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .find(|name| name.eq_ignore_ascii_case(&expected))
        .unwrap_or(expected)
}

/// One setting: its dotted key, its value (secrets masked) and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub value: Value,
    pub origin: Origin,
}

/// Every setting of `settings` (loaded from `figment`, then `flags` applied), in the
/// order of the config file: a table's plain keys before its sub-tables.
pub fn entries(
    settings: &Settings,
    figment: &Figment,
    flags: &[FlagSetting],
) -> Result<Vec<Entry>, serde_json::Error> {
    let mut leaves = Vec::new();
    flatten("", serde_json::to_value(settings)?, &mut leaves);
    Ok(leaves
        .into_iter()
        .map(|(key, value)| {
            let origin = match flags.iter().rev().find(|f| f.key == key) {
                Some(flag) => Origin::Flag(flag.flag),
                None => Origin::of(figment, &key),
            };
            let value = mask(&key, value);
            Entry { key, value, origin }
        })
        .collect())
}

fn flatten(prefix: &str, value: Value, out: &mut Vec<(String, Value)>) {
    let Value::Object(map) = value else {
        out.push((prefix.to_owned(), value));
        return;
    };
    let (tables, plain): (Vec<_>, Vec<_>) = map.into_iter().partition(|(_, v)| v.is_object());
    for (name, value) in plain.into_iter().chain(tables) {
        let key = match prefix {
            "" => name,
            _ => format!("{prefix}.{name}"),
        };
        flatten(&key, value, out);
    }
}

/// Words in a key's last part that mark its value as a secret.
const SECRET_WORDS: &[&str] = &["password", "secret", "token", "credential", "authorization"];

/// Secrets masked: a value whose name says it is secret entirely, and passwords
/// inside URLs (a database URL, a collector endpoint) wherever they are.
fn mask(key: &str, value: Value) -> Value {
    let leaf = key.rsplit('.').next().unwrap_or(key).to_ascii_lowercase();
    let secret = SECRET_WORDS.iter().any(|w| leaf.contains(w))
        || leaf == "key"
        || leaf.ends_with("_key")
        || leaf.ends_with("_keys");
    mask_value(secret, value)
}

fn mask_value(secret: bool, value: Value) -> Value {
    match value {
        Value::String(s) if secret && !s.is_empty() => Value::String("****".into()),
        Value::String(s) => Value::String(crate::settings::redact(&s)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| mask_value(secret, item))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let secret = secret || SECRET_WORDS.iter().any(|w| k.contains(w));
                    (k, mask_value(secret, v))
                })
                .collect(),
        ),
        other => other,
    }
}

/// `key = value    (origin)` lines, the origins in one column.
pub fn render_text(entries: &[Entry]) -> String {
    let assignments: Vec<String> = entries
        .iter()
        .map(|e| format!("{} = {}", e.key, literal(&e.value)))
        .collect();
    let width = assignments
        .iter()
        .map(|a| a.chars().count())
        .max()
        .unwrap_or(0)
        .min(64);
    assignments
        .iter()
        .zip(entries)
        .map(|(assignment, e)| format!("{assignment:<width$}    ({})\n", e.origin))
        .collect()
}

/// A value as the config file would spell it (TOML's strings, numbers, booleans and
/// arrays read like JSON's); `(not set)` for an optional setting left out.
fn literal(value: &Value) -> String {
    match value {
        Value::Null => "(not set)".into(),
        other => other.to_string(),
    }
}

/// `{"key": {"value": …, "source": "environment", "from": "HOURGLASS_…"}, …}`.
pub fn render_json(entries: &[Entry]) -> Value {
    let mut out = Map::new();
    for e in entries {
        let mut entry = Map::new();
        entry.insert("value".into(), e.value.clone());
        entry.insert("source".into(), Value::String(e.origin.kind().into()));
        if let Some(name) = e.origin.name() {
            entry.insert("from".into(), Value::String(name));
        }
        out.insert(e.key.clone(), Value::Object(entry));
    }
    Value::Object(out)
}

/// Prints the settings `settings` (already loaded from `figment`, `flags` applied).
pub fn run(
    settings: &Settings,
    figment: &Figment,
    flags: &[FlagSetting],
    json: bool,
) -> anyhow::Result<ExitCode> {
    let entries = entries(settings, figment, flags)?;
    if json {
        println!("{:#}", render_json(&entries));
    } else {
        print!("{}", render_text(&entries));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
// figment's Jail closures return its (large) error type; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use std::path::Path;

    use super::*;

    fn origin_of<'e>(entries: &'e [Entry], key: &str) -> &'e Entry {
        entries
            .iter()
            .find(|e| e.key == key)
            .unwrap_or_else(|| panic!("no {key} in {entries:?}"))
    }

    #[test]
    fn each_value_says_which_layer_set_it() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "hourglass.toml",
                "bind = \"0.0.0.0:9000\"\n[graphql]\nmax_depth = 5\n",
            )?;
            jail.set_env("HOURGLASS_GRAPHQL__MAX_DEPTH", "7");
            jail.set_env(
                "HOURGLASS_DATABASE_URL",
                "postgres://app:s3cret@db/hourglass",
            );
            let figment = Settings::figment(Some(Path::new("hourglass.toml")));
            let mut settings: Settings = figment.extract()?;
            settings.bind = "127.0.0.1:1".into();
            let flags = [FlagSetting {
                key: "bind",
                flag: "--bind",
                value: "127.0.0.1:1".into(),
            }];
            let entries = entries(&settings, &figment, &flags).map_err(|e| e.to_string())?;
            let bind = origin_of(&entries, "bind");
            assert_eq!(bind.origin, Origin::Flag("--bind"));
            assert_eq!(bind.value, Value::String("127.0.0.1:1".into()));
            assert_eq!(
                origin_of(&entries, "graphql.max_depth").origin,
                Origin::Environment("HOURGLASS_GRAPHQL__MAX_DEPTH".into())
            );
            assert_eq!(
                origin_of(&entries, "graphql.max_page_size").origin,
                Origin::Default
            );
            let url = origin_of(&entries, "database_url");
            assert_eq!(
                url.value,
                Value::String("postgres://app:****@db/hourglass".into())
            );
            jail.clear_env();
            // Layers are read when they are merged: a new figment for the new environment.
            let figment = Settings::figment(Some(Path::new("hourglass.toml")));
            let entries =
                super::entries(&figment.extract()?, &figment, &[]).map_err(|e| e.to_string())?;
            assert!(
                matches!(&origin_of(&entries, "bind").origin, Origin::File(p) if p.ends_with("hourglass.toml"))
            );
            assert_eq!(origin_of(&entries, "graphql.max_depth").value, 5);
            // Plain keys of a table before its sub-tables, as in the config file.
            let first_table = entries.iter().position(|e| e.key.contains('.'));
            let last_plain = entries.iter().rposition(|e| !e.key.contains('.'));
            assert!(last_plain < first_table, "{entries:?}");
            Ok(())
        });
    }

    #[test]
    fn secrets_are_masked_by_name_and_inside_urls() {
        let masked = |key: &str, value: Value| mask(key, value);
        assert_eq!(
            masked("telemetry.api_key", Value::String("abc".into())),
            "****"
        );
        assert_eq!(masked("smtp.password", Value::String("abc".into())), "****");
        assert_eq!(masked("auth.key_cache_seconds", Value::from(5)), 5);
        assert_eq!(
            masked(
                "telemetry.headers",
                serde_json::json!({"authorization": "Bearer x", "x-team": "ops"})
            ),
            serde_json::json!({"authorization": "****", "x-team": "ops"})
        );
        assert_eq!(
            masked(
                "telemetry.endpoint",
                Value::String("https://u:pw@collector:4318".into())
            ),
            "https://u:****@collector:4318"
        );
    }

    #[test]
    fn text_puts_the_origins_in_one_column() {
        let entries = [
            Entry {
                key: "bind".into(),
                value: Value::String("127.0.0.1:8080".into()),
                origin: Origin::Default,
            },
            Entry {
                key: "graphql.max_depth".into(),
                value: Value::from(12),
                origin: Origin::Flag("--max-depth"),
            },
        ];
        assert_eq!(
            render_text(&entries),
            "bind = \"127.0.0.1:8080\"    (default)\n\
             graphql.max_depth = 12     (flag --max-depth)\n"
        );
    }
}
