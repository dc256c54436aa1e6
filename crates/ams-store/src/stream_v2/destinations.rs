//! Stream v2 destinations in the control plane (`control.stream_v2_destinations`): adopted from
//! a brand's deployed stack through its [`AccountScope`], read by the runtime's loaders.

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::{AccountScope, Store, StoreError, TenantSlug};

/// A destination as the API shows it.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Destination {
    pub region: String,
    pub bucket: String,
    pub queue_url: String,
    pub role_arn: String,
    pub listed_through: Option<DateTime<Utc>>,
    pub last_loaded_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub adopted_at: DateTime<Utc>,
    /// The v2 subscriptions delivering here, as the Ads reconciler last saw them.
    pub subscriptions: sqlx::types::Json<Vec<V2SubscriptionState>>,
    pub subscription_error: Option<String>,
}

/// One v2 subscription as the reconciler records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct V2SubscriptionState {
    pub dataset: String,
    pub id: String,
    pub status: String,
}

/// What the Ads reconciler keeps at Amazon for one account: its global account id, the
/// declared datasets, its destinations, and a connection to reach Amazon with.
#[derive(Debug, Clone)]
pub struct V2Wanted {
    pub account_id: Uuid,
    pub ads_account_id: Option<String>,
    pub declared: Vec<String>,
    /// (region, bucket, queue ARN).
    pub destinations: Vec<(String, String, String)>,
    pub connection: Option<Uuid>,
}

/// A destination as a loader needs it: where to read, as whom, for which tenant.
#[derive(Clone)]
pub struct ActiveDestination {
    pub account_id: Uuid,
    pub tenant: TenantSlug,
    pub region: String,
    pub bucket: String,
    pub queue_url: String,
    pub role_arn: String,
    pub external_id: String,
}

impl std::fmt::Debug for ActiveDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The external id is a secret: never in a log line.
        f.debug_struct("ActiveDestination")
            .field("account_id", &self.account_id)
            .field("tenant", &self.tenant)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

/// What a loader reads again before each pass: its watermark and the declared datasets.
#[derive(Debug, Clone)]
pub struct LoaderState {
    pub listed_through: Option<DateTime<Utc>>,
    pub declared: Vec<String>,
}

#[derive(FromRow)]
struct ActiveRow {
    account_id: Uuid,
    tenant_slug: String,
    region: String,
    bucket: String,
    queue_url: String,
    role_arn: String,
    external_id: Option<String>,
    external_id_sealed: Option<Vec<u8>>,
}

impl AccountScope {
    /// Records (or replaces) the account's destination in `region`.
    pub async fn adopt_v2_destination(
        &self,
        region: &str,
        bucket: &str,
        queue_url: &str,
        role_arn: &str,
    ) -> Result<Destination, StoreError> {
        Ok(sqlx::query_as(
            "INSERT INTO control.stream_v2_destinations (account_id, region, bucket, queue_url, role_arn)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (account_id, region) DO UPDATE
               SET bucket = EXCLUDED.bucket, queue_url = EXCLUDED.queue_url,
                   role_arn = EXCLUDED.role_arn, adopted_at = now(),
                   -- Another bucket starts from its beginning.
                   listed_through = CASE WHEN stream_v2_destinations.bucket = EXCLUDED.bucket THEN stream_v2_destinations.listed_through END,
                   last_error = NULL
             RETURNING region, bucket, queue_url, role_arn, listed_through, last_loaded_at, last_error, adopted_at,
                       subscriptions, subscription_error",
        )
        .bind(self.account().id)
        .bind(region)
        .bind(bucket)
        .bind(queue_url)
        .bind(role_arn)
        .fetch_one(self.store().pool())
        .await?)
    }

    pub async fn v2_destinations(&self) -> Result<Vec<Destination>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT region, bucket, queue_url, role_arn, listed_through, last_loaded_at, last_error, adopted_at,
                    subscriptions, subscription_error
             FROM control.stream_v2_destinations WHERE account_id = $1 ORDER BY region",
        )
        .bind(self.account().id)
        .fetch_all(self.store().pool())
        .await?)
    }
}

impl Store {
    /// Every destination of an active account of an active tenant whose external id opens.
    pub async fn active_v2_destinations(&self) -> Result<Vec<ActiveDestination>, StoreError> {
        let rows: Vec<ActiveRow> = sqlx::query_as(
            "SELECT d.account_id, t.slug AS tenant_slug, d.region, d.bucket, d.queue_url, d.role_arn, a.external_id, a.external_id_sealed
             FROM control.stream_v2_destinations d
             JOIN control.accounts a ON a.id = d.account_id
             JOIN control.tenants t ON t.id = a.tenant_id
             WHERE a.status = 'active' AND t.status = 'active'
             ORDER BY d.account_id, d.region",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let tenant = TenantSlug::parse(&r.tenant_slug).ok()?;
                match self.open_external_id(r.account_id, r.external_id.as_deref(), r.external_id_sealed.as_deref()) {
                    Ok(external_id) => Some(ActiveDestination {
                        account_id: r.account_id,
                        tenant,
                        region: r.region,
                        bucket: r.bucket,
                        queue_url: r.queue_url,
                        role_arn: r.role_arn,
                        external_id,
                    }),
                    Err(e) => {
                        tracing::error!(account = %r.account_id, error = %e, "an account's external id does not open: its Stream v2 destination is not loaded");
                        None
                    }
                }
            })
            .collect())
    }

    /// The loader's watermark and the account's declared v2 datasets; `None` when the
    /// destination is gone.
    pub async fn v2_loader_state(&self, account: Uuid, region: &str) -> Result<Option<LoaderState>, StoreError> {
        let row: Option<(Option<DateTime<Utc>>, Vec<String>)> = sqlx::query_as(
            "SELECT d.listed_through, a.stream_v2_datasets FROM control.stream_v2_destinations d
             JOIN control.accounts a ON a.id = d.account_id WHERE d.account_id = $1 AND d.region = $2",
        )
        .bind(account)
        .bind(region)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(listed_through, declared)| LoaderState { listed_through, declared }))
    }

    /// After a pass: the new watermark (when the whole bucket was listed and every version in
    /// it handled), whether anything landed, and the error that stopped the pass, if any.
    pub async fn record_v2_pass(
        &self,
        account: Uuid,
        region: &str,
        listed_through: Option<DateTime<Utc>>,
        landed: bool,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE control.stream_v2_destinations
             SET listed_through = GREATEST(listed_through, $3),
                 last_loaded_at = CASE WHEN $4 THEN now() ELSE last_loaded_at END,
                 last_error = $5
             WHERE account_id = $1 AND region = $2",
        )
        .bind(account)
        .bind(region)
        .bind(listed_through)
        .bind(landed)
        .bind(error)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every active account with a Stream v2 destination, as the Ads reconciler keeps it.
    pub async fn v2_wanted(&self) -> Result<Vec<V2Wanted>, StoreError> {
        let rows: Vec<(Uuid, Option<String>, Vec<String>, String, String, String, Option<Uuid>)> = sqlx::query_as(
            "SELECT a.id, a.ads_account_id, a.stream_v2_datasets, d.region, d.bucket, d.queue_url,
                    (SELECT m.connection_id FROM control.marketplaces m
                      JOIN control.ads_connections c ON c.id = m.connection_id AND c.status = 'active'
                      WHERE m.account_id = a.id ORDER BY m.code LIMIT 1)
             FROM control.stream_v2_destinations d
             JOIN control.accounts a ON a.id = d.account_id
             JOIN control.tenants t ON t.id = a.tenant_id
             WHERE a.status = 'active' AND t.status = 'active'
             ORDER BY a.id, d.region",
        )
        .fetch_all(self.pool())
        .await?;
        let mut out: Vec<V2Wanted> = Vec::new();
        for (account_id, ads_account_id, declared, region, bucket, queue_url, connection) in rows {
            // Adoption checked the URL's account and name against the ARN Amazon is given.
            let Some(queue_arn) = ams_model::queue_arn(&queue_url, &region) else { continue };
            match out.last_mut() {
                Some(w) if w.account_id == account_id => w.destinations.push((region, bucket, queue_arn)),
                _ => out.push(V2Wanted { account_id, ads_account_id, declared, destinations: vec![(region, bucket, queue_arn)], connection }),
            }
        }
        Ok(out)
    }

    /// What the Ads reconciler found and did for one destination.
    pub async fn record_v2_subscriptions(
        &self,
        account: Uuid,
        region: &str,
        subscriptions: &[V2SubscriptionState],
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE control.stream_v2_destinations SET subscriptions = $3, subscription_error = $4 WHERE account_id = $1 AND region = $2",
        )
        .bind(account)
        .bind(region)
        .bind(sqlx::types::Json(subscriptions))
        .bind(error)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
