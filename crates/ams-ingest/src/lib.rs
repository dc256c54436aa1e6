//! The ams-hub runtime: many brands' SQS queues drained continuously into the tenant ledger,
//! with no message lost or counted twice whatever fails.
//!
//! The actors (supervisor, one consumer per queue, the normalizer, one writer per tenant) and
//! what travels between them are written once, in `pipeline.rs`.
//!
//! A message is deleted from SQS only after the transaction holding its rows (or its
//! quarantine row) committed; a crash anywhere means redelivery, which the ledger absorbs.
//! Where each job lives: decoding below, in `ams_store::ledger::decode`; the queue seam in `queue/` (the thin SQS
//! client in `queue/thin/`), the byte budget in `budget.rs`, the supervisor's seams in
//! `supervisor/seams.rs`, shutdown in `shutdown.rs`, log-and-count events in `events.rs`,
//! metrics in `metrics.rs`; alert rules on a timer in `alerts.rs`, webhook deliveries in
//! `webhooks.rs`. The data path in one picture: `docs/runtime.md`.

pub mod alerts;
mod aws;
mod config;
mod consumer;
pub mod events;
pub mod budget;
pub mod metrics;
mod normalizer;
pub mod pipeline;
pub mod queue;
mod retry;
pub mod shutdown;
mod status;
pub mod stream_v2;
mod supervisor;
pub mod upkeep;
pub mod webhooks;
mod writer;

pub use aws::{AccountAws, Aws};
pub use config::{list_or_commas, RuntimeConfig};
pub use status::{ConsumerReport, ConsumerState, ConsumerStatus, FailureKind};
pub use supervisor::{GetStatus, Reconcile, Shutdown, Supervisor};


use actix::{Actor, Addr};
use ams_store::Store;

/// Starts the runtime on the current actix system; returns the supervisor.
pub fn start(store: Store, aws: Aws, config: RuntimeConfig) -> Addr<Supervisor> {
    let shutdown = shutdown::ShutdownSignal::default();
    let budget = budget::MemoryBudget::new(config.inflight_bytes());
    tracing::info!(max_inflight_bytes = budget.total(), "memory budget for received messages");
    tracing::info!(sqs_client = config.sqs_client.as_str(), "SQS client (AMS_HUB_SQS_CLIENT)");
    metrics::metrics().set_memory_budget(budget.clone());
    let normalizer = normalizer::Normalizer::new(store.clone(), config.clone(), shutdown.clone()).start();
    if config.upkeep_secs > 0 {
        let upkeep = upkeep::LedgerUpkeep::new(store.clone(), std::time::Duration::from_secs(config.upkeep_secs));
        shutdown::start_until_shutdown(upkeep, &shutdown);
    }
    if config.alerts_secs > 0 {
        let sweep = alerts::AlertSweep::new(store.clone(), std::time::Duration::from_secs(config.alerts_secs));
        shutdown::start_until_shutdown(sweep, &shutdown);
    }
    // Deliveries are sent whatever raised them (alerts as records commit, the sweep, tests and
    // replays from the API), so the sender does not depend on the sweep.
    if config.webhook_senders > 0 {
        let hosts = ams_store::webhooks::rules::AllowedHosts::new(config.webhook_allow_http_hosts.iter().cloned());
        shutdown::start_until_shutdown(webhooks::WebhookSender::new(store.clone(), hosts, config.webhook_senders), &shutdown);
    }
    if config.v2_sweep_secs > 0 {
        let spool = config.v2_spool_dir.as_deref().map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let loaders = stream_v2::V2Loaders::new(
            store.clone(),
            aws.clone(),
            std::time::Duration::from_secs(config.reconcile_secs.max(1)),
            std::time::Duration::from_secs(config.v2_sweep_secs),
            config.wait_seconds,
            spool,
        );
        shutdown::start_until_shutdown(loaders, &shutdown);
    }
    Supervisor::new(store, aws, config, normalizer, shutdown, budget).start()
}
