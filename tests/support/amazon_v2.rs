//! The Amazon stand-in's Stream v2 subscriptions (`POST /adsApi/v1/{create,delete,query,
//! retrieve}/streamSubscriptions`), held to `fixtures/amazon-api/stream-v2-subscriptions.
//! contract.json` like every other call (checked in `amazon.rs`). Each request names one
//! advertiser account in `accessRequestedAccounts`; the login must reach it (else 403). Create,
//! retrieve and delete answer 207 with one `success` or one `error` item; query answers 200,
//! paged by `maxResults` with `nextToken`. Statuses: ACTIVE (a create is ACTIVE at once: v2
//! has no confirmation), ARCHIVED (delete), SUSPENDED (on cue).

use serde_json::{json, Value};

use crate::amazon::{answer, error, Answer, LoginState, State};

/// A Stream v2 subscription as the stand-in keeps it.
#[derive(Debug, Clone)]
pub struct V2Sub {
    pub id: String,
    pub client_id: String,
    pub account: String,
    pub dataset: String,
    pub bucket_arn: String,
    pub queue_arn: String,
    pub status: String,
    pub created: String,
    pub updated: String,
}

impl V2Sub {
    fn json(&self) -> Value {
        json!({
            "streamSubscriptionId": self.id,
            "status": self.status,
            "configuration": {"dataset": {"datasetId": self.dataset}},
            "destination": {"s3Destination": {"bucketArn": self.bucket_arn, "notification": {"queueArn": self.queue_arn}}},
            "creationDateTime": self.created,
            "lastUpdatedDateTime": self.updated,
        })
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn item_error(code: &str, message: &str, at: &str) -> Answer {
    answer(207, json!({"success": [], "error": [{"index": 0, "errors": [{"code": code, "message": message, "fieldLocation": at}]}]}))
}

fn item(sub: &V2Sub) -> Answer {
    answer(207, json!({"success": [{"index": 0, "streamSubscription": sub.json()}], "error": []}))
}

/// The one account a request names, if the login reaches it.
fn account(login: &LoginState, body: &Value) -> Result<String, Answer> {
    let accounts = body["accessRequestedAccounts"].as_array().cloned().unwrap_or_default();
    let [one] = accounts.as_slice() else {
        return Err(error(400, "BAD_REQUEST", "the stand-in serves one advertiser account per request"));
    };
    let id = one["advertiserAccountId"].as_str().unwrap_or_default().to_owned();
    // The accounts registered for the login, and the global accounts its profiles belong to
    // (as `POST /adsAccounts/list` names them).
    let global = login.profiles.iter().any(|p| crate::amazon::global_account_id(p["accountInfo"]["id"].as_str().unwrap_or_default()) == id);
    if !login.v2_accounts.contains(&id) && !global {
        return Err(error(403, "FORBIDDEN", "Not authorized to access this advertiser account"));
    }
    Ok(id)
}

/// Serves a `/adsApi/v1/…/streamSubscriptions` call of `client` (the contract has passed it).
pub(crate) fn serve(s: &mut State, login: &LoginState, client: &str, op: &str, body: &[u8]) -> Answer {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let account = match account(login, &body) {
        Ok(a) => a,
        Err(a) => return a,
    };
    let ours = |sub: &V2Sub| sub.client_id == client && sub.account == account;
    match op {
        "POST /adsApi/v1/create/streamSubscriptions" => {
            let new = &body["streamSubscriptions"][0];
            let dataset = new["configuration"]["dataset"]["datasetId"].as_str().unwrap_or_default();
            let s3 = &new["destination"]["s3Destination"];
            let (bucket, queue) = (s3["bucketArn"].as_str().unwrap_or_default(), s3["notification"]["queueArn"].as_str().unwrap_or_default());
            if !bucket.starts_with("arn:aws:s3:::") {
                return item_error("FIELD_VALUE_IS_INVALID", "bucketArn is not an S3 bucket ARN", "streamSubscriptions[0].destination.s3Destination.bucketArn");
            }
            if !queue.starts_with("arn:aws:sqs:") {
                return item_error("FIELD_VALUE_IS_INVALID", "queueArn is not an SQS queue ARN", "streamSubscriptions[0].destination.s3Destination.notification.queueArn");
            }
            if s.v2_datasets_refused.iter().any(|d| d == dataset) {
                return item_error("FIELD_VALUE_NOT_FOUND", "no such dataset", "streamSubscriptions[0].configuration.dataset.datasetId");
            }
            s.v2_next += 1;
            let at = now();
            let sub = V2Sub {
                id: format!("amzn1.ads-stream-subscription.{:012}", s.v2_next),
                client_id: client.to_owned(),
                account,
                dataset: dataset.to_owned(),
                bucket_arn: bucket.to_owned(),
                queue_arn: queue.to_owned(),
                status: "ACTIVE".into(),
                created: at.clone(),
                updated: at,
            };
            s.v2_subs.push(sub.clone());
            item(&sub)
        }
        "POST /adsApi/v1/retrieve/streamSubscriptions" | "POST /adsApi/v1/delete/streamSubscriptions" => {
            let id = body["streamSubscriptionIds"][0].as_str().unwrap_or_default();
            let Some(sub) = s.v2_subs.iter_mut().find(|x| x.id == id && ours(x)) else {
                return item_error("RESOURCE_ID_NOT_FOUND", "no such stream subscription", "streamSubscriptionIds[0]");
            };
            if op.contains("/delete/") {
                if sub.status == "ARCHIVED" {
                    return item_error("RESOURCE_IS_IN_TERMINAL_STATE", "the stream subscription is archived already", "streamSubscriptionIds[0]");
                }
                sub.status = "ARCHIVED".into();
                sub.updated = now();
            }
            item(sub)
        }
        "POST /adsApi/v1/query/streamSubscriptions" => {
            let max = body["maxResults"].as_u64().unwrap_or(1000) as usize;
            let start: usize = body["nextToken"].as_str().and_then(|t| t.strip_prefix("page-")).and_then(|n| n.parse().ok()).unwrap_or(0);
            let all: Vec<&V2Sub> = s.v2_subs.iter().filter(|x| ours(x)).collect();
            let page: Vec<Value> = all.iter().skip(start).take(max).map(|x| x.json()).collect();
            let mut answered = json!({"streamSubscriptions": page});
            if start + max < all.len() {
                answered["nextToken"] = json!(format!("page-{}", start + max));
            }
            answer(200, answered)
        }
        _ => error(404, "NOT_FOUND", "Not Found"),
    }
}
