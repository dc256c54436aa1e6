//! The Amazon Ads API side of onboarding: Login with Amazon ([`lwa`]) turns a login's refresh
//! token into access tokens, and [`client`] lists its profiles and manages its Marketing Stream
//! subscriptions, to Amazon's published contract:
//!
//! * LwA: `POST /auth/o2/token` on `api.amazon.com` (NA), `api.amazon.co.uk` (EU),
//!   `api.amazon.co.jp` (FE); form-encoded `grant_type=refresh_token` or `authorization_code`.
//! * Ads API: `advertising-api{,-eu,-fe}.amazon.com`; every call carries
//!   `Amazon-Advertising-API-ClientId` and `Authorization: Bearer`; profile-scoped calls
//!   `Amazon-Advertising-API-Scope`; DSP calls [`DSP_ACCOUNT_HEADER`].
//!
//! `AMS_HUB_ADS_API_URL` and `AMS_HUB_LWA_URL` replace the hosts (tests, proxies).

pub mod client;
pub mod lwa;

use std::time::Duration;

use ams_model::Realm;

pub use client::{AdsClient, CreatedSubscription, Profile, ProfileAccount, StreamSubscription};
pub use lwa::{consent_url, AccessToken, Lwa};

/// The header naming the DSP advertiser on `/dsp/streams/subscriptions` calls. Amazon's pages
/// spell it several ways (`Amazon-Advertising-API-Account-ID`, `Amazon-Ads-AccountId`); the
/// Marketing Stream OpenAPI document Amazon publishes (version 3.0) declares
/// `Amazon-Ads-Account-ID` as required on every DSP subscription operation, so that is what
/// ams-hub sends. Keep it here, in one place, should Amazon settle on another.
pub const DSP_ACCOUNT_HEADER: &str = "Amazon-Ads-Account-ID";

/// Content type of sponsored-ads subscription calls.
pub const STREAM_CONTENT_TYPE: &str = "application/vnd.MarketingStreamSubscriptions.StreamSubscriptionResource.v1.0+json";
/// Content type of DSP subscription calls.
pub const DSP_STREAM_CONTENT_TYPE: &str = "application/vnd.DspStreamSubscriptionResource.v1.0+json";
/// The scope ams-hub asks a login to consent to.
pub const CONSENT_SCOPE: &str = "advertising::campaign_management";

/// An LwA app: the client id and secret Amazon issued to the agency (or to the platform).
#[derive(Clone)]
pub struct AdsApp {
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for AdsApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdsApp").field("client_id", &self.client_id).field("client_secret", &"<redacted>").finish()
    }
}

/// Where Amazon's endpoints are; `None` fields are Amazon's own hosts.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    /// `AMS_HUB_ADS_API_URL`: one base URL for every region's Ads API.
    pub ads_api: Option<String>,
    /// `AMS_HUB_LWA_URL`: the base URL of LwA's token endpoint.
    pub lwa: Option<String>,
}

impl Endpoints {
    pub fn from_env() -> Endpoints {
        let var = |n: &str| std::env::var(n).ok().map(|v| v.trim().trim_end_matches('/').to_owned()).filter(|v| !v.is_empty());
        Endpoints { ads_api: var("AMS_HUB_ADS_API_URL"), lwa: var("AMS_HUB_LWA_URL") }
    }

    pub fn ads_api(&self, realm: Realm) -> String {
        self.ads_api.clone().unwrap_or_else(|| realm.api_endpoint().to_owned())
    }

    pub fn lwa_token(&self, realm: Realm) -> String {
        let base = self.lwa.clone().unwrap_or_else(|| {
            match realm {
                Realm::Na => "https://api.amazon.com",
                Realm::Eu => "https://api.amazon.co.uk",
                Realm::Fe => "https://api.amazon.co.jp",
            }
            .to_owned()
        });
        format!("{base}/auth/o2/token")
    }
}

/// What went wrong talking to Amazon. Messages are Amazon's, which never echo a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdsError {
    /// LwA refused the refresh token or the app (`invalid_grant`, `invalid_client`, …): the
    /// login must be connected again.
    #[error("Login with Amazon refused the token: {code}: {message}")]
    Refused { code: String, message: String },
    /// The Ads API refused a fresh access token (401).
    #[error("the Amazon Ads API refused the access token: {0}")]
    Unauthorized(String),
    /// A 4xx other than 401 and 429: Amazon will not do it as asked.
    #[error("Amazon answered {status}: {code}: {message}")]
    Rejected { status: u16, code: String, message: String },
    /// Still throttled (429) after waiting as Amazon asked.
    #[error("Amazon is throttling requests (429); retry after {0:?}")]
    Throttled(Duration),
    /// 5xx, a timeout or a broken connection, after retries.
    #[error("Amazon is unreachable or failing: {0}")]
    Unavailable(String),
}

impl AdsError {
    /// Whether the login itself is at fault (the connection turns `invalid`).
    pub fn invalidates_login(&self) -> bool {
        matches!(self, AdsError::Refused { .. } | AdsError::Unauthorized(_))
    }
}

/// What a stored login is used with: its LwA app (the tenant's own when the token was issued
/// to it, else the platform's, which must be the app it was issued to), its realm and its
/// refresh token; or why it cannot be used.
pub fn login_parts(login: ams_store::control::ads::ConnectionLogin, platform: Option<&AdsApp>) -> Result<(AdsApp, Realm, String), String> {
    let c = login.connection;
    let app = match (login.tenant_app_secret, platform) {
        (Some(client_secret), _) => AdsApp { client_id: c.client_id.clone(), client_secret },
        (None, Some(p)) if p.client_id == c.client_id => p.clone(),
        _ => {
            return Err(format!(
                "the LwA app the login was issued to ({}) is no longer configured (tenant ads-app or AMS_HUB_ADS_CLIENT_ID)",
                c.client_id
            ))
        }
    };
    Ok((app, Realm::from_code(&c.region).unwrap_or(Realm::Na), login.refresh_token))
}

/// The delays between retries of a call to Amazon that got no answer or a 5xx: jittered,
/// exponential, four of them (backon).
pub(crate) fn retry_delays() -> impl Iterator<Item = Duration> {
    use backon::BackoffBuilder;
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(4)
        .with_jitter()
        .build()
}

/// The HTTP client every Amazon call goes through: rustls, timeouts.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("ams-hub/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("an HTTP client with rustls")
}
