//! `consumer_states.records_truncated`: records committed that Amazon had truncated to fit an
//! SQS message (`PAYLOAD_TRUNCATED`, DSP ad group targets): stored and flagged, and counted
//! here so that an operator sees them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = "ALTER TABLE consumer_states ADD COLUMN records_truncated bigint NOT NULL DEFAULT 0;";

const DOWN: &str = "ALTER TABLE consumer_states DROP COLUMN IF EXISTS records_truncated;";

sql_migration!(UP, DOWN);
