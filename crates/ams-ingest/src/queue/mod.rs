//! The seam between a consumer and its SQS queue: the four calls a consumer makes (receive,
//! delete, change visibility, approximate backlog), behind one trait with three
//! implementations:
//! - the thin client (`crate::queue::thin::Sqs`), the default and the fast path;
//! - [`SdkQueue`], `aws-sdk-sqs`, chosen with `AMS_HUB_SQS_CLIENT=sdk` (`[runtime] sqs_client`)
//!   by operators who want the SDK's own retry, endpoint (FIPS, dual-stack) and credential
//!   behaviour, at several times the CPU per message (docs/performance.md);
//! - [`memory::MemoryQueue`], SQS's semantics in memory, for the actors' unit tests.
//!
//! Every implementation answers with the same [`Received`] and [`SqsError`], so the consumer and
//! the retry rules (thin/retry.rs) do not know which one they talk to.

pub mod memory;
pub mod sdk;
pub mod thin;

use std::time::SystemTime;

use futures_util::future::BoxFuture;
use serde::Deserialize;

pub use sdk::SdkQueue;

use crate::status::FailureKind;

/// A message off a queue, as ReceiveMessage returns it (before anything reads its body).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Received {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    #[serde(default)]
    pub attributes: Attributes,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attributes {
    pub sent_timestamp: Option<String>,
    pub approximate_receive_count: Option<String>,
}

/// The queue's approximate backlog (ApproximateNumberOfMessages / …NotVisible).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    pub visible: i64,
    pub in_flight: i64,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SqsError {
    #[error("credentials: {0}")]
    Credentials(String),
    /// The connection failed (refused, reset, TLS).
    #[error("{0}")]
    Transport(String),
    /// No answer in time (connect timeout, or the request timeout).
    #[error("{0}: no answer in time")]
    Timeout(String),
    /// A success status with a body that is not what the call answers.
    #[error("{0}")]
    Unreadable(String),
    /// SQS answered with an error: its code (e.g. `AWS.SimpleQueueService.NonExistentQueue`),
    /// message, and the server's clock (its `Date` header) for skew correction.
    #[error("{code}: {message}")]
    Service { status: u16, code: String, message: String, server_date: Option<SystemTime> },
}

impl SqsError {
    pub fn kind(&self) -> FailureKind {
        match self {
            SqsError::Credentials(_) => FailureKind::Credentials,
            SqsError::Transport(_) | SqsError::Timeout(_) => FailureKind::Network,
            SqsError::Unreadable(_) => FailureKind::Other,
            SqsError::Service { status, code, .. } => {
                let code = code.rsplit(['.', '#']).next().unwrap_or(code);
                match code {
                    "NonExistentQueue" | "QueueDoesNotExist" => FailureKind::QueueMissing,
                    "Throttling" | "ThrottlingException" | "RequestThrottled" | "OverLimit" | "KmsThrottled" => {
                        FailureKind::Throttled
                    }
                    "AccessDenied" | "AccessDeniedException" | "InvalidClientTokenId" | "ExpiredToken"
                    | "SignatureDoesNotMatch" | "UnrecognizedClientException" | "InvalidSecurity"
                    | "KmsAccessDenied" => FailureKind::Credentials,
                    _ if *status == 403 => FailureKind::Credentials,
                    _ if *status == 429 => FailureKind::Throttled,
                    _ => FailureKind::Other,
                }
            }
        }
    }
}

/// Which client talks to SQS: `thin` (default) or `sdk`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqsClient {
    #[default]
    Thin,
    Sdk,
}

impl SqsClient {
    pub fn as_str(self) -> &'static str {
        match self {
            SqsClient::Thin => "thin",
            SqsClient::Sdk => "sdk",
        }
    }
}

impl std::str::FromStr for SqsClient {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "thin" => Ok(SqsClient::Thin),
            "sdk" => Ok(SqsClient::Sdk),
            other => Err(format!("{other:?} is not an SQS client: thin or sdk")),
        }
    }
}

/// Whether a failed call may be tried again: false once the consumer is stopping (it wants no
/// new receive).
pub type KeepTrying<'a> = &'a (dyn Fn() -> bool + Send + Sync);

/// Where a receive's memory comes from (the consumer's share of the process's budget,
/// budget.rs). A client that reads responses itself asks for the bytes a response will take
/// once its headers say how long it is, before it reads a byte of the body, and waits until the
/// budget has them: a long poll holds nothing while it waits for messages, and no response is
/// read into memory the budget does not have.
pub trait ReceiveRoom: Send + Sync {
    /// Waits until `bytes` may be held, then holds them (in place of what was held before).
    fn hold(&self, bytes: u64) -> BoxFuture<'_, ()>;
}

/// No budget: every response is read at once (tools and tests of the client alone).
pub struct Unbounded;

impl ReceiveRoom for Unbounded {
    fn hold(&self, _: u64) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
}

/// What a consumer needs from its queue. Batch calls answer how many entries SQS reported as
/// failed; an `Err` means the call as a whole failed (after the implementation's retries).
pub trait Queue: Send + Sync {
    /// Up to `max` messages, long-polling up to `wait_seconds`, invisible to other receivers for
    /// `visibility_secs`; with `SentTimestamp` and `ApproximateReceiveCount`. The memory the
    /// answer takes comes from `room`.
    fn receive<'a>(
        &'a self,
        queue_url: &'a str,
        max: i32,
        wait_seconds: i32,
        visibility_secs: i32,
        keep_trying: KeepTrying<'a>,
        room: &'a dyn ReceiveRoom,
    ) -> BoxFuture<'a, Result<Vec<Received>, SqsError>>;

    fn delete_batch<'a>(&'a self, queue_url: &'a str, receipts: &'a [String]) -> BoxFuture<'a, Result<usize, SqsError>>;

    fn change_visibility_batch<'a>(
        &'a self,
        queue_url: &'a str,
        receipts: &'a [String],
        visibility_secs: i32,
    ) -> BoxFuture<'a, Result<usize, SqsError>>;

    fn backlog<'a>(&'a self, queue_url: &'a str) -> BoxFuture<'a, Result<Backlog, SqsError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, code: &str) -> SqsError {
        SqsError::Service { status, code: code.into(), message: String::new(), server_date: None }
    }

    #[test]
    fn failures_have_the_kind_an_operator_acts_on() {
        assert_eq!(service(400, "AWS.SimpleQueueService.NonExistentQueue").kind(), FailureKind::QueueMissing);
        assert_eq!(service(400, "com.amazonaws.sqs#QueueDoesNotExist").kind(), FailureKind::QueueMissing);
        assert_eq!(service(400, "ThrottlingException").kind(), FailureKind::Throttled);
        assert_eq!(service(403, "InvalidClientTokenId").kind(), FailureKind::Credentials);
        assert_eq!(service(403, "Whatever").kind(), FailureKind::Credentials);
        assert_eq!(service(500, "InternalError").kind(), FailureKind::Other);
        assert_eq!(SqsError::Timeout("ReceiveMessage".into()).kind(), FailureKind::Network);
        assert_eq!(SqsError::Credentials("no role".into()).kind(), FailureKind::Credentials);
        assert_eq!("sdk".parse::<SqsClient>(), Ok(SqsClient::Sdk));
        assert!("boto".parse::<SqsClient>().is_err());
    }
}
