//! One `Settings` struct: defaults < config file < `HOURGLASS_*` environment < CLI flags.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Everything an operator can set. `config/default.toml` lists each with its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port.
    pub bind: String,
    /// `sqlite://FILE?mode=rwc` (embedded, the default) or `postgres://…`.
    pub database_url: String,
    /// Apply pending migrations at start-up.
    pub migrate_on_start: bool,
    /// Seconds to let in-flight requests finish after SIGTERM or Ctrl-C.
    pub shutdown_timeout_secs: u64,
    /// Database pool size.
    pub database_max_connections: u32,
    /// `text` or `json` log lines.
    pub log_format: LogFormat,
    /// Which log lines to keep, as a tracing filter (`info`, `hourglass=debug`, …).
    pub log_level: String,
    /// Where `/metrics` (Prometheus text) is served: an address of its own, loopback
    /// by default, so that it is never public by accident. Empty: no metrics.
    pub metrics_bind: String,
    pub telemetry: TelemetrySettings,
    pub graphql: GraphqlSettings,
    pub ingest: IngestSettings,
    pub scripts: ScriptSettings,
    pub rate_limit: RateLimitSettings,
    pub auth: AuthSettings,
    pub kpis: KpiSettings,
    pub links: LinkSettings,
}

/// Trace export to an OpenTelemetry collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    /// The collector's OTLP/HTTP address, e.g. `http://localhost:4318`; empty: no
    /// export. Needs a build with the `otlp` feature.
    pub otlp_endpoint: String,
    /// `service.name` of the exported spans.
    pub service_name: String,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            otlp_endpoint: String::new(),
            service_name: "hourglass".into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkSettings {
    /// The public address tracker links are handed out under (`<public_url>/l/<code>`),
    /// e.g. `https://go.example.com`; empty: `http://` and the address the server
    /// listens on.
    pub public_url: String,
}

impl LinkSettings {
    pub fn public_url(&self) -> String {
        self.public_url.trim().trim_end_matches('/').to_owned()
    }
}

/// How KPI answers are served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KpiSettings {
    /// KPI answers kept in memory, each under the data version of its workspace;
    /// 0 computes every answer. Answers stay exact either way: any write to a
    /// workspace retires its cached answers in the same commit.
    pub answer_cache_entries: usize,
}

impl Default for KpiSettings {
    fn default() -> Self {
        Self {
            answer_cache_entries: hourglass_storage::DEFAULT_ANSWER_CACHE_ENTRIES,
        }
    }
}

/// How API keys are checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Seconds a verified key is trusted from memory before the database is asked
    /// again; 0 asks on every request. A key revoked through this server is refused at
    /// once; one revoked by another process (the CLI, another server) within this long.
    pub key_cache_seconds: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            key_cache_seconds: 5,
        }
    }
}

/// Requests each API key may make, on GraphQL and ingest alike. Over it: 429 with
/// `Retry-After`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Sustained requests per second per key; 0 turns the limit off.
    pub requests_per_second: u32,
    /// Requests a key may send at once above the sustained rate.
    pub burst: u32,
    /// Failed authentications (a missing, unknown or revoked key) one client address
    /// may have per minute; beyond, the address gets 429 before any key it sends is
    /// looked at, until it may try again. 0 turns it off.
    pub failed_auth_per_minute: u32,
    /// Tracker link clicks per client address per minute (`GET /l/…` has no key).
    pub link_clicks_per_minute: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            requests_per_second: 50,
            burst: 100,
            failed_auth_per_minute: 30,
            link_clicks_per_minute: 120,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphqlSettings {
    /// Serve the GraphiQL page on `GET /graphql`.
    pub graphiql: bool,
    /// Answer introspection queries.
    pub introspection: bool,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Most operations in one batched request.
    pub max_batch_operations: usize,
    /// Deepest query accepted.
    pub max_depth: usize,
    /// Most a request may cost, all its operations together (the README's cost
    /// table); over it the request is refused before anything runs.
    #[serde(alias = "max_complexity")]
    pub max_cost: usize,
    /// An operation that costs at least this is expensive: it runs in one of its
    /// key's `max_expensive_per_key` slots.
    pub expensive_cost: usize,
    /// Expensive operations one key may run at once; more wait their turn (within
    /// `timeout_ms`). 0: no cap.
    pub max_expensive_per_key: usize,
    /// Page size when `first` is not given.
    pub default_page_size: u64,
    /// Largest `first` accepted.
    pub max_page_size: u64,
    /// Most aliased fields in one operation.
    pub max_aliases: usize,
    /// Subscriptions one WebSocket connection may hold at once.
    pub max_subscriptions_per_connection: usize,
    /// Seconds a WebSocket connection may stay open without `connection_init`;
    /// then it is closed with 4408, as graphql-transport-ws says.
    pub connection_init_timeout_seconds: u64,
    /// Milliseconds a GraphQL query may run before it is stopped with `TIMEOUT`.
    /// Mutations are not cut off: a write may have committed by then.
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestSettings {
    /// Most events in one request (GraphQL or NDJSON).
    pub max_batch_events: usize,
    /// Largest single event, in bytes of JSON.
    pub max_event_bytes: usize,
    /// Largest NDJSON request body, in bytes.
    pub max_body_bytes: usize,
    /// Hours an event's `occurredAt` may lie ahead of the server clock.
    pub max_future_skew_hours: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            database_url: "sqlite://hourglass.db?mode=rwc".into(),
            migrate_on_start: true,
            shutdown_timeout_secs: 30,
            database_max_connections: 8,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            metrics_bind: "127.0.0.1:9464".into(),
            telemetry: TelemetrySettings::default(),
            graphql: GraphqlSettings::default(),
            ingest: IngestSettings::default(),
            scripts: ScriptSettings::default(),
            rate_limit: RateLimitSettings::default(),
            auth: AuthSettings::default(),
            kpis: KpiSettings::default(),
            links: LinkSettings::default(),
        }
    }
}

/// Limits of the custom KPI sandbox and of how much script work runs at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScriptSettings {
    /// Operations one organization's run may take.
    pub max_operations: u64,
    /// Wall-clock milliseconds one organization's run may take.
    pub per_org_timeout_ms: u64,
    /// Wall-clock milliseconds a whole query (all organizations) may take.
    pub query_timeout_ms: u64,
    /// Nesting depth of expressions.
    pub max_expr_depth: usize,
    /// Depth of function calls (recursion).
    pub max_call_levels: usize,
    /// Largest string a script may build, in bytes.
    pub max_string_size: usize,
    /// Largest array a script may build.
    pub max_array_size: usize,
    /// Largest map a script may build.
    pub max_map_size: usize,
    /// print/debug lines kept per organization.
    pub max_log_lines: usize,
    /// Script queries running at once; more wait their turn.
    pub max_concurrent_runs: usize,
    /// Of those, how many one agency may run at once: a freed slot goes to the
    /// waiting agency that runs the fewest, so one agency's flood cannot starve
    /// another's custom KPIs.
    pub max_concurrent_runs_per_agency: usize,
    /// Threads one query spreads its organizations over; 0 = one per core.
    pub threads: usize,
}

impl Default for ScriptSettings {
    fn default() -> Self {
        let limits = hourglass_core::script::ScriptLimits::default();
        Self {
            max_operations: limits.max_operations,
            per_org_timeout_ms: u64::try_from(limits.per_org_timeout.as_millis())
                .unwrap_or(u64::MAX),
            query_timeout_ms: 30_000,
            max_expr_depth: limits.max_expr_depth,
            max_call_levels: limits.max_call_levels,
            max_string_size: limits.max_string_size,
            max_array_size: limits.max_array_size,
            max_map_size: limits.max_map_size,
            max_log_lines: limits.max_log_lines,
            max_concurrent_runs: 2,
            max_concurrent_runs_per_agency: 1,
            threads: 0,
        }
    }
}

impl ScriptSettings {
    pub fn limits(&self) -> hourglass_core::script::ScriptLimits {
        hourglass_core::script::ScriptLimits {
            max_operations: self.max_operations,
            max_expr_depth: self.max_expr_depth,
            max_call_levels: self.max_call_levels,
            max_string_size: self.max_string_size,
            max_array_size: self.max_array_size,
            max_map_size: self.max_map_size,
            per_org_timeout: std::time::Duration::from_millis(self.per_org_timeout_ms),
            max_log_lines: self.max_log_lines,
        }
    }
}

impl Default for GraphqlSettings {
    fn default() -> Self {
        Self {
            graphiql: true,
            introspection: true,
            max_body_bytes: 1024 * 1024,
            max_batch_operations: 10,
            max_depth: 12,
            max_cost: 10_000,
            expensive_cost: 1_000,
            max_expensive_per_key: 4,
            max_subscriptions_per_connection: 16,
            connection_init_timeout_seconds: 10,
            default_page_size: 20,
            max_page_size: 100,
            max_aliases: 30,
            timeout_ms: 30_000,
        }
    }
}

impl Default for IngestSettings {
    fn default() -> Self {
        let core = hourglass_core::EventLimits::default();
        Self {
            max_batch_events: core.max_batch_events,
            max_event_bytes: core.max_event_bytes,
            max_body_bytes: 16 * 1024 * 1024,
            max_future_skew_hours: core.max_future_skew.num_hours(),
        }
    }
}

impl IngestSettings {
    pub fn limits(&self) -> hourglass_core::EventLimits {
        hourglass_core::EventLimits {
            max_event_bytes: self.max_event_bytes,
            max_batch_events: self.max_batch_events,
            max_future_skew: chrono::Duration::hours(self.max_future_skew_hours),
        }
    }
}

impl Settings {
    /// Layers defaults, an optional config file and `HOURGLASS_*` variables
    /// (`HOURGLASS_GRAPHQL__MAX_DEPTH` sets `graphql.max_depth`). CLI flags are
    /// applied by the caller on top.
    pub fn load(config_file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        Self::figment(config_file).extract().map_err(Box::new)
    }

    /// The layers [`Settings::load`] extracts, kept apart so that `hourglass config`
    /// (and the choice of how much to log) can ask where each value came from.
    pub fn figment(config_file: Option<&Path>) -> Figment {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = config_file {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment.merge(Self::environment())
    }

    /// The `HOURGLASS_*` variables, a double underscore between nested keys.
    pub fn environment() -> Env {
        Env::prefixed(ENV_PREFIX).split(ENV_NESTING)
    }
}

/// What every setting's environment variable starts with.
pub const ENV_PREFIX: &str = "HOURGLASS_";
/// What separates nested keys in a variable's name (`HOURGLASS_GRAPHQL__MAX_DEPTH`).
pub const ENV_NESTING: &str = "__";

/// What stands for a secret in messages.
const MASK: &str = "****";

/// The URL with its password masked (`postgres://app:****@db/hourglass`, and a
/// `password=` query parameter likewise), for messages, logs and `hourglass config`.
pub fn redact(url: &str) -> String {
    rewrite_secrets(url, Some(MASK))
}

/// The URL without the password of its user (`postgres://app@db/hourglass`), for a
/// command to paste that reads the password from its own place (`pg_dump` from
/// `~/.pgpass`); a `password=` query parameter stays masked.
pub fn without_password(url: &str) -> String {
    rewrite_secrets(url, None)
}

/// The URL with the user's password replaced by `user_password` (left out when
/// `None`) and `password=` query parameters masked.
fn rewrite_secrets(url: &str, user_password: Option<&str>) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    // The credentials end at the last `@` before the query: a password may hold `/`
    // or `@` itself (generated ones often do), a query value may hold `@` too.
    let before_query = rest.find(['?', '#']).unwrap_or(rest.len());
    let (credentials, after) = match rest[..before_query].rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at..]),
        None => (None, rest),
    };
    let authority_len = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (host, tail) = after.split_at(authority_len);
    let authority = match credentials.map(|c| c.split_once(':')) {
        Some(Some((user, _password))) => match user_password {
            Some(shown) => format!("{user}:{shown}{host}"),
            None => format!("{user}{host}"),
        },
        Some(None) => format!("{}{host}", credentials.unwrap_or_default()),
        None => host.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if name.to_ascii_lowercase().contains("password") => {
                        format!("{name}={MASK}")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{}{authority}{tail}", &url[..scheme_end])
}

#[cfg(test)]
// figment's Jail closures return its (large) error type; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn environment_beats_file_beats_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "hourglass.toml",
                "bind = \"0.0.0.0:9000\"\n[graphql]\nmax_depth = 5\nmax_page_size = 50\n",
            )?;
            jail.set_env("HOURGLASS_BIND", "127.0.0.1:7000");
            jail.set_env("HOURGLASS_GRAPHQL__MAX_DEPTH", "7");
            let settings =
                Settings::load(Some(Path::new("hourglass.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(settings.bind, "127.0.0.1:7000", "env over file");
            assert_eq!(settings.graphql.max_depth, 7, "nested env over file");
            assert_eq!(settings.graphql.max_page_size, 50, "file over default");
            assert_eq!(settings.database_url, Settings::default().database_url);
            Ok(())
        });
    }

    #[test]
    fn a_misspelled_setting_is_an_error_not_a_silent_default() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("HOURGLASS_DATABSE_URL", "postgres://oops");
            let err = Settings::load(None).expect_err("typo must fail");
            assert!(err.to_string().contains("databse_url"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_shipped_config_file_states_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml");
        let from_file: Settings = Figment::new()
            .merge(Toml::file_exact(path))
            .extract()
            .expect("config/default.toml parses");
        assert_eq!(from_file, Settings::default());
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/hourglass"),
            "postgres://app:****@db:5432/hourglass"
        );
        assert_eq!(
            redact("postgres://app:p@ss@db/hourglass?sslmode=require&password=s3cret"),
            "postgres://app:****@db/hourglass?sslmode=require&password=****"
        );
        assert_eq!(
            redact("postgres://app:pa/ss+w=rd@db:5432/h"),
            "postgres://app:****@db:5432/h"
        );
        assert_eq!(
            redact("postgres://app@db/hourglass?application_name=a@b"),
            "postgres://app@db/hourglass?application_name=a@b"
        );
        assert_eq!(
            redact("sqlite://hourglass.db?mode=rwc"),
            "sqlite://hourglass.db?mode=rwc"
        );
        assert_eq!(
            without_password("postgres://app:s3cret@db/hourglass?password=s3cret"),
            "postgres://app@db/hourglass?password=****"
        );
    }
}
