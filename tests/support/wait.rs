//! The one way the end-to-end tests wait for something: poll a check until it yields, within
//! a deadline, and on timeout fail with what was awaited and the context that explains it
//! (usually the serve log). No test sleeps for a fixed time to let something happen.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often a check is polled.
const EVERY: Duration = Duration::from_millis(100);

/// Polls `check` until it yields `Some`, for at most `secs`.
pub async fn until<T, F, Fut>(what: &str, secs: u64, mut check: F, context: impl Fn() -> String) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for {what}\n{}", context());
        tokio::time::sleep(EVERY).await;
    }
}

/// [`until`] for a test without an async runtime of its own (a blocking HTTP client).
pub fn until_blocking<T>(what: &str, secs: u64, mut check: impl FnMut() -> Option<T>, context: impl Fn() -> String) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for {what}\n{}", context());
        std::thread::sleep(EVERY);
    }
}
