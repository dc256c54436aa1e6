//! The Stream v2 datasets an account declares (issue 28), beside the v1 ones (`stream_datasets`).
//! Amazon publishes v2 dataset ids; ams-hub keeps them as given (their form checked by the API).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = "ALTER TABLE accounts ADD COLUMN stream_v2_datasets text[] NOT NULL DEFAULT '{}';";

const DOWN: &str = "ALTER TABLE accounts DROP COLUMN IF EXISTS stream_v2_datasets;";

sql_migration!(UP, DOWN);
