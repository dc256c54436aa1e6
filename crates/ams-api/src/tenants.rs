//! Tenants (operator only) and their API keys.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use ams_store::control::{api_key, tenant};
use ams_store::{KeyScope, TenantSlug, TenantStatus};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::scope::TenantPath;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::{validate, ApiState};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// `^[a-z][a-z0-9_]{2,39}$`; the tenant's schema is `tenant_<slug>`.
    #[schema(pattern = "^[a-z][a-z0-9_]{2,39}$", min_length = 3, max_length = 40)]
    pub slug: String,
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Tenant {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub status: TenantStatusValue,
    /// Whether accounts without a role are read with the platform's own AWS identity.
    pub allow_platform_identity: bool,
    /// The Postgres schema holding the tenant's data.
    pub schema: String,
    pub created_at: DateTime<Utc>,
    /// How long its ledger is kept (the status says what it holds now).
    pub retention: RetentionSettings,
}

/// How long a tenant's ledger is kept; `null`: for ever (the default). Whole months go: the
/// month holding the oldest day kept stays. A delta that arrives older than the deltas kept is
/// quarantined (`beyond_retention`), never added to totals whose deltas are gone.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Days of raw deltas kept: at least 30 (Amazon corrects an hour for longer than SQS
    /// keeps a message).
    #[schema(minimum = 30)]
    #[serde(default)]
    pub deltas_days: Option<u32>,
    /// Days of hourly totals kept for Sponsored Products, Brands and Display (their days stay
    /// in `campaign_daily`, so reports by day and in total work for any range); at least
    /// `deltas_days`, and only with it. Other datasets' hourly totals are kept for ever.
    #[serde(default)]
    pub hourly_days: Option<u32>,
}

impl From<tenant::Model> for Tenant {
    fn from(t: tenant::Model) -> Self {
        Tenant {
            id: t.id,
            schema: ams_store::TenantSchema::of(&t.slug).name().to_owned(),
            slug: t.slug.to_string(),
            retention: t.retention().into(),
            name: t.name,
            status: t.status.into(),
            allow_platform_identity: t.allow_platform_identity,
            created_at: t.created_at.into(),
        }
    }
}

/// `disabled`: the tenant's keys reach nothing and its queues are not consumed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatusValue {
    Active,
    Disabled,
}

impl From<TenantStatus> for TenantStatusValue {
    fn from(s: TenantStatus) -> Self {
        match s {
            TenantStatus::Active => TenantStatusValue::Active,
            TenantStatus::Disabled => TenantStatusValue::Disabled,
        }
    }
}

impl From<TenantStatusValue> for TenantStatus {
    fn from(s: TenantStatusValue) -> Self {
        match s {
            TenantStatusValue::Active => TenantStatus::Active,
            TenantStatusValue::Disabled => TenantStatus::Disabled,
        }
    }
}

impl From<ams_store::Retention> for RetentionSettings {
    fn from(r: ams_store::Retention) -> Self {
        RetentionSettings { deltas_days: r.deltas_days, hourly_days: r.hourly_days }
    }
}

impl From<RetentionSettings> for ams_store::Retention {
    fn from(r: RetentionSettings) -> Self {
        ams_store::Retention { deltas_days: r.deltas_days, hourly_days: r.hourly_days }
    }
}

/// The operator's settings of a tenant; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    /// `disabled`: its keys get 403 `tenant_disabled` on every route and its consumers stop
    /// (after committing what they hold); `active` undoes it.
    pub status: Option<TenantStatusValue>,
    /// Let accounts without `aws_role_arn` be read with the platform's own AWS identity. Off
    /// by default: that identity may be able to read queues of other tenants.
    pub allow_platform_identity: Option<bool>,
    /// Replaces the retention settings (a field left out: kept for ever). The runtime applies
    /// them within the hour.
    pub retention: Option<RetentionSettings>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApiKeyScope {
    /// GET only.
    Read,
    /// Everything of the tenant but API keys (the default).
    #[default]
    Write,
    /// `write` plus creating and revoking API keys.
    Admin,
}

impl From<KeyScope> for ApiKeyScope {
    fn from(s: KeyScope) -> ApiKeyScope {
        match s {
            KeyScope::Read => ApiKeyScope::Read,
            KeyScope::Write => ApiKeyScope::Write,
            KeyScope::Admin => ApiKeyScope::Admin,
        }
    }
}

impl From<ApiKeyScope> for KeyScope {
    fn from(s: ApiKeyScope) -> KeyScope {
        match s {
            ApiKeyScope::Read => KeyScope::Read,
            ApiKeyScope::Write => KeyScope::Write,
            ApiKeyScope::Admin => KeyScope::Admin,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// `read`, `write` (default) or `admin`.
    #[serde(default)]
    pub scope: ApiKeyScope,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    pub scope: ApiKeyScope,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<api_key::Model> for ApiKey {
    fn from(k: api_key::Model) -> Self {
        ApiKey { id: k.id, name: k.name, scope: k.scope.into(), created_at: k.created_at.into(), revoked_at: k.revoked_at.map(Into::into) }
    }
}

/// A new key. The token is shown here once; only its SHA-256 is stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    pub id: Uuid,
    pub name: String,
    pub scope: ApiKeyScope,
    pub created_at: DateTime<Utc>,
    /// `Authorization: Bearer <token>` for this tenant's routes.
    pub token: String,
}

/// Creates a tenant and provisions its schema (operator token).
#[utoipa::path(
    tag = "tenants",
    request_body = NewTenant,
    responses(
        (status = 201, description = "created", body = Tenant),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 403, description = "not the operator", body = ErrorBody),
        (status = 409, description = "the slug is taken", body = ErrorBody),
        (status = 422, description = "invalid slug or name", body = ErrorBody),
    ),
)]
#[post("/v1/tenants")]
pub async fn create_tenant(
    caller: Caller,
    state: web::Data<ApiState>,
    body: web::Json<NewTenant>,
) -> Result<HttpResponse, ApiError> {
    caller.operator(&state)?;
    let slug = TenantSlug::parse(&body.slug).map_err(|e| ApiError::invalid(e.to_string()))?;
    validate::name("name", &body.name, 200).map_err(ApiError::invalid)?;
    if state.store.find_tenant(&slug).await?.is_some() {
        return Err(ApiError::new(ErrorCode::Conflict, format!("tenant {slug} exists")));
    }
    let t = state.store.provision_tenant(&slug, body.name.trim()).await?;
    tracing::info!(tenant = %slug, "tenant created");
    Ok(HttpResponse::Created().json(Tenant::from(t)))
}

/// Lists the tenants (operator token).
#[utoipa::path(
    tag = "tenants",
    responses(
        (status = 200, description = "all tenants", body = Vec<Tenant>),
        (status = 403, description = "not the operator", body = ErrorBody),
    ),
)]
#[get("/v1/tenants")]
pub async fn list_tenants(caller: Caller, state: web::Data<ApiState>) -> Result<web::Json<Vec<Tenant>>, ApiError> {
    caller.operator(&state)?;
    Ok(web::Json(state.store.list_tenants().await?.into_iter().map(Tenant::from).collect()))
}

/// One tenant (operator token or the tenant's own key).
#[utoipa::path(
    tag = "tenants",
    params(("tenant" = String, Path, description = "tenant slug")),
    responses(
        (status = 200, description = "the tenant", body = Tenant),
        (status = 404, description = "no such tenant (or not yours)", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}")]
pub async fn get_tenant(
    at: TenantPath,
) -> Result<web::Json<Tenant>, ApiError> {
    let scope = at.scope;
    Ok(web::Json(Tenant::from(scope.tenant().clone())))
}

/// Changes a tenant's status, its use of the platform's AWS identity, or its retention
/// (operator token).
#[utoipa::path(
    tag = "tenants",
    params(("tenant" = String, Path, description = "tenant slug")),
    request_body = TenantPatch,
    responses(
        (status = 200, description = "updated", body = Tenant),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 403, description = "not the operator", body = ErrorBody),
        (status = 404, description = "no such tenant", body = ErrorBody),
        (status = 422, description = "nothing to change, or an invalid value", body = ErrorBody),
    ),
)]
#[patch("/v1/tenants/{tenant}")]
pub async fn patch_tenant(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    body: web::Json<TenantPatch>,
) -> Result<web::Json<Tenant>, ApiError> {
    caller.operator(&state)?;
    if body.status.is_none() && body.allow_platform_identity.is_none() && body.retention.is_none() {
        return Err(ApiError::invalid("nothing to change: send `status`, `allow_platform_identity` and/or `retention`"));
    }
    let slug = TenantSlug::parse(&path).map_err(|_| ApiError::not_found("tenant"))?;
    let status = body.status.map(TenantStatus::from);
    let retention = body.retention.map(ams_store::Retention::from);
    let t = state
        .store
        .update_tenant(&slug, status, body.allow_platform_identity, retention)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    tracing::info!(tenant = %slug, status = %t.status, allow_platform_identity = t.allow_platform_identity,
        retention_deltas_days = ?t.retention_deltas_days, retention_hourly_days = ?t.retention_hourly_days, "tenant settings changed");
    state.reconcile();
    Ok(web::Json(Tenant::from(t)))
}

/// Creates an API key for the tenant (operator or an `admin` key); the token is in this
/// response only.
#[utoipa::path(
    tag = "api keys",
    params(("tenant" = String, Path, description = "tenant slug")),
    request_body = NewApiKey,
    responses(
        (status = 201, description = "created; keep the token", body = CreatedApiKey),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 403, description = "not the operator or an admin key; or a disabled tenant", body = ErrorBody),
        (status = 404, description = "no such tenant (or not yours)", body = ErrorBody),
        (status = 422, description = "invalid name", body = ErrorBody),
    ),
)]
#[post("/v1/tenants/{tenant}/api-keys")]
pub async fn create_api_key(
    at: TenantPath,
    body: web::Json<NewApiKey>,
) -> Result<HttpResponse, ApiError> {
    let TenantPath { caller, scope } = at;
    caller.admin("creates and revokes API keys")?;
    validate::name("name", &body.name, 100).map_err(ApiError::invalid)?;
    let new = scope.create_api_key(body.name.trim(), body.scope.into()).await?;
    tracing::info!(tenant = %scope.slug(), key = %new.key.id, scope = %new.key.scope, "API key created");
    Ok(HttpResponse::Created().json(CreatedApiKey {
        id: new.key.id,
        name: new.key.name,
        scope: new.key.scope.into(),
        created_at: new.key.created_at.into(),
        token: new.token,
    }))
}

/// The tenant's API keys (never their tokens).
#[utoipa::path(
    tag = "api keys",
    params(("tenant" = String, Path, description = "tenant slug")),
    responses(
        (status = 200, description = "keys, oldest first", body = Vec<ApiKey>),
        (status = 404, description = "no such tenant (or not yours)", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}/api-keys")]
pub async fn list_api_keys(
    at: TenantPath,
) -> Result<web::Json<Vec<ApiKey>>, ApiError> {
    let scope = at.scope;
    Ok(web::Json(scope.api_keys().await?.into_iter().map(ApiKey::from).collect()))
}

/// Revokes a key at once (idempotent; operator or an `admin` key, which may revoke itself).
#[utoipa::path(
    tag = "api keys",
    params(("tenant" = String, Path, description = "tenant slug"), ("key" = Uuid, Path, description = "key id")),
    responses(
        (status = 200, description = "revoked", body = ApiKey),
        (status = 403, description = "not the operator or an admin key; or a disabled tenant", body = ErrorBody),
        (status = 404, description = "no such tenant or key", body = ErrorBody),
    ),
)]
#[delete("/v1/tenants/{tenant}/api-keys/{key}")]
pub async fn revoke_api_key(
    at: TenantPath,
    path: web::Path<(String, Uuid)>,
) -> Result<web::Json<ApiKey>, ApiError> {
    let (TenantPath { caller, scope }, (_, key)) = (at, path.into_inner());
    caller.admin("creates and revokes API keys")?;
    let key = scope.revoke_api_key(key).await?.ok_or_else(|| ApiError::not_found("API key"))?;
    tracing::info!(tenant = %scope.slug(), key = %key.id, "API key revoked");
    Ok(web::Json(ApiKey::from(key)))
}
