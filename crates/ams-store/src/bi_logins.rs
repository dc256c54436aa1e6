//! BI logins: a Postgres role per login that reads its tenant's `bi_` reporting views and
//! nothing else (tenant schema v7, `migrations/src/tenant/bi.rs`, says how the views limit
//! it). Made, listed and dropped here.
//!
//! The database user ams-hub connects as needs `CREATEROLE` to make them, and
//! `pg_signal_backend` (or superuser) to end a dropped login's sessions (README, "BI logins").

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{Store, StoreError, TenantSchema};

/// The views a BI login reads in its tenant's schema.
pub use migration::tenant::bi::view_names;

/// The most BI logins a tenant may have: roles are the server's, shared by every tenant.
pub const MAX_BI_LOGINS: i64 = 20;

/// How a BI login's role is limited: what a tenant's analysts may take of a shared server.
#[derive(Debug, Clone, Copy)]
pub struct BiRoleLimits {
    /// Sessions at once (`CONNECTION LIMIT`).
    pub connections: u32,
    /// Postgres cancels a statement after this long.
    pub statement_timeout_ms: u64,
}

impl Default for BiRoleLimits {
    fn default() -> Self {
        BiRoleLimits { connections: 5, statement_timeout_ms: 300_000 }
    }
}

/// A BI login as listed (never its password).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BiLogin {
    pub id: Uuid,
    pub name: String,
    /// The Postgres user name.
    pub role_name: String,
    /// The accounts whose rows it reads; `None`: all of the tenant's.
    pub account_ids: Option<Vec<Uuid>>,
    /// Their Amazon advertiser ids (what the views filter on).
    pub advertiser_ids: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
    /// Its sessions open now.
    pub sessions: i64,
}

/// A login just made: its password is shown this once and kept nowhere.
pub struct NewBiLogin {
    pub login: BiLogin,
    pub password: String,
    /// The schema it reads (also its `search_path`).
    pub schema: String,
    /// The views it reads there.
    pub views: Vec<String>,
    /// The database it connects to.
    pub database: String,
}

/// Which rows a new login reads: all of the tenant's, or those of these accounts (with their
/// advertiser ids, resolved by the caller through the tenant's scope).
pub enum BiRows {
    All,
    Accounts { account_ids: Vec<Uuid>, advertiser_ids: Vec<String> },
}

/// The password as Postgres stores it (SCRAM-SHA-256, RFC 5802 and 7677), computed here so the
/// clear password never reaches the server: `CREATE ROLE … PASSWORD` is a statement, and a
/// server that logs statements (`log_statement = ddl`) would log it. This is what psql's
/// `\password` does. A test recomputes it with Python's hashlib, and Postgres itself checks it
/// when the login connects over a password-authenticated line.
pub fn scram_verifier(password: &str, salt: &[u8], iterations: u32) -> String {
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut salted);
    let hmac = |key: &[u8], data: &[u8]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(data);
        mac.finalize().into_bytes()
    };
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac(&salted, b"Server Key");
    format!("SCRAM-SHA-256${iterations}:{}${}:{}", B64.encode(salt), B64.encode(stored_key), B64.encode(server_key))
}

/// Postgres's own default iteration count for SCRAM (`scram_iterations`).
const SCRAM_ITERATIONS: u32 = 4096;

fn refused(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("42501") => StoreError::Unprivileged(format!(
            "the database user ams-hub connects as may not manage BI logins ({}): grant it CREATEROLE and pg_signal_backend",
            d.message()
        )),
        _ => StoreError::Database(e),
    }
}

impl Store {
    /// Makes a login: its role (no rights but to connect and read its tenant's `bi_` views, read-only by
    /// default, limited), its row in `<schema>.bi_logins`; all or nothing.
    pub async fn create_bi_login(
        &self,
        schema: &TenantSchema,
        name: &str,
        rows: BiRows,
        limits: BiRoleLimits,
    ) -> Result<NewBiLogin, StoreError> {
        let s = schema.name();
        let id = Uuid::new_v4();
        // Only [a-z0-9_]: safe to splice, and no quoting for the BI tool's user either.
        let role = format!("bi_{}_{}", schema.slug(), &id.simple().to_string()[..12]);
        let password = crate::random_secret("");
        let verifier = scram_verifier(&password, Uuid::new_v4().as_bytes(), SCRAM_ITERATIONS);
        let (account_ids, advertiser_ids) = match rows {
            BiRows::All => (None, None),
            BiRows::Accounts { account_ids, advertiser_ids } => (Some(account_ids), Some(advertiser_ids)),
        };
        let mut tx = self.pool().begin().await?;
        // One tenant's logins are counted and made one at a time.
        sqlx::query(&format!("LOCK TABLE {s}.bi_logins IN SHARE ROW EXCLUSIVE MODE")).execute(&mut *tx).await?;
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {s}.bi_logins")).fetch_one(&mut *tx).await?;
        if count >= MAX_BI_LOGINS {
            return Err(StoreError::Conflict(format!(
                "this tenant has {count} BI logins, the most it may have: delete one first"
            )));
        }
        let database: String = sqlx::query_scalar("SELECT current_database()").fetch_one(&mut *tx).await?;
        let mut statements = vec![
            format!(
                "CREATE ROLE {role} LOGIN PASSWORD '{verifier}' NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION
                 NOBYPASSRLS CONNECTION LIMIT {}",
                limits.connections
            ),
            format!("ALTER ROLE {role} SET search_path = {s}"),
            format!("ALTER ROLE {role} SET default_transaction_read_only = on"),
            format!("ALTER ROLE {role} SET statement_timeout = {}", limits.statement_timeout_ms),
            format!("ALTER ROLE {role} SET idle_in_transaction_session_timeout = 600000"),
            // Explicit, for servers that revoked CONNECT from PUBLIC.
            format!("DO $c$ BEGIN EXECUTE format('GRANT CONNECT ON DATABASE %I TO {role}', current_database()); END $c$"),
        ];
        statements.extend(migration::tenant::bi::grants(s, &role));
        for stmt in &statements {
            sqlx::query(stmt).execute(&mut *tx).await.map_err(refused)?;
        }
        let login: BiLogin = sqlx::query_as(&format!(
            "INSERT INTO {s}.bi_logins (id, name, role_name, account_ids, advertiser_ids) VALUES ($1, $2, $3, $4, $5)
             RETURNING id, name, role_name, account_ids, advertiser_ids, created_at, 0::bigint AS sessions"
        ))
        .bind(id)
        .bind(name)
        .bind(&role)
        .bind(&account_ids)
        .bind(&advertiser_ids)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(schema = s, role = %login.role_name, "BI login created");
        Ok(NewBiLogin { login, password, schema: s.to_owned(), views: view_names(), database })
    }

    /// The tenant's logins, oldest first, with their open sessions.
    pub async fn bi_logins(&self, schema: &TenantSchema) -> Result<Vec<BiLogin>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT l.id, l.name, l.role_name, l.account_ids, l.advertiser_ids, l.created_at,
                    (SELECT count(*) FROM pg_stat_activity a WHERE a.usename = l.role_name) AS sessions
             FROM {}.bi_logins l ORDER BY l.created_at, l.id",
            schema.name()
        ))
        .fetch_all(self.pool())
        .await?)
    }

    /// Drops a login: no new sessions from the first step, its open sessions ended, then its
    /// grants, role and row gone. `false`: no such login. Safe to call again after a failure
    /// part-way (the row goes last).
    pub async fn delete_bi_login(&self, schema: &TenantSchema, id: Uuid) -> Result<bool, StoreError> {
        let s = schema.name();
        let role: Option<String> = sqlx::query_scalar(&format!("SELECT role_name FROM {s}.bi_logins WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        let Some(role) = role else { return Ok(false) };
        // The name was made by `create_bi_login`; check it anyway before it meets SQL.
        if !role.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(StoreError::Inconsistent(format!("BI login {id} has an unexpected role name")));
        }
        let exists = || async {
            sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
                .bind(&role)
                .fetch_one(self.pool())
                .await
        };
        if exists().await? {
            // Committed before the sessions end, so that none can start in between.
            sqlx::query(&format!("ALTER ROLE {role} NOLOGIN")).execute(self.pool()).await.map_err(refused)?;
            sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1")
                .bind(&role)
                .execute(self.pool())
                .await
                .map_err(refused)?;
        }
        let mut tx = self.pool().begin().await?;
        if exists().await? {
            for stmt in [
                format!("REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {role}"),
                format!("REVOKE ALL ON SCHEMA {s} FROM {role}"),
                format!("DO $c$ BEGIN EXECUTE format('REVOKE ALL ON DATABASE %I FROM {role}', current_database()); END $c$"),
                format!("DROP ROLE {role}"),
            ] {
                sqlx::query(&stmt).execute(&mut *tx).await.map_err(refused)?;
            }
        }
        sqlx::query(&format!("DELETE FROM {s}.bi_logins WHERE id = $1")).bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        tracing::info!(schema = s, role = %role, "BI login dropped");
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's example: password "pencil", its salt, 4096 iterations. The keys were computed
    /// with Python's hashlib, and that ServerKey signs the RFC's example exchange into the
    /// server signature the RFC prints (`6rriTRBi…`): the same derivation Postgres checks.
    #[test]
    fn the_verifier_has_postgres_form() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let v = scram_verifier("pencil", &salt, 4096);
        assert_eq!(
            v,
            "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
        );
    }
}
