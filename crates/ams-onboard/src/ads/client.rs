//! The Amazon Ads API calls ams-hub makes: list a login's profiles, and list, create, read and
//! archive its Marketing Stream subscriptions (sponsored ads under `/streams/subscriptions`,
//! DSP under `/dsp/streams/subscriptions`).
//!
//! Every call: a 401 gets one fresh access token and one more try (then
//! [`AdsError::Unauthorized`]); a 429 waits `Retry-After` (at most [`MAX_RETRY_AFTER`], three
//! times); 5xx and I/O errors are retried with jittered exponential backoff (backon).

use ams_store::StreamStatus;
use std::time::Duration;

use ams_model::Realm;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AdsApp, AdsError, Lwa, DSP_ACCOUNT_HEADER, STREAM_CONTENT_TYPE};

/// The longest `Retry-After` honoured in one wait; longer ones end the call as throttled.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
pub(crate) const THROTTLED_TRIES: usize = 3;

/// One Amazon login in one region: whose calls these are.
#[derive(Debug, Clone)]
pub struct Login<'a> {
    pub app: &'a AdsApp,
    pub realm: Realm,
    pub refresh_token: &'a str,
}

/// Whose call it is: a sponsored-ads profile's or a DSP advertiser's subscriptions, or an
/// agency profile's listing of DSP advertisers; or, in Amazon's newer API (`/adsApi/v1/…`, the
/// Stream v2 subscriptions), the accounts named in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope<'a> {
    Profile(&'a str),
    Dsp(&'a str),
    Agency(&'a str),
    /// No scope header: the body's `accessRequestedAccounts` say whose; the client id goes in
    /// `Amazon-Ads-ClientId`, the bodies are plain JSON.
    InBody,
}

/// `GET /v2/profiles`: one advertiser in one marketplace.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(deserialize_with = "id_text")]
    pub profile_id: String,
    #[serde(default)]
    pub country_code: String,
    #[serde(default)]
    pub currency_code: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    pub account_info: ProfileAccount,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProfileAccount {
    #[serde(default)]
    pub marketplace_string_id: String,
    #[serde(deserialize_with = "id_text")]
    pub id: String,
    /// `seller`, `vendor` or `agency`.
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    /// `KDP_AUTHOR` or `AMAZON_ATTRIBUTION`, when Amazon gives one.
    #[serde(rename = "subType", default, skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<String>,
}

impl Profile {
    /// A sponsored-ads profile: an advertiser (`seller` or `vendor`) in one marketplace. An
    /// `agency` profile is not: it reaches DSP advertisers ([`AdsClient::dsp_advertisers`]).
    pub fn is_sponsored_ads(&self) -> bool {
        matches!(self.account_info.kind.as_str(), "seller" | "vendor")
    }

    /// An agency profile that lists DSP advertisers (Amazon's DSP API refuses the
    /// `AMAZON_ATTRIBUTION` sub-type).
    pub fn is_dsp_agency(&self) -> bool {
        self.account_info.kind == "agency" && self.account_info.sub_type.as_deref() != Some("AMAZON_ATTRIBUTION")
    }
}

/// A DSP advertiser (`GET /dsp/advertisers`), with the agency profile that lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DspAdvertiser {
    #[serde(deserialize_with = "id_text")]
    pub advertiser_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    /// Not Amazon's: the agency profile it was listed under (kept with the connection).
    #[serde(default)]
    pub agency_profile_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DspAdvertiserPage {
    #[serde(default)]
    total_results: Option<u64>,
    #[serde(default)]
    response: Vec<DspAdvertiser>,
}

/// Amazon's DSP advertiser listing serves at most this many per call.
const DSP_PAGE: usize = 100;

/// Amazon sends profile ids as numbers (beyond 2^53 sometimes) and account ids as strings.
fn id_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => Ok(n.to_string()),
        Value::String(s) if !s.is_empty() => Ok(s),
        _ => Err(serde::de::Error::custom("an id that is neither a number nor a non-empty string")),
    }
}

/// A subscription as Amazon shows it (Amazon's `StreamSubscription`: `subscriptionId`,
/// `dataSetId`, `status`, `destination` or `destinationArn`, `notes`, `createdDate`,
/// `updatedDate`; Amazon gives no reason with a status).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StreamSubscription {
    pub subscription_id: String,
    pub data_set_id: String,
    /// One of Amazon's seven statuses (a word outside them fails the answer, loudly); absent
    /// while Amazon has not settled one.
    #[serde(default)]
    pub status: Option<StreamStatus>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    destination: Option<Value>,
    #[serde(default)]
    destination_arn: Option<String>,
}

impl StreamSubscription {
    /// The SQS queue ARN it delivers to, from either form Amazon uses.
    pub fn queue_arn(&self) -> Option<&str> {
        self.destination
            .as_ref()
            .and_then(|d| d.pointer("/sqsDestination/queueArn"))
            .and_then(Value::as_str)
            .or(self.destination_arn.as_deref())
    }
}

/// `GET …/subscriptions/{id}` wraps the subscription: `{"subscription": {…}}`.
#[derive(Deserialize)]
struct OneSubscription {
    subscription: StreamSubscription,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CreatedSubscription {
    pub subscription_id: String,
    #[serde(default)]
    pub client_request_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    subscriptions: Vec<StreamSubscription>,
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Clone)]
pub struct AdsClient {
    http: reqwest::Client,
    lwa: Lwa,
}

pub(crate) enum Body<'a> {
    None,
    Json(&'a Value),
}

impl AdsClient {
    pub fn new(http: reqwest::Client, lwa: Lwa) -> AdsClient {
        AdsClient { http, lwa }
    }

    pub fn lwa(&self) -> &Lwa {
        &self.lwa
    }

    /// The login's profiles.
    pub async fn profiles(&self, login: &Login<'_>) -> Result<Vec<Profile>, AdsError> {
        let v = self.call(login, Method::GET, "/v2/profiles", &[], None, Body::None).await?;
        serde_json::from_value(v).map_err(|e| AdsError::Unavailable(format!("profiles answer not understood: {e}")))
    }

    /// The DSP advertisers an agency profile reaches, all pages (`GET /dsp/advertisers` with
    /// the agency profile as `Amazon-Advertising-API-Scope`).
    pub async fn dsp_advertisers(&self, login: &Login<'_>, agency_profile_id: &str) -> Result<Vec<DspAdvertiser>, AdsError> {
        let mut all: Vec<DspAdvertiser> = Vec::new();
        loop {
            let (start, count) = (all.len().to_string(), DSP_PAGE.to_string());
            let query = [("startIndex", start.as_str()), ("count", count.as_str())];
            let v = self.call(login, Method::GET, "/dsp/advertisers", &query, Some(Scope::Agency(agency_profile_id)), Body::None).await?;
            let page: DspAdvertiserPage =
                serde_json::from_value(v).map_err(|e| AdsError::Unavailable(format!("DSP advertiser list not understood: {e}")))?;
            let got = page.response.len();
            all.extend(page.response.into_iter().map(|a| DspAdvertiser { agency_profile_id: agency_profile_id.to_owned(), ..a }));
            let total = page.total_results.map_or(all.len(), |t| t as usize);
            if got == 0 || all.len() >= total {
                return Ok(all);
            }
        }
    }

    /// Every subscription of the scope, all pages.
    pub async fn list_subscriptions(&self, login: &Login<'_>, scope: Scope<'_>) -> Result<Vec<StreamSubscription>, AdsError> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("maxResults", "100")];
            if let Some(t) = &token {
                query.push(("startingToken", t));
            }
            let v = self.call(login, Method::GET, base(scope), &query, Some(scope), Body::None).await?;
            let page: Page =
                serde_json::from_value(v).map_err(|e| AdsError::Unavailable(format!("subscription list not understood: {e}")))?;
            all.extend(page.subscriptions);
            match page.next_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(all),
            }
        }
    }

    /// Creates a subscription of `dataset` delivering to `queue_arn`. `client_request_token`
    /// makes a retry (or a restart after a crash) return the same subscription.
    pub async fn create_subscription(
        &self,
        login: &Login<'_>,
        scope: Scope<'_>,
        dataset: &str,
        queue_arn: &str,
        client_request_token: &str,
        notes: &str,
    ) -> Result<CreatedSubscription, AdsError> {
        let body = serde_json::json!({
            "clientRequestToken": client_request_token,
            "dataSetId": dataset,
            "destination": {"sqsDestination": {"queueArn": queue_arn}},
            "notes": notes,
        });
        let v = self.call(login, Method::POST, base(scope), &[], Some(scope), Body::Json(&body)).await?;
        serde_json::from_value(v).map_err(|e| AdsError::Unavailable(format!("create answer not understood: {e}")))
    }

    pub async fn get_subscription(&self, login: &Login<'_>, scope: Scope<'_>, id: &str) -> Result<StreamSubscription, AdsError> {
        let v = self.call(login, Method::GET, &format!("{}/{id}", base(scope)), &[], Some(scope), Body::None).await?;
        let one: OneSubscription =
            serde_json::from_value(v).map_err(|e| AdsError::Unavailable(format!("subscription not understood: {e}")))?;
        Ok(one.subscription)
    }

    /// Archives a subscription (Amazon has no delete; an archived one delivers nothing).
    pub async fn archive_subscription(&self, login: &Login<'_>, scope: Scope<'_>, id: &str) -> Result<(), AdsError> {
        let body = serde_json::json!({"status": StreamStatus::Archived});
        self.call(login, Method::PUT, &format!("{}/{id}", base(scope)), &[], Some(scope), Body::Json(&body)).await.map(|_| ())
    }

    pub(crate) async fn call(
        &self,
        login: &Login<'_>,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        scope: Option<Scope<'_>>,
        body: Body<'_>,
    ) -> Result<Value, AdsError> {
        self.call_as(login, method, path, query, scope, body, None).await
    }

    /// [`AdsClient::call`] with the media type the operation's document names for its body
    /// and answer (`None`: the one its scope implies).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn call_as(
        &self,
        login: &Login<'_>,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        scope: Option<Scope<'_>>,
        body: Body<'_>,
        media: Option<&'static str>,
    ) -> Result<Value, AdsError> {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.lwa.endpoints().ads_api(login.realm)), query)
            .map_err(|e| AdsError::Unavailable(format!("bad Ads API URL (AMS_HUB_ADS_API_URL?): {e}")))?;
        let mut backoff = super::retry_delays();
        let (mut refreshed, mut throttled) = (false, 0);
        loop {
            let token = self.lwa.access_token(login.app, login.realm, login.refresh_token).await?;
            let client_id_header =
                if scope == Some(Scope::InBody) { "Amazon-Ads-ClientId" } else { "Amazon-Advertising-API-ClientId" };
            let mut request = self.http.request(method.clone(), url.clone()).header(client_id_header, &login.app.client_id).bearer_auth(&token.token);
            match scope {
                Some(Scope::Profile(p) | Scope::Agency(p)) => request = request.header("Amazon-Advertising-API-Scope", p),
                Some(Scope::Dsp(a)) => request = request.header(DSP_ACCOUNT_HEADER, a),
                Some(Scope::InBody) | None => {}
            }
            // Subscription calls speak Amazon's Marketing Stream media type both ways; the
            // profile and DSP advertiser listings plain JSON.
            let media_type = media.unwrap_or(match scope {
                Some(Scope::Profile(_) | Scope::Dsp(_)) => STREAM_CONTENT_TYPE,
                _ => "application/json",
            });
            request = request.header(reqwest::header::ACCEPT, media_type);
            if let Body::Json(b) = body {
                request = request.header(reqwest::header::CONTENT_TYPE, media_type).body(b.to_string());
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => match backoff.next() {
                    Some(wait) => {
                        tracing::debug!(error = %e.without_url(), ?wait, "Ads API unreachable; retrying");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    None => return Err(AdsError::Unavailable(e.without_url().to_string())),
                },
            };
            let status = response.status();
            let retry_after = retry_after(response.headers());
            let bytes = response.bytes().await.map_err(|e| AdsError::Unavailable(e.without_url().to_string()))?;
            if status.is_success() {
                if bytes.is_empty() {
                    return Ok(Value::Null);
                }
                return serde_json::from_slice(&bytes).map_err(|e| AdsError::Unavailable(format!("an answer that is not JSON: {e}")));
            }
            let (code, message) = amazon_error(&bytes);
            match status {
                StatusCode::UNAUTHORIZED if !refreshed => {
                    refreshed = true;
                    self.lwa.forget(login.app, login.refresh_token);
                }
                StatusCode::UNAUTHORIZED => return Err(AdsError::Unauthorized(format!("{code}: {message}"))),
                StatusCode::TOO_MANY_REQUESTS => {
                    let wait = retry_after.unwrap_or(Duration::from_secs(1));
                    throttled += 1;
                    if throttled > THROTTLED_TRIES || wait > MAX_RETRY_AFTER {
                        return Err(AdsError::Throttled(wait));
                    }
                    tracing::info!(?wait, "Amazon Ads API throttled (429): waiting as Retry-After asks");
                    tokio::time::sleep(wait).await;
                }
                s if s.is_server_error() => match backoff.next() {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => return Err(AdsError::Unavailable(format!("{s}: {code}: {message}"))),
                },
                s => return Err(AdsError::Rejected { status: s.as_u16(), code, message }),
            }
        }
    }
}

/// `Retry-After` in seconds, when given.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite())
        .map(|s| Duration::from_secs_f64(s.clamp(0.0, 3600.0)))
}

fn base(scope: Scope<'_>) -> &'static str {
    match scope {
        Scope::Dsp(_) => "/dsp/streams/subscriptions",
        Scope::Profile(_) | Scope::Agency(_) | Scope::InBody => "/streams/subscriptions",
    }
}

/// Amazon's error bodies: `{code, message}` (Marketing Stream; `message` required), `{message,
/// requestId}` (DSP) or `{code, details}` (older APIs).
fn amazon_error(bytes: &[u8]) -> (String, String) {
    let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let code = text("code").unwrap_or_else(|| "error".into());
    let message = text("message").or_else(|| text("details")).unwrap_or_else(|| String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned());
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_parse_amazon_ids_whether_numbers_or_strings() {
        let p: Vec<Profile> = serde_json::from_str(
            r#"[{"profileId": 3247592823905843, "countryCode": "US", "currencyCode": "USD", "timezone": "America/Los_Angeles",
                 "accountInfo": {"marketplaceStringId": "ATVPDKIKX0DER", "id": "A3LC1GXJ6LZQ2V", "type": "seller", "name": "Brand One"}}]"#,
        )
        .unwrap();
        assert_eq!(p[0].profile_id, "3247592823905843");
        assert_eq!(p[0].account_info.id, "A3LC1GXJ6LZQ2V");
        assert_eq!(p[0].account_info.kind, "seller");
    }

    #[test]
    fn a_subscription_names_its_queue_in_either_form() {
        let new: StreamSubscription = serde_json::from_str(
            r#"{"subscriptionId": "s1", "dataSetId": "sp-traffic", "status": "ACTIVE",
                "destination": {"sqsDestination": {"queueArn": "arn:aws:sqs:us-east-1:1:q"}}}"#,
        )
        .unwrap();
        let old: StreamSubscription =
            serde_json::from_str(r#"{"subscriptionId": "s2", "dataSetId": "sp-traffic", "destinationArn": "arn:aws:sqs:us-east-1:1:q"}"#).unwrap();
        assert_eq!(new.queue_arn(), Some("arn:aws:sqs:us-east-1:1:q"));
        assert_eq!(old.queue_arn(), Some("arn:aws:sqs:us-east-1:1:q"));
    }

    #[test]
    fn a_subscription_read_by_id_comes_wrapped() {
        let one: OneSubscription = serde_json::from_str(
            r#"{"subscription": {"subscriptionId": "s1", "dataSetId": "sp-traffic", "status": "ACTIVE",
                "createdDate": "2026-12-01T00:00:00Z", "updatedDate": "2026-12-01T00:00:00Z"}}"#,
        )
        .unwrap();
        assert_eq!(one.subscription.subscription_id, "s1");
        assert!(serde_json::from_str::<OneSubscription>(r#"{"subscriptionId": "s1", "dataSetId": "sp-traffic"}"#).is_err());
    }
}
