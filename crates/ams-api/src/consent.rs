//! The consent flow, for agencies without a refresh token at hand: ams-hub sends the login to
//! Amazon's consent page with a signed, expiring `state`; Amazon sends the browser back to the
//! callback with a `code`, which ams-hub redeems for a refresh token and stores as a
//! connection. The callback needs no API key: the `state` (HMAC-SHA256 with a key derived from
//! `AMS_HUB_SECRET_KEY`, valid ten minutes) says which tenant asked, and cannot be forged.

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};
use ams_onboard::ads::consent_url;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::ads::{amazon_error, connect, services, Connection, RegionCode};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::{validate, ApiState};

/// How long a consent link works.
const STATE_TTL_SECS: i64 = 600;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizeQuery {
    /// NA, EU or FE: whose consent page.
    pub region: RegionCode,
    /// Where Amazon sends the login back: this server's `/oauth/amazon/callback`, as
    /// registered in the LwA app's allowed return URLs.
    pub redirect_uri: String,
    /// The connection's name (default: `amazon-<region>-<time>`).
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Authorization {
    /// Send the login here.
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// What the signed state carries.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    /// Tenant slug.
    t: String,
    r: RegionCode,
    u: String,
    n: String,
    /// Expiry, Unix seconds.
    e: i64,
}

/// Amazon's consent URL for a new connection of the tenant.
#[utoipa::path(
    tag = "amazon-ads",
    params(("tenant" = String, Path, description = "tenant slug"), AuthorizeQuery),
    responses(
        (status = 200, description = "the consent URL, valid ten minutes", body = Authorization),
        (status = 400, description = "missing or malformed parameters", body = ErrorBody),
        (status = 401, description = "no or unknown token", body = ErrorBody),
        (status = 403, description = "a `read` key", body = ErrorBody),
        (status = 404, description = "no such tenant (or not yours)", body = ErrorBody),
        (status = 422, description = "`ads_app_unset`, `secret_key_unset`, a redirect that is not http(s)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/v1/tenants/{tenant}/ads-connections/authorize")]
pub async fn authorize(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    query: web::Query<AuthorizeQuery>,
) -> Result<web::Json<Authorization>, ApiError> {
    let scope = caller.tenant(&state, &path).await?;
    // A GET that starts a write: not for read-only keys.
    caller.may_see_secrets()?;
    let ads = services(&state)?;
    let keyring = ads.keyring()?;
    let app = ads.app_of(&scope).await?;
    let q = query.into_inner();
    if !(q.redirect_uri.starts_with("https://") || q.redirect_uri.starts_with("http://")) || q.redirect_uri.len() > 1000 {
        return Err(ApiError::invalid("redirect_uri must be an http(s) URL of at most 1000 characters"));
    }
    let now = Utc::now();
    let name = q.name.unwrap_or_else(|| format!("amazon-{:?}-{}", q.region, now.format("%Y%m%d%H%M%S")).to_lowercase());
    validate::name("name", &name, 200).map_err(ApiError::invalid)?;
    let expires_at = now + chrono::Duration::seconds(STATE_TTL_SECS);
    let payload = serde_json::to_vec(&State { t: scope.slug().to_string(), r: q.region, u: q.redirect_uri.clone(), n: name, e: expires_at.timestamp() })
        .expect("state serializes");
    let signed = format!("{}.{}", B64.encode(&payload), B64.encode(keyring.sign(&payload)));
    Ok(web::Json(Authorization { url: consent_url(&app.client_id, q.region.realm(), &q.redirect_uri, &signed), expires_at }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Amazon's, when the login declined.
    pub error: Option<String>,
    pub error_description: Option<String>,
}

// The authorization code is a secret (it is worth a refresh token once).
impl std::fmt::Debug for CallbackQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackQuery")
            .field("code", &self.code.as_ref().map(|_| crate::redact::REDACTED))
            .field("state", &self.state)
            .field("error", &self.error)
            .field("error_description", &self.error_description)
            .finish()
    }
}

/// Where Amazon's consent page returns the login: redeems the code, stores the connection.
#[utoipa::path(
    tag = "amazon-ads",
    params(CallbackQuery),
    responses(
        (status = 201, description = "connected", body = Connection),
        (status = 400, description = "no code or state; a forged or expired state; the login declined", body = ErrorBody),
        (status = 403, description = "`tenant_disabled`: the tenant was disabled since the link was made", body = ErrorBody),
        (status = 409, description = "a connection with this name exists", body = ErrorBody),
        (status = 422, description = "`amazon_refused` (the code was refused)", body = ErrorBody),
        (status = 503, description = "`amazon_unavailable`", body = ErrorBody),
    )
)]
#[get("/oauth/amazon/callback")]
pub async fn callback(state: web::Data<ApiState>, query: web::Query<CallbackQuery>) -> Result<HttpResponse, ApiError> {
    let bad = |m: &str| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", m);
    let q = query.into_inner();
    if let Some(e) = q.error {
        return Err(bad(&format!("Amazon's consent was not given: {e}: {}", q.error_description.unwrap_or_default())));
    }
    let (Some(code), Some(signed)) = (q.code, q.state) else { return Err(bad("expected `code` and `state` from Amazon")) };
    let ads = services(&state)?;
    let keyring = ads.keyring()?;
    let forged = || bad("the state is not one this server signed (or it was altered)");
    let (payload, signature) = signed.split_once('.').ok_or_else(forged)?;
    let (payload, signature) = (B64.decode(payload).map_err(|_| forged())?, B64.decode(signature).map_err(|_| forged())?);
    if !keyring.verify(&payload, &signature) {
        return Err(forged());
    }
    let s: State = serde_json::from_slice(&payload).map_err(|_| forged())?;
    if s.e < Utc::now().timestamp() {
        return Err(bad("the consent link expired (they last ten minutes): ask for a new one"));
    }
    let slug = ams_store::TenantSlug::parse(&s.t).map_err(|_| forged())?;
    let scope = state.store.tenant_scope(&slug).await?.ok_or_else(|| ApiError::not_found("tenant"))?;
    // A link minted before the operator disabled the tenant connects nothing.
    if scope.tenant().status != "active" {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "tenant_disabled", "this tenant is disabled by the operator: the login was not connected"));
    }
    let app = ads.app_of(&scope).await?;
    let (_, refresh) = ads.client.lwa().redeem_code(&app, s.r.realm(), &code, &s.u).await.map_err(amazon_error)?;
    let connection = connect(ads, &scope, &s.n, s.r, &app, &refresh).await?;
    Ok(HttpResponse::Created().json(connection))
}
