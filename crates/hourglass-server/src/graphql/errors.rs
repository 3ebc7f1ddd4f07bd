//! Gives every GraphQL error an `extensions.code` from the one table in
//! `crate::error`, and masks anything internal.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextSubscribe,
    NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Variables};
use futures_util::stream::{BoxStream, StreamExt as _};

use crate::error::{ApiError, ErrorCode};

/// The schema extension that assigns error codes.
#[derive(Debug, Default)]
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes)
    }
}

fn set_code(error: &mut ServerError, code: ErrorCode) {
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code.as_str());
}

fn has_code(error: &ServerError) -> bool {
    error
        .extensions
        .as_ref()
        .is_some_and(|ext| ext.get("code").is_some())
}

/// Turns a resolver's error into its public form.
fn classify_execution_error(error: &mut ServerError) {
    if has_code(error) {
        return;
    }
    if let Some(api) = error.source::<ApiError>() {
        let code = api.code();
        let mut extra: Vec<(&str, async_graphql::Value)> = Vec::new();
        match api {
            ApiError::BadUserInput {
                field: Some(field), ..
            } => extra.push(("field", field.clone().into())),
            ApiError::Internal { request_id } => {
                extra.push(("requestId", request_id.clone().into()));
            }
            ApiError::RateLimited { retry_after_secs } => {
                extra.push(("retryAfter", (*retry_after_secs).into()));
            }
            ApiError::TooExpensive { cost, budget } => {
                extra.push(("cost", (*cost as u64).into()));
                extra.push(("budget", (*budget as u64).into()));
            }
            ApiError::Script(script) => {
                if let (Some(line), Some(column)) = (script.line, script.column) {
                    extra.push(("line", (line as u64).into()));
                    extra.push(("column", (column as u64).into()));
                }
            }
            _ => {}
        }
        let ext = error.extensions.get_or_insert_with(Default::default);
        ext.set("code", code.as_str());
        for (key, value) in extra {
            ext.set(key, value);
        }
    } else if error.source.is_some() {
        // An error we did not map: never show its text.
        let masked = ApiError::internal(&error.message);
        error.message = masked.to_string();
        error.source = None;
        let ext = error.extensions.get_or_insert_with(Default::default);
        ext.set("code", ErrorCode::Internal.as_str());
        if let ApiError::Internal { request_id } = masked {
            ext.set("requestId", request_id);
        }
    } else {
        // async-graphql's own input coercion errors carry no source.
        set_code(error, ErrorCode::BadUserInput);
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for ErrorCodes {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        for error in &mut response.errors {
            classify_execution_error(error);
        }
        response
    }

    /// Subscriptions (and anything sent over WebSocket) get the same codes.
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream)
            .map(|mut response| {
                for error in &mut response.errors {
                    classify_execution_error(error);
                }
                response
            })
            .boxed()
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables).await.map_err(|mut error| {
            // Later extensions (the alias limit) set their own code.
            if !has_code(&error) {
                set_code(&mut error, ErrorCode::GraphqlParseFailed);
            }
            error
        })
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|mut errors| {
            // Admission's refusals carry their own error, classified with the rest.
            for error in errors.iter_mut().filter(|e| e.source.is_none()) {
                let too_deep = error.message.contains("nested too deep");
                // A value that does not fit its type is the caller's input, whether it
                // came inline or as a variable.
                let bad_value = error.message.starts_with("Invalid value for argument");
                let code = if too_deep {
                    ErrorCode::QueryTooComplex
                } else if bad_value {
                    ErrorCode::BadUserInput
                } else {
                    ErrorCode::GraphqlValidationFailed
                };
                set_code(error, code);
            }
            errors
        })
    }
}
