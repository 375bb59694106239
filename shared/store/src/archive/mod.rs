//! The permanent record in PostgreSQL: the user directory, archived
//! sessions and records, sign-in history and the audit trail of edits.
//!
//! Queries are checked at compile time against the migrations (`sqlx::query!`),
//! from the committed `.sqlx/` data when no database is at hand.

mod attendances;
mod courses;
mod logins;
mod users;

use std::{
    ops::{Deref, DerefMut},
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sqlx::{
    Connection as _, PgConnection, PgPool, Postgres, SqlSafeStr as _, Transaction,
    pool::PoolConnection,
    postgres::{PgConnectOptions, PgPoolOptions},
};

pub use attendances::{Archived, ArchivedRecordEdit, ArchivedSessionEdit, SessionToArchive, TeacherAttendance};
pub use courses::{
    CourseCounts, CourseCountsReport, CourseSessionOfStudent, CourseSummary, PersonCourses, StudentCourseCounts,
    StudentCourseSession, TaughtCourse,
};
pub use users::{NewUser, UserRow};

use crate::{StoreError, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What stands between ATTN and PostgreSQL (`ATTN_DATABASE_POOLER`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooler {
    /// PostgreSQL itself, or a pooler in session mode: each connection is one
    /// server session, so statements are prepared once and cached on it.
    #[default]
    None,
    /// A pooler in transaction mode (PgBouncer's `pool_mode = transaction`)
    /// that does not keep prepared statements for its clients (PgBouncer
    /// before 1.21, or `max_prepared_statements = 0`): a connection's server
    /// session changes between transactions, and even between two messages
    /// of one statement outside a transaction. So every statement runs inside
    /// a transaction (one server session from its parse to its result), each
    /// transaction starts with `DEALLOCATE ALL` (no statement name another
    /// client left on that session can collide with one of ours), and no
    /// statement is cached past its transaction.
    Transaction,
}

/// The transaction a [`Pooler::Transaction`] unit of work begins with.
const BEGIN_BEHIND_POOLER: &str = "BEGIN; DEALLOCATE ALL";

#[derive(Debug, Clone)]
pub struct PostgresSettings {
    pub url: SecretString,
    /// Where migrations run (`ATTN_DATABASE_MIGRATION_URL`): PostgreSQL
    /// itself, since they hold a session-level advisory lock. `None`: `url`.
    pub migration_url: Option<SecretString>,
    pub pooler: Pooler,
    pub max_connections: u32,
    /// Longest a query waits for a free connection (or a reconnect).
    pub acquire_timeout: Duration,
}

#[derive(Clone)]
pub struct Archive {
    pool: PgPool,
    pooler: Pooler,
    migration_url: Option<SecretString>,
    /// Where each wait for a pool connection is recorded, once a service
    /// asks for it ([`Archive::record_acquire_waits`]); shared by all clones.
    acquire_waits: Arc<OnceLock<metrics::Histogram>>,
}

/// What [`Archive::migrate`] did, for the start-up log.
#[derive(Debug, Clone)]
pub struct Migrated {
    /// The setting whose URL the migrations ran over.
    pub via: &'static str,
    /// `host:port/database` of that URL (never its password).
    pub server: String,
    /// Migrations applied now (0: the schema was up to date).
    pub applied: usize,
    /// The newest migration's version: the schema's version now.
    pub schema_version: i64,
}

impl Archive {
    /// Connects (lazily: the pool opens connections as queries need them).
    pub fn connect_lazy(settings: &PostgresSettings) -> StoreResult<Self> {
        let options = connect_options("ATTN_DATABASE_URL", &settings.url)?;
        let options = match settings.pooler {
            Pooler::None => options,
            // No statement outlives its transaction (see `Pooler::Transaction`);
            // and PgBouncer refuses startup parameters it does not track,
            // such as extra_float_digits (ATTN stores no floating point).
            Pooler::Transaction => options.statement_cache_capacity(0).extra_float_digits(None),
        };
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_lazy_with(options);
        let migration_url = settings.migration_url.clone().filter(|url| !url.expose_secret().trim().is_empty());
        Ok(Self { pool, pooler: settings.pooler, migration_url, acquire_waits: Arc::default() })
    }

    /// An archive on a pool straight to PostgreSQL (tests, tools).
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool, pooler: Pooler::None, migration_url: None, acquire_waits: Arc::default() }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn pooler(&self) -> Pooler {
        self.pooler
    }

    /// The setting whose URL [`Archive::migrate`] runs over.
    pub fn migration_setting(&self) -> &'static str {
        if self.migration_url.is_some() { "ATTN_DATABASE_MIGRATION_URL" } else { "ATTN_DATABASE_URL" }
    }

    /// Records from now on how long every unit of work waits for a pool
    /// connection (timed-out waits included), in every clone of this
    /// archive. The first histogram given stays.
    pub fn record_acquire_waits(&self, waits: metrics::Histogram) {
        let _ = self.acquire_waits.set(waits);
    }

    /// A connection from the pool, the wait recorded.
    async fn acquire(&self) -> StoreResult<PoolConnection<Postgres>> {
        let started = Instant::now();
        let connection = self.pool.acquire().await;
        if let Some(waits) = self.acquire_waits.get() {
            waits.record(started.elapsed());
        }
        Ok(connection?)
    }

    /// Begins a transaction: behind a [`Pooler::Transaction`], one that first
    /// drops whatever statements earlier transactions left on the server
    /// session it got.
    pub(crate) async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        let statement = match self.pooler {
            Pooler::None => None,
            Pooler::Transaction => Some(BEGIN_BEHIND_POOLER.into_sql_str()),
        };
        Ok(Transaction::begin(self.acquire().await?, statement).await?)
    }

    /// A connection for a single statement: straight from the pool, or
    /// behind a [`Pooler::Transaction`] inside a transaction of its own.
    /// [`Work::done`] commits it.
    pub(crate) async fn work(&self) -> StoreResult<Work> {
        Ok(match self.pooler {
            Pooler::None => Work::Connection(self.acquire().await?),
            Pooler::Transaction => Work::Transaction(self.begin().await?),
        })
    }

    /// Brings the schema up to date, over `ATTN_DATABASE_MIGRATION_URL` if
    /// set, else over `ATTN_DATABASE_URL`. Safe to run from every replica at
    /// once: sqlx holds a session-level advisory lock meanwhile, which is why
    /// migrations need PostgreSQL itself (or a pooler in session mode), never
    /// a pooler in transaction mode.
    pub async fn migrate(&self) -> StoreResult<Migrated> {
        let (via, mut connection) = match &self.migration_url {
            Some(url) => {
                let options = connect_options("ATTN_DATABASE_MIGRATION_URL", url)?.application_name("attn-migrate");
                let connection = PgConnection::connect_with(&options).await?;
                ("ATTN_DATABASE_MIGRATION_URL", Migration::Own(connection, server_of(&options)))
            }
            None if self.pooler == Pooler::Transaction => {
                return Err(StoreError::Internal {
                    store: "PostgreSQL",
                    detail: "ATTN_DATABASE_POOLER=transaction, and migrations hold a session-level advisory lock, \
                             which a pooler in transaction mode does not keep: set ATTN_DATABASE_MIGRATION_URL to \
                             PostgreSQL itself (or to a pool in session mode)"
                        .into(),
                });
            }
            None => {
                let server = server_of(&self.pool.connect_options());
                ("ATTN_DATABASE_URL", Migration::Pooled(self.acquire().await?, server))
            }
        };
        let result = async {
            let before = applied_migrations(connection.connection()).await?;
            MIGRATOR.run(connection.connection()).await.map_err(|err| match err {
                sqlx::migrate::MigrateError::Execute(err) => StoreError::from(err),
                other => StoreError::Internal { store: "PostgreSQL", detail: format!("migration failed: {other}") },
            })?;
            let after = applied_migrations(connection.connection()).await?;
            Ok::<_, StoreError>(after.saturating_sub(before))
        }
        .await;
        let server = connection.server().to_owned();
        if let Migration::Own(connection, _) = connection {
            let _ = connection.close().await;
        }
        Ok(Migrated {
            via,
            server,
            applied: result?,
            schema_version: MIGRATOR.iter().map(|m| m.version).max().unwrap_or_default(),
        })
    }

    /// One round trip that needs no statement (the simple query protocol).
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::raw_sql("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// The connection a unit of work runs on (see [`Archive::work`]).
pub(crate) enum Work {
    Connection(PoolConnection<Postgres>),
    Transaction(Transaction<'static, Postgres>),
}

impl Work {
    /// Commits the transaction, if the work has one. (Dropped instead, the
    /// transaction rolls back when the connection returns to the pool.)
    pub(crate) async fn done(self) -> StoreResult<()> {
        if let Self::Transaction(tx) = self {
            tx.commit().await?;
        }
        Ok(())
    }
}

impl Deref for Work {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        match self {
            Self::Connection(connection) => connection,
            Self::Transaction(tx) => tx,
        }
    }
}

impl DerefMut for Work {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match self {
            Self::Connection(connection) => connection,
            Self::Transaction(tx) => tx,
        }
    }
}

/// The connection migrations run on, and where it leads.
enum Migration {
    Own(PgConnection, String),
    Pooled(PoolConnection<Postgres>, String),
}

impl Migration {
    fn connection(&mut self) -> &mut PgConnection {
        match self {
            Self::Own(connection, _) => connection,
            Self::Pooled(connection, _) => connection,
        }
    }

    fn server(&self) -> &str {
        match self {
            Self::Own(_, server) | Self::Pooled(_, server) => server,
        }
    }
}

/// How many migrations the database has applied (0 before the first).
async fn applied_migrations(connection: &mut PgConnection) -> StoreResult<usize> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(&mut *connection).await?;
    if !exists {
        return Ok(0);
    }
    let applied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success").fetch_one(&mut *connection).await?;
    Ok(usize::try_from(applied).unwrap_or_default())
}

fn connect_options(setting: &str, url: &SecretString) -> StoreResult<PgConnectOptions> {
    let options: PgConnectOptions = url.expose_secret().parse().map_err(|err| StoreError::Internal {
        store: "PostgreSQL",
        detail: format!("{setting} is not a PostgreSQL URL: {err}"),
    })?;
    Ok(options.application_name("attn"))
}

/// `host:port/database`, for logs: never the user's password.
fn server_of(options: &PgConnectOptions) -> String {
    format!("{}:{}/{}", options.get_host(), options.get_port(), options.get_database().unwrap_or_default())
}

pub(crate) fn to_time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub(crate) fn to_ms(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pooler: Pooler, migration_url: Option<&str>) -> PostgresSettings {
        PostgresSettings {
            // Nothing listens here: these tests must not need a connection.
            url: "postgres://attn:secret@127.0.0.1:1/attn".into(),
            migration_url: migration_url.map(Into::into),
            pooler,
            max_connections: 1,
            acquire_timeout: Duration::from_millis(100),
        }
    }

    #[tokio::test]
    async fn behind_a_transaction_pooler_migrations_need_their_own_url() {
        let archive = Archive::connect_lazy(&settings(Pooler::Transaction, None)).unwrap();
        let err = archive.migrate().await.unwrap_err().to_string();
        assert!(err.contains("ATTN_DATABASE_MIGRATION_URL"), "{err}");
        let blank = Archive::connect_lazy(&settings(Pooler::Transaction, Some(" "))).unwrap();
        assert_eq!(blank.migration_setting(), "ATTN_DATABASE_URL", "a blank URL is no URL");
        let direct =
            Archive::connect_lazy(&settings(Pooler::Transaction, Some("postgres://attn@pg:5432/attn"))).unwrap();
        assert_eq!(direct.migration_setting(), "ATTN_DATABASE_MIGRATION_URL");
    }

    #[test]
    fn logs_name_the_server_but_never_the_password() {
        let options =
            connect_options("ATTN_DATABASE_URL", &"postgres://attn:secret@pg.campus:6432/attn".into()).unwrap();
        assert_eq!(server_of(&options), "pg.campus:6432/attn");
    }
}
