//! Alert rules per tenant (issue 26), the state that makes each crossing alert once, and the
//! alerts raised. An alert becomes webhook deliveries (migration 15) in the transaction that
//! raises it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = "
CREATE TABLE alert_rules (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('budget_usage', 'out_of_budget', 'stream_silent', 'spend_spike')),
    -- budget_usage: percent of the budget; spend_spike: times the trailing average
    threshold numeric,
    -- stream_silent: hours without a record
    hours integer,
    -- only this account's data (NULL: every account of the tenant)
    account_id uuid REFERENCES accounts(id) ON DELETE CASCADE,
    -- only this campaign (budget and spend kinds)
    campaign_id text,
    enabled boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_rules_tenant ON alert_rules (tenant_id, kind) WHERE enabled;

-- One row per rule and scope (a budget, an account's dataset, an advertiser's hour): whether
-- it is past the rule's line, and in which period (a budget's local day). A scope alerts when
-- it goes past the line, or is past it in a new period; never again while it stays there.
CREATE TABLE alert_state (
    rule_id uuid NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
    scope text NOT NULL,
    period text NOT NULL,
    firing boolean NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, scope)
);

CREATE TABLE alerts (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    rule_id uuid REFERENCES alert_rules(id) ON DELETE SET NULL,
    rule_name text NOT NULL,
    kind text NOT NULL,
    scope text NOT NULL,
    data jsonb NOT NULL,
    -- webhook deliveries made for it
    deliveries integer NOT NULL,
    raised_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_recent ON alerts (tenant_id, raised_at DESC);
";

const DOWN: &str = "DROP TABLE IF EXISTS alerts; DROP TABLE IF EXISTS alert_state; DROP TABLE IF EXISTS alert_rules;";

sql_migration!(UP, DOWN);
