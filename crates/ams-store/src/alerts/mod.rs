//! Alert rules of a tenant and the alerts they raise (control migration 16). A rule watches
//! one kind of line: a budget's usage, a stream that went silent, an hour's spend against its
//! usual. [`evaluate`] compares the data with every enabled rule and raises an alert, with
//! its webhook deliveries, in one transaction, once per crossing.

pub mod evaluate;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use crate::{StoreError, TenantScope};

crate::text_enum! {
    /// What a rule watches.
    pub enum AlertKind {
        /// A budget's usage reaches `threshold` percent.
        BudgetUsage = "budget_usage",
        /// A budget is used up (100%).
        OutOfBudget = "out_of_budget",
        /// An account's dataset that was delivering has sent nothing for `hours`.
        StreamSilent = "stream_silent",
        /// An hour's spend is above `threshold` times the same hour's average over the 7 days before.
        SpendSpike = "spend_spike",
    }
}

impl AlertKind {
    /// The webhook event an alert of this kind is sent as.
    pub fn event_type(self) -> &'static str {
        match self {
            AlertKind::BudgetUsage => "alert.budget_usage",
            AlertKind::OutOfBudget => "alert.out_of_budget",
            AlertKind::StreamSilent => "alert.stream_silent",
            AlertKind::SpendSpike => "alert.spend_spike",
        }
    }
}

/// The most rules a tenant may have.
pub const MAX_RULES: i64 = 100;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertRule {
    pub id: Uuid,
    pub name: String,
    pub kind: AlertKind,
    pub threshold: Option<Decimal>,
    pub hours: Option<i32>,
    pub account_id: Option<Uuid>,
    pub campaign_id: Option<String>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A rule as asked for (checked by [`RuleSpec::check`] before it is stored).
#[derive(Debug, Clone)]
pub struct RuleSpec {
    pub name: String,
    pub kind: AlertKind,
    pub threshold: Option<Decimal>,
    pub hours: Option<i32>,
    pub account_id: Option<Uuid>,
    pub campaign_id: Option<String>,
    pub enabled: bool,
}

impl RuleSpec {
    /// What each kind needs and allows; the error says what to change.
    pub fn check(&self) -> Result<(), String> {
        let (threshold, hours) = (self.threshold, self.hours);
        match self.kind {
            AlertKind::BudgetUsage => match threshold {
                Some(t) if t > Decimal::ZERO && t <= Decimal::from(1000) => {}
                _ => return Err("budget_usage needs threshold: the percent of the budget (above 0, at most 1000)".into()),
            },
            AlertKind::OutOfBudget if threshold.is_some() => {
                return Err("out_of_budget takes no threshold: it is reached at 100% (use budget_usage for another line)".into())
            }
            AlertKind::OutOfBudget => {}
            AlertKind::StreamSilent => match hours {
                Some(h) if (1..=24 * 30).contains(&h) => {}
                _ => return Err("stream_silent needs hours: how long without a record (1 to 720)".into()),
            },
            AlertKind::SpendSpike => match threshold {
                Some(t) if t > Decimal::ONE && t <= Decimal::from(1000) => {}
                _ => return Err("spend_spike needs threshold: the multiple of the usual hour's spend (above 1, at most 1000)".into()),
            },
        }
        if hours.is_some() && self.kind != AlertKind::StreamSilent {
            return Err(format!("hours applies to stream_silent only, not {}", self.kind.as_str()));
        }
        if self.campaign_id.is_some() && self.kind == AlertKind::StreamSilent {
            return Err("campaign does not apply to stream_silent (a stream is an account's dataset)".into());
        }
        Ok(())
    }

    /// The line, for the alert's text: percent, times, or hours.
    pub fn threshold_or_default(&self) -> Option<Decimal> {
        match self.kind {
            AlertKind::OutOfBudget => Some(Decimal::from(100)),
            _ => self.threshold,
        }
    }
}

/// An alert raised.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Alert {
    pub id: Uuid,
    pub rule_id: Option<Uuid>,
    pub rule_name: String,
    pub kind: String,
    pub scope: String,
    pub data: Value,
    pub deliveries: i32,
    pub raised_at: DateTime<Utc>,
}

const RULE_COLUMNS: &str = "id, name, kind, threshold, hours, account_id, campaign_id, enabled, created_at, updated_at";

impl TenantScope {
    /// An account of this tenant, or an error naming it (a rule may not watch another's).
    async fn own_account(&self, id: Option<Uuid>) -> Result<(), StoreError> {
        if let Some(id) = id {
            if self.account(id).await?.is_none() {
                return Err(StoreError::Invalid(format!("account: {id} is not an account of this tenant")));
            }
        }
        Ok(())
    }

    pub async fn create_alert_rule(&self, spec: &RuleSpec) -> Result<AlertRule, StoreError> {
        spec.check().map_err(StoreError::Invalid)?;
        self.own_account(spec.account_id).await?;
        let mut tx = self.store().pool().begin().await?;
        sqlx::query("SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE").bind(self.tenant().id).execute(&mut *tx).await?;
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM alert_rules WHERE tenant_id = $1").bind(self.tenant().id).fetch_one(&mut *tx).await?;
        if count >= MAX_RULES {
            return Err(StoreError::Conflict(format!("this tenant has {count} alert rules, the most it may have: delete one first")));
        }
        let sql = format!(
            "INSERT INTO alert_rules (id, tenant_id, name, kind, threshold, hours, account_id, campaign_id, enabled)
             VALUES ($2, $1, $3, $4, $5, $6, $7, $8, $9) RETURNING {RULE_COLUMNS}"
        );
        let rule = bind_rule(&sql, self.tenant().id, Uuid::new_v4(), spec).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(rule)
    }

    pub async fn alert_rules(&self) -> Result<Vec<AlertRule>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {RULE_COLUMNS} FROM alert_rules WHERE tenant_id = $1 ORDER BY created_at, id"))
            .bind(self.tenant().id)
            .fetch_all(self.store().pool())
            .await?)
    }

    pub async fn alert_rule(&self, id: Uuid) -> Result<Option<AlertRule>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {RULE_COLUMNS} FROM alert_rules WHERE tenant_id = $1 AND id = $2"))
            .bind(self.tenant().id)
            .bind(id)
            .fetch_optional(self.store().pool())
            .await?)
    }

    /// Replaces a rule's settings. A rule whose line or scope changed starts over: its
    /// scopes' states are forgotten, so what is past the new line alerts once.
    pub async fn update_alert_rule(&self, id: Uuid, spec: &RuleSpec) -> Result<Option<AlertRule>, StoreError> {
        spec.check().map_err(StoreError::Invalid)?;
        self.own_account(spec.account_id).await?;
        let mut tx = self.store().pool().begin().await?;
        let sql = format!(
            "UPDATE alert_rules SET name = $3, kind = $4, threshold = $5, hours = $6, account_id = $7, campaign_id = $8,
                    enabled = $9, updated_at = now()
             WHERE tenant_id = $1 AND id = $2 RETURNING {RULE_COLUMNS}"
        );
        let rule = bind_rule(&sql, self.tenant().id, id, spec).fetch_optional(&mut *tx).await?;
        if rule.is_some() {
            sqlx::query("DELETE FROM alert_state WHERE rule_id = $1").bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(rule)
    }

    pub async fn delete_alert_rule(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM alert_rules WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant().id)
            .bind(id)
            .execute(self.store().pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The tenant's alerts, newest first.
    pub async fn alerts(&self, limit: i64) -> Result<Vec<Alert>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, rule_id, rule_name, kind, scope, data, deliveries, raised_at FROM alerts
             WHERE tenant_id = $1 ORDER BY raised_at DESC, id LIMIT $2",
        )
        .bind(self.tenant().id)
        .bind(limit)
        .fetch_all(self.store().pool())
        .await?)
    }
}

/// A rule's parameters bound in the order both the insert and the update use: `$1` tenant,
/// `$2` rule id, then the spec's fields.
fn bind_rule<'q>(
    sql: &'q str,
    tenant: Uuid,
    id: Uuid,
    spec: &'q RuleSpec,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, AlertRule, sqlx::postgres::PgArguments> {
    sqlx::query_as(sql)
        .bind(tenant)
        .bind(id)
        .bind(&spec.name)
        .bind(spec.kind)
        .bind(spec.threshold)
        .bind(spec.hours)
        .bind(spec.account_id)
        .bind(&spec.campaign_id)
        .bind(spec.enabled)
}
