//! Accounts (brands) of a tenant (their marketplaces: marketplaces.rs; their queues:
//! queues.rs). Changes that affect what is consumed (an account paused, resumed or deleted)
//! tell the runtime's supervisor to reconcile at once.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use ams_store::control::account;
use ams_store::{random_secret, AccountStatus};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::scope::{AccountPath, TenantPath};
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
    pub status: AccountStatusValue,
    pub created_at: DateTime<Utc>,
}

impl From<&account::Model> for Account {
    fn from(a: &account::Model) -> Self {
        Account { id: a.id, name: a.name.clone(), aws_role_arn: a.aws_role_arn.clone(), status: a.status.into(), created_at: a.created_at.into() }
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

/// `paused`: the account's queues are not consumed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatusValue {
    Active,
    Paused,
}

impl From<AccountStatus> for AccountStatusValue {
    fn from(s: AccountStatus) -> Self {
        match s {
            AccountStatus::Active => AccountStatusValue::Active,
            AccountStatus::Paused => AccountStatusValue::Paused,
        }
    }
}

impl From<AccountStatusValue> for AccountStatus {
    fn from(s: AccountStatusValue) -> Self {
        match s {
            AccountStatusValue::Active => AccountStatus::Active,
            AccountStatusValue::Paused => AccountStatus::Paused,
        }
    }
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

/// Creates an account (a brand) in the tenant.
#[utoipa::path(
    tag = "accounts",
    params(("tenant" = String, Path, description = "tenant slug")),
    request_body = NewAccount,
    responses(
        (status = 201, description = "created; keep the external id", body = CreatedAccount),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 404, description = "no such tenant (or not yours)", body = ErrorBody),
        (status = 409, description = "an account with this name exists", body = ErrorBody),
        (status = 422, description = "invalid name or role ARN; an external id sent with a tenant key", body = ErrorBody),
    ),
)]
#[post("/v1/tenants/{tenant}/accounts")]
pub async fn create_account(
    at: TenantPath,
    body: web::Json<NewAccount>,
) -> Result<HttpResponse, ApiError> {
    let TenantPath { caller, scope } = at;
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
        (status = 404, description = "no such tenant (or not yours)", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}/accounts")]
pub async fn list_accounts(
    at: TenantPath,
) -> Result<web::Json<Vec<Account>>, ApiError> {
    let scope = at.scope;
    Ok(web::Json(scope.accounts().await?.iter().map(Account::from).collect()))
}

/// One account.
#[utoipa::path(
    tag = "accounts",
    params(("tenant" = String, Path, description = "tenant slug"), ("account" = Uuid, Path, description = "account id")),
    responses(
        (status = 200, description = "the account", body = Account),
        (status = 404, description = "no such tenant or account", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}/accounts/{account}")]
pub async fn get_account(
    at: AccountPath,
) -> Result<web::Json<Account>, ApiError> {
    let a = at.account;
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
        (status = 404, description = "no such tenant or account", body = ErrorBody),
        (status = 422, description = "nothing to change, a bad status or role ARN, or an external id sent with a tenant key", body = ErrorBody),
    ),
)]
#[patch("/v1/tenants/{tenant}/accounts/{account}")]
pub async fn patch_account(
    at: AccountPath,
    state: web::Data<ApiState>,
    body: web::Json<AccountPatch>,
) -> Result<web::Json<Account>, ApiError> {
    let AccountPath { caller, tenant, account: mut a } = at;
    if body.status.is_none() && body.aws_role_arn.is_none() && body.external_id.is_none() {
        return Err(ApiError::invalid("nothing to change: send `status`, `aws_role_arn` or (operator) `external_id`"));
    }
    if let Some(arn) = &body.aws_role_arn {
        validate::role_arn(arn).map_err(ApiError::invalid)?;
    }
    if let Some(id) = &body.external_id {
        chosen_external_id(&caller, id)?;
    }
    let status = body.status.map(AccountStatus::from);
    a.update(status, body.aws_role_arn.as_deref(), body.external_id.as_deref()).await?;
    tracing::info!(tenant = %tenant.slug(), account = %a.account().id, status = ?status, role_changed = body.aws_role_arn.is_some(),
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
        (status = 404, description = "no such tenant or account", body = ErrorBody),
    ),
)]
#[delete("/v1/tenants/{tenant}/accounts/{account}")]
pub async fn delete_account(
    at: AccountPath,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let id = at.account.account().id;
    at.account.delete().await?;
    tracing::info!(tenant = %at.tenant.slug(), account = %id, "account deleted");
    state.reconcile();
    Ok(HttpResponse::NoContent().finish())
}

