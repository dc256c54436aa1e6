//! What a webhook delivery must obey, without I/O: the Standard Webhooks signature, which URLs
//! a tenant may register, which addresses ams-hub may send to, and when a failed delivery is
//! tried again.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

/// The prefix of a Standard Webhooks signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// A new signing secret: `whsec_` and 32 random bytes in base64 (the form the Standard
/// Webhooks libraries take as they are).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    format!("{SECRET_PREFIX}{}", B64.encode(bytes))
}

/// The `webhook-signature` header's value for a message: `v1,` and the base64 HMAC-SHA256, keyed
/// with the secret's bytes, of `{id}.{timestamp}.{body}` (Standard Webhooks, "Signature scheme").
pub fn signature(secret: &str, message_id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let key = B64
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .map_err(|_| "the webhook's secret is not base64".to_owned())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

/// Hosts the operator allows over plain http and on any address
/// (`AMS_HUB_WEBHOOK_ALLOW_HTTP_HOSTS`: tests, receivers on a private network).
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Vec<String>);

impl AllowedHosts {
    pub fn new(hosts: impl IntoIterator<Item = String>) -> AllowedHosts {
        AllowedHosts(hosts.into_iter().map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect())
    }
    pub fn allows(&self, host: &str) -> bool {
        self.0.iter().any(|h| h.eq_ignore_ascii_case(host))
    }
}

/// A URL a tenant may register: `https://` (or `http://` to an allowed host), with a host, no
/// credentials, and not an address literal that the address rule refuses. The address a name
/// resolves to is checked again at each send ([`address_allowed`]).
pub fn check_url(url: &str, allowed: &AllowedHosts) -> Result<url::Url, String> {
    if url.len() > 2000 {
        return Err("url: at most 2000 characters".into());
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("url is not a URL ({e})"))?;
    let host = parsed.host_str().ok_or("url has no host")?.to_owned();
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("url must not carry credentials: the signature proves the sender".into());
    }
    let trusted = allowed.allows(&host);
    match parsed.scheme() {
        "https" => {}
        "http" if trusted => {}
        "http" => return Err(format!("url must be https:// ({host} is not among the hosts the operator allows over http)")),
        other => return Err(format!("url must be https://, not {other}://")),
    }
    if !trusted {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            address_allowed(ip)?;
        }
    }
    Ok(parsed)
}

/// Whether ams-hub may send to an address: never to its own host, the private network it runs
/// in, link-local (cloud metadata services live there) or other special ranges. Checked on the
/// addresses a name resolves to, at send time, and the connection goes to the address checked
/// (no second lookup a rebinding DNS server could answer differently).
pub fn address_allowed(ip: IpAddr) -> Result<(), String> {
    let refused = match ip {
        IpAddr::V4(v4) => v4_special(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => v4_special(v4),
            None => v6_special(v6),
        },
    };
    match refused {
        Some(what) => Err(format!("{ip} is {what}: webhooks are sent to public addresses only")),
        None => Ok(()),
    }
}

fn v4_special(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_loopback() => "a loopback address",
        _ if ip.is_private() => "a private address",
        _ if ip.is_link_local() => "a link-local address",
        _ if ip.is_unspecified() || a == 0 => "an unspecified address",
        _ if ip.is_broadcast() || ip.is_multicast() || a >= 240 => "a broadcast, multicast or reserved address",
        (100, 64..=127, _) => "a carrier-grade NAT address",
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a reserved or documentation address",
        (198, 18..=19, _) => "a benchmarking address",
        _ => return None,
    })
}

fn v6_special(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(match first {
        _ if ip.is_loopback() => "a loopback address",
        _ if ip.is_unspecified() => "an unspecified address",
        _ if ip.is_multicast() => "a multicast address",
        f if f & 0xfe00 == 0xfc00 => "a private (unique local) address",
        f if f & 0xffc0 == 0xfe80 => "a link-local address",
        f if f & 0xffc0 == 0xfec0 => "a site-local address",
        0x2001 if ip.segments()[1] == 0x0db8 => "a documentation address",
        _ => return None,
    })
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible or NAT64
/// (`64:ff9b::a.b.c.d`) address: judged as that IPv4 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let ([a, b], [c, d]) = (s[6].to_be_bytes(), s[7].to_be_bytes());
    let tail = Ipv4Addr::new(a, b, c, d);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        [0, 0, 0, 0, 0, 0, _, _] if !ip.is_loopback() && !ip.is_unspecified() => Some(tail),
        _ => None,
    }
}

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// How long to wait after failed attempt `attempt` (1, 2, …): 5 s doubling each time up to an
/// hour, of which a random part (`jitter`, 0 to 1) is taken off, between half and all of it, so
/// that a receiver that was down is not hit by every delivery at once when it comes back.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let full = Duration::from_secs(5).saturating_mul(1u32 << attempt.saturating_sub(1).min(20)).min(MAX_BACKOFF);
    full.mul_f64(1.0 - 0.5 * jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_rule_refuses_every_special_range_and_allows_public_ones() {
        for refused in [
            "127.0.0.1", "127.8.9.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
            "0.0.0.0", "100.64.0.1", "100.127.255.255", "224.0.0.1", "255.255.255.255", "240.0.0.1", "192.0.2.7",
            "198.51.100.1", "203.0.113.9", "198.18.0.1", "192.0.0.8", "::1", "::", "fc00::1", "fd12:3456::1",
            "fe80::1", "fec0::1", "ff02::1", "2001:db8::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
            "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe", "::10.0.0.1",
        ] {
            let ip: IpAddr = refused.parse().unwrap();
            assert!(address_allowed(ip).is_err(), "{refused} was allowed");
        }
        for allowed in ["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:93.184.216.34"] {
            let ip: IpAddr = allowed.parse().unwrap();
            assert!(address_allowed(ip).is_ok(), "{allowed} was refused");
        }
    }

    #[test]
    fn urls_must_be_https_unless_the_operator_allows_the_host() {
        let none = AllowedHosts::default();
        let local = AllowedHosts::new(["Localhost".to_owned()]);
        assert!(check_url("https://hooks.example.com/ams", &none).is_ok());
        for (url, says) in [
            ("http://hooks.example.com/ams", "https"),
            ("ftp://hooks.example.com/", "https"),
            ("https://user:pw@hooks.example.com/", "credentials"),
            ("https://127.0.0.1/", "loopback"),
            ("https://[::1]:8443/", "loopback"),
            ("https://169.254.169.254/latest/meta-data", "link-local"),
            ("https://10.0.0.8/", "private"),
            ("http://localhost:8080/", "https"),
            ("not a url", "not a URL"),
        ] {
            let e = check_url(url, &none).unwrap_err();
            assert!(e.contains(says), "{url}: {e}");
        }
        assert!(check_url("http://localhost:8080/hook", &local).is_ok());
        assert!(check_url("http://127.0.0.1:8080/hook", &local).is_err(), "only the named host");
    }

    #[test]
    fn backoff_doubles_to_an_hour_and_jitter_takes_at_most_half() {
        assert_eq!(backoff(1, 0.0), Duration::from_secs(5));
        assert_eq!(backoff(2, 0.0), Duration::from_secs(10));
        assert_eq!(backoff(4, 1.0), Duration::from_secs(20));
        assert_eq!(backoff(30, 0.0), MAX_BACKOFF);
        // Retried for 24 hours: 30 attempts fall short of it, 35 get past it.
        let total = |n: u32| (1..=n).map(|a| backoff(a, 0.0)).sum::<Duration>();
        assert!(total(30) < Duration::from_secs(24 * 3600) && total(35) > Duration::from_secs(24 * 3600));
    }

    #[test]
    fn secrets_have_the_standard_form() {
        let s = new_secret();
        assert!(s.starts_with("whsec_") && B64.decode(&s[6..]).unwrap().len() == 32);
        assert_ne!(s, new_secret());
    }
}
