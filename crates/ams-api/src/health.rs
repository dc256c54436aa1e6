//! Probes and metrics: `/healthz` (the process answers), `/readyz` (the database answers and
//! the runtime is up), `/metrics` (Prometheus text, per consumer of this process; served on
//! its own listener, not the API's).

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};
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
    let db = tokio::time::timeout(Duration::from_secs(2), sqlx::query("SELECT 1").execute(state.ingest_store().pool())).await;
    let db_ok = matches!(db, Ok(Ok(_)));
    checks.insert("database".into(), if db_ok { "ok".into() } else { "unreachable".into() });
    let runtime_ok = state.runtime.as_ref().is_some_and(|r| r.is_running());
    checks.insert("runtime".into(), if runtime_ok { "ok".into() } else { "not running".into() });
    let ready = db_ok && runtime_ok;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    HttpResponse::build(status)
        .json(Health { status: if ready { "ok" } else { "unavailable" }.into(), checks })
}

/// Prometheus metrics (OpenMetrics text) of this process and its consumers, on the metrics
/// listener only.
#[get("/metrics")]
pub async fn metrics(state: web::Data<ApiState>) -> HttpResponse {
    let out = match &state.runtime {
        Some(r) => r.metrics().await,
        None => "# EOF\n".to_owned(),
    };
    HttpResponse::Ok().content_type("application/openmetrics-text; version=1.0.0; charset=utf-8").body(out)
}
