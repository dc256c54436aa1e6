//! Tenant isolation in the data layer. Every query on a tenant's control-plane rows goes
//! through a [`TenantScope`] (built from a tenant slug) or an [`AccountScope`] (built from a
//! scope and an account id that belongs to it), and every statement filters on the id the
//! scope holds. A handler cannot reach another tenant's rows by forgetting a check: there is
//! no other way in. What does not belong to the scope is simply not found.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{account, api_key, marketplace, queue, tenant};
use crate::{Store, StoreError, TenantSchema, TenantSlug};

/// One tenant's control plane.
#[derive(Clone)]
pub struct TenantScope {
    store: Store,
    tenant: tenant::Model,
    slug: TenantSlug,
}

/// One account of a tenant; exists only for an account of that tenant.
#[derive(Clone)]
pub struct AccountScope {
    store: Store,
    account: account::Model,
}

/// A new API key: the token is shown to its creator once and stored only as a SHA-256.
pub struct NewApiKey {
    pub key: api_key::Model,
    pub token: String,
}

/// The SHA-256 of a bearer token, as stored.
pub fn token_digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A random secret: 256 bits from the OS generator (two v4 UUIDs), hex, with a prefix that
/// makes leaked tokens recognisable to secret scanners.
pub fn random_secret(prefix: &str) -> String {
    format!("{prefix}{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

impl Store {
    /// The scope of an existing tenant; `None` when there is no such tenant.
    pub async fn tenant_scope(&self, slug: &TenantSlug) -> Result<Option<TenantScope>, StoreError> {
        Ok(self
            .find_tenant(slug)
            .await?
            .map(|tenant| TenantScope { store: self.clone(), tenant, slug: slug.clone() }))
    }

    pub async fn list_tenants(&self) -> Result<Vec<tenant::Model>, StoreError> {
        Ok(tenant::Entity::find().order_by_asc(tenant::Column::Slug).all(self.orm()).await?)
    }

    /// Whose a (not revoked) API key is, and what it may do.
    pub async fn key_holder(&self, token: &str) -> Result<Option<KeyHolder>, StoreError> {
        let row: Option<(TenantSlug, KeyScope, super::tenant::TenantStatus)> = sqlx::query_as(
            "SELECT t.slug, k.scope, t.status FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
             WHERE k.token_sha256 = $1 AND k.revoked_at IS NULL",
        )
        .bind(token_digest(token))
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(slug, scope, status)| KeyHolder { slug, scope, tenant_active: status == super::tenant::TenantStatus::Active }))
    }
}

crate::text_enum! {
    /// What an API key may do (ordered: each scope may do what the ones before it may).
    #[derive(PartialOrd, Ord)]
    pub enum KeyScope {
        /// GET only.
        Read = "read",
        /// Accounts, marketplaces, queues, quarantine: everything but API keys.
        Write = "write",
        /// `Write` plus creating and revoking API keys.
        Admin = "admin",
    }
}

/// The holder of an API key.
#[derive(Debug, Clone)]
pub struct KeyHolder {
    pub slug: TenantSlug,
    pub scope: KeyScope,
    /// False for a tenant the operator disabled.
    pub tenant_active: bool,
}

impl Store {
    /// `Some` field by field: the operator's settings of a tenant.
    pub async fn update_tenant(
        &self,
        slug: &TenantSlug,
        status: Option<super::tenant::TenantStatus>,
        allow_platform_identity: Option<bool>,
        retention: Option<crate::Retention>,
    ) -> Result<Option<tenant::Model>, StoreError> {
        let Some(t) = self.find_tenant(slug).await? else { return Ok(None) };
        let mut active = t.into_active_model();
        if let Some(r) = retention {
            r.check().map_err(StoreError::Invalid)?;
            active.retention_deltas_days = Set(r.deltas_days.map(|d| d as i32));
            active.retention_hourly_days = Set(r.hourly_days.map(|d| d as i32));
        }
        if let Some(s) = status {
            active.status = Set(s);
        }
        if let Some(a) = allow_platform_identity {
            active.allow_platform_identity = Set(a);
        }
        Ok(Some(active.update(self.orm()).await?))
    }
}

impl TenantScope {
    pub fn tenant(&self) -> &tenant::Model {
        &self.tenant
    }
    pub fn slug(&self) -> &TenantSlug {
        &self.slug
    }
    pub fn schema(&self) -> TenantSchema {
        TenantSchema::of(&self.slug)
    }
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub async fn create_api_key(&self, name: &str, scope: KeyScope) -> Result<NewApiKey, StoreError> {
        let token = random_secret("amsk_");
        let row = api_key::ActiveModel {
            id: Set(Uuid::new_v4()),
            tenant_id: Set(self.tenant.id),
            name: Set(name.to_owned()),
            token_sha256: Set(token_digest(&token)),
            scope: Set(scope),
            created_at: Set(Utc::now().into()),
            revoked_at: Set(None),
        };
        Ok(NewApiKey { key: row.insert(self.store.orm()).await?, token })
    }

    pub async fn api_keys(&self) -> Result<Vec<api_key::Model>, StoreError> {
        Ok(api_key::Entity::find()
            .filter(api_key::Column::TenantId.eq(self.tenant.id))
            .order_by_asc(api_key::Column::CreatedAt)
            .all(self.store.orm())
            .await?)
    }

    /// Revokes a key of this tenant (idempotent); `None` when the tenant has no such key.
    pub async fn revoke_api_key(&self, id: Uuid) -> Result<Option<api_key::Model>, StoreError> {
        let Some(key) = api_key::Entity::find_by_id(id)
            .filter(api_key::Column::TenantId.eq(self.tenant.id))
            .one(self.store.orm())
            .await?
        else {
            return Ok(None);
        };
        if key.revoked_at.is_some() {
            return Ok(Some(key));
        }
        let mut active = key.into_active_model();
        active.revoked_at = Set(Some(Utc::now().into()));
        Ok(Some(active.update(self.store.orm()).await?))
    }

    pub async fn create_account(
        &self,
        name: &str,
        aws_role_arn: Option<&str>,
        external_id: &str,
    ) -> Result<account::Model, StoreError> {
        self.store.create_account(self.tenant.id, name, aws_role_arn, external_id).await
    }

    pub async fn accounts(&self) -> Result<Vec<account::Model>, StoreError> {
        Ok(account::Entity::find()
            .filter(account::Column::TenantId.eq(self.tenant.id))
            .order_by_asc(account::Column::CreatedAt)
            .all(self.store.orm())
            .await?)
    }

    /// The account, if it belongs to this tenant.
    pub async fn account(&self, id: Uuid) -> Result<Option<AccountScope>, StoreError> {
        Ok(account::Entity::find_by_id(id)
            .filter(account::Column::TenantId.eq(self.tenant.id))
            .one(self.store.orm())
            .await?
            .map(|account| AccountScope { store: self.store.clone(), account }))
    }
}

impl AccountScope {
    pub fn account(&self) -> &account::Model {
        &self.account
    }

    /// The account's external id (opened when sealed). A secret: never log it.
    pub fn external_id(&self) -> Result<String, StoreError> {
        let a = &self.account;
        self.store.open_external_id(a.id, a.external_id.as_deref(), a.external_id_sealed.as_deref())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Changes what is `Some`: the status (the supervisor stops a
    /// paused account's consumers), the role, the external id.
    pub async fn update(
        &mut self,
        status: Option<super::account::AccountStatus>,
        aws_role_arn: Option<&str>,
        external_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut active = self.account.clone().into_active_model();
        if let Some(s) = status {
            active.status = Set(s);
        }
        if let Some(r) = aws_role_arn {
            active.aws_role_arn = Set(Some(r.to_owned()));
        }
        if let Some(e) = external_id {
            let (clear, sealed) = self.store.external_id_columns(self.account.id, e);
            active.external_id = Set(clear);
            active.external_id_sealed = Set(sealed);
        }
        self.account = active.update(self.store.orm()).await?;
        Ok(())
    }

    /// Deletes the account with its marketplaces, queues and their states (ledger rows stay).
    pub async fn delete(self) -> Result<(), StoreError> {
        account::Entity::delete_by_id(self.account.id).exec(self.store.orm()).await?;
        Ok(())
    }

    pub async fn add_marketplace(
        &self,
        m: &ams_model::Marketplace,
        profile_id: Option<&str>,
    ) -> Result<marketplace::Model, StoreError> {
        let row = marketplace::ActiveModel {
            id: Set(Uuid::new_v4()),
            account_id: Set(self.account.id),
            code: Set(m.code.to_owned()),
            marketplace_id: Set(m.marketplace_id.to_owned()),
            realm: Set(m.realm.as_str().to_owned()),
            region: Set(m.region().to_owned()),
            api_endpoint: Set(m.api_endpoint().to_owned()),
            profile_id: Set(profile_id.map(str::to_owned)),
            created_at: Set(Utc::now().into()),
        };
        row.insert(self.store.orm())
            .await
            .map_err(|e| StoreError::on_insert(e, || format!("marketplace {} is already registered for this account", m.code)))
    }

    pub async fn marketplaces(&self) -> Result<Vec<marketplace::Model>, StoreError> {
        Ok(marketplace::Entity::find()
            .filter(marketplace::Column::AccountId.eq(self.account.id))
            .order_by_asc(marketplace::Column::Code)
            .all(self.store.orm())
            .await?)
    }

    /// Removes a marketplace by its code; false when the account has none with that code.
    pub async fn delete_marketplace(&self, code: &str) -> Result<bool, StoreError> {
        let r = marketplace::Entity::delete_many()
            .filter(marketplace::Column::AccountId.eq(self.account.id))
            .filter(marketplace::Column::Code.eq(code))
            .exec(self.store.orm())
            .await?;
        Ok(r.rows_affected > 0)
    }

    pub async fn add_queue(&self, queue_url: &str, region: &str) -> Result<queue::Model, StoreError> {
        self.store.add_queue(self.account.id, queue_url, region).await
    }

    /// Why the last stack verification failed (the checklist shows it).
    pub async fn record_stack_error(&mut self, error: &str) -> Result<(), StoreError> {
        let mut active = self.account.clone().into_active_model();
        active.stack_error = Set(Some(error.to_owned()));
        self.account = active.update(self.store.orm()).await?;
        Ok(())
    }

    /// The SNS subscription confirmations seen on this account's queues, newest first per
    /// (dataset, marketplace): (dataset, marketplace_id, status, error, when).
    #[allow(clippy::type_complexity)]
    pub async fn confirmations(
        &self,
    ) -> Result<Vec<(Option<String>, Option<String>, super::registry::ConfirmationStatus, Option<String>, chrono::DateTime<Utc>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT DISTINCT ON (dataset_id, marketplace_id) dataset_id, marketplace_id, status, last_error, updated_at
             FROM subscriptions WHERE account_id = $1
             ORDER BY dataset_id, marketplace_id, (status = 'confirmed') DESC, updated_at DESC",
        )
        .bind(self.account.id)
        .fetch_all(self.store.pool())
        .await?)
    }

    /// Onboarding's last step, all or nothing: the role on the account and its queues
    /// registered, in one transaction (a queue registered already fails it whole).
    pub async fn adopt_stack(&mut self, role_arn: &str, queues: &[(String, String)]) -> Result<Vec<queue::Model>, StoreError> {
        use sea_orm::TransactionTrait;
        let txn = self.store.orm().begin().await?;
        let mut active = self.account.clone().into_active_model();
        active.aws_role_arn = Set(Some(role_arn.to_owned()));
        active.role_verified_at = Set(Some(Utc::now().into()));
        active.stack_error = Set(None);
        let account = active.update(&txn).await?;
        let mut rows = Vec::new();
        for (url, region) in queues {
            rows.push(super::registry::insert_queue(&txn, self.account.id, url, region).await?);
        }
        txn.commit().await?;
        self.account = account;
        Ok(rows)
    }

    pub async fn queues(&self) -> Result<Vec<queue::Model>, StoreError> {
        Ok(queue::Entity::find()
            .filter(queue::Column::AccountId.eq(self.account.id))
            .order_by_asc(queue::Column::CreatedAt)
            .all(self.store.orm())
            .await?)
    }

    /// Unregisters a queue of this account; false when it has no such queue.
    pub async fn delete_queue(&self, id: Uuid) -> Result<bool, StoreError> {
        let r = queue::Entity::delete_many()
            .filter(queue::Column::AccountId.eq(self.account.id))
            .filter(queue::Column::Id.eq(id))
            .exec(self.store.orm())
            .await?;
        Ok(r.rows_affected > 0)
    }

    /// Each queue of the account with its consumer's last saved state.
    pub async fn queue_states(&self) -> Result<Vec<QueueState>, StoreError> {
        Ok(sqlx::query_as::<_, QueueState>(
            "SELECT q.id AS queue_id, q.queue_url, q.region, c.state, c.last_error, c.failure_kind, c.last_receive_at,
                    c.messages_received, c.messages_committed, c.messages_quarantined, c.restarts,
                    c.records_committed, c.records_truncated, c.approximate_visible, c.approximate_in_flight,
                    c.approximate_updated_at, c.updated_at
             FROM queues q LEFT JOIN consumer_states c ON c.queue_id = q.id
             WHERE q.account_id = $1 ORDER BY q.created_at",
        )
        .bind(self.account.id)
        .fetch_all(self.store.pool())
        .await?)
    }
}

/// A queue and what its consumer last reported (all `None` before it first ran).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueueState {
    pub queue_id: Uuid,
    pub queue_url: String,
    pub region: String,
    pub state: Option<super::consumer_state::ConsumerState>,
    pub last_error: Option<String>,
    pub failure_kind: Option<super::consumer_state::FailureKind>,
    pub last_receive_at: Option<chrono::DateTime<Utc>>,
    pub messages_received: Option<i64>,
    pub messages_committed: Option<i64>,
    pub messages_quarantined: Option<i64>,
    pub restarts: Option<i64>,
    /// Records committed per dataset, by dataset id (stored as `{"sp-traffic": n, …}`).
    pub records_committed: Option<sqlx::types::Json<std::collections::BTreeMap<String, i64>>>,
    /// Records committed that Amazon had truncated (`PAYLOAD_TRUNCATED`).
    pub records_truncated: Option<i64>,
    pub approximate_visible: Option<i64>,
    pub approximate_in_flight: Option<i64>,
    pub approximate_updated_at: Option<chrono::DateTime<Utc>>,
    pub updated_at: Option<chrono::DateTime<Utc>>,
}

impl QueueState {
    /// The consumer's state as the API shows it: `not_started` before a consumer reported.
    pub fn state_word(&self) -> &'static str {
        self.state.map_or("not_started", super::consumer_state::ConsumerState::as_str)
    }

    /// Records committed per dataset id; empty before the consumer first reported.
    pub fn records_by_dataset(&self) -> std::collections::BTreeMap<String, i64> {
        self.records_committed.as_ref().map(|j| j.0.clone()).unwrap_or_default()
    }
}
