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

pub mod accounts;
pub mod client;
pub mod lwa;
pub mod stream_v2;

use std::time::Duration;

use ams_model::Realm;

pub use client::{AdsClient, CreatedSubscription, DspAdvertiser, Profile, ProfileAccount, StreamSubscription};
pub use lwa::{consent_url, AccessToken, Lwa};

/// The header naming the DSP advertiser on `/dsp/streams/subscriptions` calls. Amazon's pages
/// spell it several ways (`Amazon-Advertising-API-Account-ID`, `Amazon-Ads-AccountId`); the
/// Marketing Stream OpenAPI document Amazon publishes (version 3.0) declares
/// `Amazon-Ads-Account-ID` as required on every DSP subscription operation, so that is what
/// ams-hub sends. Keep it here, in one place, should Amazon settle on another.
pub const DSP_ACCOUNT_HEADER: &str = "Amazon-Ads-Account-ID";

/// The media type of every Marketing Stream subscription call, sponsored ads and DSP alike
/// (`Content-Type` and `Accept`), as Amazon's Marketing Stream OpenAPI document (3.0) declares
/// it for each operation. Older guides show
/// `application/vnd.MarketingStreamSubscriptions.StreamSubscriptionResource.v1.0+json`; no Amazon
/// source names a DSP-specific type.
pub const STREAM_CONTENT_TYPE: &str = "application/vnd.amazonmarketingstreamsubscriptions.v1+json";
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
    /// One base URL for every region's Ads API (`AMS_HUB_ADS_API_URL`).
    pub ads_api: Option<String>,
    /// The base URL of LwA's token endpoint (`AMS_HUB_LWA_URL`).
    pub lwa: Option<String>,
    /// The base URL of LwA's consent page (`AMS_HUB_LWA_CONSENT_URL`): a stand-in's in tests
    /// and the demo.
    pub consent: Option<String>,
}

impl Endpoints {
    /// Base URLs as configured (`[ads] api_url`, `lwa_url`); blank is unset.
    pub fn new(ads_api: Option<&str>, lwa: Option<&str>) -> Endpoints {
        let base = |v: Option<&str>| v.map(|v| v.trim().trim_end_matches('/').to_owned()).filter(|v| !v.is_empty());
        Endpoints { ads_api: base(ads_api), lwa: base(lwa), consent: None }
    }

    /// With the consent page at `consent` (`[ads] consent_url`); blank is Amazon's.
    pub fn with_consent(mut self, consent: Option<&str>) -> Endpoints {
        self.consent = consent.map(|v| v.trim().trim_end_matches('/').to_owned()).filter(|v| !v.is_empty());
        self
    }

    /// The consent page (`/ap/oa`) of `realm`'s Login with Amazon.
    pub fn consent_page(&self, realm: Realm) -> String {
        match &self.consent {
            Some(base) => format!("{base}/ap/oa"),
            None => match realm {
                Realm::Na => "https://www.amazon.com/ap/oa",
                Realm::Eu => "https://eu.account.amazon.com/ap/oa",
                Realm::Fe => "https://apac.account.amazon.com/ap/oa",
            }
            .to_owned(),
        }
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
    /// LwA refused the refresh token or the app for good (`invalid_grant`, `invalid_client`,
    /// `unauthorized_client`): the login must be connected again.
    #[error("Login with Amazon refused the token: {code}: {message}")]
    Refused { code: String, message: String },
    /// The Ads API refused a fresh access token (401) for one call: a profile or advertiser
    /// the login no longer reaches. It concerns that scope, not the whole login.
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
    /// Whether the login itself is refused for good (the connection turns `invalid`): only
    /// LwA's definitive refusals. A 429, a 5xx, a timeout or a 401 on one profile never is.
    pub fn invalidates_login(&self) -> bool {
        matches!(self, AdsError::Refused { .. })
    }

    /// Whether the call may succeed later by itself (throttling, an outage): worth a quick
    /// retry. A refusal is not: retried only at the next scheduled pass.
    pub fn is_transient(&self) -> bool {
        matches!(self, AdsError::Throttled(_) | AdsError::Unavailable(_))
    }

    /// Whether it concerns the whole scope (profile or advertiser) of the call, not one
    /// subscription: the login lost access to it.
    pub fn concerns_scope(&self) -> bool {
        matches!(self, AdsError::Unauthorized(_) | AdsError::Rejected { status: 403, .. })
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
    Ok((app, c.region, login.refresh_token))
}

/// What a login reaches: its profiles, and the DSP advertisers its agency profiles list.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub profiles: Vec<Profile>,
    pub dsp_advertisers: Vec<DspAdvertiser>,
    /// Agency profiles whose DSP advertisers Amazon would not list, and why (the login may
    /// lack DSP access there); the rest of the listing stands.
    pub unlisted: Vec<(String, String)>,
    /// Profile id → its global advertising account id (Stream v2's `advertiserAccountId`);
    /// empty when Amazon would not list the login's accounts (the rest stands).
    pub global_accounts: std::collections::HashMap<String, String>,
}

/// Lists a login's profiles and, under each agency profile, its DSP advertisers. An outage
/// (or the login refused) fails the whole listing; Amazon refusing one agency profile's DSP
/// listing leaves that profile out, said in [`Listing::unlisted`].
pub async fn list_login(client: &AdsClient, login: &client::Login<'_>) -> Result<Listing, AdsError> {
    let profiles = client.profiles(login).await?;
    let mut listing = Listing::default();
    for agency in profiles.iter().filter(|p| p.is_dsp_agency()) {
        match client.dsp_advertisers(login, &agency.profile_id).await {
            Ok(found) => {
                for a in found {
                    if !listing.dsp_advertisers.iter().any(|b| b.advertiser_id == a.advertiser_id) {
                        listing.dsp_advertisers.push(a);
                    }
                }
            }
            Err(e) if e.is_transient() || e.invalidates_login() => return Err(e),
            Err(e) => {
                tracing::warn!(profile = %agency.profile_id, error = %e, "Amazon would not list an agency profile's DSP advertisers");
                listing.unlisted.push((agency.profile_id.clone(), e.to_string()));
            }
        }
    }
    match client.ads_accounts(login).await {
        Ok(accounts) => listing.global_accounts = accounts::global_accounts_by_profile(&accounts),
        Err(e) if e.is_transient() || e.invalidates_login() => return Err(e),
        // Only Stream v2 needs them: the import goes on without.
        Err(e) => tracing::warn!(error = %e, "Amazon would not list the login's global advertising accounts"),
    }
    listing.profiles = profiles;
    Ok(listing)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_definitive_refusal_invalidates_a_login_and_only_transient_errors_hurry_a_retry() {
        let refused = AdsError::Refused { code: "invalid_grant".into(), message: "revoked".into() };
        let lost_profile = AdsError::Unauthorized("UNAUTHORIZED: Not authorized to access this advertiser".into());
        let forbidden = AdsError::Rejected { status: 403, code: "FORBIDDEN".into(), message: "no".into() };
        let conflict = AdsError::Rejected { status: 409, code: "409".into(), message: "two per dataset".into() };
        let throttled = AdsError::Throttled(Duration::from_secs(5));
        let down = AdsError::Unavailable("503".into());
        assert!(refused.invalidates_login());
        for e in [&lost_profile, &forbidden, &conflict, &throttled, &down] {
            assert!(!e.invalidates_login(), "{e}");
        }
        assert!(lost_profile.concerns_scope() && forbidden.concerns_scope() && !conflict.concerns_scope());
        assert!(throttled.is_transient() && down.is_transient());
        assert!(!refused.is_transient() && !conflict.is_transient() && !lost_profile.is_transient());
    }
}
