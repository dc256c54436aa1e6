//! Failed authentication, limited per client address. Checking a tenant key costs a database
//! query on the pool the ledger writers also use; a flood of made-up tokens must not starve
//! it. A client address that fails more than its quota (governor's GCRA: `per_minute`
//! failures, as a burst, refilled evenly over a minute) is answered 429 without a lookup
//! until the quota allows one more attempt. The operator token is checked in memory and is
//! never limited; valid tenant keys are not counted.
//!
//! **A flood never locks a valid key out.** Keys that authenticated recently (their SHA-256,
//! kept in memory for [`KNOWN_FOR`]) are still looked up from a blocked address; only tokens
//! this process has not seen succeed are refused unlooked. An attacker cannot guess a known
//! digest, so the database stays protected.
//!
//! **Behind a proxy** every client shares the proxy's address. `AMS_HUB_TRUSTED_PROXIES`
//! (CIDRs) names the proxies whose `X-Forwarded-For` is believed: the client is the right-most
//! address in it that is not a trusted proxy (what each proxy appended; anything further left
//! could be written by the client itself). From any other peer the header is ignored.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

/// Addresses (and known keys) tracked before stale ones are dropped.
const PRUNE_AT: usize = 10_000;

/// How long a key that authenticated stays known (passes a blocked address).
pub const KNOWN_FOR: Duration = Duration::from_secs(3600);

pub struct AuthFailures {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses over their quota, until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    /// SHA-256 of keys that authenticated, until when they are known.
    known: Mutex<HashMap<[u8; 32], Instant>>,
    /// `AMS_HUB_TRUSTED_PROXIES`.
    trusted: Vec<IpNet>,
}

/// `AMS_HUB_TRUSTED_PROXIES`' entries: CIDRs (`10.0.0.0/8`) or single addresses.
pub fn parse_proxies(list: &[String]) -> Result<Vec<IpNet>, String> {
    list.iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<IpNet>()
                .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("trusted proxy {p:?} is neither a CIDR (10.0.0.0/8) nor an address"))
        })
        .collect()
}

impl AuthFailures {
    pub fn new(per_minute: NonZeroU32) -> Self {
        Self::with_proxies(per_minute, Vec::new())
    }

    pub fn with_proxies(per_minute: NonZeroU32, trusted: Vec<IpNet>) -> Self {
        AuthFailures {
            limiter: RateLimiter::dashmap(Quota::per_minute(per_minute)),
            blocked: Mutex::new(HashMap::new()),
            known: Mutex::new(HashMap::new()),
            trusted,
        }
    }

    /// The client's address: the peer's, or behind a trusted proxy the right-most address of
    /// `X-Forwarded-For` that is no trusted proxy.
    pub fn client(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let forwarded: Vec<IpAddr> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map_while(|a| a.trim().parse::<IpAddr>().ok())
            .collect();
        Some(forwarded.iter().rev().copied().find(|a| !self.is_trusted(*a)).or(forwarded.first().copied()).unwrap_or(peer))
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(&ip))
    }

    /// A key (its SHA-256) authenticated: it passes a blocked address for [`KNOWN_FOR`].
    pub fn remember(&self, digest: &[u8]) {
        let Ok(d) = <[u8; 32]>::try_from(digest) else { return };
        let mut known = self.known.lock().expect("auth failures lock");
        let now = Instant::now();
        if known.len() >= PRUNE_AT {
            known.retain(|_, until| *until > now);
        }
        known.insert(d, now + KNOWN_FOR);
    }

    /// Whether a key authenticated here lately.
    pub fn is_known(&self, digest: &[u8]) -> bool {
        let known = self.known.lock().expect("auth failures lock");
        <[u8; 32]>::try_from(digest).ok().and_then(|d| known.get(&d).copied()).is_some_and(|until| until > Instant::now())
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

    #[test]
    fn the_client_is_read_from_x_forwarded_for_only_behind_a_trusted_proxy() {
        let proxies = parse_proxies(&["10.0.0.0/8".into(), "192.0.2.1".into()]).unwrap();
        let f = AuthFailures::with_proxies(NonZeroU32::new(3).unwrap(), proxies);
        let req = |peer: &str, xff: Option<&str>| {
            let mut r = actix_web::test::TestRequest::default().peer_addr(format!("{peer}:4000").parse().unwrap());
            if let Some(x) = xff {
                r = r.insert_header(("X-Forwarded-For", x));
            }
            f.client(&r.to_http_request()).unwrap().to_string()
        };
        assert_eq!(req("10.1.2.3", Some("203.0.113.9")), "203.0.113.9");
        // What the client wrote itself (left of the proxies' own entries) is not believed.
        assert_eq!(req("10.1.2.3", Some("6.6.6.6, 203.0.113.9, 10.4.4.4")), "203.0.113.9");
        assert_eq!(req("192.0.2.1", Some("198.51.100.7")), "198.51.100.7");
        assert_eq!(req("198.51.100.50", Some("203.0.113.9")), "198.51.100.50", "an untrusted peer's header is ignored");
        assert_eq!(req("10.1.2.3", None), "10.1.2.3");
        assert!(parse_proxies(&["not-an-address".into()]).is_err());
    }

    #[test]
    fn a_key_that_authenticated_is_known_and_others_are_not() {
        let f = AuthFailures::new(NonZeroU32::new(3).unwrap());
        let (a, b) = ([7u8; 32], [8u8; 32]);
        f.remember(&a);
        assert!(f.is_known(&a) && !f.is_known(&b));
    }
}
