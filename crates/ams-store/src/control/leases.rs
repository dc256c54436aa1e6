//! Queue leases: several `ams-hub serve` replicas share the queues through Postgres, with no
//! other coordinator. Each replica heartbeats in `control.replicas`; a queue is consumed by the
//! replica holding its unexpired lease in `control.queue_leases`. Every reconcile a replica:
//!
//! 1. heartbeats, and counts the live replicas (heartbeat younger than the lease time);
//! 2. keeps (renews) at most its fair share, `ceil(queues / live replicas)`, of its leases,
//!    oldest first; the rest it stops renewing, so they expire and move to a replica with room
//!    (this is how a new pod gets its share);
//! 3. claims free or expired leases up to its share.
//!
//! A replica killed with SIGKILL stops renewing; its leases expire after `ttl` and the others
//! claim them at their next reconcile. Taking over a queue cannot lose or double count: SQS
//! redelivers what the dead replica had not deleted, and the ledger ignores what it had
//! already committed. Two claims of the same expired lease race on `ON CONFLICT … WHERE
//! expires_at <= now()`: one wins, the other sees a live lease and claims nothing.

use std::collections::HashSet;
use std::time::Duration;

use uuid::Uuid;

use crate::{Store, StoreError};

impl Store {
    /// Runs one lease round for `replica` over the `active` queues; returns the queues this
    /// replica should consume now.
    pub async fn lease_queues(&self, replica: &str, active: &[Uuid], ttl: Duration) -> Result<HashSet<Uuid>, StoreError> {
        let ttl_secs = ttl.as_secs_f64();
        let live: i64 = sqlx::query_scalar(
            "WITH beat AS (
                 INSERT INTO replicas (id, heartbeat_at) VALUES ($1, now())
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = now())
             SELECT 1 + count(*) FROM replicas
             WHERE id <> $1 AND heartbeat_at > now() - make_interval(secs => $2)",
        )
        .bind(replica)
        .bind(ttl_secs)
        .fetch_one(self.pool())
        .await?;
        let share = active.len().div_ceil(live.max(1) as usize) as i64;
        // Keep the oldest `share` of this replica's live leases on active queues; renew them.
        let kept: Vec<Uuid> = sqlx::query_scalar(
            "WITH keep AS (
                 SELECT queue_id FROM queue_leases
                 WHERE owner = $1 AND expires_at > now() AND queue_id = ANY($2)
                 ORDER BY acquired_at, queue_id LIMIT $3)
             UPDATE queue_leases l SET expires_at = now() + make_interval(secs => $4)
             FROM keep WHERE l.queue_id = keep.queue_id
             RETURNING l.queue_id",
        )
        .bind(replica)
        .bind(active)
        .bind(share)
        .bind(ttl_secs)
        .fetch_all(self.pool())
        .await?;
        let mut mine: HashSet<Uuid> = kept.into_iter().collect();
        let room = share - mine.len() as i64;
        if room > 0 {
            let claimed: Vec<Uuid> = sqlx::query_scalar(
                "INSERT INTO queue_leases AS l (queue_id, owner, acquired_at, expires_at)
                 SELECT q, $1, now(), now() + make_interval(secs => $4)
                 FROM unnest($2::uuid[]) AS q
                 WHERE NOT EXISTS (SELECT 1 FROM queue_leases x WHERE x.queue_id = q AND x.expires_at > now())
                   AND EXISTS (SELECT 1 FROM queues WHERE id = q)
                 ORDER BY random() LIMIT $3
                 ON CONFLICT (queue_id) DO UPDATE
                     SET owner = excluded.owner, acquired_at = now(), expires_at = excluded.expires_at
                     WHERE l.expires_at <= now()
                 RETURNING queue_id",
            )
            .bind(replica)
            .bind(active)
            .bind(room)
            .bind(ttl_secs)
            .fetch_all(self.pool())
            .await?;
            mine.extend(claimed);
        }
        Ok(mine)
    }

    /// A replica shutting down hands its queues over at once, instead of after `ttl`.
    pub async fn release_leases(&self, replica: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM queue_leases WHERE owner = $1").bind(replica).execute(self.pool()).await?;
        sqlx::query("DELETE FROM replicas WHERE id = $1 OR heartbeat_at < now() - interval '1 day'")
            .bind(replica)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
