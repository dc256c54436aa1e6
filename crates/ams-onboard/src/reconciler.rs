//! The Ads reconciler: makes Amazon's Marketing Stream subscriptions match what agencies
//! declared (`PUT …/accounts/{id}/streams`). One actor per process; only the replica holding
//! the `ads-reconciler` leader lease acts (the lease lives and dies with the replica's
//! heartbeat, like the queue leases), so two replicas never race on one subscription.
//!
//! A pass:
//!
//! 1. reads the desired state: every declared sponsored-ads dataset in every marketplace that
//!    has a seller or vendor profile, and every declared DSP dataset for every DSP advertiser
//!    (DSP subscriptions belong to the DSP advertiser, not to a profile), each with a live
//!    connection and a queue in its AMS region;
//! 2. writes a row for each wanted subscription that has none, with a `clientRequestToken`
//!    derived from (marketplace or DSP advertiser, dataset, destination, generation), *before*
//!    asking Amazon: a crash between the request and its answer leaves the row, the next pass
//!    finds the subscription in Amazon's list (or Amazon answers the same token with the same
//!    subscription), and no duplicate is made;
//! 3. per connection and scope (profile, or DSP advertiser) lists Amazon's subscriptions once,
//!    then for each row: adopts an existing live subscription with the same dataset and
//!    destination, or creates one; records Amazon's status; archives what is no longer wanted
//!    (dataset undeclared, marketplace, advertiser or account deleted, connection deleted);
//!    replaces (next generation) what failed confirmation or provisioning; and stops at
//!    SUSPENDED, showing why. Amazon archives only ACTIVE subscriptions: a dead one it refuses
//!    to archive is released (let go, asked once), one on its way waits until it is ACTIVE.
//!
//! Errors stay on the row (`last_error`) and the pass goes on. Only Login with Amazon's
//! definitive refusal turns a connection `invalid` (only its rows wait); a profile or advertiser
//! the login lost stops that scope's rows; throttling and outages bring the next pass sooner,
//! refusals wait for the scheduled one.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use actix::prelude::*;
use ams_model::{queue_arn, DatasetId, Realm};
use ams_store::control::streams::{DesiredStream, StreamRow};
use ams_store::{Keyring, Store, StoreError, StreamStatus};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::ads::client::{Login, Scope};
use crate::ads::{AdsApp, AdsClient, AdsError, StreamSubscription};

mod v2;


/// The leader lease's role name.
pub const ROLE: &str = "ads-reconciler";


#[derive(Debug, Clone)]
pub struct ReconcilerConfig {
    /// A pass this often when everything is settled (`AMS_HUB_ADS_SYNC_SECS`).
    pub sync_every: Duration,
    /// …and this often while a subscription is on its way (requested, provisioning, waiting
    /// for its confirmation) (`AMS_HUB_ADS_PENDING_SYNC_SECS`).
    pub pending_every: Duration,
}

impl Default for ReconcilerConfig {
    fn default() -> Self {
        ReconcilerConfig { sync_every: Duration::from_secs(300), pending_every: Duration::from_secs(10) }
    }
}

pub struct Reconciler {
    /// What a pass works with (cloned into each).
    work: Pass,
    replica: String,
    config: ReconcilerConfig,
    running: bool,
    again: bool,
    next: Option<SpawnHandle>,
}

/// Run a pass now (after a change through the API).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SyncNow;

/// Stop (at shutdown, while the runtime still runs: the sync listener's connection must be
/// dropped inside it, or sqlx panics closing it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

impl Reconciler {
    pub fn new(
        store: Store,
        client: AdsClient,
        keyring: Keyring,
        platform_app: Option<AdsApp>,
        replica: String,
        config: ReconcilerConfig,
    ) -> Reconciler {
        let work = Pass { store, client, keyring, platform_app };
        Reconciler { work, replica, config, running: false, again: false, next: None }
    }

    fn pass(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            self.again = true;
            return;
        }
        if let Some(h) = self.next.take() {
            ctx.cancel_future(h);
        }
        self.running = true;
        let work = self.work.clone();
        let replica = self.replica.clone();
        let fut = async move {
            if !work.store.lead(ROLE, &replica).await? {
                return Ok(None);
            }
            work.run().await.map(Some)
        };
        ctx.spawn(fut.into_actor(self).map(|result: Result<Option<bool>, StoreError>, act, ctx| {
            act.running = false;
            let pending = match result {
                Ok(Some(pending)) => pending,
                Ok(None) => false,
                Err(e) => {
                    tracing::warn!(error = %e, "Ads reconciler pass failed; retrying");
                    true
                }
            };
            if std::mem::take(&mut act.again) {
                return act.pass(ctx);
            }
            let wait = if pending { act.config.pending_every } else { act.config.sync_every };
            act.next = Some(ctx.run_later(wait, |act, ctx| act.pass(ctx)));
        }));
    }
}

impl Actor for Reconciler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.pass(ctx);
        // A change made through any replica's API wakes the reconciler here (it may be the
        // leader): Postgres NOTIFY on `SYNC_CHANNEL`. Only a wake-up; passes stay the truth.
        let (store, me) = (self.work.store.clone(), ctx.address());
        ctx.spawn(
            async move {
                loop {
                    match listen(&store, &me).await {
                        Ok(()) => return,
                        Err(e) => {
                            tracing::debug!(error = %e, "Ads sync listener lost its connection; listening again");
                            tokio::time::sleep(Duration::from_secs(5)).await;
                        }
                    }
                }
            }
            .into_actor(self),
        );
    }
}

/// The Postgres channel the API notifies after a change the Ads reconciler acts on.
pub const SYNC_CHANNEL: &str = "ams_hub_ads_sync";

/// Forwards every notification on [`SYNC_CHANNEL`] as a [`SyncNow`]; returns when the actor
/// is gone.
async fn listen(store: &Store, me: &Addr<Reconciler>) -> Result<(), sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect_with(store.pool()).await?;
    listener.listen(SYNC_CHANNEL).await?;
    loop {
        listener.recv().await?;
        if me.try_send(SyncNow).is_err() && !me.connected() {
            return Ok(());
        }
    }
}

/// Wakes the reconciler of every replica (the leader acts).
pub async fn notify_sync(store: &Store) {
    if let Err(e) = sqlx::query("SELECT pg_notify($1, '')").bind(SYNC_CHANNEL).execute(store.pool()).await {
        tracing::debug!(error = %e, "could not notify the Ads reconcilers; the next scheduled pass picks the change up");
    }
}

impl Handler<Stop> for Reconciler {
    type Result = ();
    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<SyncNow> for Reconciler {
    type Result = ();
    fn handle(&mut self, _: SyncNow, ctx: &mut Context<Self>) {
        self.pass(ctx);
    }
}

/// The `clientRequestToken` of (scope, dataset, destination, generation), where the scope is
/// the marketplace (sponsored ads) or the DSP advertiser: the same inputs always give the same
/// token, so a repeated create is recognised by Amazon. UUID-shaped (36 characters): Amazon
/// takes 22 to 36 and suggests a GUID.
pub fn client_request_token(scope: Uuid, dataset: &str, destination: &str, generation: i32) -> String {
    let digest = Sha256::new()
        .chain_update(scope.as_bytes())
        .chain_update(dataset.as_bytes())
        .chain_update([0])
        .chain_update(destination.as_bytes())
        .chain_update(generation.to_be_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid().hyphenated().to_string()
}

/// What one subscription is for: the key both the desired state and the rows are matched on
/// (marketplace or DSP advertiser, dataset, destination).
type Key = (Uuid, DatasetId, String);

#[derive(Clone)]
struct Pass {
    store: Store,
    client: AdsClient,
    keyring: Keyring,
    platform_app: Option<AdsApp>,
}


impl Pass {
    /// One pass; `Ok(true)` when something is still on its way (pass again soon).
    async fn run(&self) -> Result<bool, StoreError> {
        let pending = self.run_from(0).await?;
        self.run_v2().await?;
        Ok(pending)
    }

    /// A pass, `depth` passes after the first of this round (a pass runs again at once when it
    /// replaced failed subscriptions, a bounded number of times).
    async fn run_from(&self, depth: u32) -> Result<bool, StoreError> {
        let wanted = self.wanted().await?;
        // Rows for wanted subscriptions that have none (or only archived or released ones).
        let open = self.store.open_streams().await?;
        let covered: HashSet<Key> = open.iter().filter_map(row_key).collect();
        for (key, (d, dest)) in &wanted {
            if !covered.contains(key) {
                let generation = self.store.stream_generation(d.scope_id(), d.dataset_id, dest).await?.map_or(0, |g| g + 1);
                let token = client_request_token(d.scope_id(), d.dataset_id.as_str(), dest, generation);
                self.store.insert_stream(d, dest, generation, &token).await?;
            }
        }
        let open = self.store.open_streams().await?;
        let tracked: HashSet<String> = open.iter().filter_map(|r| r.subscription_id.clone()).collect();
        let mut groups: HashMap<(Option<Uuid>, String, bool), Vec<StreamRow>> = HashMap::new();
        for row in open {
            let dsp = row.dataset_id.is_dsp();
            let scope_id = if dsp { row.advertiser_id.clone().unwrap_or_default() } else { row.profile_id.clone() };
            groups.entry((row.connection_id, scope_id, dsp)).or_default().push(row);
        }
        let mut pending = false;
        let mut recreate = false;
        let mut logins: HashMap<Option<Uuid>, Result<(AdsApp, Realm, String), String>> = HashMap::new();
        for ((connection, scope_id, dsp), rows) in groups {
            let scope = if dsp { Scope::Dsp(&scope_id) } else { Scope::Profile(&scope_id) };
            // One login per connection and pass (its secrets opened once, whatever its scopes).
            if !logins.contains_key(&connection) {
                let login = self.login(connection).await?;
                logins.insert(connection, login);
            }
            let outcome = self.group(connection, &logins[&connection], scope, &rows, &wanted, &tracked).await?;
            if let Some(why) = &outcome.invalidated {
                logins.insert(connection, Err(format!("the connection is invalid: {why}")));
            }
            pending |= outcome.pending;
            recreate |= outcome.recreate;
        }
        self.store.purge_deleted_connections().await?;
        if recreate && depth < 3 {
            // Failed subscriptions were archived or released: their next generation is
            // created at once.
            return Box::pin(self.run_from(depth + 1)).await;
        }
        Ok(pending || recreate)
    }

    /// The desired state, by key, with each subscription's destination queue ARN: sponsored-ads
    /// datasets per marketplace, DSP datasets per DSP advertiser.
    async fn wanted(&self) -> Result<HashMap<Key, (DesiredStream, String)>, StoreError> {
        let mut wanted = HashMap::new();
        for d in self.store.desired_streams().await? {
            if d.dataset_id.is_dsp() != d.dsp_advertiser_id.is_some() {
                continue;
            }
            let Some(dest) = queue_arn(&d.queue_url, &d.queue_region) else {
                tracing::warn!(queue = %d.queue_url, "a queue URL without an account and name: no subscription to it");
                continue;
            };
            wanted.insert((d.scope_id(), d.dataset_id, dest.clone()), (d, dest));
        }
        Ok(wanted)
    }

    /// The login of a connection, or why there is none.
    async fn login(&self, connection: Option<Uuid>) -> Result<Result<(AdsApp, Realm, String), String>, StoreError> {
        let Some(id) = connection else { return Ok(Err("the connection was deleted before this subscription was archived".into())) };
        let login = match self.store.connection_login(&self.keyring, id).await? {
            None => return Ok(Err("the connection is gone".into())),
            Some(Err(e)) => return Ok(Err(e.to_string())),
            Some(Ok(l)) => l,
        };
        if login.connection.status == ams_store::ConnectionStatus::Invalid {
            return Ok(Err(format!(
                "the connection is invalid: {}",
                login.connection.invalid_reason.as_deref().unwrap_or("Amazon refused its token")
            )));
        }
        Ok(crate::ads::login_parts(login, self.platform_app.as_ref()))
    }

    async fn group(
        &self,
        connection: Option<Uuid>,
        login: &Result<(AdsApp, Realm, String), String>,
        scope: Scope<'_>,
        rows: &[StreamRow],
        wanted: &HashMap<Key, (DesiredStream, String)>,
        tracked: &HashSet<String>,
    ) -> Result<Outcome, StoreError> {
        let mut outcome = Outcome::default();
        let is_wanted =
            |row: &StreamRow| row_key(row).is_some_and(|k| wanted.get(&k).is_some_and(|(d, _)| Some(d.connection_id) == row.connection_id));
        let (app, realm, refresh_token) = match login {
            Ok(l) => l,
            Err(why) => {
                for r in rows {
                    if r.last_error.as_deref() != Some(why.as_str()) {
                        self.store.update_stream(r.id, None, None, Some(why)).await?;
                    }
                }
                return Ok(outcome);
            }
        };
        let login = Login { app, realm: *realm, refresh_token };
        let listed = match self.client.list_subscriptions(&login, scope).await {
            Ok(l) => l,
            Err(e) => {
                // A scope Amazon refuses holds nothing of ours that we do not know of: a row
                // nobody wants that Amazon never answered for is done with.
                if !e.is_transient() && !e.invalidates_login() {
                    for r in rows.iter().filter(|r| r.subscription_id.is_none() && !is_wanted(r)) {
                        self.store.update_stream(r.id, None, Some(StreamStatus::Archived), None).await?;
                    }
                }
                let open: Vec<StreamRow> = rows.iter().filter(|r| r.subscription_id.is_some() || is_wanted(r)).cloned().collect();
                let invalidated = self.failed(connection, &open, &e).await?;
                return Ok(Outcome { pending: e.is_transient(), invalidated, ..outcome });
            }
        };
        let mut adopted: HashSet<String> = HashSet::new();
        for (i, row) in rows.iter().enumerate() {
            let on_amazon = row.subscription_id.as_deref().and_then(|id| listed.iter().find(|s| s.subscription_id == id)).or_else(|| {
                // Not created yet as far as we know: one Amazon made for the same dataset and
                // destination (ours before a crash, or someone's by hand) is adopted.
                if row.subscription_id.is_some() {
                    return None;
                }
                // A failed or suspended one is dead: adopting it would only replace it again.
                listed.iter().find(|s| {
                    s.data_set_id == row.dataset_id.as_str()
                        && s.queue_arn() == Some(row.destination_arn.as_str())
                        && !matches!(s.status, Some(StreamStatus::Archived | StreamStatus::Suspended))
                        && !s.status.is_some_and(StreamStatus::is_failed)
                        && !tracked.contains(&s.subscription_id)
                        && !adopted.contains(&s.subscription_id)
                })
            });
            if let Some(s) = on_amazon {
                adopted.insert(s.subscription_id.clone());
            }
            let result = if is_wanted(row) {
                self.keep(&login, scope, row, on_amazon, &mut outcome).await
            } else {
                self.retire(&login, scope, row, on_amazon).await
            };
            if let Err(e) = result {
                if e.invalidates_login() || e.concerns_scope() {
                    // The login (or its access to this profile or advertiser) is refused: the
                    // rest of the scope would be refused too.
                    let invalidated = self.failed(connection, &rows[i..], &e).await?;
                    return Ok(Outcome { invalidated, ..outcome });
                }
                self.store.update_stream(row.id, None, None, Some(&explain(&e))).await?;
                outcome.pending |= e.is_transient();
            }
        }
        Ok(outcome)
    }

    /// A wanted row: created (or adopted), its status recorded, recreated after a failure.
    async fn keep(
        &self,
        login: &Login<'_>,
        scope: Scope<'_>,
        row: &StreamRow,
        on_amazon: Option<&StreamSubscription>,
        outcome: &mut Outcome,
    ) -> Result<(), AdsError> {
        let (id, status) = match on_amazon {
            Some(s) => (s.subscription_id.clone(), s.status),
            None if row.subscription_id.is_some() => {
                // Listed pages missed it (or Amazon dropped it): ask for it by id.
                let s = self.client.get_subscription(login, scope, row.subscription_id.as_deref().unwrap_or_default()).await?;
                (s.subscription_id, s.status)
            }
            None => {
                let notes = format!("ams-hub {}", row.client_request_token);
                let created = self
                    .client
                    .create_subscription(login, scope, row.dataset_id.as_str(), &row.destination_arn, &row.client_request_token, &notes)
                    .await?;
                tracing::info!(dataset = %row.dataset_id, profile = %row.profile_id, subscription = %created.subscription_id, "Marketing Stream subscription created");
                (created.subscription_id, None)
            }
        };
        let status = status.unwrap_or(StreamStatus::Provisioning);
        if status.is_failed() {
            // Its place (two per advertiser and dataset) is freed if Amazon archives it; the
            // next generation replaces it either way.
            match self.client.archive_subscription(login, scope, &id).await {
                Ok(()) | Err(AdsError::Rejected { status: 404, .. }) => {
                    let why = format!("{status}: archived and created again");
                    self.store.update_stream(row.id, Some(&id), Some(StreamStatus::Archived), Some(&why)).await.map_err(store_err)?;
                }
                Err(AdsError::Rejected { status: code, message, .. }) if code != 403 => {
                    let why = format!(
                        "{status}: Amazon would not archive it ({code}: {message}; Amazon archives only ACTIVE subscriptions), \
                         so ams-hub let it go and created the next generation"
                    );
                    self.store.release_stream(row.id, &id, status, &why).await.map_err(store_err)?;
                }
                Err(e) => return Err(e),
            }
            outcome.recreate = true;
            return Ok(());
        }
        let error = (status == StreamStatus::Suspended).then(|| {
            "SUSPENDED by Amazon: delivery stopped after repeated failures or the login lost access to this advertiser; \
             Amazon cannot reactivate it (fix the destination or connect a login with access, then declare the dataset again)"
                .to_owned()
        });
        if !status.is_settled() {
            outcome.pending = true;
        }
        self.store.update_stream(row.id, Some(&id), Some(status), error.as_deref()).await.map_err(store_err)?;
        Ok(())
    }

    /// A row nothing wants: its subscription archived at Amazon. Amazon archives only ACTIVE
    /// subscriptions: a failed or suspended one it refuses is released (it delivers nothing);
    /// one on its way waits until it is ACTIVE (or has failed).
    async fn retire(&self, login: &Login<'_>, scope: Scope<'_>, row: &StreamRow, on_amazon: Option<&StreamSubscription>) -> Result<(), AdsError> {
        let id = on_amazon.map(|s| s.subscription_id.clone()).or_else(|| row.subscription_id.clone());
        let status = on_amazon.map_or(row.status, |s| s.status.unwrap_or(StreamStatus::Provisioning));
        if let Some(id) = &id {
            if status != StreamStatus::Archived {
                match self.client.archive_subscription(login, scope, id).await {
                    // A 404: already gone at Amazon, nothing left to archive.
                    Ok(()) | Err(AdsError::Rejected { status: 404, .. }) => {}
                    Err(AdsError::Rejected { status: code, message, .. }) if code != 403 => {
                        if status.is_failed() || status == StreamStatus::Suspended {
                            let why = format!("{status}: Amazon would not archive it ({code}: {message}); it delivers nothing, so ams-hub let it go");
                            return self.store.release_stream(row.id, id, status, &why).await.map_err(store_err);
                        }
                        let why = format!(
                            "no longer wanted; Amazon would not archive it while {status} ({code}: {message}): archived once it is ACTIVE, or let go once it has failed"
                        );
                        return self.store.update_stream(row.id, Some(id), Some(status), Some(&why)).await.map_err(store_err);
                    }
                    Err(e) => return Err(e),
                }
            }
            tracing::info!(dataset = %row.dataset_id, profile = %row.profile_id, subscription = %id, "Marketing Stream subscription archived");
        }
        self.store.update_stream(row.id, id.as_deref(), Some(StreamStatus::Archived), None).await.map_err(store_err)
    }

    /// A call failed for these rows: Amazon's definitive refusal of the login turns the
    /// connection invalid (and the reason is returned); anything else stays on the rows.
    async fn failed(&self, connection: Option<Uuid>, rows: &[StreamRow], e: &AdsError) -> Result<Option<String>, StoreError> {
        let message = explain(e);
        if e.invalidates_login() {
            if let Some(c) = connection {
                tracing::warn!(connection = %c, error = %message, "Amazon refused a connection's login: marked invalid");
                self.store.set_connection_status(c, Some(&message)).await?;
            }
        } else {
            tracing::warn!(error = %message, "Amazon Ads API call failed; retried at the next pass");
        }
        for r in rows {
            self.store.update_stream(r.id, None, None, Some(&message)).await?;
        }
        Ok(e.invalidates_login().then_some(message))
    }
}

fn store_err(e: StoreError) -> AdsError {
    // Shown to tenants on the row: no database internals, only that it was not recorded.
    tracing::warn!(error = %e, "recording a subscription's state failed");
    AdsError::Unavailable("ams-hub could not record Amazon's answer; retried at the next pass".into())
}

/// An error as a row shows it, with what happens next.
fn explain(e: &AdsError) -> String {
    match e {
        AdsError::Rejected { status: 409, message, .. } => format!(
            "Amazon answered 409 ({message}): Amazon keeps at most two subscriptions per dataset and advertiser; \
             retried at the next scheduled pass (archive one at Amazon to free a place)"
        ),
        e if e.concerns_scope() => format!("{e}: the login no longer reaches this profile or advertiser; retried at the next scheduled pass"),
        e => e.to_string(),
    }
}

#[derive(Default)]
struct Outcome {
    pending: bool,
    recreate: bool,
    /// Amazon refused the connection's login (why).
    invalidated: Option<String>,
}

/// A row's key, if its account and its marketplace or DSP advertiser still exist.
fn row_key(r: &StreamRow) -> Option<Key> {
    r.account_id?;
    Some((r.scope_id()?, r.dataset_id, r.destination_arn.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_token_is_a_function_of_what_the_subscription_is_for() {
        let m = Uuid::from_u128(7);
        let t = client_request_token(m, "sp-traffic", "arn:aws:sqs:us-east-1:1:q", 0);
        assert_eq!(t, client_request_token(m, "sp-traffic", "arn:aws:sqs:us-east-1:1:q", 0));
        assert_ne!(t, client_request_token(m, "sp-traffic", "arn:aws:sqs:us-east-1:1:q", 1));
        assert_ne!(t, client_request_token(m, "sp-conversion", "arn:aws:sqs:us-east-1:1:q", 0));
        assert_ne!(t, client_request_token(Uuid::from_u128(8), "sp-traffic", "arn:aws:sqs:us-east-1:1:q", 0));
        assert!((22..=36).contains(&t.len()), "Amazon takes 22 to 36 characters: {t}");
    }
}
