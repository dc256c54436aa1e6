//! The webhook sender: an actor that sends due deliveries (`ams_store::webhooks`) as Standard
//! Webhooks specifies, and records what each attempt got. It wakes on the Postgres channel a
//! new delivery is announced on, and otherwise when the next retry falls due (at most every
//! 30 s, so a missed notification costs seconds, not a delivery). Every replica runs one; a
//! claim in Postgres makes one of them send each delivery, and a dead replica's claims expire
//! to the others (a receiver may then see a message twice, with the same `webhook-id`).
//!
//! What it will not do: send to an address the rule refuses (loopback, private, link-local,
//! …: checked on the addresses the name resolves to now, and the connection goes to those
//! addresses only, so a DNS answer cannot change between check and connect), follow
//! redirects, go through a proxy, or wait more than 10 s for an answer.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix::prelude::*;
use ams_store::webhooks::{self, rules, Due, Outcome};
use ams_store::{Keyring, Store};
use chrono::Utc;
use futures_util::StreamExt;

/// How long a claim keeps other replicas off a delivery: longer than an attempt can take.
const CLAIM: Duration = Duration::from_secs(60);
/// Longest wait for an endpoint's answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Longest sleep without looking for due deliveries.
const IDLE: Duration = Duration::from_secs(30);
/// Deliveries claimed at once, and at most this many of one tenant's.
const BATCH: i64 = 32;
const PER_TENANT: i64 = 8;

pub struct WebhookSender {
    store: Store,
    hosts: rules::AllowedHosts,
    concurrency: usize,
}

impl WebhookSender {
    pub fn new(store: Store, hosts: rules::AllowedHosts, concurrency: usize) -> Self {
        WebhookSender { store, hosts, concurrency: concurrency.max(1) }
    }
}

impl Actor for WebhookSender {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(keyring) = self.store.keyring().cloned() else {
            tracing::warn!("webhooks are not sent: the server has no AMS_HUB_SECRET_KEY to open their signing secrets");
            return;
        };
        ctx.spawn(run(self.store.clone(), keyring, self.hosts.clone(), self.concurrency).into_actor(self));
    }
}

async fn listen(store: &Store) -> sqlx::postgres::PgListener {
    loop {
        let listener = async {
            let mut l = sqlx::postgres::PgListener::connect_with(store.pool()).await?;
            l.listen(webhooks::CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        };
        match listener.await {
            Ok(l) => return l,
            Err(e) => {
                tracing::warn!(error = %e, "webhook sender cannot listen for new deliveries; retrying");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

async fn run(store: Store, keyring: Keyring, hosts: rules::AllowedHosts, concurrency: usize) {
    let mut listener = listen(&store).await;
    tracing::info!("webhook sender started");
    loop {
        match store.claim_due_deliveries(BATCH, PER_TENANT, CLAIM).await {
            Ok(due) if !due.is_empty() => {
                futures_util::stream::iter(due)
                    .for_each_concurrent(concurrency, |d| send(&store, &keyring, &hosts, d))
                    .await;
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "webhook deliveries not claimed; retrying"),
        }
        let wait = match store.next_delivery_due().await {
            Ok(Some(at)) => (at - Utc::now()).to_std().unwrap_or(Duration::ZERO).min(IDLE),
            Ok(None) => IDLE,
            Err(_) => Duration::from_secs(1),
        };
        if wait.is_zero() {
            // Due, but claimed by another replica until its claim ends.
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        tokio::select! {
            n = listener.recv() => if n.is_err() {
                // The listener reconnects on its next call; what was announced meanwhile is
                // found by the claim anyway.
                tokio::time::sleep(Duration::from_secs(1)).await;
            },
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Why an attempt failed: worth another try, or never going to work.
enum Failure {
    Retry { status: Option<u16>, error: String },
    Permanent(String),
}

async fn send(store: &Store, keyring: &Keyring, hosts: &rules::AllowedHosts, due: Due) {
    let started = Instant::now();
    let result = post(keyring, hosts, &due).await;
    let elapsed = started.elapsed();
    let host = url::Url::parse(&due.url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
    let (status, error, outcome) = match result {
        Ok(status) => {
            tracing::debug!(tenant = %due.tenant_id, webhook = %due.webhook_id, message = %due.message_id, status, "webhook delivered");
            (Some(status), None, Outcome::Succeeded)
        }
        Err(Failure::Retry { status, error }) => {
            let jitter = f64::from(uuid::Uuid::new_v4().as_u128() as u16) / f64::from(u16::MAX);
            let next = Utc::now() + rules::backoff(u32::try_from(due.attempts + 1).unwrap_or(u32::MAX), jitter);
            tracing::warn!(tenant = %due.tenant_id, webhook = %due.webhook_id, host, attempt = due.attempts + 1, error = %error,
                "webhook delivery failed; will retry");
            (status, Some(error), Outcome::RetryAt(next))
        }
        Err(Failure::Permanent(error)) => {
            tracing::warn!(tenant = %due.tenant_id, webhook = %due.webhook_id, host, error = %error, "webhook delivery failed for good");
            (None, Some(error), Outcome::Failed)
        }
    };
    if let Err(e) = store.record_attempt(&due, status, error.as_deref(), elapsed, outcome).await {
        // The claim expires and the delivery is sent again: at least once, never lost.
        tracing::warn!(webhook = %due.webhook_id, error = %e, "webhook attempt not recorded");
    }
}

/// The addresses `host` resolves to now, all of which the rule must allow.
async fn checked_addresses(host: &str, port: u16) -> Result<Vec<SocketAddr>, Failure> {
    let retry = |error: String| Failure::Retry { status: None, error };
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((literal, port)).await.map_err(|e| retry(format!("{host} does not resolve: {e}")))?.collect();
    if addrs.is_empty() {
        return Err(retry(format!("{host} resolves to no address")));
    }
    // One refused address refuses them all: a name that mixes public and private answers is
    // a rebinding attempt, not a choice.
    for a in &addrs {
        rules::address_allowed(a.ip()).map_err(retry)?;
    }
    Ok(addrs)
}

/// One attempt: the HTTP status of a 2xx answer, or why not.
async fn post(keyring: &Keyring, hosts: &rules::AllowedHosts, due: &Due) -> Result<u16, Failure> {
    let secret = webhooks::open_secret(keyring, due).map_err(|e| Failure::Permanent(format!("the signing secret does not open: {e}")))?;
    let url = rules::check_url(&due.url, hosts).map_err(|e| Failure::Permanent(format!("the URL is no longer allowed: {e}")))?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let mut client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().timeout(TIMEOUT).connect_timeout(TIMEOUT);
    if !hosts.allows(&host) {
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs = checked_addresses(&host, port).await?;
        client = client.resolve_to_addrs(&host, &addrs);
    }
    let client = client.build().map_err(|e| Failure::Permanent(format!("HTTP client: {e}")))?;
    let body = serde_json::to_vec(&due.payload).map_err(|e| Failure::Permanent(e.to_string()))?;
    // A fresh timestamp per attempt: receivers refuse old ones (replay protection).
    let timestamp = Utc::now().timestamp();
    let signature = rules::signature(&secret, &due.message_id, timestamp, &body).map_err(Failure::Permanent)?;
    let answer = client
        .post(url)
        .header("content-type", "application/json")
        .header("user-agent", concat!("ams-hub-webhooks/", env!("CARGO_PKG_VERSION")))
        .header("webhook-id", &due.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        // Without the URL: a tenant's URL may carry a token of theirs.
        .map_err(|e| Failure::Retry { status: None, error: causes(&e.without_url()) })?;
    let status = answer.status();
    if status.is_success() {
        Ok(status.as_u16())
    } else {
        Err(Failure::Retry { status: Some(status.as_u16()), error: format!("HTTP {status}") })
    }
}

/// An error and its causes, one after another ("error sending request: connection refused").
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}
