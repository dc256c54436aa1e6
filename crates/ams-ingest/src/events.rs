//! Internal events, in the manner of Vector's `internal_events`: one struct per thing that
//! happens to the runtime, whose `emit` both logs it and counts it, so a log line and its
//! metric can neither disagree nor be forgotten one without the other. Secrets never reach
//! an event: errors here are SQS's, STS's or Postgres's own words.

use std::time::Duration;

use crate::metrics::{metrics, WriterMetrics};
use crate::queue::SqsError;
use crate::status::ConsumerFailure;

pub trait InternalEvent {
    fn emit(self);
}

/// An SQS call failed and will be tried again (`ams_hub_sqs_retries_total{call}`).
pub struct SqsCallRetried<'a> {
    pub call: &'static str,
    pub error: &'a SqsError,
    pub retry_in: Duration,
}

impl InternalEvent for SqsCallRetried<'_> {
    fn emit(self) {
        tracing::debug!(call = self.call, error = %self.error, retry_in_ms = self.retry_in.as_millis() as u64, "SQS call failed; retrying");
        metrics().sqs_retry(self.call);
    }
}

/// Messages whose visibility could not be extended while their batch waits for its commit
/// (`ams_hub_visibility_extension_failures_total{queue}`): at worst SQS redelivers them and
/// the ledger ignores them.
pub struct VisibilityExtensionFailed<'a> {
    pub queue: &'a str,
    pub messages: u64,
    /// The call's error; none when SQS answered but listed entries as failed.
    pub error: Option<&'a SqsError>,
}

impl InternalEvent for VisibilityExtensionFailed<'_> {
    fn emit(self) {
        match self.error {
            Some(e) => tracing::warn!(queue = %self.queue, messages = self.messages, error = %e, "could not extend visibility"),
            None => tracing::warn!(queue = %self.queue, failed = self.messages, "some visibility extensions failed"),
        }
        metrics().visibility_failures(self.queue, self.messages);
    }
}

/// A consumer failed; the supervisor restarts it after `retry_in`
/// (`ams_hub_consumer_failures_total{tenant,queue,kind}`).
pub struct ConsumerFailed<'a> {
    pub tenant: &'a str,
    pub queue: &'a str,
    pub failures: u32,
    pub retry_in: Duration,
    pub failure: &'a ConsumerFailure,
}

impl InternalEvent for ConsumerFailed<'_> {
    fn emit(self) {
        tracing::warn!(queue = %self.queue, tenant = %self.tenant, failures = self.failures,
            retry_in_ms = self.retry_in.as_millis() as u64, kind = self.failure.kind.as_str(), error = %self.failure, "consumer failed");
        metrics().consumer_failure(self.tenant, self.queue, self.failure.kind);
    }
}

/// A ledger write failed and will be retried (`ams_hub_write_failures_total{tenant}`).
pub struct LedgerWriteFailed<'a> {
    pub schema: &'a str,
    pub error: &'a ams_store::StoreError,
    pub retry_in: Duration,
    pub metrics: &'a WriterMetrics,
}

impl InternalEvent for LedgerWriteFailed<'_> {
    fn emit(self) {
        tracing::warn!(schema = %self.schema, error = %self.error, retry_in_ms = self.retry_in.as_millis() as u64, "ledger write failed; retrying");
        self.metrics.write_failed();
    }
}

/// An account's credentials could not be had (AssumeRole refused or unreachable)
/// (`ams_hub_credential_failures_total{account}`). The consumer's own failure says more.
pub struct CredentialsFailed<'a> {
    pub account: &'a str,
    pub error: &'a dyn std::fmt::Display,
}

impl InternalEvent for CredentialsFailed<'_> {
    fn emit(self) {
        tracing::debug!(account = %self.account, error = %self.error, "credentials failed");
        metrics().credential_failure(self.account);
    }
}
