//! Building and running the server: `Application::build` binds and returns the
//! address (port 0 in tests), `run_until_stopped` serves until SIGTERM or Ctrl-C.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Server, Service};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use hourglass_storage::{Store, StoreOptions};
use tracing::Instrument as _;

use crate::failure::WithHint as _;
use crate::graphql::{AppState, ParsedDocuments, build_schema};
use crate::http::{Shared, routes};
use crate::invocation::{Invocation, Process};
use crate::observability::{meters, traces};
use crate::request_id;
use crate::settings::Settings;

/// A bound, ready-to-run server.
pub struct Application {
    address: SocketAddr,
    server: Server,
    /// `/metrics` on its own address, stopped with the main server.
    metrics: Option<MetricsServer>,
    store: Store,
}

struct MetricsServer {
    address: SocketAddr,
    server: Server,
}

/// Binds `metrics_bind` (unless empty) and serves the Prometheus text there.
fn start_metrics(settings: &Settings, store: Store) -> anyhow::Result<Option<MetricsServer>> {
    let bind = settings.metrics_bind.trim();
    if bind.is_empty() {
        return Ok(None);
    }
    let handle = meters::install();
    let listener = TcpListener::bind(bind).with_context(|| {
        format!(
            "cannot listen on {bind} for /metrics (metrics_bind; is another hourglass \
                 running? HOURGLASS_METRICS_BIND=127.0.0.1:0 picks a free port, \"\" turns \
                 metrics off)"
        )
    })?;
    let address = listener.local_addr()?;
    let scrape = web::Data::new((handle, store));
    let server = HttpServer::new(move || {
        App::new().app_data(scrape.clone()).route(
            "/metrics",
            web::get().to(
                |scrape: web::Data<(metrics_exporter_prometheus::PrometheusHandle, Store)>| async move {
                    let (handle, store) = scrape.get_ref();
                    HttpResponse::Ok()
                        .content_type("text/plain; version=0.0.4; charset=utf-8")
                        .body(meters::render(handle, store))
                },
            ),
        )
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    Ok(Some(MetricsServer { address, server }))
}

/// Connects to the database described by `settings`, migrating if asked to.
pub async fn connect(settings: &Settings) -> anyhow::Result<Store> {
    let mut options = StoreOptions::new(&settings.database_url);
    options.max_connections = settings.database_max_connections;
    options.key_cache_ttl = Duration::from_secs(settings.auth.key_cache_seconds);
    options.answer_cache_entries = settings.kpis.answer_cache_entries;
    let store = Store::connect(&options)
        .await
        .with_context(|| {
            format!(
                "cannot open the database at {}",
                crate::settings::redact(&settings.database_url)
            )
        })
        .hint(if settings.database_url.starts_with("sqlite:") {
            "check --database-url or HOURGLASS_DATABASE_URL, and that its directory exists"
        } else {
            "check that the database server is up and reachable, and --database-url or \
             HOURGLASS_DATABASE_URL"
        })?;
    if settings.migrate_on_start {
        store
            .migrate_up()
            .await
            .context("updating the database's structure")
            .hint("`hourglass migrate status` shows where it stands")?;
    }
    Ok(store)
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = connect(&settings).await?;
        if settings.migrate_on_start && !store.has_agencies().await? {
            // In the form this process was started: `cargo run -- …` or `hourglass …`.
            let again = Invocation::new(&Process::current(), None, None);
            tracing::warn!(
                "no agency yet, so no key can authenticate: run `{}` and `{}` (or `{}`)",
                again.command(&["admin", "create-agency", "NAME"]),
                again.command(&["admin", "create-key", "--agency", "NAME", "--role", "ADMIN"]),
                again.command(&["demo"]),
            );
        }
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("cannot listen on {}", settings.bind))
            .hint("choose another address with --bind or HOURGLASS_BIND")?;
        let address = listener.local_addr()?;
        let mut settings = settings;
        if settings.links.public_url.trim().is_empty() {
            settings.links.public_url = format!("http://{address}");
        }
        let settings = Arc::new(settings);
        let state = AppState::new(store.clone(), settings.clone());
        let documents = ParsedDocuments::default();
        let shared = web::Data::new(Shared {
            schema: build_schema(&settings, Some(state.clone()), &documents),
            documents,
            state,
        });
        let metrics = start_metrics(&settings, store.clone())?;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .wrap_fn(|req, srv| {
                    let started = Instant::now();
                    let id = req
                        .headers()
                        .get(request_id::HEADER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(request_id::accept_incoming)
                        .unwrap_or_else(request_id::fresh);
                    // The pattern, not the path: `/l/{code}`, one label for every link.
                    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
                    let method = meters::method_label(req.method());
                    let span = tracing::info_span!(
                        "request",
                        otel.name = format!("{method} {route}"),
                        otel.kind = "server",
                        request_id = %id,
                        method = %method,
                        path = req.path(),
                        trace_id = tracing::field::Empty,
                        http.response.status_code = tracing::field::Empty,
                    );
                    traces::continue_trace(&span, req.headers());
                    let header_value = HeaderValue::from_str(&id).ok();
                    let fut = request_id::scope(id, srv.call(req).instrument(span.clone()));
                    async move {
                        let mut res = fut.await?;
                        if let Some(value) = header_value {
                            res.headers_mut()
                                .insert(HeaderName::from_static(request_id::HEADER), value);
                        }
                        let status = res.status().as_u16();
                        let took = started.elapsed();
                        meters::http_request(&route, method, status, took);
                        span.record("http.response.status_code", status);
                        span.in_scope(|| {
                            tracing::info!(status, ms = took.as_millis() as u64, "request");
                        });
                        Ok(res)
                    }
                })
                .configure(routes)
        })
        .shutdown_timeout(settings.shutdown_timeout_secs)
        .listen(listener)?
        .run();
        Ok(Self {
            address,
            server,
            metrics,
            store,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Where `/metrics` is served (`None` when `metrics_bind` is empty).
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|m| m.address)
    }

    /// Serves until a shutdown signal, then lets in-flight requests finish and
    /// closes the database.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = match self.metrics {
            None => self.server.await,
            // Both at once; the metrics listener stops when the main server has.
            Some(metrics) => {
                let stop = metrics.server.handle();
                let main = async {
                    let served = self.server.await;
                    stop.stop(true).await;
                    served
                };
                futures_util::future::join(main, metrics.server).await.0
            }
        };
        served?;
        let close = tokio::time::timeout(Duration::from_secs(5), self.store.close());
        if let Ok(Err(e)) = close.await {
            tracing::warn!(error = %e, "closing the database");
        }
        Ok(())
    }
}
