//! Webhooks: a tenant's endpoints, and the deliveries made to them, in Postgres (control
//! migration 15). An event becomes one delivery per webhook that takes its type, in the
//! transaction that caused it, with a `NOTIFY` that wakes the senders; a sender claims due
//! deliveries (`FOR UPDATE SKIP LOCKED`, then a claim that expires, so one replica sends each
//! and a dead one's claims pass to another), records each attempt, and schedules the next
//! until the delivery succeeds or 24 hours have passed. [`rules`] has what that obeys.

pub mod rules;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::{Keyring, SecretError, Store, StoreError, TenantScope};

/// The Postgres channel a new delivery is announced on.
pub const CHANNEL: &str = "ams_hub_webhooks";
/// The most webhooks a tenant may have.
pub const MAX_WEBHOOKS: i64 = 10;

/// The event types a webhook can take (`events`; none listed: all but the test).
pub const EVENT_TYPES: [&str; 5] = ["alert.budget_usage", "alert.out_of_budget", "alert.stream_silent", "alert.spend_spike", TEST_EVENT];
/// What `POST …/webhooks/{id}/test` sends (to that webhook alone, whatever its `events`).
pub const TEST_EVENT: &str = "webhook.test";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// A webhook just made, with its signing secret (shown this once).
pub struct NewWebhook {
    pub webhook: Webhook,
    pub secret: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub message_id: String,
    pub event_type: String,
    pub payload: Value,
    /// `pending`, `succeeded` or `failed` (24 hours of attempts without a 2xx).
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub give_up_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Attempt {
    pub delivery_id: Uuid,
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub response_status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
}

/// A delivery a sender has claimed, with what it needs to send it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Due {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub webhook_id: Uuid,
    pub url: String,
    pub secret_sealed: Vec<u8>,
    pub message_id: String,
    pub payload: Value,
    pub attempts: i32,
    pub give_up_at: DateTime<Utc>,
}

/// How an attempt ended, for [`Store::record_attempt`].
pub enum Outcome {
    Succeeded,
    /// Failed; try again at this instant (or give up if it is past the delivery's end).
    RetryAt(DateTime<Utc>),
    /// Failed for good (the secret does not open, the URL is no longer allowed).
    Failed,
}

fn context(webhook: Uuid) -> String {
    format!("webhooks.secret:{webhook}")
}

const WEBHOOK_COLUMNS: &str = "id, url, description, events, created_at";
const DELIVERY_COLUMNS: &str =
    "id, webhook_id, message_id, event_type, payload, status, attempts, next_attempt_at, give_up_at, created_at";

/// The body of a delivery (Standard Webhooks: `type`, `timestamp`, `data`).
pub fn payload(event_type: &str, at: DateTime<Utc>, data: Value) -> Value {
    serde_json::json!({"type": event_type, "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true), "data": data})
}

impl TenantScope {
    /// Registers a webhook; its secret is sealed with the server's key.
    pub async fn create_webhook(&self, url: &str, events: &[String], description: &str) -> Result<NewWebhook, StoreError> {
        let keyring = self.store().keyring().ok_or(SecretError::NoKey)?;
        let id = Uuid::new_v4();
        let secret = rules::new_secret();
        let mut tx = self.store().pool().begin().await?;
        // One tenant's webhooks are counted and made one at a time.
        sqlx::query("SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE").bind(self.tenant().id).execute(&mut *tx).await?;
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM webhooks WHERE tenant_id = $1").bind(self.tenant().id).fetch_one(&mut *tx).await?;
        if count >= MAX_WEBHOOKS {
            return Err(StoreError::Conflict(format!("this tenant has {count} webhooks, the most it may have: delete one first")));
        }
        let webhook = sqlx::query_as(&format!(
            "INSERT INTO webhooks (id, tenant_id, url, description, events, secret_sealed) VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING {WEBHOOK_COLUMNS}"
        ))
        .bind(id)
        .bind(self.tenant().id)
        .bind(url)
        .bind(description)
        .bind(events)
        .bind(keyring.seal(&secret, &context(id)))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(NewWebhook { webhook, secret })
    }

    pub async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE tenant_id = $1 ORDER BY created_at, id"))
            .bind(self.tenant().id)
            .fetch_all(self.store().pool())
            .await?)
    }

    pub async fn webhook(&self, id: Uuid) -> Result<Option<Webhook>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE tenant_id = $1 AND id = $2"))
            .bind(self.tenant().id)
            .bind(id)
            .fetch_optional(self.store().pool())
            .await?)
    }

    /// Deletes a webhook and its deliveries (pending ones are not sent).
    pub async fn delete_webhook(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM webhooks WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant().id)
            .bind(id)
            .execute(self.store().pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A webhook's deliveries, newest first, with their attempts (oldest first).
    pub async fn deliveries(&self, webhook: Uuid, limit: i64) -> Result<Vec<(Delivery, Vec<Attempt>)>, StoreError> {
        let deliveries: Vec<Delivery> = sqlx::query_as(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant_id = $1 AND webhook_id = $2
             ORDER BY created_at DESC, id LIMIT $3"
        ))
        .bind(self.tenant().id)
        .bind(webhook)
        .bind(limit)
        .fetch_all(self.store().pool())
        .await?;
        let ids: Vec<Uuid> = deliveries.iter().map(|d| d.id).collect();
        let attempts: Vec<Attempt> = sqlx::query_as(
            "SELECT delivery_id, attempt, at, response_status, error, duration_ms FROM webhook_attempts
             WHERE delivery_id = ANY ($1) ORDER BY delivery_id, attempt",
        )
        .bind(&ids)
        .fetch_all(self.store().pool())
        .await?;
        Ok(deliveries
            .into_iter()
            .map(|d| {
                let mine = attempts.iter().filter(|a| a.delivery_id == d.id).cloned().collect();
                (d, mine)
            })
            .collect())
    }

    /// Sends a delivery again, now, with the same message id (receivers deduplicate on it),
    /// and 24 more hours of retries. `None`: no such delivery of this webhook.
    pub async fn replay_delivery(&self, webhook: Uuid, delivery: Uuid) -> Result<Option<Delivery>, StoreError> {
        let mut tx = self.store().pool().begin().await?;
        let d: Option<Delivery> = sqlx::query_as(&format!(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), give_up_at = now() + interval '24 hours',
                    claimed_until = NULL
             WHERE tenant_id = $1 AND webhook_id = $2 AND id = $3 RETURNING {DELIVERY_COLUMNS}"
        ))
        .bind(self.tenant().id)
        .bind(webhook)
        .bind(delivery)
        .fetch_optional(&mut *tx)
        .await?;
        notify(&mut tx).await?;
        tx.commit().await?;
        Ok(d)
    }

    /// Sends a `webhook.test` event to one webhook.
    pub async fn test_webhook(&self, webhook: Uuid) -> Result<Option<Delivery>, StoreError> {
        if self.webhook(webhook).await?.is_none() {
            return Ok(None);
        }
        let mut tx = self.store().pool().begin().await?;
        let data = serde_json::json!({"tenant": self.slug().as_str(), "webhook_id": webhook, "message": "a test event from ams-hub"});
        let d = insert_delivery(&mut tx, self.tenant().id, webhook, TEST_EVENT, data).await?;
        notify(&mut tx).await?;
        tx.commit().await?;
        Ok(Some(d))
    }
}

async fn notify(tx: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(tx).await?;
    Ok(())
}

async fn insert_delivery(tx: &mut sqlx::PgConnection, tenant: Uuid, webhook: Uuid, event_type: &str, data: Value) -> Result<Delivery, StoreError> {
    let id = Uuid::new_v4();
    Ok(sqlx::query_as(&format!(
        "INSERT INTO webhook_deliveries (id, tenant_id, webhook_id, message_id, event_type, payload)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {DELIVERY_COLUMNS}"
    ))
    .bind(id)
    .bind(tenant)
    .bind(webhook)
    .bind(format!("msg_{}", id.simple()))
    .bind(event_type)
    .bind(payload(event_type, Utc::now(), data))
    .fetch_one(tx)
    .await?)
}

/// An event of a tenant: one delivery to each of its webhooks that takes `event_type`, in the
/// caller's transaction (the event and its deliveries commit together), announced to the
/// senders at commit. Returns how many deliveries it made.
pub async fn enqueue_event(tx: &mut sqlx::PgConnection, tenant: Uuid, event_type: &str, data: Value) -> Result<usize, StoreError> {
    let hooks: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM webhooks WHERE tenant_id = $1 AND $2 = ANY (events) ORDER BY id")
        .bind(tenant)
        .bind(event_type)
        .fetch_all(&mut *tx)
        .await?;
    for hook in &hooks {
        insert_delivery(&mut *tx, tenant, *hook, event_type, data.clone()).await?;
    }
    if !hooks.is_empty() {
        notify(tx).await?;
    }
    Ok(hooks.len())
}

impl Store {
    /// Claims up to `limit` due deliveries (at most `per_tenant` of one tenant, the longest
    /// waiting first) for `claim`: no other sender takes them until it passes.
    pub async fn claim_due_deliveries(&self, limit: i64, per_tenant: i64, claim: std::time::Duration) -> Result<Vec<Due>, StoreError> {
        let claim_ms = i64::try_from(claim.as_millis()).unwrap_or(i64::MAX);
        Ok(sqlx::query_as(
            "WITH due AS (
                 SELECT id, tenant_id, next_attempt_at FROM webhook_deliveries
                 WHERE status = 'pending' AND next_attempt_at <= now() AND (claimed_until IS NULL OR claimed_until < now())
                 ORDER BY next_attempt_at LIMIT $1 * 4 FOR UPDATE SKIP LOCKED
             ), fair AS (
                 SELECT id FROM (SELECT id, next_attempt_at, row_number() OVER (PARTITION BY tenant_id ORDER BY next_attempt_at) AS n FROM due) r
                 WHERE n <= $2 ORDER BY next_attempt_at LIMIT $1
             )
             UPDATE webhook_deliveries d SET claimed_until = now() + make_interval(secs => $3::double precision / 1000)
             FROM fair, webhooks w
             WHERE d.id = fair.id AND w.id = d.webhook_id
             RETURNING d.id, d.tenant_id, d.webhook_id, w.url, w.secret_sealed, d.message_id, d.payload, d.attempts, d.give_up_at",
        )
        .bind(limit)
        .bind(per_tenant)
        .bind(claim_ms)
        .fetch_all(self.pool())
        .await?)
    }

    /// The earliest instant a pending delivery falls due (the sender sleeps until then).
    pub async fn next_delivery_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(sqlx::query_scalar("SELECT min(greatest(next_attempt_at, coalesce(claimed_until, next_attempt_at))) FROM webhook_deliveries WHERE status = 'pending'")
            .fetch_one(self.pool())
            .await?)
    }

    /// Records an attempt and its outcome, and releases the claim.
    pub async fn record_attempt(
        &self,
        due: &Due,
        response_status: Option<u16>,
        error: Option<&str>,
        duration: std::time::Duration,
        outcome: Outcome,
    ) -> Result<(), StoreError> {
        let attempt = due.attempts + 1;
        let (status, next) = match outcome {
            Outcome::Succeeded => ("succeeded", None),
            Outcome::RetryAt(at) if at <= due.give_up_at => ("pending", Some(at)),
            Outcome::RetryAt(_) | Outcome::Failed => ("failed", None),
        };
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, attempt, response_status, error, duration_ms) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT DO NOTHING",
        )
        .bind(due.id)
        .bind(attempt)
        .bind(response_status.map(i32::from))
        .bind(error.map(|e| e.chars().take(500).collect::<String>()))
        .bind(i32::try_from(duration.as_millis()).unwrap_or(i32::MAX))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE webhook_deliveries SET attempts = $2, status = $3, next_attempt_at = coalesce($4, next_attempt_at), claimed_until = NULL
             WHERE id = $1",
        )
        .bind(due.id)
        .bind(attempt)
        .bind(status)
        .bind(next)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Opens a webhook's signing secret.
pub fn open_secret(keyring: &Keyring, due: &Due) -> Result<String, SecretError> {
    keyring.open(&due.secret_sealed, &context(due.webhook_id))
}
