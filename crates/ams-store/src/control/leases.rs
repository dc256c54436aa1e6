//! Queue leases: several `ams-hub serve` replicas share the queues through Postgres, with no
//! other coordinator. A queue is consumed by the replica holding its live lease in
//! `control.queue_leases`. A lease is live while its owner is: each replica heartbeats in
//! `control.replicas`, and its `leases_until` (heartbeat plus its lease time) keeps all its
//! leases alive at once, so a round writes one row, not one per queue (5,000 queues: the
//! per-lease renewal took ~130 ms a round; docs/performance.md). A lease being handed over
//! has its own `expires_at`. Every reconcile a replica:
//!
//! 1. heartbeats, and counts the live replicas;
//! 2. keeps at most its fair share, `ceil(queues / live replicas)`, of its leases, oldest
//!    first; the rest it hands over: they get an `expires_at` a lease time ahead, after which
//!    a replica with room claims them (this is how a new pod gets its share). Its leases of
//!    queues no longer active are deleted;
//! 3. claims free or dead leases up to its share.
//!
//! A replica killed with SIGKILL stops heartbeating; its leases die after its lease time and
//! the others claim them at their next reconcile. Taking over a queue cannot lose or double
//! count: SQS redelivers what the dead replica had not deleted, and the ledger ignores what it
//! had already committed. Two claims of the same dead lease race on `ON CONFLICT … WHERE` the
//! lease is not live: one wins, the other sees a live lease and claims nothing.

use std::collections::HashSet;
use std::time::Duration;

use uuid::Uuid;

use crate::{QueueId, Store, StoreError};

/// A lease `l` is live: being handed over and not yet expired, or held by a live replica.
/// Never NULL (`NOT` of a NULL would be NULL, and a dead lease never claimable).
const LIVE: &str = "((l.expires_at IS NOT NULL AND l.expires_at > now()) OR (l.expires_at IS NULL AND EXISTS (
    SELECT 1 FROM replicas r WHERE r.id = l.owner AND r.leases_until > now())))";

impl Store {
    /// Takes or keeps a role only one replica plays at a time (the Ads reconciler). The lease
    /// is live while its owner's heartbeat in `replicas` is (as for queue leases); a dead
    /// owner's role is taken over. True when `replica` holds it now.
    pub async fn lead(&self, role: &str, replica: &str) -> Result<bool, StoreError> {
        let held: Option<String> = sqlx::query_scalar(
            "INSERT INTO leader_leases AS l (role, owner, acquired_at) VALUES ($1, $2, now())
             ON CONFLICT (role) DO UPDATE SET owner = excluded.owner,
                 acquired_at = CASE WHEN l.owner = excluded.owner THEN l.acquired_at ELSE now() END
             WHERE l.owner = excluded.owner OR NOT EXISTS (
                 SELECT 1 FROM replicas r WHERE r.id = l.owner AND r.leases_until > now())
             RETURNING owner",
        )
        .bind(role)
        .bind(replica)
        .fetch_optional(self.pool())
        .await?;
        Ok(held.as_deref() == Some(replica))
    }

    /// Runs one lease round for `replica` over the `active` queues; returns the queues this
    /// replica should consume now.
    pub async fn lease_queues(&self, replica: &str, active: &[QueueId], ttl: Duration) -> Result<HashSet<QueueId>, StoreError> {
        let active: Vec<Uuid> = active.iter().map(|q| q.0).collect();
        let ttl_secs = ttl.as_secs_f64();
        // Replicas from before `leases_until` renew their leases row by row: counted by heartbeat.
        let live: i64 = sqlx::query_scalar(
            "WITH beat AS (
                 INSERT INTO replicas (id, heartbeat_at, leases_until) VALUES ($1, now(), now() + make_interval(secs => $2))
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), leases_until = excluded.leases_until)
             SELECT 1 + count(*) FROM replicas
             WHERE id <> $1 AND (leases_until > now() OR (leases_until IS NULL AND heartbeat_at > now() - make_interval(secs => $2)))",
        )
        .bind(replica)
        .bind(ttl_secs)
        .fetch_one(self.pool())
        .await?;
        let share = active.len().div_ceil(live.max(1) as usize);
        let wanted: HashSet<Uuid> = active.iter().copied().collect();
        // This replica's live leases, oldest first (it is live: it just heartbeated).
        let held: Vec<(Uuid, bool)> = sqlx::query_as(
            "SELECT queue_id, expires_at IS NOT NULL FROM queue_leases
             WHERE owner = $1 AND (expires_at IS NULL OR expires_at > now())
             ORDER BY acquired_at, queue_id",
        )
        .bind(replica)
        .fetch_all(self.pool())
        .await?;
        let (on_active, gone): (Vec<(Uuid, bool)>, Vec<(Uuid, bool)>) = held.into_iter().partition(|(q, _)| wanted.contains(q));
        let kept = &on_active[..share.min(on_active.len())];
        let excess = &on_active[kept.len()..];
        // Only what changes is written: a lease kept again after being handed over, the
        // leases past the share (handed over), the leases of queues no longer active.
        let reclaimed: Vec<Uuid> = kept.iter().filter(|(_, h)| *h).map(|(q, _)| *q).collect();
        let hand_over: Vec<Uuid> = excess.iter().filter(|(_, h)| !*h).map(|(q, _)| *q).collect();
        let gone: Vec<Uuid> = gone.into_iter().map(|(q, _)| q).collect();
        if !reclaimed.is_empty() || !hand_over.is_empty() {
            sqlx::query(
                "UPDATE queue_leases SET expires_at = CASE WHEN queue_id = ANY($2) THEN NULL
                                                           ELSE now() + make_interval(secs => $4) END
                 WHERE owner = $1 AND (queue_id = ANY($2) OR queue_id = ANY($3))",
            )
            .bind(replica)
            .bind(&reclaimed)
            .bind(&hand_over)
            .bind(ttl_secs)
            .execute(self.pool())
            .await?;
        }
        if !gone.is_empty() {
            sqlx::query("DELETE FROM queue_leases WHERE owner = $1 AND queue_id = ANY($2)")
                .bind(replica)
                .bind(&gone)
                .execute(self.pool())
                .await?;
        }
        let mut mine: HashSet<Uuid> = kept.iter().map(|(q, _)| *q).collect();
        let room = share - mine.len();
        if room > 0 {
            let claimed: Vec<Uuid> = sqlx::query_scalar(&format!(
                "INSERT INTO queue_leases AS l (queue_id, owner, acquired_at, expires_at)
                 SELECT q, $1, now(), NULL
                 FROM unnest($2::uuid[]) AS q
                 WHERE NOT EXISTS (SELECT 1 FROM queue_leases l WHERE l.queue_id = q AND {LIVE})
                   AND EXISTS (SELECT 1 FROM queues WHERE id = q)
                 ORDER BY random() LIMIT $3
                 ON CONFLICT (queue_id) DO UPDATE
                     SET owner = excluded.owner, acquired_at = now(), expires_at = NULL
                     WHERE NOT {LIVE}
                 RETURNING queue_id"
            ))
            .bind(replica)
            .bind(&active)
            .bind(room as i64)
            .fetch_all(self.pool())
            .await?;
            mine.extend(claimed);
        }
        Ok(mine.into_iter().map(QueueId).collect())
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
