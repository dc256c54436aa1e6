//! How the thin SQS client (client.rs) rides out a bad network and a busy SQS. Every call it
//! makes is idempotent (a receive returns messages or none; a delete or visibility change by
//! receipt handle can be repeated), so retrying is always safe:
//!
//! * a connect timeout, and a request timeout of the call's own wait plus a margin: a
//!   black-holed connection ends as an error instead of hanging a poller (or shutdown);
//! * retries with jittered exponential backoff (backon) on I/O errors, timeouts, 5xx,
//!   throttling and answers it cannot read;
//! * clock skew: on `RequestTimeTooSkewed` or an expired signature, the offset to the server's
//!   `Date` is remembered and used for every later signature of that client;
//! * anything else (no such queue, access denied, a bad request) fails at once, for the
//!   consumer's supervisor to handle.

use std::time::{Duration, SystemTime};

use backon::ExponentialBuilder;

use crate::queue::thin::SqsError;

/// Timeouts and retries of the thin SQS client.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub attempts: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
    pub connect_timeout: Duration,
    /// Added to a receive's `WaitTimeSeconds`; the whole timeout of the other calls.
    pub request_margin: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            request_margin: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    pub(crate) fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.attempts.saturating_sub(1))
            .with_jitter()
    }
}

/// What to do after a failed attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Retry,
    /// Retry with the clock moved to the server's (`server - local`, in milliseconds).
    Resync(i64),
    Fail,
}

/// Error codes of SQS (JSON protocol `__type` or the query-compatible header) that mean "not
/// now": throttled or briefly unavailable.
const THROTTLED: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "RequestThrottled",
    "AWS.SimpleQueueService.RequestThrottled",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalError",
    "KmsThrottled",
];

pub(crate) fn verdict(e: &SqsError, now: SystemTime) -> Verdict {
    match e {
        SqsError::Credentials(_) => Verdict::Fail,
        SqsError::Transport(_) | SqsError::Timeout(_) | SqsError::Unreadable(_) => Verdict::Retry,
        SqsError::Service { status, code, message, server_date } => {
            let skewed = code == "RequestTimeTooSkewed"
                || code == "RequestExpired"
                || message.contains("Signature expired")
                || message.contains("Signature not yet current");
            if skewed {
                return match server_date {
                    Some(server) => Verdict::Resync(offset_ms(*server, now)),
                    None => Verdict::Fail,
                };
            }
            if *status >= 500 || *status == 429 || THROTTLED.contains(&code.as_str()) {
                Verdict::Retry
            } else {
                Verdict::Fail
            }
        }
    }
}

fn offset_ms(server: SystemTime, local: SystemTime) -> i64 {
    match server.duration_since(local) {
        Ok(ahead) => ahead.as_millis() as i64,
        Err(behind) => -(behind.duration().as_millis() as i64),
    }
}

/// `now` moved by `offset_ms`.
pub(crate) fn shifted(now: SystemTime, offset_ms: i64) -> SystemTime {
    if offset_ms >= 0 {
        now + Duration::from_millis(offset_ms as u64)
    } else {
        now - Duration::from_millis(offset_ms.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, code: &str, message: &str, server_date: Option<SystemTime>) -> SqsError {
        SqsError::Service { status, code: code.into(), message: message.into(), server_date }
    }

    #[test]
    fn what_is_retried() {
        let now = SystemTime::now();
        assert_eq!(verdict(&SqsError::Timeout("ReceiveMessage".into()), now), Verdict::Retry);
        assert_eq!(verdict(&SqsError::Transport("connection reset".into()), now), Verdict::Retry);
        assert_eq!(verdict(&service(500, "InternalError", "x", None), now), Verdict::Retry);
        assert_eq!(verdict(&service(400, "ThrottlingException", "Rate exceeded", None), now), Verdict::Retry);
        assert_eq!(verdict(&service(400, "AWS.SimpleQueueService.NonExistentQueue", "gone", None), now), Verdict::Fail);
        assert_eq!(verdict(&service(403, "AccessDenied", "no", None), now), Verdict::Fail);
        assert_eq!(verdict(&SqsError::Credentials("AssumeRole denied".into()), now), Verdict::Fail);
        let server = now + Duration::from_secs(3600);
        assert_eq!(verdict(&service(400, "RequestTimeTooSkewed", "x", Some(server)), now), Verdict::Resync(3_600_000));
        let behind = now - Duration::from_secs(900);
        assert_eq!(
            verdict(&service(403, "InvalidSignatureException", "Signature expired: 20240501T000000Z is now earlier than …", Some(behind)), now),
            Verdict::Resync(-900_000)
        );
        assert_eq!(shifted(now, -900_000), behind);
    }
}
