//! What each queue consumer is doing, written by the runtime's supervisor and read by the
//! status API and operators: state, last error, counters. And which SQS message each recorded
//! subscription confirmation came in.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE consumer_states (
    queue_id            uuid PRIMARY KEY REFERENCES queues (id) ON DELETE CASCADE,
    state               text NOT NULL,
    last_error          text,
    messages_received   bigint NOT NULL DEFAULT 0,
    messages_committed  bigint NOT NULL DEFAULT 0,
    messages_quarantined bigint NOT NULL DEFAULT 0,
    restarts            bigint NOT NULL DEFAULT 0,
    last_receive_at     timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
-- The SQS message a confirmation came in: its redeliveries update one row.
ALTER TABLE subscriptions ADD COLUMN message_id text;
CREATE INDEX subscriptions_topic ON subscriptions (topic_arn);
"#;

const DOWN: &str = "DROP TABLE IF EXISTS consumer_states; DROP INDEX IF EXISTS subscriptions_topic;
             ALTER TABLE subscriptions DROP COLUMN IF EXISTS message_id;";

sql_migration!(UP, DOWN);
