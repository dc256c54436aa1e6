//! The Marketing Stream subscriptions the Ads reconciler keeps at Amazon: what every account
//! wants (`desired_streams`), the rows it keeps per subscription (`stream_subscriptions`,
//! written before Amazon is asked), and how they are closed (archived at Amazon, or released
//! when Amazon will not archive them).

use ams_model::{DatasetId, Realm};
use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::{Store, StoreError};

crate::text_enum! {
    /// A Marketing Stream subscription's status: Amazon's (`SubscriptionEntityStatus` in its
    /// API document, all seven), and ams-hub's own `REQUESTED` before Amazon has answered.
    pub enum StreamStatus {
        Requested = "REQUESTED",
        Provisioning = "PROVISIONING",
        PendingConfirmation = "PENDING_CONFIRMATION",
        Active = "ACTIVE",
        FailedConfirmation = "FAILED_CONFIRMATION",
        FailedProvisioning = "FAILED_PROVISIONING",
        Suspended = "SUSPENDED",
        Archived = "ARCHIVED",
    }
}

impl StreamStatus {
    /// Failed for good: Amazon will not get it to ACTIVE.
    pub fn is_failed(self) -> bool {
        matches!(self, StreamStatus::FailedConfirmation | StreamStatus::FailedProvisioning)
    }

    /// Nothing more happens to it by itself (until someone acts).
    pub fn is_settled(self) -> bool {
        matches!(self, StreamStatus::Active | StreamStatus::Suspended)
    }
}

/// A subscription row, as the API shows it and the reconciler keeps it.
#[derive(Debug, Clone, FromRow)]
pub struct StreamRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub account_id: Option<Uuid>,
    /// The marketplace of a sponsored-ads subscription.
    pub marketplace_id: Option<Uuid>,
    /// The DSP advertiser (`dsp_advertisers.id`) of a DSP subscription.
    pub dsp_advertiser_id: Option<Uuid>,
    pub connection_id: Option<Uuid>,
    /// The profile (sponsored ads), or the agency profile that lists the DSP advertiser.
    pub profile_id: String,
    /// Amazon's advertiser id: `accountInfo.id` (sponsored ads) or the DSP advertiser's.
    pub advertiser_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub realm: Realm,
    #[sqlx(try_from = "String")]
    pub dataset_id: DatasetId,
    pub destination_arn: String,
    pub generation: i32,
    pub client_request_token: String,
    pub subscription_id: Option<String>,
    /// `REQUESTED` until Amazon answers the create; then Amazon's status.
    pub status: StreamStatus,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// When ams-hub let go of it without Amazon archiving it (Amazon archives only ACTIVE
    /// subscriptions; a failed one it refuses to archive is released, keeping its status).
    pub released_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl StreamRow {
    /// What the subscription is for: its marketplace (sponsored ads) or DSP advertiser.
    pub fn scope_id(&self) -> Option<Uuid> {
        self.marketplace_id.or(self.dsp_advertiser_id)
    }
}

const STREAM_COLUMNS: &str = "id, tenant_id, account_id, marketplace_id, dsp_advertiser_id, connection_id, profile_id,
    advertiser_id, realm, dataset_id, destination_arn, generation, client_request_token, subscription_id, status,
    confirmed_at, last_sync_at, last_error, released_at, updated_at";

/// A row the reconciler still acts on: not archived, not released.
const OPEN: &str = "status <> 'ARCHIVED' AND released_at IS NULL";

/// One dataset an account wants for one marketplace (sponsored ads) or DSP advertiser, with
/// where it must deliver. Every declared dataset comes once per marketplace and once per DSP
/// advertiser; the reconciler keeps the ones that fit (DSP datasets for DSP advertisers).
#[derive(Debug, Clone, FromRow)]
pub struct DesiredStream {
    pub tenant_id: Uuid,
    pub account_id: Uuid,
    pub marketplace_id: Option<Uuid>,
    pub dsp_advertiser_id: Option<Uuid>,
    pub connection_id: Uuid,
    pub profile_id: String,
    pub advertiser_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub realm: Realm,
    #[sqlx(try_from = "String")]
    pub dataset_id: DatasetId,
    pub queue_url: String,
    pub queue_region: String,
}

impl DesiredStream {
    pub fn scope_id(&self) -> Uuid {
        self.marketplace_id.or(self.dsp_advertiser_id).expect("a marketplace or a DSP advertiser")
    }
}

impl super::scope::AccountScope {
    /// The datasets the agency declared for this account.
    pub async fn stream_datasets(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT stream_datasets FROM accounts WHERE id = $1")
            .bind(self.account().id)
            .fetch_one(self.store().pool())
            .await?)
    }

    pub async fn set_stream_datasets(&self, datasets: &[String]) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET stream_datasets = $2 WHERE id = $1")
            .bind(self.account().id)
            .bind(datasets)
            .execute(self.store().pool())
            .await?;
        Ok(())
    }

    /// The Stream v2 dataset ids the account declares.
    pub async fn stream_v2_datasets(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT stream_v2_datasets FROM accounts WHERE id = $1")
            .bind(self.account().id)
            .fetch_one(self.store().pool())
            .await?)
    }

    pub async fn set_stream_v2_datasets(&self, datasets: &[String]) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET stream_v2_datasets = $2 WHERE id = $1")
            .bind(self.account().id)
            .bind(datasets)
            .execute(self.store().pool())
            .await?;
        Ok(())
    }

    /// The account's subscriptions (archived ones last), with the marketplace code.
    pub async fn streams(&self) -> Result<Vec<(Option<String>, StreamRow)>, StoreError> {
        let rows: Vec<StreamWithCode> = sqlx::query_as(&format!(
            "SELECT m.code, {} FROM stream_subscriptions s LEFT JOIN marketplaces m ON m.id = s.marketplace_id
             WHERE s.account_id = $1
             ORDER BY s.status = 'ARCHIVED' OR s.released_at IS NOT NULL, m.code, s.advertiser_id, s.dataset_id, s.generation DESC",
            STREAM_COLUMNS.split(',').map(|c| format!("s.{}", c.trim())).collect::<Vec<_>>().join(", ")
        ))
        .bind(self.account().id)
        .fetch_all(self.store().pool())
        .await?;
        Ok(rows.into_iter().map(|r| (r.code, r.row)).collect())
    }
}

#[derive(FromRow)]
struct StreamWithCode {
    code: Option<String>,
    #[sqlx(flatten)]
    row: StreamRow,
}

impl Store {
    /// Everything every account wants: each declared dataset in each marketplace that has a
    /// profile and a live connection, and in each DSP advertiser with a live connection,
    /// delivered to the account's (oldest) queue in the marketplace's (or the advertiser's
    /// realm's) AMS region. A scope without such a queue wants nothing yet.
    pub async fn desired_streams(&self) -> Result<Vec<DesiredStream>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT a.tenant_id, a.id AS account_id, m.id AS marketplace_id, NULL::uuid AS dsp_advertiser_id, m.connection_id,
                    m.profile_id, a.advertiser_id, m.realm, d.dataset_id, q.queue_url, q.region AS queue_region
             FROM accounts a
             JOIN tenants t ON t.id = a.tenant_id AND t.status = 'active'
             JOIN marketplaces m ON m.account_id = a.id AND m.profile_id IS NOT NULL AND m.connection_id IS NOT NULL
             JOIN ads_connections c ON c.id = m.connection_id AND c.status = 'active'
             CROSS JOIN LATERAL unnest(a.stream_datasets) AS d(dataset_id)
             JOIN LATERAL (SELECT queue_url, region FROM queues WHERE account_id = a.id AND region = m.region
                           ORDER BY created_at, id LIMIT 1) q ON true
             UNION ALL
             SELECT a.tenant_id, a.id, NULL::uuid, v.id, v.connection_id, v.agency_profile_id, v.advertiser_id, v.realm,
                    d.dataset_id, q.queue_url, q.region
             FROM accounts a
             JOIN tenants t ON t.id = a.tenant_id AND t.status = 'active'
             JOIN dsp_advertisers v ON v.account_id = a.id AND v.connection_id IS NOT NULL
             JOIN ads_connections c ON c.id = v.connection_id AND c.status = 'active'
             CROSS JOIN LATERAL unnest(a.stream_datasets) AS d(dataset_id)
             JOIN LATERAL (SELECT queue_url, region FROM queues WHERE account_id = a.id AND region = v.region
                           ORDER BY created_at, id LIMIT 1) q ON true
             ORDER BY 2, 3, 4, 9",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Every subscription row not archived nor released, of active tenants (what the reconciler
    /// may still have to act on). A disabled tenant's rows are left as they stand, neither
    /// created nor synced nor archived, until the operator enables it again.
    pub async fn open_streams(&self) -> Result<Vec<StreamRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {STREAM_COLUMNS} FROM stream_subscriptions
             WHERE {OPEN} AND tenant_id IN (SELECT id FROM tenants WHERE status = 'active') ORDER BY created_at, id"
        ))
        .fetch_all(self.pool())
        .await?)
    }

    /// The highest generation of (marketplace or DSP advertiser, dataset, destination),
    /// archived and released rows included.
    pub async fn stream_generation(&self, scope: Uuid, dataset: DatasetId, destination: &str) -> Result<Option<i32>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT max(generation) FROM stream_subscriptions
             WHERE coalesce(marketplace_id, dsp_advertiser_id) = $1 AND dataset_id = $2 AND destination_arn = $3",
        )
        .bind(scope)
        .bind(dataset.as_str())
        .bind(destination)
        .fetch_one(self.pool())
        .await?)
    }

    /// Writes the row ams-hub is about to ask Amazon for, before asking (its token is what
    /// makes the request idempotent). Nothing happens if the token is known already.
    pub async fn insert_stream(&self, d: &DesiredStream, destination: &str, generation: i32, token: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO stream_subscriptions (id, tenant_id, account_id, marketplace_id, dsp_advertiser_id, connection_id,
                 profile_id, advertiser_id, realm, dataset_id, destination_arn, generation, client_request_token, status)
             VALUES ($1, $2, $3, $4, $13, $5, $6, $7, $8, $9, $10, $11, $12, $14)
             ON CONFLICT (client_request_token) DO NOTHING",
        )
        .bind(Uuid::new_v4())
        .bind(d.tenant_id)
        .bind(d.account_id)
        .bind(d.marketplace_id)
        .bind(d.connection_id)
        .bind(&d.profile_id)
        .bind(&d.advertiser_id)
        .bind(d.realm.as_str())
        .bind(d.dataset_id.as_str())
        .bind(destination)
        .bind(generation)
        .bind(token)
        .bind(d.dsp_advertiser_id)
        .bind(StreamStatus::Requested)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// What Amazon said of a row: its id, its status and any error (a `None` error clears it).
    pub async fn update_stream(&self, id: Uuid, subscription_id: Option<&str>, status: Option<StreamStatus>, error: Option<&str>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE stream_subscriptions SET subscription_id = coalesce($2, subscription_id), status = coalesce($3, status),
                 last_error = $4, last_sync_at = now(), updated_at = now()
             WHERE id = $1",
        )
        .bind(id)
        .bind(subscription_id)
        .bind(status)
        .bind(error)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Lets go of a subscription Amazon will not archive: the reconciler no longer acts on
    /// it; Amazon's last status and the reason stay to be shown.
    pub async fn release_stream(&self, id: Uuid, subscription_id: &str, status: StreamStatus, reason: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE stream_subscriptions SET subscription_id = $2, status = $3, last_error = $4, released_at = now(),
                 last_sync_at = now(), updated_at = now()
             WHERE id = $1",
        )
        .bind(id)
        .bind(subscription_id)
        .bind(status)
        .bind(reason)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// An SNS confirmation for `dataset` arrived on a queue and was confirmed: the matching
    /// subscription (same destination queue and dataset, the topic's marketplace preferred, the
    /// oldest unconfirmed first) shows when.
    pub async fn stream_confirmed(&self, queue_arn: &str, dataset: DatasetId, marketplace_id: Option<&str>) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE stream_subscriptions s SET confirmed_at = now(), updated_at = now()
             WHERE s.id = (
                 SELECT s2.id FROM stream_subscriptions s2 LEFT JOIN marketplaces m ON m.id = s2.marketplace_id
                 WHERE s2.destination_arn = $1 AND s2.dataset_id = $2 AND s2.status <> 'ARCHIVED'
                   AND s2.released_at IS NULL AND s2.confirmed_at IS NULL
                 -- The topic's marketplace when it names one of ours (DSP topics name none).
                 ORDER BY m.marketplace_id IS NOT DISTINCT FROM $3 DESC, s2.created_at LIMIT 1)",
        )
        .bind(queue_arn)
        .bind(dataset.as_str())
        .bind(marketplace_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}
