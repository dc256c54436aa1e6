//! Connecting: create the database if it is missing, keep the control plane on the search_path,
//! migrate the control plane and every tenant schema.

use std::str::FromStr;
use std::time::Duration;

use migration::{Migrator, MigratorTrait, CONTROL_SCHEMA};
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder, SqlxPostgresConnector};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::control::tenant;
use crate::tenant::TenantSchema;
use crate::StoreError;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/ams_hub";

/// Serialises control-plane migrations across processes (`pg_advisory_lock` key).
const MIGRATION_LOCK: i64 = 0x616d_735f_6875_6201;

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    db: DatabaseConnection,
    /// `AMS_HUB_SECRET_KEY`: seals external ids (and opens them) when set.
    keyring: Option<crate::Keyring>,
}

impl Store {
    /// Connects to `url`, creating the database when it does not exist yet.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Self::connect_with(url, 8).await
    }

    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        let opts = PgConnectOptions::from_str(url).map_err(|e| StoreError::InvalidUrl(redact(url, &e)))?;
        create_database_if_missing(&opts).await?;
        {
            let mut conn = opts.connect().await?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {CONTROL_SCHEMA}"))
                .execute(&mut conn)
                .await
                .or_else(ignore_duplicate)?;
            conn.close().await?;
        }
        Self::open_pool(opts, max_connections, None, None).await
    }

    /// A pool on an existing database: unqualified names mean the control plane (tenant tables
    /// are always schema-qualified), with an optional `statement_timeout`.
    async fn open_pool(
        opts: PgConnectOptions,
        max_connections: u32,
        statement_timeout: Option<Duration>,
        keyring: Option<crate::Keyring>,
    ) -> Result<Store, StoreError> {
        let mut settings = vec![("search_path", CONTROL_SCHEMA.to_owned())];
        if let Some(t) = statement_timeout {
            settings.push(("statement_timeout", t.as_millis().to_string()));
        }
        let opts = opts.options(settings).statement_cache_capacity(1024);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            // A connection keeps its read and write buffers at the largest message it ever
            // carried: a big report's answer would stay pinned per connection for its life.
            // The API's connections go back to 8 KiB whenever they return to the pool. Not the
            // ingest pool's: its writers' batches (~1 MiB of COPY) would be reallocated and
            // faulted in again every transaction (the runtime's CPU per message fell by a third);
            // the ledger writer shrinks only after a statement of large quarantined bodies.
            .after_release(move |conn, _| {
                Box::pin(async move {
                    if statement_timeout.is_some() {
                        conn.shrink_buffers();
                    }
                    Ok(true)
                })
            })
            .connect_with(opts)
            .await?;
        let db = SqlxPostgresConnector::from_sqlx_postgres_pool(pool.clone());
        Ok(Store { pool, db, keyring })
    }

    /// A second pool on the same database for the API and the dashboard (the database and
    /// its schema exist: connect with [`Store::connect_with`] first). Its own connections, so
    /// that a burst of reports cannot take those the ingest writers, leases and `/readyz` use;
    /// and every statement on it is cut off after `statement_timeout` (Postgres cancels it:
    /// SQLSTATE 57014), so that no request holds a connection for long.
    pub async fn api_pool(&self, url: &str, max_connections: u32, statement_timeout: Duration) -> Result<Store, StoreError> {
        let opts = PgConnectOptions::from_str(url).map_err(|e| StoreError::InvalidUrl(redact(url, &e)))?;
        Self::open_pool(opts, max_connections, Some(statement_timeout), self.keyring.clone()).await
    }

    /// The key that seals secrets stored in the control plane (external ids).
    pub fn with_keyring(mut self, keyring: Option<crate::Keyring>) -> Store {
        self.keyring = keyring;
        self
    }

    pub fn keyring(&self) -> Option<&crate::Keyring> {
        self.keyring.as_ref()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn orm(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Applies control-plane migrations, then brings every tenant schema to the latest version.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut lock = self.pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut *lock).await?;
        let result = Migrator::up(&self.db, None).await.map_err(StoreError::from);
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *lock).await?;
        result?;
        let tenants = tenant::Entity::find().order_by_asc(tenant::Column::Slug).all(&self.db).await?;
        for t in tenants {
            crate::tenant::migrate_schema(&self.pool, &TenantSchema::of(&t.slug)).await?;
        }
        Ok(())
    }
}

async fn create_database_if_missing(opts: &PgConnectOptions) -> Result<(), StoreError> {
    let name = opts.get_database().unwrap_or("postgres").to_owned();
    match opts.connect().await {
        Ok(conn) => return conn.close().await.map_err(Into::into),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {}
        Err(e) => return Err(e.into()),
    }
    let mut admin = opts.clone().database("postgres").connect().await?;
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    sqlx::query(&format!("CREATE DATABASE {quoted}"))
        .execute(&mut admin)
        .await
        .or_else(ignore_duplicate)?;
    tracing::info!(database = %name, "created database");
    admin.close().await?;
    Ok(())
}

/// Another process creating the same object at the same moment is success.
fn ignore_duplicate(e: sqlx::Error) -> Result<sqlx::postgres::PgQueryResult, sqlx::Error> {
    match &e {
        sqlx::Error::Database(d)
            if matches!(d.code().as_deref(), Some("42P04" | "42P06" | "23505")) =>
        {
            Ok(Default::default())
        }
        _ => Err(e),
    }
}

/// An error about a URL must not print its password.
fn redact(url: &str, e: &dyn std::fmt::Display) -> String {
    let shown = match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***{}", &url[..s], &url[at..]),
        _ => "<url>".to_owned(),
    };
    format!("{shown}: {e}")
}
