//! The Amazon Ads API side of onboarding (issue: connections, imports, declared streams).
//!
//! * `ads_apps`: a tenant's own LwA app (client id, encrypted secret) overriding the platform's.
//! * `ads_connections`: an Amazon login's refresh token (encrypted), per tenant and region;
//!   `status` turns `invalid` when Amazon refuses the token, with the reason.
//! * `accounts.advertiser_id`: Amazon's `accountInfo.id`, so an import finds the account again;
//!   `accounts.stream_datasets`: the datasets the agency declared for the account.
//! * `marketplaces.connection_id`: the login whose token reaches the marketplace's profile.
//! * `stream_subscriptions`: one row per Marketing Stream subscription ams-hub asked Amazon for.
//!   Its `client_request_token` is derived from (marketplace, dataset, destination, generation),
//!   written before the request is sent, so a crash between request and answer cannot create a
//!   second subscription. The rows outlive their account and marketplace (SET NULL): a row that
//!   nothing wants any more is what the reconciler archives at Amazon.
//! * `leader_leases`: roles one replica plays at a time (the Ads reconciler), live while their
//!   owner's `replicas` heartbeat is, exactly like the queue leases.
//! * Secrets are AES-256-GCM ciphertexts (`bytea`); see `ams_store::secrets`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = "
CREATE TABLE ads_apps (
    tenant_id      uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    client_id      text NOT NULL,
    client_secret  bytea NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ads_connections (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name            text NOT NULL,
    region          text NOT NULL CHECK (region IN ('NA', 'EU', 'FE')),
    client_id       text NOT NULL,
    refresh_token   bytea NOT NULL,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'invalid', 'deleting')),
    invalid_reason  text,
    profiles        jsonb NOT NULL DEFAULT '[]',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

ALTER TABLE accounts
    ADD COLUMN advertiser_id text,
    ADD COLUMN stream_datasets text[] NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX accounts_advertiser ON accounts (tenant_id, advertiser_id) WHERE advertiser_id IS NOT NULL;

ALTER TABLE marketplaces
    ADD COLUMN connection_id uuid REFERENCES ads_connections (id) ON DELETE SET NULL;

CREATE TABLE stream_subscriptions (
    id                    uuid PRIMARY KEY,
    tenant_id             uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    account_id            uuid REFERENCES accounts (id) ON DELETE SET NULL,
    marketplace_id        uuid REFERENCES marketplaces (id) ON DELETE SET NULL,
    connection_id         uuid REFERENCES ads_connections (id) ON DELETE SET NULL,
    profile_id            text NOT NULL,
    advertiser_id         text,
    realm                 text NOT NULL,
    dataset_id            text NOT NULL,
    destination_arn       text NOT NULL,
    generation            integer NOT NULL DEFAULT 0,
    client_request_token  text NOT NULL UNIQUE,
    subscription_id       text,
    status                text NOT NULL,
    confirmed_at          timestamptz,
    last_sync_at          timestamptz,
    last_error            text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stream_subscriptions_account ON stream_subscriptions (account_id);
CREATE INDEX stream_subscriptions_open ON stream_subscriptions (tenant_id) WHERE status <> 'ARCHIVED';

CREATE TABLE leader_leases (
    role         text PRIMARY KEY,
    owner        text NOT NULL,
    acquired_at  timestamptz NOT NULL DEFAULT now()
);
";

const DOWN: &str = "
DROP TABLE IF EXISTS leader_leases, stream_subscriptions;
ALTER TABLE marketplaces DROP COLUMN IF EXISTS connection_id;
DROP INDEX IF EXISTS accounts_advertiser;
ALTER TABLE accounts DROP COLUMN IF EXISTS advertiser_id, DROP COLUMN IF EXISTS stream_datasets;
DROP TABLE IF EXISTS ads_connections, ads_apps;
";

sql_migration!(UP, DOWN);
