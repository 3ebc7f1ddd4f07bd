//! Logs and traces: one tracing subscriber for the process, lines on stderr (text or
//! JSON) and, with the `otlp` feature and `telemetry.otlp_endpoint`, spans exported
//! to an OpenTelemetry collector over OTLP/HTTP.
//!
//! Spans: `request` per HTTP request (continuing an incoming W3C `traceparent`),
//! `graphql` per GraphQL operation (name, type, cost), and one per database round
//! trip (sea-orm's, target `sea_orm`), which show only at `debug` or when the
//! filter names `sea_orm`: at `info` they would double the work of every trace.

use std::io::IsTerminal as _;

use actix_web::http::header::HeaderMap;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::settings::{LogFormat, Settings};

/// Keeps trace export running; dropping it flushes the spans not yet sent.
#[must_use = "dropping the guard stops trace export"]
pub struct TraceGuard {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl std::fmt::Debug for TraceGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceGuard").finish_non_exhaustive()
    }
}

impl Drop for TraceGuard {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("hourglass: flushing traces to the collector: {e}");
        }
    }
}

/// Why tracing could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TracingError {
    #[error(
        "log_level {filter:?} is not a log filter ({reason}); try \"info\" or \"warn,hourglass=debug\""
    )]
    Filter { filter: String, reason: String },
    #[error(
        "telemetry.otlp_endpoint is set, but this build of hourglass cannot export traces: \
         build it with `--features otlp`, or leave the setting empty"
    )]
    NoOtlpInThisBuild,
    #[error("telemetry.otlp_endpoint {endpoint:?}: {reason}")]
    Otlp { endpoint: String, reason: String },
}

/// sea-orm's spans, one per database round trip (they are at info level).
const DATABASE_SPANS: &str = "sea_orm::database";

/// Whether `level` asks for database round trips: `debug` or `trace`, or a
/// directive that names them (`sea_orm=info`).
fn wants_database(level: &str) -> bool {
    level.split(',').any(|directive| {
        let directive = directive.trim();
        let target = directive.split('=').next().unwrap_or_default();
        matches!(directive, "debug" | "trace")
            || target == "sea_orm"
            || target.starts_with("sea_orm::")
    })
}

/// The filter of `level`, with database round trips left out unless asked for.
pub fn filter(level: &str) -> Result<EnvFilter, TracingError> {
    let directives = if wants_database(level) {
        level.to_owned()
    } else {
        format!("{level},{DATABASE_SPANS}=warn")
    };
    EnvFilter::try_new(&directives).map_err(|e| TracingError::Filter {
        filter: level.to_owned(),
        reason: e.to_string(),
    })
}

/// Installs the process's subscriber: `level` (a tracing filter such as `info`)
/// decides which log lines are written, `settings` their format; with `export`
/// (the server, not one-off commands) and `telemetry.otlp_endpoint` set, spans go to
/// the collector too. Exported spans have their own filter, `info` (and database
/// round trips when `level` asks for them): quieter logs do not empty the traces.
pub fn install(settings: &Settings, level: &str, export: bool) -> Result<TraceGuard, TracingError> {
    let logs = filter(level)?;
    let endpoint = if export {
        settings.telemetry.otlp_endpoint.trim()
    } else {
        ""
    };
    // Logs go to stderr so that command output (migrate status, schema) stays clean.
    let lines = match settings.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let registry = tracing_subscriber::registry().with(lines.with_filter(logs));
    if endpoint.is_empty() {
        // A second install (tests build several servers in one process) keeps the first.
        let _ = registry.try_init();
        return Ok(TraceGuard {
            #[cfg(feature = "otlp")]
            provider: None,
        });
    }
    #[cfg(feature = "otlp")]
    {
        let exported = filter(if wants_database(level) {
            "info,sea_orm::database=info"
        } else {
            "info"
        })?;
        let provider = otlp::provider(endpoint, &settings.telemetry.service_name)?;
        let tracer = opentelemetry::trace::TracerProvider::tracer(&provider, "hourglass");
        let _ = registry
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_filter(exported),
            )
            .try_init();
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        Ok(TraceGuard {
            provider: Some(provider),
        })
    }
    #[cfg(not(feature = "otlp"))]
    {
        drop(registry);
        Err(TracingError::NoOtlpInThisBuild)
    }
}

/// An incoming W3C `traceparent` (version 00): the trace it continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent<'a> {
    /// 32 lower-case hex digits, not all zero.
    pub trace_id: &'a str,
    /// The caller's span: 16 hex digits, not all zero.
    pub parent_id: &'a str,
    pub sampled: bool,
}

impl<'a> TraceParent<'a> {
    /// Reads `<version>-<trace id>-<parent id>-<flags>` (version 00 exactly, a later
    /// one with whatever it adds after); anything else is ignored, as the W3C Trace
    /// Context spec asks (a new trace starts).
    pub fn parse(header: &'a str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let (version, trace_id, parent_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                && s.bytes().any(|b| b != b'0')
        };
        let flags = u8::from_str_radix(flags, 16)
            .ok()
            .filter(|_| flags.len() == 2)?;
        // A later version may add fields after these four; version ff is invalid.
        let known_shape = match version {
            "00" => parts.next().is_none(),
            _ => hex(version, 2) && version != "ff",
        };
        (known_shape && hex(trace_id, 32) && hex(parent_id, 16)).then_some(Self {
            trace_id,
            parent_id,
            sampled: flags & 1 == 1,
        })
    }

    pub fn from_headers(headers: &'a HeaderMap) -> Option<Self> {
        Self::parse(headers.get("traceparent")?.to_str().ok()?)
    }
}

/// Continues the caller's trace on `span` (which declares an empty `trace_id`
/// field): the incoming `traceparent`'s trace id is recorded for the logs, and with
/// trace export on, `span` becomes a child of the caller's span.
pub fn continue_trace(span: &tracing::Span, headers: &HeaderMap) {
    if let Some(parent) = TraceParent::from_headers(headers) {
        span.record("trace_id", parent.trace_id);
    }
    #[cfg(feature = "otlp")]
    {
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&otlp::Headers(headers))
        });
        // Only fails when no OpenTelemetry layer is installed: nothing to continue.
        let _ = span.set_parent(parent);
    }
}

#[cfg(feature = "otlp")]
mod otlp {
    use actix_web::http::header::HeaderMap;
    use opentelemetry_otlp::WithExportConfig as _;

    use super::TracingError;

    /// OTLP/HTTP (protobuf) to `endpoint`, the collector's base URL (port 4318)
    /// or its full `/v1/traces` address; spans leave in batches from a thread of
    /// their own.
    pub fn provider(
        endpoint: &str,
        service_name: &str,
    ) -> Result<opentelemetry_sdk::trace::SdkTracerProvider, TracingError> {
        let traces = if endpoint.trim_end_matches('/').ends_with("/v1/traces") {
            endpoint.to_owned()
        } else {
            format!("{}/v1/traces", endpoint.trim_end_matches('/'))
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(traces)
            .build()
            .map_err(|e| TracingError::Otlp {
                endpoint: endpoint.to_owned(),
                reason: e.to_string(),
            })?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(service_name.to_owned())
            .build();
        Ok(opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build())
    }

    /// Request headers as OpenTelemetry's propagators read them.
    pub struct Headers<'a>(pub &'a HeaderMap);

    impl opentelemetry::propagation::Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }

        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_is_read_as_the_w3c_spec_writes_it() {
        // The example of https://www.w3.org/TR/trace-context/#examples-of-http-traceparent-headers
        let parent = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .expect("valid");
        assert_eq!(parent.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parent.parent_id, "00f067aa0ba902b7");
        assert!(parent.sampled);
        for invalid in [
            "",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(TraceParent::parse(invalid), None, "{invalid}");
        }
        // A later version is read by its first four fields.
        let later =
            TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more")
                .expect("a later version");
        assert!(!later.sampled);
    }

    #[test]
    fn database_spans_come_with_debug_or_when_named() {
        let shown = |level: &str| filter(level).expect("valid").to_string();
        let quiet = "sea_orm::database=warn";
        assert!(shown("info").contains(quiet));
        assert!(shown("info,sea_orm_migration=debug").contains(quiet));
        assert!(!shown("debug").contains(quiet));
        assert!(!shown("info,sea_orm=info").contains(quiet));
        assert!(filter("info,=[").is_err());
    }
}
