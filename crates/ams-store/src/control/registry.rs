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
    pub tenant_slug: String,
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
            .field("tenant_slug", &self.tenant_slug)
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
            status: Set("active".to_owned()),
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
            .filter(|q| TenantSlug::parse(&q.tenant_slug).is_ok())
            .filter_map(|q| {
                match self.open_external_id(q.account_id.0, q.external_id.as_deref(), q.external_id_sealed.as_deref()) {
                    Ok(external_id) => Some(ActiveQueue {
                        queue_id: q.queue_id,
                        queue_url: q.queue_url,
                        region: q.region,
                        account_id: q.account_id,
                        aws_role_arn: q.aws_role_arn,
                        external_id,
                        tenant_slug: q.tenant_slug,
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
        .bind(status.as_str())
        .bind(error)
        .bind(dataset_id)
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
            dataset_id: Set(dataset_id.map(str::to_owned)),
            marketplace_id: Set(marketplace_id.map(str::to_owned)),
            subscription_id: Set(None),
            topic_arn: Set(Some(topic_arn.to_owned())),
            status: Set(status.as_str().to_owned()),
            last_error: Set(error.map(str::to_owned)),
            created_at: Set(now.into()),
            updated_at: Set(now.into()),
            message_id: Set(Some(message_id.to_owned())),
        };
        row.insert(self.orm()).await?;
        Ok(())
    }
}

/// What became of an SNS subscription confirmation (`control.subscriptions.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmationStatus {
    /// Amazon's topic, and SNS confirmed it.
    Confirmed,
    /// Amazon's topic, but SNS said no or could not be asked: tried again on redelivery.
    ConfirmationFailed,
    /// Not Amazon's topic for a dataset in that realm: never confirmed.
    Refused,
}

impl ConfirmationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfirmationStatus::Confirmed => "confirmed",
            ConfirmationStatus::ConfirmationFailed => "confirmation_failed",
            ConfirmationStatus::Refused => "refused",
        }
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
    pub dataset_id: Option<&'a str>,
    pub marketplace_id: Option<&'a str>,
    pub status: ConfirmationStatus,
    pub error: Option<&'a str>,
}

/// A consumer's state as the supervisor last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerStateRow {
    pub queue_id: QueueId,
    pub state: String,
    pub last_error: Option<String>,
    /// What kind of failure `last_error` is (credentials, queue_missing, throttled, network,
    /// database, other).
    pub failure_kind: Option<String>,
    pub messages_received: i64,
    pub messages_committed: i64,
    pub messages_quarantined: i64,
    pub restarts: i64,
    pub last_receive_at: Option<chrono::DateTime<Utc>>,
    /// `{"sp-traffic": n, …}`: records committed per dataset since the consumer started.
    pub records_committed: serde_json::Value,
    /// Records committed that Amazon had truncated (`PAYLOAD_TRUNCATED`).
    pub records_truncated: i64,
    pub approximate_visible: Option<i64>,
    pub approximate_in_flight: Option<i64>,
    pub approximate_updated_at: Option<chrono::DateTime<Utc>>,
}

impl Store {
    /// Upserts the consumers' states (one statement for all).
    pub async fn save_consumer_states(&self, rows: &[ConsumerStateRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let col = |f: fn(&ConsumerStateRow) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
        sqlx::query(
            "INSERT INTO consumer_states AS c (queue_id, state, last_error, messages_received,
                 messages_committed, messages_quarantined, restarts, last_receive_at, records_committed,
                 approximate_visible, approximate_in_flight, approximate_updated_at, failure_kind,
                 records_truncated, updated_at)
             SELECT u.*, now() FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],
                 $6::bigint[], $7::bigint[], $8::timestamptz[], $9::jsonb[], $10::bigint[], $11::bigint[],
                 $12::timestamptz[], $13::text[], $14::bigint[])
                 AS u(queue_id, state, last_error, received, committed, quarantined, restarts, last_receive_at,
                      records_committed, approximate_visible, approximate_in_flight, approximate_updated_at,
                      failure_kind, records_truncated)
             -- a queue deleted meanwhile has no state to keep
             WHERE EXISTS (SELECT 1 FROM queues q WHERE q.id = u.queue_id)
             ON CONFLICT (queue_id) DO UPDATE SET state = excluded.state, last_error = excluded.last_error,
                 messages_received = excluded.messages_received, messages_committed = excluded.messages_committed,
                 messages_quarantined = excluded.messages_quarantined, restarts = excluded.restarts,
                 last_receive_at = excluded.last_receive_at, records_committed = excluded.records_committed,
                 approximate_visible = excluded.approximate_visible,
                 approximate_in_flight = excluded.approximate_in_flight,
                 approximate_updated_at = excluded.approximate_updated_at, failure_kind = excluded.failure_kind,
                 records_truncated = excluded.records_truncated, updated_at = now()",
        )
        .bind(rows.iter().map(|r| r.queue_id.0).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.state.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.last_error.clone()).collect::<Vec<_>>())
        .bind(col(|r| r.messages_received))
        .bind(col(|r| r.messages_committed))
        .bind(col(|r| r.messages_quarantined))
        .bind(col(|r| r.restarts))
        .bind(rows.iter().map(|r| r.last_receive_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.records_committed.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.approximate_visible).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.approximate_in_flight).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.approximate_updated_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.failure_kind.clone()).collect::<Vec<_>>())
        .bind(col(|r| r.records_truncated))
        .execute(self.pool())
        .await?;
        Ok(())
    }
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
