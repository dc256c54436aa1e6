//! The one place the runtime and the API meet: the API's [`RuntimeHandle`] answered by the
//! supervisor (reconcile, readiness) and the runtime's metrics; and onboarding's view of AWS
//! answered with the runtime's identity.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use actix::Addr;
use ams_api::RuntimeHandle;
use ams_ingest::queue::sdk::queue_attributes;
use ams_ingest::{metrics, FailureKind, GetStatus, Reconcile, Supervisor};
use ams_onboard::stack::{AwsProbe, ProbeError, RoleProbe};
use ams_store::{AccountId, Store};
use futures_util::future::BoxFuture;

pub struct Runtime {
    supervisor: Addr<Supervisor>,
    store: Store,
    /// The Ads connection counts `/metrics` last read (shown while Postgres does not answer).
    connection_counts: Mutex<Vec<(ams_store::TenantSlug, ams_store::ConnectionStatus, i64)>>,
}

impl Runtime {
    pub fn new(supervisor: Addr<Supervisor>, store: Store) -> Runtime {
        Runtime { supervisor, store, connection_counts: Mutex::default() }
    }
}

impl RuntimeHandle for Runtime {
    fn reconcile(&self) {
        self.supervisor.do_send(Reconcile);
    }

    fn is_running(&self) -> bool {
        self.supervisor.connected()
    }

    fn metrics(&self) -> BoxFuture<'_, String> {
        Box::pin(async move {
            let reports = self.supervisor.send(GetStatus).await.unwrap_or_default();
            let mut out = String::new();
            metrics::encode_consumers(&mut out, &reports);
            // Metrics must answer while Postgres does not (that is when they matter): the counts
            // are read with a short timeout, and the last ones read are shown otherwise.
            let rows = match tokio::time::timeout(Duration::from_millis(300), self.store.connection_counts()).await {
                Ok(Ok(rows)) => {
                    *self.connection_counts.lock().unwrap() = rows.clone();
                    rows
                }
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "metrics: Ads connections not counted; showing the last counts");
                    self.connection_counts.lock().unwrap().clone()
                }
                Err(_) => self.connection_counts.lock().unwrap().clone(),
            };
            metrics::encode_ads_connections(&mut out, &rows);
            metrics::metrics().encode(&mut out);
            metrics::finish(&mut out);
            out
        })
    }
}

/// Stack verification's view of AWS (`ams_onboard::stack`), answered with the runtime's
/// identity: the same AssumeRole and clients the consumers use.
pub struct PlatformAws(pub ams_ingest::Aws);

struct Role {
    reach: ams_ingest::AccountAws,
}

impl AwsProbe for PlatformAws {
    fn as_role<'a>(&'a self, role_arn: &'a str, external_id: &'a str, account: AccountId) -> BoxFuture<'a, Box<dyn RoleProbe>> {
        Box::pin(async move { Box::new(Role { reach: self.0.account(Some(role_arn), external_id, account).await }) as Box<dyn RoleProbe> })
    }
}

impl RoleProbe for Role {
    fn queue_attributes<'a>(&'a self, region: &'a str, queue_url: &'a str) -> BoxFuture<'a, Result<HashMap<String, String>, ProbeError>> {
        Box::pin(async move {
            queue_attributes(&self.reach.sqs(region), queue_url).await.map_err(|e| match e.kind() {
                FailureKind::Credentials => ProbeError::Credentials,
                kind => ProbeError::Other(kind.as_str().to_owned()),
            })
        })
    }

    fn may_confirm<'a>(&'a self, region: &'a str, topic_arn: &'a str) -> BoxFuture<'a, Result<bool, String>> {
        Box::pin(self.reach.may_confirm(region, topic_arn))
    }

    fn bucket_versioning<'a>(&'a self, region: &'a str, bucket: &'a str) -> BoxFuture<'a, Result<Option<String>, ProbeError>> {
        Box::pin(async move {
            ams_ingest::stream_v2::bucket_versioning(&self.reach.s3(region), bucket).await.map_err(|e| match e {
                ams_ingest::stream_v2::ProbeFailure::Credentials => ProbeError::Credentials,
                ams_ingest::stream_v2::ProbeFailure::Other(why) => ProbeError::Other(why),
            })
        })
    }
}
