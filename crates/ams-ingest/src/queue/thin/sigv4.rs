//! AWS Signature Version 4 for the thin SQS client's requests, which all have one shape: a
//! `POST /` with no query, a JSON body and the headers `content-type`, `host`, `x-amz-date`,
//! `x-amz-security-token` (with temporary credentials) and `x-amz-target`.
//!
//! Why not `aws-sigv4` (the SDK's signer, used here before): it is general (any method, query,
//! header set, normalisation rule) and derives the signing key from the secret on every request
//! (four HMACs), which made signing 9% of ams-hub's CPU per message (docs/performance.md). Here
//! the key is derived once per credentials and UTC day, and the canonical request is written
//! into one buffer. A unit test checks that both signers produce the same `Authorization` for
//! the same request, credentials and time; `tests/sqs_client.rs` checks against moto's
//! signature verification.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

const SIGNED_WITH_TOKEN: &str = "content-type;host;x-amz-date;x-amz-security-token;x-amz-target";
const SIGNED_WITHOUT_TOKEN: &str = "content-type;host;x-amz-date;x-amz-target";
pub(crate) const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// A signing key for one access key, region, service and UTC day.
pub(crate) struct SigningKey {
    /// `YYYYMMDD`, the day the key is valid for.
    date: [u8; 8],
    key: [u8; 32],
}

impl SigningKey {
    pub(crate) fn derive(secret: &str, date: &[u8; 8], region: &str, service: &str) -> SigningKey {
        let mut k = hmac(format!("AWS4{secret}").as_bytes(), date);
        for part in [region.as_bytes(), service.as_bytes(), b"aws4_request"] {
            k = hmac(&k, part);
        }
        SigningKey { date: *date, key: k }
    }

    pub(crate) fn is_for(&self, date: &[u8]) -> bool {
        self.date[..] == date[..8]
    }
}

/// The headers a signed request carries: `x-amz-date` and `authorization`.
pub(crate) struct Signed {
    pub amz_date: String,
    pub authorization: String,
}

/// What is signed, apart from the key.
pub(crate) struct Request<'a> {
    pub access_key_id: &'a str,
    pub session_token: Option<&'a str>,
    pub region: &'a str,
    pub service: &'a str,
    pub host: &'a str,
    pub target: &'a str,
    pub body: &'a [u8],
}

/// Signs `req` at `amz_date` (`YYYYMMDDTHHMMSSZ`, from [`amz_date`]) with `key`, which must be
/// for that day ([`SigningKey::is_for`]).
pub(crate) fn sign(req: &Request<'_>, key: &SigningKey, amz_date: String) -> Signed {
    let date = &amz_date[..8];
    let signed_headers = if req.session_token.is_some() { SIGNED_WITH_TOKEN } else { SIGNED_WITHOUT_TOKEN };
    let mut canonical = String::with_capacity(256 + req.session_token.map_or(0, str::len));
    canonical.push_str("POST\n/\n\ncontent-type:");
    canonical.push_str(CONTENT_TYPE);
    canonical.push_str("\nhost:");
    canonical.push_str(req.host.trim());
    canonical.push_str("\nx-amz-date:");
    canonical.push_str(&amz_date);
    if let Some(token) = req.session_token {
        canonical.push_str("\nx-amz-security-token:");
        canonical.push_str(token.trim());
    }
    canonical.push_str("\nx-amz-target:");
    canonical.push_str(req.target);
    canonical.push_str("\n\n");
    canonical.push_str(signed_headers);
    canonical.push('\n');
    push_hex(&mut canonical, &Sha256::digest(req.body));

    let scope_len = date.len() + req.region.len() + req.service.len() + 16;
    let mut scope = String::with_capacity(scope_len);
    let _ = write!(scope, "{date}/{}/{}/aws4_request", req.region, req.service);
    let mut to_sign = String::with_capacity(32 + 16 + scope.len() + 64);
    to_sign.push_str("AWS4-HMAC-SHA256\n");
    to_sign.push_str(&amz_date);
    to_sign.push('\n');
    to_sign.push_str(&scope);
    to_sign.push('\n');
    push_hex(&mut to_sign, &Sha256::digest(canonical.as_bytes()));

    let mut authorization = String::with_capacity(64 + req.access_key_id.len() + scope.len() + signed_headers.len() + 64);
    authorization.push_str("AWS4-HMAC-SHA256 Credential=");
    authorization.push_str(req.access_key_id);
    authorization.push('/');
    authorization.push_str(&scope);
    authorization.push_str(", SignedHeaders=");
    authorization.push_str(signed_headers);
    authorization.push_str(", Signature=");
    push_hex(&mut authorization, &hmac(&key.key, to_sign.as_bytes()));
    Signed { amz_date, authorization }
}

/// `YYYYMMDDTHHMMSSZ` (UTC) of `t`.
pub(crate) fn amz_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    let mut s = String::with_capacity(16);
    let _ = write!(s, "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", rem / 3600, rem / 60 % 60, rem % 60);
    s
}

/// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn push_hex(s: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{sign as sdk_sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;

    use super::*;

    /// The `x-amz-date` and `authorization` that the SDK's signer gives the same request.
    fn reference(creds: &Credentials, region: &str, host: &str, target: &str, body: &[u8], at: SystemTime) -> (String, String) {
        let identity = creds.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("sqs")
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let headers = [("host", host), ("content-type", CONTENT_TYPE), ("x-amz-target", target)];
        let uri = format!("http://{host}/");
        let signable = SignableRequest::new("POST", &uri, headers.into_iter(), SignableBody::Bytes(body)).unwrap();
        let (instructions, _) = sdk_sign(signable, &params).unwrap().into_parts();
        let mut request = http::Request::builder().method("POST").uri(&uri).body(()).unwrap();
        instructions.apply_to_request_http1x(&mut request);
        let h = |k: &str| request.headers()[k].to_str().unwrap().to_owned();
        (h("x-amz-date"), h("authorization"))
    }

    fn ours(creds: &Credentials, region: &str, host: &str, target: &str, body: &[u8], at: SystemTime) -> (String, String) {
        let date = amz_date(at);
        let key = SigningKey::derive(creds.secret_access_key(), date.as_bytes()[..8].try_into().unwrap(), region, "sqs");
        assert!(key.is_for(date.as_bytes()));
        let req = Request {
            access_key_id: creds.access_key_id(),
            session_token: creds.session_token(),
            region,
            service: "sqs",
            host,
            target,
            body,
        };
        let s = sign(&req, &key, date);
        (s.amz_date, s.authorization)
    }

    #[test]
    fn signatures_match_the_sdk_signer() {
        let body = br#"{"QueueUrl":"https://sqs.eu-west-1.amazonaws.com/111111111111/q","MaxNumberOfMessages":10}"#;
        let permanent = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None, "t");
        let temporary = Credentials::new("ASIAEXAMPLE", "c2VjcmV0/+=", Some("FwoGZXIvYXdzE//token+/=".into()), None, "t");
        let times = [
            UNIX_EPOCH + Duration::from_secs(1_440_938_160), // 2015-08-30T12:36:00Z
            UNIX_EPOCH + Duration::from_secs(951_782_400),   // 2000-02-29T00:00:00Z
            UNIX_EPOCH + Duration::from_secs(1_798_761_599), // 2026-12-31T23:59:59Z
            SystemTime::now(),
        ];
        for at in times {
            for creds in [&permanent, &temporary] {
                for (region, host) in [("eu-west-1", "sqs.eu-west-1.amazonaws.com"), ("us-east-1", "127.0.0.1:4566")] {
                    for (target, body) in [("AmazonSQS.ReceiveMessage", &body[..]), ("AmazonSQS.DeleteMessageBatch", b"{}")] {
                        assert_eq!(
                            ours(creds, region, host, target, body, at),
                            reference(creds, region, host, target, body, at),
                            "{region} {host} {target}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        for secs in [0u64, 951_782_400, 951_868_799, 1_709_164_800, 4_107_542_399, 1_798_761_599] {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            let want = chrono::DateTime::<chrono::Utc>::from(t).format("%Y%m%dT%H%M%SZ").to_string();
            assert_eq!(amz_date(t), want);
        }
    }

    #[test]
    fn a_key_is_for_its_day_only() {
        let key = SigningKey::derive("secret", b"20261128", "eu-west-1", "sqs");
        assert!(key.is_for(b"20261128T235959Z"));
        assert!(!key.is_for(b"20261129T000000Z"));
    }
}
