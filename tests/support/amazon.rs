//! A stand-in for Amazon's side of Marketing Stream onboarding, written to Amazon's published
//! contract and strict about it:
//!
//! * **Login with Amazon** `POST /auth/o2/token`: `grant_type=refresh_token` or
//!   `authorization_code`, with the app's `client_id` and `client_secret` → `{access_token,
//!   token_type, expires_in: 3600, refresh_token}`; otherwise LwA's `{error,
//!   error_description}` (`invalid_client` 401, `invalid_grant` 400, …).
//! * **Ads API** `GET /v2/profiles`, and `/streams/subscriptions` (profile scope) and
//!   `/dsp/streams/subscriptions` (DSP advertiser scope): list (paged), create, get, archive.
//!   A missing or wrong `Amazon-Advertising-API-ClientId`, bearer token, scope header or
//!   content type gets the error Amazon gives; at most two open subscriptions per (app,
//!   scope, dataset); a repeated `clientRequestToken` returns the same subscription; statuses
//!   go PROVISIONING → PENDING_CONFIRMATION (an SNS `SubscriptionConfirmation` is put on the
//!   destination queue in moto, from Amazon's topic account for the dataset and realm) →
//!   ACTIVE once ConfirmSubscription arrives.
//! * **SNS** `ConfirmSubscription` (AWS query protocol), as Amazon's SNS: moto finds a topic only
//!   in its owner's account, so ams-hub is pointed here with `AWS_ENDPOINT_URL_SNS`.
//!
//! Faults on cue: a revoked refresh token, 429 with `Retry-After`, a 500 on a create, a create
//! that is made but never answered (a crash between request and answer).
//!
//! It runs on its own thread and actix system, so blocking test code cannot stall it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use ams_model::{sns_account, DatasetId, Realm};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde_json::{json, Value};

pub const CLIENT_ID: &str = "amzn1.application-oa2-client.standin";
pub const CLIENT_SECRET: &str = "standin-client-secret-value-0123456789";
pub const SP_CONTENT_TYPE: &str = "application/vnd.MarketingStreamSubscriptions.StreamSubscriptionResource.v1.0+json";
pub const DSP_CONTENT_TYPE: &str = "application/vnd.DspStreamSubscriptionResource.v1.0+json";
/// The DSP advertiser header as Amazon's Marketing Stream OpenAPI document names it.
pub const DSP_HEADER: &str = "Amazon-Ads-Account-ID";

/// A subscription as the stand-in keeps it.
#[derive(Debug, Clone)]
pub struct Sub {
    pub id: String,
    pub client_id: String,
    /// The profile id, or the DSP advertiser id.
    pub scope: String,
    pub dsp: bool,
    pub dataset: String,
    pub queue_arn: String,
    pub token: String,
    pub status: String,
    /// Every status it has had, in order.
    pub history: Vec<String>,
    /// The SNS confirmation token put on the queue.
    confirmation: Option<String>,
}

#[derive(Default)]
struct State {
    /// App client id → secret.
    apps: HashMap<String, String>,
    /// Refresh token → (client id, profiles, revoked).
    logins: HashMap<String, (String, Vec<Value>, bool)>,
    /// Access token → refresh token.
    access: HashMap<String, String>,
    /// Authorization code → (refresh token, redirect uri).
    codes: HashMap<String, (String, String)>,
    subs: Vec<Sub>,
    /// Ads API calls to throttle next (429 with this Retry-After).
    throttle: Vec<u64>,
    /// Creates to fail next with 500.
    fail_creates: usize,
    /// Creates to make and then never answer.
    hang_creates: usize,
    /// Every Ads API request: (method, path, status answered).
    pub seen: Vec<(String, String, u16)>,
    /// Every request body and header value received (to check secrets went only here).
    pub received: Vec<String>,
    /// Where to put confirmations: moto's URL.
    moto: String,
    next_id: u64,
}

#[derive(Clone)]
pub struct AmazonStandIn {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl AmazonStandIn {
    /// Starts it; confirmations are put on queues in moto at `moto_url`.
    pub fn start(moto_url: &str) -> AmazonStandIn {
        let state = Arc::new(Mutex::new(State { moto: moto_url.trim_end_matches('/').to_owned(), ..Default::default() }));
        state.lock().unwrap().apps.insert(CLIENT_ID.into(), CLIENT_SECRET.into());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = state.clone();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let data = web::Data::new(shared);
                HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .app_data(web::PayloadConfig::new(1 << 20))
                        .route("/auth/o2/token", web::post().to(token))
                        .route("/v2/profiles", web::get().to(profiles))
                        .route("/streams/subscriptions", web::to(subscriptions))
                        .route("/streams/subscriptions/{id}", web::to(subscription))
                        .route("/dsp/streams/subscriptions", web::to(subscriptions))
                        .route("/dsp/streams/subscriptions/{id}", web::to(subscription))
                        .route("/", web::post().to(sns))
                        .default_service(web::to(|| async { HttpResponse::NotFound().json(json!({"code": "404", "details": "Not Found"})) }))
                })
                .workers(2)
                // SIGTERM ends the process (the demo and schemathesis stop it so); actix's own
                // handling would stop the server and leave the process parked for ever.
                .disable_signals()
                .listen(listener)
                .unwrap()
                .run()
                .await
                .unwrap()
            })
        });
        AmazonStandIn { url, state }
    }

    /// A login: its refresh token lists these profiles (Amazon's `/v2/profiles` objects).
    pub fn add_login(&self, refresh_token: &str, profiles: Vec<Value>) {
        self.state.lock().unwrap().logins.insert(refresh_token.into(), (CLIENT_ID.into(), profiles, false));
    }

    /// Another LwA app (a tenant's own).
    pub fn add_app(&self, client_id: &str, secret: &str) {
        self.state.lock().unwrap().apps.insert(client_id.into(), secret.into());
    }

    /// A login made with another app.
    pub fn add_login_for(&self, client_id: &str, refresh_token: &str, profiles: Vec<Value>) {
        self.state.lock().unwrap().logins.insert(refresh_token.into(), (client_id.into(), profiles, false));
    }

    /// The login withdrew its consent: LwA refuses the token, its access tokens stop working.
    pub fn revoke(&self, refresh_token: &str) {
        let mut s = self.state.lock().unwrap();
        if let Some(l) = s.logins.get_mut(refresh_token) {
            l.2 = true;
        }
        s.access.retain(|_, r| r != refresh_token);
    }

    /// An authorization code the consent page would hand out for this login.
    pub fn issue_code(&self, refresh_token: &str, redirect_uri: &str) -> String {
        let code = format!("ANcode{}", uuid::Uuid::new_v4().simple());
        self.state.lock().unwrap().codes.insert(code.clone(), (refresh_token.into(), redirect_uri.into()));
        code
    }

    /// The next `n` subscription calls get 429 with `Retry-After: secs`.
    pub fn throttle_next(&self, n: usize, secs: u64) {
        self.state.lock().unwrap().throttle.extend(std::iter::repeat_n(secs, n));
    }

    pub fn fail_next_creates(&self, n: usize) {
        self.state.lock().unwrap().fail_creates += n;
    }

    /// The next create is made but never answered.
    pub fn hang_next_create(&self) {
        self.state.lock().unwrap().hang_creates += 1;
    }

    /// Amazon's side gives up on confirmation (not confirmed within three days).
    pub fn fail_confirmation(&self, id: &str) {
        let mut s = self.state.lock().unwrap();
        if let Some(sub) = s.subs.iter_mut().find(|x| x.id == id) {
            set_status(sub, "FAILED_CONFIRMATION");
        }
    }

    /// The login lost access to the advertiser: Amazon suspends the subscription for good.
    pub fn suspend(&self, id: &str) {
        let mut s = self.state.lock().unwrap();
        if let Some(sub) = s.subs.iter_mut().find(|x| x.id == id) {
            set_status(sub, "SUSPENDED");
        }
    }

    pub fn subscriptions(&self) -> Vec<Sub> {
        self.state.lock().unwrap().subs.clone()
    }

    /// (method, path, status) of every Ads API call.
    pub fn seen(&self) -> Vec<(String, String, u16)> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn set_status(sub: &mut Sub, status: &str) {
    sub.status = status.to_owned();
    sub.history.push(status.to_owned());
}

type Shared = web::Data<Arc<Mutex<State>>>;

fn lwa_error(status: StatusCode, error: &str, description: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": error, "error_description": description}))
}

fn ads_error(status: u16, code: &str, details: &str) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap()).json(json!({"code": code, "details": details}))
}

async fn token(state: Shared, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let f = form.into_inner();
    let mut s = state.lock().unwrap();
    s.received.extend(f.values().cloned());
    let (Some(client_id), Some(secret)) = (f.get("client_id"), f.get("client_secret")) else {
        return lwa_error(StatusCode::BAD_REQUEST, "invalid_request", "The request is missing a required parameter : client_id");
    };
    if s.apps.get(client_id) != Some(secret) {
        return lwa_error(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed");
    }
    let refresh = match f.get("grant_type").map(String::as_str) {
        Some("refresh_token") => match f.get("refresh_token") {
            Some(r) => r.clone(),
            None => return lwa_error(StatusCode::BAD_REQUEST, "invalid_request", "The request is missing a required parameter : refresh_token"),
        },
        Some("authorization_code") => {
            let code = f.get("code").cloned().unwrap_or_default();
            match s.codes.remove(&code) {
                Some((r, uri)) if Some(&uri) == f.get("redirect_uri") => r,
                Some(_) => return lwa_error(StatusCode::BAD_REQUEST, "invalid_grant", "The redirect URI does not match"),
                None => return lwa_error(StatusCode::BAD_REQUEST, "invalid_grant", "The authorization code is invalid or expired"),
            }
        }
        _ => return lwa_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "The authorization grant type is not supported"),
    };
    match s.logins.get(&refresh) {
        Some((app, _, false)) if app == client_id => {}
        Some((_, _, false)) => return lwa_error(StatusCode::BAD_REQUEST, "invalid_grant", "The refresh token was issued to another client"),
        _ => return lwa_error(StatusCode::BAD_REQUEST, "invalid_grant", "The request has an invalid grant parameter : refresh_token"),
    }
    let access = format!("Atza|{}", uuid::Uuid::new_v4().simple());
    s.access.insert(access.clone(), refresh.clone());
    HttpResponse::Ok().json(json!({"access_token": access, "token_type": "bearer", "expires_in": 3600, "refresh_token": refresh}))
}

/// The login behind a request's headers, or Amazon's error.
fn authorize(s: &mut State, req: &HttpRequest) -> Result<(String, String), HttpResponse> {
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    for n in ["amazon-advertising-api-clientid", "authorization", "amazon-advertising-api-scope", "amazon-ads-account-id"] {
        if let Some(v) = header(n) {
            s.received.push(v);
        }
    }
    let Some(client_id) = header("Amazon-Advertising-API-ClientId") else {
        return Err(ads_error(400, "400", "Missing Amazon-Advertising-API-ClientId header"));
    };
    let Some(refresh) = header("Authorization").and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned)).and_then(|t| s.access.get(&t).cloned()) else {
        return Err(ads_error(401, "UNAUTHORIZED", "Not authorized to access this advertiser"));
    };
    let (app, _, revoked) = s.logins.get(&refresh).cloned().expect("access tokens are of logins");
    if revoked {
        return Err(ads_error(401, "UNAUTHORIZED", "Not authorized to access this advertiser"));
    }
    if app != client_id {
        return Err(ads_error(401, "UNAUTHORIZED", "The Amazon-Advertising-API-ClientId does not match the access token"));
    }
    Ok((client_id, refresh))
}

async fn profiles(state: Shared, req: HttpRequest) -> HttpResponse {
    let mut s = state.lock().unwrap();
    let r = match authorize(&mut s, &req) {
        Ok((_, refresh)) => HttpResponse::Ok().json(&s.logins[&refresh].1),
        Err(e) => e,
    };
    s.seen.push(("GET".into(), "/v2/profiles".into(), r.status().as_u16()));
    r
}

/// The scope a subscription call is for: (scope id, dsp), checked against the login's profiles.
fn scope_of(s: &State, req: &HttpRequest, refresh: &str) -> Result<(String, bool), HttpResponse> {
    let dsp = req.path().starts_with("/dsp/");
    let name = if dsp { DSP_HEADER } else { "Amazon-Advertising-API-Scope" };
    let Some(scope) = req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned) else {
        return Err(ads_error(400, "400", &format!("Missing {name} header")));
    };
    let profiles = &s.logins[refresh].1;
    let ours = profiles.iter().any(|p| {
        if dsp {
            p["accountInfo"]["id"].as_str() == Some(&scope)
        } else {
            p["profileId"].to_string() == scope
        }
    });
    if !ours {
        return Err(ads_error(403, "FORBIDDEN", "Not authorized to access this resource"));
    }
    Ok((scope, dsp))
}

fn content_type_ok(req: &HttpRequest, dsp: bool) -> bool {
    let want = if dsp { DSP_CONTENT_TYPE } else { SP_CONTENT_TYPE };
    req.headers().get("content-type").and_then(|v| v.to_str().ok()) == Some(want)
}

fn view(sub: &Sub) -> Value {
    json!({
        "subscriptionId": sub.id, "dataSetId": sub.dataset, "status": sub.status,
        "clientRequestToken": sub.token, "destination": {"sqsDestination": {"queueArn": sub.queue_arn}},
        "createdDate": "2026-12-01T00:00:00Z"
    })
}

/// Common checks; throttling. Returns the login's (client id, refresh token, scope, dsp).
fn gate(s: &mut State, req: &HttpRequest) -> Result<(String, String, String, bool), HttpResponse> {
    let (client, refresh) = authorize(s, req)?;
    let (scope, dsp) = scope_of(s, req, &refresh)?;
    if let Some(secs) = (!s.throttle.is_empty()).then(|| s.throttle.remove(0)) {
        return Err(HttpResponse::TooManyRequests()
            .insert_header(("Retry-After", secs.to_string()))
            .json(json!({"code": "429", "details": "Too Many Requests"})));
    }
    Ok((client, refresh, scope, dsp))
}

async fn subscriptions(state: Shared, req: HttpRequest, query: web::Query<HashMap<String, String>>, body: web::Bytes) -> HttpResponse {
    let (response, hang, confirm) = {
        let mut s = state.lock().unwrap();
        let (r, hang, confirm) = match gate(&mut s, &req) {
            Err(e) => (e, false, None),
            Ok((client, _, scope, dsp)) => match *req.method() {
                actix_web::http::Method::GET => (list(&s, &client, &scope, dsp, &query), false, None),
                actix_web::http::Method::POST => create(&mut s, &req, &client, &scope, dsp, &body),
                _ => (ads_error(405, "405", "Method Not Allowed"), false, None),
            },
        };
        s.seen.push((req.method().to_string(), req.path().to_owned(), r.status().as_u16()));
        (r, hang, confirm)
    };
    if let Some((sub_id, arn, dataset, marketplace)) = confirm {
        let state = state.get_ref().clone();
        actix_web::rt::spawn(send_confirmation(state, sub_id, arn, dataset, marketplace));
    }
    if hang {
        // Made, never answered: the caller times out or dies waiting.
        std::future::pending::<()>().await;
    }
    response
}

fn list(s: &State, client: &str, scope: &str, dsp: bool, query: &HashMap<String, String>) -> HttpResponse {
    let page: usize = query.get("maxResults").and_then(|m| m.parse().ok()).unwrap_or(5000).clamp(1, 5000);
    let start: usize = query.get("startingToken").and_then(|t| t.strip_prefix("page-")).and_then(|t| t.parse().ok()).unwrap_or(0);
    let mine: Vec<&Sub> = s.subs.iter().filter(|x| x.client_id == client && x.scope == scope && x.dsp == dsp).collect();
    let chunk: Vec<Value> = mine.iter().skip(start).take(page).map(|x| view(x)).collect();
    let mut answer = json!({"subscriptions": chunk});
    if start + page < mine.len() {
        answer["nextToken"] = json!(format!("page-{}", start + page));
    }
    HttpResponse::Ok().json(answer)
}

type Confirm = Option<(String, String, String, Option<String>)>;

fn create(s: &mut State, req: &HttpRequest, client: &str, scope: &str, dsp: bool, body: &[u8]) -> (HttpResponse, bool, Confirm) {
    if !content_type_ok(req, dsp) {
        return (ads_error(415, "415", "Unsupported Media Type"), false, None);
    }
    s.received.push(String::from_utf8_lossy(body).into_owned());
    let Ok(b) = serde_json::from_slice::<Value>(body) else { return (ads_error(400, "400", "Malformed request body"), false, None) };
    let (Some(token), Some(dataset)) = (b["clientRequestToken"].as_str(), b["dataSetId"].as_str()) else {
        return (ads_error(400, "400", "clientRequestToken and dataSetId are required"), false, None);
    };
    let Some(arn) = b.pointer("/destination/sqsDestination/queueArn").or(b.get("destinationArn")).and_then(Value::as_str) else {
        return (ads_error(400, "400", "destination is required"), false, None);
    };
    let Ok(id) = dataset.parse::<DatasetId>() else { return (ads_error(400, "400", "Invalid dataSetId"), false, None) };
    if id.is_dsp() != dsp {
        return (ads_error(400, "400", "This dataset is not available on this endpoint"), false, None);
    }
    if let Some(existing) = s.subs.iter().find(|x| x.client_id == client && x.token == token) {
        return (HttpResponse::Ok().json(json!({"subscriptionId": existing.id, "clientRequestToken": token})), false, None);
    }
    if s.fail_creates > 0 {
        s.fail_creates -= 1;
        return (ads_error(500, "500", "Internal Server Error"), false, None);
    }
    let open = s.subs.iter().filter(|x| x.client_id == client && x.scope == scope && x.dataset == dataset && x.status != "ARCHIVED").count();
    if open >= 2 {
        return (ads_error(409, "409", "At most two subscriptions per dataset: archive one first"), false, None);
    }
    s.next_id += 1;
    let sub_id = format!("amzn1.fead.cs1.{:012}", s.next_id);
    let mut sub = Sub {
        id: sub_id.clone(),
        client_id: client.into(),
        scope: scope.into(),
        dsp,
        dataset: dataset.into(),
        queue_arn: arn.into(),
        token: token.into(),
        status: String::new(),
        history: Vec::new(),
        confirmation: None,
    };
    set_status(&mut sub, "PROVISIONING");
    s.subs.push(sub);
    let hang = s.hang_creates > 0;
    if hang {
        s.hang_creates -= 1;
    }
    // The marketplace of a profile scope, for the topic's name.
    let marketplace = (!dsp)
        .then(|| s.logins.values().flat_map(|l| l.1.iter()).find(|p| p["profileId"].to_string() == scope))
        .flatten()
        .and_then(|p| p["accountInfo"]["marketplaceStringId"].as_str().map(str::to_owned));
    let answer = HttpResponse::Ok().json(json!({"subscriptionId": sub_id, "clientRequestToken": token}));
    (answer, hang, Some((sub_id, arn.to_owned(), dataset.to_owned(), marketplace)))
}

async fn subscription(state: Shared, req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let mut s = state.lock().unwrap();
    let r = match gate(&mut s, &req) {
        Err(e) => e,
        Ok((client, _, scope, dsp)) => {
            let id = path.into_inner();
            let is_put = req.method() == actix_web::http::Method::PUT;
            if is_put && !content_type_ok(&req, dsp) {
                ads_error(415, "415", "Unsupported Media Type")
            } else {
                match s.subs.iter_mut().find(|x| x.id == id && x.client_id == client && x.scope == scope) {
                    None => ads_error(404, "404", "Subscription not found"),
                    Some(sub) if is_put => {
                        let b: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        match b["status"].as_str() {
                            Some("ARCHIVED") => {
                                if sub.status != "ARCHIVED" {
                                    set_status(sub, "ARCHIVED");
                                }
                                HttpResponse::Ok().finish()
                            }
                            _ => ads_error(400, "400", "Only status ARCHIVED may be set"),
                        }
                    }
                    Some(sub) => HttpResponse::Ok().json(view(sub)),
                }
            }
        }
    };
    s.seen.push((req.method().to_string(), req.path().to_owned(), r.status().as_u16()));
    r
}

/// Amazon's SNS puts a `SubscriptionConfirmation` on the destination queue, from the dataset's
/// topic account in the queue's realm.
async fn send_confirmation(state: Arc<Mutex<State>>, sub_id: String, arn: String, dataset: String, marketplace: Option<String>) {
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
    let moto = state.lock().unwrap().moto.clone();
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
            aws_credential_types::Credentials::new("testing", "testing", None, None, "standin"),
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
    match sqs.send_message().queue_url(&url).message_body(body.to_string()).send().await {
        Ok(_) => {
            let mut s = state.lock().unwrap();
            if let Some(sub) = s.subs.iter_mut().find(|x| x.id == sub_id) {
                sub.confirmation = Some(format!("{topic}\n{token}"));
                if sub.status == "PROVISIONING" {
                    set_status(sub, "PENDING_CONFIRMATION");
                }
            }
        }
        Err(e) => {
            let mut s = state.lock().unwrap();
            if let Some(sub) = s.subs.iter_mut().find(|x| x.id == sub_id) {
                eprintln!("stand-in: no confirmation for {sub_id}: {e:?}");
                set_status(sub, "FAILED_PROVISIONING");
            }
        }
    }
}

/// SNS `ConfirmSubscription` (query protocol): the subscription with that topic and token turns
/// ACTIVE.
async fn sns(state: Shared, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let f = form.into_inner();
    if f.get("Action").map(String::as_str) != Some("ConfirmSubscription") {
        return sns_error(StatusCode::BAD_REQUEST, "InvalidAction", "only ConfirmSubscription is played here");
    }
    let key = format!("{}\n{}", f.get("TopicArn").cloned().unwrap_or_default(), f.get("Token").cloned().unwrap_or_default());
    let mut s = state.lock().unwrap();
    let Some(sub) = s.subs.iter_mut().find(|x| x.confirmation.as_deref() == Some(key.as_str())) else {
        return sns_error(StatusCode::NOT_FOUND, "NotFound", "Topic does not exist");
    };
    if sub.status == "PENDING_CONFIRMATION" {
        set_status(sub, "ACTIVE");
    }
    let topic = f.get("TopicArn").cloned().unwrap_or_default();
    let xml = format!(
        "<ConfirmSubscriptionResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><ConfirmSubscriptionResult>\
         <SubscriptionArn>{topic}:{}</SubscriptionArn></ConfirmSubscriptionResult><ResponseMetadata><RequestId>{}</RequestId>\
         </ResponseMetadata></ConfirmSubscriptionResponse>",
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4()
    );
    HttpResponse::Ok().content_type("text/xml").body(xml)
}

fn sns_error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    let xml = format!(
        "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type><Code>{code}</Code>\
         <Message>{message}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        uuid::Uuid::new_v4()
    );
    HttpResponse::build(status).content_type("text/xml").body(xml)
}

/// A `/v2/profiles` object.
pub fn profile(profile_id: u64, country: &str, marketplace_id: &str, advertiser_id: &str, name: &str) -> Value {
    json!({
        "profileId": profile_id, "countryCode": country, "currencyCode": "USD", "dailyBudget": 999999999.0,
        "timezone": "America/Los_Angeles",
        "accountInfo": {"marketplaceStringId": marketplace_id, "id": advertiser_id, "type": "seller", "name": name, "validPaymentMethod": true}
    })
}
