//! What a tenant may read of a runtime error. AWS error texts name principals: an AssumeRole
//! denial names the platform's own role and AWS account ("User: arn:aws:sts::<platform>:
//! assumed-role/… is not authorized …"), a credentials error may show an access key id. A
//! tenant sees its own brand's identifiers (the account's role, the AWS account of its role
//! and queue) and nothing else: every other ARN, 12-digit AWS account id and access key id
//! is replaced.

/// What a redacting `Debug` shows in place of a secret.
pub const REDACTED: &str = "<redacted>";

/// `text` with every ARN, AWS account id and access key id not in `own` replaced.
/// `own` holds the tenant's ARNs (whole) and AWS account ids.
pub fn for_tenant(text: &str, own: &[&str]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let start = rest.find(|c: char| !is_separator(c)).unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(is_separator).unwrap_or(rest.len());
        let token = &rest[..end];
        out.push_str(&redact_token(token, own));
        rest = &rest[end..];
    }
    out
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || "\"'`,;()[]{}<>".contains(c)
}

fn redact_token(token: &str, own: &[&str]) -> String {
    // An ARN, possibly followed by sentence punctuation.
    let bare = token.trim_end_matches(['.', ':']);
    if bare.starts_with("arn:") {
        return if own.contains(&bare) { token.to_owned() } else { format!("<redacted ARN>{}", &token[bare.len()..]) };
    }
    if is_access_key_id(bare) {
        return "<redacted key id>".to_owned();
    }
    // 12-digit runs (AWS account ids) inside the token, e.g. in a queue URL.
    let mut out = String::with_capacity(token.len());
    let bytes = token.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let j = i + bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
            let run = &token[i..j];
            if run.len() == 12 && !own.contains(&run) {
                out.push_str("<redacted account>");
            } else {
                out.push_str(run);
            }
            i = j;
        } else {
            let j = i + token[i..].find(|c: char| c.is_ascii_digit()).unwrap_or(token.len() - i);
            out.push_str(&token[i..j]);
            i = j;
        }
    }
    out
}

/// `AKIA…`/`ASIA…` and the other IAM unique-id prefixes followed by 16 upper-case letters or digits.
fn is_access_key_id(s: &str) -> bool {
    s.len() == 20
        && ["AKIA", "ASIA", "AROA", "AIDA", "ANPA", "AGPA"].iter().any(|p| s.starts_with(p))
        && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The identifiers a tenant may see in its account's errors: the role ARN, the AWS account of
/// the role and of each queue.
pub fn own_identifiers<'a>(role_arn: Option<&'a str>, queue_urls: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut own = Vec::new();
    if let Some(arn) = role_arn {
        own.push(arn);
        if let Some(account) = arn.split(':').nth(4) {
            own.push(account);
        }
    }
    for url in queue_urls {
        if let Some(account) = url.trim_end_matches('/').rsplit('/').nth(1) {
            own.push(account);
        }
    }
    own
}

#[cfg(test)]
mod tests {
    #[test]
    fn types_holding_a_secret_never_show_it_in_debug() {
        let secret = "Atzr|a-secret-nobody-may-log-0123456789";
        let input = |json: serde_json::Value| json.to_string();
        let shown = [
            format!("{:?}", serde_json::from_str::<crate::ads::AdsAppInput>(&input(serde_json::json!({"client_id": "c", "client_secret": secret}))).unwrap()),
            format!("{:?}", serde_json::from_str::<crate::ads::NewConnection>(&input(serde_json::json!({"name": "n", "region": "NA", "refresh_token": secret}))).unwrap()),
            format!("{:?}", serde_json::from_str::<crate::accounts::NewAccount>(&input(serde_json::json!({"name": "n", "external_id": secret}))).unwrap()),
            format!("{:?}", serde_json::from_str::<crate::accounts::AccountPatch>(&input(serde_json::json!({"external_id": secret}))).unwrap()),
            format!("{:?}", crate::consent::CallbackQuery { code: Some(secret.into()), state: None, error: None, error_description: None }),
        ];
        for s in &shown {
            assert!(!s.contains(secret) && s.contains(super::REDACTED), "{s}");
        }
    }

    use super::*;

    #[test]
    fn only_the_tenants_own_identifiers_remain() {
        let role = "arn:aws:iam::111111111111:role/brand-reader";
        let own = own_identifiers(Some(role), ["https://sqs.us-east-1.amazonaws.com/111111111111/q"]);
        let text = "AccessDenied: User: arn:aws:sts::999999999999:assumed-role/ams-hub-platform/i-0abc is not \
                    authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111111111111:role/brand-reader. \
                    (key ASIAQWERTYUIOPASDFGH, account 999999999999, queue https://sqs.us-east-1.amazonaws.com/111111111111/q)";
        let shown = for_tenant(text, &own);
        assert!(!shown.contains("999999999999"), "{shown}");
        assert!(!shown.contains("ams-hub-platform"), "{shown}");
        assert!(!shown.contains("ASIAQWERTYUIOPASDFGH"), "{shown}");
        assert!(shown.contains("resource: arn:aws:iam::111111111111:role/brand-reader."), "{shown}");
        assert!(shown.contains("https://sqs.us-east-1.amazonaws.com/111111111111/q"), "{shown}");
        assert!(shown.starts_with("AccessDenied: User: <redacted ARN> is not authorized"), "{shown}");
        // Other numbers stay: retry counts, HTTP codes, timestamps.
        assert_eq!(for_tenant("503 after 3 retries at 2024-05-01", &own), "503 after 3 retries at 2024-05-01");
    }
}
