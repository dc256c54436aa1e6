//! `GET …/ledger`: what a tenant's ledger keeps (retention, horizons).
//! `GET …/accounts/{account}/status`: what each of the account's queues is doing, as the
//! runtime last saved it (every second) in `control.consumer_states`. Read from the database,
//! not from this process, so it is right whichever replica consumes the queue.

use std::collections::BTreeMap;

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::scope::AccountPath;
use crate::error::{ApiError, ErrorBody};

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountStatus {
    pub account_id: Uuid,
    pub status: crate::accounts::AccountStatusValue,
    pub queues: Vec<QueueStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueStatus {
    pub queue_id: Uuid,
    pub queue_url: String,
    pub region: String,
    /// `starting`, `running`, `backing_off`, `degraded`, `stopped`, or `not_started` before a
    /// consumer first reported.
    pub consumer_state: String,
    /// Why the consumer last failed (AssumeRole denied, queue gone, …). To a tenant, ARNs,
    /// AWS account ids and key ids other than its own account's are shown redacted.
    pub last_error: Option<String>,
    /// What kind of failure `last_error` is: `credentials` (no credentials, AssumeRole or the
    /// signature refused), `queue_missing`, `throttled`, `network`, `database` or `other`.
    pub failure_kind: Option<String>,
    pub last_receive_at: Option<DateTime<Utc>>,
    /// Counters since this process began consuming the queue (a restart after a failure keeps
    /// them). They count deliveries: SQS delivers at least once, so a message delivered twice
    /// counts twice (the ledger and the quarantine keep it once).
    pub messages_received: i64,
    pub messages_committed: i64,
    /// Deliveries that ended in quarantine (see `messages_received` on redeliveries).
    pub messages_quarantined: i64,
    pub restarts: i64,
    /// Records committed per dataset since the consumer started, e.g. `{"sp-traffic": 120}`.
    pub records_committed: BTreeMap<String, i64>,
    /// Of those, records Amazon had truncated to fit an SQS message (`PAYLOAD_TRUNCATED`, DSP ad
    /// group targets): stored as they came, flagged `payload_truncated` in their table.
    pub records_truncated: i64,
    /// SQS's approximate counts, polled by the consumer; null before the first poll.
    pub approximate_backlog: Option<i64>,
    pub approximate_in_flight: Option<i64>,
    pub approximate_updated_at: Option<DateTime<Utc>>,
    /// When the runtime last saved this state.
    pub updated_at: Option<DateTime<Utc>>,
}

/// Each queue's consumer state, counters, last error and approximate backlog.
#[utoipa::path(
    tag = "accounts",
    params(("tenant" = String, Path, description = "tenant slug"), ("account" = Uuid, Path, description = "account id")),
    responses(
        (status = 200, description = "per queue", body = AccountStatus),
        (status = 404, description = "no such tenant or account", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}/accounts/{account}/status")]
pub async fn account_status(
    at: AccountPath,
) -> Result<web::Json<AccountStatus>, ApiError> {
    let AccountPath { caller, account: a, .. } = at;
    let states = a.queue_states().await?;
    let own = crate::redact::own_identifiers(a.account().aws_role_arn.as_deref(), states.iter().map(|q| q.queue_url.as_str()));
    // The operator may see the platform's identifiers; a tenant sees only its own.
    let shown = |e: String| if caller.is_operator() { e } else { crate::redact::for_tenant(&e, &own) };
    let queues = states
        .clone()
        .into_iter()
        .map(|q| QueueStatus {
            consumer_state: q.state_word().to_owned(),
            records_committed: q.records_by_dataset(),
            queue_id: q.queue_id,
            queue_url: q.queue_url,
            region: q.region,
            last_error: q.last_error.map(shown),
            failure_kind: q.failure_kind.map(|k| k.as_str().to_owned()),
            last_receive_at: q.last_receive_at,
            messages_received: q.messages_received.unwrap_or(0),
            messages_committed: q.messages_committed.unwrap_or(0),
            messages_quarantined: q.messages_quarantined.unwrap_or(0),
            restarts: q.restarts.unwrap_or(0),
            records_truncated: q.records_truncated.unwrap_or(0),
            approximate_backlog: q.approximate_visible,
            approximate_in_flight: q.approximate_in_flight,
            approximate_updated_at: q.approximate_updated_at,
            updated_at: q.updated_at,
        })
        .collect();
    Ok(web::Json(AccountStatus { account_id: a.account().id, status: a.account().status.into(), queues }))
}

/// What a tenant's ledger holds: its retention settings and the horizons retention has reached.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerStatus {
    pub retention: crate::tenants::RetentionSettings,
    /// Deltas before this instant have been dropped; a late delta older than it is quarantined
    /// (`beyond_retention`). Null: nothing has been dropped.
    pub deltas_kept_from: Option<DateTime<Utc>>,
    /// Hourly totals of Sponsored Products, Brands and Display before this instant have been
    /// dropped (their days remain in `campaign_daily`). Null: nothing has been dropped.
    pub hourly_kept_from: Option<DateTime<Utc>>,
    /// The first day (UTC) of the oldest month of deltas held.
    pub oldest_kept_day: Option<chrono::NaiveDate>,
}

/// The tenant's ledger: retention settings, horizons and the oldest month kept.
#[utoipa::path(
    tag = "tenants",
    params(("tenant" = String, Path, description = "tenant slug")),
    responses(
        (status = 200, description = "the ledger's horizons", body = LedgerStatus),
        (status = 404, description = "no such tenant (or not yours)", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}/ledger")]
pub async fn ledger_status(at: crate::scope::TenantPath) -> Result<web::Json<LedgerStatus>, ApiError> {
    let scope = at.scope;
    let h = scope.store().ledger_horizon(&scope.schema()).await?;
    Ok(web::Json(LedgerStatus {
        retention: scope.tenant().retention().into(),
        deltas_kept_from: h.deltas_kept_from,
        hourly_kept_from: h.hourly_kept_from,
        oldest_kept_day: h.oldest_kept_day,
    }))
}
