//! The Amazon Ads API side of onboarding: a tenant's LwA app, its connections (Amazon logins)
//! and the import of a login's profiles as accounts and marketplaces.
//!
//! Secrets (client secrets, refresh tokens) are write-only: sealed in Postgres
//! (`ams_store::secrets`), sent only to Amazon, never in an answer or a log line.

use actix_web::{delete, get, post, put, web, HttpResponse};
use ams_model::{Marketplace as Seed, Realm};
use ams_onboard::ads::client::Login;
use ams_onboard::ads::{AdsApp, AdsClient, AdsError, DspAdvertiser, Listing, Profile};
use ams_store::control::ads::{Connection as ConnectionRow, DspImport, ProfileImport};
use ams_store::{Keyring, TenantScope};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::scope::TenantPath;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::{validate, ApiState};

/// What the Ads routes need: the client, the keyring sealing secrets, the platform's app.
pub struct AdsServices {
    pub client: AdsClient,
    /// `AMS_HUB_SECRET_KEY`; without it no secret can be stored (422 `secret_key_unset`).
    pub keyring: Option<Keyring>,
    /// `AMS_HUB_ADS_CLIENT_ID` / `AMS_HUB_ADS_CLIENT_SECRET`.
    pub platform_app: Option<AdsApp>,
}

impl AdsServices {
    pub fn keyring(&self) -> Result<&Keyring, ApiError> {
        self.keyring.as_ref().ok_or_else(|| {
            ApiError::new(ErrorCode::SecretKeyUnset,
                "the server has no AMS_HUB_SECRET_KEY, so it cannot store Amazon secrets; the operator must set it",
            )
        })
    }

    /// The app a tenant's logins use: its own, or the platform's.
    pub async fn app_of(&self, scope: &TenantScope) -> Result<AdsApp, ApiError> {
        let keyring = self.keyring()?;
        match scope.ads_app_secret(keyring).await? {
            Some((client_id, Ok(client_secret))) => Ok(AdsApp { client_id, client_secret }),
            Some((_, Err(e))) => {
                tracing::error!(error = %e, "a tenant's LwA client secret does not open");
                Err(ApiError::new(ErrorCode::SecretUnreadable, e.to_string()))
            }
            None => self.platform_app.clone().ok_or_else(|| {
                ApiError::new(ErrorCode::AdsAppUnset,
                    "no Amazon Ads app: set the tenant's (PUT /v1/tenants/{tenant}/ads-app) or the platform's (AMS_HUB_ADS_CLIENT_ID, AMS_HUB_ADS_CLIENT_SECRET)",
                )
            }),
        }
    }
}

pub(crate) fn services(state: &ApiState) -> Result<&AdsServices, ApiError> {
    state.ads.as_ref().ok_or_else(|| ApiError::new(ErrorCode::Unavailable, "the Amazon Ads API is not configured on this server"))
}

/// Amazon's refusal or outage as an answer: a refused login is the caller's to fix (422 with
/// Amazon's error code), an outage is not (503).
pub(crate) fn amazon_error(e: AdsError) -> ApiError {
    match &e {
        AdsError::Refused { code, .. } => {
            ApiError::new(ErrorCode::AmazonRefused, format!("{e} (Amazon's error code: {code})"))
        }
        AdsError::Unauthorized(_) | AdsError::Rejected { .. } => ApiError::new(ErrorCode::AmazonRefused, e.to_string()),
        AdsError::Throttled(_) | AdsError::Unavailable(_) => {
            tracing::warn!(error = %e, "Amazon unavailable");
            ApiError::new(ErrorCode::AmazonUnavailable, e.to_string())
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdsAppInput {
    /// The LwA client id (`amzn1.application-oa2-client.…`).
    pub client_id: String,
    /// Write-only: stored encrypted, never returned.
    pub client_secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdsAppInfo {
    /// The client id logins are made with; `null` when there is none.
    pub client_id: Option<String>,
    /// `tenant` (the tenant's own app), `platform` (the server's) or `none`.
    pub source: String,
    pub updated_at: Option<DateTime<Utc>>,
}

/// The tenant's Amazon Ads (LwA) app: its own, or the platform's.
#[utoipa::path(
    tag = "amazon-ads",
    params(("tenant" = String, Path, description = "tenant slug")),
    responses(
        (status = 200, description = "the app in use (never its secret)", body = AdsAppInfo),
        (status = 404, description = "no such tenant (or not yours)", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}/ads-app")]
pub async fn get_ads_app(at: TenantPath, state: web::Data<ApiState>) -> Result<web::Json<AdsAppInfo>, ApiError> {
    let scope = at.scope;
    let platform = state.ads.as_ref().and_then(|a| a.platform_app.as_ref()).map(|a| a.client_id.clone());
    Ok(web::Json(match scope.ads_app().await? {
        Some(a) => AdsAppInfo { client_id: Some(a.client_id), source: "tenant".into(), updated_at: Some(a.updated_at) },
        None => AdsAppInfo { source: if platform.is_some() { "platform" } else { "none" }.into(), client_id: platform, updated_at: None },
    }))
}

/// Sets the tenant's own Amazon Ads (LwA) app, overriding the platform's for new logins.
#[utoipa::path(
    tag = "amazon-ads",
    params(("tenant" = String, Path, description = "tenant slug")),
    request_body = AdsAppInput,
    responses(
        (status = 200, description = "set (the secret is stored encrypted and never shown)", body = AdsAppInfo),
        (status = 403, description = "not an `admin` key", body = ErrorBody),
        (status = 404, description = "no such tenant (or not yours)", body = ErrorBody),
        (status = 422, description = "empty or malformed values; `secret_key_unset`", body = ErrorBody),
    ),
)]
#[put("/v1/tenants/{tenant}/ads-app")]
pub async fn put_ads_app(
    at: TenantPath,
    state: web::Data<ApiState>,
    body: web::Json<AdsAppInput>,
) -> Result<web::Json<AdsAppInfo>, ApiError> {
    let TenantPath { caller, scope } = at;
    caller.admin("sets the tenant's Amazon Ads app")?;
    let ads = services(&state)?;
    validate::name("client_id", &body.client_id, 200).map_err(ApiError::invalid)?;
    if body.client_secret.trim().is_empty() || body.client_secret.len() > 512 {
        return Err(ApiError::invalid("client_secret must be 1 to 512 characters"));
    }
    let row = scope.set_ads_app(ads.keyring()?, body.client_id.trim(), body.client_secret.trim()).await?;
    tracing::info!(tenant = %scope.slug(), client_id = %row.client_id, "tenant's Amazon Ads app set");
    Ok(web::Json(AdsAppInfo { client_id: Some(row.client_id), source: "tenant".into(), updated_at: Some(row.updated_at) }))
}

/// Removes the tenant's own app: new logins use the platform's again.
#[utoipa::path(
    tag = "amazon-ads",
    params(("tenant" = String, Path, description = "tenant slug")),
    responses(
        (status = 204, description = "removed"),
        (status = 403, description = "not an `admin` key", body = ErrorBody),
        (status = 404, description = "no such tenant, or it has no app of its own", body = ErrorBody),
    ),
)]
#[delete("/v1/tenants/{tenant}/ads-app")]
pub async fn delete_ads_app(at: TenantPath) -> Result<HttpResponse, ApiError> {
    let TenantPath { caller, scope } = at;
    caller.admin("removes the tenant's Amazon Ads app")?;
    if !scope.delete_ads_app().await? {
        return Err(ApiError::not_found("ads app"));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
pub enum RegionCode {
    NA,
    EU,
    FE,
}

impl RegionCode {
    pub fn realm(self) -> Realm {
        match self {
            RegionCode::NA => Realm::Na,
            RegionCode::EU => Realm::Eu,
            RegionCode::FE => Realm::Fe,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConnection {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// The Ads API region the login's profiles are in.
    pub region: RegionCode,
    /// The login's LwA refresh token (`Atzr|…`). Write-only: stored encrypted, never returned.
    pub refresh_token: String,
}

// Secrets show that they are there, never what they are.
impl std::fmt::Debug for AdsAppInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdsAppInput").field("client_id", &self.client_id).field("client_secret", &crate::redact::REDACTED).finish()
    }
}

impl std::fmt::Debug for NewConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewConnection")
            .field("name", &self.name)
            .field("region", &self.region)
            .field("refresh_token", &crate::redact::REDACTED)
            .finish()
    }
}

/// A profile of a connection, as Amazon listed it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionProfile {
    pub profile_id: String,
    pub country_code: String,
    pub currency_code: Option<String>,
    pub timezone: Option<String>,
    /// `accountInfo.id`: the advertiser (one ams-hub account per advertiser).
    pub advertiser_id: String,
    pub advertiser_name: String,
    /// `seller`, `vendor` or `agency`. Seller and vendor profiles are sponsored-ads
    /// marketplaces; an agency profile is not: it lists DSP advertisers (`dsp_advertisers`).
    pub advertiser_type: String,
    /// The marketplace code of a sponsored-ads profile, when AMS serves it (otherwise the
    /// profile cannot be imported); `null` for agency profiles.
    pub marketplace: Option<String>,
}

/// A DSP advertiser the login reaches through one of its agency profiles.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionDspAdvertiser {
    /// Amazon's DSP advertiser id: what DSP subscriptions are made for.
    pub advertiser_id: String,
    pub name: String,
    pub country: Option<String>,
    pub currency: Option<String>,
    pub timezone: Option<String>,
    /// The agency profile that lists it.
    pub agency_profile_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Connection {
    pub id: Uuid,
    pub name: String,
    pub region: String,
    /// The LwA app the login was made with.
    pub client_id: String,
    /// `active`; `invalid` when Amazon refused the token (see `invalid_reason`; connect the
    /// login again); `deleting` while its subscriptions are archived.
    #[schema(value_type = String)]
    pub status: ams_store::ConnectionStatus,
    pub invalid_reason: Option<String>,
    pub profiles: Vec<ConnectionProfile>,
    /// DSP advertisers listed under the login's agency profiles.
    pub dsp_advertisers: Vec<ConnectionDspAdvertiser>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The marketplace of a sponsored-ads profile: by Amazon's marketplace id, else by its country
/// code. Agency profiles have none.
fn marketplace_of(p: &Profile) -> Option<&'static Seed> {
    if !p.is_sponsored_ads() {
        return None;
    }
    ams_model::MARKETPLACES
        .iter()
        .find(|m| m.marketplace_id == p.account_info.marketplace_string_id)
        .or_else(|| Seed::by_code(if p.country_code == "GB" { "UK" } else { &p.country_code }))
}

impl From<ConnectionRow> for Connection {
    fn from(c: ConnectionRow) -> Self {
        let profiles: Vec<Profile> = serde_json::from_value(c.profiles).unwrap_or_default();
        let dsp: Vec<DspAdvertiser> = serde_json::from_value(c.dsp_advertisers).unwrap_or_default();
        Connection {
            id: c.id,
            name: c.name,
            region: c.region.as_str().to_owned(),
            client_id: c.client_id,
            status: c.status,
            invalid_reason: c.invalid_reason,
            profiles: profiles
                .into_iter()
                .map(|p| ConnectionProfile {
                    marketplace: marketplace_of(&p).map(|m| m.code.to_owned()),
                    profile_id: p.profile_id,
                    country_code: p.country_code,
                    currency_code: p.currency_code,
                    timezone: p.timezone,
                    advertiser_id: p.account_info.id,
                    advertiser_name: p.account_info.name,
                    advertiser_type: p.account_info.kind,
                })
                .collect(),
            dsp_advertisers: dsp
                .into_iter()
                .map(|a| ConnectionDspAdvertiser {
                    advertiser_id: a.advertiser_id,
                    name: a.name,
                    country: a.country,
                    currency: a.currency,
                    timezone: a.timezone,
                    agency_profile_id: a.agency_profile_id,
                })
                .collect(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// Stores a login whose token Amazon accepted, with its profiles.
pub(crate) async fn connect(
    ads: &AdsServices,
    scope: &TenantScope,
    name: &str,
    region: RegionCode,
    app: &AdsApp,
    refresh_token: &str,
) -> Result<Connection, ApiError> {
    let login = Login { app, realm: region.realm(), refresh_token };
    let listing = ams_onboard::ads::list_login(&ads.client, &login).await.map_err(amazon_error)?;
    let (profiles, dsp) = listing_json(&listing);
    let row = scope
        .create_connection(ads.keyring()?, name, region.realm(), &app.client_id, refresh_token, &profiles, &dsp)
        .await?;
    tracing::info!(tenant = %scope.slug(), connection = %row.id, profiles = listing.profiles.len(),
        dsp_advertisers = listing.dsp_advertisers.len(), "Amazon Ads login connected");
    Ok(Connection::from(row))
}

/// Connects an Amazon login: exchanges its refresh token with Login with Amazon and lists its
/// profiles (each an advertiser in a marketplace).
#[utoipa::path(
    tag = "amazon-ads",
    params(("tenant" = String, Path, description = "tenant slug")),
    request_body = NewConnection,
    responses(
        (status = 201, description = "connected; the token is stored encrypted and never shown", body = Connection),
        (status = 404, description = "no such tenant (or not yours)", body = ErrorBody),
        (status = 409, description = "a connection with this name exists", body = ErrorBody),
        (status = 422, description = "`amazon_refused` (Amazon's error code, e.g. invalid_grant), `ads_app_unset`, `secret_key_unset`, bad values", body = ErrorBody),
        (status = 503, description = "`amazon_unavailable`", body = ErrorBody),
    ),
)]
#[post("/v1/tenants/{tenant}/ads-connections")]
pub async fn create_connection(
    at: TenantPath,
    state: web::Data<ApiState>,
    body: web::Json<NewConnection>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(connect_with_token(&state, &at.scope, &body).await?))
}

/// Connects a login from its refresh token (the API's route and the dashboard's form).
pub(crate) async fn connect_with_token(state: &ApiState, scope: &TenantScope, body: &NewConnection) -> Result<Connection, ApiError> {
    let ads = services(state)?;
    validate::name("name", &body.name, 200).map_err(ApiError::invalid)?;
    let token = body.refresh_token.trim();
    if token.is_empty() || token.len() > 2048 || token.chars().any(char::is_control) {
        return Err(ApiError::invalid("refresh_token must be 1 to 2048 printable characters"));
    }
    ads.keyring()?;
    let app = ads.app_of(scope).await?;
    connect(ads, scope, body.name.trim(), body.region, &app, token).await
}

/// The tenant's connections.
#[utoipa::path(
    tag = "amazon-ads",
    params(("tenant" = String, Path, description = "tenant slug")),
    responses(
        (status = 200, description = "connections, oldest first", body = Vec<Connection>),
        (status = 404, description = "no such tenant (or not yours)", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}/ads-connections")]
pub async fn list_connections(at: TenantPath) -> Result<web::Json<Vec<Connection>>, ApiError> {
    let scope = at.scope;
    Ok(web::Json(scope.connections().await?.into_iter().map(Connection::from).collect()))
}

/// One connection.
#[utoipa::path(
    tag = "amazon-ads",
    params(("tenant" = String, Path, description = "tenant slug"), ("connection" = Uuid, Path, description = "connection id")),
    responses(
        (status = 200, description = "the connection", body = Connection),
        (status = 404, description = "no such tenant or connection", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}/ads-connections/{connection}")]
pub async fn get_connection(at: TenantPath, path: web::Path<(String, Uuid)>) -> Result<web::Json<Connection>, ApiError> {
    let (scope, (_, id)) = (at.scope, path.into_inner());
    let c = scope.connection(id).await?.ok_or_else(|| ApiError::not_found("connection"))?;
    Ok(web::Json(Connection::from(c)))
}

/// Deletes a connection: its marketplaces let go of it at once, its subscriptions are archived
/// at Amazon by the reconciler, and then it is gone.
#[utoipa::path(
    tag = "amazon-ads",
    params(("tenant" = String, Path, description = "tenant slug"), ("connection" = Uuid, Path, description = "connection id")),
    responses(
        (status = 202, description = "being deleted (status `deleting` until its subscriptions are archived)"),
        (status = 404, description = "no such tenant or connection", body = ErrorBody),
    ),
)]
#[delete("/v1/tenants/{tenant}/ads-connections/{connection}")]
pub async fn delete_connection(at: TenantPath, state: web::Data<ApiState>, path: web::Path<(String, Uuid)>) -> Result<HttpResponse, ApiError> {
    let (scope, (_, id)) = (at.scope, path.into_inner());
    if !scope.delete_connection(id).await? {
        return Err(ApiError::not_found("connection"));
    }
    tracing::info!(tenant = %scope.slug(), connection = %id, "Amazon Ads login being deleted");
    state.reconcile();
    Ok(HttpResponse::Accepted().finish())
}

fn listing_json(l: &Listing) -> (serde_json::Value, serde_json::Value) {
    (serde_json::to_value(&l.profiles).expect("profiles serialize"), serde_json::to_value(&l.dsp_advertisers).expect("advertisers serialize"))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// Only these profiles (default: every sponsored-ads profile in a marketplace AMS serves).
    pub profile_ids: Option<Vec<String>>,
    /// Only these DSP advertisers (default: every one the login's agency profiles list).
    pub dsp_advertiser_ids: Option<Vec<String>>,
    /// Attach DSP advertisers to existing accounts: `{"<DSP advertiser id>": "<account id>"}`
    /// (the brand's sponsored-ads account, say). Others go to the account that has them
    /// already, or to a new account named after the advertiser.
    pub dsp_accounts: Option<std::collections::BTreeMap<String, Uuid>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportedAccount {
    pub account_id: Uuid,
    pub name: String,
    pub advertiser_id: String,
    /// False when the advertiser's account existed already.
    pub created: bool,
    /// The marketplace codes imported for it.
    pub marketplaces: Vec<String>,
    /// The DSP advertiser ids imported for it.
    pub dsp_advertisers: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    pub accounts: Vec<ImportedAccount>,
    /// Profiles not imported as marketplaces: in a marketplace AMS does not serve, or agency
    /// profiles (their DSP advertisers are imported instead).
    pub skipped_profile_ids: Vec<String>,
    /// Agency profiles whose DSP advertisers Amazon would not list, with Amazon's answer.
    pub unlisted_agency_profiles: Vec<UnlistedProfile>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnlistedProfile {
    pub profile_id: String,
    pub reason: String,
}

/// Imports a connection's profiles: one account per sponsored-ads advertiser (found again by
/// advertiser id, or created with the advertiser's name), one marketplace per seller or vendor
/// profile with its profile id and this connection; and each DSP advertiser the login's agency
/// profiles list, tied to an account (DSP datasets are subscribed per DSP advertiser).
/// Idempotent. The profiles and advertisers are listed from Amazon afresh.
#[utoipa::path(
    tag = "amazon-ads",
    params(("tenant" = String, Path, description = "tenant slug"), ("connection" = Uuid, Path, description = "connection id")),
    request_body = ImportRequest,
    responses(
        (status = 200, description = "the accounts and marketplaces imported", body = ImportResult),
        (status = 404, description = "no such tenant or connection", body = ErrorBody),
        (status = 409, description = "the connection is being deleted", body = ErrorBody),
        (status = 422, description = "unknown profile ids; `amazon_refused`", body = ErrorBody),
        (status = 503, description = "`amazon_unavailable`", body = ErrorBody),
    ),
)]
#[post("/v1/tenants/{tenant}/ads-connections/{connection}/import")]
pub async fn import_profiles(
    at: TenantPath,
    state: web::Data<ApiState>,
    path: web::Path<(String, Uuid)>,
    body: Option<web::Json<ImportRequest>>,
) -> Result<web::Json<ImportResult>, ApiError> {
    let request = body.map(|b| b.into_inner()).unwrap_or_default();
    Ok(web::Json(import(&state, &at.scope, path.into_inner().1, request).await?))
}

/// Imports connection `id`'s profiles and DSP advertisers as `request` asks (the API's route and
/// the dashboard's form).
pub(crate) async fn import(state: &ApiState, scope: &TenantScope, id: Uuid, request: ImportRequest) -> Result<ImportResult, ApiError> {
    let ads = services(state)?;
    let login = match scope.connection_login(ads.keyring()?, id).await? {
        None => return Err(ApiError::not_found("connection")),
        Some(Err(e)) => return Err(ApiError::new(ErrorCode::SecretUnreadable, e.to_string())),
        Some(Ok(l)) => l,
    };
    if login.connection.status == ams_store::ConnectionStatus::Deleting {
        return Err(ApiError::new(ErrorCode::Conflict, "the connection is being deleted"));
    }
    let (app, realm, refresh_token) = ams_onboard::ads::login_parts(login, ads.platform_app.as_ref())
        .map_err(|why| ApiError::new(ErrorCode::AdsAppUnset, why))?;
    let listing = match ams_onboard::ads::list_login(&ads.client, &Login { app: &app, realm, refresh_token: &refresh_token }).await {
        Ok(l) => l,
        Err(e) => {
            if e.invalidates_login() {
                scope.store().set_connection_status(id, Some(&e.to_string())).await?;
            }
            return Err(amazon_error(e));
        }
    };
    let (profiles_json, dsp_json) = listing_json(&listing);
    scope.set_connection_listing(id, &profiles_json, &dsp_json).await?;
    let (profiles, advertisers) = (&listing.profiles, &listing.dsp_advertisers);
    let wanted = request.profile_ids;
    if let Some(ids) = &wanted {
        let unknown: Vec<&String> = ids.iter().filter(|i| !profiles.iter().any(|p| &p.profile_id == *i)).collect();
        if !unknown.is_empty() {
            return Err(ApiError::invalid(format!("profiles not listed by this login: {unknown:?}")));
        }
    }
    let dsp_accounts = request.dsp_accounts.unwrap_or_default();
    let wanted_dsp = request.dsp_advertiser_ids;
    for id in wanted_dsp.iter().flatten().chain(dsp_accounts.keys()) {
        if !advertisers.iter().any(|a| &a.advertiser_id == id) {
            return Err(ApiError::invalid(format!("DSP advertiser {id:?} is not listed under this login's agency profiles")));
        }
    }
    for account in dsp_accounts.values() {
        scope.account(*account).await?.ok_or_else(|| ApiError::invalid(format!("dsp_accounts names {account}, which is no account of this tenant")))?;
    }
    let dsp: Vec<DspImport> = advertisers
        .iter()
        .filter(|a| wanted_dsp.as_ref().is_none_or(|w| w.contains(&a.advertiser_id)))
        .map(|a| DspImport {
            advertiser_id: a.advertiser_id.clone(),
            agency_profile_id: a.agency_profile_id.clone(),
            name: a.name.clone(),
            country: a.country.clone(),
            currency: a.currency.clone(),
            timezone: a.timezone.clone(),
            realm,
            region: realm.region().to_owned(),
            account: dsp_accounts.get(&a.advertiser_id).copied(),
        })
        .collect();
    let (mut imports, mut skipped) = (Vec::new(), Vec::new());
    for p in profiles.iter().filter(|p| wanted.as_ref().is_none_or(|w| w.contains(&p.profile_id))) {
        match marketplace_of(p) {
            Some(m) => imports.push(ProfileImport {
                profile_id: p.profile_id.clone(),
                advertiser_id: p.account_info.id.clone(),
                advertiser_name: p.account_info.name.clone(),
                marketplace: m.code.to_owned(),
                ads_account_id: listing.global_accounts.get(&p.profile_id).cloned(),
            }),
            None => skipped.push(p.profile_id.clone()),
        }
    }
    let accounts = scope.import_profiles(id, &imports, &dsp).await?;
    tracing::info!(tenant = %scope.slug(), connection = %id, accounts = accounts.len(), profiles = imports.len(),
        dsp_advertisers = dsp.len(), "profiles imported");
    state.reconcile();
    Ok(ImportResult {
        accounts: accounts
            .into_iter()
            .map(|a| ImportedAccount {
                account_id: a.account_id,
                name: a.name,
                advertiser_id: a.advertiser_id,
                created: a.created,
                marketplaces: a.marketplaces,
                dsp_advertisers: a.dsp_advertisers,
            })
            .collect(),
        skipped_profile_ids: skipped,
        unlisted_agency_profiles: listing
            .unlisted
            .into_iter()
            .map(|(profile_id, reason)| UnlistedProfile { profile_id, reason })
            .collect(),
    })
}
