//! Webhook deliveries in Postgres (the store's side; the sender and the API build on it): an
//! event makes one delivery per webhook that takes its type, in the caller's transaction; a
//! claimed delivery is not claimed twice; attempts are recorded and retried until they succeed
//! or their 24 hours are up; claims are shared fairly between tenants; a replay keeps the
//! message id; one tenant never sees another's. Signatures verify with Standard Webhooks' own
//! Python library.

use std::time::Duration;

use ams_store::webhooks::{self, rules, Outcome};
use ams_store::{Keyring, TenantScope, TenantSlug};
use ams_tests::{tenant, TestDb};
use chrono::Utc;
use serde_json::json;

async fn scope(store: &ams_store::Store, slug: &str) -> TenantScope {
    tenant(store, slug).await;
    store.tenant_scope(&TenantSlug::parse(slug).unwrap()).await.unwrap().unwrap()
}

async fn event(store: &ams_store::Store, scope: &TenantScope, kind: &str, n: i32) -> usize {
    let mut tx = store.pool().begin().await.unwrap();
    let made = webhooks::enqueue_event(&mut tx, scope.tenant().id, kind, json!({"n": n})).await.unwrap();
    tx.commit().await.unwrap();
    made
}

#[tokio::test]
async fn deliveries_are_claimed_once_retried_until_done_and_kept_per_tenant() {
    let db = TestDb::new();
    let keyring = Keyring::new(ams_tests::serve::TEST_SECRET_KEY, None).unwrap();
    let store = db.store().await.with_keyring(Some(keyring.clone()));
    let (a, b) = (scope(&store, "hooks_a").await, scope(&store, "hooks_b").await);
    let budget = vec!["alert.budget_usage".to_owned()];
    let hook = a.create_webhook("https://hooks.example.com/a", &budget, "ops").await.unwrap();
    let silent = a.create_webhook("https://hooks.example.com/silent", &["alert.stream_silent".to_owned()], "").await.unwrap();
    let hook_b = b.create_webhook("https://hooks.example.com/b", &budget, "").await.unwrap();
    assert!(hook.secret.starts_with("whsec_") && hook.secret != hook_b.secret);

    // An event reaches the webhooks that take its type, of its tenant only.
    assert_eq!(event(&store, &a, "alert.budget_usage", 1).await, 1);
    assert_eq!(event(&store, &a, "alert.spend_spike", 2).await, 0);
    // A transaction that rolls back sends nothing.
    let mut tx = store.pool().begin().await.unwrap();
    webhooks::enqueue_event(&mut tx, a.tenant().id, "alert.budget_usage", json!({"n": "rolled back"})).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(a.deliveries(hook.webhook.id, 10).await.unwrap().len(), 1);
    assert!(a.deliveries(silent.webhook.id, 10).await.unwrap().is_empty());
    assert!(b.deliveries(hook.webhook.id, 10).await.unwrap().is_empty(), "another tenant's deliveries");
    assert!(!b.delete_webhook(hook.webhook.id).await.unwrap(), "another tenant's webhook");

    // Claimed once; a second sender finds nothing while the claim holds.
    let claim = Duration::from_secs(60);
    let due = store.claim_due_deliveries(10, 10, claim).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].url.as_str(), due[0].payload["type"].as_str(), due[0].payload["data"]["n"].as_i64()), ("https://hooks.example.com/a", Some("alert.budget_usage"), Some(1)));
    assert!(store.claim_due_deliveries(10, 10, claim).await.unwrap().is_empty());
    assert_eq!(webhooks::open_secret(&keyring, &due[0]).unwrap(), hook.secret);

    // A failed attempt is recorded and retried when due; a success ends it.
    store.record_attempt(&due[0], Some(503), None, Duration::from_millis(12), Outcome::RetryAt(Utc::now() - chrono::Duration::seconds(1))).await.unwrap();
    let again = store.claim_due_deliveries(10, 10, claim).await.unwrap();
    assert_eq!((again.len(), again[0].attempts, again[0].message_id.as_str()), (1, 1, due[0].message_id.as_str()));
    store.record_attempt(&again[0], Some(204), None, Duration::from_millis(9), Outcome::Succeeded).await.unwrap();
    let listed = a.deliveries(hook.webhook.id, 10).await.unwrap();
    let (d, attempts) = &listed[0];
    assert_eq!((d.status.as_str(), d.attempts), ("succeeded", 2));
    assert_eq!(attempts.iter().map(|a| a.response_status).collect::<Vec<_>>(), [Some(503), Some(204)]);
    assert!(store.claim_due_deliveries(10, 10, claim).await.unwrap().is_empty());

    // A retry past the delivery's 24 hours fails it instead.
    event(&store, &a, "alert.budget_usage", 3).await;
    let due = store.claim_due_deliveries(10, 10, claim).await.unwrap();
    store.record_attempt(&due[0], None, Some("connection refused"), Duration::from_millis(3), Outcome::RetryAt(Utc::now() + chrono::Duration::hours(25))).await.unwrap();
    let failed = a.deliveries(hook.webhook.id, 10).await.unwrap().into_iter().find(|(d, _)| d.id == due[0].id).unwrap().0;
    assert_eq!(failed.status, "failed");
    // Replayed: pending again, now, with the same message id.
    let replayed = a.replay_delivery(hook.webhook.id, failed.id).await.unwrap().unwrap();
    assert_eq!((replayed.status.as_str(), replayed.message_id.as_str()), ("pending", failed.message_id.as_str()));
    assert!(b.replay_delivery(hook.webhook.id, failed.id).await.unwrap().is_none(), "another tenant replays");
    assert_eq!(store.claim_due_deliveries(10, 10, claim).await.unwrap().len(), 1);

    // Fair shares: a tenant with a flood of deliveries does not take every claim.
    for n in 0..6 {
        event(&store, &a, "alert.budget_usage", 10 + n).await;
    }
    event(&store, &b, "alert.budget_usage", 99).await;
    let due = store.claim_due_deliveries(3, 2, claim).await.unwrap();
    let tenants: Vec<_> = due.iter().map(|d| d.tenant_id).collect();
    assert_eq!(due.len(), 3);
    assert!(tenants.contains(&b.tenant().id) && tenants.iter().filter(|t| **t == a.tenant().id).count() == 2, "{tenants:?}");

    // A deleted webhook takes its deliveries with it.
    assert!(a.delete_webhook(hook.webhook.id).await.unwrap());
    assert!(a.webhook(hook.webhook.id).await.unwrap().is_none());
}

/// The signature checked by Standard Webhooks' own library (Python `standardwebhooks`), with
/// the secret as ams-hub hands it out; and a changed body or another secret fails it.
#[test]
fn standard_webhooks_verifies_the_signature() {
    let secret = rules::new_secret();
    let body = webhooks::payload("alert.budget_usage", Utc::now(), json!({"budget_usage_percentage": "91.5"})).to_string();
    let (id, ts) = ("msg_2b4f", Utc::now().timestamp());
    let signature = rules::signature(&secret, id, ts, body.as_bytes()).unwrap();
    assert!(signature.starts_with("v1,"));
    let ts = ts.to_string();
    let verify = |secret: &str, body: &str| ams_tests::receiver::standard_webhooks_verdict(secret, body, id, &ts, &signature);
    assert_eq!(verify(&secret, &body), "verified");
    assert!(verify(&secret, &body.replace("91.5", "19.5")).starts_with("refused"));
    assert!(verify(&rules::new_secret(), &body).starts_with("refused"));
}
