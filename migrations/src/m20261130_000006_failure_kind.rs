//! `consumer_states.failure_kind`: what kind of failure a consumer's `last_error` is
//! (credentials, queue_missing, throttled, network, database, other), for the status API.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = "ALTER TABLE consumer_states ADD COLUMN failure_kind text;";

const DOWN: &str = "ALTER TABLE consumer_states DROP COLUMN IF EXISTS failure_kind;";

sql_migration!(UP, DOWN);
