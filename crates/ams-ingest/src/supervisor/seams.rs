//! What the supervisor needs from outside the process, behind two seams so that it can be
//! unit-tested with neither Postgres nor AWS: the control plane (registered queues, leases,
//! saved states; `Store` in production) and the connector (an account's credentials and a
//! queue's SQS client; `AwsConnector` in production).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ams_store::control::consumer_state::ConsumerStateRow;
use ams_store::control::registry::ActiveQueue;
use ams_store::{QueueId, Store, StoreError};
use futures_util::future::LocalBoxFuture;

use crate::aws::{AccountAws, Aws};
use crate::pipeline::QueueContext;
use crate::queue::{Queue, SqsClient, SqsError};

pub trait Control {
    /// Every queue of an active account of an active tenant.
    fn active_queues(&self) -> LocalBoxFuture<'_, Result<Vec<ActiveQueue>, StoreError>>;
    /// One lease round (ams_store's leases.rs): the queues this replica consumes now.
    fn lease_queues<'a>(&'a self, replica: &'a str, active: &'a [QueueId], ttl: Duration)
        -> LocalBoxFuture<'a, Result<HashSet<QueueId>, StoreError>>;
    fn save_consumer_states<'a>(&'a self, rows: &'a [ConsumerStateRow]) -> LocalBoxFuture<'a, Result<(), StoreError>>;
    fn release_leases<'a>(&'a self, replica: &'a str) -> LocalBoxFuture<'a, Result<(), StoreError>>;
}

impl Control for Store {
    fn active_queues(&self) -> LocalBoxFuture<'_, Result<Vec<ActiveQueue>, StoreError>> {
        Box::pin(Store::active_queues(self))
    }

    fn lease_queues<'a>(&'a self, replica: &'a str, active: &'a [QueueId], ttl: Duration)
        -> LocalBoxFuture<'a, Result<HashSet<QueueId>, StoreError>> {
        Box::pin(Store::lease_queues(self, replica, active, ttl))
    }

    fn save_consumer_states<'a>(&'a self, rows: &'a [ConsumerStateRow]) -> LocalBoxFuture<'a, Result<(), StoreError>> {
        Box::pin(Store::save_consumer_states(self, rows))
    }

    fn release_leases<'a>(&'a self, replica: &'a str) -> LocalBoxFuture<'a, Result<(), StoreError>> {
        Box::pin(Store::release_leases(self, replica))
    }
}

pub trait Connector {
    /// What reaches the queue's account: its role's credentials, or the platform's own.
    fn account<'a>(&'a self, q: &'a ActiveQueue) -> LocalBoxFuture<'a, AccountAws>;
    /// The queue's SQS client.
    fn queue(&self, q: &QueueContext) -> Result<Arc<dyn Queue>, SqsError>;
}

/// AWS as configured (`Aws::from_env`), with the configured SQS client.
pub struct AwsConnector {
    pub aws: Aws,
    pub client: SqsClient,
}

impl Connector for AwsConnector {
    fn account<'a>(&'a self, q: &'a ActiveQueue) -> LocalBoxFuture<'a, AccountAws> {
        Box::pin(self.aws.account(q.aws_role_arn.as_deref(), &q.external_id, q.account_id))
    }

    fn queue(&self, q: &QueueContext) -> Result<Arc<dyn Queue>, SqsError> {
        crate::consumer::connect(q, self.client)
    }
}
