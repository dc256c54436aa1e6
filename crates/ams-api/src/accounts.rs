//! Accounts (brands) of a tenant, their marketplaces and their queues. Changes that affect
//! what is consumed (a queue added or removed, an account paused, resumed or deleted) tell
//! the runtime's supervisor to reconcile at once.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use ams_model::Marketplace as Seed;
use ams_store::control::{account, marketplace, queue};
use ams_store::random_secret;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::{validate, ApiState};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// The role in the brand's AWS account to assume for its queues. Without one, the account
    /// waits for its role (set it later with PATCH) unless the operator allowed the tenant the
    /// platform's own AWS identity.
    pub aws_role_arn: Option<String>,
    /// Operator only (to adopt an existing role): ams-hub generates every external id, so a
    /// tenant cannot choose one that another party's role trusts. Returned only in this
    /// response.
    pub external_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Account {
    pub id: Uuid,
    pub name: String,
    pub aws_role_arn: Option<String>,
    /// `active` or `paused`.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

impl From<&account::Model> for Account {
    fn from(a: &account::Model) -> Self {
        Account { id: a.id, name: a.name.clone(), aws_role_arn: a.aws_role_arn.clone(), status: a.status.clone(), created_at: a.created_at.into() }
    }
}

/// The new account with its external id (shown this once).
#[derive(Serialize, ToSchema)]
pub struct CreatedAccount {
    #[serde(flatten)]
    pub account: Account,
    /// Put it in the role's trust policy (`sts:ExternalId`); it is not shown again.
    pub external_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatusValue {
    Active,
    Paused,
}

/// What to change; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    /// `paused` stops the account's consumers (in-flight work is committed first).
    pub status: Option<AccountStatusValue>,
    /// The role to assume for the account's queues (consumers restart with it).
    pub aws_role_arn: Option<String>,
    /// Operator only: replace the external id (to adopt an existing role's trust policy).
    pub external_id: Option<String>,
}

// External ids are secrets: these types show that one is there, never what it is.
impl std::fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount")
            .field("name", &self.name)
            .field("aws_role_arn", &self.aws_role_arn)
            .field("external_id", &self.external_id.as_ref().map(|_| crate::redact::REDACTED))
            .finish()
    }
}

impl std::fmt::Debug for CreatedAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedAccount").field("account", &self.account).field("external_id", &crate::redact::REDACTED).finish()
    }
}

impl std::fmt::Debug for AccountPatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountPatch")
            .field("status", &self.status)
            .field("aws_role_arn", &self.aws_role_arn)
            .field("external_id", &self.external_id.as_ref().map(|_| crate::redact::REDACTED))
            .finish()
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMarketplace {
    /// A marketplace code: US, CA, MX, BR, AE, DE, EG, ES, FR, BE, UK, IN, IT, NL, PL, SA, SE,
    /// TR, SG, AU, JP.
    #[schema(example = "US")]
    pub marketplace: String,
    /// The Amazon Ads profile id of the account in this marketplace.
    pub profile_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Marketplace {
    pub code: String,
    /// Amazon's marketplace id, as in the records' `marketplace_id`.
    pub marketplace_id: String,
    /// NA, EU or FE.
    pub realm: String,
    /// Where this realm's queues must live.
    pub region: String,
    pub api_endpoint: String,
    pub profile_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<marketplace::Model> for Marketplace {
    fn from(m: marketplace::Model) -> Self {
        Marketplace {
            code: m.code,
            marketplace_id: m.marketplace_id,
            realm: m.realm,
            region: m.region,
            api_endpoint: m.api_endpoint,
            profile_id: m.profile_id,
            created_at: m.created_at.into(),
        }
    }
}

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

/// Creates an account (a brand) in the tenant.
#[utoipa::path(
    tag = "accounts",
    params(("tenant" = String, Path, description = "tenant slug")),
    request_body = NewAccount,
    responses(
        (status = 201, description = "created; keep the external id", body = CreatedAccount),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "no or unknown token", body = ErrorBody),
        (status = 404, description = "no such tenant (or not yours)", body = ErrorBody),
        (status = 409, description = "an account with this name exists", body = ErrorBody),
        (status = 422, description = "invalid name or role ARN; an external id sent with a tenant key", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/v1/tenants/{tenant}/accounts")]
pub async fn create_account(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    body: web::Json<NewAccount>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.tenant(&state, &path).await?;
    validate::name("name", &body.name, 200).map_err(ApiError::invalid)?;
    if let Some(arn) = &body.aws_role_arn {
        validate::role_arn(arn).map_err(ApiError::invalid)?;
    }
    if let Some(id) = &body.external_id {
        chosen_external_id(&caller, id)?;
    }
    let external_id = body.external_id.clone().unwrap_or_else(|| random_secret("ams-"));
    let a = scope.create_account(body.name.trim(), body.aws_role_arn.as_deref(), &external_id).await?;
    tracing::info!(tenant = %scope.slug(), account = %a.id, "account created");
    Ok(HttpResponse::Created().json(CreatedAccount { account: Account::from(&a), external_id }))
}

/// An external id in a request: only the operator chooses one (AWS's confused-deputy
/// guidance: the service, not its customer, picks the external id).
fn chosen_external_id(caller: &Caller, id: &str) -> Result<(), ApiError> {
    if !caller.is_operator() {
        return Err(ApiError::invalid(
            "external_id is generated by ams-hub and cannot be chosen with a tenant API key; \
             the operator may set one to adopt an existing role",
        ));
    }
    validate::external_id(id).map_err(ApiError::invalid)
}

/// The tenant's accounts.
#[utoipa::path(
    tag = "accounts",
    params(("tenant" = String, Path, description = "tenant slug")),
    responses(
        (status = 200, description = "accounts, oldest first", body = Vec<Account>),
        (status = 401, description = "no or unknown token", body = ErrorBody),
        (status = 404, description = "no such tenant (or not yours)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/v1/tenants/{tenant}/accounts")]
pub async fn list_accounts(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<web::Json<Vec<Account>>, ApiError> {
    let scope = caller.tenant(&state, &path).await?;
    Ok(web::Json(scope.accounts().await?.iter().map(Account::from).collect()))
}

/// One account.
#[utoipa::path(
    tag = "accounts",
    params(("tenant" = String, Path, description = "tenant slug"), ("account" = Uuid, Path, description = "account id")),
    responses(
        (status = 200, description = "the account", body = Account),
        (status = 401, description = "no or unknown token", body = ErrorBody),
        (status = 404, description = "no such tenant or account", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/v1/tenants/{tenant}/accounts/{account}")]
pub async fn get_account(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<(String, Uuid)>,
) -> Result<web::Json<Account>, ApiError> {
    let (tenant, account) = path.into_inner();
    let a = caller.account(&state, &tenant, account).await?;
    Ok(web::Json(Account::from(a.account())))
}

/// Pauses or resumes an account's consumers, or sets its role.
#[utoipa::path(
    tag = "accounts",
    params(("tenant" = String, Path, description = "tenant slug"), ("account" = Uuid, Path, description = "account id")),
    request_body = AccountPatch,
    responses(
        (status = 200, description = "updated", body = Account),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "no or unknown token", body = ErrorBody),
        (status = 404, description = "no such tenant or account", body = ErrorBody),
        (status = 422, description = "nothing to change, a bad status or role ARN, or an external id sent with a tenant key", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[patch("/v1/tenants/{tenant}/accounts/{account}")]
pub async fn patch_account(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<(String, Uuid)>,
    body: web::Json<AccountPatch>,
) -> Result<web::Json<Account>, ApiError> {
    let (tenant, account) = path.into_inner();
    let mut a = caller.account(&state, &tenant, account).await?;
    if body.status.is_none() && body.aws_role_arn.is_none() && body.external_id.is_none() {
        return Err(ApiError::invalid("nothing to change: send `status`, `aws_role_arn` or (operator) `external_id`"));
    }
    if let Some(arn) = &body.aws_role_arn {
        validate::role_arn(arn).map_err(ApiError::invalid)?;
    }
    if let Some(id) = &body.external_id {
        chosen_external_id(&caller, id)?;
    }
    let status = body.status.as_ref().map(|s| match s {
        AccountStatusValue::Active => "active",
        AccountStatusValue::Paused => "paused",
    });
    a.update(status, body.aws_role_arn.as_deref(), body.external_id.as_deref()).await?;
    tracing::info!(tenant = %tenant, account = %account, status = ?status, role_changed = body.aws_role_arn.is_some(),
        external_id_changed = body.external_id.is_some(), "account changed");
    state.reconcile();
    Ok(web::Json(Account::from(a.account())))
}

/// Deletes an account with its marketplaces and queues; its consumers stop. Its data stays.
#[utoipa::path(
    tag = "accounts",
    params(("tenant" = String, Path, description = "tenant slug"), ("account" = Uuid, Path, description = "account id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 401, description = "no or unknown token", body = ErrorBody),
        (status = 404, description = "no such tenant or account", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[delete("/v1/tenants/{tenant}/accounts/{account}")]
pub async fn delete_account(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, account) = path.into_inner();
    caller.account(&state, &tenant, account).await?.delete().await?;
    tracing::info!(tenant = %tenant, account = %account, "account deleted");
    state.reconcile();
    Ok(HttpResponse::NoContent().finish())
}

/// Adds a marketplace; its realm, queue region and Ads API endpoint follow from the code.
#[utoipa::path(
    tag = "marketplaces",
    params(("tenant" = String, Path, description = "tenant slug"), ("account" = Uuid, Path, description = "account id")),
    request_body = NewMarketplace,
    responses(
        (status = 201, description = "added", body = Marketplace),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "no or unknown token", body = ErrorBody),
        (status = 404, description = "no such tenant or account", body = ErrorBody),
        (status = 409, description = "already added", body = ErrorBody),
        (status = 422, description = "unknown marketplace code or bad profile id", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/v1/tenants/{tenant}/accounts/{account}/marketplaces")]
pub async fn add_marketplace(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<(String, Uuid)>,
    body: web::Json<NewMarketplace>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, account) = path.into_inner();
    let a = caller.account(&state, &tenant, account).await?;
    let seed = Seed::by_code(&body.marketplace).ok_or_else(|| {
        let codes: Vec<_> = ams_model::MARKETPLACES.iter().map(|m| m.code).collect();
        ApiError::invalid(format!(
            "unknown marketplace {:?}; use one of {}",
            validate::shown(&body.marketplace),
            codes.join(", ")
        ))
    })?;
    if let Some(p) = &body.profile_id {
        validate::profile_id(p).map_err(ApiError::invalid)?;
    }
    let m = a.add_marketplace(seed, body.profile_id.as_deref()).await?;
    Ok(HttpResponse::Created().json(Marketplace::from(m)))
}

/// The account's marketplaces.
#[utoipa::path(
    tag = "marketplaces",
    params(("tenant" = String, Path, description = "tenant slug"), ("account" = Uuid, Path, description = "account id")),
    responses(
        (status = 200, description = "marketplaces by code", body = Vec<Marketplace>),
        (status = 401, description = "no or unknown token", body = ErrorBody),
        (status = 404, description = "no such tenant or account", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/v1/tenants/{tenant}/accounts/{account}/marketplaces")]
pub async fn list_marketplaces(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<(String, Uuid)>,
) -> Result<web::Json<Vec<Marketplace>>, ApiError> {
    let (tenant, account) = path.into_inner();
    let a = caller.account(&state, &tenant, account).await?;
    Ok(web::Json(a.marketplaces().await?.into_iter().map(Marketplace::from).collect()))
}

/// Removes a marketplace (by code) from the account.
#[utoipa::path(
    tag = "marketplaces",
    params(
        ("tenant" = String, Path, description = "tenant slug"),
        ("account" = Uuid, Path, description = "account id"),
        ("code" = String, Path, description = "marketplace code, e.g. US"),
    ),
    responses(
        (status = 204, description = "removed"),
        (status = 401, description = "no or unknown token", body = ErrorBody),
        (status = 404, description = "no such tenant, account or marketplace", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[delete("/v1/tenants/{tenant}/accounts/{account}/marketplaces/{code}")]
pub async fn delete_marketplace(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<(String, Uuid, String)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, account, code) = path.into_inner();
    let a = caller.account(&state, &tenant, account).await?;
    if !a.delete_marketplace(&code).await? {
        return Err(ApiError::not_found("marketplace"));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Registers a queue; the runtime starts consuming it within seconds.
#[utoipa::path(
    tag = "queues",
    params(("tenant" = String, Path, description = "tenant slug"), ("account" = Uuid, Path, description = "account id")),
    request_body = NewQueue,
    responses(
        (status = 201, description = "registered", body = Queue),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "no or unknown token", body = ErrorBody),
        (status = 404, description = "no such tenant or account", body = ErrorBody),
        (status = 409, description = "the queue is registered already (in any spelling of its URL, by anyone)", body = ErrorBody),
        (status = 422, description = "not a standard SQS queue URL, its region does not match the account's marketplaces, or the account has no role yet", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/v1/tenants/{tenant}/accounts/{account}/queues")]
pub async fn add_queue(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<(String, Uuid)>,
    body: web::Json<NewQueue>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, account) = path.into_inner();
    let scope = caller.tenant(&state, &tenant).await?;
    let a = scope.account(account).await?.ok_or_else(|| ApiError::not_found("account"))?;
    let url = validate::queue_url(&body.queue_url, state.emulator_origin.as_deref()).map_err(ApiError::invalid)?;
    if a.account().aws_role_arn.is_none() && !scope.tenant().allow_platform_identity {
        // Reading through the platform's own identity could reach any queue that identity can
        // read, other tenants' included: the operator decides that per tenant.
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "role_required",
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
    tracing::info!(tenant = %tenant, account = %account, queue = %q.queue_url, "queue registered");
    state.reconcile();
    Ok(HttpResponse::Created().json(Queue::from(q)))
}

/// The account's queues.
#[utoipa::path(
    tag = "queues",
    params(("tenant" = String, Path, description = "tenant slug"), ("account" = Uuid, Path, description = "account id")),
    responses(
        (status = 200, description = "queues, oldest first", body = Vec<Queue>),
        (status = 401, description = "no or unknown token", body = ErrorBody),
        (status = 404, description = "no such tenant or account", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/v1/tenants/{tenant}/accounts/{account}/queues")]
pub async fn list_queues(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<(String, Uuid)>,
) -> Result<web::Json<Vec<Queue>>, ApiError> {
    let (tenant, account) = path.into_inner();
    let a = caller.account(&state, &tenant, account).await?;
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
        (status = 401, description = "no or unknown token", body = ErrorBody),
        (status = 404, description = "no such tenant, account or queue", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[delete("/v1/tenants/{tenant}/accounts/{account}/queues/{queue}")]
pub async fn delete_queue(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<(String, Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, account, queue) = path.into_inner();
    let a = caller.account(&state, &tenant, account).await?;
    if !a.delete_queue(queue).await? {
        return Err(ApiError::not_found("queue"));
    }
    state.reconcile();
    Ok(HttpResponse::NoContent().finish())
}
