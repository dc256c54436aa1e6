//! Alert rules against real data in Postgres: a budget alerts once per crossing (again only
//! after it dropped below its line, or in a new budget day), however often and however
//! concurrently it is evaluated; a stream that went silent alerts once per silence; an hour's
//! spend far above its usual alerts; each alert becomes a webhook delivery; one tenant's rules
//! never see another's data.

use ams_store::alerts::{AlertKind, RuleSpec};
use ams_store::{Keyring, LedgerBatch, LedgerWriter, Provenance, Store, TenantSchema, TenantScope, TenantSlug};
use ams_tests::{tenant, TestDb};
use chrono::{DateTime, Duration, DurationRound, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

async fn scope(store: &Store, slug: &str) -> TenantScope {
    tenant(store, slug).await;
    store.tenant_scope(&TenantSlug::parse(slug).unwrap()).await.unwrap().unwrap()
}

fn rule(kind: AlertKind, threshold: Option<i64>, hours: Option<i32>, account: Option<Uuid>) -> RuleSpec {
    RuleSpec { name: format!("{kind} rule"), kind, threshold: threshold.map(Decimal::from), hours, account_id: account, campaign_id: None, enabled: true }
}

/// Writes records as the runtime does, from `account`'s queue.
async fn write(store: &Store, schema: &TenantSchema, account: Uuid, records: &[serde_json::Value]) {
    let mut batch = LedgerBatch::new();
    for r in records {
        match ams_store::decode(r.to_string(), "test:alerts".into(), None, Provenance::now(Some(account))) {
            ams_store::DecodedBody::Ledger(d) => d.push_into(&mut batch),
            ams_store::DecodedBody::Confirmation { .. } => panic!("a confirmation"),
        }
    }
    LedgerWriter::new(store).write(schema, &batch).await.expect("ledger write");
}

fn usage(campaign: &str, percent: f64, at: DateTime<Utc>) -> serde_json::Value {
    json!({
        "advertiser_id": "A3EXAMPLESELLER1", "marketplace_id": "ATVPDKIKX0DER", "dataset_id": "budget-usage",
        "budget_scope_id": campaign, "budget_scope_type": "CAMPAIGN", "advertising_product_type": "sp",
        "budget": 50.0, "budget_usage_percentage": percent, "usage_updated_timestamp": at.to_rfc3339(),
    })
}

async fn alerts_of(scope: &TenantScope, kind: &str) -> usize {
    scope.alerts(500).await.unwrap().iter().filter(|a| a.kind == kind).count()
}

#[tokio::test]
async fn a_budget_alerts_once_per_crossing_and_again_only_below_then_above_or_on_a_new_day() {
    let db = TestDb::new();
    let keyring = Keyring::new(ams_tests::serve::TEST_SECRET_KEY, None).unwrap();
    let store = db.store().await.with_keyring(Some(keyring));
    let (a, b) = (scope(&store, "alerts_a").await, scope(&store, "alerts_b").await);
    let schema = TenantSchema::of(a.slug());
    let account = store.create_account(a.tenant().id, "Brand", None, "ext-id-alerts-1").await.unwrap();
    let other = store.create_account(a.tenant().id, "Other brand", None, "ext-id-alerts-2").await.unwrap();
    let account_b = store.create_account(b.tenant().id, "B brand", None, "ext-id-alerts-3").await.unwrap();
    let hook = a.create_webhook("https://hooks.example.com/a", &["alert.budget_usage".into(), "alert.out_of_budget".into()], "").await.unwrap();
    a.create_alert_rule(&rule(AlertKind::BudgetUsage, Some(80), None, None)).await.unwrap();
    a.create_alert_rule(&rule(AlertKind::OutOfBudget, None, None, None)).await.unwrap();
    // Watching another account's budgets, and a disabled rule: neither ever alerts here.
    a.create_alert_rule(&rule(AlertKind::BudgetUsage, Some(10), None, Some(other.id))).await.unwrap();
    a.create_alert_rule(&RuleSpec { enabled: false, ..rule(AlertKind::BudgetUsage, Some(5), None, None) }).await.unwrap();
    // Another tenant's rule at a low line: tenant A's data never reaches it.
    b.create_alert_rule(&rule(AlertKind::BudgetUsage, Some(1), None, None)).await.unwrap();

    // Noon UTC on one day, then the next (a US marketplace: both inside one local day each).
    let day = Utc::now().duration_trunc(Duration::days(1)).unwrap() - Duration::days(3) + Duration::hours(18);
    let steps: [(f64, i64, usize, usize); 8] = [
        (50.0, 0, 0, 0),   // below the line
        (85.0, 1, 1, 0),   // crosses 80%: one alert
        (90.0, 2, 1, 0),   // still above: nothing
        (100.0, 3, 1, 1),  // used up: out_of_budget once
        (40.0, 4, 1, 1),   // drops below (a budget raised): nothing, but the line re-arms
        (95.0, 5, 2, 1),   // crosses again: a second alert
        (85.0, 24 * 60 + 5, 3, 1), // the next day, still above: a new budget day alerts
        (86.0, 24 * 60 + 6, 3, 1),
    ];
    for (i, (percent, minutes, want_usage, want_out)) in steps.into_iter().enumerate() {
        write(&store, &schema, account.id, &[usage("111", percent, day + Duration::minutes(minutes))]).await;
        // Evaluated again, and concurrently: nothing more is raised.
        let again = futures_util::future::join_all((0..3).map(|_| store.evaluate_alerts(&schema, AlertKind::ALL, Utc::now()))).await;
        assert!(again.iter().all(|r| r.as_ref().unwrap().raised == 0), "step {i}: raised again: {again:?}");
        assert_eq!((alerts_of(&a, "budget_usage").await, alerts_of(&a, "out_of_budget").await), (want_usage, want_out), "step {i} ({percent}%)");
    }
    // The alert says what crossed, and went to the webhook.
    let alerts = a.alerts(10).await.unwrap();
    let first = alerts.iter().rev().find(|x| x.kind == "budget_usage").unwrap();
    assert_eq!(first.data["budget_scope_id"], "111");
    assert_eq!(first.data["budget_usage_percentage"], "85.0");
    assert_eq!(first.data["account_id"], json!(account.id));
    assert_eq!(first.data["rule"]["threshold"], "80");
    assert_eq!(first.deliveries, 1);
    let sent = a.deliveries(hook.webhook.id, 50).await.unwrap();
    assert_eq!(sent.len(), 4, "one delivery per alert");
    assert_eq!(sent.iter().filter(|(d, _)| d.event_type == "alert.out_of_budget").count(), 1);
    assert_eq!(sent.last().unwrap().0.payload["data"]["budget_scope_id"], "111");
    // Tenant B saw none of it; its own data alerts its own rule.
    assert_eq!(alerts_of(&b, "budget_usage").await, 0);
    write(&store, &TenantSchema::of(b.slug()), account_b.id, &[usage("222", 2.0, day)]).await;
    assert_eq!(alerts_of(&b, "budget_usage").await, 1);
    assert_eq!(alerts_of(&a, "budget_usage").await, 3);

    // A rule whose line changes starts over: what is above the new line alerts once.
    let low = a.create_alert_rule(&rule(AlertKind::BudgetUsage, Some(99), None, None)).await.unwrap();
    assert_eq!(store.evaluate_alerts(&schema, AlertKind::ALL, Utc::now()).await.unwrap().raised, 0, "86% is below 99%");
    let changed = RuleSpec { threshold: Some(Decimal::from(50)), ..rule(AlertKind::BudgetUsage, None, None, None) };
    a.update_alert_rule(low.id, &changed).await.unwrap().unwrap();
    assert_eq!(store.evaluate_alerts(&schema, AlertKind::ALL, Utc::now()).await.unwrap().raised, 1);
    assert_eq!(store.evaluate_alerts(&schema, AlertKind::ALL, Utc::now()).await.unwrap().raised, 0);
    // Another tenant's account is refused as a rule's scope.
    assert!(a.create_alert_rule(&rule(AlertKind::BudgetUsage, Some(50), None, Some(account_b.id))).await.is_err());
}

#[tokio::test]
async fn a_silent_stream_alerts_once_per_silence_and_an_hours_spend_spike_alerts() {
    let db = TestDb::new();
    let store = db.store().await;
    let a = scope(&store, "quiet").await;
    let schema = TenantSchema::of(a.slug());
    let account = store.create_account(a.tenant().id, "Brand", None, "ext-id-quiet-1").await.unwrap();
    let paused = store.create_account(a.tenant().id, "Paused", None, "ext-id-quiet-2").await.unwrap();
    sqlx::query("UPDATE accounts SET status = 'paused' WHERE id = $1").bind(paused.id).execute(store.pool()).await.unwrap();
    a.create_alert_rule(&rule(AlertKind::StreamSilent, None, Some(3), None)).await.unwrap();
    let set_last = |account: Uuid, dataset: &'static str, ago: Duration| {
        let store = store.clone();
        let sql = format!(
            "INSERT INTO {schema}.account_activity VALUES ($1, $2, now() - interval '30 days', $3)
             ON CONFLICT (hub_account_id, dataset) DO UPDATE SET last_received_at = excluded.last_received_at"
        );
        async move { sqlx::query(&sql).bind(account).bind(dataset).bind(Utc::now() - ago).execute(store.pool()).await.unwrap() }
    };
    set_last(account.id, "sp-traffic", Duration::hours(5)).await;
    set_last(account.id, "budget-usage", Duration::minutes(20)).await;
    set_last(paused.id, "sp-traffic", Duration::hours(50)).await;
    let eval = || store.evaluate_alerts(&schema, AlertKind::ALL, Utc::now());
    assert_eq!(eval().await.unwrap().raised, 1, "sp-traffic silent for 5 h; the paused account is not watched");
    assert_eq!(eval().await.unwrap().raised, 0, "the same silence alerts once");
    let silent = &a.alerts(10).await.unwrap()[0];
    assert_eq!((silent.data["dataset"].as_str(), silent.data["account_id"].as_str()), (Some("sp-traffic"), Some(account.id.to_string().as_str())));
    // Records arrive again, then stop: a new silence alerts again.
    set_last(account.id, "sp-traffic", Duration::minutes(1)).await;
    assert_eq!(eval().await.unwrap().raised, 0);
    set_last(account.id, "sp-traffic", Duration::hours(4)).await;
    assert_eq!(eval().await.unwrap().raised, 1);

    // Spend: the same hour each of the 7 days before at 10.00, this hour at 45.00 (4.5 ×).
    a.create_alert_rule(&rule(AlertKind::SpendSpike, Some(3), None, None)).await.unwrap();
    let hour = Utc::now().duration_trunc(Duration::hours(1)).unwrap() - Duration::hours(2);
    let traffic = |n: usize, at: DateTime<Utc>, cost: f64, advertiser: &str| {
        json!({
            "idempotency_id": format!("spike-{advertiser}-{n}"), "dataset_id": "sp-traffic", "marketplace_id": "ATVPDKIKX0DER",
            "currency": "USD", "advertiser_id": advertiser, "campaign_id": "283947561029384", "ad_group_id": "1", "ad_id": "2",
            "keyword_id": "3", "keyword_text": "earbuds", "match_type": "EXACT", "placement": "Top of Search on-Amazon",
            "time_window_start": at.to_rfc3339(), "clicks": 3, "impressions": 412, "cost": cost,
        })
    };
    let mut records: Vec<_> = (1..=7).map(|d| traffic(d, hour - Duration::days(d as i64), 10.0, "ADV1")).collect();
    records.push(traffic(8, hour, 25.0, "ADV1"));
    // An advertiser with no week before has no usual to be above.
    records.push(traffic(9, hour, 500.0, "ADV2"));
    write(&store, &schema, account.id, &records).await;
    assert_eq!(eval().await.unwrap().raised, 0, "25.00 is 2.5 × the usual 10.00");
    // A later delta of the same hour takes it to 45.00: over 3 ×, once.
    write(&store, &schema, account.id, &[traffic(10, hour, 20.0, "ADV1")]).await;
    assert_eq!(eval().await.unwrap().raised, 1);
    assert_eq!(eval().await.unwrap().raised, 0);
    let spike = a.alerts(10).await.unwrap().into_iter().find(|x| x.kind == "spend_spike").unwrap();
    assert_eq!((spike.data["spend"].as_str(), spike.data["usual_spend"].as_str(), spike.data["multiple"].as_str()), (Some("45.0"), Some("10.00"), Some("4.5")));
}
