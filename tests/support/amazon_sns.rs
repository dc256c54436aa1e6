//! The Amazon stand-in's SNS side: the `SubscriptionConfirmation` Amazon's topic puts on a
//! destination queue (in moto), and `ConfirmSubscription` (AWS query protocol), which moto
//! cannot play (it finds a topic only in its owner's account, and Amazon's topics live in
//! Amazon's accounts), so ams-hub is pointed here with `AWS_ENDPOINT_URL_SNS`.
//!
//! Like AWS, a signed `ConfirmSubscription` is refused (403 `AuthorizationError`) unless the
//! signing identity's policies allow `sns:ConfirmSubscription` on the topic (and none denies
//! it). The identity is found as AWS would: the request's access key names an assumed role in
//! moto (read from moto's `/moto-api/data.json`), whose inline policies are evaluated here.
//! Keys that are no assumed role (moto's default `testing` root) are the account's root and
//! may. An unsigned call (the `SubscribeURL` visited) may too, as on AWS.

use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use ams_model::{sns_account, Realm};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde_json::{json, Value};

use ams_onboard::policy::glob;

use crate::amazon::{set_status, Shared, State};
use crate::contract::AwsQuery;

fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether these policy documents let their holder do `action` on `resource`: an Allow
/// statement covers it and no Deny does (IAM's evaluation, without conditions: a statement
/// with conditions is not counted as an Allow).
pub fn allows(policies: &[Value], action: &str, resource: &str) -> bool {
    let statements: Vec<&Value> = policies
        .iter()
        .flat_map(|p| match &p["Statement"] {
            Value::Array(a) => a.iter().collect(),
            s @ Value::Object(_) => vec![s],
            _ => Vec::new(),
        })
        .collect();
    let covers = |s: &Value| {
        strings(&s["Action"]).iter().any(|a| glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
            && strings(&s["Resource"]).iter().any(|r| glob(r, resource))
    };
    let denied = statements.iter().any(|s| s["Effect"] == "Deny" && covers(s));
    let allowed = statements.iter().any(|s| s["Effect"] == "Allow" && s.get("Condition").is_none() && covers(s));
    allowed && !denied
}

/// The assumed role behind an access key in moto, with its inline policy documents; `None`
/// when the key is no assumed role's.
async fn assumed_role(moto: &str, access_key: &str) -> Result<Option<(String, Vec<Value>)>, String> {
    let data: Value = reqwest::get(format!("{moto}/moto-api/data.json"))
        .await
        .map_err(|e| format!("moto's data: {e}"))?
        .json()
        .await
        .map_err(|e| format!("moto's data: {e}"))?;
    let Some(session) = data["sts"]["AssumedRole"].as_array().into_iter().flatten().find(|r| r["access_key_id"] == access_key) else {
        return Ok(None);
    };
    let (role_arn, session_arn) = (session["role_arn"].as_str().unwrap_or_default(), session["arn"].as_str().unwrap_or_default());
    let role = data["iam"]["Role"].as_array().into_iter().flatten().find(|r| r["arn"] == role_arn);
    let policies = role
        .and_then(|r| r["policies"].as_object())
        .into_iter()
        .flatten()
        .filter_map(|(_, doc)| doc.as_str().and_then(|d| serde_json::from_str(d).ok()))
        .collect();
    Ok(Some((session_arn.to_owned(), policies)))
}

/// `Credential=AKID/…` of a SigV4 `Authorization` header.
fn access_key(req: &HttpRequest) -> Option<String> {
    let auth = req.headers().get("authorization")?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?;
    Some(credential.split('/').next()?.to_owned())
}

/// `ConfirmSubscription` as AWS's service model for SNS describes it.
fn contract() -> &'static AwsQuery {
    static CONTRACT: std::sync::OnceLock<AwsQuery> = std::sync::OnceLock::new();
    CONTRACT.get_or_init(|| AwsQuery::load("sns-confirm-subscription.contract.json"))
}

/// An SNS answer before it is checked: the XML of a success, or (status, error code, message).
type SnsAnswer = Result<String, (StatusCode, &'static str, String)>;

/// SNS `ConfirmSubscription`, held to AWS's service model: the request is checked against it
/// (a breach is answered `InvalidParameter` and recorded), and so is the answer (a breach is
/// recorded and answered `InternalError`).
pub(crate) async fn sns(state: Shared, req: HttpRequest, form: web::Form<std::collections::HashMap<String, String>>) -> HttpResponse {
    let f = form.into_inner();
    if let Err(v) = contract().check_request(req.method().as_str(), req.path(), &f) {
        state.lock().unwrap().violations.push(format!("request: {v}"));
        return sns_error(StatusCode::BAD_REQUEST, "InvalidParameter", &v.rule);
    }
    let answer = confirm(&state, &req, &f).await;
    let checked = match &answer {
        Ok(xml) => contract().check_success(xml),
        Err((status, code, _)) => contract().check_error(status.as_u16(), code),
    };
    if let Err(v) = checked {
        state.lock().unwrap().violations.push(format!("stand-in answer: {v}"));
        return sns_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &v.rule);
    }
    match answer {
        Ok(xml) => HttpResponse::Ok().content_type("text/xml").body(xml),
        Err((status, code, message)) => sns_error(status, code, &message),
    }
}

/// Refused unless the signer may; then the subscription with that topic and token turns ACTIVE.
async fn confirm(state: &Shared, req: &HttpRequest, f: &std::collections::HashMap<String, String>) -> SnsAnswer {
    let topic = f.get("TopicArn").cloned().unwrap_or_default();
    let (moto, signer) = (state.lock().unwrap().moto.clone(), access_key(req));
    let mut who = "anonymous".to_owned();
    if let Some(key) = signer {
        match assumed_role(&moto, &key).await {
            Err(e) => return Err((StatusCode::INTERNAL_SERVER_ERROR, "InternalError", e)),
            Ok(None) => who = format!("root ({key})"),
            Ok(Some((arn, policies))) => {
                who = arn;
                if !allows(&policies, "sns:ConfirmSubscription", &topic) {
                    state.lock().unwrap().confirms.push((who.clone(), topic.clone(), 403));
                    return Err((
                        StatusCode::FORBIDDEN,
                        "AuthorizationError",
                        format!("User: {who} is not authorized to perform: SNS:ConfirmSubscription on resource: {topic} because no identity-based policy allows the SNS:ConfirmSubscription action"),
                    ));
                }
            }
        }
    }
    let key = format!("{topic}\n{}", f.get("Token").cloned().unwrap_or_default());
    let mut s = state.lock().unwrap();
    let known_topic = s.subs.iter().any(|x| x.confirmation.as_deref().is_some_and(|c| c.starts_with(&format!("{topic}\n"))));
    let Some(sub) = s.subs.iter_mut().find(|x| x.confirmation.as_deref() == Some(key.as_str())) else {
        let r = if known_topic {
            (StatusCode::BAD_REQUEST, "InvalidParameter", "Invalid parameter: Token")
        } else {
            (StatusCode::NOT_FOUND, "NotFound", "Topic does not exist")
        };
        s.confirms.push((who, topic, r.0.as_u16()));
        return Err((r.0, r.1, r.2.to_owned()));
    };
    if sub.status == "PENDING_CONFIRMATION" {
        set_status(sub, "ACTIVE");
    }
    s.confirms.push((who, topic.clone(), 200));
    Ok(format!(
        "<ConfirmSubscriptionResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><ConfirmSubscriptionResult>\
         <SubscriptionArn>{topic}:{}</SubscriptionArn></ConfirmSubscriptionResult><ResponseMetadata><RequestId>{}</RequestId>\
         </ResponseMetadata></ConfirmSubscriptionResponse>",
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4()
    ))
}

fn sns_error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    let xml = format!(
        "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type><Code>{code}</Code>\
         <Message>{message}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        uuid::Uuid::new_v4()
    );
    HttpResponse::build(status).content_type("text/xml").body(xml)
}

/// Amazon's SNS puts a `SubscriptionConfirmation` on the destination queue, from the dataset's
/// topic account in the queue's realm.
pub(crate) async fn send_confirmation(state: Arc<Mutex<State>>, sub_id: String, arn: String, dataset: String, marketplace: Option<String>) {
    let parts: Vec<&str> = arn.split(':').collect();
    let (region, account, name) = (parts[3].to_owned(), parts[4].to_owned(), parts[5].to_owned());
    let realm = Realm::from_region(&region).expect("an AMS region");
    let topic_account = sns_account(dataset.parse().expect("a dataset"), realm);
    let topic = format!(
        "arn:aws:sns:{region}:{topic_account}:FEADMessageDeliveryTopic-{dataset}-{}-{}",
        marketplace.as_deref().unwrap_or("ADVERTISER"),
        sub_id.rsplit('.').next().unwrap_or("x")
    );
    let token = format!("confirm-{}", uuid::Uuid::new_v4().simple());
    let (moto, (key, secret)) = {
        let s = state.lock().unwrap();
        (s.moto.clone(), s.moto_credentials.clone())
    };
    let body = json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": uuid::Uuid::new_v4().to_string(),
        "Token": token,
        "TopicArn": topic,
        "Message": format!("You have chosen to subscribe to the topic {topic}.\nTo confirm the subscription, visit the SubscribeURL included in this message."),
        "SubscribeURL": format!("https://sns.{region}.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}"),
        "Timestamp": "2026-12-01T00:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "c3RhbmQtaW4=",
        "SigningCertURL": format!("https://sns.{region}.amazonaws.com/SimpleNotificationService-standin.pem")
    });
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.clone()))
        .endpoint_url(&moto)
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_credential_types::Credentials::new(key, secret, None, None, "standin"),
        ))
        .build();
    // moto keeps a queue in its owner's account: act there (as Amazon's SNS may, by the
    // queue's policy) through a role assumed in that account.
    let config = if account == "123456789012" {
        config
    } else {
        let sts = aws_sdk_sts::Client::new(&config);
        match sts.assume_role().role_arn(format!("arn:aws:iam::{account}:role/amazon-sns-standin")).role_session_name("sns").send().await {
            Ok(out) => {
                let c = out.credentials.expect("credentials");
                config
                    .into_builder()
                    .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                        aws_credential_types::Credentials::new(c.access_key_id, c.secret_access_key, Some(c.session_token), None, "standin"),
                    ))
                    .build()
            }
            Err(e) => {
                eprintln!("stand-in: cannot act in account {account}: {e:?}");
                config
            }
        }
    };
    let sqs = aws_sdk_sqs::Client::new(&config);
    let url = format!("{moto}/{account}/{name}");
    let sent = sqs.send_message().queue_url(&url).message_body(body.to_string()).send().await;
    let mut s = state.lock().unwrap();
    let Some(sub) = s.subs.iter_mut().find(|x| x.id == sub_id) else { return };
    match sent {
        Ok(_) => {
            sub.confirmation = Some(format!("{topic}\n{token}"));
            if sub.status == "PROVISIONING" {
                set_status(sub, "PENDING_CONFIRMATION");
            }
        }
        Err(e) => {
            eprintln!("stand-in: no confirmation for {sub_id}: {e:?}");
            set_status(sub, "FAILED_PROVISIONING");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_allows_an_action_on_a_resource_as_iam_reads_it() {
        let topic = "arn:aws:sns:us-east-1:906013806264:FEADMessageDeliveryTopic-sp-traffic-X";
        let grant = json!({"Statement": [{"Effect": "Allow", "Action": "sns:ConfirmSubscription", "Resource": "arn:aws:sns:us-east-1:906013806264:*"}]});
        assert!(allows(&[grant.clone()], "sns:ConfirmSubscription", topic));
        assert!(!allows(&[grant.clone()], "sns:ConfirmSubscription", "arn:aws:sns:us-east-1:111111111111:t"), "another account");
        assert!(!allows(&[grant.clone()], "sns:Subscribe", topic));
        let sqs_only = json!({"Statement": {"Effect": "Allow", "Action": ["sqs:ReceiveMessage"], "Resource": "*"}});
        assert!(!allows(&[sqs_only], "sns:ConfirmSubscription", topic));
        let deny = json!({"Statement": [{"Effect": "Deny", "Action": "SNS:*", "Resource": "*"}]});
        assert!(!allows(&[grant, deny], "sns:ConfirmSubscription", topic));
    }
}
