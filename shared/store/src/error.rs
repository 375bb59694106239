//! What can go wrong talking to Redis or PostgreSQL, sorted by what the
//! caller should do about it.

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

impl From<fred::error::Error> for StoreError {
    fn from(err: fred::error::Error) -> Self {
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
