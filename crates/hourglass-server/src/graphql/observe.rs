//! What every GraphQL operation leaves behind, whichever transport brought it: the
//! operation metrics (count by outcome, duration, cost) and, for an operation that
//! runs, a `graphql` span (operation name, type, cost) that its database round trips
//! nest in. Registered first, so that it sees the final error codes and times
//! admission too.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest, NextSubscribe, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{
    Request, Response, ServerError, ServerResult, ValidationResult, Value, Variables,
};
use futures_util::stream::{BoxStream, StreamExt as _};
use tracing::Instrument as _;

use crate::observability::meters::{self, Open, OperationRecord};

/// The schema extension.
#[derive(Debug, Default)]
pub struct Observe;

impl ExtensionFactory for Observe {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ForOperation::default())
    }
}

/// What is learnt of one operation as it goes.
#[derive(Default)]
struct ForOperation {
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    /// The `operationName` the request asked for.
    asked: Option<String>,
    /// The operation that runs, once the document is parsed.
    name: Option<String>,
    kind: Option<&'static str>,
    cost: Option<usize>,
}

impl ForOperation {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
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
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        let outcome = outcome(&response);
        let seen = std::mem::take(&mut *self.seen());
        let name = meters::operation_label(seen.name.as_deref().or(seen.asked.as_deref()));
        meters::graphql_operation(&OperationRecord {
            name: &name,
            kind: seen.kind.unwrap_or("unknown"),
            outcome: &outcome,
            took: started.elapsed(),
            cost: seen.cost,
        });
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
            let name = seen.name.clone().or_else(|| seen.asked.clone());
            let label = name.unwrap_or_else(|| "anonymous".into());
            (label, seen.kind.unwrap_or("unknown"), seen.cost)
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
        let asked = seen.asked.clone();
        let mut operations = document.operations.iter();
        let runs = match asked.as_deref() {
            Some(asked) => operations.find(|(n, _)| n.is_some_and(|n| n.as_str() == asked)),
            None => operations.next().filter(|_| operations.next().is_none()),
        };
        if let Some((name, operation)) = runs {
            seen.name = name.map(|n| n.to_string());
            seen.kind = Some(kind_name(operation.node.ty));
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

    /// A subscription counts as running for as long as its stream lives.
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let open = Open::subscription();
        next.run(ctx, stream)
            .map(move |response| {
                let _running = &open;
                response
            })
            .boxed()
    }
}
