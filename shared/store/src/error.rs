//! What can go wrong talking to Redis or PostgreSQL, sorted by what the
//! caller should do about it, and how often each client library has
//! failed in this process ([`library_errors`]).

use std::sync::atomic::{AtomicU64, Ordering};

use attn_runtime::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached in time; try again later.
    #[error("{store} is unavailable: {detail}")]
    Unavailable { store: &'static str, detail: String },
    /// Data in the store does not have the shape ATTN writes.
    #[error("corrupt data in {what}: {detail}")]
    Corrupt { what: String, detail: String },
    /// Anything else: a bug or a misconfigured store.
    #[error("{store} error: {detail}")]
    Internal { store: &'static str, detail: String },
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    pub fn corrupt(what: impl Into<String>, detail: impl ToString) -> Self {
        Self::Corrupt { what: what.into(), detail: detail.to_string() }
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// A store that is down is UNAVAILABLE (DEPENDENCY_UNAVAILABLE, retry
/// offered) with its detail logged, not sent; anything else is internal.
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable { store, detail } => {
                tracing::warn!(%store, %detail, "store unavailable");
                Self::unavailable(format!("{store} is unavailable right now; try again shortly"))
            }
            other => Self::internal(other.to_string()),
        }
    }
}

/// The dependencies whose client errors are counted.
pub const DEPENDENCIES: [&str; 2] = ["redis", "postgres"];
/// Kinds of [`StoreError`], as metric label values.
pub const ERROR_KINDS: [&str; 3] = ["unavailable", "corrupt", "internal"];

/// Errors the client libraries returned, by dependency and kind. Counted
/// per process, not per service instance: one relaxed add per error, and
/// errors are rare; the services read it when scraped.
static LIBRARY_ERRORS: [[AtomicU64; ERROR_KINDS.len()]; DEPENDENCIES.len()] =
    [const { [const { AtomicU64::new(0) }; ERROR_KINDS.len()] }; DEPENDENCIES.len()];

/// `(dependency, kind, errors so far)` for every pair, zeros included.
pub fn library_errors() -> impl Iterator<Item = (&'static str, &'static str, u64)> {
    DEPENDENCIES.iter().enumerate().flat_map(|(d, dependency)| {
        ERROR_KINDS
            .iter()
            .enumerate()
            .map(move |(k, kind)| (*dependency, *kind, LIBRARY_ERRORS[d][k].load(Ordering::Relaxed)))
    })
}

impl StoreError {
    fn kind_index(&self) -> usize {
        match self {
            Self::Unavailable { .. } => 0,
            Self::Corrupt { .. } => 1,
            Self::Internal { .. } => 2,
        }
    }

    /// Counts this error as one a client library returned.
    fn counted(self, dependency: usize) -> Self {
        LIBRARY_ERRORS[dependency][self.kind_index()].fetch_add(1, Ordering::Relaxed);
        self
    }
}

impl From<fred::error::Error> for StoreError {
    fn from(err: fred::error::Error) -> Self {
        Self::from_redis(err).counted(0)
    }
}

impl StoreError {
    fn from_redis(err: fred::error::Error) -> Self {
        use fred::error::ErrorKind;
        let detail = err.to_string();
        match err.kind() {
            ErrorKind::IO
            | ErrorKind::Timeout
            | ErrorKind::Canceled
            | ErrorKind::Routing
            | ErrorKind::Cluster
            | ErrorKind::Backpressure
            | ErrorKind::Tls => Self::Unavailable { store: "Redis", detail },
            // Redis answers LOADING / BUSY / MASTERDOWN while it cannot serve yet.
            _ if ["LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN"]
                .iter()
                .any(|prefix| err.details().starts_with(prefix)) =>
            {
                Self::Unavailable { store: "Redis", detail }
            }
            ErrorKind::Parse => Self::Corrupt { what: "a Redis reply".into(), detail },
            _ => Self::Internal { store: "Redis", detail },
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        Self::from_postgres(err).counted(1)
    }
}

impl StoreError {
    fn from_postgres(err: sqlx::Error) -> Self {
        let detail = err.to_string();
        match &err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => Self::Unavailable { store: "PostgreSQL", detail },
            // Class 08 (connection exception), 57P0x (shutting down), 53 (resources).
            sqlx::Error::Database(db)
                if db.code().is_some_and(|code| {
                    code.starts_with("08") || code.starts_with("57P") || code.starts_with("53")
                }) =>
            {
                Self::Unavailable { store: "PostgreSQL", detail }
            }
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                Self::Corrupt { what: "a PostgreSQL row".into(), detail }
            }
            _ => Self::Internal { store: "PostgreSQL", detail },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(dependency: &str, kind: &str) -> u64 {
        library_errors().find(|(d, k, _)| *d == dependency && *k == kind).map(|(_, _, n)| n).unwrap()
    }

    #[test]
    fn a_store_outage_is_unavailable_and_its_detail_is_not_sent() {
        use attn_runtime::Reason;
        let err = ApiError::from(StoreError::Unavailable {
            store: "Redis",
            detail: "connection refused at 10.0.0.7:6379".into(),
        });
        assert_eq!(err.reason(), Reason::DependencyUnavailable);
        assert_eq!(err.code(), tonic::Code::Unavailable);
        assert!(!err.message().contains("10.0.0.7"));
        assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(1)));
        let err = ApiError::from(StoreError::corrupt("a sign-in", "expected value"));
        assert_eq!(err.reason(), Reason::Internal);
    }

    #[test]
    fn every_dependency_and_kind_is_listed_once() {
        assert_eq!(library_errors().count(), DEPENDENCIES.len() * ERROR_KINDS.len());
    }

    #[test]
    fn library_errors_are_counted_by_dependency_and_kind() {
        // Other tests in this process may count too: compare at least-deltas.
        let (pg_unavailable, pg_internal) = (count("postgres", "unavailable"), count("postgres", "internal"));
        let redis_unavailable = count("redis", "unavailable");
        assert!(StoreError::from(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(!StoreError::from(sqlx::Error::RowNotFound).is_unavailable());
        let timeout = fred::error::Error::new(fred::error::ErrorKind::Timeout, "no answer");
        assert!(StoreError::from(timeout).is_unavailable());
        assert!(count("postgres", "unavailable") > pg_unavailable);
        assert!(count("postgres", "internal") > pg_internal);
        assert!(count("redis", "unavailable") > redis_unavailable);
    }

    #[test]
    fn errors_made_by_our_own_code_are_not_library_errors() {
        let before: u64 = library_errors().filter(|(_, kind, _)| *kind == "corrupt").map(|(_, _, n)| n).sum();
        let _ = StoreError::corrupt("a live record", "missing field");
        let after: u64 = library_errors().filter(|(_, kind, _)| *kind == "corrupt").map(|(_, _, n)| n).sum();
        // Only a concurrent test's library error could move it; none makes corrupt ones.
        assert_eq!(before, after);
    }
}
