//! BI logins: Postgres users for BI tools (Metabase, Looker Studio, Power BI) that read the
//! tenant's reporting views, optionally only some accounts' rows, and nothing else. Made and
//! dropped by the operator or an `admin` key; the password is in the creating answer only.

use actix_web::{delete, get, post, web, HttpResponse};
use ams_store::bi_logins::{BiLogin as StoredLogin, BiRoleLimits, BiRows};
use ams_store::TenantSchema;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiError, ErrorBody};
use crate::scope::TenantPath;
use crate::{validate, ApiState};

/// Where BI tools reach the database, and how their logins are limited.
#[derive(Debug, Clone, Default)]
pub struct BiSettings {
    /// The host BI tools reach Postgres at; `None`: the one ams-hub itself connects to.
    pub host: Option<String>,
    /// Its port; `None`: the one ams-hub connects to.
    pub port: Option<u16>,
    pub limits: BiRoleLimits,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBiLogin {
    /// What the login is for (`Metabase`, `Looker Studio for Acme`).
    pub name: String,
    /// Account ids of the tenant whose rows the login reads; absent: every account's.
    pub accounts: Option<Vec<Uuid>>,
}

/// A BI login (never its password).
#[derive(Debug, Serialize, ToSchema)]
pub struct BiLogin {
    pub id: Uuid,
    pub name: String,
    /// The Postgres user name.
    pub user: String,
    /// The schema it reads (its `search_path`).
    pub schema: String,
    /// The views it reads there: the tenant's reporting views, filtered to its rows.
    pub views: Vec<String>,
    /// The accounts whose rows it reads; null: all of the tenant's.
    pub accounts: Option<Vec<Uuid>>,
    /// Their Amazon advertiser ids (what its rows are filtered by).
    pub advertiser_ids: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
    /// Its sessions open now.
    pub sessions: i64,
}

/// A new login, with what to give the BI tool. The password is shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedBiLogin {
    #[serde(flatten)]
    pub login: BiLogin,
    pub password: String,
    pub host: String,
    pub port: u16,
    pub database: String,
    /// `postgresql://user:password@host:port/database`.
    pub connection_string: String,
}

fn shown(l: StoredLogin, schema: &TenantSchema) -> BiLogin {
    BiLogin {
        id: l.id,
        name: l.name,
        user: l.role_name,
        schema: schema.name().to_owned(),
        views: ams_store::bi_logins::view_names(),
        accounts: l.account_ids,
        advertiser_ids: l.advertiser_ids,
        created_at: l.created_at,
        sessions: l.sessions,
    }
}

/// The host and port BI tools are given.
fn endpoint(state: &ApiState) -> (String, u16) {
    let own = state.store.pool().connect_options();
    let host = state.bi.host.as_deref().map(str::trim).filter(|h| !h.is_empty()).unwrap_or(own.get_host());
    (host.to_owned(), state.bi.port.unwrap_or(own.get_port()))
}

/// Creates a BI login (operator or an `admin` key): a Postgres user that reads the tenant's
/// reporting views (with `accounts`, only those accounts' rows) and nothing else. The
/// password is in this answer only.
#[utoipa::path(
    tag = "bi logins",
    params(("tenant" = String, Path, description = "tenant slug")),
    request_body = NewBiLogin,
    responses(
        (status = 201, description = "created; keep the password", body = CreatedBiLogin),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 403, description = "not the operator or an admin key; or a disabled tenant", body = ErrorBody),
        (status = 404, description = "no such tenant (or not yours)", body = ErrorBody),
        (status = 409, description = "the tenant has as many BI logins as it may", body = ErrorBody),
        (status = 422, description = "invalid name; an account that is not the tenant's or has no Amazon advertiser id", body = ErrorBody),
        (status = 503, description = "the database user of ams-hub may not create roles", body = ErrorBody),
    ),
)]
#[post("/v1/tenants/{tenant}/bi-logins")]
pub async fn create_bi_login(at: TenantPath, state: web::Data<ApiState>, body: web::Json<NewBiLogin>) -> Result<HttpResponse, ApiError> {
    let TenantPath { caller, scope } = at;
    caller.admin("creates and deletes BI logins")?;
    validate::name("name", &body.name, 100).map_err(ApiError::invalid)?;
    let rows = match &body.accounts {
        None => BiRows::All,
        Some(ids) if ids.is_empty() => {
            return Err(ApiError::invalid("accounts is empty: list the accounts whose rows the login reads, or leave it out for all"))
        }
        Some(ids) if ids.len() > 100 => return Err(ApiError::invalid("accounts: at most 100")),
        Some(ids) => {
            let mut ids = ids.clone();
            ids.sort();
            ids.dedup();
            let mut advertisers = Vec::with_capacity(ids.len());
            for id in &ids {
                let account = scope
                    .account(*id)
                    .await?
                    .ok_or_else(|| ApiError::invalid(format!("accounts: {id} is not an account of this tenant")))?;
                match account.advertiser_id().await? {
                    Some(a) => advertisers.push(a),
                    None => {
                        return Err(ApiError::invalid(format!(
                            "accounts: {id} has no Amazon advertiser id to filter its rows by (accounts imported from an Ads connection have one)"
                        )))
                    }
                }
            }
            BiRows::Accounts { account_ids: ids, advertiser_ids: advertisers }
        }
    };
    let schema = TenantSchema::of(scope.slug());
    let new = state.store.create_bi_login(&schema, body.name.trim(), rows, state.bi.limits).await?;
    tracing::info!(tenant = %scope.slug(), login = %new.login.id, user = %new.login.role_name, "BI login created");
    let (host, port) = endpoint(&state);
    let url_host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.clone() };
    let connection_string = format!("postgresql://{}:{}@{url_host}:{port}/{}", new.login.role_name, new.password, new.database);
    Ok(HttpResponse::Created().json(CreatedBiLogin {
        login: shown(new.login, &schema),
        password: new.password,
        host,
        port,
        database: new.database,
        connection_string,
    }))
}

/// The tenant's BI logins (never their passwords), with their open sessions.
#[utoipa::path(
    tag = "bi logins",
    params(("tenant" = String, Path, description = "tenant slug")),
    responses(
        (status = 200, description = "logins, oldest first", body = Vec<BiLogin>),
        (status = 404, description = "no such tenant (or not yours)", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}/bi-logins")]
pub async fn list_bi_logins(at: TenantPath, state: web::Data<ApiState>) -> Result<web::Json<Vec<BiLogin>>, ApiError> {
    let schema = TenantSchema::of(at.scope.slug());
    let logins = state.store.bi_logins(&schema).await?;
    Ok(web::Json(logins.into_iter().map(|l| shown(l, &schema)).collect()))
}

/// Deletes a BI login (operator or an `admin` key): its sessions end at once and it cannot
/// connect again.
#[utoipa::path(
    tag = "bi logins",
    params(("tenant" = String, Path, description = "tenant slug"), ("login" = Uuid, Path, description = "BI login id")),
    responses(
        (status = 204, description = "deleted, its sessions ended"),
        (status = 403, description = "not the operator or an admin key; or a disabled tenant", body = ErrorBody),
        (status = 404, description = "no such tenant or login", body = ErrorBody),
        (status = 503, description = "the database user of ams-hub may not drop roles or end their sessions", body = ErrorBody),
    ),
)]
#[delete("/v1/tenants/{tenant}/bi-logins/{login}")]
pub async fn delete_bi_login(at: TenantPath, state: web::Data<ApiState>, path: web::Path<(String, Uuid)>) -> Result<HttpResponse, ApiError> {
    let (TenantPath { caller, scope }, (_, id)) = (at, path.into_inner());
    caller.admin("creates and deletes BI logins")?;
    let schema = TenantSchema::of(scope.slug());
    if !state.store.delete_bi_login(&schema, id).await? {
        return Err(ApiError::not_found("BI login"));
    }
    tracing::info!(tenant = %scope.slug(), login = %id, "BI login deleted");
    Ok(HttpResponse::NoContent().finish())
}
