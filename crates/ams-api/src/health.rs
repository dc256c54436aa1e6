//! Probes and metrics: `/healthz` (the process answers), `/readyz` (the database answers and
//! the runtime is up), `/metrics` (Prometheus text, per consumer of this process; served on
//! its own listener, not the API's).

use std::fmt::Write;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};
use ams_ingest::GetStatus;
use serde::Serialize;
use utoipa::ToSchema;

use crate::ApiState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// Per check (`database`, `runtime`): `ok` or what is wrong.
    #[schema(value_type = Object)]
    pub checks: serde_json::Map<String, serde_json::Value>,
}

/// Liveness: the process answers.
#[utoipa::path(tag = "operations", responses((status = 200, description = "alive", body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok".into(), checks: Default::default() })
}

/// Readiness: the database answers within 2 s and the runtime is up.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "ready", body = Health),
        (status = 503, description = "not ready; `checks` says why", body = Health),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<ApiState>) -> HttpResponse {
    let mut checks = serde_json::Map::new();
    let db = tokio::time::timeout(Duration::from_secs(2), sqlx::query("SELECT 1").execute(state.store.pool())).await;
    let db_ok = matches!(db, Ok(Ok(_)));
    checks.insert("database".into(), if db_ok { "ok".into() } else { "unreachable".into() });
    let runtime_ok = state.runtime.as_ref().is_some_and(|r| r.status.connected());
    checks.insert("runtime".into(), if runtime_ok { "ok".into() } else { "not running".into() });
    let ready = db_ok && runtime_ok;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    HttpResponse::build(status)
        .json(Health { status: if ready { "ok" } else { "unavailable" }.into(), checks })
}

use ams_ingest::metrics::label;

/// Prometheus metrics of this process's consumers, on the metrics listener only.
#[get("/metrics")]
pub async fn metrics(state: web::Data<ApiState>) -> HttpResponse {
    let reports = match &state.runtime {
        Some(r) => r.status.send(GetStatus).await.unwrap_or_default(),
        None => Vec::new(),
    };
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, rows: &mut dyn Iterator<Item = (String, i64)>| {
        ams_ingest::metrics::header(&mut out, name, kind, help);
        for (labels, v) in rows {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    };
    let base = |r: &ams_ingest::ConsumerReport| {
        format!("tenant=\"{}\",account=\"{}\",queue=\"{}\"", label(&r.tenant), r.account_id, label(&r.queue_url))
    };
    family("ams_hub_up", "gauge", "1 while the process serves", &mut std::iter::once((String::new(), 1)));
    let counters: [(&str, &str, fn(&ams_ingest::ConsumerReport) -> i64); 4] = [
        ("ams_hub_messages_received_total", "SQS messages received", |r| r.row.messages_received),
        ("ams_hub_messages_committed_total", "messages committed to the ledger and deleted", |r| r.row.messages_committed),
        ("ams_hub_messages_quarantined_total", "messages quarantined", |r| r.row.messages_quarantined),
        ("ams_hub_consumer_restarts_total", "consumer restarts after a failure", |r| r.row.restarts),
    ];
    for (name, help, f) in counters {
        family(name, "counter", help, &mut reports.iter().map(|r| (base(r), f(r))));
    }
    family(
        "ams_hub_records_committed_total",
        "counter",
        "records committed, per dataset",
        &mut reports.iter().flat_map(|r| {
            let b = base(r);
            r.row.records_committed.as_object().into_iter().flatten().map(move |(d, n)| {
                (format!("{b},dataset=\"{}\"", label(d)), n.as_i64().unwrap_or(0))
            })
        }),
    );
    family(
        "ams_hub_consumer_state",
        "gauge",
        "1 for the consumer's current state",
        &mut reports.iter().map(|r| (format!("{},state=\"{}\"", base(r), r.row.state), 1)),
    );
    family(
        "ams_hub_queue_approximate_messages",
        "gauge",
        "SQS ApproximateNumberOfMessages, polled",
        &mut reports.iter().filter_map(|r| Some((base(r), r.row.approximate_visible?))),
    );
    family(
        "ams_hub_queue_approximate_messages_not_visible",
        "gauge",
        "SQS ApproximateNumberOfMessagesNotVisible, polled",
        &mut reports.iter().filter_map(|r| Some((base(r), r.row.approximate_in_flight?))),
    );
    family(
        "ams_hub_queue_oldest_received_age_seconds",
        "gauge",
        "how long the oldest message of the last receive waited in the queue (from SentTimestamp)",
        &mut reports.iter().map(|r| (base(r), r.oldest_received_age_secs.round() as i64)),
    );
    ams_ingest::metrics::metrics().render(&mut out);
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(out)
}
