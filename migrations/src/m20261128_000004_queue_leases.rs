//! Several replicas share the queues: each queue is consumed by the replica holding its lease.
//! Replicas heartbeat in `replicas`; a lease not renewed by its owner expires and another
//! replica takes the queue (docs/runtime.md, "Several replicas").

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE replicas (
    id            text PRIMARY KEY,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL
);
CREATE TABLE queue_leases (
    queue_id     uuid PRIMARY KEY REFERENCES queues (id) ON DELETE CASCADE,
    owner        text NOT NULL,
    acquired_at  timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX queue_leases_owner ON queue_leases (owner);
"#;

const DOWN: &str = "DROP TABLE IF EXISTS queue_leases, replicas;";

sql_migration!(UP, DOWN);
