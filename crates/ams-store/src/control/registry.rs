//! Control-plane operations the runtime and the tests need: register accounts and queues,
//! list what should be consumed, record subscription confirmations. (The admin API adds
//! tenant-scoped access on top of these.)

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, FromQueryResult, Statement};
use uuid::Uuid;

use super::{account, queue, subscription};
use crate::{AccountId, QueueId, Store, StoreError, TenantSlug};

/// A queue the runtime should consume, with what it needs to reach it.
#[derive(Clone, PartialEq, Eq)]
pub struct ActiveQueue {
    pub queue_id: QueueId,
    pub queue_url: String,
    pub region: String,
    pub account_id: AccountId,
    pub aws_role_arn: Option<String>,
    /// A secret: never log it.
    pub external_id: String,
    pub tenant: TenantSlug,
}

impl std::fmt::Debug for ActiveQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveQueue")
            .field("queue_id", &self.queue_id)
            .field("queue_url", &self.queue_url)
            .field("region", &self.region)
            .field("account_id", &self.account_id)
            .field("aws_role_arn", &self.aws_role_arn)
            .field("external_id", &"<redacted>")
            .field("tenant", &self.tenant)
            .finish()
    }
}

/// [`ActiveQueue`] as read, its external id still sealed.
#[derive(FromQueryResult)]
struct ActiveQueueRow {
    queue_id: QueueId,
    queue_url: String,
    region: String,
    account_id: AccountId,
    aws_role_arn: Option<String>,
    external_id: Option<String>,
    external_id_sealed: Option<Vec<u8>>,
    tenant_slug: String,
}

impl Store {
    /// A new active account of a tenant; a name taken in the tenant is a [`StoreError::Conflict`].
    pub async fn create_account(
        &self,
        tenant_id: Uuid,
        name: &str,
        aws_role_arn: Option<&str>,
        external_id: &str,
    ) -> Result<account::Model, StoreError> {
        let id = Uuid::new_v4();
        let (clear, sealed) = self.external_id_columns(id, external_id);
        let row = account::ActiveModel {
            id: Set(id),
            tenant_id: Set(tenant_id),
            name: Set(name.to_owned()),
            aws_role_arn: Set(aws_role_arn.map(str::to_owned)),
            external_id: Set(clear),
            external_id_sealed: Set(sealed),
            status: Set(super::account::AccountStatus::Active),
            created_at: Set(Utc::now().into()),
            role_verified_at: Set(None),
            stack_error: Set(None),
        };
        row.insert(self.orm())
            .await
            .map_err(|e| StoreError::on_insert(e, || format!("an account named {name:?} exists in this tenant")))
    }

    /// Registers a queue of an account. `queue_url` is canonical (`…/<AWS account id>/<name>`,
    /// no trailing slash): its identity, (region, AWS account id, name), is unique across
    /// tenants (one consumer, one owner per queue), however the URL was spelled. The conflict
    /// message must not tell a caller whether another tenant has it.
    pub async fn add_queue(&self, account_id: Uuid, queue_url: &str, region: &str) -> Result<queue::Model, StoreError> {
        insert_queue(self.orm(), account_id, queue_url, region).await
    }

    /// Every queue of an active account of an active tenant.
    pub async fn active_queues(&self) -> Result<Vec<ActiveQueue>, StoreError> {
        let stmt = Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT q.id AS queue_id, q.queue_url, q.region, a.id AS account_id, a.aws_role_arn,
                    a.external_id, a.external_id_sealed, t.slug AS tenant_slug
             FROM control.queues q
             JOIN control.accounts a ON a.id = q.account_id
             JOIN control.tenants t ON t.id = a.tenant_id
             WHERE a.status = 'active' AND t.status = 'active'
               -- Without a role, only where the operator allowed the platform's identity.
               AND (a.aws_role_arn IS NOT NULL OR t.allow_platform_identity)
             ORDER BY q.queue_url",
        );
        let rows = ActiveQueueRow::find_by_statement(stmt).all(self.orm()).await?;
        // A slug that no longer parses cannot name a schema: skip it rather than guess. An
        // external id this server cannot open (no key, another key): the queue cannot be
        // reached with it, so it is skipped with the reason logged.
        Ok(rows
            .into_iter()
            .filter_map(|q| {
                let tenant = TenantSlug::parse(&q.tenant_slug).ok()?;
                match self.open_external_id(q.account_id.0, q.external_id.as_deref(), q.external_id_sealed.as_deref()) {
                    Ok(external_id) => Some(ActiveQueue {
                        queue_id: q.queue_id,
                        queue_url: q.queue_url,
                        region: q.region,
                        account_id: q.account_id,
                        aws_role_arn: q.aws_role_arn,
                        external_id,
                        tenant,
                    }),
                    Err(e) => {
                        tracing::error!(account = %q.account_id.0, error = %e, "an account's external id does not open: its queues are not consumed");
                        None
                    }
                }
            })
            .collect())
    }

    /// Records what became of an SNS subscription confirmation: one row per SQS message,
    /// updated when the message is seen again (redelivery, retry).
    pub async fn record_confirmation(&self, c: &ConfirmationRecord<'_>) -> Result<(), StoreError> {
        let ConfirmationRecord { account_id, queue_id, message_id, topic_arn, dataset_id, marketplace_id, status, error } = *c;
        let (account_id, queue_id) = (account_id.map(|a| a.0), queue_id.map(|q| q.0));
        let now = Utc::now();
        let updated = sqlx::query(
            "UPDATE subscriptions SET status = $3, last_error = $4, dataset_id = $5, marketplace_id = $6,
                 updated_at = now()
             WHERE queue_id IS NOT DISTINCT FROM $1 AND topic_arn = $2 AND message_id = $7",
        )
        .bind(queue_id)
        .bind(topic_arn)
        .bind(status)
        .bind(error)
        .bind(dataset_id.map(|d| d.as_str()))
        .bind(marketplace_id)
        .bind(message_id)
        .execute(self.pool())
        .await?;
        if updated.rows_affected() > 0 {
            return Ok(());
        }
        let row = subscription::ActiveModel {
            id: Set(Uuid::new_v4()),
            account_id: Set(account_id),
            queue_id: Set(queue_id),
            dataset_id: Set(dataset_id.map(|d| d.as_str().to_owned())),
            marketplace_id: Set(marketplace_id.map(str::to_owned)),
            subscription_id: Set(None),
            topic_arn: Set(Some(topic_arn.to_owned())),
            status: Set(status),
            last_error: Set(error.map(str::to_owned)),
            created_at: Set(now.into()),
            updated_at: Set(now.into()),
            message_id: Set(Some(message_id.to_owned())),
        };
        row.insert(self.orm()).await?;
        Ok(())
    }
}

crate::text_enum! {
    /// What became of an SNS subscription confirmation (`control.subscriptions.status`).
    pub enum ConfirmationStatus {
        /// Amazon's topic, and SNS confirmed it.
        Confirmed = "confirmed",
        /// Amazon's topic, but SNS said no or could not be asked: tried again on redelivery.
        ConfirmationFailed = "confirmation_failed",
        /// Not Amazon's topic for a dataset in that realm: never confirmed.
        Refused = "refused",
    }
}

/// What became of one subscription confirmation (`control.subscriptions`).
#[derive(Debug, Clone, Copy)]
pub struct ConfirmationRecord<'a> {
    pub account_id: Option<AccountId>,
    pub queue_id: Option<QueueId>,
    /// The SQS message it came in.
    pub message_id: &'a str,
    pub topic_arn: &'a str,
    pub dataset_id: Option<ams_model::DatasetId>,
    pub marketplace_id: Option<&'a str>,
    pub status: ConfirmationStatus,
    pub error: Option<&'a str>,
}

/// Inserts a queue row on `conn` (the pool, or a transaction).
pub(crate) async fn insert_queue(
    conn: &impl sea_orm::ConnectionTrait,
    account_id: Uuid,
    queue_url: &str,
    region: &str,
) -> Result<queue::Model, StoreError> {
    let mut segments = queue_url.trim_end_matches('/').rsplit('/');
    let name = segments.next().unwrap_or_default().to_owned();
    let aws_account_id = segments.next().unwrap_or_default().to_owned();
    let row = queue::ActiveModel {
        id: Set(Uuid::new_v4()),
        account_id: Set(account_id),
        queue_url: Set(queue_url.to_owned()),
        region: Set(region.to_owned()),
        aws_account_id: Set(aws_account_id),
        queue_name: Set(name),
        created_at: Set(Utc::now().into()),
    };
    row.insert(conn)
        .await
        .map_err(|e| StoreError::on_insert(e, || "this queue is already registered".to_owned()))
}
