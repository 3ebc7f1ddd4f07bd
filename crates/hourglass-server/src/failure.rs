//! How a failed command tells the operator: one line on stderr, what went wrong and
//! what to do about it (`error: cannot open the database at …: … — check
//! --database-url or HOURGLASS_DATABASE_URL`), never a multi-line debug dump.
//!
//! Code that knows the remedy attaches it where the error happens with
//! [`WithHint::hint`]; a few storage errors get theirs here, from their kind.

use std::fmt;

use hourglass_storage::StorageError;

/// What to do about the error it is attached to. Shows as nothing in the error's
/// chain of messages; [`one_line`] puts it at the end.
#[derive(Debug)]
struct Hint(String);

impl fmt::Display for Hint {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

/// Attaching a remedy to an error.
pub trait WithHint<T> {
    /// Says what the operator can do when this fails.
    fn hint(self, what_to_do: impl Into<String>) -> anyhow::Result<T>;
}

impl<T, E> WithHint<T> for Result<T, E>
where
    E: Into<anyhow::Error>,
{
    fn hint(self, what_to_do: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|e| e.into().context(Hint(what_to_do.into())))
    }
}

/// The remedy for errors whose kind says it all.
fn hint_by_kind(error: &anyhow::Error) -> Option<String> {
    match error.downcast_ref::<StorageError>()? {
        StorageError::NotFound { what: "agency", .. } => Some(
            "check the slug, or create the agency with `hourglass admin create-agency SLUG`".into(),
        ),
        StorageError::NotFound {
            what: "workspace", ..
        } => Some(
            "check the slug; an ADMIN key creates workspaces with the GraphQL mutation \
             createWorkspace"
                .into(),
        ),
        StorageError::AlreadyExists { what: "agency", id } => Some(format!(
            "nothing to do; `hourglass admin create-key --agency {id} --role ADMIN` gives it a key"
        )),
        StorageError::Database(_) => {
            Some("check that the database is reachable (`hourglass config` shows its URL)".into())
        }
        _ => None,
    }
}

/// `error: MESSAGE: CAUSE: … — HINT`, on one line: the error's chain joined, causes
/// that only repeat the message before them left out, line breaks folded.
pub fn one_line(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() || parts.last().is_some_and(|last| last.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    let mut line = format!("error: {}", parts.join(": "));
    let hint = error
        .downcast_ref::<Hint>()
        .map(|h| h.0.clone())
        .or_else(|| hint_by_kind(error));
    if let Some(hint) = hint {
        line.push_str(" — ");
        line.push_str(&hint);
    }
    line
}

#[cfg(test)]
mod tests {
    use anyhow::Context as _;

    use super::*;

    #[test]
    fn a_failure_is_one_line_with_its_causes_and_what_to_do() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file\nor directory");
        let failed: anyhow::Result<()> = Err(io)
            .context("cannot open the database at sqlite://x.db")
            .hint("check --database-url or HOURGLASS_DATABASE_URL")
            .context("starting");
        let line = one_line(&failed.unwrap_err());
        assert_eq!(
            line,
            "error: starting: cannot open the database at sqlite://x.db: no such file or \
             directory — check --database-url or HOURGLASS_DATABASE_URL"
        );
    }

    #[test]
    fn a_cause_that_repeats_its_message_is_said_once() {
        let inner = std::io::Error::other("connection refused");
        let outer = anyhow::Error::new(inner).context("database error: connection refused");
        assert_eq!(
            one_line(&outer),
            "error: database error: connection refused"
        );
    }

    #[test]
    fn an_unknown_agency_says_how_to_make_one() {
        let error = anyhow::Error::new(StorageError::NotFound {
            what: "agency",
            id: "nobody".into(),
        });
        let line = one_line(&error);
        assert!(
            line.starts_with("error: agency 'nobody' was not found — "),
            "{line}"
        );
        assert!(line.contains("hourglass admin create-agency"), "{line}");
    }
}
