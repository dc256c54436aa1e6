//! Stream v2 subscriptions, exactly as Amazon's published document specifies them: four
//! `POST`s under `/adsApi/v1/{create,delete,query,retrieve}/streamSubscriptions`, the client id in
//! `Amazon-Ads-ClientId`, the advertiser account in the body (`accessRequestedAccounts`), plain
//! JSON. Create, retrieve and delete (Amazon calls it archive) answer 207 multi-status: one item
//! in `success` or one in `error`; an `error` item is that call's failure
//! ([`AdsError::Rejected`] with status 207 and Amazon's code). Query answers 200 and pages with
//! `nextToken`. Statuses: ACTIVE, ARCHIVED, SUSPENDED. There is no update and no client request
//! token: a create repeated after a lost answer makes a second subscription, so callers query
//! before creating again.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::client::{Body, Login, Scope};
use super::{AdsClient, AdsError};

const BASE: &str = "/adsApi/v1";
/// The page size asked of query (Amazon allows 1 to 5000).
const QUERY_PAGE: u32 = 1000;

/// A Stream v2 subscription as Amazon answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V2Subscription {
    pub stream_subscription_id: String,
    /// ACTIVE, ARCHIVED or SUSPENDED.
    pub status: String,
    pub configuration: V2Configuration,
    pub destination: V2Destination,
    pub creation_date_time: String,
    pub last_updated_date_time: String,
}

impl V2Subscription {
    pub fn dataset_id(&self) -> &str {
        &self.configuration.dataset.dataset_id
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V2Configuration {
    pub dataset: V2Dataset,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V2Dataset {
    pub dataset_id: String,
}

/// `{"s3Destination": {"bucketArn", "notification": {"queueArn"}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V2Destination {
    pub s3_destination: S3Destination,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Destination {
    pub bucket_arn: String,
    pub notification: Notification,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub queue_arn: String,
}

/// A 207 answer: one success or one error.
#[derive(Debug, Deserialize)]
struct MultiStatus {
    #[serde(default)]
    success: Vec<Success>,
    #[serde(default)]
    error: Vec<ErrorItem>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Success {
    stream_subscription: V2Subscription,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorItem {
    errors: Vec<ItemError>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemError {
    code: String,
    message: String,
    #[serde(default)]
    field_location: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryPage {
    #[serde(default)]
    stream_subscriptions: Vec<V2Subscription>,
    #[serde(default)]
    next_token: Option<String>,
}

fn accounts(advertiser_account_id: &str) -> Value {
    json!([{"advertiserAccountId": advertiser_account_id}])
}

/// The one subscription of a 207, or its error as the call's failure.
fn one(v: Value, what: &str) -> Result<V2Subscription, AdsError> {
    let m: MultiStatus = serde_json::from_value(v).map_err(|e| AdsError::Unavailable(format!("{what} answer not understood: {e}")))?;
    if let Some(item) = m.error.into_iter().next() {
        let first = item.errors.into_iter().next();
        let (code, message) = match first {
            Some(e) => (e.code, match e.field_location {
                Some(at) => format!("{} (at {at})", e.message),
                None => e.message,
            }),
            None => ("error".into(), "an error item without errors".into()),
        };
        return Err(AdsError::Rejected { status: 207, code, message });
    }
    m.success
        .into_iter()
        .next()
        .map(|s| s.stream_subscription)
        .ok_or_else(|| AdsError::Unavailable(format!("{what} answered neither a success nor an error")))
}

impl AdsClient {
    /// Subscribes `advertiser_account_id` to `dataset_id`, delivered to `destination`.
    pub async fn create_v2_subscription(
        &self,
        login: &Login<'_>,
        advertiser_account_id: &str,
        dataset_id: &str,
        destination: &S3Destination,
    ) -> Result<V2Subscription, AdsError> {
        let body = json!({
            "accessRequestedAccounts": accounts(advertiser_account_id),
            "streamSubscriptions": [{
                "configuration": {"dataset": {"datasetId": dataset_id}},
                "destination": {"s3Destination": destination},
            }],
        });
        let v = self.call(login, Method::POST, &format!("{BASE}/create/streamSubscriptions"), &[], Some(Scope::InBody), Body::Json(&body)).await?;
        one(v, "create")
    }

    pub async fn retrieve_v2_subscription(&self, login: &Login<'_>, advertiser_account_id: &str, id: &str) -> Result<V2Subscription, AdsError> {
        let body = json!({"accessRequestedAccounts": accounts(advertiser_account_id), "streamSubscriptionIds": [id]});
        let v = self.call(login, Method::POST, &format!("{BASE}/retrieve/streamSubscriptions"), &[], Some(Scope::InBody), Body::Json(&body)).await?;
        one(v, "retrieve")
    }

    /// Archives a subscription (Amazon's `delete`): it delivers nothing more.
    pub async fn archive_v2_subscription(&self, login: &Login<'_>, advertiser_account_id: &str, id: &str) -> Result<V2Subscription, AdsError> {
        let body = json!({"accessRequestedAccounts": accounts(advertiser_account_id), "streamSubscriptionIds": [id]});
        let v = self.call(login, Method::POST, &format!("{BASE}/delete/streamSubscriptions"), &[], Some(Scope::InBody), Body::Json(&body)).await?;
        one(v, "delete")
    }

    /// Every subscription of the account, all pages.
    pub async fn query_v2_subscriptions(&self, login: &Login<'_>, advertiser_account_id: &str) -> Result<Vec<V2Subscription>, AdsError> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({"accessRequestedAccounts": accounts(advertiser_account_id), "maxResults": QUERY_PAGE});
            if let Some(t) = &token {
                body["nextToken"] = json!(t);
            }
            let v = self.call(login, Method::POST, &format!("{BASE}/query/streamSubscriptions"), &[], Some(Scope::InBody), Body::Json(&body)).await?;
            let page: QueryPage = serde_json::from_value(v).map_err(|e| AdsError::Unavailable(format!("query answer not understood: {e}")))?;
            all.extend(page.stream_subscriptions);
            match page.next_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(all),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription() -> Value {
        json!({"streamSubscriptionId": "s-1", "status": "ACTIVE",
               "configuration": {"dataset": {"datasetId": "ds-1"}},
               "destination": {"s3Destination": {"bucketArn": "arn:aws:s3:::b", "notification": {"queueArn": "arn:aws:sqs:us-east-1:1:q"}}},
               "creationDateTime": "2026-12-01T00:00:00Z", "lastUpdatedDateTime": "2026-12-01T00:00:00Z"})
    }

    #[test]
    fn a_207_is_its_one_success_or_its_one_error() {
        let ok = one(json!({"success": [{"index": 0, "streamSubscription": subscription()}], "error": []}), "create").unwrap();
        assert_eq!((ok.stream_subscription_id.as_str(), ok.dataset_id()), ("s-1", "ds-1"));
        let failed = one(json!({"success": [], "error": [{"index": 0, "errors": [{"code": "FIELD_VALUE_IS_INVALID", "message": "bad bucket", "fieldLocation": "destination"}]}]}), "create");
        assert_eq!(failed.unwrap_err(), AdsError::Rejected { status: 207, code: "FIELD_VALUE_IS_INVALID".into(), message: "bad bucket (at destination)".into() });
        assert!(matches!(one(json!({}), "create"), Err(AdsError::Unavailable(_))), "neither is not a success");
    }
}
