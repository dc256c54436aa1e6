//! What a Stream v2 notification may say. Amazon does not publish the message's format, so no
//! message is required to say anything: any message wakes the loader, which lists the bucket.
//! A message that parses as an S3 event notification (direct, or inside an SNS envelope) for
//! the destination's bucket narrows the listing to the keys it names.

use serde::Deserialize;

/// What a batch of messages tells the loader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// Only these keys changed.
    Keys(Vec<String>),
    /// Something may have changed anywhere: list the bucket.
    Anywhere,
}

#[derive(Deserialize)]
struct S3Event {
    #[serde(rename = "Records")]
    records: Vec<S3Record>,
}

#[derive(Deserialize)]
struct S3Record {
    #[serde(rename = "eventSource")]
    event_source: Option<String>,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: S3Bucket,
    object: S3Object,
}

#[derive(Deserialize)]
struct S3Bucket {
    name: String,
}

#[derive(Deserialize)]
struct S3Object {
    key: String,
}

#[derive(Deserialize)]
struct SnsEnvelope {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Message")]
    message: String,
}

/// The keys one message names in `bucket`: `Some` (maybe empty: S3's test event, another
/// bucket's) when it is an S3 event notification, `None` for any other shape.
pub fn keys_in(body: &str, bucket: &str) -> Option<Vec<String>> {
    if let Ok(envelope) = serde_json::from_str::<SnsEnvelope>(body) {
        if envelope.kind == "Notification" {
            return keys_in(&envelope.message, bucket);
        }
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        // S3's test event when notifications are configured: names nothing.
        if v.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
            return Some(Vec::new());
        }
    }
    let event: S3Event = serde_json::from_str(body).ok()?;
    let mut keys = Vec::new();
    for r in event.records {
        if r.event_source.as_deref().is_some_and(|s| s != "aws:s3") {
            return None;
        }
        if r.s3.bucket.name == bucket {
            keys.push(decode_key(&r.s3.object.key)?);
        }
    }
    Some(keys)
}

/// S3 event keys are form-encoded (`%XX`, `+` for a space); `&` and `=` arrive encoded.
fn decode_key(key: &str) -> Option<String> {
    url::form_urlencoded::parse(key.as_bytes()).next().map(|(k, _)| k.into_owned())
}

/// What a batch of message bodies tells the loader: the union of their keys when every one is
/// an S3 event notification, else the whole bucket.
pub fn hint(bodies: &[&str], bucket: &str) -> Hint {
    let mut keys = Vec::new();
    for body in bodies {
        match keys_in(body, bucket) {
            Some(k) => keys.extend(k),
            None => return Hint::Anywhere,
        }
    }
    keys.sort();
    keys.dedup();
    Hint::Keys(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put",
        "s3":{"bucket":{"name":"b"},"object":{"key":"v2/ds/2026/12/01/part+0%3D1.parquet","versionId":"v1","size":10}}}]}"#;

    #[test]
    fn s3_events_name_their_keys_directly_or_through_sns() {
        assert_eq!(keys_in(EVENT, "b"), Some(vec!["v2/ds/2026/12/01/part 0=1.parquet".to_owned()]));
        let sns = serde_json::json!({"Type": "Notification", "MessageId": "m", "Message": EVENT}).to_string();
        assert_eq!(keys_in(&sns, "b"), Some(vec!["v2/ds/2026/12/01/part 0=1.parquet".to_owned()]));
        assert_eq!(keys_in(EVENT, "other"), Some(vec![]));
        assert_eq!(keys_in(r#"{"Event":"s3:TestEvent","Bucket":"b"}"#, "b"), Some(vec![]));
    }

    #[test]
    fn any_other_shape_means_list_everything() {
        assert_eq!(hint(&[EVENT, "hello"], "b"), Hint::Anywhere);
        assert_eq!(hint(&[r#"{"datasetId":"x","files":["a"]}"#], "b"), Hint::Anywhere);
        assert_eq!(hint(&[EVENT, EVENT], "b"), Hint::Keys(vec!["v2/ds/2026/12/01/part 0=1.parquet".to_owned()]));
    }
}
