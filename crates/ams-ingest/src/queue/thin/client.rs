//! A thin SQS client for the calls a consumer makes: ReceiveMessage, DeleteMessageBatch,
//! ChangeMessageVisibilityBatch and GetQueueAttributes (the backlog), in SQS's JSON protocol over one hyper connection pool,
//! signed with `aws-sigv4` (the SDK's own signer) with credentials from the account's SDK
//! provider, cached here until five minutes before they expire.
//!
//! Why not aws-sdk-sqs: the SDK costs ~35 µs of CPU per message on receive + delete alone
//! (interceptors, runtime components, endpoint rules, retry machinery, per request), which is
//! 2.5× the whole per-message budget of the runtime (docs/performance.md). SNS and STS stay on
//! the SDK; `AMS_HUB_SQS_CLIENT=sdk` puts SQS back on it too (queue/sdk.rs). Timeouts, retries and clock-skew
//! correction: retry.rs.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use backon::Retryable;
use futures_util::future::BoxFuture;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use bytes::Bytes;
use http::HeaderValue;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

pub use crate::queue::{Attributes, Received, SqsError};
use crate::queue::{Backlog, KeepTrying, Queue, ReceiveRoom, Unbounded};
use crate::events::{InternalEvent, SqsCallRetried};
use super::sigv4::{self, SigningKey};
use super::retry::{self as sqs_retry, RetryPolicy, Verdict};

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// One account's SQS in one region.
#[derive(Clone)]
pub struct Sqs {
    client: Client<Https, Full<Bytes>>,
    /// `https://sqs.<region>.amazonaws.com/`, or the emulator's endpoint.
    uri: http::Uri,
    host: String,
    host_header: HeaderValue,
    region: String,
    credentials: std::sync::Arc<CachedCredentials>,
    policy: RetryPolicy,
    /// Server time minus ours, in milliseconds, learnt from a skew error: added to the date
    /// every request is signed with.
    clock_offset_ms: Arc<AtomicI64>,
}

impl Sqs {
    /// `endpoint`: the operator's override (`AWS_ENDPOINT_URL(_SQS)`, an emulator), which may
    /// be plain `http`; without one, SQS's regional endpoint over https only. Fails on an
    /// endpoint that is not an http(s) URL.
    pub fn new(region: &str, endpoint: Option<&str>, credentials: SharedCredentialsProvider) -> Result<Sqs, SqsError> {
        Self::with_policy(region, endpoint, credentials, RetryPolicy::default())
    }

    pub fn with_policy(
        region: &str,
        endpoint: Option<&str>,
        credentials: SharedCredentialsProvider,
        policy: RetryPolicy,
    ) -> Result<Sqs, SqsError> {
        let overridden = endpoint.is_some();
        let endpoint = endpoint
            .map(|e| e.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("https://sqs.{region}.amazonaws.com"));
        let bad = |e: &dyn std::fmt::Display| SqsError::Transport(format!("SQS endpoint {endpoint:?}: {e}"));
        let uri: http::Uri = format!("{endpoint}/").parse().map_err(|e| bad(&e))?;
        let host = uri.authority().ok_or_else(|| bad(&"no host"))?.as_str().to_owned();
        // Plain http only for an endpoint the operator named (an emulator); SQS itself, and
        // anything else, only over TLS.
        let client = match uri.scheme_str() {
            Some("https") => shared_client(false, policy.connect_timeout),
            Some("http") if overridden => shared_client(true, policy.connect_timeout),
            _ => return Err(bad(&"must be https (plain http only for an emulator named in AWS_ENDPOINT_URL)")),
        };
        Ok(Sqs {
            client,
            host_header: HeaderValue::try_from(host.as_str()).map_err(|e| bad(&e))?,
            uri,
            host,
            region: region.to_owned(),
            credentials: std::sync::Arc::new(CachedCredentials { provider: credentials, cached: Mutex::new(None) }),
            policy,
            clock_offset_ms: Arc::new(AtomicI64::new(0)),
        })
    }

    /// Receives up to `max` messages. Failed attempts are retried while `keep_trying()` (a
    /// stopping consumer wants no new receive).
    pub async fn receive(
        &self,
        queue_url: &str,
        max: i32,
        wait_seconds: i32,
        visibility_secs: i32,
        keep_trying: impl Fn() -> bool,
    ) -> Result<Vec<Received>, SqsError> {
        self.receive_within(queue_url, max, wait_seconds, visibility_secs, keep_trying, &Unbounded).await
    }

    /// [`receive`](Self::receive), reading the answer only into memory `room` grants: twice the
    /// response's length (the response, and the bodies unescaped out of it), asked for once
    /// the headers are in and before the body is read.
    pub async fn receive_within(
        &self,
        queue_url: &str,
        max: i32,
        wait_seconds: i32,
        visibility_secs: i32,
        keep_trying: impl Fn() -> bool,
        room: &dyn ReceiveRoom,
    ) -> Result<Vec<Received>, SqsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Req<'a> {
            queue_url: &'a str,
            max_number_of_messages: i32,
            wait_time_seconds: i32,
            visibility_timeout: i32,
            message_system_attribute_names: [&'a str; 2],
        }
        let req = Req {
            queue_url,
            max_number_of_messages: max,
            wait_time_seconds: wait_seconds,
            visibility_timeout: visibility_secs,
            message_system_attribute_names: ["SentTimestamp", "ApproximateReceiveCount"],
        };
        // A long poll answers within its wait: past that plus the margin, the connection is dead.
        let timeout = Duration::from_secs(wait_seconds.max(0) as u64) + self.policy.request_margin;
        self.call("AmazonSQS.ReceiveMessage", &req, timeout, keep_trying, Some(room), |body| {
            let text = std::str::from_utf8(body).map_err(|e| SqsError::Unreadable(format!("ReceiveMessage response: {e}")))?;
            read_messages(text).map_err(|e| {
                // The reader's errors are terse: let serde_json say what is wrong.
                SqsError::Unreadable(format!(
                    "ReceiveMessage response: {}",
                    serde_json::from_str::<ReceiveResponse>(text).err().map_or(e.to_string(), |e| e.to_string())
                ))
            })
        })
        .await
    }

    /// Deletes messages by receipt handle; returns how many SQS reported as failed.
    pub async fn delete_batch(&self, queue_url: &str, receipts: &[String]) -> Result<usize, SqsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Entry<'a> {
            id: String,
            receipt_handle: &'a str,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Req<'a> {
            queue_url: &'a str,
            entries: Vec<Entry<'a>>,
        }
        let entries = receipts.iter().enumerate().map(|(i, h)| Entry { id: i.to_string(), receipt_handle: h }).collect();
        let req = Req { queue_url, entries };
        self.call("AmazonSQS.DeleteMessageBatch", &req, self.policy.request_margin, || true, None, |b| failed("DeleteMessageBatch", b))
            .await
    }

    /// Sets the visibility timeout of messages by receipt handle; returns the failures.
    pub async fn change_visibility_batch(
        &self,
        queue_url: &str,
        receipts: &[String],
        visibility_secs: i32,
    ) -> Result<usize, SqsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Entry<'a> {
            id: String,
            receipt_handle: &'a str,
            visibility_timeout: i32,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Req<'a> {
            queue_url: &'a str,
            entries: Vec<Entry<'a>>,
        }
        let entries = receipts
            .iter()
            .enumerate()
            .map(|(i, h)| Entry { id: i.to_string(), receipt_handle: h, visibility_timeout: visibility_secs })
            .collect();
        let req = Req { queue_url, entries };
        self.call("AmazonSQS.ChangeMessageVisibilityBatch", &req, self.policy.request_margin, || true, None, |b| {
            failed("ChangeMessageVisibilityBatch", b)
        })
            .await
    }

    /// The queue's approximate backlog (GetQueueAttributes).
    pub async fn backlog(&self, queue_url: &str) -> Result<Backlog, SqsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Req<'a> {
            queue_url: &'a str,
            attribute_names: [&'a str; 2],
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Resp {
            #[serde(default)]
            attributes: std::collections::HashMap<String, String>,
        }
        let req = Req { queue_url, attribute_names: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] };
        self.call("AmazonSQS.GetQueueAttributes", &req, self.policy.request_margin, || true, None, |b| {
            let r: Resp = serde_json::from_slice(b).map_err(|e| SqsError::Unreadable(format!("GetQueueAttributes response: {e}")))?;
            let get = |k: &str| r.attributes.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
            Ok(Backlog { visible: get("ApproximateNumberOfMessages"), in_flight: get("ApproximateNumberOfMessagesNotVisible") })
        })
        .await
    }

    /// One signed JSON-protocol call (`target` is `AmazonSQS.<Action>`), its answer read by
    /// `read`; retried as retry.rs says, each attempt within `timeout`.
    async fn call<T: Serialize, R>(
        &self,
        target: &'static str,
        req: &T,
        timeout: Duration,
        keep_trying: impl Fn() -> bool,
        room: Option<&dyn ReceiveRoom>,
        read: impl Fn(&[u8]) -> Result<R, SqsError>,
    ) -> Result<R, SqsError> {
        let action = target.trim_start_matches("AmazonSQS.");
        let body = Bytes::from(serde_json::to_vec(req).map_err(|e| SqsError::Transport(e.to_string()))?);
        let attempt = || async {
            // The answer's buffer is dropped once it is read: what `read` keeps (the bodies) stays.
            let answer = self.attempt(target, body.clone(), timeout, room).await?;
            read(&answer)
        };
        attempt
            .retry(self.policy.backoff())
            .sleep(tokio::time::sleep)
            .when(|e| keep_trying() && match sqs_retry::verdict(e, SystemTime::now()) {
                Verdict::Retry => true,
                Verdict::Resync(offset) => {
                    tracing::warn!(offset_ms = offset, "SQS says our clock is off; signing with the server's time from now on");
                    self.clock_offset_ms.store(offset, Ordering::Relaxed);
                    true
                }
                Verdict::Fail => false,
            })
            .notify(|error, retry_in| SqsCallRetried { call: action, error, retry_in }.emit())
            .await
    }

    /// One attempt: the response body of a success, or the service's error. Until the answer's
    /// headers are in it may take `timeout`; then, for a success, its body takes memory from
    /// `room` (waiting for it is not timed: SQS has handed the messages over already) and is
    /// read within the retry policy's margin.
    async fn attempt(&self, target: &'static str, body: Bytes, timeout: Duration, room: Option<&dyn ReceiveRoom>) -> Result<Bytes, SqsError> {
        let action = target.trim_start_matches("AmazonSQS.");
        let timed_out = |_| SqsError::Timeout(action.to_owned());
        let response = tokio::time::timeout(timeout, self.send(target, body)).await.map_err(timed_out)??;
        let status = response.status();
        if let (true, Some(room)) = (status.is_success(), room) {
            room.hold(2 * announced_length(&response).unwrap_or(RECEIVE_WORST_CASE)).await;
        }
        let server_date = response
            .headers()
            .get(http::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok());
        // The legacy error code SQS also sends (e.g. `AWS.SimpleQueueService.NonExistentQueue;Sender`).
        let query_error = response
            .headers()
            .get("x-amzn-query-error")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_owned);
        let length = announced_length(&response);
        let bytes = tokio::time::timeout(self.policy.request_margin, read_body(response.into_body(), length))
            .await
            .map_err(timed_out)?
            .map_err(|e| SqsError::Transport(format!("{action}: {e}")))?;
        if status.is_success() {
            return Ok(bytes);
        }
        // `{"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "..."}` (either case).
        let e: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let field = |k: &str| e.get(k).and_then(|v| v.as_str()).filter(|v| !v.is_empty());
        let kind = field("__type").map(|t| t.rsplit('#').next().unwrap_or(t).to_owned());
        Err(SqsError::Service {
            status: status.as_u16(),
            code: query_error.or(kind).unwrap_or_else(|| format!("HTTP {}", status.as_u16())),
            message: field("message").or(field("Message")).unwrap_or("(no message)").to_owned(),
            server_date,
        })
    }

    /// Signs and sends one request; the answer's head.
    async fn send(&self, target: &'static str, body: Bytes) -> Result<http::Response<hyper::body::Incoming>, SqsError> {
        let action = target.trim_start_matches("AmazonSQS.");
        // One clock read per request: the date signed and the day of the signing key.
        let now = sqs_retry::shifted(SystemTime::now(), self.clock_offset_ms.load(Ordering::Relaxed));
        let amz_date = sigv4::amz_date(now);
        let signing = self.credentials.get(&self.region, &amz_date).await?;
        let signed = signing.sign(&self.region, &self.host, target, &body, amz_date);
        let mut request = http::Request::new(Full::new(body));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.insert(http::header::HOST, self.host_header.clone());
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(sigv4::CONTENT_TYPE));
        headers.insert("x-amz-target", HeaderValue::from_static(target));
        let value = |v: String| HeaderValue::try_from(v).map_err(|e| SqsError::Transport(format!("signing: {e}")));
        headers.insert("x-amz-date", value(signed.amz_date)?);
        headers.insert(http::header::AUTHORIZATION, value(signed.authorization)?);
        if let Some(token) = &signing.session_token {
            headers.insert("x-amz-security-token", token.clone());
        }
        self.client.request(request).await.map_err(|e| {
            let text = chain(&e);
            // hyper-util's connector reports its connect timeout as an I/O "timed out".
            if text.contains("timed out") {
                SqsError::Timeout(format!("{action} (connect)"))
            } else {
                SqsError::Transport(format!("{action}: {text}"))
            }
        })
    }
}

/// What a ReceiveMessage answer without a `Content-Length` may bring: ten messages of SQS's
/// largest size (1 MiB since 2025), each escaped in JSON (a body of plain text grows little;
/// quotes and backslashes double).
pub const RECEIVE_WORST_CASE: u64 = 10 * 2 * 1024 * 1024;

fn announced_length<B>(response: &http::Response<B>) -> Option<u64> {
    response.headers().get(http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// The whole body in one buffer, sized by its `Content-Length` when there is one: no second
/// copy to join chunks, and each chunk is freed once copied.
async fn read_body(mut body: hyper::body::Incoming, length: Option<u64>) -> Result<Bytes, hyper::Error> {
    // A length is trusted only as far as a receive's worst case (hyper enforces it anyway).
    let mut buf = Vec::with_capacity(length.unwrap_or(0).min(RECEIVE_WORST_CASE) as usize);
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

impl Queue for Sqs {
    fn receive<'a>(
        &'a self,
        queue_url: &'a str,
        max: i32,
        wait_seconds: i32,
        visibility_secs: i32,
        keep_trying: KeepTrying<'a>,
        room: &'a dyn ReceiveRoom,
    ) -> BoxFuture<'a, Result<Vec<Received>, SqsError>> {
        Box::pin(Sqs::receive_within(self, queue_url, max, wait_seconds, visibility_secs, keep_trying, room))
    }

    fn delete_batch<'a>(&'a self, queue_url: &'a str, receipts: &'a [String]) -> BoxFuture<'a, Result<usize, SqsError>> {
        Box::pin(Sqs::delete_batch(self, queue_url, receipts))
    }

    fn change_visibility_batch<'a>(
        &'a self,
        queue_url: &'a str,
        receipts: &'a [String],
        visibility_secs: i32,
    ) -> BoxFuture<'a, Result<usize, SqsError>> {
        Box::pin(Sqs::change_visibility_batch(self, queue_url, receipts, visibility_secs))
    }

    fn backlog<'a>(&'a self, queue_url: &'a str) -> BoxFuture<'a, Result<Backlog, SqsError>> {
        Box::pin(Sqs::backlog(self, queue_url))
    }
}

/// The ReceiveMessage response as serde_json reads it: for precise errors and as the reference
/// that [`read_messages`] is tested against.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiveResponse {
    #[serde(default)]
    #[cfg_attr(not(test), allow(dead_code))]
    messages: Vec<Received>,
}

/// The messages of a ReceiveMessage response, with ams-model's JSON reader: each `Body` is an
/// escaped SNS envelope, and unescaping it was the largest single cost per message with
/// serde_json (docs/performance.md).
fn read_messages(text: &str) -> Result<Vec<Received>, ams_model::json::JsonError> {
    let mut r = ams_model::json::Reader::new(text);
    let mut messages = Vec::new();
    r.object(|r, key| match &*key {
        "Messages" => r.array(|r| {
            let (mut id, mut receipt, mut body) = (None, None, None);
            let mut attributes = Attributes::default();
            r.object(|r, key| {
                match &*key {
                    "MessageId" => id = Some(r.string()?.into_owned()),
                    "ReceiptHandle" => receipt = Some(r.string()?.into_owned()),
                    "Body" => body = Some(r.string()?.into_owned()),
                    "Attributes" => r.object(|r, key| {
                        match &*key {
                            "SentTimestamp" => attributes.sent_timestamp = Some(r.string()?.into_owned()),
                            "ApproximateReceiveCount" => {
                                attributes.approximate_receive_count = Some(r.string()?.into_owned())
                            }
                            _ => r.skip()?,
                        }
                        Ok(())
                    })?,
                    _ => r.skip()?,
                }
                Ok(())
            })?;
            let missing = ams_model::json::JsonError { at: 0, what: "a message without MessageId, ReceiptHandle or Body" };
            match (id, receipt, body) {
                (Some(message_id), Some(receipt_handle), Some(body)) => {
                    messages.push(Received { message_id, receipt_handle, body, attributes });
                    Ok(())
                }
                _ => Err(missing),
            }
        }),
        _ => r.skip(),
    })?;
    r.end()?;
    Ok(messages)
}

/// How many entries a batch response lists as failed; a body that is not a batch answer is
/// an error (it says nothing about what was done).
fn failed(action: &str, body: &[u8]) -> Result<usize, SqsError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Resp {
        #[serde(default)]
        failed: Vec<serde_json::Value>,
    }
    serde_json::from_slice::<Resp>(body)
        .map(|r| r.failed.len())
        .map_err(|e| SqsError::Unreadable(format!("{action} response: {e}")))
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// One client (TLS configuration and connection pool) per thread, shared by every queue: a
/// thousand consumers must not each load the system's root certificates and keep their own
/// connections. Per thread, because a pool belongs to the runtime that drives it (the actix
/// system is one thread).
fn shared_client(allow_http: bool, connect_timeout: Duration) -> Client<Https, Full<Bytes>> {
    thread_local! {
        static CLIENTS: std::cell::RefCell<Vec<((bool, Duration), Client<Https, Full<Bytes>>)>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    CLIENTS.with(|clients| {
        let mut clients = clients.borrow_mut();
        if let Some((_, c)) = clients.iter().find(|(k, _)| *k == (allow_http, connect_timeout)) {
            return c.clone();
        }
        let c = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(50))
            .build(connector(allow_http, connect_timeout));
        clients.push(((allow_http, connect_timeout), c.clone()));
        c
    })
}

fn connector(allow_http: bool, connect_timeout: Duration) -> Https {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(connect_timeout));
    http.enforce_http(false);
    // Several rustls crypto providers are compiled in (sqlx brings ring): name ours.
    let provider = || std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = match hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_native_roots(provider()) {
        Ok(b) => b,
        // No system roots (a bare container): Mozilla's roots, compiled in.
        Err(_) => hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(provider())
            .expect("the aws-lc-rs provider supports TLS 1.2 and 1.3"),
    };
    if allow_http {
        builder.https_or_http().enable_http1().wrap_connector(http)
    } else {
        builder.https_only().enable_http1().wrap_connector(http)
    }
}

/// The account's credentials, fetched from its provider (AssumeRole, or the platform's chain)
/// and kept until five minutes before they expire, with the signing key derived from them for
/// the current UTC day. One refresh at a time.
struct CachedCredentials {
    provider: SharedCredentialsProvider,
    cached: Mutex<Option<std::sync::Arc<Signing>>>,
}

/// Credentials ready to sign with: the secret only as the day's derived key.
struct Signing {
    access_key_id: String,
    session_token: Option<HeaderValue>,
    expiry: Option<SystemTime>,
    secret: String,
    key: SigningKey,
}

impl Signing {
    fn sign(&self, region: &str, host: &str, target: &str, body: &[u8], amz_date: String) -> sigv4::Signed {
        let req = sigv4::Request {
            access_key_id: &self.access_key_id,
            session_token: self.session_token.as_ref().and_then(|t| t.to_str().ok()),
            region,
            service: "sqs",
            host,
            target,
            body,
        };
        sigv4::sign(&req, &self.key, amz_date)
    }
}

impl CachedCredentials {
    /// Credentials with a key for the day of `today` (an amz date).
    async fn get(&self, region: &str, today: &str) -> Result<std::sync::Arc<Signing>, SqsError> {
        let mut cached = self.cached.lock().await;
        let now = SystemTime::now();
        let fresh = |s: &Signing| s.expiry.is_none_or(|t| t > now + Duration::from_secs(300));
        match cached.as_ref() {
            Some(s) if fresh(s) && s.key.is_for(today.as_bytes()) => return Ok(s.clone()),
            // The same credentials on a new day: a new key.
            Some(s) if fresh(s) => {
                let next = std::sync::Arc::new(Signing {
                    access_key_id: s.access_key_id.clone(),
                    session_token: s.session_token.clone(),
                    expiry: s.expiry,
                    secret: s.secret.clone(),
                    key: key_for(&s.secret, today, region),
                });
                *cached = Some(next.clone());
                return Ok(next);
            }
            _ => {}
        }
        let c = self.provider.provide_credentials().await.map_err(|e| SqsError::Credentials(chain(&e)))?;
        let session_token = match c.session_token() {
            Some(t) => Some(HeaderValue::try_from(t).map_err(|_| SqsError::Credentials("session token is not a valid header value".into()))?),
            None => None,
        };
        let next = std::sync::Arc::new(Signing {
            access_key_id: c.access_key_id().to_owned(),
            session_token,
            expiry: c.expiry(),
            key: key_for(c.secret_access_key(), today, region),
            secret: c.secret_access_key().to_owned(),
        });
        *cached = Some(next.clone());
        Ok(next)
    }
}

fn key_for(secret: &str, amz_date: &str, region: &str) -> SigningKey {
    let day: &[u8; 8] = amz_date.as_bytes()[..8].try_into().expect("amz dates start with YYYYMMDD");
    SigningKey::derive(secret, day, region, "sqs")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(m: &[Received]) -> Vec<(String, String, String, Option<String>, Option<String>)> {
        m.iter()
            .map(|m| {
                let a = &m.attributes;
                (m.message_id.clone(), m.receipt_handle.clone(), m.body.clone(), a.sent_timestamp.clone(), a.approximate_receive_count.clone())
            })
            .collect()
    }

    #[test]
    fn receive_responses_read_as_serde_json_reads_them() {
        let envelope = serde_json::json!({"Type": "Notification", "Message": "{\"dataset_id\":\"sp-traffic\",\"x\":\"caf\u{e9} \\\"q\\\"\"}"}).to_string();
        let full = serde_json::json!({"Messages": [
            {"MessageId": "m-1", "ReceiptHandle": "AQEB+/=", "MD5OfBody": "0f", "Body": envelope,
             "Attributes": {"SentTimestamp": "1714583052345", "ApproximateReceiveCount": "2", "SenderId": "AID"},
             "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
            {"Body": "plain \u{1f600}", "ReceiptHandle": "r2", "MessageId": "m-2"},
        ], "Unknown": [1, 2.5, null, true]})
        .to_string();
        for text in [full.as_str(), "{}", r#"{"Messages":[]}"#, " { \"Messages\" : [ ] } "] {
            let theirs: ReceiveResponse = serde_json::from_str(text).unwrap();
            assert_eq!(view(&read_messages(text).unwrap()), view(&theirs.messages), "{text}");
        }
        for bad in [r#"{"Messages":[{"MessageId":"m","Body":"b"}]}"#, r#"{"Messages":[{"#, r#"{"Messages":{}}"#, "{} {}"] {
            assert!(read_messages(bad).is_err(), "{bad}");
            assert!(serde_json::from_str::<ReceiveResponse>(bad).is_err(), "{bad}");
        }
    }
}
