//! External ids at rest, and re-sealing every stored secret with a new key.
//!
//! With a keyring (`AMS_HUB_SECRET_KEY`), an account's external id is stored only sealed
//! (`accounts.external_id_sealed`, bound to the account's id); ids written in clear before the
//! key was set are sealed by [`Store::seal_clear_external_ids`] at start. Without a key they
//! stay in clear, and `serve` warns.

use uuid::Uuid;

use crate::{Store, StoreError};

fn context(account: Uuid) -> String {
    format!("accounts.external_id:{account}")
}

/// How many secrets [`Store::rotate_secrets`] re-sealed, and how many were current already.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub resealed: u64,
    pub current: u64,
}

impl Store {
    /// The columns to store an account's external id in: (clear, sealed).
    pub(crate) fn external_id_columns(&self, account: Uuid, external_id: &str) -> (Option<String>, Option<Vec<u8>>) {
        match self.keyring() {
            Some(k) => (None, Some(k.seal(external_id, &context(account)))),
            None => (Some(external_id.to_owned()), None),
        }
    }

    /// An account's external id, opened when sealed.
    pub(crate) fn open_external_id(&self, account: Uuid, clear: Option<&str>, sealed: Option<&[u8]>) -> Result<String, StoreError> {
        match (clear, sealed) {
            (Some(c), _) => Ok(c.to_owned()),
            (None, Some(s)) => {
                let k = self.keyring().ok_or(crate::SecretError::NoKey)?;
                Ok(k.open(s, &context(account))?)
            }
            (None, None) => Err(StoreError::Inconsistent(format!("account {account} has no external id"))),
        }
    }

    /// Seals the external ids still stored in clear (written before the key was set). Returns
    /// how many; nothing without a keyring.
    pub async fn seal_clear_external_ids(&self) -> Result<u64, StoreError> {
        if self.keyring().is_none() {
            return Ok(0);
        }
        let rows: Vec<(Uuid, String)> = sqlx::query_as("SELECT id, external_id FROM accounts WHERE external_id IS NOT NULL")
            .fetch_all(self.pool())
            .await?;
        for (id, clear) in &rows {
            let (_, sealed) = self.external_id_columns(*id, clear);
            sqlx::query("UPDATE accounts SET external_id_sealed = $2, external_id = NULL WHERE id = $1 AND external_id = $3")
                .bind(id)
                .bind(sealed)
                .bind(clear)
                .execute(self.pool())
                .await?;
        }
        Ok(rows.len() as u64)
    }

    /// Re-seals every stored secret not sealed with the current key (after a key rotation:
    /// the old key in `AMS_HUB_SECRET_KEY_PREVIOUS`, the new one in `AMS_HUB_SECRET_KEY`).
    /// Safe to run while servers run; idempotent.
    pub async fn rotate_secrets(&self) -> Result<Rotation, StoreError> {
        let keyring = self.keyring().ok_or(crate::SecretError::NoKey)?.clone();
        let mut r = Rotation::default();
        self.seal_clear_external_ids().await?;
        // (table, key column, secret column, context prefix)
        let columns = [
            ("accounts", "id", "external_id_sealed", "accounts.external_id"),
            ("ads_apps", "tenant_id", "client_secret", "ads_apps.client_secret"),
            ("ads_connections", "id", "refresh_token", "ads_connections.refresh_token"),
        ];
        for (table, key, column, prefix) in columns {
            let rows: Vec<(Uuid, Vec<u8>)> =
                sqlx::query_as(&format!("SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL"))
                    .fetch_all(self.pool())
                    .await?;
            for (id, sealed) in rows {
                if keyring.is_current(&sealed) {
                    r.current += 1;
                    continue;
                }
                let ctx = format!("{prefix}:{id}");
                let resealed = keyring.seal(&keyring.open(&sealed, &ctx)?, &ctx);
                sqlx::query(&format!("UPDATE {table} SET {column} = $2 WHERE {key} = $1 AND {column} = $3"))
                    .bind(id)
                    .bind(resealed)
                    .bind(&sealed)
                    .execute(self.pool())
                    .await?;
                r.resealed += 1;
            }
        }
        Ok(r)
    }
}
