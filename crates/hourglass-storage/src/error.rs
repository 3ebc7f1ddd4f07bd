use sea_orm::DbErr;

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
    Database(#[from] DbErr),
}

impl StorageError {
    pub(crate) fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            what,
            id: id.into(),
        }
    }
}

pub(crate) type Result<T, E = StorageError> = std::result::Result<T, E>;
