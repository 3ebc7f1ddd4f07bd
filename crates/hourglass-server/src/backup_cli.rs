//! `hourglass backup FILE`: a consistent copy of the embedded SQLite database, made
//! while the server keeps serving (see `hourglass_storage::Store::backup_to`). On
//! PostgreSQL it says which `pg_dump` command to run instead.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use hourglass_storage::BackupError;

use crate::cli::BackupArgs;
use crate::failure::WithHint as _;
use crate::settings::Settings;
use crate::settings::{redact, without_password};

pub async fn run(args: BackupArgs, mut settings: Settings) -> anyhow::Result<ExitCode> {
    args.database.apply(&mut settings);
    let url = settings.database_url.clone();
    let Some(database) = sqlite_file(&url) else {
        let dump = args.file.with_extension("dump");
        // Without the password: pg_dump reads it from PGPASSWORD or ~/.pgpass, or asks.
        let url = without_password(&url);
        return Err(anyhow::anyhow!(
            "hourglass backup copies the embedded SQLite database; {url} is not one"
        ))
        .hint(format!(
            "for PostgreSQL use pg_dump: pg_dump --format=custom --file={} '{url}'",
            dump.display(),
        ));
    };
    if !database.as_os_str().is_empty() && !database.exists() {
        return Err(anyhow::anyhow!(
            "there is no database at {}",
            database.display()
        ))
        .hint("check --database-url or HOURGLASS_DATABASE_URL");
    }
    // A backup reads; it neither creates a database nor migrates one.
    settings.migrate_on_start = false;
    settings.database_url = url.replace("mode=rwc", "mode=rw");
    let store = crate::app::connect(&settings).await?;
    let started = Instant::now();
    let backup = store.backup_to(&args.file, args.force).await;
    store.close().await.ok();
    let summary = match backup {
        Ok(summary) => summary,
        Err(e @ BackupError::TargetExists(_)) => {
            return Err(e).hint("choose another file, or pass --force to replace it");
        }
        Err(e @ BackupError::TargetIsDatabase(_)) => {
            return Err(e).hint("write the copy anywhere but over the database");
        }
        Err(e @ BackupError::InMemory) => {
            return Err(e).hint("point --database-url at the database file the server uses");
        }
        Err(e) => return Err(e.into()),
    };
    println!(
        "{}: {} backup of {} in {:.1} s",
        summary.path.display(),
        size(summary.bytes),
        redact(&url),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// The file of a `sqlite:` URL (empty in memory); `None` for any other database.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    if path == ":memory:" {
        return Some(PathBuf::new());
    }
    Some(Path::new(path).to_owned())
}

/// `812 bytes`, `3.4 MB`, `1.2 GB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64;
    let mut unit = "bytes";
    for next in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sqlite_urls_name_a_file() {
        assert_eq!(
            sqlite_file("sqlite://hourglass.db?mode=rwc"),
            Some(PathBuf::from("hourglass.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///var/lib/hourglass/h.db"),
            Some(PathBuf::from("/var/lib/hourglass/h.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), Some(PathBuf::new()));
        assert_eq!(sqlite_file("postgres://app@db/hourglass"), None);
    }

    #[test]
    fn sizes_read_like_a_person_would_say_them() {
        assert_eq!(size(812), "812 bytes");
        assert_eq!(size(3_400_000), "3.4 MB");
        assert_eq!(size(1_200_000_000), "1.2 GB");
    }
}
