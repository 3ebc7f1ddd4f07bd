//! HTTP transport: GraphQL over HTTP, NDJSON ingest, health, and the GraphiQL page.

use std::net::IpAddr;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse, guard};
use async_graphql::{BatchRequest, BatchResponse, Response};
use hourglass_core::Permission;
use hourglass_storage::Readiness;

use crate::access::{self, Caller};
use crate::error::{ApiError, ApiResult};
use crate::graphql::live::ConnectionSubscriptions;
use crate::graphql::{AppState, BatchSeat, ConnectionKey, HourglassSchema, ParsedDocuments};
use crate::observability::meters::{self, Refusal};
use crate::{ingest, links, segment, ws};

/// What every handler shares.
pub struct Shared {
    pub schema: HourglassSchema,
    /// The schema's parsed documents, for looking at a document before running it.
    pub documents: ParsedDocuments,
    pub state: AppState,
}

/// The request's caller (not yet counted against its key's rate limit: GraphQL
/// counts each operation as it is admitted, NDJSON its request).
async fn authorize(req: &HttpRequest, shared: &Shared) -> ApiResult<Caller> {
    let address = req.peer_addr().map(|a| a.ip());
    authorize_key(shared, access::bearer_token(req), address).await
}

/// The one way every transport turns a key into a caller: an address that failed
/// too often is refused first, and a failure counts against its address.
async fn authorize_key(
    shared: &Shared,
    key: Option<&str>,
    address: Option<IpAddr>,
) -> ApiResult<Caller> {
    let limits = &shared.state.rate_limits;
    limits.admit_address(address)?;
    match access::authenticate(&shared.state.store, key).await {
        Err(e @ ApiError::Unauthenticated(_)) => {
            // Counted as what the caller is answered: a failure too many is RATE_LIMITED.
            let answered = limits.failed(address, e);
            meters::refused(match answered {
                ApiError::RateLimited { .. } => Refusal::Rate,
                _ => Refusal::Auth,
            });
            Err(answered)
        }
        result => result,
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/graphql", web::post().to(graphql_post))
        .route(
            "/graphql",
            web::get()
                .guard(guard::fn_guard(wants_websocket))
                .to(graphql_ws),
        )
        .route("/graphql", web::get().to(graphql_get))
        .route("/v1/events", web::post().to(ingest_ndjson))
        .configure(segment_routes)
        .route("/health", web::get().to(health))
        .route("/ready", web::get().to(ready))
        .route("/l/{code}", web::get().to(follow_link))
        .route("/l/{code}", web::head().to(follow_link))
        .route("/assets/graphiql/{file}", web::get().to(graphiql_asset));
}

/// The Segment-compatible routes. Browsers post to them from other origins (the
/// site being tracked), so they answer CORS preflights; a key is still required.
fn segment_routes(cfg: &mut web::ServiceConfig) {
    for (path, call) in segment::ROUTES {
        let cors = actix_cors::Cors::default()
            .allow_any_origin()
            .allowed_methods(["POST"])
            .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(3600);
        cfg.service(web::resource(path).wrap(cors).route(web::post().to(
            move |req: HttpRequest, payload: web::Payload, shared: web::Data<Shared>| {
                ingest_segment(req, payload, shared, call)
            },
        )));
    }
}

/// `Upgrade: websocket`, in any case, as RFC 6455 allows.
fn wants_websocket(ctx: &guard::GuardContext<'_>) -> bool {
    ctx.head()
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
}

/// The media type of the GraphQL-over-HTTP spec's responses.
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// Reads at most `limit` bytes of body, refusing a larger one with 413 at once.
async fn read_body(payload: web::Payload, limit: usize) -> ApiResult<Bytes> {
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(ApiError::BadRequest(format!(
            "the request body could not be read: {e}"
        ))),
        Err(_) => {
            meters::refused(Refusal::Size);
            Err(ApiError::PayloadTooLarge { limit })
        }
    }
}

fn content_type_is(req: &HttpRequest, accepted: &[&str]) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| accepted.iter().any(|a| mime.trim().eq_ignore_ascii_case(a)))
}

fn accepts(req: &HttpRequest, mime: &str) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|part| part.trim().starts_with(mime)))
}

/// A request-level failure as a GraphQL response body with its HTTP status.
fn graphql_error(req: &HttpRequest, err: ApiError) -> HttpResponse {
    let body = serde_json::json!({
        "errors": [{ "message": err.to_string(), "extensions": { "code": err.code().as_str() } }]
    });
    let mut response = HttpResponse::build(err.code().status());
    err.add_headers(&mut response);
    response
        .content_type(response_media_type(req))
        .body(body.to_string())
}

fn response_media_type(req: &HttpRequest) -> &'static str {
    if accepts(req, GRAPHQL_RESPONSE) {
        GRAPHQL_RESPONSE
    } else {
        "application/json"
    }
}

/// Whether a request's document holds a mutation anywhere (a document that does not
/// parse holds none; it fails with its parse error when it runs).
fn holds_mutation(documents: &ParsedDocuments, request: &mut async_graphql::Request) -> bool {
    documents
        .inspect(request, |document| {
            document
                .operations
                .iter()
                .any(|(_, op)| op.node.ty == async_graphql::parser::types::OperationType::Mutation)
        })
        .unwrap_or(false)
}

/// Whether a response failed before execution (parse, validation, limits, bad
/// variables): no data, and no error tied to a field path.
fn failed_before_execution(response: &Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// Runs a batch and answers as GraphQL over HTTP asks: with the
/// `application/graphql-response+json` media type a request that failed before
/// execution is a 400; with plain `application/json` every GraphQL answer is a 200.
///
/// Admission (in the schema) prices the operations of a batch together and gives
/// each its own rate-limit cell and time limit. A request whose every operation
/// was refused alike — rate-limited, or stopped at the time limit — answers with
/// that refusal's status (429 with `Retry-After`, 503); otherwise each operation
/// answers in its place.
async fn execute(
    req: &HttpRequest,
    shared: &Shared,
    caller: Caller,
    batch: BatchRequest,
) -> HttpResponse {
    let (requests, single) = match batch {
        BatchRequest::Single(request) => (vec![request], true),
        BatchRequest::Batch(requests) => (requests, false),
    };
    let seats = BatchSeat::for_batch(if single { 0 } else { requests.len() });
    let mut seats = seats.into_iter();
    let runs = requests.into_iter().map(|request| {
        let mut request = request.data(caller.clone());
        if let Some(seat) = seats.next() {
            request = request.data(seat);
        }
        shared.schema.execute(request)
    });
    let mut responses = futures_util::future::join_all(runs).await;
    if let Some(refused) = refused_alike(&responses) {
        return graphql_error(req, refused);
    }
    let response = match (single, responses.pop()) {
        (true, Some(only)) => BatchResponse::Single(only),
        (_, last) => {
            responses.extend(last);
            BatchResponse::Batch(responses)
        }
    };
    let media_type = response_media_type(req);
    let status = match &response {
        BatchResponse::Single(single)
            if media_type == GRAPHQL_RESPONSE && failed_before_execution(single) =>
        {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::OK,
    };
    match serde_json::to_string(&response) {
        Ok(body) => HttpResponse::build(status)
            .content_type(media_type)
            .body(body),
        Err(e) => graphql_error(req, ApiError::internal(&e)),
    }
}

/// The refusal every operation answered with, when it was one that HTTP has a
/// status for beside GraphQL's own (RATE_LIMITED, TIMEOUT): the longest wait of
/// the rate-limited ones.
fn refused_alike(responses: &[Response]) -> Option<ApiError> {
    fn refusal(response: &Response) -> Option<&ApiError> {
        match response.errors.as_slice() {
            [only] if response.data == async_graphql::Value::Null => only.source::<ApiError>(),
            _ => None,
        }
    }
    let mut refusals = responses.iter().map(refusal);
    let first = refusals.next()??.clone();
    refusals
        .try_fold(first, |kept, next| match (kept, next?) {
            (
                ApiError::RateLimited {
                    retry_after_secs: a,
                },
                ApiError::RateLimited {
                    retry_after_secs: b,
                },
            ) => Some(ApiError::RateLimited {
                retry_after_secs: a.max(*b),
            }),
            (kept @ ApiError::Timeout { .. }, ApiError::Timeout { .. }) => Some(kept),
            _ => None,
        })
        .filter(|e| matches!(e, ApiError::RateLimited { .. } | ApiError::Timeout { .. }))
}

async fn graphql_post(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> HttpResponse {
    // Only JSON bodies: a text/plain or form body is a "simple" cross-site request.
    if !content_type_is(&req, &["application/json"]) {
        return graphql_error(
            &req,
            ApiError::UnsupportedMediaType(
                "POST /graphql takes Content-Type: application/json".into(),
            ),
        );
    }
    let caller = match authorize(&req, &shared).await {
        Ok(caller) => caller,
        Err(e) => return graphql_error(&req, e),
    };
    let body = match read_body(payload, shared.state.settings.graphql.max_body_bytes).await {
        Ok(body) => body,
        Err(e) => return graphql_error(&req, e),
    };
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(e) => {
            return graphql_error(
                &req,
                ApiError::BadRequest(format!("the body is not a GraphQL request in JSON: {e}")),
            );
        }
    };
    let max = shared.state.settings.graphql.max_batch_operations;
    if let BatchRequest::Batch(requests) = &batch
        && requests.len() > max
    {
        return graphql_error(
            &req,
            ApiError::BadRequest(format!(
                "{} operations in one batch; the limit is {max}",
                requests.len()
            )),
        );
    }
    execute(&req, &shared, caller, batch).await
}

async fn graphql_get(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let query_string = req.query_string();
    if !query_string.contains("query=") {
        if shared.state.settings.graphql.graphiql && accepts(&req, "text/html") {
            return HttpResponse::Ok()
                .content_type(ContentType::html())
                .body(GRAPHIQL_PAGE);
        }
        return graphql_error(
            &req,
            ApiError::BadRequest("GET /graphql needs a query parameter".into()),
        );
    }
    let caller = match authorize(&req, &shared).await {
        Ok(caller) => caller,
        Err(e) => return graphql_error(&req, e),
    };
    let mut request = match get_request(query_string) {
        Ok(request) => request,
        Err(e) => return graphql_error(&req, e),
    };
    // GET must be safe: a mutation in a link or an <img> must never run, so a GET
    // whose document holds any mutation is refused, whichever operation it names.
    if holds_mutation(&shared.documents, &mut request) {
        return graphql_error(
            &req,
            ApiError::MethodNotAllowed("mutations are only accepted with POST".into()),
        );
    }
    execute(&req, &shared, caller, BatchRequest::Single(request)).await
}

/// The parameters of a GraphQL GET, as GraphQL over HTTP names them
/// (`operationName`, where async-graphql's own parser reads `operation_name`).
#[derive(serde::Deserialize)]
struct GetParams {
    query: String,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

fn get_request(query_string: &str) -> ApiResult<async_graphql::Request> {
    let params = web::Query::<GetParams>::from_query(query_string)
        .map_err(|e| {
            ApiError::BadRequest(format!("the query string is not a GraphQL request: {e}"))
        })?
        .into_inner();
    let json = |name: &str, text: Option<String>| -> ApiResult<Option<serde_json::Value>> {
        text.filter(|t| !t.is_empty())
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| ApiError::BadRequest(format!("{name} is not JSON: {e}")))
    };
    let mut request = async_graphql::Request::new(params.query);
    if let Some(name) = params.operation_name.filter(|n| !n.is_empty()) {
        request = request.operation_name(name);
    }
    if let Some(variables) = json("variables", params.variables)? {
        request = request.variables(async_graphql::Variables::from_json(variables));
    }
    if let Some(extensions) = json("extensions", params.extensions)? {
        request.extensions = serde_json::from_value(extensions)
            .map_err(|e| ApiError::BadRequest(format!("extensions is not an object: {e}")))?;
    }
    Ok(request)
}

/// GraphQL over WebSocket (`graphql-transport-ws`, and the older `graphql-ws`). The
/// key comes in the `connection_init` payload as `{"Authorization": "Bearer <key>"}`
/// (browsers cannot set headers on a WebSocket), or in the upgrade request's header.
async fn graphql_ws(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> actix_web::Result<HttpResponse> {
    let header_key = access::bearer_token(&req).map(str::to_owned);
    let address = req.peer_addr().map(|a| a.ip());
    let schema = shared.schema.clone();
    let init_timeout = Duration::from_secs(
        shared
            .state
            .settings
            .graphql
            .connection_init_timeout_seconds,
    );
    ws::serve(
        &req,
        payload,
        schema,
        init_timeout,
        move |init| async move {
            let from_payload = ["Authorization", "authorization"]
                .iter()
                .find_map(|name| init.get(*name)?.as_str())
                .and_then(access::bearer);
            let key = header_key.as_deref().or(from_payload);
            // Refused: async-graphql closes the connection (1002) with this reason.
            let caller = authorize_key(&shared, key, address)
                .await
                .map_err(|e| async_graphql::Error::new(format!("{}: {e}", e.code().as_str())))?;
            let mut data = async_graphql::Data::default();
            data.insert(caller);
            // Each operation checks the key again (admission), so a revoked key
            // stops running anything on a connection it opened.
            data.insert(ConnectionKey(key.unwrap_or_default().to_owned()));
            data.insert(ConnectionSubscriptions::default());
            Ok(data)
        },
    )
}

/// `POST /v1/events?workspace=SLUG` with one JSON event per line.
async fn ingest_ndjson(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> ApiResult<HttpResponse> {
    if !content_type_is(
        &req,
        &[
            "application/x-ndjson",
            "application/ndjson",
            "application/jsonl",
            "application/jsonlines",
        ],
    ) {
        return Err(ApiError::UnsupportedMediaType(
            "POST /v1/events takes Content-Type: application/x-ndjson, one JSON event per line"
                .into(),
        ));
    }
    let workspace = web::Query::<WorkspaceParam>::from_query(req.query_string())
        .map_err(|_| {
            ApiError::BadRequest("name the workspace: POST /v1/events?workspace=SLUG".into())
        })?
        .into_inner()
        .workspace;
    let caller = authorize(&req, &shared).await?;
    shared.state.rate_limits.check(&caller)?;
    let ws = caller.workspace(&workspace, Permission::Ingest).await?;
    let settings = &shared.state.settings.ingest;
    let body = read_body(payload, settings.max_body_bytes).await?;
    // Counted before any line is parsed: an over-long batch costs a scan, not a parse.
    ingest::admit_batch(&shared.state, event_lines(&body).count())?;
    let items: Vec<ingest::Item> = event_lines(&body)
        .map(|(index, line)| {
            (
                index,
                ingest::parse_event_line(line, settings.max_event_bytes),
            )
        })
        .collect();
    let report = ingest::ingest(&shared.state, &ws, items).await?;
    Ok(HttpResponse::Ok().json(report))
}

#[derive(serde::Deserialize)]
struct WorkspaceParam {
    workspace: String,
}

/// A Segment-shaped request (see `segment`): answered as Segment's API answers, 200
/// with `"success": true` and, beside it, what became of each message; 400 for a body
/// that is not JSON, 401 for a missing or wrong key, 413 and 429 as for NDJSON.
async fn ingest_segment(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
    call: segment::Call,
) -> ApiResult<HttpResponse> {
    // analytics.js posts text/plain, which spares the browser a preflight.
    if !content_type_is(&req, &["application/json", "text/plain"]) {
        return Err(ApiError::UnsupportedMediaType(
            "Segment-style calls take Content-Type: application/json".into(),
        ));
    }
    let settings = &shared.state.settings.ingest;
    let address = req.peer_addr().map(|a| a.ip());
    // Read before the key is checked (analytics.js sends the key in the body), but
    // not for an address refused for failing too often.
    shared.state.rate_limits.admit_address(address)?;
    let bytes = read_body(payload, settings.max_body_bytes).await?;
    let body = segment::read(&bytes, call)?;
    let key = access::write_key(&req).or(body.write_key);
    let caller = authorize_key(&shared, key.as_deref(), address).await?;
    shared.state.rate_limits.check(&caller)?;
    // The workspace: named in the query, else the one a workspace key is limited to.
    let named = web::Query::<WorkspaceParam>::from_query(req.query_string())
        .ok()
        .map(|q| q.into_inner().workspace);
    let Some(slug) = named.or_else(|| caller.principal().key.workspace.clone()) else {
        return Err(ApiError::BadRequest(
            "name the workspace (?workspace=SLUG), or use a key limited to one workspace".into(),
        ));
    };
    let ws = caller.workspace(&slug, Permission::Ingest).await?;
    ingest::admit_batch(&shared.state, body.messages.len())?;
    let names = ws.track_names().await?;
    let (items, identifications) = segment::translate_all(
        body.messages,
        &names,
        chrono::Utc::now(),
        settings.max_event_bytes,
    );
    let report = ingest::ingest_with_identities(&shared.state, &ws, items, identifications).await?;
    let mut answer = serde_json::to_value(report).map_err(|e| ApiError::internal(&e))?;
    if let Some(fields) = answer.as_object_mut() {
        fields.insert("success".into(), true.into());
    }
    Ok(HttpResponse::Ok().json(answer))
}

/// The non-blank lines of an NDJSON body, trimmed, with their zero-based line numbers.
fn event_lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    body.split(|b| *b == b'\n')
        .map(<[u8]>::trim_ascii)
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
}

async fn follow_link(
    req: HttpRequest,
    code: web::Path<String>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    links::follow(&req, &code, &shared.state).await
}

/// Liveness: the process is up and serving. It asks nothing of the database (that
/// is `/ready`), so a database blip does not get every replica restarted at once.
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness, where `/health` is liveness: 200 once the database answers and every
/// migration this build knows is applied, else 503 with the reason, so that a
/// deployment sends traffic only to a server that can answer it.
async fn ready(shared: web::Data<Shared>) -> HttpResponse {
    let (status, reason) = match shared.state.store.readiness().await {
        Readiness::Ready => {
            return HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }));
        }
        Readiness::SchemaAhead(detail) => {
            tracing::warn!(%detail, "readiness: a newer release has migrated the database");
            return HttpResponse::Ok().json(serde_json::json!({
                "status": "ready",
                "warning": "the database has migrations this build does not know: a newer \
                            release migrated it; upgrade this server",
            }));
        }
        Readiness::Unreachable(error) => {
            tracing::warn!(%error, "readiness: the database does not answer");
            (
                "database_unreachable",
                "the database does not answer".to_owned(),
            )
        }
        Readiness::MigrationsPending(pending) => (
            "migrations_pending",
            format!(
                "{} migration(s) not applied ({}): run `hourglass migrate up` or start with \
                 migrate_on_start = true",
                pending.len(),
                pending.join(", ")
            ),
        ),
    };
    HttpResponse::ServiceUnavailable().json(serde_json::json!({
        "status": "not_ready",
        "code": status,
        "reason": reason,
    }))
}

const GRAPHIQL_PAGE: &str = include_str!("../assets/graphiql/index.html");

async fn graphiql_asset(path: web::Path<String>, shared: web::Data<Shared>) -> HttpResponse {
    if !shared.state.settings.graphql.graphiql {
        return HttpResponse::NotFound().finish();
    }
    let (body, mime): (&'static [u8], &str) = match path.as_str() {
        "graphiql.min.js" => (
            include_bytes!("../assets/graphiql/graphiql.min.js"),
            "text/javascript",
        ),
        "graphiql.min.css" => (
            include_bytes!("../assets/graphiql/graphiql.min.css"),
            "text/css",
        ),
        "react.production.min.js" => (
            include_bytes!("../assets/graphiql/react.production.min.js"),
            "text/javascript",
        ),
        "react-dom.production.min.js" => (
            include_bytes!("../assets/graphiql/react-dom.production.min.js"),
            "text/javascript",
        ),
        _ => return HttpResponse::NotFound().finish(),
    };
    HttpResponse::Ok()
        .content_type(mime)
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(body)
}
