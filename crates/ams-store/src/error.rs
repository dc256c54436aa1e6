use crate::tenant::InvalidSlug;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    InvalidSlug(#[from] InvalidSlug),
    #[error("tenant {0:?} does not exist (create it with `ams-hub tenant create {0}`)")]
    UnknownTenant(String),
    #[error("invalid DATABASE_URL: {0}")]
    InvalidUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A unique constraint: the thing exists already (the message says what).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Overflow(String),
    /// Postgres refused rows for their data, and there is no body to quarantine instead.
    #[error("Postgres refused the rows: {0}")]
    Refused(String),
    /// A record the ledger must not take as it stands (the reason says why); the writer's
    /// isolation quarantines the message that carried it.
    #[error("{detail}")]
    RecordRefused { reason: ams_model::QuarantineReason, detail: String },
    #[error("ledger inconsistency: {0}")]
    Inconsistent(String),
    #[error("database error: {0}")]
    Orm(#[from] sea_orm::DbErr),
    /// A request the data cannot answer as asked (a report sorted by a column it does not have).
    #[error("{0}")]
    Invalid(String),
    /// The database user ams-hub connects as lacks a privilege the operation needs (the
    /// message says which): the operator's to grant.
    #[error("{0}")]
    Unprivileged(String),
    /// A stored secret that this server cannot open (no key, or another key).
    #[error(transparent)]
    Secret(#[from] crate::SecretError),
}

impl StoreError {
    /// An insert's error: a unique violation becomes [`StoreError::Conflict`] saying `what`.
    pub(crate) fn on_insert(e: sea_orm::DbErr, what: impl FnOnce() -> String) -> StoreError {
        match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(what()),
            _ => StoreError::Orm(e),
        }
    }
}

impl StoreError {
    /// Whether writing the same rows again can only fail again: the data is at fault (a value
    /// out of range, a constraint, a value too large for an index), not the connection, the
    /// server's state or a race. The ledger isolates such rows instead of retrying them
    /// (ledger/isolation.rs). Anything not known to be permanent is treated as transient:
    /// retrying costs time, quarantining costs an operator's replay.
    pub fn is_permanent(&self) -> bool {
        match self {
            StoreError::Overflow(_) | StoreError::Refused(_) | StoreError::RecordRefused { .. } => true,
            StoreError::Database(sqlx::Error::Database(d)) => match d.code() {
                // 23505 is the unique-violation race of concurrent writers (retried upstream).
                Some(code) if code == "23505" => false,
                // 22 data exception, 23 integrity constraint, 54 program limit exceeded
                // (an index row too large, too many columns).
                Some(code) => matches!(&code[..2.min(code.len())], "22" | "23" | "54"),
                None => false,
            },
            StoreError::Database(sqlx::Error::Encode(_)) => true,
            _ => false,
        }
    }
}
