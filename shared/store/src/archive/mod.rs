//! The permanent record in PostgreSQL: the user directory, archived
//! sessions and records, sign-in history and the audit trail of edits.
//!
//! Queries are checked at compile time against the migrations (`sqlx::query!`),
//! from the committed `.sqlx/` data when no database is at hand.

mod attendances;
mod logins;
mod users;

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

pub use attendances::{Archived, ArchivedRecordEdit, ArchivedSessionEdit, SessionToArchive, TeacherAttendance};
pub use users::{NewUser, UserRow};

use crate::{StoreError, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone)]
pub struct PostgresSettings {
    pub url: SecretString,
    pub max_connections: u32,
    /// Longest a query waits for a free connection (or a reconnect).
    pub acquire_timeout: Duration,
}

#[derive(Clone)]
pub struct Archive {
    pool: PgPool,
}

impl Archive {
    /// Connects (lazily: the pool opens connections as queries need them).
    pub fn connect_lazy(settings: &PostgresSettings) -> StoreResult<Self> {
        let options: PgConnectOptions = settings.url.expose_secret().parse().map_err(|err| StoreError::Internal {
            store: "PostgreSQL",
            detail: format!("ATTN_DATABASE_URL is not a PostgreSQL URL: {err}"),
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_lazy_with(options.application_name("attn"));
        Ok(Self { pool })
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Brings the schema up to date. Safe to run from every replica at once:
    /// sqlx takes an advisory lock.
    pub async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await.map_err(|err| match err {
            sqlx::migrate::MigrateError::Execute(err) => StoreError::from(err),
            other => StoreError::Internal { store: "PostgreSQL", detail: format!("migration failed: {other}") },
        })
    }

    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

pub(crate) fn to_time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub(crate) fn to_ms(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}
