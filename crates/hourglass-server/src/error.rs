//! The one table of public error codes, and how every failure maps onto it.
//!
//! Each [`ApiError`] has exactly one [`ErrorCode`]; each code has one HTTP status.
//! Internal details are logged with an id and never reach the client.

use actix_web::http::StatusCode;
use hourglass_core::script::{ScriptError, ScriptErrorKind};
use hourglass_storage::StorageError;

/// Declares [`ErrorCode`] from one table: each code with its doc, its name on the wire
/// and its HTTP status, so that the list of every code (`ALL`, which the README test
/// reads) cannot fall out of step with the enum.
macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal => $status:ident, )+) => {
        /// Public error codes, as they appear in `extensions.code` and NDJSON responses.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )+
        }

        impl ErrorCode {
            /// Every code, in the table's order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)+
                }
            }

            /// The HTTP status where one applies (NDJSON, GraphQL request-level failures).
            pub const fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)+
                }
            }
        }
    };
}

error_codes! {
    /// No API key, or one that is unknown, malformed or revoked.
    Unauthenticated = "UNAUTHENTICATED" => UNAUTHORIZED,
    /// The key's role does not allow this, or its scope does not reach it.
    Forbidden = "FORBIDDEN" => FORBIDDEN,
    /// Too many requests with this key; `Retry-After` says when to try again.
    RateLimited = "RATE_LIMITED" => TOO_MANY_REQUESTS,
    /// The request took longer than the server allows and was stopped.
    Timeout = "TIMEOUT" => SERVICE_UNAVAILABLE,
    /// The request is not valid GraphQL.
    GraphqlParseFailed = "GRAPHQL_PARSE_FAILED" => BAD_REQUEST,
    /// The request is GraphQL but does not fit the schema, or its variables do not.
    GraphqlValidationFailed = "GRAPHQL_VALIDATION_FAILED" => BAD_REQUEST,
    /// An argument or field value is refused; the message says which and why.
    BadUserInput = "BAD_USER_INPUT" => BAD_REQUEST,
    /// The request body is not what the endpoint reads (malformed JSON, no workspace…).
    BadRequest = "BAD_REQUEST" => BAD_REQUEST,
    /// The thing named does not exist.
    NotFound = "NOT_FOUND" => NOT_FOUND,
    /// Creating something that exists already.
    AlreadyExists = "ALREADY_EXISTS" => CONFLICT,
    /// More events in one request than allowed.
    BatchTooLarge = "BATCH_TOO_LARGE" => PAYLOAD_TOO_LARGE,
    /// The request body is larger than allowed.
    PayloadTooLarge = "PAYLOAD_TOO_LARGE" => PAYLOAD_TOO_LARGE,
    /// The request's Content-Type is not one the endpoint reads.
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE" => UNSUPPORTED_MEDIA_TYPE,
    /// A mutation sent with GET, or a method the endpoint does not serve.
    MethodNotAllowed = "METHOD_NOT_ALLOWED" => METHOD_NOT_ALLOWED,
    /// The query is too deep or too complex.
    QueryTooComplex = "QUERY_TOO_COMPLEX" => BAD_REQUEST,
    /// A KPI script does not compile; `line` and `column` say where.
    ScriptCompileError = "SCRIPT_COMPILE_ERROR" => BAD_REQUEST,
    /// A KPI script failed while running (bad return value, unknown function, …).
    ScriptRuntimeError = "SCRIPT_RUNTIME_ERROR" => UNPROCESSABLE_ENTITY,
    /// A KPI script hit a sandbox limit: time, operations, recursion, size.
    ScriptLimitExceeded = "SCRIPT_LIMIT_EXCEEDED" => UNPROCESSABLE_ENTITY,
    /// Something failed on our side. The response carries an `errorId` found in the log.
    Internal = "INTERNAL" => INTERNAL_SERVER_ERROR,
}

/// A failure as the API reports it. Resolvers return it as it is; the
/// [`ErrorCodes`](crate::graphql::ErrorCodes) extension turns it into `extensions`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("too many requests with this key; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("the request took longer than {limit_ms} ms and was stopped")]
    Timeout { limit_ms: u64 },
    #[error(
        "the request costs {cost}; the limit is {budget} (the README's cost table says \
         what each field costs): ask for fewer fields, aliases, operations or items"
    )]
    TooExpensive { cost: usize, budget: usize },
    #[error("{message}")]
    BadUserInput {
        message: String,
        /// The input field concerned, when one is.
        field: Option<String>,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("{what} '{id}' was not found")]
    NotFound { what: &'static str, id: String },
    #[error("{what} '{id}' already exists")]
    AlreadyExists { what: &'static str, id: String },
    #[error("{got} events in one request; the limit is {max}. Split the batch.")]
    BatchTooLarge { got: usize, max: usize },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{}", .0)]
    Script(ScriptError),
    #[error("internal error (requestId {request_id}); the server log has the details")]
    Internal { request_id: String },
}

impl ApiError {
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::BadUserInput {
            message: message.into(),
            field: None,
        }
    }

    /// Logs `source` under the current request's id and returns an error that shows
    /// only that id.
    pub fn internal(source: &dyn std::fmt::Display) -> Self {
        let request_id = crate::request_id::current();
        tracing::error!(request_id, error = %source, "internal error");
        Self::Internal { request_id }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::Timeout { .. } => ErrorCode::Timeout,
            ApiError::TooExpensive { .. } => ErrorCode::QueryTooComplex,
            ApiError::BadUserInput { .. } => ErrorCode::BadUserInput,
            ApiError::BadRequest(_) => ErrorCode::BadRequest,
            ApiError::NotFound { .. } => ErrorCode::NotFound,
            ApiError::AlreadyExists { .. } => ErrorCode::AlreadyExists,
            ApiError::BatchTooLarge { .. } => ErrorCode::BatchTooLarge,
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            ApiError::MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
            ApiError::Script(e) => match e.kind {
                ScriptErrorKind::Compile => ErrorCode::ScriptCompileError,
                ScriptErrorKind::Runtime => ErrorCode::ScriptRuntimeError,
                ScriptErrorKind::LimitExceeded => ErrorCode::ScriptLimitExceeded,
            },
            ApiError::Internal { .. } => ErrorCode::Internal,
        }
    }

    /// Headers the error's status calls for: `WWW-Authenticate` with 401,
    /// `Retry-After` with 429, `Allow` with 405.
    pub fn add_headers(&self, response: &mut actix_web::HttpResponseBuilder) {
        use actix_web::http::header;
        match self {
            ApiError::Unauthenticated(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::RateLimited { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::MethodNotAllowed(_) => {
                response.insert_header((header::ALLOW, "POST"));
            }
            _ => {}
        }
    }

    /// The body of a non-GraphQL error response: `{"error": {"code", "message"}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "code": self.code().as_str(),
            "message": self.to_string(),
        });
        match self {
            ApiError::Internal { request_id } => body["requestId"] = request_id.clone().into(),
            ApiError::Script(e) => {
                body["line"] = e.line.into();
                body["column"] = e.column.into();
            }
            _ => {}
        }
        serde_json::json!({ "error": body })
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::NotFound { what, id } => ApiError::NotFound { what, id },
            StorageError::AlreadyExists { what, id } => ApiError::AlreadyExists { what, id },
            StorageError::OutOfScope(message) => ApiError::Forbidden(message),
            StorageError::Invalid(field) => ApiError::BadUserInput {
                message: field.to_string(),
                field: Some(field.field.to_owned()),
            },
            StorageError::Database(db) => ApiError::internal(&db),
            StorageError::Corrupt(detail) | StorageError::Background(detail) => {
                ApiError::internal(&detail)
            }
        }
    }
}

impl From<hourglass_core::FieldError> for ApiError {
    fn from(err: hourglass_core::FieldError) -> Self {
        ApiError::BadUserInput {
            message: err.to_string(),
            field: Some(err.field.to_owned()),
        }
    }
}

impl From<hourglass_core::IdError> for ApiError {
    fn from(err: hourglass_core::IdError) -> Self {
        ApiError::bad_input(err.to_string())
    }
}

impl From<hourglass_core::FilterError> for ApiError {
    fn from(err: hourglass_core::FilterError) -> Self {
        ApiError::bad_input(err.to_string())
    }
}

impl actix_web::ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code().status()
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        let mut response = actix_web::HttpResponse::build(self.status_code());
        self.add_headers(&mut response);
        response.json(self.to_json())
    }
}

/// What resolvers return.
pub type ApiResult<T> = Result<T, ApiError>;
