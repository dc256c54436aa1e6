//! Stream v2 destinations (issue 28): per account and region, the bucket Amazon writes Parquet
//! files to, the queue that says a file landed, and the role the loader assumes to read both.
//! `listed_through` is the loader's watermark: object versions last modified before it (less
//! a margin, see `ams_store::stream_v2`) have all been landed or quarantined.

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
    adopted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, region)
);";

const DOWN: &str = "DROP TABLE IF EXISTS stream_v2_destinations;";

sql_migration!(UP, DOWN);
