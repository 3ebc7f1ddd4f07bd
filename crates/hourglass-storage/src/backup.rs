//! Consistent copies of an embedded SQLite database while it serves.
//!
//! `VACUUM INTO` writes the database as one read transaction sees it: a snapshot
//! of committed transactions only, the write-ahead log's included, so an ingest
//! batch is in the copy whole or not at all. In WAL mode a reader does not block
//! writers, so the server keeps ingesting while the copy is made. (Copying the file
//! instead would miss whatever the log has not yet moved into it, and could catch a
//! checkpoint half done.) The copy is written under a temporary name beside the
//! target, flushed to disk, and only then given the target's name: a crash or a
//! full disk never leaves a half-written file where a backup is expected.

use std::io;
use std::path::{Path, PathBuf};

use sea_orm::{ConnectionTrait as _, DbBackend, DbErr, Statement};

use crate::store::{Backend, Store};

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// The copy.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
}

/// Why a backup was not made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// PostgreSQL has its own tools (`pg_dump`), which know its snapshots.
    #[error("only an embedded SQLite database can be copied this way; this one is PostgreSQL")]
    NotSqlite,
    /// An in-memory database lives in this process only: there is nothing to copy.
    #[error("an in-memory database holds nothing another process could back up")]
    InMemory,
    /// The target exists and replacing it was not asked for.
    #[error("{} exists already", .0.display())]
    TargetExists(PathBuf),
    /// The target is the live database file.
    #[error("{} is the database itself", .0.display())]
    TargetIsDatabase(PathBuf),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("copying the database: {0}")]
    Database(#[from] DbErr),
}

fn io_error(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BackupError {
    let path = path.to_owned();
    move |source| BackupError::Io { what, path, source }
}

impl Store {
    /// Writes a consistent copy of this SQLite database to `target`, while other
    /// connections and processes go on reading and writing. An existing `target` is
    /// refused unless `replace`; then it is replaced whole, once the copy is complete.
    pub async fn backup_to(
        &self,
        target: &Path,
        replace: bool,
    ) -> Result<BackupSummary, BackupError> {
        if self.backend() != Backend::Sqlite {
            return Err(BackupError::NotSqlite);
        }
        let directory = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        if !directory.is_dir() {
            return Err(BackupError::Io {
                what: "no directory",
                path: directory,
                source: io::ErrorKind::NotFound.into(),
            });
        }
        if !replace && target.exists() {
            return Err(BackupError::TargetExists(target.to_owned()));
        }
        let Some(live) = self.sqlite_file().await? else {
            return Err(BackupError::InMemory);
        };
        if same_file(&live, target) {
            return Err(BackupError::TargetIsDatabase(target.to_owned()));
        }
        let file_name = target.file_name().ok_or_else(|| BackupError::Io {
            what: "not a file name",
            path: target.to_owned(),
            source: io::ErrorKind::InvalidInput.into(),
        })?;
        let mut partial_name = file_name.to_owned();
        partial_name.push(format!(".partial-{}", std::process::id()));
        let partial = directory.join(partial_name);
        let partial_text = partial.to_str().ok_or_else(|| BackupError::Io {
            what: "SQLite needs a UTF-8 path, not",
            path: partial.clone(),
            source: io::ErrorKind::InvalidInput.into(),
        })?;
        // A leftover of an earlier attempt by a process of the same id.
        let _ = std::fs::remove_file(&partial);
        let copied = self
            .db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "VACUUM INTO ?",
                [partial_text.into()],
            ))
            .await;
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&partial);
            return Err(e.into());
        }
        let target = target.to_owned();
        let finished = tokio::task::spawn_blocking(move || {
            let placed = put_in_place(&partial, &target, &directory, replace);
            if placed.is_err() {
                let _ = std::fs::remove_file(&partial);
            }
            placed.map(|bytes| BackupSummary {
                path: target,
                bytes,
            })
        })
        .await;
        finished.map_err(|e| BackupError::Io {
            what: "finishing the copy",
            path: PathBuf::new(),
            source: io::Error::other(e.to_string()),
        })?
    }

    /// The file of the main SQLite database; `None` in memory.
    async fn sqlite_file(&self) -> Result<Option<PathBuf>, DbErr> {
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT file FROM pragma_database_list WHERE name = 'main'",
            ))
            .await?;
        let file: Option<String> = match row {
            Some(row) => row.try_get("", "file")?,
            None => None,
        };
        Ok(file.filter(|f| !f.is_empty()).map(PathBuf::from))
    }
}

/// Flushes the finished copy, gives it `target`'s name (atomically; without
/// replacing anything unless `replace`) and flushes the directory; its size.
fn put_in_place(
    partial: &Path,
    target: &Path,
    directory: &Path,
    replace: bool,
) -> Result<u64, BackupError> {
    std::fs::File::open(partial)
        .and_then(|f| f.sync_all())
        .map_err(io_error("flushing", partial))?;
    if replace {
        std::fs::rename(partial, target).map_err(io_error("writing", target))?;
    } else {
        // A hard link fails if the name is taken, even by a file made a moment ago.
        match std::fs::hard_link(partial, target) {
            Ok(()) => std::fs::remove_file(partial).map_err(io_error("removing", partial))?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(BackupError::TargetExists(target.to_owned()));
            }
            // A file system without hard links: check, then rename.
            Err(_) if target.exists() => {
                return Err(BackupError::TargetExists(target.to_owned()));
            }
            Err(_) => std::fs::rename(partial, target).map_err(io_error("writing", target))?,
        }
    }
    // The new name is durable once the directory is; not every platform can open a
    // directory to flush it, and the copy itself is already on disk.
    if let Ok(dir) = std::fs::File::open(directory) {
        let _ = dir.sync_all();
    }
    Ok(std::fs::metadata(target)
        .map_err(io_error("reading", target))?
        .len())
}

/// Whether `a` and `b` name the same file (`b` may not exist yet).
fn same_file(a: &Path, b: &Path) -> bool {
    let resolve = |p: &Path| {
        p.canonicalize().ok().or_else(|| {
            let parent = p.parent().filter(|d| !d.as_os_str().is_empty());
            let parent = parent.unwrap_or(Path::new(".")).canonicalize().ok()?;
            Some(parent.join(p.file_name()?))
        })
    };
    match (resolve(a), resolve(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreOptions;

    async fn store_in(dir: &Path) -> Store {
        let url = format!("sqlite://{}?mode=rwc", dir.join("live.db").display());
        let store = Store::connect(&StoreOptions::new(url))
            .await
            .expect("connect");
        store.migrate_up().await.expect("migrate");
        store
    }

    #[tokio::test]
    async fn a_backup_opens_as_a_database_with_the_same_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_in(dir.path()).await;
        let slug = hourglass_core::Slug::parse("acme").expect("slug");
        store.create_agency(&slug, "Acme").await.expect("agency");
        let target = dir.path().join("copy.db");
        let summary = store.backup_to(&target, false).await.expect("backup");
        assert_eq!(summary.path, target);
        assert!(summary.bytes > 0);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.contains(".partial-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");

        let copy = Store::connect(&StoreOptions::new(format!("sqlite://{}", target.display())))
            .await
            .expect("open the copy");
        assert!(copy.has_agencies().await.expect("read the copy"));
    }

    #[tokio::test]
    async fn an_existing_file_is_kept_unless_replacing_and_the_database_never() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_in(dir.path()).await;
        let target = dir.path().join("copy.db");
        std::fs::write(&target, b"an older copy").expect("write");
        let refused = store.backup_to(&target, false).await;
        assert!(
            matches!(refused, Err(BackupError::TargetExists(_))),
            "{refused:?}"
        );
        assert_eq!(std::fs::read(&target).expect("read"), b"an older copy");
        store.backup_to(&target, true).await.expect("replace");
        assert!(std::fs::metadata(&target).expect("stat").len() > 100);

        let live = dir.path().join("live.db");
        let refused = store.backup_to(&live, true).await;
        assert!(
            matches!(refused, Err(BackupError::TargetIsDatabase(_))),
            "{refused:?}"
        );
        let nowhere = dir.path().join("missing").join("copy.db");
        let refused = store.backup_to(&nowhere, false).await;
        assert!(
            matches!(refused, Err(BackupError::Io { .. })),
            "{refused:?}"
        );
    }
}
