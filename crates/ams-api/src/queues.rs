//! An account's SQS queues: registering one starts its consumer within seconds (the
//! supervisor is told to reconcile at once); removing one stops it after its commits.

use actix_web::{delete, get, post, web, HttpResponse};
use ams_store::control::queue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::scope::AccountPath;
use crate::error::{ApiError, ErrorBody};
use crate::{validate, ApiState};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewQueue {
    /// A standard SQS queue URL: `https://sqs.<region>.amazonaws.com/<account id>/<name>`.
    pub queue_url: String,
    /// Needed only for an emulator's URL, which does not name its region (and then only when
    /// the account's marketplaces do not settle it).
    pub region: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Queue {
    pub id: Uuid,
    pub queue_url: String,
    pub region: String,
    pub created_at: DateTime<Utc>,
}

impl From<queue::Model> for Queue {
    fn from(q: queue::Model) -> Self {
        Queue { id: q.id, queue_url: q.queue_url, region: q.region, created_at: q.created_at.into() }
    }
}

/// Registers a queue; the runtime starts consuming it within seconds.
#[utoipa::path(
    tag = "queues",
    params(("tenant" = String, Path, description = "tenant slug"), ("account" = Uuid, Path, description = "account id")),
    request_body = NewQueue,
    responses(
        (status = 201, description = "registered", body = Queue),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 404, description = "no such tenant or account", body = ErrorBody),
        (status = 409, description = "the queue is registered already (in any spelling of its URL, by anyone)", body = ErrorBody),
        (status = 422, description = "not a standard SQS queue URL, its region does not match the account's marketplaces, or the account has no role yet", body = ErrorBody),
    ),
)]
#[post("/v1/tenants/{tenant}/accounts/{account}/queues")]
pub async fn add_queue(
    at: AccountPath,
    state: web::Data<ApiState>,
    body: web::Json<NewQueue>,
) -> Result<HttpResponse, ApiError> {
    let AccountPath { tenant: scope, account: a, .. } = at;
    let url = validate::queue_url(&body.queue_url, state.emulator_origin.as_deref()).map_err(ApiError::invalid)?;
    if a.account().aws_role_arn.is_none() && !scope.tenant().allow_platform_identity {
        // Reading through the platform's own identity could reach any queue that identity can
        // read, other tenants' included: the operator decides that per tenant.
        return Err(ApiError::new(
            crate::error::ErrorCode::RoleRequired,
            "this account has no aws_role_arn yet: its queues are read through the brand's IAM role. Set it with \
             PATCH /v1/tenants/{tenant}/accounts/{account} {\"aws_role_arn\": …}, then register the queue",
        ));
    }
    let marketplaces = a.marketplaces().await?;
    let mut regions: Vec<&str> = marketplaces.iter().map(|m| m.region.as_str()).collect();
    regions.sort();
    regions.dedup();
    let region = match (url.region, &body.region) {
        (Some(r), Some(given)) if r != *given => {
            return Err(ApiError::invalid(format!("the queue URL is in {r}, not {}", validate::shown(given))))
        }
        (Some(r), _) => r,
        (None, Some(given)) => given.clone(),
        (None, None) if regions.len() == 1 => regions[0].to_owned(),
        (None, None) => {
            return Err(ApiError::invalid(
                "this queue URL does not name its region: add `region` (or add the account's marketplaces first)",
            ))
        }
    };
    validate::realm_of(&region).map_err(ApiError::invalid)?;
    if !regions.is_empty() && !regions.contains(&region.as_str()) {
        let codes: Vec<&str> = marketplaces.iter().map(|m| m.code.as_str()).collect();
        return Err(ApiError::invalid(format!(
            "the queue is in {region}, but the account's marketplaces ({}) deliver to {}: Amazon Marketing Stream sends each realm's data to a queue in that realm's region",
            codes.join(", "),
            regions.join(" or ")
        )));
    }
    let q = a.add_queue(&url.canonical, &region).await?;
    tracing::info!(tenant = %scope.slug(), account = %a.account().id, queue = %q.queue_url, "queue registered");
    state.reconcile();
    Ok(HttpResponse::Created().json(Queue::from(q)))
}

/// The account's queues.
#[utoipa::path(
    tag = "queues",
    params(("tenant" = String, Path, description = "tenant slug"), ("account" = Uuid, Path, description = "account id")),
    responses(
        (status = 200, description = "queues, oldest first", body = Vec<Queue>),
        (status = 404, description = "no such tenant or account", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}/accounts/{account}/queues")]
pub async fn list_queues(
    at: AccountPath,
) -> Result<web::Json<Vec<Queue>>, ApiError> {
    let a = at.account;
    Ok(web::Json(a.queues().await?.into_iter().map(Queue::from).collect()))
}

/// Unregisters a queue; its consumer stops after committing what it holds.
#[utoipa::path(
    tag = "queues",
    params(
        ("tenant" = String, Path, description = "tenant slug"),
        ("account" = Uuid, Path, description = "account id"),
        ("queue" = Uuid, Path, description = "queue id"),
    ),
    responses(
        (status = 204, description = "unregistered"),
        (status = 404, description = "no such tenant, account or queue", body = ErrorBody),
    ),
)]
#[delete("/v1/tenants/{tenant}/accounts/{account}/queues/{queue}")]
pub async fn delete_queue(
    at: AccountPath,
    state: web::Data<ApiState>,
    path: web::Path<(String, Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (a, (_, _, queue)) = (at.account, path.into_inner());
    if !a.delete_queue(queue).await? {
        return Err(ApiError::not_found("queue"));
    }
    state.reconcile();
    Ok(HttpResponse::NoContent().finish())
}
