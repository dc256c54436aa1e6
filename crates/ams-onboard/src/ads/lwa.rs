//! Login with Amazon: refresh tokens and authorization codes to access tokens, and the consent
//! page a login is sent to. Access tokens are cached per refresh token until a minute before
//! they expire (Amazon issues them for an hour).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ams_model::Realm;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{AdsApp, AdsError, Endpoints, CONSENT_SCOPE};

/// Renewed this long before Amazon says it expires.
const EARLY: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct AccessToken {
    pub token: String,
    pub expires_at: Instant,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken").field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

/// LwA's answer: `{access_token, token_type, expires_in, refresh_token}`.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    expires_in: u64,
}

#[derive(Deserialize, Default)]
struct LwaError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// The LwA client, with its access-token cache (keyed by a digest of the refresh token).
#[derive(Clone)]
pub struct Lwa {
    http: reqwest::Client,
    endpoints: Endpoints,
    cache: Arc<Mutex<HashMap<[u8; 32], AccessToken>>>,
}

fn cache_key(app: &AdsApp, refresh_token: &str) -> [u8; 32] {
    Sha256::new().chain_update(app.client_id.as_bytes()).chain_update([0]).chain_update(refresh_token.as_bytes()).finalize().into()
}

impl Lwa {
    pub fn new(http: reqwest::Client, endpoints: Endpoints) -> Lwa {
        Lwa { http, endpoints, cache: Default::default() }
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// A valid access token for this login: cached, or freshly exchanged.
    pub async fn access_token(&self, app: &AdsApp, realm: Realm, refresh_token: &str) -> Result<AccessToken, AdsError> {
        let key = cache_key(app, refresh_token);
        if let Some(t) = self.cache.lock().unwrap().get(&key) {
            if t.expires_at > Instant::now() + EARLY {
                return Ok(t.clone());
            }
        }
        let (token, _) =
            self.exchange(app, realm, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await?;
        self.cache.lock().unwrap().insert(key, token.clone());
        Ok(token)
    }

    /// Forgets the cached access token (after the Ads API refused it).
    pub fn forget(&self, app: &AdsApp, refresh_token: &str) {
        self.cache.lock().unwrap().remove(&cache_key(app, refresh_token));
    }

    /// The consent flow's last step: an authorization code to (access token, refresh token).
    pub async fn redeem_code(&self, app: &AdsApp, realm: Realm, code: &str, redirect_uri: &str) -> Result<(AccessToken, String), AdsError> {
        let (token, refresh) = self
            .exchange(app, realm, &[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect_uri)])
            .await?;
        let refresh = refresh.ok_or_else(|| AdsError::Refused {
            code: "no_refresh_token".into(),
            message: "Login with Amazon answered without a refresh token".into(),
        })?;
        self.cache.lock().unwrap().insert(cache_key(app, &refresh), token.clone());
        Ok((token, refresh))
    }

    async fn exchange(&self, app: &AdsApp, realm: Realm, grant: &[(&str, &str)]) -> Result<(AccessToken, Option<String>), AdsError> {
        let mut form: Vec<(&str, &str)> = grant.to_vec();
        form.push(("client_id", &app.client_id));
        form.push(("client_secret", &app.client_secret));
        let url = self.endpoints.lwa_token(realm);
        let mut backoff = super::retry_delays();
        let mut throttled = 0;
        loop {
            let response = match self.http.post(&url).form(&form).send().await {
                Ok(r) => r,
                // A request that never got an answer (the error holds no secret).
                Err(e) => match backoff.next() {
                    Some(wait) => {
                        tracing::debug!(error = %e.without_url(), "LwA unreachable; retrying");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    None => return Err(AdsError::Unavailable(format!("Login with Amazon: {}", e.without_url()))),
                },
            };
            let status = response.status();
            let retry_after = super::client::retry_after(response.headers());
            if status.is_server_error() {
                if let Some(wait) = backoff.next() {
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                let wait = retry_after.unwrap_or(Duration::from_secs(1));
                throttled += 1;
                if throttled > super::client::THROTTLED_TRIES || wait > super::client::MAX_RETRY_AFTER {
                    return Err(AdsError::Throttled(wait));
                }
                tokio::time::sleep(wait).await;
                continue;
            }
            let body = response.bytes().await.map_err(|e| AdsError::Unavailable(e.without_url().to_string()))?;
            if status.is_success() {
                let answer: TokenAnswer = serde_json::from_slice(&body)
                    .map_err(|e| AdsError::Unavailable(format!("Login with Amazon answered something else than a token: {e}")))?;
                let token = AccessToken {
                    token: answer.access_token,
                    expires_at: Instant::now() + Duration::from_secs(answer.expires_in),
                };
                return Ok((token, answer.refresh_token));
            }
            if status.is_server_error() {
                return Err(AdsError::Unavailable(format!("Login with Amazon answered {status}")));
            }
            return Err(refusal(status, &body));
        }
    }
}

/// LwA's 4xx answer as an error. Only Amazon's definitive refusals of the grant or the app
/// (`invalid_grant`, `invalid_client`, `unauthorized_client`) are [`AdsError::Refused`], which
/// turns a connection `invalid`; anything else (a malformed request, an unexpected code) is a
/// [`AdsError::Rejected`] that leaves the login as it is.
fn refusal(status: reqwest::StatusCode, body: &[u8]) -> AdsError {
    let e: LwaError = serde_json::from_slice(body).unwrap_or_default();
    if DEFINITIVE.contains(&e.error.as_str()) {
        return AdsError::Refused { code: e.error, message: e.error_description };
    }
    let code = if e.error.is_empty() { format!("http_{}", status.as_u16()) } else { e.error };
    AdsError::Rejected { status: status.as_u16(), code, message: format!("Login with Amazon: {}", e.error_description) }
}

/// LwA's error codes that mean the login or the app itself is refused for good (RFC 6749 §5.2).
const DEFINITIVE: [&str; 3] = ["invalid_grant", "invalid_client", "unauthorized_client"];

/// Amazon's consent page for `realm`, asking for [`CONSENT_SCOPE`] and sending the login back to
/// `redirect_uri` with `code` and `state`.
pub fn consent_url(endpoints: &super::Endpoints, client_id: &str, realm: Realm, redirect_uri: &str, state: &str) -> String {
    let host = endpoints.consent_page(realm);
    let query = [
        ("client_id", client_id),
        ("scope", CONSENT_SCOPE),
        ("response_type", "code"),
        ("redirect_uri", redirect_uri),
        ("state", state),
    ];
    match reqwest::Url::parse_with_params(&host, query) {
        Ok(u) => u.to_string(),
        // A consent URL configured wrong: the link says so where it is followed.
        Err(e) => format!("about:blank#bad-AMS_HUB_LWA_CONSENT_URL:{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_definitive_refusals_invalidate_a_login() {
        let bad = |status: u16, body: &str| refusal(reqwest::StatusCode::from_u16(status).unwrap(), body.as_bytes());
        assert!(bad(400, r#"{"error": "invalid_grant", "error_description": "revoked"}"#).invalidates_login());
        assert!(bad(401, r#"{"error": "invalid_client"}"#).invalidates_login());
        assert!(bad(400, r#"{"error": "unauthorized_client"}"#).invalidates_login());
        assert!(!bad(400, r#"{"error": "invalid_request"}"#).invalidates_login());
        assert!(!bad(403, "<html>Forbidden</html>").invalidates_login());
        assert!(!bad(408, "").invalidates_login());
    }

    #[test]
    fn the_consent_url_asks_amazon_for_the_ads_scope_and_returns_to_the_redirect() {
        let amazon = super::super::Endpoints::default();
        let url = consent_url(&amazon, "amzn1.application-oa2-client.x", Realm::Eu, "https://hub.example/oauth/amazon/callback", "a.b");
        assert!(url.starts_with("https://eu.account.amazon.com/ap/oa?client_id=amzn1.application-oa2-client.x&"), "{url}");
        assert!(url.contains("scope=advertising%3A%3Acampaign_management"), "{url}");
        assert!(url.contains("redirect_uri=https%3A%2F%2Fhub.example%2Foauth%2Famazon%2Fcallback"), "{url}");
        assert!(url.contains("response_type=code") && url.ends_with("state=a.b"), "{url}");
        // The stand-in's page instead (tests, the demo), for every realm.
        let standin = amazon.with_consent(Some("http://127.0.0.1:9/"));
        let url = consent_url(&standin, "c", Realm::Fe, "https://hub.example/cb", "a.b");
        assert!(url.starts_with("http://127.0.0.1:9/ap/oa?client_id=c&"), "{url}");
    }
}
