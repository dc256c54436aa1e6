//! What the status API shows per queue beyond the consumer counters: records committed per
//! dataset, and the queue's approximate backlog as SQS last reported it (polled by the
//! consumer with GetQueueAttributes).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE consumer_states
    ADD COLUMN records_committed      jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN approximate_visible    bigint,
    ADD COLUMN approximate_in_flight  bigint,
    ADD COLUMN approximate_updated_at timestamptz;
"#;

const DOWN: &str = "ALTER TABLE consumer_states DROP COLUMN IF EXISTS records_committed,
                 DROP COLUMN IF EXISTS approximate_visible, DROP COLUMN IF EXISTS approximate_in_flight,
                 DROP COLUMN IF EXISTS approximate_updated_at;";

sql_migration!(UP, DOWN);
