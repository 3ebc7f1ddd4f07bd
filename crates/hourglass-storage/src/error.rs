use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// What can go wrong in storage, as data the server maps to public error codes.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The named thing does not exist (or is not visible in this workspace).
    #[error("{what} '{id}' was not found")]
    NotFound { what: &'static str, id: String },
    /// Creating something that already exists.
    #[error("{what} '{id}' already exists")]
    AlreadyExists { what: &'static str, id: String },
    /// The tenant may not do this at all (a one-workspace key creating workspaces).
    #[error("{0}")]
    OutOfScope(String),
    /// A value the domain refuses, with the field it concerns.
    #[error("{0}")]
    Invalid(#[from] hourglass_core::FieldError),
    /// The database failed. The detail is for logs, never for clients.
    #[error("database error: {0}")]
    Database(DbErr),
    /// Stored data that cannot be what this code wrote (a rollup's people set that does
    /// not decode, person numbers beyond their range). For logs; `rollups rebuild`
    /// recomputes it from raw events.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),

    /// A computation moved off the async workers did not finish (it panicked).
    #[error("a background computation failed: {0}")]
    Background(String),
}

/// PostgreSQL's SQLSTATEs for text it cannot hold (a NUL character, a byte sequence
/// that is not UTF-8): the caller's value is at fault, not the database. Core's rules
/// refuse such values first; this keeps any path they miss from becoming INTERNAL.
const UNSTORABLE_TEXT: &[&str] = &["22021", "22P05"];

impl From<DbErr> for StorageError {
    fn from(err: DbErr) -> Self {
        let sqlstate = match &err {
            DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)) => e
                .as_database_error()
                .and_then(|db| db.code())
                .map(|code| code.into_owned()),
            _ => None,
        };
        match sqlstate {
            Some(code) if UNSTORABLE_TEXT.contains(&code.as_str()) => {
                tracing::debug!(error = %err, "refused text");
                Self::Invalid(hourglass_core::FieldError::new(
                    "input",
                    "text may not contain the NUL character (U+0000)",
                ))
            }
            _ => Self::Database(err),
        }
    }
}

impl StorageError {
    /// For an insert of a thing keyed by `id`: a unique-key violation means the same
    /// thing was created by a concurrent request that committed first, so it is
    /// `AlreadyExists` like any other repeat, not a database failure.
    pub(crate) fn exists_on_conflict(
        what: &'static str,
        id: impl Into<String>,
    ) -> impl FnOnce(DbErr) -> Self {
        move |err| match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Self::AlreadyExists {
                what,
                id: id.into(),
            },
            _ => Self::from(err),
        }
    }

    pub(crate) fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            what,
            id: id.into(),
        }
    }
}

pub(crate) type Result<T, E = StorageError> = std::result::Result<T, E>;
