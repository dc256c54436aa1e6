//! Input rules the API enforces before anything is written. Each returns a message that tells
//! the caller what is accepted; none echoes more than a short, printable prefix of the input.

use ams_model::Realm;

/// Up to 60 printable characters of an input, for error messages.
pub fn shown(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(60).collect()
}

/// A display name: 1 to `max` characters, not blank, no control characters.
pub fn name(field: &str, s: &str, max: usize) -> Result<(), String> {
    if s.trim().is_empty() || s.chars().count() > max || s.chars().any(char::is_control) {
        return Err(format!("{field} must be 1 to {max} printable characters"));
    }
    Ok(())
}

/// An IAM role ARN: `arn:aws:iam::<12 digits>:role/<path/name>` (also aws-cn, aws-us-gov).
pub fn role_arn(s: &str) -> Result<(), String> {
    let ok = (|| {
        let rest = ["arn:aws:iam::", "arn:aws-cn:iam::", "arn:aws-us-gov:iam::"].iter().find_map(|p| s.strip_prefix(p))?;
        let (account, role) = rest.split_once(":role/")?;
        let name_ok = !role.is_empty()
            && role.len() <= 512
            && !role.ends_with('/')
            && role.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c));
        (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && name_ok).then_some(())
    })();
    ok.ok_or_else(|| {
        format!("aws_role_arn {:?} is not an IAM role ARN (arn:aws:iam::123456789012:role/name)", shown(s))
    })
}

/// The external id for AssumeRole: 2 to 1224 characters of `[\w+=,.@:/-]` (AWS's rule).
pub fn external_id(s: &str) -> Result<(), String> {
    let ok = (2..=1224).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c));
    if ok {
        Ok(())
    } else {
        // Never echo it: it is a secret.
        Err("external_id must be 2 to 1224 characters of letters, digits and _+=,.@:/-".into())
    }
}

/// An Amazon Ads profile id: digits (up to 20).
pub fn profile_id(s: &str) -> Result<(), String> {
    if (1..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!("profile_id {:?} must be the Ads API profile id (digits)", shown(s)))
    }
}

/// A registered queue: its URL and the region it lives in.
#[derive(Debug, PartialEq, Eq)]
pub struct QueueUrl {
    /// The region the URL names (`None` for an emulator's URL).
    pub region: Option<String>,
    /// One spelling per queue: `https://sqs.<region>.amazonaws.com/<account>/<name>` (or the
    /// emulator's origin), whatever host form, host case or trailing slash was sent. With the
    /// region it is the queue's identity, unique across the platform.
    pub canonical: String,
}

/// An SQS queue URL: `https://sqs.<region>.amazonaws.com/<account>/<name>` (or the legacy
/// `https://<region>.queue.amazonaws.com/...` and `https://queue.amazonaws.com/...`, which is
/// us-east-1), or, when `emulator` (the `AWS_ENDPOINT_URL`) is set, a URL on that endpoint.
/// Host names are case-insensitive; one trailing slash is ignored. Standard queues only.
pub fn queue_url(s: &str, emulator: Option<&str>) -> Result<QueueUrl, String> {
    let bad = || {
        format!(
            "queue_url {:?} is not an SQS queue URL (https://sqs.<region>.amazonaws.com/<account id>/<queue name>)",
            shown(s)
        )
    };
    if s.len() > 2048 {
        return Err(bad());
    }
    let trimmed = s.strip_suffix('/').unwrap_or(s);
    let (scheme, rest) = trimmed.split_once("://").ok_or_else(bad)?;
    let scheme = scheme.to_ascii_lowercase();
    let (host, path) = rest.split_once('/').ok_or_else(bad)?;
    let host = host.to_ascii_lowercase();
    let (origin, region) = match scheme.as_str() {
        "https" => {
            let region = host
                .strip_prefix("sqs.")
                .and_then(|h| h.strip_suffix(".amazonaws.com"))
                .or_else(|| host.strip_suffix(".queue.amazonaws.com"))
                .or_else(|| (host == "queue.amazonaws.com").then_some("us-east-1"));
            match region {
                Some(r) if !r.is_empty() && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') => {
                    (format!("https://sqs.{r}.amazonaws.com"), Some(r.to_owned()))
                }
                _ => (format!("https://{host}"), None),
            }
        }
        "http" => (format!("http://{host}"), None),
        _ => return Err(bad()),
    };
    if region.is_none() {
        // Only the emulator the runtime itself talks to: never an arbitrary host.
        match emulator.map(|e| e.trim_end_matches('/').to_ascii_lowercase()) {
            Some(e) if e == origin => {}
            _ => return Err(bad()),
        }
    }
    let (account, name) = path.split_once('/').ok_or_else(bad)?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if name.ends_with(".fifo") {
        return Err(format!(
            "queue {:?} is a FIFO queue: Amazon Marketing Stream delivers only to standard SQS queues",
            shown(name)
        ));
    }
    if name.is_empty() || name.len() > 80 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(bad());
    }
    Ok(QueueUrl { region, canonical: format!("{origin}/{account}/{name}") })
}

/// The queue's region must be one where AMS delivers: a realm's region.
pub fn realm_of(region: &str) -> Result<Realm, String> {
    Realm::from_region(region).ok_or_else(|| {
        format!(
            "region {:?} is not an Amazon Marketing Stream region (us-east-1 for NA, eu-west-1 for EU, us-west-2 for FE)",
            shown(region)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns() {
        assert!(role_arn("arn:aws:iam::123456789012:role/ams-hub").is_ok());
        assert!(role_arn("arn:aws:iam::123456789012:role/path/to/Role_1+=,.@-").is_ok());
        for bad in ["", "arn:aws:iam::12345:role/x", "arn:aws:iam::123456789012:user/x", "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/a b", "arn:aws:s3:::bucket", "arn:aws:iam::123456789012:role/x'; DROP TABLE"]
        {
            assert!(role_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn queue_urls() {
        let q = queue_url("https://sqs.eu-west-1.amazonaws.com/123456789012/ams-sp-traffic", None).unwrap();
        assert_eq!(q.region.as_deref(), Some("eu-west-1"));
        let q = queue_url("https://us-east-1.queue.amazonaws.com/123456789012/q", None).unwrap();
        assert_eq!(q.region.as_deref(), Some("us-east-1"));
        // Every spelling of one queue has one canonical form.
        for same in [
            "https://sqs.us-east-1.amazonaws.com/123456789012/q",
            "https://us-east-1.queue.amazonaws.com/123456789012/q",
            "https://queue.amazonaws.com/123456789012/q",
            "https://SQS.US-EAST-1.AmazonAWS.com/123456789012/q/",
            "HTTPS://sqs.us-east-1.amazonaws.com/123456789012/q/",
        ] {
            assert_eq!(queue_url(same, None).unwrap().canonical, "https://sqs.us-east-1.amazonaws.com/123456789012/q", "{same}");
        }
        // Queue names are case-sensitive in SQS.
        assert_ne!(
            queue_url("https://sqs.us-east-1.amazonaws.com/123456789012/Q", None).unwrap().canonical,
            queue_url("https://sqs.us-east-1.amazonaws.com/123456789012/q", None).unwrap().canonical
        );
        let fifo = queue_url("https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo", None).unwrap_err();
        assert!(fifo.contains("standard"), "{fifo}");
        for bad in ["", "sqs.us-east-1.amazonaws.com/123456789012/q", "https://sqs.us-east-1.amazonaws.com/123/q",
            "https://sqs.us-east-1.amazonaws.com/123456789012/", "https://evil.example.com/123456789012/q",
            "http://169.254.169.254/123456789012/q", "https://sqs.us-east-1.amazonaws.com/123456789012/a/b"]
        {
            assert!(queue_url(bad, None).is_err(), "{bad}");
        }
        // An emulator's URLs are accepted only on the configured endpoint.
        let emu = Some("http://127.0.0.1:4566");
        assert_eq!(queue_url("http://127.0.0.1:4566/123456789012/q", emu).unwrap().region, None);
        assert_eq!(queue_url("http://127.0.0.1:4566/123456789012/q/", emu).unwrap().canonical, "http://127.0.0.1:4566/123456789012/q");
        assert!(queue_url("http://127.0.0.1:9999/123456789012/q", emu).is_err());
        assert!(queue_url("http://127.0.0.1:4566/123456789012/q", None).is_err());
    }

    #[test]
    fn external_ids_are_never_echoed() {
        let e = external_id("secret value with spaces").unwrap_err();
        assert!(!e.contains("secret"));
        assert!(external_id("a-good_external.id").is_ok());
    }
}
