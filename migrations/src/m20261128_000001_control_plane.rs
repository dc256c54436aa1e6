//! The control plane: who the tenants are and where their data comes from.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

// Runs with search_path = control (see ams-store's connect), so names are unqualified.
const UP: &str = r#"
CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z][a-z0-9_]{2,39}$'),
    name        text NOT NULL,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text NOT NULL,
    -- SHA-256 of the token; the token itself is shown once and never stored.
    token_sha256 bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE accounts (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name          text NOT NULL,
    aws_role_arn  text,
    external_id   text NOT NULL,
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

CREATE TABLE marketplaces (
    id              uuid PRIMARY KEY,
    account_id      uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    code            text NOT NULL,
    marketplace_id  text NOT NULL,
    realm           text NOT NULL CHECK (realm IN ('NA', 'EU', 'FE')),
    region          text NOT NULL,
    api_endpoint    text NOT NULL,
    profile_id      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, code)
);

CREATE TABLE queues (
    id          uuid PRIMARY KEY,
    account_id  uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    queue_url   text NOT NULL UNIQUE,
    region      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX queues_account ON queues (account_id);

CREATE TABLE subscriptions (
    id               uuid PRIMARY KEY,
    account_id       uuid REFERENCES accounts (id) ON DELETE CASCADE,
    queue_id         uuid REFERENCES queues (id) ON DELETE SET NULL,
    dataset_id       text,
    marketplace_id   text,
    subscription_id  text,
    topic_arn        text,
    status           text NOT NULL,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_account ON subscriptions (account_id);
"#;

const DOWN: &str = r#"
DROP TABLE IF EXISTS subscriptions, queues, marketplaces, accounts, api_keys, tenants;
"#;

sql_migration!(UP, DOWN);
