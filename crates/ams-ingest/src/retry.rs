//! The runtime's one backoff: backon's exponential backoff with jitter, for the writer's
//! retries and consumer restarts (the thin SQS client's retries use the same builder in
//! `queue/thin/retry.rs`; onboarding's calls to Amazon in `ams_onboard::ads`).

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// Delays doubling from `min` to `max`, each plus up to as much again at random, without end.
pub fn doubling(min: Duration, max: Duration) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default().with_min_delay(min).with_max_delay(max).without_max_times().with_jitter().build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_to_the_ceiling_with_at_most_as_much_again() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(5));
        for (i, d) in doubling(min, max).take(12).enumerate() {
            let base = (min * (1 << i.min(6))).min(max);
            assert!(d >= base && d <= base * 2, "delay {i}: {d:?} outside [{base:?}, {:?}]", base * 2);
        }
    }
}
