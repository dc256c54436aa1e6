//! A tenant's quarantine: list in pages, replay (decode again, e.g. after upgrading ams-hub),
//! discard.

use actix_web::{delete, get, post, web, HttpResponse};
use ams_store::{decode, Decoded, DecodedBody, Provenance, QuarantinedBody, Replayed};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::scope::TenantPath;
use crate::error::{ApiError, ErrorBody, ErrorCode};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Entries with an id greater than this (the previous page's `next_after`).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuarantineEntry {
    pub id: i64,
    /// The message body as received: its first 1,024 characters (see `body_truncated`; the
    /// whole body is at `…/quarantine/{id}/body`).
    pub body: String,
    /// The whole body's size in bytes.
    pub body_bytes: i64,
    /// Whether `body` is only the start of the body.
    pub body_truncated: bool,
    /// Stable code of why it was quarantined (e.g. `invalid_json`, `unknown_dataset`).
    pub reason_code: String,
    pub reason: String,
    /// The queue URL (or file) it came from.
    pub source: String,
    pub message_id: Option<String>,
    pub account_id: Option<Uuid>,
    pub received_at: DateTime<Utc>,
    pub quarantined_at: DateTime<Utc>,
}

impl From<QuarantinedBody> for QuarantineEntry {
    fn from(q: QuarantinedBody) -> Self {
        QuarantineEntry {
            id: q.id,
            body_truncated: (q.body.len() as i64) < q.body_bytes,
            body_bytes: q.body_bytes,
            body: q.body,
            reason_code: q.reason_code,
            reason: q.reason,
            source: q.source,
            message_id: q.message_id,
            account_id: q.hub_account_id,
            received_at: q.received_at,
            quarantined_at: q.quarantined_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuarantinePage {
    pub items: Vec<QuarantineEntry>,
    /// Pass as `after` for the next page; null on the last page.
    pub next_after: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayResult {
    /// Records the body holds.
    pub records: u64,
    /// Of those, new to the ledger (the others were already there).
    pub inserted: u64,
}

/// Quarantined bodies, oldest first.
#[utoipa::path(
    tag = "quarantine",
    params(("tenant" = String, Path, description = "tenant slug"), PageQuery),
    responses(
        (status = 200, description = "one page", body = QuarantinePage),
        (status = 400, description = "bad query parameters", body = ErrorBody),
        (status = 404, description = "no such tenant (or not yours)", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}/quarantine")]
pub async fn list_quarantine(
    at: TenantPath,
    query: web::Query<PageQuery>,
) -> Result<web::Json<QuarantinePage>, ApiError> {
    let scope = at.scope;
    let after = query.after.unwrap_or(0);
    let limit = query.limit.unwrap_or(50);
    if after < 0 || !(1..=500).contains(&limit) {
        return Err(ApiError::new(ErrorCode::InvalidQuery, "after must be ≥ 0 and limit 1 to 500"));
    }
    let rows = scope.quarantine_page(after, limit).await?;
    let next_after = (rows.len() as i64 == limit).then(|| rows.last().map(|r| r.id)).flatten();
    Ok(web::Json(QuarantinePage { items: rows.into_iter().map(QuarantineEntry::from).collect(), next_after }))
}

/// One quarantined body, whole and byte for byte, as `text/plain`.
#[utoipa::path(
    tag = "quarantine",
    params(("tenant" = String, Path, description = "tenant slug"), ("id" = i64, Path, description = "entry id")),
    responses(
        (status = 200, description = "the whole body", body = String, content_type = "text/plain"),
        (status = 404, description = "no such tenant or entry", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}/quarantine/{id}/body")]
pub async fn body(at: TenantPath, path: web::Path<(String, i64)>) -> Result<HttpResponse, ApiError> {
    let (scope, (_, id)) = (at.scope, path.into_inner());
    let entry = scope.quarantined(id).await?.ok_or_else(|| ApiError::not_found("quarantine entry"))?;
    Ok(HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(entry.body))
}

/// Decodes the body again; if it now decodes, writes its records and removes the entry.
#[utoipa::path(
    tag = "quarantine",
    params(("tenant" = String, Path, description = "tenant slug"), ("id" = i64, Path, description = "entry id")),
    responses(
        (status = 200, description = "written and removed", body = ReplayResult),
        (status = 404, description = "no such tenant or entry", body = ErrorBody),
        (status = 409, description = "a subscription confirmation: nothing to replay", body = ErrorBody),
        (status = 422, description = "still unreadable, or still refused by Postgres; the entry stays", body = ErrorBody),
    ),
)]
#[post("/v1/tenants/{tenant}/quarantine/{id}/replay")]
pub async fn replay(
    at: TenantPath,
    path: web::Path<(String, i64)>,
) -> Result<web::Json<ReplayResult>, ApiError> {
    let (scope, (_, id)) = (at.scope, path.into_inner());
    replay_entry(&scope, id).await.map(web::Json)
}

/// Decodes a quarantined body again and writes what now decodes (the API's and the
/// dashboard's replay).
pub(crate) async fn replay_entry(scope: &ams_store::TenantScope, id: i64) -> Result<ReplayResult, ApiError> {
    let entry = scope.quarantined(id).await?.ok_or_else(|| ApiError::not_found("quarantine entry"))?;
    let provenance = Provenance { hub_account_id: entry.hub_account_id, received_at: entry.received_at };
    let records = match decode(entry.body.clone(), entry.source.as_str().into(), None, provenance) {
        DecodedBody::Ledger(Decoded::Records { records, .. }) => records,
        DecodedBody::Ledger(Decoded::Quarantined(e)) => {
            return Err(ApiError::new(ErrorCode::StillUnreadable,
                format!("the body still does not decode ({}): {}", e.reason_code, e.reason),
            ))
        }
        // Confirmations are never replayed from here: that would mean calling a URL or topic
        // taken from a stored body.
        DecodedBody::Confirmation { .. } => {
            return Err(ApiError::new(ErrorCode::NotReplayable,
                "a subscription confirmation holds no records; discard it",
            ))
        }
    };
    match scope.replay_quarantined(&entry, &records).await? {
        Replayed::Written(summary) => Ok(ReplayResult {
            records: summary.datasets.values().map(|c| c.received).sum(),
            inserted: summary.inserted(),
        }),
        Replayed::StillRefused(e) => Err(ApiError::new(ErrorCode::StillRefused,
            format!("the body decodes, but Postgres still refuses its rows: {e}"),
        )),
    }
}

/// Removes an entry for good.
#[utoipa::path(
    tag = "quarantine",
    params(("tenant" = String, Path, description = "tenant slug"), ("id" = i64, Path, description = "entry id")),
    responses(
        (status = 204, description = "discarded"),
        (status = 404, description = "no such tenant or entry", body = ErrorBody),
    ),
)]
#[delete("/v1/tenants/{tenant}/quarantine/{id}")]
pub async fn discard(
    at: TenantPath,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (scope, (_, id)) = (at.scope, path.into_inner());
    if !scope.discard_quarantined(id).await? {
        return Err(ApiError::not_found("quarantine entry"));
    }
    Ok(HttpResponse::NoContent().finish())
}
