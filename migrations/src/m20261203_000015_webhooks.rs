//! Webhooks per tenant (issue 26): where a tenant's alerts are sent, and every delivery with
//! each of its attempts, so that nothing is lost across restarts and a tenant can see what was
//! sent and replay it. The signing secret is sealed (`ams_store::secrets`), never stored clear.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = "
CREATE TABLE webhooks (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    url text NOT NULL,
    description text NOT NULL DEFAULT '',
    events text[] NOT NULL,
    secret_sealed bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_tenant ON webhooks (tenant_id, created_at);

CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    webhook_id uuid NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    -- the Standard Webhooks message id (`webhook-id`): the same for every attempt and replay
    message_id text NOT NULL,
    event_type text NOT NULL,
    payload jsonb NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- retries stop at this instant (24 hours after the delivery was made or replayed)
    give_up_at timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    -- a sender's claim: no other replica sends it until then
    claimed_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (webhook_id, message_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_listed ON webhook_deliveries (webhook_id, created_at DESC);

CREATE TABLE webhook_attempts (
    delivery_id uuid NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    -- the endpoint's HTTP status; NULL when there was no answer
    response_status integer,
    -- why it failed (the address refused, a timeout, a connection error), or NULL
    error text,
    duration_ms integer NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
";

const DOWN: &str = "DROP TABLE IF EXISTS webhook_attempts; DROP TABLE IF EXISTS webhook_deliveries; DROP TABLE IF EXISTS webhooks;";

sql_migration!(UP, DOWN);
