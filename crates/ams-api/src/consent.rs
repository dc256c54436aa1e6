//! The consent flow, for agencies without a refresh token at hand, in three steps:
//!
//! 1. `…/ads-connections/authorize` (an API key) answers with an ams-hub link, `/oauth/amazon/start`,
//!    carrying a signed, expiring `state` (HMAC-SHA256 with a key derived from
//!    `AMS_HUB_SECRET_KEY`, valid ten minutes) that says which tenant asked, for which connection,
//!    with a random nonce.
//! 2. That page names the tenant and the connection (Amazon's own consent page names only
//!    ams-hub's LwA app, so a brand could not tell which agency it lets in), and binds the link to
//!    the first browser that opens it: the nonce is claimed once in `control.consent_claims` and
//!    set as a cookie. Only then does it send the browser on to Amazon.
//! 3. Amazon sends the browser back to `/oauth/amazon/callback` with a `code`. The callback needs
//!    no API key, but both the signed `state` and the browser's cookie for its nonce: a link (or
//!    Amazon's URL) opened in another browser connects nothing.

use actix_web::http::StatusCode;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::{get, web, HttpRequest, HttpResponse};
use ams_onboard::ads::consent_url;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::ads::{amazon_error, connect, services, Connection, RegionCode};
use crate::scope::TenantPath;
use crate::error::{ApiError, ErrorBody, ErrorCode};
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
    /// The ams-hub page to open in the browser that will sign in to Amazon: it names the tenant
    /// and the connection, binds the link to that browser, and continues to Amazon's consent page.
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
    /// The nonce the browser that opens the link claims, as the cookie `ams_consent_<k>`.
    k: String,
    /// Started from the dashboard: the page (a `/ui/` path) the callback sends the browser
    /// back to, instead of answering JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    b: Option<String>,
}

impl State {
    fn cookie_name(&self) -> String {
        format!("ams_consent_{}", self.k)
    }
}

/// Amazon's consent URL for a new connection of the tenant.
#[utoipa::path(
    tag = "amazon-ads",
    params(("tenant" = String, Path, description = "tenant slug"), AuthorizeQuery),
    responses(
        (status = 200, description = "the consent URL, valid ten minutes", body = Authorization),
        (status = 400, description = "missing or malformed parameters", body = ErrorBody),
        (status = 403, description = "a `read` key", body = ErrorBody),
        (status = 404, description = "no such tenant (or not yours)", body = ErrorBody),
        (status = 422, description = "`ads_app_unset`, `secret_key_unset`, a redirect that is not http(s)", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}/ads-connections/authorize")]
pub async fn authorize(
    at: TenantPath,
    state: web::Data<ApiState>,
    query: web::Query<AuthorizeQuery>,
) -> Result<web::Json<Authorization>, ApiError> {
    let TenantPath { caller, scope } = at;
    // A GET that starts a write: not for read-only keys.
    caller.may_see_secrets()?;
    Ok(web::Json(consent_link(&state, &scope, query.into_inner(), None).await?))
}

/// A consent link for `scope` (the API's route and the dashboard's Connect button). With
/// `back` (a dashboard path), the callback returns the browser there.
pub(crate) async fn consent_link(state: &ApiState, scope: &ams_store::TenantScope, q: AuthorizeQuery, back: Option<&str>) -> Result<Authorization, ApiError> {
    let ads = services(state)?;
    let keyring = ads.keyring()?;
    // The tenant's Amazon app must be set before a link is worth handing out.
    ads.app_of(scope).await?;
    if !(q.redirect_uri.starts_with("https://") || q.redirect_uri.starts_with("http://")) || q.redirect_uri.len() > 1000 {
        return Err(ApiError::invalid("redirect_uri must be an http(s) URL of at most 1000 characters"));
    }
    let now = Utc::now();
    let name = q.name.unwrap_or_else(|| format!("amazon-{:?}-{}", q.region, now.format("%Y%m%d%H%M%S")).to_lowercase());
    validate::name("name", &name, 200).map_err(ApiError::invalid)?;
    // The start page is served by the server the callback is on (the cookie it sets must come
    // back with the callback): the redirect's origin.
    let origin = origin(&q.redirect_uri).ok_or_else(|| ApiError::invalid("redirect_uri must be an http(s) URL with a host"))?;
    let expires_at = now + chrono::Duration::seconds(STATE_TTL_SECS);
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let payload =
        serde_json::to_vec(&State {
            t: scope.slug().to_string(),
            r: q.region,
            u: q.redirect_uri.clone(),
            n: name,
            e: expires_at.timestamp(),
            k: nonce,
            b: back.filter(|b| b.starts_with("/ui/")).map(str::to_owned),
        })
        .expect("state serializes");
    let signed = format!("{}.{}", B64.encode(&payload), B64.encode(keyring.sign(&payload)));
    Ok(Authorization { url: format!("{origin}/oauth/amazon/start?state={signed}"), expires_at })
}

/// `scheme://host[:port]` of an http(s) URL.
fn origin(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let host = rest.split(['/', '?', '#']).next().filter(|h| !h.is_empty() && !h.contains('@'))?;
    Some(&url[..url.len() - rest.len() + host.len()])
}

/// The state this server signed, unexpired; a 400 otherwise.
fn open_state(keyring: &ams_store::Keyring, signed: &str) -> Result<State, ApiError> {
    let bad = |m: &str| ApiError::new(ErrorCode::InvalidConsent, m);
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
    Ok(s)
}

/// The tenant a state names, if it is active.
async fn active_tenant(state: &ApiState, s: &State) -> Result<ams_store::TenantScope, ApiError> {
    let slug = ams_store::TenantSlug::parse(&s.t).map_err(|_| ApiError::invalid("the state names no tenant"))?;
    let scope = state.store.tenant_scope(&slug).await?.ok_or_else(|| ApiError::not_found("tenant"))?;
    // A link minted before the operator disabled the tenant connects nothing.
    if scope.tenant().status != ams_store::TenantStatus::Active {
        return Err(ApiError::new(ErrorCode::TenantDisabled, "this tenant is disabled by the operator: the login was not connected"));
    }
    Ok(scope)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartQuery {
    /// The signed state from `…/ads-connections/authorize`.
    pub state: String,
}

/// The page a consent link opens: names the tenant and the connection, ties the link to this
/// browser (the first to open it), and links on to Amazon's consent page.
#[utoipa::path(
    tag = "amazon-ads",
    params(StartQuery),
    responses(
        (status = 200, description = "the page, with the cookie that binds the link to this browser", content_type = "text/html", body = String),
        (status = 400, description = "a forged or expired state", content_type = "text/html", body = String),
        (status = 403, description = "the tenant is disabled", content_type = "text/html", body = String),
        (status = 404, description = "the tenant is gone", content_type = "text/html", body = String),
        (status = 409, description = "the link was opened already, in another browser", content_type = "text/html", body = String),
        (status = 422, description = "the tenant's Amazon app or the secret key is unset", content_type = "text/html", body = String),
        (status = 503, description = "the database did not answer", content_type = "text/html", body = String),
    )
)]
#[get("/oauth/amazon/start")]
pub async fn start(state: web::Data<ApiState>, req: HttpRequest, query: web::Query<StartQuery>) -> HttpResponse {
    match start_page(&state, &req, &query.state).await {
        Ok(ok) => ok,
        Err(e) => crate::ui::page(e.status(), "consent.html", minijinja::context! { error => e.message }),
    }
}

async fn start_page(state: &ApiState, req: &HttpRequest, signed: &str) -> Result<HttpResponse, ApiError> {
    let ads = services(state)?;
    let s = open_state(ads.keyring()?, signed)?;
    let scope = active_tenant(state, &s).await?;
    let app = ads.app_of(&scope).await?;
    let expires = DateTime::from_timestamp(s.e, 0).unwrap_or_else(Utc::now);
    // Opened again in the browser that claimed it: the same page. Anywhere else: refused.
    if req.cookie(&s.cookie_name()).is_none() && !scope.claim_consent(&s.k, expires).await? {
        return Err(ApiError::new(ErrorCode::ConsentLinkUsed,
            "this consent link was opened already, in another browser: it works only there. Ask for a new link.",
        ));
    }
    let cookie = Cookie::build(s.cookie_name(), "1")
        .path("/oauth/amazon")
        .http_only(true)
        // Lax: sent on the top-level navigation back from Amazon's page.
        .same_site(SameSite::Lax)
        .secure(s.u.starts_with("https://"))
        .max_age(actix_web::cookie::time::Duration::seconds((s.e - Utc::now().timestamp()).max(0)))
        .finish();
    let mut page = crate::ui::page(
        StatusCode::OK,
        "consent.html",
        minijinja::context! {
            tenant => s.t,
            tenant_name => scope.tenant().name,
            connection => s.n,
            region => format!("{:?}", s.r),
            expires_at => expires.format("%Y-%m-%d %H:%M").to_string(),
            amazon_url => consent_url(ads.client.lwa().endpoints(), &app.client_id, s.r.realm(), &s.u, signed),
        },
    );
    page.add_cookie(&cookie).map_err(|e| ApiError::new(ErrorCode::Internal, format!("the consent cookie: {e}")))?;
    Ok(page)
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
        (status = 303, description = "a consent started from the dashboard: back to its page, saying whether the login was connected"),
        (status = 400, description = "no code or state; a forged or expired state; the login declined", body = ErrorBody),
        (status = 403, description = "`consent_not_bound`: this browser did not open the link's ams-hub page; `tenant_disabled`: the tenant was disabled since the link was made", body = ErrorBody),
        (status = 409, description = "a connection with this name exists", body = ErrorBody),
        (status = 422, description = "`amazon_refused` (the code was refused)", body = ErrorBody),
        (status = 503, description = "`amazon_unavailable`", body = ErrorBody),
    )
)]
#[get("/oauth/amazon/callback")]
pub async fn callback(state: web::Data<ApiState>, req: HttpRequest, query: web::Query<CallbackQuery>) -> Result<HttpResponse, ApiError> {
    let bad = |m: &str| ApiError::new(ErrorCode::InvalidConsent, m);
    let q = query.into_inner();
    if let Some(e) = q.error {
        return Err(bad(&format!("Amazon's consent was not given: {e}: {}", q.error_description.unwrap_or_default())));
    }
    let (Some(code), Some(signed)) = (q.code, q.state) else { return Err(bad("expected `code` and `state` from Amazon")) };
    let ads = services(&state)?;
    let s = open_state(ads.keyring()?, &signed)?;
    // The browser that opened ams-hub's page for this link, and no other.
    if req.cookie(&s.cookie_name()).is_none() {
        return Err(ApiError::new(ErrorCode::ConsentNotBound,
            "this consent was not started in this browser: open the link ams-hub gave (…/oauth/amazon/start) in the browser that signs in to Amazon",
        ));
    }
    let connected = async {
        let scope = active_tenant(&state, &s).await?;
        let app = ads.app_of(&scope).await?;
        let (_, refresh) = ads.client.lwa().redeem_code(&app, s.r.realm(), &code, &s.u).await.map_err(amazon_error)?;
        connect(ads, &scope, &s.n, s.r, &app, &refresh).await
    }
    .await;
    let mut done = Cookie::build(s.cookie_name(), "").path("/oauth/amazon").finish();
    done.make_removal();
    // Started from the dashboard: back to its page, with what happened in words.
    if let Some(back) = &s.b {
        let said = match &connected {
            Ok(c) => [("msg", format!("Connected the Amazon login {:?}: {} profiles, {} DSP advertisers", c.name, c.profiles.len(), c.dsp_advertisers.len()))],
            Err(e) => [("err", format!("The Amazon login was not connected: {}", e.message))],
        };
        let to = format!("{back}?{}", serde_urlencoded::to_string(said).unwrap_or_default());
        return Ok(HttpResponse::SeeOther().insert_header((actix_web::http::header::LOCATION, to)).cookie(done).finish());
    }
    Ok(HttpResponse::Created().cookie(done).json(connected?))
}
