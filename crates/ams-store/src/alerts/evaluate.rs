//! Rules against the data: each enabled rule's scopes (a budget, an account's dataset, an
//! advertiser's hour) are read as *levels* (past the line or not, in which period), compared
//! with the state kept for them, and a scope that went past its line, or is past it in a new
//! period, raises one alert. Level-triggered: evaluating twice, or late after a crash, raises
//! nothing twice and misses nothing. One evaluation per tenant at a time (an advisory lock),
//! whichever replica runs it; the alert, its webhook deliveries and the new states commit
//! together.

use std::collections::HashMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{AlertKind, AlertRule};
use crate::{webhooks, Store, StoreError, TenantSchema};

/// How far back `spend_spike` looks for hours to judge (late deltas still move them).
const SPIKE_RECENT_HOURS: i64 = 48;

/// One scope of one rule, as the data stands.
struct Level {
    scope: String,
    /// A budget's local day, a silence's last record, a spend's hour: past the line in a new
    /// period alerts again.
    period: String,
    firing: bool,
    data: Value,
}

/// What an evaluation did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Evaluated {
    pub rules: usize,
    pub raised: usize,
    pub deliveries: usize,
}

impl Store {
    /// Evaluates the tenant's enabled rules of these kinds against its data now; raises (and
    /// sends) what crossed. Cheap when the tenant has no such rule: one indexed lookup.
    pub async fn evaluate_alerts(&self, schema: &TenantSchema, kinds: &[AlertKind], now: DateTime<Utc>) -> Result<Evaluated, StoreError> {
        evaluate(self.pool(), schema, kinds, now).await
    }
}

/// [`Store::evaluate_alerts`] on a pool (the ledger writer holds one, not a store).
pub async fn evaluate(pool: &sqlx::PgPool, schema: &TenantSchema, kinds: &[AlertKind], now: DateTime<Utc>) -> Result<Evaluated, StoreError> {
    let words: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    let rules: Vec<(Uuid, AlertRule)> = sqlx::query_as::<_, RuleRow>(
        "SELECT r.tenant_id, r.id, r.name, r.kind, r.threshold, r.hours, r.account_id, r.campaign_id, r.enabled, r.created_at, r.updated_at
         FROM alert_rules r JOIN tenants t ON t.id = r.tenant_id
         WHERE t.slug = $1 AND t.status = 'active' AND r.enabled AND r.kind = ANY ($2) ORDER BY r.id",
    )
    .bind(schema.slug().as_str())
    .bind(&words)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(RuleRow::split)
    .collect();
    let Some(tenant) = rules.first().map(|(t, _)| *t) else {
        return Ok(Evaluated::default());
    };
    let mut out = Evaluated { rules: rules.len(), ..Evaluated::default() };
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('ams_hub_alerts:' || $1::text, 0))").bind(tenant).execute(&mut *tx).await?;
    for (_, rule) in &rules {
        let levels = levels(&mut tx, schema, tenant, rule, now).await?;
        let (raised, deliveries) = apply(&mut tx, tenant, rule, levels).await?;
        out.raised += raised;
        out.deliveries += deliveries;
    }
    tx.commit().await?;
    Ok(out)
}

#[derive(sqlx::FromRow)]
struct RuleRow {
    tenant_id: Uuid,
    #[sqlx(flatten)]
    rule: AlertRule,
}

impl RuleRow {
    fn split(self) -> (Uuid, AlertRule) {
        (self.tenant_id, self.rule)
    }
}

fn rule_json(rule: &AlertRule) -> Value {
    let line = match rule.kind {
        AlertKind::OutOfBudget => Some(Decimal::from(100)),
        _ => rule.threshold,
    };
    json!({"id": rule.id, "name": rule.name, "kind": rule.kind, "threshold": line, "hours": rule.hours})
}

/// The rule's scopes as the data stands now.
async fn levels(tx: &mut PgConnection, schema: &TenantSchema, tenant: Uuid, rule: &AlertRule, now: DateTime<Utc>) -> Result<Vec<Level>, StoreError> {
    let s = schema.name();
    match rule.kind {
        AlertKind::BudgetUsage | AlertKind::OutOfBudget => budget_levels(tx, s, rule).await,
        AlertKind::StreamSilent => silence_levels(tx, s, tenant, rule, now).await,
        AlertKind::SpendSpike => spike_levels(tx, s, rule, now).await,
    }
}

type BudgetRow = (String, String, String, String, Option<String>, Option<Decimal>, Option<Decimal>, DateTime<Utc>, String, Option<Uuid>, Option<String>, Option<String>, Option<String>);

async fn budget_levels(tx: &mut PgConnection, s: &str, rule: &AlertRule) -> Result<Vec<Level>, StoreError> {
    // A budget period is the budget's local day in its marketplace (daily budgets reset at
    // the marketplace's midnight).
    let rows: Vec<BudgetRow> = sqlx::query_as(&format!(
        "SELECT u.advertiser_id, u.marketplace_id, u.budget_scope_type, u.budget_scope_id, u.advertising_product_type,
                u.budget, u.budget_usage_percentage, u.usage_updated_at,
                (u.usage_updated_at AT TIME ZONE coalesce(z.time_zone, 'UTC'))::date::text,
                u.hub_account_id, c.name, coalesce(c.budget_currency_code, z.currency), z.code
         FROM {s}.amzn_stream_budget_usage_current u
         LEFT JOIN {s}.marketplace_time_zones z ON z.marketplace_id = u.marketplace_id
         LEFT JOIN {s}.amzn_stream_campaigns c
                ON u.budget_scope_type = 'CAMPAIGN' AND c.marketplace_id = u.marketplace_id AND c.campaign_id = u.budget_scope_id
         WHERE ($1::uuid IS NULL OR u.hub_account_id = $1)
           AND ($2::text IS NULL OR (u.budget_scope_type = 'CAMPAIGN' AND u.budget_scope_id = $2))"
    ))
    .bind(rule.account_id)
    .bind(&rule.campaign_id)
    .fetch_all(tx)
    .await?;
    let line = match rule.kind {
        AlertKind::OutOfBudget => Decimal::from(100),
        _ => rule.threshold.unwrap_or(Decimal::from(100)),
    };
    Ok(rows
        .into_iter()
        .map(|(adv, mkt, scope_type, scope_id, product, budget, usage, updated, day, account, campaign, currency, code)| Level {
            scope: format!("{adv}|{mkt}|{scope_type}|{scope_id}"),
            period: day.clone(),
            // Amazon sends the usage in percent (55.0 is 55%).
            firing: usage.is_some_and(|u| u >= line),
            data: json!({
                "account_id": account, "advertiser_id": adv, "marketplace_id": mkt, "marketplace": code,
                "budget_scope_type": scope_type, "budget_scope_id": scope_id, "campaign_name": campaign,
                "advertising_product_type": product, "budget": budget, "budget_usage_percentage": usage,
                "currency": currency, "usage_updated_at": updated, "budget_day": day,
            }),
        })
        .collect())
}

async fn silence_levels(tx: &mut PgConnection, s: &str, tenant: Uuid, rule: &AlertRule, now: DateTime<Utc>) -> Result<Vec<Level>, StoreError> {
    // Paused accounts are not read: their silence is the operator's doing.
    let rows: Vec<(Uuid, String, String, DateTime<Utc>)> = sqlx::query_as(&format!(
        "SELECT a.hub_account_id, ac.name, a.dataset, a.last_received_at
         FROM {s}.account_activity a JOIN accounts ac ON ac.id = a.hub_account_id
         WHERE ac.tenant_id = $1 AND ac.status = 'active' AND ($2::uuid IS NULL OR a.hub_account_id = $2)"
    ))
    .bind(tenant)
    .bind(rule.account_id)
    .fetch_all(tx)
    .await?;
    let hours = i64::from(rule.hours.unwrap_or(24));
    Ok(rows
        .into_iter()
        .map(|(account, name, dataset, last)| Level {
            scope: format!("{account}|{dataset}"),
            // A new silence (after records arrived again) is a new period.
            period: last.to_rfc3339(),
            firing: now - last >= Duration::hours(hours),
            data: json!({
                "account_id": account, "account_name": name, "dataset": dataset, "last_received_at": last,
                "silent_hours": ((now - last).num_minutes() as f64 / 60.0 * 10.0).round() / 10.0,
            }),
        })
        .collect())
}

async fn spike_levels(tx: &mut PgConnection, s: &str, rule: &AlertRule, now: DateTime<Utc>) -> Result<Vec<Level>, StoreError> {
    let advertisers: Option<Vec<String>> = match rule.account_id {
        None => None,
        Some(a) => Some(
            sqlx::query_scalar::<_, Option<String>>("SELECT advertiser_id FROM accounts WHERE id = $1")
                .bind(a)
                .fetch_optional(&mut *tx)
                .await?
                .flatten()
                .into_iter()
                .collect(),
        ),
    };
    let hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    let recent = hour - Duration::hours(SPIKE_RECENT_HOURS);
    let rows: Vec<(String, String, DateTime<Utc>, Decimal, Decimal, Option<String>)> = sqlx::query_as(&format!(
        "WITH h AS (
             SELECT advertiser_id, marketplace_id, time_window_start AS hour, sum(cost) AS cost, max(currency) AS currency
             FROM {s}.performance_facts
             WHERE time_window_start >= $1 - interval '7 days' AND cost <> 0
               AND ($2::text[] IS NULL OR advertiser_id = ANY ($2)) AND ($3::text IS NULL OR campaign_id = $3)
             GROUP BY 1, 2, 3
         )
         SELECT c.advertiser_id, c.marketplace_id, c.hour, c.cost,
                (SELECT coalesce(sum(p.cost), 0) / 7 FROM h p
                  WHERE p.advertiser_id = c.advertiser_id AND p.marketplace_id = c.marketplace_id
                    AND p.hour IN (SELECT c.hour - make_interval(days => d) FROM generate_series(1, 7) d)),
                c.currency
         FROM h c WHERE c.hour >= $1"
    ))
    .bind(recent)
    .bind(&advertisers)
    .bind(&rule.campaign_id)
    .fetch_all(tx)
    .await?;
    let times = rule.threshold.unwrap_or(Decimal::from(3));
    Ok(rows
        .into_iter()
        .map(|(adv, mkt, hour, cost, usual, currency)| Level {
            scope: format!("{adv}|{mkt}|{}", hour.to_rfc3339()),
            period: hour.to_rfc3339(),
            // No spend in the week before: no usual to be above.
            firing: usual > Decimal::ZERO && cost > times * usual,
            data: json!({
                "advertiser_id": adv, "marketplace_id": mkt, "campaign_id": rule.campaign_id, "hour_utc": hour,
                "spend": cost, "usual_spend": usual.round_dp(2), "currency": currency,
                "multiple": if usual > Decimal::ZERO { Some((cost / usual).round_dp(2)) } else { None },
            }),
        })
        .collect())
}

/// Compares levels with the rule's states: raises what crossed, keeps the new states, forgets
/// scopes that are gone. Returns (alerts raised, webhook deliveries made).
async fn apply(tx: &mut PgConnection, tenant: Uuid, rule: &AlertRule, levels: Vec<Level>) -> Result<(usize, usize), StoreError> {
    let states: HashMap<String, (String, bool)> =
        sqlx::query_as::<_, (String, String, bool)>("SELECT scope, period, firing FROM alert_state WHERE rule_id = $1")
            .bind(rule.id)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|(scope, period, firing)| (scope, (period, firing)))
            .collect();
    let (mut scopes, mut periods, mut firings) = (Vec::new(), Vec::new(), Vec::new());
    let (mut raised, mut deliveries) = (0, 0);
    for level in &levels {
        let before = states.get(&level.scope);
        if before.is_some_and(|(p, f)| *p == level.period && *f == level.firing) {
            continue;
        }
        let already = before.is_some_and(|(p, f)| *f && *p == level.period);
        if level.firing && !already {
            let mut data = level.data.clone();
            data["rule"] = rule_json(rule);
            let made = webhooks::enqueue_event(&mut *tx, tenant, rule.kind.event_type(), data.clone()).await?;
            sqlx::query(
                "INSERT INTO alerts (id, tenant_id, rule_id, rule_name, kind, scope, data, deliveries) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(Uuid::new_v4())
            .bind(tenant)
            .bind(rule.id)
            .bind(&rule.name)
            .bind(rule.kind.as_str())
            .bind(&level.scope)
            .bind(&data)
            .bind(made as i32)
            .execute(&mut *tx)
            .await?;
            tracing::info!(rule = %rule.id, kind = %rule.kind, scope = %level.scope, deliveries = made, "alert raised");
            raised += 1;
            deliveries += made;
        }
        scopes.push(level.scope.clone());
        periods.push(level.period.clone());
        firings.push(level.firing);
    }
    if !scopes.is_empty() {
        sqlx::query(
            "INSERT INTO alert_state (rule_id, scope, period, firing)
             SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::bool[])
             ON CONFLICT (rule_id, scope) DO UPDATE SET period = excluded.period, firing = excluded.firing, changed_at = now()",
        )
        .bind(rule.id)
        .bind(&scopes)
        .bind(&periods)
        .bind(&firings)
        .execute(&mut *tx)
        .await?;
    }
    // Scopes no longer in the data (an hour that left the window, an account removed).
    let current: Vec<&str> = levels.iter().map(|l| l.scope.as_str()).collect();
    sqlx::query("DELETE FROM alert_state WHERE rule_id = $1 AND NOT (scope = ANY ($2))").bind(rule.id).bind(&current).execute(&mut *tx).await?;
    Ok((raised, deliveries))
}
