//! Several `ams-hub serve` replicas on one database share the queues through Postgres leases:
//! each queue is consumed by exactly one replica, a killed replica's queues move to the others
//! within 30 s, and the totals stay exact (real binaries, real Postgres, moto over HTTP).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use ams_model::DELTA_SPECS;
use ams_store::{TenantSchema, TenantSlug};
use ams_tests::api::{serve_with_api, Api};
use ams_tests::aws::{self, Moto};
use ams_tests::check::{assert_exact, bodies, delta_count};
use ams_tests::gen::{self, GenDelta};
use ams_tests::serve::Serve;
use ams_tests::TestDb;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// The queues a replica is consuming, from its `/metrics`.
fn running(api: &Api) -> HashSet<String> {
    let metrics = ureq::get(&format!("{}/metrics", api.metrics)).call().ok().and_then(|r| r.into_string().ok());
    metrics
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("ams_hub_consumer_state{") && l.contains("state=\"running\""))
        .filter_map(|l| l.split("queue=\"").nth(1)?.split('"').next().map(str::to_owned))
        .collect()
}

/// Waits until the live replicas together consume every queue, each exactly once, each
/// replica some; returns how long it took.
async fn wait_shared(replicas: &[&(Serve, Api)], queues: usize, secs: u64) -> Duration {
    let start = Instant::now();
    loop {
        let sets: Vec<HashSet<String>> = replicas.iter().map(|(_, api)| running(api)).collect();
        let union: HashSet<&String> = sets.iter().flatten().collect();
        let total: usize = sets.iter().map(HashSet::len).sum();
        if union.len() == queues && total == queues && sets.iter().all(|s| !s.is_empty()) {
            return start.elapsed();
        }
        if start.elapsed() > Duration::from_secs(secs) {
            let sizes: Vec<usize> = sets.iter().map(HashSet::len).collect();
            panic!("queues not shared after {secs} s: per replica {sizes:?}, distinct {}\n{}", union.len(), replicas[0].0.log_text());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn spread(records: &[GenDelta], queues: usize, i: usize) -> Vec<GenDelta> {
    records.iter().skip(i).step_by(queues).cloned().collect()
}

/// A tenant whose account (no role: the operator lets it use the platform's identity) has
/// `n` queues named `<prefix>-<i>`; their URLs.
async fn tenant_with_queues(store: &ams_store::Store, moto: &Moto, slug: &TenantSlug, n: usize, prefix: &str) -> Vec<String> {
    let tenant = store.provision_tenant(slug, slug.as_str()).await.unwrap();
    store.update_tenant(slug, None, Some(true), None).await.unwrap();
    let account = store.create_account(tenant.id, "Brand", None, &format!("ext-id-{prefix}-1")).await.unwrap();
    let mut urls = Vec::new();
    for i in 0..n {
        let url = aws::create_queue(&moto.platform(), &format!("{prefix}-{i}")).await;
        store.add_queue(account.id, &url, "us-east-1").await.unwrap();
        urls.push(url);
    }
    urls
}

/// Waits until every queue is empty and the tenant holds `rows` deltas; `log` on timeout.
async fn wait_drained(store: &ams_store::Store, moto: &Moto, urls: &[String], schema: &TenantSchema, rows: usize, secs: u64, log: impl Fn() -> String) {
    let drained = || async {
        let mut backlog = 0;
        for url in urls {
            backlog += aws::backlog(&moto.platform(), url).await;
        }
        (backlog == 0 && delta_count(store, schema).await == rows as i64).then_some(())
    };
    ams_tests::wait::until(&format!("every queue empty and {rows} rows"), secs, drained, log).await
}

#[tokio::test]
async fn three_replicas_share_twenty_queues_and_a_killed_ones_move_within_30_seconds() {
    const QUEUES: usize = 20;
    let db = TestDb::new();
    let store = db.store().await;
    let moto = Moto::start();
    let slug = TenantSlug::parse("shared").unwrap();
    let urls = tenant_with_queues(&store, &moto, &slug, QUEUES, "ams").await;
    let sdk = moto.platform();
    let mut rng = StdRng::seed_from_u64(21);
    let first: Vec<GenDelta> = (0..200).map(|i| gen::delta(&mut rng, DELTA_SPECS[0], i % 15, format!("one-{i}"))).collect();
    for (i, url) in urls.iter().enumerate() {
        aws::send_all(&sdk, url, &bodies(&spread(&first, QUEUES, i))).await;
    }

    // A short visibility timeout: what the killed replica held comes back quickly.
    let env = [("AMS_HUB_LEASE_SECS", "6"), ("AMS_HUB_VISIBILITY_SECS", "10")];
    let mut replicas: Vec<(Serve, Api)> = (0..3).map(|_| serve_with_api(&db, &moto.url, &env)).collect();
    wait_shared(&replicas.iter().collect::<Vec<_>>(), QUEUES, 60).await;
    let leases: i64 = sqlx::query_scalar("SELECT count(DISTINCT owner) FROM control.queue_leases WHERE expires_at IS NULL OR expires_at > now()")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(leases, 3, "every replica holds leases");
    let schema = TenantSchema::of(&slug);
    let first_drained = || async { (delta_count(&store, &schema).await >= first.len() as i64).then_some(()) };
    ams_tests::wait::until("the first batch drained", 90, first_drained, String::new).await;

    // SIGKILL one replica mid-stream: what it held is redelivered to the others.
    let second: Vec<GenDelta> = (0..200).map(|i| gen::delta(&mut rng, DELTA_SPECS[0], i % 15, format!("two-{i}"))).collect();
    for (i, url) in urls.iter().enumerate().take(QUEUES / 2) {
        aws::send_all(&sdk, url, &bodies(&spread(&second, QUEUES, i))).await;
    }
    let mut dead = replicas.remove(0);
    dead.0.kill9();
    for (i, url) in urls.iter().enumerate().skip(QUEUES / 2) {
        aws::send_all(&sdk, url, &bodies(&spread(&second, QUEUES, i))).await;
    }
    let moved = wait_shared(&replicas.iter().collect::<Vec<_>>(), QUEUES, 30).await;
    println!("the killed replica's queues resumed elsewhere after {moved:?}");

    let all: Vec<GenDelta> = first.iter().chain(&second).cloned().collect();
    wait_drained(&store, &moto, &urls, &schema, all.len(), 120, || replicas[0].0.log_text()).await;
    assert_exact(&store, &schema, &all).await;
}

/// A replica that still reaches SQS but no longer Postgres (its route to the database cut,
/// connections black-holed) lets go once it cannot renew its leases for a lease time: it
/// stops receiving and extending, and what it held becomes visible to the replicas that took
/// its queues. Without that, it would keep those messages invisible for ever.
#[tokio::test]
async fn a_replica_cut_off_from_postgres_lets_go_and_the_others_drain_everything() {
    const QUEUES: usize = 6;
    let db = TestDb::new();
    let store = db.store().await;
    let moto = Moto::start();
    let slug = TenantSlug::parse("cutoff").unwrap();
    let urls = tenant_with_queues(&store, &moto, &slug, QUEUES, "cut").await;
    let sdk = moto.platform();
    let server = ams_tests::server_url();
    let host_port = server.rsplit('@').next().unwrap().to_owned();
    let proxy = ams_tests::tcp_cut::TcpCut::start(&host_port);
    let cut_url = db.url.replace(&host_port, &format!("127.0.0.1:{}", proxy.port));
    // Long visibility: only letting go (not a timeout) gives the held messages back in time.
    let env = [("AMS_HUB_LEASE_SECS", "6"), ("AMS_HUB_VISIBILITY_SECS", "60")];
    let a = serve_with_api(&db, &moto.url, &env);
    let b = serve_with_api(&db, &moto.url, &env);
    let mut c_env = env.to_vec();
    c_env.push(("DATABASE_URL", cut_url.as_str()));
    let c = serve_with_api(&db, &moto.url, &c_env);
    wait_shared(&[&a, &b, &c], QUEUES, 60).await;

    let c_received = || {
        c.1.metrics_text()
            .lines()
            .filter(|l| l.starts_with("ams_hub_messages_received_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
            .sum::<i64>()
    };
    // Cut C off from Postgres, then send: C still receives its queues' messages (SQS is
    // reachable) but cannot commit them.
    proxy.cut(true);
    let before = c_received();
    let mut rng = StdRng::seed_from_u64(5);
    let records: Vec<GenDelta> = (0..600).map(|i| gen::delta(&mut rng, DELTA_SPECS[0], i % 20, format!("cut-{i}"))).collect();
    for (i, url) in urls.iter().enumerate() {
        aws::send_all(&sdk, url, &bodies(&spread(&records, QUEUES, i))).await;
    }
    let received = || async { (c_received() != before).then_some(()) };
    ams_tests::wait::until("replica C to receive after the cut", 30, received, || c.0.log_text()).await;
    let schema = TenantSchema::of(&slug);
    wait_drained(&store, &moto, &urls, &schema, records.len(), 90, || format!("C's log:\n{}", c.0.log_text())).await;
    assert_exact(&store, &schema, &records).await;
    assert!(c.0.log_text().contains("letting go of every queue"), "C never let go:\n{}", c.0.log_text());
}

/// The lease rounds themselves, against Postgres, with a replica's death made by moving its
/// `leases_until` into the past (no waiting): shares split evenly, leases past a share are
/// handed over and claimed by the replica with room, a dead replica's leases are taken over,
/// leases of queues no longer active are dropped, and a steady round writes only the
/// heartbeat.
#[tokio::test]
async fn lease_rounds_share_hand_over_and_take_over_dead_replicas() {
    let db = TestDb::new();
    let store = db.store().await;
    let tenant = store.provision_tenant(&TenantSlug::parse("leases").unwrap(), "leases").await.unwrap();
    let account = store.create_account(tenant.id, "Brand", None, "ext-id-leases").await.unwrap();
    let mut ids = Vec::new();
    for i in 0..10 {
        let q = store.add_queue(account.id, &format!("https://sqs.us-east-1.amazonaws.com/123456789012/l-{i}"), "us-east-1").await.unwrap();
        ids.push(ams_store::QueueId(q.id));
    }
    let ttl = Duration::from_secs(20);
    let a = store.lease_queues("a", &ids, ttl).await.unwrap();
    assert_eq!(a.len(), 10, "alone, a replica takes every queue");

    // A second replica: A keeps its share (5) and hands the other 5 over, which B claims once
    // they expire (made to expire now).
    let b = store.lease_queues("b", &ids, ttl).await.unwrap();
    assert!(b.is_empty(), "A's leases are live: {b:?}");
    let a = store.lease_queues("a", &ids, ttl).await.unwrap();
    assert_eq!(a.len(), 5);
    let handed: i64 = sqlx::query_scalar("SELECT count(*) FROM control.queue_leases WHERE owner = 'a' AND expires_at IS NOT NULL")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(handed, 5, "the leases past A's share are handed over, not dropped");
    assert!(store.lease_queues("b", &ids, ttl).await.unwrap().is_empty(), "not before they expire");
    sqlx::query("UPDATE control.queue_leases SET expires_at = now() - interval '1 second' WHERE expires_at IS NOT NULL")
        .execute(store.pool())
        .await
        .unwrap();
    let b = store.lease_queues("b", &ids, ttl).await.unwrap();
    assert_eq!(b.len(), 5);
    assert!(a.is_disjoint(&b));

    // Steady: a round changes no lease row.
    let before: Vec<(uuid::Uuid, String, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT queue_id, owner, acquired_at FROM control.queue_leases ORDER BY 1").fetch_all(store.pool()).await.unwrap();
    assert_eq!(store.lease_queues("a", &ids, ttl).await.unwrap(), a);
    assert_eq!(store.lease_queues("b", &ids, ttl).await.unwrap(), b);
    let xmin_changed: i64 = sqlx::query_scalar("SELECT count(*) FROM control.queue_leases WHERE xmin::text::bigint > txid_current() - 2")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(xmin_changed, 0, "a steady round rewrote leases");
    let after: Vec<(uuid::Uuid, String, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT queue_id, owner, acquired_at FROM control.queue_leases ORDER BY 1").fetch_all(store.pool()).await.unwrap();
    assert_eq!(before, after);

    // B dies: its leases die with its heartbeat, and A takes them all over.
    sqlx::query("UPDATE control.replicas SET leases_until = now() - interval '1 second', heartbeat_at = now() - interval '1 hour' WHERE id = 'b'")
        .execute(store.pool())
        .await
        .unwrap();
    let a = store.lease_queues("a", &ids, ttl).await.unwrap();
    assert_eq!(a.len(), 10);
    // B comes back: its old leases are A's now; it gets its share only as A hands over.
    assert!(store.lease_queues("b", &ids, ttl).await.unwrap().is_empty());

    // Queues no longer active: their leases are dropped.
    let a = store.lease_queues("a", &ids[..4], ttl).await.unwrap();
    assert!(a.len() <= 4 && a.iter().all(|q| ids[..4].contains(q)), "{a:?}");
    let first_four: Vec<uuid::Uuid> = ids[..4].iter().map(|q| q.0).collect();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM control.queue_leases WHERE owner = 'a' AND NOT (queue_id = ANY($1))")
        .bind(&first_four)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
}
