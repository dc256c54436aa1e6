//! The Stream v2 loaders: one per destination (account and region), each waiting on its
//! notification queue and landing the bucket's new object versions; [`V2Loaders`] keeps one
//! running for every active destination (checked every `reconcile_secs`).
//!
//! A pass: list the versions (of the keys the notifications name, or of the whole bucket when a
//! message says nothing this loader understands, or on the sweep), leave out those landed or
//! quarantined already, land the rest oldest first, then delete the messages that woke it. A
//! pass that fails (S3 or Postgres unreachable) deletes nothing and moves no watermark: the
//! messages come back after their visibility timeout and the next pass starts over. Landing is
//! exactly once whatever runs twice (`ams_store::stream_v2::landing`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use actix::prelude::*;
use ams_store::stream_v2::{ActiveDestination, Landed, Target, WATERMARK_MARGIN};
use ams_store::{AccountId, Store, TenantSchema};
use chrono::{DateTime, Utc};

use super::notification::{hint, Hint};
use super::s3;
use crate::aws::Aws;

/// How long a received notification stays invisible while its pass runs (a backfill pass can
/// take minutes; a message whose pass fails comes back after this).
const VISIBILITY_SECS: i32 = 900;
/// Versions downloaded ahead of the one landing.
const DOWNLOADS_AHEAD: usize = 4;
/// A transaction commits once it holds this many rows or versions (docs/performance.md,
/// Stream v2 backfill: a commit per hourly file landed 12,400 rows/s, batches 14,800).
const BATCH_MAX_ROWS: i64 = 200_000;
const BATCH_MAX_VERSIONS: usize = 500;
/// How long to wait after a failed pass.
const RETRY_AFTER: Duration = Duration::from_secs(30);

pub struct V2Loaders {
    store: Store,
    aws: Aws,
    every: Duration,
    sweep: Duration,
    wait_seconds: i32,
    spool: PathBuf,
    running: HashMap<(uuid::Uuid, String), (SpawnHandle, String)>,
}

impl V2Loaders {
    /// `every`: how often the destinations are read again; `sweep`: how often each loader lists
    /// its whole bucket unprompted; `wait_seconds`: its notification queue's long poll.
    pub fn new(store: Store, aws: Aws, every: Duration, sweep: Duration, wait_seconds: i32, spool: PathBuf) -> V2Loaders {
        V2Loaders { store, aws, every, sweep, wait_seconds, spool, running: HashMap::new() }
    }

    fn reconcile(&mut self, ctx: &mut Context<Self>) {
        let store = self.store.clone();
        ctx.spawn(fut::wrap_future::<_, Self>(async move { store.active_v2_destinations().await }).map(
            |result, this, ctx| match result {
                Ok(destinations) => this.apply(destinations, ctx),
                Err(e) => tracing::warn!(error = %e, "Stream v2 destinations could not be read; loaders left as they are"),
            },
        ));
    }

    fn apply(&mut self, destinations: Vec<ActiveDestination>, ctx: &mut Context<Self>) {
        let mut wanted = HashMap::new();
        for d in destinations {
            // What the loader was started with: a change (another bucket, queue or role)
            // restarts it.
            let fingerprint = format!("{}|{}|{}|{}", d.bucket, d.queue_url, d.role_arn, d.tenant);
            wanted.insert((d.account_id, d.region.clone()), (d, fingerprint));
        }
        self.running.retain(|key, (handle, fingerprint)| {
            let keep = wanted.get(key).is_some_and(|(_, f)| f == fingerprint);
            if !keep {
                ctx.cancel_future(*handle);
                tracing::info!(account = %key.0, region = %key.1, "Stream v2 loader stopped");
            }
            keep
        });
        for (key, (d, fingerprint)) in wanted {
            if self.running.contains_key(&key) {
                continue;
            }
            tracing::info!(account = %d.account_id, region = %d.region, bucket = %d.bucket, "Stream v2 loader started");
            let loader = Loader {
                store: self.store.clone(),
                aws: self.aws.clone(),
                sweep: self.sweep,
                wait_seconds: self.wait_seconds,
                spool: self.spool.clone(),
                d,
            };
            let handle = ctx.spawn(fut::wrap_future::<_, Self>(loader.run()));
            self.running.insert(key, (handle, fingerprint));
        }
    }
}

impl Actor for V2Loaders {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.reconcile(ctx);
        ctx.run_interval(self.every, |this, ctx| this.reconcile(ctx));
    }
}

struct Loader {
    store: Store,
    aws: Aws,
    sweep: Duration,
    wait_seconds: i32,
    spool: PathBuf,
    d: ActiveDestination,
}

/// What a pass did.
#[derive(Default)]
struct Pass {
    landed: usize,
    quarantined: usize,
    /// The newest `LastModified` of a whole-bucket listing whose every version is handled.
    listed_through: Option<DateTime<Utc>>,
}

impl Loader {
    async fn run(self) {
        let account = self.aws.account(Some(&self.d.role_arn), &self.d.external_id, AccountId(self.d.account_id)).await;
        let (sqs, s3) = (account.sqs(&self.d.region), account.s3(&self.d.region));
        let mut last_sweep: Option<Instant> = None;
        loop {
            let received = sqs
                .receive_message()
                .queue_url(&self.d.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(self.wait_seconds)
                .visibility_timeout(VISIBILITY_SECS)
                .send()
                .await;
            let messages = match received {
                Ok(r) => r.messages.unwrap_or_default(),
                Err(e) => {
                    let error = format!("receiving from the notification queue: {}", crate::aws::describe(&e));
                    self.failed(&error).await;
                    continue;
                }
            };
            let sweep_due = last_sweep.is_none_or(|t| t.elapsed() >= self.sweep);
            if messages.is_empty() && !sweep_due {
                continue;
            }
            let bodies: Vec<&str> = messages.iter().filter_map(|m| m.body()).collect();
            let hint = if messages.is_empty() { Hint::Anywhere } else { hint(&bodies, &self.d.bucket) };
            let whole = hint == Hint::Anywhere;
            match self.pass(&s3, hint).await {
                Ok(pass) => {
                    if whole {
                        last_sweep = Some(Instant::now());
                    }
                    if let Err(e) = self
                        .store
                        .record_v2_pass(self.d.account_id, &self.d.region, pass.listed_through, pass.landed + pass.quarantined > 0, None)
                        .await
                    {
                        tracing::warn!(account = %self.d.account_id, error = %e, "Stream v2 pass not recorded");
                    }
                    // Only now, with every version the messages could name landed.
                    for m in &messages {
                        if let Some(receipt) = m.receipt_handle() {
                            if let Err(e) = sqs.delete_message().queue_url(&self.d.queue_url).receipt_handle(receipt).send().await {
                                tracing::warn!(account = %self.d.account_id, error = %crate::aws::describe(&e), "a Stream v2 notification was not deleted (it will wake a pass again)");
                            }
                        }
                    }
                    if pass.landed + pass.quarantined > 0 {
                        tracing::info!(account = %self.d.account_id, region = %self.d.region, landed = pass.landed, quarantined = pass.quarantined, "Stream v2 pass");
                    }
                }
                Err(error) => self.failed(&error).await,
            }
        }
    }

    async fn failed(&self, error: &str) {
        tracing::warn!(account = %self.d.account_id, region = %self.d.region, %error, "Stream v2 pass failed; retried");
        let _ = self.store.record_v2_pass(self.d.account_id, &self.d.region, None, false, Some(error)).await;
        tokio::time::sleep(RETRY_AFTER).await;
    }

    async fn pass(&self, s3: &aws_sdk_s3::Client, hint: Hint) -> Result<Pass, String> {
        let Some(state) = self.store.v2_loader_state(self.d.account_id, &self.d.region).await.map_err(|e| e.to_string())? else {
            return Ok(Pass::default());
        };
        let (versions, whole) = match &hint {
            Hint::Anywhere => (s3::list_versions(s3, &self.d.bucket, None).await?, true),
            Hint::Keys(keys) => {
                let mut all = Vec::new();
                for key in keys {
                    let listed = s3::list_versions(s3, &self.d.bucket, Some(key)).await?;
                    all.extend(listed.into_iter().filter(|v| &v.key == key));
                }
                (all, false)
            }
        };
        let newest = versions.iter().map(|v| v.last_modified).max();
        let since = match (whole, state.listed_through) {
            (true, Some(w)) => w - WATERMARK_MARGIN,
            _ => versions.iter().map(|v| v.last_modified).min().unwrap_or_default(),
        };
        let schema = TenantSchema::of(&self.d.tenant);
        let landed = self.store.landed_v2_versions(&schema, self.d.account_id, since).await.map_err(|e| e.to_string())?;
        let mut todo: Vec<_> = versions
            .into_iter()
            .filter(|v| v.last_modified >= since && !landed.contains(&(v.bucket.clone(), v.key.clone(), v.version_id.clone())))
            .collect();
        todo.sort_by(|a, b| a.last_modified.cmp(&b.last_modified).then_with(|| a.key.cmp(&b.key)));
        let target = Target { schema: &schema, account: self.d.account_id, declared: &state.declared };
        let mut pass = Pass::default();
        // Files download and are read a few ahead, each in a task of its own, while the one
        // before lands (Postgres takes one file while the next is read); small files (a
        // backfill's hourly ones) share a transaction, each in its own savepoint.
        let ahead = |object: &ams_store::stream_v2::ObjectVersion| {
            let (s3, object, spool, account) = (s3.clone(), object.clone(), self.spool.clone(), self.d.account_id);
            tokio::spawn(async move {
                let file = s3::download(&s3, &object, &spool).await?;
                let prepared = ams_store::stream_v2::prepare(account, &object, &file.path).await.map_err(|e| e.to_string())?;
                Ok::<_, String>(prepared)
            })
        };
        let mut pending: std::collections::VecDeque<_> = todo.iter().take(DOWNLOADS_AHEAD).map(ahead).collect();
        let mut batch = self.store.begin_v2_batch(&target).await.map_err(|e| e.to_string())?;
        for (i, object) in todo.iter().enumerate() {
            let prepared = pending.pop_front().expect("one task per version").await.map_err(|e| format!("reading a version stopped: {e}"))??;
            if let Some(next) = todo.get(i + DOWNLOADS_AHEAD) {
                pending.push_back(ahead(next));
            }
            match batch.land_prepared(object, prepared).await.map_err(|e| e.to_string())? {
                Landed::Loaded { rows, ref table, .. } => {
                    pass.landed += 1;
                    tracing::debug!(key = %object.key, version_id = %object.version_id, rows, table = %table, "Stream v2 object landed");
                }
                Landed::Quarantined { .. } => pass.quarantined += 1,
                Landed::AlreadyLanded => {}
            }
            if batch.rows() >= BATCH_MAX_ROWS || batch.versions() >= BATCH_MAX_VERSIONS {
                batch.commit().await.map_err(|e| e.to_string())?;
                batch = self.store.begin_v2_batch(&target).await.map_err(|e| e.to_string())?;
            }
        }
        batch.commit().await.map_err(|e| e.to_string())?;
        if whole {
            pass.listed_through = newest;
        }
        Ok(pass)
    }
}
