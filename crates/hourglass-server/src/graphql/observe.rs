//! What every GraphQL operation leaves behind, whichever transport brought it: the
//! operation metrics (count by outcome, duration, cost; over HTTP when its response
//! is made, over WebSocket as its stream answers or ends), the running
//! subscriptions gauge, and, for an operation that runs, a `graphql` span
//! (operation name, type, cost) that its database round trips nest in. Registered
//! first, so that it sees the final error codes and times admission too.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest, NextSubscribe, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{
    Request, Response, ServerError, ServerResult, ValidationResult, Value, Variables,
};
use futures_util::Stream;
use futures_util::stream::{BoxStream, StreamExt as _};
use tracing::Instrument as _;

use super::parsed::operation_to_run;
use crate::observability::meters::{self, Open, OperationRecord};

/// The schema extension.
#[derive(Debug, Default)]
pub struct Observe;

impl ExtensionFactory for Observe {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ForOperation::default())
    }
}

/// What is learnt of one operation as it goes, shared with the stream a WebSocket
/// operation answers through.
#[derive(Default)]
struct ForOperation {
    seen: Arc<Mutex<Seen>>,
}

#[derive(Default)]
struct Seen {
    /// The `operationName` the request asked for.
    asked: Option<String>,
    /// The operation that runs, once the document is parsed: its metrics label
    /// (see `meters::operation_label`) and its type.
    runs: Option<(String, OperationType)>,
    /// What admission priced it at, once it passed validation.
    cost: Option<usize>,
    recorded: bool,
}

impl Seen {
    /// The operation's label: its name in the document, `anonymous` without one,
    /// `unknown` when no operation was found (the request failed before).
    fn label(&self) -> &str {
        self.runs.as_ref().map_or("unknown", |(label, _)| label)
    }

    fn kind(&self) -> &'static str {
        self.runs
            .as_ref()
            .map_or("unknown", |(_, kind)| kind_name(*kind))
    }

    fn is_subscription(&self) -> bool {
        matches!(self.runs, Some((_, OperationType::Subscription)))
    }

    /// Counts the operation, once.
    fn record(&mut self, outcome: &str, took: Duration) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        meters::graphql_operation(&OperationRecord {
            name: self.label(),
            kind: self.kind(),
            outcome,
            took,
            cost: self.cost,
        });
    }
}

fn lock(seen: &Mutex<Seen>) -> MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ForOperation {
    fn seen(&self) -> MutexGuard<'_, Seen> {
        lock(&self.seen)
    }
}

fn kind_name(kind: OperationType) -> &'static str {
    match kind {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    }
}

/// `OK`, or the code of the first error.
fn outcome(response: &Response) -> String {
    let Some(first) = response.errors.first() else {
        return "OK".into();
    };
    match first.extensions.as_ref().and_then(|e| e.get("code")) {
        Some(Value::String(code)) => code.clone(),
        Some(Value::Enum(code)) => code.to_string(),
        _ => "UNKNOWN".into(),
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for ForOperation {
    /// HTTP: the operation ends with its response.
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        self.seen().record(&outcome(&response), started.elapsed());
        response
    }

    /// The operation's span, made once it is known what runs and what it costs (a
    /// span's name cannot change once it has started): admission's wait for a slot
    /// and every resolver's database round trips nest in it.
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let (label, kind, cost) = {
            let seen = self.seen();
            (seen.label().to_owned(), seen.kind(), seen.cost)
        };
        let span = tracing::info_span!(
            "graphql",
            otel.name = format!("{kind} {label}"),
            operation = %label,
            kind,
            cost,
            outcome = tracing::field::Empty,
        );
        let response = next.run(ctx, operation_name).instrument(span.clone()).await;
        span.record("outcome", outcome(&response).as_str());
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.seen().asked = request.operation_name.clone();
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let mut seen = self.seen();
        if let Some((name, kind)) = operation_to_run(&document, seen.asked.as_deref()) {
            seen.runs = Some((meters::operation_label(name), kind));
        }
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let validated = next.run(ctx).await;
        if let Ok(valid) = &validated {
            self.seen().cost = Some(valid.complexity);
        }
        validated
    }

    /// WebSocket operations answer through a stream: a query or mutation ends with
    /// its one response, a subscription when its stream ends (or is dropped), and
    /// counts as running from its admission until then.
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        Box::pin(Watched {
            answers: next.run(ctx, stream),
            seen: Arc::clone(&self.seen),
            started: Instant::now(),
            first_error: None,
            running: None,
        })
    }
}

/// A WebSocket operation's answers, watched.
struct Watched<'s> {
    answers: BoxStream<'s, Response>,
    seen: Arc<Mutex<Seen>>,
    started: Instant,
    /// A subscription's outcome: `OK` unless an answer carried an error.
    first_error: Option<String>,
    /// Held while an admitted subscription runs.
    running: Option<Open>,
}

impl Stream for Watched<'_> {
    type Item = Response;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Response>> {
        let this = self.get_mut();
        let answer = this.answers.poll_next_unpin(cx);
        let shared = Arc::clone(&this.seen);
        let mut seen = lock(&shared);
        let subscription = seen.is_subscription();
        // Parsed and priced while the stream was polled: admitted.
        if subscription && seen.cost.is_some() && this.running.is_none() && !seen.recorded {
            this.running = Some(Open::subscription());
        }
        match &answer {
            Poll::Ready(Some(response)) if !subscription => {
                seen.record(&outcome(response), this.started.elapsed());
            }
            Poll::Ready(Some(response)) if !response.errors.is_empty() => {
                this.first_error.get_or_insert_with(|| outcome(response));
            }
            Poll::Ready(None) => {
                this.end(&mut seen);
                this.running = None;
            }
            _ => {}
        }
        answer
    }
}

impl Watched<'_> {
    /// Counts the operation as it ended, unless its answer already did: a
    /// subscription as it went, anything else cancelled before its answer.
    fn end(&mut self, seen: &mut Seen) {
        let outcome = match self.first_error.take() {
            Some(error) => error,
            None if seen.is_subscription() => "OK".into(),
            None => "CANCELLED".into(),
        };
        seen.record(&outcome, self.started.elapsed());
    }
}

impl Drop for Watched<'_> {
    /// Ended by the stream or by the client (`complete`, the connection closed).
    fn drop(&mut self) {
        let seen = Arc::clone(&self.seen);
        self.end(&mut lock(&seen));
    }
}
