//! The Amazon Ads API side of the control plane: a tenant's LwA app, its connections (logins,
//! refresh tokens sealed with [`Keyring`]), profile imports, the datasets each account declares,
//! and the Marketing Stream subscriptions the reconciler keeps at Amazon.
//!
//! Tenant-facing reads and writes go through [`TenantScope`]; the reconciler, which works for
//! every tenant, reads the whole desired state through [`Store`].

use ams_model::Realm;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::FromRow;
use uuid::Uuid;

use super::scope::{random_secret, TenantScope};
use crate::secrets::{Keyring, SecretError};
use crate::{Store, StoreError};

/// A tenant's own LwA app (the secret stays sealed).
#[derive(Debug, Clone, FromRow)]
pub struct AdsAppRow {
    pub client_id: String,
    pub updated_at: DateTime<Utc>,
}

crate::text_enum! {
    /// Where an Amazon login stands.
    pub enum ConnectionStatus {
        Active = "active",
        /// Amazon refused the token (`invalid_reason` says why): connect the login again.
        Invalid = "invalid",
        /// Deleted: its subscriptions are being archived, then it is gone.
        Deleting = "deleting",
    }
}

/// An Amazon login. The refresh token is never part of it.
#[derive(Debug, Clone, FromRow)]
pub struct Connection {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    /// The login's realm (stored as `NA`, `EU` or `FE` in the column `region`).
    #[sqlx(try_from = "String")]
    pub region: Realm,
    /// The LwA app the token was issued to.
    pub client_id: String,
    /// `active`, `invalid` (Amazon refused the token; `invalid_reason` says why) or `deleting`.
    pub status: ConnectionStatus,
    pub invalid_reason: Option<String>,
    /// The profiles Amazon listed last (Amazon's JSON).
    pub profiles: Value,
    /// The DSP advertisers Amazon listed last under the login's agency profiles (JSON).
    pub dsp_advertisers: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const CONNECTION_COLUMNS: &str =
    "id, tenant_id, name, region, client_id, status, invalid_reason, profiles, dsp_advertisers, created_at, updated_at";

/// One profile to import: an advertiser in a marketplace.
#[derive(Debug, Clone)]
pub struct ProfileImport {
    pub profile_id: String,
    pub advertiser_id: String,
    pub advertiser_name: String,
    /// A marketplace code (`US`, `DE`, …).
    pub marketplace: String,
    /// The global Amazon Ads account the profile belongs to (`adsAccountId` of Amazon's
    /// account-management API), when Amazon listed it: Stream v2's `advertiserAccountId`.
    pub ads_account_id: Option<String>,
}

/// One DSP advertiser to import (listed under an agency profile).
#[derive(Debug, Clone)]
pub struct DspImport {
    /// Amazon's DSP advertiser id.
    pub advertiser_id: String,
    pub agency_profile_id: String,
    pub name: String,
    pub country: Option<String>,
    pub currency: Option<String>,
    pub timezone: Option<String>,
    /// The realm of the login that lists it.
    pub realm: Realm,
    /// The AMS queue region of that realm.
    pub region: String,
    /// The account to attach it to; `None`: the account that has it already, or a new one.
    pub account: Option<Uuid>,
}

/// What an import made of one advertiser.
#[derive(Debug, Clone)]
pub struct ImportedAccount {
    pub account_id: Uuid,
    pub name: String,
    /// The sponsored-ads advertiser (`accountInfo.id`), or the DSP advertiser for an account
    /// made for one.
    pub advertiser_id: String,
    pub created: bool,
    pub marketplaces: Vec<String>,
    /// Amazon's DSP advertiser ids imported for it.
    pub dsp_advertisers: Vec<String>,
}

/// A DSP advertiser of an account.
#[derive(Debug, Clone, FromRow)]
pub struct DspAdvertiserRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub connection_id: Option<Uuid>,
    pub advertiser_id: String,
    pub agency_profile_id: String,
    #[sqlx(try_from = "String")]
    pub realm: Realm,
    pub region: String,
    pub name: String,
    pub country: Option<String>,
    pub currency: Option<String>,
    pub timezone: Option<String>,
}

/// A connection's secrets, opened for a call to Amazon.
pub struct ConnectionLogin {
    pub connection: Connection,
    pub refresh_token: String,
    /// The tenant's own app secret when the token was issued to it; `None`: the platform's.
    pub tenant_app_secret: Option<String>,
}

/// A connection as stored, its refresh token still sealed.
#[derive(FromRow)]
struct SealedLogin {
    #[sqlx(flatten)]
    connection: Connection,
    refresh_token: Vec<u8>,
}

fn secret_context(table_column: &str, id: Uuid) -> String {
    format!("{table_column}:{id}")
}

impl TenantScope {
    /// Sets the tenant's own LwA app (replacing any earlier one).
    pub async fn set_ads_app(&self, keyring: &Keyring, client_id: &str, client_secret: &str) -> Result<AdsAppRow, StoreError> {
        let sealed = keyring.seal(client_secret, &secret_context("ads_apps.client_secret", self.tenant().id));
        Ok(sqlx::query_as(
            "INSERT INTO ads_apps (tenant_id, client_id, client_secret, updated_at) VALUES ($1, $2, $3, now())
             ON CONFLICT (tenant_id) DO UPDATE SET client_id = excluded.client_id,
                 client_secret = excluded.client_secret, updated_at = now()
             RETURNING client_id, updated_at",
        )
        .bind(self.tenant().id)
        .bind(client_id)
        .bind(sealed)
        .fetch_one(self.store().pool())
        .await?)
    }

    pub async fn ads_app(&self) -> Result<Option<AdsAppRow>, StoreError> {
        Ok(sqlx::query_as("SELECT client_id, updated_at FROM ads_apps WHERE tenant_id = $1")
            .bind(self.tenant().id)
            .fetch_optional(self.store().pool())
            .await?)
    }

    /// The tenant's app with its secret opened, for a call to Amazon.
    pub async fn ads_app_secret(&self, keyring: &Keyring) -> Result<Option<(String, Result<String, SecretError>)>, StoreError> {
        self.store().tenant_app(keyring, self.tenant().id).await
    }

    pub async fn delete_ads_app(&self) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM ads_apps WHERE tenant_id = $1").bind(self.tenant().id).execute(self.store().pool()).await?;
        Ok(done.rows_affected() > 0)
    }

    /// Stores a new connection: its refresh token sealed, the profiles and DSP advertisers
    /// Amazon listed.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_connection(
        &self,
        keyring: &Keyring,
        name: &str,
        realm: Realm,
        client_id: &str,
        refresh_token: &str,
        profiles: &Value,
        dsp_advertisers: &Value,
    ) -> Result<Connection, StoreError> {
        let id = Uuid::new_v4();
        let sealed = keyring.seal(refresh_token, &secret_context("ads_connections.refresh_token", id));
        sqlx::query_as(&format!(
            "INSERT INTO ads_connections (id, tenant_id, name, region, client_id, refresh_token, profiles, dsp_advertisers)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {CONNECTION_COLUMNS}"
        ))
        .bind(id)
        .bind(self.tenant().id)
        .bind(name)
        .bind(realm.as_str())
        .bind(client_id)
        .bind(sealed)
        .bind(profiles)
        .bind(dsp_advertisers)
        .fetch_one(self.store().pool())
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.code().as_deref() == Some("23505") => {
                StoreError::Conflict(format!("a connection named {name:?} exists already"))
            }
            _ => e.into(),
        })
    }

    /// Claims a consent link's nonce for the first browser that opens it (until `expires_at`):
    /// true when this call claimed it, false when it was claimed before. Claims a day past
    /// their expiry are swept on the way.
    pub async fn claim_consent(&self, nonce: &str, expires_at: chrono::DateTime<chrono::Utc>) -> Result<bool, StoreError> {
        let pool = self.store().pool();
        sqlx::query("DELETE FROM consent_claims WHERE expires_at < now() - interval '1 day'").execute(pool).await?;
        let done = sqlx::query("INSERT INTO consent_claims (nonce, tenant_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (nonce) DO NOTHING")
            .bind(nonce)
            .bind(self.tenant().id)
            .bind(expires_at)
            .execute(pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The tenant's connections (those being deleted included: they say so).
    pub async fn connections(&self) -> Result<Vec<Connection>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {CONNECTION_COLUMNS} FROM ads_connections WHERE tenant_id = $1 ORDER BY created_at, id"))
            .bind(self.tenant().id)
            .fetch_all(self.store().pool())
            .await?)
    }

    pub async fn connection(&self, id: Uuid) -> Result<Option<Connection>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {CONNECTION_COLUMNS} FROM ads_connections WHERE tenant_id = $1 AND id = $2"))
            .bind(self.tenant().id)
            .bind(id)
            .fetch_optional(self.store().pool())
            .await?)
    }

    /// A connection with its secrets opened (for a call to Amazon).
    pub async fn connection_login(&self, keyring: &Keyring, id: Uuid) -> Result<Option<Result<ConnectionLogin, SecretError>>, StoreError> {
        self.store().login_of(keyring, id, Some(self.tenant().id)).await
    }

    /// Records what Amazon listed for the connection.
    pub async fn set_connection_listing(&self, id: Uuid, profiles: &Value, dsp_advertisers: &Value) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE ads_connections SET profiles = $3, dsp_advertisers = $4, updated_at = now() WHERE tenant_id = $1 AND id = $2",
        )
        .bind(self.tenant().id)
        .bind(id)
        .bind(profiles)
        .bind(dsp_advertisers)
            .execute(self.store().pool())
            .await?;
        Ok(())
    }

    /// Deleting a connection: its marketplaces let go of it at once; the reconciler archives
    /// its subscriptions at Amazon (it still needs the token for that), then removes it.
    pub async fn delete_connection(&self, id: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.store().pool().begin().await?;
        let done = sqlx::query("UPDATE ads_connections SET status = 'deleting', updated_at = now() WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant().id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE marketplaces m SET connection_id = NULL FROM accounts a
             WHERE a.id = m.account_id AND a.tenant_id = $1 AND m.connection_id = $2",
        )
        .bind(self.tenant().id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE dsp_advertisers d SET connection_id = NULL FROM accounts a
             WHERE a.id = d.account_id AND a.tenant_id = $1 AND d.connection_id = $2",
        )
        .bind(self.tenant().id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// One account per advertiser (found again by its advertiser id, or created), one
    /// marketplace per profile, linked to the connection; each DSP advertiser tied to its
    /// account (the one that has it, the one asked for, or a new one named after it).
    /// Idempotent; one transaction.
    pub async fn import_profiles(
        &self,
        connection_id: Uuid,
        profiles: &[ProfileImport],
        dsp: &[DspImport],
    ) -> Result<Vec<ImportedAccount>, StoreError> {
        let mut tx = self.store().pool().begin().await?;
        let mut out: Vec<ImportedAccount> = Vec::new();
        for p in profiles {
            let seed = ams_model::Marketplace::by_code(&p.marketplace)
                .ok_or_else(|| StoreError::Conflict(format!("marketplace {} is not one AMS serves", p.marketplace)))?;
            let found: Option<(Uuid, String)> =
                sqlx::query_as("SELECT id, name FROM accounts WHERE tenant_id = $1 AND advertiser_id = $2")
                    .bind(self.tenant().id)
                    .bind(&p.advertiser_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let (account_id, name, created) = match found {
                Some((id, name)) => (id, name, false),
                None => {
                    let (id, name) = self.new_account(&mut tx, &p.advertiser_name, &p.advertiser_id, Some(&p.advertiser_id)).await?;
                    (id, name, true)
                }
            };
            if let Some(global) = &p.ads_account_id {
                sqlx::query("UPDATE accounts SET ads_account_id = $2 WHERE id = $1").bind(account_id).bind(global).execute(&mut *tx).await?;
            }
            sqlx::query(
                "INSERT INTO marketplaces (id, account_id, code, marketplace_id, realm, region, api_endpoint, profile_id, connection_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (account_id, code) DO UPDATE SET profile_id = excluded.profile_id, connection_id = excluded.connection_id",
            )
            .bind(Uuid::new_v4())
            .bind(account_id)
            .bind(seed.code)
            .bind(seed.marketplace_id)
            .bind(seed.realm.as_str())
            .bind(seed.region())
            .bind(seed.api_endpoint())
            .bind(&p.profile_id)
            .bind(connection_id)
            .execute(&mut *tx)
            .await?;
            match out.iter_mut().find(|a| a.account_id == account_id) {
                Some(a) => a.marketplaces.push(seed.code.to_owned()),
                None => out.push(ImportedAccount {
                    account_id,
                    name,
                    advertiser_id: p.advertiser_id.clone(),
                    created,
                    marketplaces: vec![seed.code.to_owned()],
                    dsp_advertisers: Vec::new(),
                }),
            }
        }
        for d in dsp {
            let held: Option<Uuid> = sqlx::query_scalar(
                "SELECT d.account_id FROM dsp_advertisers d JOIN accounts a ON a.id = d.account_id
                 WHERE a.tenant_id = $1 AND d.advertiser_id = $2 ORDER BY d.created_at LIMIT 1",
            )
            .bind(self.tenant().id)
            .bind(&d.advertiser_id)
            .fetch_optional(&mut *tx)
            .await?;
            let (account_id, name, created) = match (d.account, held) {
                (Some(asked), _) => {
                    let name: Option<String> = sqlx::query_scalar("SELECT name FROM accounts WHERE tenant_id = $1 AND id = $2")
                        .bind(self.tenant().id)
                        .bind(asked)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let name = name.ok_or_else(|| StoreError::Conflict(format!("no account {asked} in this tenant")))?;
                    (asked, name, false)
                }
                (None, Some(id)) => {
                    let name: String =
                        sqlx::query_scalar("SELECT name FROM accounts WHERE id = $1").bind(id).fetch_one(&mut *tx).await?;
                    (id, name, false)
                }
                (None, None) => {
                    let (id, name) = self.new_account(&mut tx, &d.name, &d.advertiser_id, None).await?;
                    (id, name, true)
                }
            };
            // Moved to the account asked for, when another one had it.
            sqlx::query(
                "DELETE FROM dsp_advertisers d USING accounts a
                 WHERE a.id = d.account_id AND a.tenant_id = $1 AND d.advertiser_id = $2 AND d.account_id <> $3",
            )
            .bind(self.tenant().id)
            .bind(&d.advertiser_id)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO dsp_advertisers (id, account_id, connection_id, advertiser_id, agency_profile_id, realm, region,
                     name, country, currency, timezone)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (account_id, advertiser_id) DO UPDATE SET connection_id = excluded.connection_id,
                     agency_profile_id = excluded.agency_profile_id, realm = excluded.realm, region = excluded.region,
                     name = excluded.name, country = excluded.country, currency = excluded.currency, timezone = excluded.timezone",
            )
            .bind(Uuid::new_v4())
            .bind(account_id)
            .bind(connection_id)
            .bind(&d.advertiser_id)
            .bind(&d.agency_profile_id)
            .bind(d.realm.as_str())
            .bind(&d.region)
            .bind(&d.name)
            .bind(&d.country)
            .bind(&d.currency)
            .bind(&d.timezone)
            .execute(&mut *tx)
            .await?;
            match out.iter_mut().find(|a| a.account_id == account_id) {
                Some(a) => a.dsp_advertisers.push(d.advertiser_id.clone()),
                None => out.push(ImportedAccount {
                    account_id,
                    name,
                    advertiser_id: d.advertiser_id.clone(),
                    created,
                    marketplaces: Vec::new(),
                    dsp_advertisers: vec![d.advertiser_id.clone()],
                }),
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    /// A new account for an advertiser: its name (qualified by its id when another account of
    /// the tenant has the name), a fresh external id.
    async fn new_account(
        &self,
        tx: &mut sqlx::PgConnection,
        advertiser_name: &str,
        advertiser_id: &str,
        sponsored_ads_advertiser: Option<&str>,
    ) -> Result<(Uuid, String), StoreError> {
        let name_taken: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM accounts WHERE tenant_id = $1 AND name = $2)")
            .bind(self.tenant().id)
            .bind(advertiser_name)
            .fetch_one(&mut *tx)
            .await?;
        let name = match (advertiser_name.trim(), name_taken) {
            ("", _) => format!("advertiser {advertiser_id}"),
            (n, true) => format!("{n} ({advertiser_id})"),
            (n, false) => n.to_owned(),
        };
        let id = Uuid::new_v4();
        let (clear, sealed) = self.store().external_id_columns(id, &random_secret("ams-"));
        sqlx::query(
            "INSERT INTO accounts (id, tenant_id, name, external_id, external_id_sealed, advertiser_id)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(self.tenant().id)
        .bind(&name)
        .bind(clear)
        .bind(sealed)
        .bind(sponsored_ads_advertiser)
        .execute(&mut *tx)
        .await?;
        Ok((id, name))
    }
}

impl super::scope::AccountScope {
    /// Amazon's advertiser id of the account (set by imports).
    pub async fn advertiser_id(&self) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT advertiser_id FROM accounts WHERE id = $1")
            .bind(self.account().id)
            .fetch_one(self.store().pool())
            .await?)
    }

    /// The account's DSP advertisers.
    pub async fn dsp_advertisers(&self) -> Result<Vec<DspAdvertiserRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, connection_id, advertiser_id, agency_profile_id, realm, region, name, country, currency, timezone
             FROM dsp_advertisers WHERE account_id = $1 ORDER BY created_at, advertiser_id",
        )
        .bind(self.account().id)
        .fetch_all(self.store().pool())
        .await?)
    }

}

impl Store {
    async fn tenant_app(&self, keyring: &Keyring, tenant: Uuid) -> Result<Option<(String, Result<String, SecretError>)>, StoreError> {
        let row: Option<(String, Vec<u8>)> = sqlx::query_as("SELECT client_id, client_secret FROM ads_apps WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|(id, sealed)| (id, keyring.open(&sealed, &secret_context("ads_apps.client_secret", tenant)))))
    }

    /// A connection, tenant-scoped when `tenant` is given, read with its sealed token in one
    /// statement and its secrets opened.
    async fn login_of(&self, keyring: &Keyring, id: Uuid, tenant: Option<Uuid>) -> Result<Option<Result<ConnectionLogin, SecretError>>, StoreError> {
        let row: Option<SealedLogin> = sqlx::query_as(&format!(
            "SELECT {CONNECTION_COLUMNS}, refresh_token FROM ads_connections WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)"
        ))
        .bind(id)
        .bind(tenant)
        .fetch_optional(self.pool())
        .await?;
        let Some(SealedLogin { connection, refresh_token: sealed }) = row else { return Ok(None) };
        let refresh_token = match keyring.open(&sealed, &secret_context("ads_connections.refresh_token", connection.id)) {
            Ok(t) => t,
            Err(e) => return Ok(Some(Err(e))),
        };
        // The tenant's own app when the token was issued to it.
        let tenant_app_secret = match self.tenant_app(keyring, connection.tenant_id).await? {
            Some((client_id, secret)) if client_id == connection.client_id => match secret {
                Ok(s) => Some(s),
                Err(e) => return Ok(Some(Err(e))),
            },
            _ => None,
        };
        Ok(Some(Ok(ConnectionLogin { connection, refresh_token, tenant_app_secret })))
    }

    /// A connection (any tenant's) with its secrets opened: for the reconciler.
    pub async fn connection_login(&self, keyring: &Keyring, id: Uuid) -> Result<Option<Result<ConnectionLogin, SecretError>>, StoreError> {
        self.login_of(keyring, id, None).await
    }

    /// Marks a connection `invalid` (Amazon refused its token), or `active` again.
    pub async fn set_connection_status(&self, id: Uuid, invalid_reason: Option<&str>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE ads_connections SET status = CASE WHEN $2::text IS NULL THEN 'active' ELSE 'invalid' END,
                 invalid_reason = $2, updated_at = now()
             WHERE id = $1 AND status <> 'deleting'",
        )
        .bind(id)
        .bind(invalid_reason)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Removes connections being deleted that no open subscription needs any more.
    pub async fn purge_deleted_connections(&self) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM ads_connections c WHERE c.status = 'deleting' AND NOT EXISTS (
                 SELECT 1 FROM stream_subscriptions s WHERE s.connection_id = c.id AND s.status <> 'ARCHIVED' AND s.released_at IS NULL)",
        )
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Connections per status, for the metrics: (tenant slug, status, count).
    pub async fn connection_counts(&self) -> Result<Vec<(crate::TenantSlug, ConnectionStatus, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT t.slug, c.status, count(*) FROM ads_connections c JOIN tenants t ON t.id = c.tenant_id
             GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .fetch_all(self.pool())
        .await?)
    }
}
