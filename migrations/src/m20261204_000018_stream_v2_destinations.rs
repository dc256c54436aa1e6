//! Stream v2 destinations (issue 28): per account and region, the bucket Amazon writes Parquet
//! files to, the queue that says a file landed, and the role the loader assumes to read both.
//! `listed_through` is the loader's watermark: object versions last modified before it (less
//! a margin, see `ams_store::stream_v2`) have all been landed or quarantined.
//!
//! And `accounts.ads_account_id`: the account's global Amazon Ads account id (`amzn1.ads-account.g.…`,
//! from Amazon's account-management API at import), which Stream v2 subscriptions name as
//! `advertiserAccountId`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = "
CREATE TABLE stream_v2_destinations (
    account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    region text NOT NULL,
    bucket text NOT NULL,
    queue_url text NOT NULL,
    role_arn text NOT NULL,
    listed_through timestamptz,
    last_error text,
    last_loaded_at timestamptz,
    -- The Ads reconciler's view of the v2 subscriptions delivering here: [{dataset, id, status}],
    -- and why its last pass for this destination failed.
    subscriptions jsonb NOT NULL DEFAULT '[]',
    subscription_error text,
    adopted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, region)
);
ALTER TABLE accounts ADD COLUMN ads_account_id text;";

const DOWN: &str = "DROP TABLE IF EXISTS stream_v2_destinations; ALTER TABLE accounts DROP COLUMN IF EXISTS ads_account_id;";

sql_migration!(UP, DOWN);
