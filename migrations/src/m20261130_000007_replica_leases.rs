//! Leases held by a live replica, not renewed row by row: `replicas.leases_until` (heartbeat
//! plus the replica's lease time) keeps every lease of that replica alive, so a lease round
//! writes one row instead of every lease (5,000 queues took ~130 ms a round). A lease's own
//! `expires_at` is now set only on a lease being handed over (past the replica's share); a
//! lease that still has one from before this migration stays live until then, as before, and
//! older replicas, which renew that way, keep theirs during a rolling update.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE replicas ADD COLUMN leases_until timestamptz;
ALTER TABLE queue_leases ALTER COLUMN expires_at DROP NOT NULL;
"#;

const DOWN: &str = r#"
DELETE FROM queue_leases WHERE expires_at IS NULL;
ALTER TABLE queue_leases ALTER COLUMN expires_at SET NOT NULL;
ALTER TABLE replicas DROP COLUMN IF EXISTS leases_until;
"#;

sql_migration!(UP, DOWN);
