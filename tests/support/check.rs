//! Shared checks of the end-to-end tests: waiting with the serve log on timeout, the bodies
//! sent for generated records, and exactness of the ledger against the generated truth.

use std::future::Future;

use ams_model::DELTA_SPECS;
use ams_store::{Store, TenantSchema};
use rust_decimal::Decimal;

use crate::gen::{self, GenDelta};
use crate::serve::Serve;

pub async fn wait_until<F, Fut>(what: &str, secs: u64, serve: &Serve, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    crate::wait::until(what, secs, || { let done = cond(); async move { done.await.then_some(()) } }, || format!("serve log:\n{}", serve.log_text())).await
}

/// Every record once as an SNS envelope, a third of them twice (redeliveries).
pub fn bodies(records: &[GenDelta]) -> Vec<String> {
    let mut out: Vec<String> = records.iter().map(|r| gen::envelope(&r.json)).collect();
    out.extend(records.iter().step_by(3).map(|r| r.json.clone()));
    out
}

pub async fn delta_count(store: &Store, schema: &TenantSchema) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {schema}.{}", DELTA_SPECS[0].dataset.table()))
        .fetch_one(store.pool())
        .await
        .unwrap_or(0)
}

/// Rollup sums equal the truth computed from the generated records.
pub async fn assert_exact(store: &Store, schema: &TenantSchema, records: &[GenDelta]) {
    assert_exact_for(store, schema, records, DELTA_SPECS[0]).await
}

/// [`assert_exact`] for the records of any delta dataset.
pub async fn assert_exact_for(store: &Store, schema: &TenantSchema, records: &[GenDelta], spec: &ams_model::DeltaSpec) {
    let expected = gen::expected_sums(records.iter());
    let metrics: Vec<String> = spec.metrics.iter().map(|m| format!("{m}::text")).collect();
    let rows: Vec<sqlx::postgres::PgRow> = sqlx::query(&format!(
        "SELECT {}, delta_count, {} FROM {schema}.{}_hourly",
        gen::key_sql(spec),
        metrics.join(", "),
        spec.dataset.table()
    ))
    .fetch_all(store.pool())
    .await
    .unwrap();
    use sqlx::Row;
    let got: std::collections::BTreeMap<String, (Vec<Decimal>, i64)> = rows
        .iter()
        .map(|r| {
            let vals = (0..spec.metrics.len()).map(|i| r.get::<String, _>(i + 2).parse().unwrap()).collect();
            (r.get::<String, _>(0), (vals, r.get::<i64, _>(1)))
        })
        .collect();
    assert_eq!(got, expected, "{schema}: {} rollup differs from the truth", spec.dataset);
    let deltas: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {schema}.{}", spec.dataset.table()))
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(deltas, records.len() as i64);
}

/// A counter of the consumer of `queue_url` as the runtime last saved it
/// (`control.consumer_states`), e.g. `messages_quarantined` or `restarts`.
pub async fn consumer_count(store: &Store, queue_url: &str, column: &str) -> Option<i64> {
    sqlx::query_scalar(&format!(
        "SELECT s.{column} FROM control.consumer_states s JOIN control.queues q ON q.id = s.queue_id WHERE q.queue_url = $1"
    ))
    .bind(queue_url)
    .fetch_optional(store.pool())
    .await
    .unwrap()
}
