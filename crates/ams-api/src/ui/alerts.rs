//! The dashboard's Alerts page: the tenant's rules, the alerts they raised, and each webhook's
//! recent deliveries with their attempts; a delivery can be sent again (same message id).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use minijinja::context;
use serde_json::{json, Value};
use uuid::Uuid;

use super::page;
use super::pages::{changing, error_page, see_other, tenant, viewer, when, CsrfForm};
use super::session::UiUser;
use crate::error::ApiError;
use crate::ApiState;

/// Deliveries shown per webhook.
const DELIVERIES: i64 = 20;

fn at(t: chrono::DateTime<chrono::Utc>) -> String {
    when(Some(t))
}

/// A rule's line in words.
fn line(r: &crate::alerts::AlertRule) -> String {
    match (r.kind.as_str(), r.threshold, r.hours) {
        ("budget_usage", Some(t), _) => format!("budget {t}% used"),
        ("out_of_budget", _, _) => "budget used up".into(),
        ("stream_silent", _, Some(h)) => format!("no record for {h} h"),
        ("spend_spike", Some(t), _) => format!("hour's spend over {t}× its usual"),
        (k, _, _) => k.to_owned(),
    }
}

#[derive(serde::Deserialize)]
pub struct Msg {
    #[serde(default)]
    msg: String,
}

pub async fn alerts(user: UiUser, state: web::Data<ApiState>, q: web::Query<Msg>) -> HttpResponse {
    let result = async {
        let scope = tenant(&state, &user).await?;
        let rules: Vec<Value> = scope
            .alert_rules()
            .await?
            .into_iter()
            .map(|r| {
                let r = crate::alerts::AlertRule::from(r);
                json!({
                    "id": r.id, "name": r.name, "kind": r.kind.as_str(), "line": line(&r), "enabled": r.enabled,
                    "account": r.account.map(|a| a.to_string()).unwrap_or_else(|| "all".into()),
                    "campaign": r.campaign.clone().unwrap_or_else(|| "all".into()),
                })
            })
            .collect();
        let alerts: Vec<Value> = scope
            .alerts(50)
            .await?
            .into_iter()
            .map(|a| json!({"kind": a.kind, "rule": a.rule_name, "scope": a.scope, "raised_at": at(a.raised_at),
                            "deliveries": a.deliveries, "data": serde_json::to_string(&a.data).unwrap_or_default()}))
            .collect();
        let mut hooks = Vec::new();
        for w in scope.webhooks().await? {
            let deliveries: Vec<Value> = scope
                .deliveries(w.id, DELIVERIES)
                .await?
                .into_iter()
                .map(|(d, attempts)| {
                    let last = attempts.last();
                    json!({
                        "id": d.id, "event_type": d.event_type, "status": d.status, "attempts": d.attempts,
                        "created_at": at(d.created_at), "message_id": d.message_id,
                        "last": last.map(|a| match (a.response_status, &a.error) {
                            (Some(s), _) => format!("HTTP {s} in {} ms", a.duration_ms),
                            (None, Some(e)) => e.clone(),
                            (None, None) => String::new(),
                        }).unwrap_or_else(|| "not sent yet".into()),
                        "next": if d.status == "pending" { at(d.next_attempt_at) } else { String::new() },
                    })
                })
                .collect();
            hooks.push(json!({"id": w.id, "url": w.url, "description": w.description, "events": w.events.join(", "), "deliveries": deliveries}));
        }
        Ok::<_, ApiError>((rules, alerts, hooks))
    }
    .await;
    match result {
        Ok((rules, alerts, hooks)) => page(
            StatusCode::OK,
            "alerts.html",
            context! {
                user => viewer(&user), page => "alerts", rules, alerts, hooks, may_write => user.may_write(),
                message => Some(q.msg.clone()).filter(|m| !m.is_empty()),
            },
        ),
        Err(e) => error_page(Some(&user), e),
    }
}

pub async fn replay(
    user: UiUser,
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let (hook, id) = path.into_inner();
    let result = async {
        changing(&user, &req, &form)?;
        let scope = tenant(&state, &user).await?;
        scope.replay_delivery(hook, id).await?.ok_or_else(|| ApiError::not_found("delivery"))
    }
    .await;
    match result {
        Ok(d) => see_other(&format!(
            "/ui/alerts?{}",
            serde_urlencoded::to_string([("msg", format!("{} queued to be sent again ({})", d.event_type, d.message_id))]).unwrap_or_default()
        )),
        Err(e) => error_page(Some(&user), e),
    }
}
