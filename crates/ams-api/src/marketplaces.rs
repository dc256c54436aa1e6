//! An account's marketplaces: where the brand sells, which fixes the realm, the queues'
//! region and the Ads API endpoint.

use actix_web::{delete, get, post, web, HttpResponse};
use ams_model::Marketplace as Seed;
use ams_store::control::marketplace;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::scope::AccountPath;
use crate::error::{ApiError, ErrorBody};
use crate::validate;

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

/// Adds a marketplace; its realm, queue region and Ads API endpoint follow from the code.
#[utoipa::path(
    tag = "marketplaces",
    params(("tenant" = String, Path, description = "tenant slug"), ("account" = Uuid, Path, description = "account id")),
    request_body = NewMarketplace,
    responses(
        (status = 201, description = "added", body = Marketplace),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 404, description = "no such tenant or account", body = ErrorBody),
        (status = 409, description = "already added", body = ErrorBody),
        (status = 422, description = "unknown marketplace code or bad profile id", body = ErrorBody),
    ),
)]
#[post("/v1/tenants/{tenant}/accounts/{account}/marketplaces")]
pub async fn add_marketplace(
    at: AccountPath,
    body: web::Json<NewMarketplace>,
) -> Result<HttpResponse, ApiError> {
    let a = at.account;
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
        (status = 404, description = "no such tenant or account", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}/accounts/{account}/marketplaces")]
pub async fn list_marketplaces(
    at: AccountPath,
) -> Result<web::Json<Vec<Marketplace>>, ApiError> {
    let a = at.account;
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
        (status = 404, description = "no such tenant, account or marketplace", body = ErrorBody),
    ),
)]
#[delete("/v1/tenants/{tenant}/accounts/{account}/marketplaces/{code}")]
pub async fn delete_marketplace(
    at: AccountPath,
    path: web::Path<(String, Uuid, String)>,
) -> Result<HttpResponse, ApiError> {
    let (a, (_, _, code)) = (at.account, path.into_inner());
    if !a.delete_marketplace(&code).await? {
        return Err(ApiError::not_found("marketplace"));
    }
    Ok(HttpResponse::NoContent().finish())
}

