//! Connecting, migrating, and the one-writer rule for SQLite.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hourglass_migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, SqlxSqliteConnector, TransactionOptions, TransactionTrait,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::answer_cache::AnswerCache;
use crate::entities::workspace;
use crate::error::Result;
use crate::key_cache::KeyCache;
use crate::meters::{self, PoolStats};
use crate::shared_reads::SharedReads;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Whether a store can take traffic; see [`Store::readiness`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// The database does not answer (the error, for the operator).
    Unreachable(String),
    /// The database answers, but these migrations are not applied yet.
    MigrationsPending(Vec<String>),
    /// The database has migrations this build does not know: a newer release
    /// migrated it. Migrations are additive, so this build can still serve.
    SchemaAhead(String),
}

/// A few megabytes: an answer is a few dozen counts.
pub const DEFAULT_ANSWER_CACHE_ENTRIES: usize = 10_000;

/// How to connect.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://path?mode=rwc` or `postgres://user@host/db`.
    pub url: String,
    /// Pool size. SQLite uses it for readers; writes are serialised anyway.
    pub max_connections: u32,
    /// How long to wait for a pooled connection, or for SQLite's write lock.
    pub acquire_timeout: Duration,
    /// How long a verified API key is trusted without asking the database again
    /// (see [`Store::authenticate`]); zero, the default, asks every time. A key
    /// revoked through this store is refused at once whatever this is; one revoked
    /// by another process, within this long.
    pub key_cache_ttl: Duration,
    /// How many KPI answers to keep (see `answer_cache`); zero turns the cache off.
    /// Answers are exact whatever this is: it only trades memory for speed.
    pub answer_cache_entries: usize,
    /// How many organizations (by row id) the short list reads and scores at a time:
    /// memory holds one part's engagement facts, at the cost of a query per part.
    pub short_list_part: usize,
}

/// At ten million events, reading every organization's facts at once held 1.3 GB. At
/// three million (3,000 organizations, the largest five holding a quarter of the
/// facts), parts of 500 / 100 / 25 peaked at 417 / 362 / 282 MB against 526 MB for
/// all at once, taking 1.0 / 1.05 / 1.25 times as long: a query per part costs.
const DEFAULT_SHORT_LIST_PART: usize = 100;

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
            key_cache_ttl: Duration::ZERO,
            answer_cache_entries: DEFAULT_ANSWER_CACHE_ENTRIES,
            short_list_part: DEFAULT_SHORT_LIST_PART,
        }
    }
}

/// Prepared statements each connection keeps. Ingest and the aggregate layer send
/// multi-row statements whose text changes with the number of rows (thousands of
/// bind parameters, a compiled program of hundreds of kilobytes on SQLite); with
/// sqlx's default of 100 per connection they piled up in memory for minutes of live
/// ingest while hardly ever being reused. The statements that are reused (key and
/// workspace look-ups, full-size chunks) are few and stay in a small LRU.
const STATEMENT_CACHE: usize = 16;

/// A connection pool plus what every repository needs to share.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    /// SQLite allows one writer: taking this lock before a write transaction
    /// turns lock contention into orderly queueing instead of `SQLITE_BUSY`.
    pub(crate) write_lock: Arc<Mutex<()>>,
    /// PostgreSQL: one in-process queue of writers per workspace (see
    /// [`Store::workspace_writer`]). Workspaces are few; entries are never removed.
    workspace_writers: Arc<std::sync::Mutex<HashMap<i64, Arc<Mutex<()>>>>>,
    /// Recently verified API keys, shared by every clone of this store.
    pub(crate) keys: Arc<KeyCache>,
    /// Recent KPI answers by workspace data version, shared likewise.
    pub(crate) answers: Arc<AnswerCache>,
    /// Workspace rows by (agency, slug), read once for every request waiting for one.
    pub(crate) workspace_rows: SharedReads<(i64, String), Option<workspace::Model>>,
    /// See [`StoreOptions::short_list_part`] (at least 1).
    pub(crate) short_list_part: usize,
}

impl Backend {
    /// `sqlite` or `postgres`, as metrics and logs name it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl Store {
    pub async fn connect(options: &StoreOptions) -> Result<Self> {
        let mut connect = ConnectOptions::new(options.url.clone());
        connect
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .sqlx_logging(false);
        let busy_timeout = options.acquire_timeout;
        connect.map_sqlx_sqlite_opts(move |opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(busy_timeout)
                .foreign_keys(true)
                .statement_cache_capacity(STATEMENT_CACHE)
        });
        // Prepared statements with long IN lists would otherwise keep a generic plan
        // made while a table was small (a sequential scan) long after it has grown.
        connect.map_sqlx_postgres_opts(|opts| {
            opts.options([("plan_cache_mode", "force_custom_plan")])
                .statement_cache_capacity(STATEMENT_CACHE)
        });
        // sqlx 0.9.0 leaves Nagle's algorithm on (see `nodelay`): switch it off on
        // each new connection's socket.
        connect.map_sqlx_postgres_pool_opts(|pool| {
            pool.after_connect(|_, _| {
                Box::pin(async {
                    crate::nodelay::set_tcp_nodelay_on_sockets();
                    Ok(())
                })
            })
        });
        let db = Database::connect(connect).await?;
        Ok(Self {
            db,
            write_lock: Arc::new(Mutex::new(())),
            workspace_writers: Arc::default(),
            keys: Arc::new(KeyCache::new(options.key_cache_ttl)),
            answers: Arc::new(AnswerCache::new(options.answer_cache_entries)),
            workspace_rows: SharedReads::default(),
            short_list_part: options.short_list_part.max(1),
        })
    }

    pub fn backend(&self) -> Backend {
        match self.db.get_database_backend() {
            DbBackend::Sqlite => Backend::Sqlite,
            _ => Backend::Postgres,
        }
    }

    /// Applies every pending migration, then rebuilds the rollups of any workspace
    /// whose rollups are older than this code's (the migration that adds a rollup
    /// dimension cannot compute it in SQL).
    pub async fn migrate_up(&self) -> Result<()> {
        let db = self.migration_connection().await?;
        let migrated = Migrator::up(&db, None).await;
        self.done_migrating(db).await;
        migrated?;
        self.rebuild_stale_rollups().await?;
        Ok(())
    }

    /// Rolls back the last `steps` migrations (all when `None`).
    pub async fn migrate_down(&self, steps: Option<u32>) -> Result<()> {
        let db = self.migration_connection().await?;
        let migrated = Migrator::down(&db, steps).await;
        self.done_migrating(db).await;
        Ok(migrated?)
    }

    /// What migrations run on. On SQLite, a connection of their own: a pooled
    /// connection keeps its copy of the schema until it next reads, so a migration's
    /// statements spread over the pool could meet one that still knew an index just
    /// dropped ("index … already exists", seen once in the up-down-up test).
    async fn migration_connection(&self) -> Result<DatabaseConnection> {
        Ok(match self.backend() {
            Backend::Postgres => self.db.clone(),
            Backend::Sqlite => {
                let options = self.db.get_sqlite_connection_pool().connect_options();
                let one = SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with((*options).clone())
                    .await
                    .map_err(|e| sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e.into())))?;
                SqlxSqliteConnector::from_sqlx_sqlite_pool(one)
            }
        })
    }

    /// Closes the connection of its own that SQLite's migrations ran on.
    async fn done_migrating(&self, db: DatabaseConnection) {
        if self.backend() == Backend::Sqlite {
            // Nothing is left to lose: the migrations' outcome is already known.
            let _ = db.close().await;
        }
    }

    /// Each known migration's name and whether it is applied.
    pub async fn migration_status(&self) -> Result<Vec<(String, bool)>> {
        let applied = Migrator::get_applied_migrations(&self.db).await?;
        let applied: Vec<String> = applied.iter().map(|m| m.name().to_owned()).collect();
        Ok(Migrator::migrations()
            .iter()
            .map(|m| {
                let name = m.name().to_owned();
                let done = applied.contains(&name);
                (name, done)
            })
            .collect())
    }

    /// Whether the database answers and every migration this build knows is
    /// applied: what a load balancer or an orchestrator waits for before it sends
    /// traffic (`/ready`).
    pub async fn readiness(&self) -> Readiness {
        if let Err(e) = self.ping().await {
            return Readiness::Unreachable(e.to_string());
        }
        // Read-only: a probe must not create the migrations table (the server's role
        // may not be allowed to, where another role migrates).
        match Migrator::get_pending_migrations_read_only(&self.db).await {
            Ok(pending) if pending.is_empty() => Readiness::Ready,
            Ok(pending) => {
                Readiness::MigrationsPending(pending.iter().map(|m| m.name().to_owned()).collect())
            }
            // The migrator's own complaint: applied migrations this build has no file
            // for, because a newer release migrated the database (a rolling deploy).
            Err(sea_orm::DbErr::Custom(newer)) => Readiness::SchemaAhead(newer),
            Err(e) => Readiness::Unreachable(e.to_string()),
        }
    }

    /// The connection pool's current use.
    pub fn pool_stats(&self) -> PoolStats {
        let (open, idle, max) = match self.backend() {
            Backend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            Backend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
        };
        PoolStats {
            open,
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
            max,
        }
    }

    /// A cheap query that proves the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.db.ping().await?;
        Ok(())
    }

    pub async fn close(self) -> Result<()> {
        self.db.close_by_ref().await?;
        Ok(())
    }

    /// Serialises writers on SQLite; a no-op guard on PostgreSQL, whose row locks
    /// and unique indexes handle concurrent writers.
    pub(crate) async fn write_guard(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.backend() {
            Backend::Sqlite => {
                let asked = Instant::now();
                let guard = self.write_lock.lock().await;
                meters::waited_to_write(Backend::Sqlite, asked.elapsed());
                Some(guard)
            }
            Backend::Postgres => None,
        }
    }

    /// Waits for this process's turn to write `workspace`, before a connection is
    /// taken: on SQLite the one writer's lock; on PostgreSQL the workspace's queue.
    /// Writers of one workspace are serialised by its row lock anyway (see
    /// `workspace_write`); waiting here instead of on the lock keeps queued writers
    /// from holding pooled connections, which a batch of concurrent mutations would
    /// otherwise exhaust while the writer in front waits for one.
    pub(crate) async fn workspace_writer(&self, workspace: i64) -> OwnedMutexGuard<()> {
        let queue = match self.backend() {
            Backend::Sqlite => Arc::clone(&self.write_lock),
            Backend::Postgres => {
                let mut writers = self
                    .workspace_writers
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                Arc::clone(writers.entry(workspace).or_default())
            }
        };
        let asked = Instant::now();
        let turn = queue.lock_owned().await;
        meters::waited_to_write(self.backend(), asked.elapsed());
        turn
    }

    /// Starts a write transaction. On SQLite it takes the write lock at `BEGIN`
    /// (IMMEDIATE), waiting out the busy timeout for another process (the admin CLI)
    /// to finish: a deferred transaction that reads first cannot wait for the lock
    /// when it comes to write, and would fail at once instead.
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction> {
        Ok(self
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await?)
    }

    #[doc(hidden)]
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }
}
