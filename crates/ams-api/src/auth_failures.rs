//! Failed authentication, limited per client address. Checking a tenant key costs a database
//! query on the pool the ledger writers also use; a flood of made-up tokens must not starve
//! it. A client address that fails more than its quota (governor's GCRA: `per_minute`
//! failures, as a burst, refilled evenly over a minute) is answered 429 without a lookup
//! until the quota allows one more attempt. The operator token is checked in memory and is
//! never limited; valid tenant keys are not counted.
//!
//! Behind a proxy every client shares the proxy's address: size the quota for that, or let
//! the proxy limit per client.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Addresses tracked before stale ones are dropped.
const PRUNE_AT: usize = 10_000;

pub struct AuthFailures {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses over their quota, until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

impl AuthFailures {
    pub fn new(per_minute: NonZeroU32) -> Self {
        AuthFailures { limiter: RateLimiter::dashmap(Quota::per_minute(per_minute)), blocked: Mutex::new(HashMap::new()) }
    }

    /// How long `ip` must still wait, if it is over its quota.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        let mut blocked = self.blocked.lock().expect("auth failures lock");
        let until = *blocked.get(&ip)?;
        let now = Instant::now();
        if until <= now {
            blocked.remove(&ip);
            return None;
        }
        Some(until - now)
    }

    /// Counts a failed authentication from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        if let Err(not_until) = self.limiter.check_key(&ip) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            tracing::warn!(client = %ip, retry_after_secs = wait.as_secs(), "too many failed authentications; refusing this address for a while");
            let mut blocked = self.blocked.lock().expect("auth failures lock");
            if blocked.len() >= PRUNE_AT {
                let now = Instant::now();
                blocked.retain(|_, until| *until > now);
                self.limiter.retain_recent();
            }
            blocked.insert(ip, Instant::now() + wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_past_its_quota_and_others_are_not() {
        let f = AuthFailures::new(NonZeroU32::new(3).unwrap());
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            assert!(f.blocked(a).is_none());
            f.failed(a);
        }
        assert!(f.blocked(a).is_none(), "the quota is a burst of 3");
        f.failed(a);
        let wait = f.blocked(a).expect("the 4th failure blocks");
        assert!(wait > Duration::from_secs(5) && wait <= Duration::from_secs(20), "{wait:?}");
        assert!(f.blocked(b).is_none());
    }
}
