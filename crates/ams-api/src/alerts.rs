//! Alert rules (`/v1/tenants/{tenant}/alert-rules`) and the alerts they raised
//! (`/v1/tenants/{tenant}/alerts`). A rule is evaluated as the data commits (budget usage) and
//! on the runtime's timer (everything); each alert goes to the tenant's webhooks.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use ams_store::alerts::{Alert as StoredAlert, AlertKind, AlertRule as StoredRule, RuleSpec};
use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::scope::TenantPath;
use crate::validate;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAlertRule {
    pub name: String,
    /// `budget_usage`, `out_of_budget`, `stream_silent` or `spend_spike`.
    #[schema(value_type = String, example = "budget_usage")]
    pub kind: AlertKind,
    /// `budget_usage`: percent of the budget (90); `spend_spike`: times the same hour's
    /// trailing 7-day average (3). Not for the other kinds.
    #[schema(value_type = Option<f64>)]
    pub threshold: Option<Decimal>,
    /// `stream_silent`: hours without a record.
    pub hours: Option<i32>,
    /// Only this account's data; absent: every account of the tenant.
    pub account: Option<Uuid>,
    /// Only this campaign (budget and spend kinds).
    pub campaign: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// A partial update: fields left out keep their value; `account`, `campaign` and `threshold`
/// may be set to null. The kind does not change (make a new rule).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRulePatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub threshold: Option<Option<Decimal>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>)]
    pub hours: Option<Option<i32>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    pub account: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub campaign: Option<Option<String>>,
    pub enabled: Option<bool>,
    /// Must be the rule's own kind if given.
    #[schema(value_type = Option<String>)]
    pub kind: Option<AlertKind>,
}

/// A field that is present (possibly null) is `Some`; absent is `None` (`#[serde(default)]`).
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertRule {
    pub id: Uuid,
    pub name: String,
    #[schema(value_type = String)]
    pub kind: AlertKind,
    /// The line: percent (`budget_usage`; 100 for `out_of_budget`) or times (`spend_spike`).
    pub threshold: Option<f64>,
    pub hours: Option<i32>,
    pub account: Option<Uuid>,
    pub campaign: Option<String>,
    pub enabled: bool,
    /// The webhook event its alerts are sent as.
    pub event: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<StoredRule> for AlertRule {
    fn from(r: StoredRule) -> Self {
        let threshold = match r.kind {
            AlertKind::OutOfBudget => Some(100.0),
            _ => r.threshold.and_then(|t| t.to_f64()),
        };
        AlertRule {
            id: r.id,
            name: r.name,
            kind: r.kind,
            threshold,
            hours: r.hours,
            account: r.account_id,
            campaign: r.campaign_id,
            enabled: r.enabled,
            event: r.kind.event_type().to_owned(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// An alert a rule raised.
#[derive(Debug, Serialize, ToSchema)]
pub struct Alert {
    pub id: Uuid,
    /// Null once the rule is deleted.
    pub rule: Option<Uuid>,
    pub rule_name: String,
    pub kind: String,
    /// What crossed: a budget, an account's dataset, an advertiser's hour.
    pub scope: String,
    /// The webhook event's `data`, as sent.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// Webhook deliveries made for it.
    pub deliveries: i32,
    pub raised_at: DateTime<Utc>,
}

impl From<StoredAlert> for Alert {
    fn from(a: StoredAlert) -> Self {
        Alert { id: a.id, rule: a.rule_id, rule_name: a.rule_name, kind: a.kind, scope: a.scope, data: a.data, deliveries: a.deliveries, raised_at: a.raised_at }
    }
}

fn checked(spec: RuleSpec) -> Result<RuleSpec, ApiError> {
    validate::name("name", &spec.name, 100).map_err(ApiError::invalid)?;
    if let Some(c) = &spec.campaign_id {
        if c.is_empty() || c.len() > 40 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(ApiError::invalid("campaign must be an Amazon campaign id (1 to 40 letters, digits, - or _)"));
        }
    }
    spec.check().map_err(ApiError::invalid)?;
    Ok(RuleSpec { name: spec.name.trim().to_owned(), ..spec })
}

/// Creates an alert rule.
#[utoipa::path(
    tag = "alerts",
    params(("tenant" = String, Path, description = "tenant slug")),
    request_body = NewAlertRule,
    responses(
        (status = 201, description = "created", body = AlertRule),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 403, description = "a read-only key, or a disabled tenant", body = ErrorBody),
        (status = 404, description = "no such tenant (or not yours)", body = ErrorBody),
        (status = 409, description = "the tenant has as many rules as it may", body = ErrorBody),
        (status = 422, description = "a field the kind needs is missing or out of range; an account not the tenant's", body = ErrorBody),
    ),
)]
#[post("/v1/tenants/{tenant}/alert-rules")]
pub async fn create_alert_rule(at: TenantPath, body: web::Json<NewAlertRule>) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let spec = checked(RuleSpec {
        name: b.name,
        kind: b.kind,
        threshold: b.threshold,
        hours: b.hours,
        account_id: b.account,
        campaign_id: b.campaign,
        enabled: b.enabled.unwrap_or(true),
    })?;
    let rule = at.scope.create_alert_rule(&spec).await?;
    tracing::info!(tenant = %at.scope.slug(), rule = %rule.id, kind = %rule.kind, "alert rule created");
    Ok(HttpResponse::Created().json(AlertRule::from(rule)))
}

/// The tenant's alert rules, oldest first.
#[utoipa::path(
    tag = "alerts",
    params(("tenant" = String, Path, description = "tenant slug")),
    responses((status = 200, description = "rules", body = Vec<AlertRule>), (status = 404, description = "no such tenant (or not yours)", body = ErrorBody)),
)]
#[get("/v1/tenants/{tenant}/alert-rules")]
pub async fn list_alert_rules(at: TenantPath) -> Result<web::Json<Vec<AlertRule>>, ApiError> {
    Ok(web::Json(at.scope.alert_rules().await?.into_iter().map(AlertRule::from).collect()))
}

/// One alert rule.
#[utoipa::path(
    tag = "alerts",
    params(("tenant" = String, Path, description = "tenant slug"), ("rule" = Uuid, Path, description = "rule id")),
    responses((status = 200, description = "the rule", body = AlertRule), (status = 404, description = "no such tenant or rule", body = ErrorBody)),
)]
#[get("/v1/tenants/{tenant}/alert-rules/{rule}")]
pub async fn get_alert_rule(at: TenantPath, path: web::Path<(String, Uuid)>) -> Result<web::Json<AlertRule>, ApiError> {
    let rule = at.scope.alert_rule(path.1).await?.ok_or_else(|| ApiError::not_found("alert rule"))?;
    Ok(web::Json(rule.into()))
}

/// Changes a rule. A rule whose line or scope changed starts over: what is past the new line
/// alerts once.
#[utoipa::path(
    tag = "alerts",
    params(("tenant" = String, Path, description = "tenant slug"), ("rule" = Uuid, Path, description = "rule id")),
    request_body = AlertRulePatch,
    responses(
        (status = 200, description = "changed", body = AlertRule),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 403, description = "a read-only key, or a disabled tenant", body = ErrorBody),
        (status = 404, description = "no such tenant or rule", body = ErrorBody),
        (status = 422, description = "the result is not a valid rule; a different kind", body = ErrorBody),
    ),
)]
#[patch("/v1/tenants/{tenant}/alert-rules/{rule}")]
pub async fn patch_alert_rule(at: TenantPath, path: web::Path<(String, Uuid)>, body: web::Json<AlertRulePatch>) -> Result<web::Json<AlertRule>, ApiError> {
    let id = path.1;
    let rule = at.scope.alert_rule(id).await?.ok_or_else(|| ApiError::not_found("alert rule"))?;
    let p = body.into_inner();
    if p.kind.is_some_and(|k| k != rule.kind) {
        return Err(ApiError::invalid("kind does not change: make a new rule of the other kind"));
    }
    let spec = checked(RuleSpec {
        name: p.name.unwrap_or(rule.name),
        kind: rule.kind,
        threshold: p.threshold.unwrap_or(rule.threshold),
        hours: p.hours.unwrap_or(rule.hours),
        account_id: p.account.unwrap_or(rule.account_id),
        campaign_id: p.campaign.unwrap_or(rule.campaign_id),
        enabled: p.enabled.unwrap_or(rule.enabled),
    })?;
    let rule = at.scope.update_alert_rule(id, &spec).await?.ok_or_else(|| ApiError::not_found("alert rule"))?;
    Ok(web::Json(rule.into()))
}

/// Deletes a rule (its alerts stay, without it).
#[utoipa::path(
    tag = "alerts",
    params(("tenant" = String, Path, description = "tenant slug"), ("rule" = Uuid, Path, description = "rule id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "a read-only key, or a disabled tenant", body = ErrorBody),
        (status = 404, description = "no such tenant or rule", body = ErrorBody),
    ),
)]
#[delete("/v1/tenants/{tenant}/alert-rules/{rule}")]
pub async fn delete_alert_rule(at: TenantPath, path: web::Path<(String, Uuid)>) -> Result<HttpResponse, ApiError> {
    if !at.scope.delete_alert_rule(path.1).await? {
        return Err(ApiError::not_found("alert rule"));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RecentQuery {
    /// How many, newest first (1 to 500, default 50).
    pub limit: Option<i64>,
}

/// The alerts raised, newest first.
#[utoipa::path(
    tag = "alerts",
    params(("tenant" = String, Path, description = "tenant slug"), RecentQuery),
    responses(
        (status = 200, description = "alerts", body = Vec<Alert>),
        (status = 400, description = "limit out of range", body = ErrorBody),
        (status = 404, description = "no such tenant (or not yours)", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}/alerts")]
pub async fn list_alerts(at: TenantPath, query: web::Query<RecentQuery>) -> Result<web::Json<Vec<Alert>>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::new(ErrorCode::InvalidQuery, "limit must be 1 to 500"));
    }
    Ok(web::Json(at.scope.alerts(limit).await?.into_iter().map(Alert::from).collect()))
}
