//! A stand-in for Amazon's side of Marketing Stream onboarding, held to Amazon's published
//! contract: every Ads API request it receives and every answer it gives is checked against
//! the contract files derived from Amazon's OpenAPI documents (`contract.rs`,
//! `fixtures/amazon-api/`). A request that breaks the contract is answered as Amazon would
//! (400, or 415 for a media type) and recorded; an answer of its own that would break it is
//! recorded and turned into a 500. Tests end with [`AmazonStandIn::assert_contract_kept`].
//!
//! * **Login with Amazon** `POST /auth/o2/token` (no OpenAPI document exists: written to LwA's
//!   guide, RFC 6749's token endpoint): `grant_type=refresh_token` or `authorization_code` with
//!   the app's `client_id` and `client_secret` → `{access_token, token_type, expires_in,
//!   refresh_token}`; otherwise `{error, error_description}`.
//! * **Ads API**: `GET /v2/profiles`; `GET /dsp/advertisers` under an agency profile;
//!   `/streams/subscriptions` (a seller or vendor profile's, `Amazon-Advertising-API-Scope`)
//!   and `/dsp/streams/subscriptions` (a DSP advertiser's, `Amazon-Ads-Account-ID`): list
//!   (paged), create, get (`{"subscription": …}`), archive (`PUT {"status": "ARCHIVED"}`, only
//!   ACTIVE ones, as Amazon's example says). At most two open subscriptions per (app, scope,
//!   dataset); a repeated `clientRequestToken` returns the same subscription; statuses go
//!   PROVISIONING → PENDING_CONFIRMATION (a `SubscriptionConfirmation` put on the destination
//!   queue in moto, from Amazon's topic account for the dataset) → ACTIVE once confirmed.
//! * **Stream v2 subscriptions** `POST /adsApi/v1/{create,delete,query,retrieve}/streamSubscriptions`
//!   (`amazon_v2.rs`), for the advertiser accounts a login reaches.
//! * **SNS** `ConfirmSubscription` (`amazon_sns.rs`), refused like AWS refuses it when the
//!   signing role's policy (read from moto) does not allow `sns:ConfirmSubscription` on the
//!   topic.
//!
//! Faults on cue: a revoked refresh token, LwA answering 429 or 5xx, 429 with `Retry-After`, a
//! 500 on a create, a create that is made but never answered, a profile or advertiser the login
//! loses access to (403).
//!
//! It runs on its own thread and actix system, so blocking test code cannot stall it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use ams_model::DatasetId;
use serde_json::{json, Value};

use crate::contract::{Contract, Operation, Request};

pub const CLIENT_ID: &str = "amzn1.application-oa2-client.standin";
pub const CLIENT_SECRET: &str = "standin-client-secret-value-0123456789";
/// The media type of every Marketing Stream subscription call (Amazon's OpenAPI document).
pub const STREAM_MEDIA_TYPE: &str = "application/vnd.amazonmarketingstreamsubscriptions.v1+json";
/// The DSP advertiser header on `/dsp/streams/subscriptions`.
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
    pub notes: Option<String>,
    pub status: String,
    /// Every status it has had, in order.
    pub history: Vec<String>,
    /// The SNS confirmation (topic and token) put on the queue.
    pub(crate) confirmation: Option<String>,
}

/// A login: its app, its profiles, the DSP advertisers of its agency profiles.
#[derive(Clone)]
pub(crate) struct LoginState {
    pub(crate) client_id: String,
    pub(crate) profiles: Vec<Value>,
    /// (agency profile id, DSP advertiser as `GET /dsp/advertisers` lists it).
    dsp: Vec<(String, Value)>,
    pub(crate) revoked: bool,
    /// The advertiser accounts (Amazon's `advertiserAccountId`) its Stream v2 calls may name.
    pub(crate) v2_accounts: Vec<String>,
}

#[derive(Default)]
pub(crate) struct State {
    /// App client id → secret.
    pub(crate) apps: HashMap<String, String>,
    pub(crate) logins: HashMap<String, LoginState>,
    /// Access token → refresh token.
    pub(crate) access: HashMap<String, String>,
    /// Authorization code → (refresh token, redirect uri).
    pub(crate) codes: HashMap<String, (String, String)>,
    pub(crate) subs: Vec<Sub>,
    /// Ads API calls to throttle next (429 with this Retry-After).
    throttle: Vec<u64>,
    /// LwA token requests to answer with these statuses next.
    pub(crate) lwa_faults: Vec<u16>,
    /// Profiles and DSP advertisers the logins lost access to (401).
    denied: Vec<String>,
    /// Subscriptions the list leaves out.
    hidden: Vec<String>,
    /// Creates to fail next with 500.
    fail_creates: usize,
    /// Creates to make and then never answer.
    hang_creates: usize,
    /// Every Ads API request: (method, path, status answered).
    seen: Vec<(String, String, u16)>,
    /// The login that signs in on the consent page.
    pub(crate) consenting: Option<String>,
    /// Stream v2 subscriptions (`amazon_v2.rs`), the last id's number, datasets refused.
    pub(crate) v2_subs: Vec<crate::amazon_v2::V2Sub>,
    pub(crate) v2_next: u64,
    pub(crate) v2_datasets_refused: Vec<String>,
    /// Every request body and header value received (to check secrets went only here).
    pub(crate) received: Vec<String>,
    /// Every contract rule broken, by a request or by an answer.
    pub(crate) violations: Vec<String>,
    /// ConfirmSubscription calls: (signing role or `anonymous`, topic, status answered).
    pub(crate) confirms: Vec<(String, String, u16)>,
    /// Where to put confirmations and read IAM from: moto's URL, and credentials there.
    pub(crate) moto: String,
    pub(crate) moto_credentials: (String, String),
    next_id: u64,
}

#[derive(Clone)]
pub struct AmazonStandIn {
    pub url: String,
    state: Arc<Mutex<State>>,
}

pub(crate) type Shared = web::Data<Arc<Mutex<State>>>;

impl AmazonStandIn {
    /// Starts it; confirmations are put on queues in moto at `moto_url` (with moto's default
    /// credentials).
    pub fn start(moto_url: &str) -> AmazonStandIn {
        Self::start_with(moto_url, ("testing", "testing"))
    }

    /// …with these credentials in moto (an IAM user's, when moto enforces IAM).
    pub fn start_with(moto_url: &str, credentials: (&str, &str)) -> AmazonStandIn {
        let state = Arc::new(Mutex::new(State {
            moto: moto_url.trim_end_matches('/').to_owned(),
            moto_credentials: (credentials.0.to_owned(), credentials.1.to_owned()),
            ..Default::default()
        }));
        state.lock().unwrap().apps.insert(CLIENT_ID.into(), CLIENT_SECRET.into());
        let contract = web::Data::new(Contract::amazon());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = state.clone();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let data = web::Data::new(shared);
                HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .app_data(contract.clone())
                        .app_data(web::PayloadConfig::new(1 << 20))
                        .route("/auth/o2/token", web::post().to(crate::amazon_lwa::token))
                        .route("/ap/oa", web::get().to(crate::amazon_lwa::consent_page))
                        .route("/", web::post().to(crate::amazon_sns::sns))
                        .default_service(web::to(ads_api))
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
        self.add_login_for(CLIENT_ID, refresh_token, profiles);
    }

    /// Another LwA app (a tenant's own).
    pub fn add_app(&self, client_id: &str, secret: &str) {
        self.state.lock().unwrap().apps.insert(client_id.into(), secret.into());
    }

    /// A login made with another app.
    pub fn add_login_for(&self, client_id: &str, refresh_token: &str, profiles: Vec<Value>) {
        let login = LoginState { client_id: client_id.into(), profiles, dsp: Vec::new(), revoked: false, v2_accounts: Vec::new() };
        self.state.lock().unwrap().logins.insert(refresh_token.into(), login);
    }

    /// DSP advertisers the login's agency profile `agency_profile_id` lists.
    pub fn add_dsp_advertisers(&self, refresh_token: &str, agency_profile_id: u64, advertisers: Vec<Value>) {
        let mut s = self.state.lock().unwrap();
        let login = s.logins.get_mut(refresh_token).expect("add the login first");
        login.dsp.extend(advertisers.into_iter().map(|a| (agency_profile_id.to_string(), a)));
    }

    /// The login withdrew its consent: LwA refuses the token, its access tokens stop working.
    pub fn revoke(&self, refresh_token: &str) {
        let mut s = self.state.lock().unwrap();
        if let Some(l) = s.logins.get_mut(refresh_token) {
            l.revoked = true;
        }
        s.access.retain(|_, r| r != refresh_token);
    }

    /// The login reaches this advertiser account in Stream v2 calls.
    pub fn add_v2_account(&self, refresh_token: &str, advertiser_account_id: &str) {
        let mut s = self.state.lock().unwrap();
        s.logins.get_mut(refresh_token).expect("add the login first").v2_accounts.push(advertiser_account_id.into());
    }

    /// Stream v2 creates of this dataset id fail (Amazon does not know it).
    pub fn refuse_v2_dataset(&self, dataset: &str) {
        self.state.lock().unwrap().v2_datasets_refused.push(dataset.into());
    }

    /// Every Stream v2 subscription made.
    pub fn v2_subscriptions(&self) -> Vec<crate::amazon_v2::V2Sub> {
        self.state.lock().unwrap().v2_subs.clone()
    }

    /// The login that signs in on the consent page (`/ap/oa`) from now on.
    pub fn consent_as(&self, refresh_token: &str) {
        self.state.lock().unwrap().consenting = Some(refresh_token.into());
    }

    /// An authorization code the consent page would hand out for this login.
    pub fn issue_code(&self, refresh_token: &str, redirect_uri: &str) -> String {
        let code = format!("ANcode{}", uuid::Uuid::new_v4().simple());
        self.state.lock().unwrap().codes.insert(code.clone(), (refresh_token.into(), redirect_uri.into()));
        code
    }

    /// The next `n` Ads API calls get 429 with `Retry-After: secs`.
    pub fn throttle_next(&self, n: usize, secs: u64) {
        self.state.lock().unwrap().throttle.extend(std::iter::repeat_n(secs, n));
    }

    /// The next LwA token requests answer these statuses (429 with `Retry-After: 1`, or a 5xx).
    pub fn fail_lwa_next(&self, statuses: &[u16]) {
        self.state.lock().unwrap().lwa_faults.extend_from_slice(statuses);
    }

    /// LwA faults not served yet.
    pub fn lwa_faults_left(&self) -> usize {
        self.state.lock().unwrap().lwa_faults.len()
    }

    /// Every access token handed out so far expires: the next Ads API call answers 401 and the
    /// caller must go back to LwA.
    pub fn expire_access_tokens(&self) {
        self.state.lock().unwrap().access.clear();
    }

    /// The logins lose access to a profile or DSP advertiser: every call for it answers 401
    /// ("Not authorized to access this advertiser"), a fresh access token or not.
    pub fn deny(&self, scope: &str) {
        self.state.lock().unwrap().denied.push(scope.into());
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

    /// Amazon stops delivery for good (the login lost access, or deliveries kept failing).
    pub fn suspend(&self, id: &str) {
        let mut s = self.state.lock().unwrap();
        if let Some(sub) = s.subs.iter_mut().find(|x| x.id == id) {
            set_status(sub, "SUSPENDED");
        }
    }

    /// Amazon's list stops showing a subscription (it is still there by id).
    pub fn hide_from_list(&self, id: &str) {
        self.state.lock().unwrap().hidden.push(id.into());
    }

    pub fn subscriptions(&self) -> Vec<Sub> {
        self.state.lock().unwrap().subs.clone()
    }

    /// (method, path, status) of every Ads API call.
    pub fn seen(&self) -> Vec<(String, String, u16)> {
        self.state.lock().unwrap().seen.clone()
    }

    /// (signing role or `anonymous`, topic, status) of every ConfirmSubscription.
    pub fn confirms(&self) -> Vec<(String, String, u16)> {
        self.state.lock().unwrap().confirms.clone()
    }

    /// Every contract rule broken so far.
    pub fn violations(&self) -> Vec<String> {
        self.state.lock().unwrap().violations.clone()
    }

    /// Panics, naming each rule, if any request or answer broke Amazon's contract.
    pub fn assert_contract_kept(&self) {
        let v = self.violations();
        assert!(v.is_empty(), "Amazon's published contract broken {} time(s):\n{}", v.len(), v.join("\n"));
    }
}

pub(crate) fn set_status(sub: &mut Sub, status: &str) {
    sub.status = status.to_owned();
    sub.history.push(status.to_owned());
}

/// An answer before it is checked against the contract and sent.
pub(crate) struct Answer {
    status: u16,
    body: Option<Value>,
    retry_after: Option<u64>,
}

pub(crate) fn answer(status: u16, body: Value) -> Answer {
    Answer { status, body: Some(body), retry_after: None }
}

/// Amazon's error shape: `{code, message}` (the DSP API's `{message, requestId}`).
pub(crate) fn error(status: u16, code: &str, message: &str) -> Answer {
    answer(status, json!({"code": code, "message": message}))
}

fn dsp_error(status: u16, message: &str) -> Answer {
    answer(status, json!({"message": message, "requestId": uuid::Uuid::new_v4().to_string()}))
}

/// What a request was, for the handlers.
struct Call<'a> {
    op: String,
    req: &'a HttpRequest,
    query: HashMap<String, String>,
    body: &'a [u8],
    /// The login's app and refresh token.
    client: String,
    refresh: String,
}

impl Call<'_> {
    fn header(&self, name: &str) -> Option<String> {
        self.req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
}

/// Every Ads API call: checked against the contract, served, its answer checked.
async fn ads_api(state: Shared, contract: web::Data<Contract>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let query: Vec<(String, String)> = web::Query::<Vec<(String, String)>>::from_query(req.query_string()).map(|q| q.into_inner()).unwrap_or_default();
    let headers: Vec<(String, String)> =
        req.headers().iter().map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned())).collect();
    let checked = contract.check_request(&Request { method: req.method().as_str(), path: req.path(), query: query.clone(), headers, body: &body });
    let op = match checked {
        Ok(op) => op,
        Err(v) => {
            let mut s = state.lock().unwrap();
            s.violations.push(format!("request: {v}"));
            s.seen.push((req.method().to_string(), req.path().to_owned(), v.status));
            return HttpResponse::build(StatusCode::from_u16(v.status).unwrap()).json(json!({"code": v.status.to_string(), "message": v.rule}));
        }
    };
    let (a, hang, confirm) = {
        let mut s = state.lock().unwrap();
        let (a, hang, confirm) = match authorize(&mut s, &req) {
            Err(a) => (a, false, None),
            Ok((client, refresh)) => {
                let call = Call { op: op.name(), req: &req, query: query.into_iter().collect(), body: &body, client, refresh };
                serve(&mut s, &call)
            }
        };
        s.seen.push((req.method().to_string(), req.path().to_owned(), a.status));
        (a, hang, confirm)
    };
    if let Some((sub_id, arn, dataset, marketplace)) = confirm {
        let state = state.get_ref().clone();
        actix_web::rt::spawn(crate::amazon_sns::send_confirmation(state, sub_id, arn, dataset, marketplace));
    }
    if hang {
        // Made, never answered: the caller times out or dies waiting.
        std::future::pending::<()>().await;
    }
    respond(&state, &contract, &op, a)
}

/// The answer, unless it would break the contract (then a 500 naming the rule, recorded).
fn respond(state: &Shared, contract: &Contract, op: &Operation, a: Answer) -> HttpResponse {
    let media = if op.name().contains("/streams/subscriptions") {
        STREAM_MEDIA_TYPE
    } else if op.name().contains("/adsAccounts/list") && a.status == 200 {
        ams_onboard::ads::accounts::LIST_MEDIA_TYPE
    } else {
        "application/json"
    };
    let bytes = a.body.as_ref().map(|b| b.to_string().into_bytes()).unwrap_or_default();
    if let Err(v) = contract.check_response(op, a.status, a.body.as_ref().map(|_| media), &bytes) {
        state.lock().unwrap().violations.push(format!("stand-in answer: {v}"));
        return HttpResponse::InternalServerError().json(json!({"code": "500", "message": v.rule}));
    }
    let mut r = HttpResponse::build(StatusCode::from_u16(a.status).unwrap());
    if let Some(secs) = a.retry_after {
        r.insert_header(("Retry-After", secs.to_string()));
    }
    match a.body {
        Some(_) => r.content_type(media).body(bytes),
        None => r.finish(),
    }
}

/// The login behind a request's headers, or Amazon's error.
fn authorize(s: &mut State, req: &HttpRequest) -> Result<(String, String), Answer> {
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    for n in ["amazon-advertising-api-clientid", "amazon-ads-clientid", "authorization", "amazon-advertising-api-scope", "amazon-ads-account-id"] {
        if let Some(v) = header(n) {
            s.received.push(v);
        }
    }
    // The newer API (`/adsApi/v1/…`) names the app in `Amazon-Ads-ClientId`.
    let client_id = header("Amazon-Advertising-API-ClientId").or_else(|| header("Amazon-Ads-ClientId")).unwrap_or_default();
    let unauthorized = || error(401, "UNAUTHORIZED", "Not authorized to access this advertiser");
    let Some(refresh) = header("Authorization").and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned)).and_then(|t| s.access.get(&t).cloned()) else {
        return Err(unauthorized());
    };
    let login = s.logins.get(&refresh).cloned().expect("access tokens are of logins");
    if login.revoked {
        return Err(unauthorized());
    }
    if login.client_id != client_id {
        return Err(error(401, "UNAUTHORIZED", "The Amazon-Advertising-API-ClientId does not match the access token"));
    }
    if let Some(secs) = (!s.throttle.is_empty()).then(|| s.throttle.remove(0)) {
        return Err(Answer { retry_after: Some(secs), ..error(429, "429", "Too Many Requests") });
    }
    Ok((client_id, refresh))
}

type Confirm = Option<(String, String, String, Option<String>)>;

/// The global account id the stand-in gives an advertiser (`accountInfo.id` of its profiles).
pub fn global_account_id(advertiser_id: &str) -> String {
    format!("amzn1.ads-account.g.{}", advertiser_id.to_ascii_lowercase())
}

/// `POST /adsAccounts/list`: one global account per advertiser of the login's profiles, its
/// profiles as alternate ids (one page: the stand-in's logins hold few advertisers).
fn ads_accounts(login: &LoginState) -> Answer {
    let mut accounts: Vec<(String, String, Vec<Value>)> = Vec::new();
    for p in &login.profiles {
        let advertiser = p["accountInfo"]["id"].as_str().unwrap_or_default().to_owned();
        let alternate = json!({"countryCode": p["countryCode"], "profileId": p["profileId"]});
        match accounts.iter_mut().find(|(a, _, _)| *a == advertiser) {
            Some((_, _, alternates)) => alternates.push(alternate),
            None => accounts.push((advertiser, p["accountInfo"]["name"].as_str().unwrap_or_default().to_owned(), vec![alternate])),
        }
    }
    let listed: Vec<Value> = accounts
        .into_iter()
        .map(|(advertiser, name, alternates)| {
            json!({"adsAccountId": global_account_id(&advertiser), "accountName": name, "status": "CREATED", "alternateIds": alternates})
        })
        .collect();
    answer(200, json!({"adsAccounts": listed}))
}

fn serve(s: &mut State, c: &Call<'_>) -> (Answer, bool, Confirm) {
    let plain = |a: Answer| (a, false, None);
    let login = s.logins[&c.refresh].clone();
    match c.op.as_str() {
        "GET /v2/profiles" => plain(answer(200, Value::Array(login.profiles))),
        "GET /dsp/advertisers" => plain(dsp_advertisers(s, &login, c)),
        "POST /adsAccounts/list" => plain(ads_accounts(&login)),
        op if op.starts_with("POST /adsApi/v1/") => plain(crate::amazon_v2::serve(s, &login, &c.client, op, c.body)),
        op => {
            let dsp = op.contains("/dsp/");
            let scope = match scope_of(s, &login, c, dsp) {
                Ok(scope) => scope,
                Err(a) => return plain(a),
            };
            let id = c.req.path().rsplit('/').next().unwrap_or_default().to_owned();
            match op.trim_start_matches("GET ").trim_start_matches("POST ").trim_start_matches("PUT ").trim_start_matches("/dsp") {
                "/streams/subscriptions" if op.starts_with("GET") => plain(list(s, &c.client, &scope, dsp, &c.query)),
                "/streams/subscriptions" => create(s, c, &scope, dsp),
                "/streams/subscriptions/{subscriptionId}" if op.starts_with("GET") => plain(get(s, &c.client, &scope, &id)),
                "/streams/subscriptions/{subscriptionId}" => plain(archive(s, &c.client, &scope, &id, c.body)),
                _ => plain(error(404, "404", "Not Found")),
            }
        }
    }
}

/// The scope a subscription call is for, checked against the login: a seller or vendor profile
/// (`Amazon-Advertising-API-Scope`), or a DSP advertiser of its agency profiles.
fn scope_of(s: &State, login: &LoginState, c: &Call<'_>, dsp: bool) -> Result<String, Answer> {
    let name = if dsp { DSP_HEADER } else { "Amazon-Advertising-API-Scope" };
    let Some(scope) = c.header(name) else {
        return Err(error(400, "400", &format!("Missing {name} header")));
    };
    let ours = if dsp {
        login.dsp.iter().any(|(_, a)| a["advertiserId"].as_str() == Some(&scope))
    } else {
        login.profiles.iter().any(|p| p["profileId"].to_string() == scope && matches!(p["accountInfo"]["type"].as_str(), Some("seller" | "vendor")))
    };
    if s.denied.contains(&scope) {
        return Err(error(401, "UNAUTHORIZED", "Not authorized to access this advertiser"));
    }
    if !ours {
        return Err(error(403, "FORBIDDEN", "Not authorized to access this resource"));
    }
    Ok(scope)
}

fn dsp_advertisers(s: &State, login: &LoginState, c: &Call<'_>) -> Answer {
    let agency = c.header("Amazon-Advertising-API-Scope").unwrap_or_default();
    let is_agency = login.profiles.iter().any(|p| {
        p["profileId"].to_string() == agency && p["accountInfo"]["type"] == "agency" && p["accountInfo"]["subType"] != "AMAZON_ATTRIBUTION"
    });
    if !is_agency || s.denied.contains(&agency) {
        return dsp_error(403, "Forbidden: the profile is not a DSP agency profile of this login");
    }
    let all: Vec<&Value> = login.dsp.iter().filter(|(a, _)| *a == agency).map(|(_, v)| v).collect();
    let start: usize = c.query.get("startIndex").and_then(|v| v.parse().ok()).unwrap_or(0);
    let count: usize = c.query.get("count").and_then(|v| v.parse().ok()).unwrap_or(100);
    let page: Vec<&Value> = all.iter().skip(start).take(count).copied().collect();
    answer(200, json!({"totalResults": all.len(), "response": page}))
}

fn view(sub: &Sub) -> Value {
    let mut v = json!({
        "subscriptionId": sub.id, "dataSetId": sub.dataset, "status": sub.status,
        "destination": {"sqsDestination": {"queueArn": sub.queue_arn}},
        "createdDate": "2026-12-01T00:00:00Z", "updatedDate": "2026-12-01T00:00:00Z"
    });
    if let Some(n) = &sub.notes {
        v["notes"] = json!(n);
    }
    v
}

fn list(s: &State, client: &str, scope: &str, dsp: bool, query: &HashMap<String, String>) -> Answer {
    let page: usize = query.get("maxResults").and_then(|m| m.parse().ok()).unwrap_or(5000).clamp(1, 5000);
    let start: usize = query.get("startingToken").and_then(|t| t.strip_prefix("page-")).and_then(|t| t.parse().ok()).unwrap_or(0);
    let mine: Vec<&Sub> =
        s.subs.iter().filter(|x| x.client_id == client && x.scope == scope && x.dsp == dsp && !s.hidden.contains(&x.id)).collect();
    let chunk: Vec<Value> = mine.iter().skip(start).take(page).map(|x| view(x)).collect();
    let mut a = json!({"subscriptions": chunk});
    if start + page < mine.len() {
        a["nextToken"] = json!(format!("page-{}", start + page));
    }
    answer(200, a)
}

fn create(s: &mut State, c: &Call<'_>, scope: &str, dsp: bool) -> (Answer, bool, Confirm) {
    let plain = |a: Answer| (a, false, None);
    s.received.push(String::from_utf8_lossy(c.body).into_owned());
    let b: Value = serde_json::from_slice(c.body).unwrap_or(Value::Null);
    let (token, dataset) = (b["clientRequestToken"].as_str().unwrap_or_default(), b["dataSetId"].as_str().unwrap_or_default());
    let Some(arn) = b.pointer("/destination/sqsDestination/queueArn").or(b.get("destinationArn")).and_then(Value::as_str) else {
        return plain(error(400, "400", "destination is required"));
    };
    let Ok(id) = dataset.parse::<DatasetId>() else { return plain(error(400, "400", "Invalid dataSetId")) };
    if id.is_dsp() != dsp {
        return plain(error(400, "400", "This dataset is not available on this endpoint"));
    }
    if let Some(existing) = s.subs.iter().find(|x| x.client_id == c.client && x.token == token) {
        return plain(answer(200, json!({"subscriptionId": existing.id, "clientRequestToken": token})));
    }
    if s.fail_creates > 0 {
        s.fail_creates -= 1;
        return plain(error(500, "500", "Internal Server Error"));
    }
    let open = s.subs.iter().filter(|x| x.client_id == c.client && x.scope == scope && x.dataset == dataset && x.status != "ARCHIVED").count();
    if open >= 2 {
        return plain(error(409, "409", "At most two subscriptions per dataset: archive one first"));
    }
    s.next_id += 1;
    let sub_id = format!("amzn1.fead.cs1.{:012}", s.next_id);
    let mut sub = Sub {
        id: sub_id.clone(),
        client_id: c.client.clone(),
        scope: scope.into(),
        dsp,
        dataset: dataset.into(),
        queue_arn: arn.into(),
        token: token.into(),
        notes: b["notes"].as_str().map(str::to_owned),
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
        .then(|| s.logins.values().flat_map(|l| l.profiles.iter()).find(|p| p["profileId"].to_string() == scope))
        .flatten()
        .and_then(|p| p["accountInfo"]["marketplaceStringId"].as_str().map(str::to_owned));
    let a = answer(200, json!({"subscriptionId": sub_id, "clientRequestToken": token}));
    (a, hang, Some((sub_id, arn.to_owned(), dataset.to_owned(), marketplace)))
}

fn get(s: &State, client: &str, scope: &str, id: &str) -> Answer {
    match s.subs.iter().find(|x| x.id == id && x.client_id == client && x.scope == scope) {
        None => error(404, "404", "Subscription not found"),
        Some(sub) => answer(200, json!({"subscription": view(sub)})),
    }
}

/// `PUT …/{id} {"status": "ARCHIVED"}`: only an ACTIVE subscription can be archived.
fn archive(s: &mut State, client: &str, scope: &str, id: &str, body: &[u8]) -> Answer {
    let Some(sub) = s.subs.iter_mut().find(|x| x.id == id && x.client_id == client && x.scope == scope) else {
        return error(404, "404", "Subscription not found");
    };
    let b: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match (b["status"].as_str(), sub.status.as_str()) {
        (Some("ARCHIVED"), "ARCHIVED") => Answer { status: 200, body: None, retry_after: None },
        (Some("ARCHIVED"), "ACTIVE") => {
            set_status(sub, "ARCHIVED");
            Answer { status: 200, body: None, retry_after: None }
        }
        (Some("ARCHIVED"), other) => error(400, "400", &format!("Only ACTIVE subscriptions can be archived; this one is {other}")),
        // Notes only.
        _ => Answer { status: 200, body: None, retry_after: None },
    }
}

/// A seller's `/v2/profiles` object.
pub fn profile(profile_id: u64, country: &str, marketplace_id: &str, advertiser_id: &str, name: &str) -> Value {
    json!({
        "profileId": profile_id, "countryCode": country, "currencyCode": "USD", "dailyBudget": 999999999.0,
        "timezone": "America/Los_Angeles",
        "accountInfo": {"marketplaceStringId": marketplace_id, "id": advertiser_id, "type": "seller", "name": name, "validPaymentMethod": true}
    })
}

/// An agency's `/v2/profiles` object (it lists DSP advertisers; it is no sponsored-ads
/// marketplace).
pub fn agency_profile(profile_id: u64, country: &str, marketplace_id: &str, agency_id: &str, name: &str) -> Value {
    json!({
        "profileId": profile_id, "countryCode": country, "currencyCode": "USD", "timezone": "America/Los_Angeles",
        "accountInfo": {"marketplaceStringId": marketplace_id, "id": agency_id, "type": "agency", "name": name}
    })
}

/// A DSP advertiser as `GET /dsp/advertisers` lists it.
pub fn dsp_advertiser(advertiser_id: &str, name: &str, country: &str) -> Value {
    json!({"advertiserId": advertiser_id, "name": name, "currency": "USD", "url": "www.example.com", "country": country,
           "timezone": "America/Los_Angeles"})
}
