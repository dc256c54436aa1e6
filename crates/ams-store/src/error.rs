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
    #[error("ledger inconsistency: {0}")]
    Inconsistent(String),
    #[error("database error: {0}")]
    Orm(#[from] sea_orm::DbErr),
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
