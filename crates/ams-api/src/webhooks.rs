//! Webhooks (`/v1/tenants/{tenant}/webhooks`): where a tenant's alerts are sent, signed as
//! Standard Webhooks specifies, and what each delivery's attempts got back. The signing secret
//! is in the creating answer only. Making and deleting a webhook (data leaving ams-hub) takes
//! the operator or an `admin` key; sending a test or replaying, a `write` key.

use actix_web::{delete, get, post, web, HttpResponse};
use ams_store::webhooks::{self as store, rules, Attempt as StoredAttempt, Delivery as StoredDelivery, Webhook as StoredWebhook};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::scope::TenantPath;
use crate::{validate, ApiState};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// `https://…` (plain http only to hosts the operator allows:
    /// `AMS_HUB_WEBHOOK_ALLOW_HTTP_HOSTS`). Never a private, loopback or link-local address,
    /// checked again at every send after DNS.
    pub url: String,
    /// Event types it takes; absent: every `alert.*` type.
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl From<StoredWebhook> for Webhook {
    fn from(w: StoredWebhook) -> Self {
        Webhook { id: w.id, url: w.url, description: w.description, events: w.events, created_at: w.created_at }
    }
}

/// A new webhook with its signing secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_…`: verify `webhook-signature` with it (any Standard Webhooks library).
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Attempt {
    pub attempt: i32,
    pub at: DateTime<Utc>,
    /// The endpoint's HTTP status; null when there was no answer.
    pub response_status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    pub id: Uuid,
    /// `webhook-id`: the same for every attempt and replay (deduplicate on it).
    pub message_id: String,
    pub event_type: String,
    /// `pending`, `succeeded`, or `failed` (24 hours without a 2xx answer).
    pub status: String,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// The body sent: `{type, timestamp, data}`.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub attempts: Vec<Attempt>,
}

fn delivery(d: StoredDelivery, attempts: Vec<StoredAttempt>) -> Delivery {
    Delivery {
        id: d.id,
        message_id: d.message_id,
        event_type: d.event_type,
        status: d.status,
        next_attempt_at: d.next_attempt_at,
        created_at: d.created_at,
        payload: d.payload,
        attempts: attempts
            .into_iter()
            .map(|a| Attempt { attempt: a.attempt, at: a.at, response_status: a.response_status, error: a.error, duration_ms: a.duration_ms })
            .collect(),
    }
}

/// The event types a webhook may take (the test event goes to one webhook on request).
fn events(asked: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    let alerts: Vec<&str> = store::EVENT_TYPES.iter().copied().filter(|e| *e != store::TEST_EVENT).collect();
    let Some(mut asked) = asked else {
        return Ok(alerts.iter().map(|e| (*e).to_owned()).collect());
    };
    if asked.is_empty() {
        return Err(ApiError::invalid("events is empty: list the event types to send, or leave it out for all"));
    }
    if let Some(bad) = asked.iter().find(|e| !alerts.contains(&e.as_str())) {
        return Err(ApiError::invalid(format!("events: {:?} is not an event type (one of {})", validate::shown(bad), alerts.join(", "))));
    }
    asked.sort();
    asked.dedup();
    Ok(asked)
}

/// Registers a webhook (operator or an `admin` key). The signing secret is in this answer only.
#[utoipa::path(
    tag = "webhooks",
    params(("tenant" = String, Path, description = "tenant slug")),
    request_body = NewWebhook,
    responses(
        (status = 201, description = "created; keep the secret", body = CreatedWebhook),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 403, description = "not the operator or an admin key; or a disabled tenant", body = ErrorBody),
        (status = 404, description = "no such tenant (or not yours)", body = ErrorBody),
        (status = 409, description = "the tenant has as many webhooks as it may", body = ErrorBody),
        (status = 422, description = "a URL that is not https, carries credentials or names a refused address; an unknown event type", body = ErrorBody),
        (status = 503, description = "the server has no AMS_HUB_SECRET_KEY to seal the secret with", body = ErrorBody),
    ),
)]
#[post("/v1/tenants/{tenant}/webhooks")]
pub async fn create_webhook(at: TenantPath, state: web::Data<ApiState>, body: web::Json<NewWebhook>) -> Result<HttpResponse, ApiError> {
    at.caller.admin("registers and deletes webhooks (they send the tenant's data out)")?;
    let b = body.into_inner();
    let url = rules::check_url(b.url.trim(), &state.webhook_hosts).map_err(ApiError::invalid)?;
    let description = b.description.unwrap_or_default();
    if description.chars().count() > 200 || description.chars().any(char::is_control) {
        return Err(ApiError::invalid("description must be at most 200 printable characters"));
    }
    let events = events(b.events)?;
    let made = at.scope.create_webhook(url.as_str(), &events, description.trim()).await?;
    tracing::info!(tenant = %at.scope.slug(), webhook = %made.webhook.id, host = url.host_str().unwrap_or(""), "webhook created");
    Ok(HttpResponse::Created().json(CreatedWebhook { webhook: made.webhook.into(), secret: made.secret }))
}

/// The tenant's webhooks (never their secrets).
#[utoipa::path(
    tag = "webhooks",
    params(("tenant" = String, Path, description = "tenant slug")),
    responses((status = 200, description = "webhooks, oldest first", body = Vec<Webhook>), (status = 404, description = "no such tenant (or not yours)", body = ErrorBody)),
)]
#[get("/v1/tenants/{tenant}/webhooks")]
pub async fn list_webhooks(at: TenantPath) -> Result<web::Json<Vec<Webhook>>, ApiError> {
    Ok(web::Json(at.scope.webhooks().await?.into_iter().map(Webhook::from).collect()))
}

/// Deletes a webhook (operator or an `admin` key); its pending deliveries are not sent.
#[utoipa::path(
    tag = "webhooks",
    params(("tenant" = String, Path, description = "tenant slug"), ("webhook" = Uuid, Path, description = "webhook id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "not the operator or an admin key; or a disabled tenant", body = ErrorBody),
        (status = 404, description = "no such tenant or webhook", body = ErrorBody),
    ),
)]
#[delete("/v1/tenants/{tenant}/webhooks/{webhook}")]
pub async fn delete_webhook(at: TenantPath, path: web::Path<(String, Uuid)>) -> Result<HttpResponse, ApiError> {
    at.caller.admin("registers and deletes webhooks (they send the tenant's data out)")?;
    if !at.scope.delete_webhook(path.1).await? {
        return Err(ApiError::not_found("webhook"));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// How many, newest first (1 to 200, default 50).
    pub limit: Option<i64>,
}

/// A webhook's deliveries, newest first, each with its attempts.
#[utoipa::path(
    tag = "webhooks",
    params(("tenant" = String, Path, description = "tenant slug"), ("webhook" = Uuid, Path, description = "webhook id"), DeliveriesQuery),
    responses(
        (status = 200, description = "deliveries", body = Vec<Delivery>),
        (status = 400, description = "limit out of range", body = ErrorBody),
        (status = 404, description = "no such tenant or webhook", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}/webhooks/{webhook}/deliveries")]
pub async fn list_deliveries(at: TenantPath, path: web::Path<(String, Uuid)>, query: web::Query<DeliveriesQuery>) -> Result<web::Json<Vec<Delivery>>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::new(ErrorCode::InvalidQuery, "limit must be 1 to 200"));
    }
    at.scope.webhook(path.1).await?.ok_or_else(|| ApiError::not_found("webhook"))?;
    let list = at.scope.deliveries(path.1, limit).await?;
    Ok(web::Json(list.into_iter().map(|(d, a)| delivery(d, a)).collect()))
}

/// Sends a delivery again now, with the same `webhook-id`, and 24 more hours of retries.
#[utoipa::path(
    tag = "webhooks",
    params(
        ("tenant" = String, Path, description = "tenant slug"),
        ("webhook" = Uuid, Path, description = "webhook id"),
        ("delivery" = Uuid, Path, description = "delivery id"),
    ),
    responses(
        (status = 202, description = "queued to be sent again", body = Delivery),
        (status = 403, description = "a read-only key, or a disabled tenant", body = ErrorBody),
        (status = 404, description = "no such tenant, webhook or delivery", body = ErrorBody),
    ),
)]
#[post("/v1/tenants/{tenant}/webhooks/{webhook}/deliveries/{delivery}/replay")]
pub async fn replay_delivery(at: TenantPath, path: web::Path<(String, Uuid, Uuid)>) -> Result<HttpResponse, ApiError> {
    let (_, hook, id) = path.into_inner();
    let d = at.scope.replay_delivery(hook, id).await?.ok_or_else(|| ApiError::not_found("delivery"))?;
    Ok(HttpResponse::Accepted().json(delivery(d, Vec::new())))
}

/// Sends a `webhook.test` event to this webhook (whatever its `events`).
#[utoipa::path(
    tag = "webhooks",
    params(("tenant" = String, Path, description = "tenant slug"), ("webhook" = Uuid, Path, description = "webhook id")),
    responses(
        (status = 202, description = "queued; its attempts show under deliveries", body = Delivery),
        (status = 403, description = "a read-only key, or a disabled tenant", body = ErrorBody),
        (status = 404, description = "no such tenant or webhook", body = ErrorBody),
    ),
)]
#[post("/v1/tenants/{tenant}/webhooks/{webhook}/test")]
pub async fn test_webhook(at: TenantPath, path: web::Path<(String, Uuid)>) -> Result<HttpResponse, ApiError> {
    let d = at.scope.test_webhook(path.1).await?.ok_or_else(|| ApiError::not_found("webhook"))?;
    Ok(HttpResponse::Accepted().json(delivery(d, Vec::new())))
}
