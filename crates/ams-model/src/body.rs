//! What an SQS message body can be (docs/ams.md §2): an SNS SubscriptionConfirmation, an SNS
//! Notification whose `Message` is the record, the bare record, or (Firehose archives, files) a
//! JSON array of records. Anything else is a [`DecodeError`] for the quarantine.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::record::{decode_record_owned, not_an_object, probe};
use crate::{DecodeError, Record};

#[derive(Debug)]
pub enum Body {
    Confirmation(SubscriptionConfirmation),
    /// One record for an SQS message; any number for an array.
    Records(Vec<Record>),
}

/// An SNS subscription confirmation. The token is a secret: `Debug` does not show it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct SubscriptionConfirmation {
    #[serde(rename = "TopicArn")]
    pub topic_arn: String,
    #[serde(rename = "Token")]
    pub token: String,
    #[serde(rename = "SubscribeURL", default)]
    pub subscribe_url: Option<String>,
    #[serde(rename = "MessageId", default)]
    pub message_id: Option<String>,
    #[serde(rename = "Timestamp", default)]
    pub timestamp: Option<String>,
}

impl fmt::Debug for SubscriptionConfirmation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionConfirmation")
            .field("topic_arn", &self.topic_arn)
            .field("token", &"<redacted>")
            .field("message_id", &self.message_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Notification<'a> {
    #[serde(rename = "Message", borrow)]
    message: Cow<'a, str>,
}

/// Decodes an SQS message body (or one line of a Firehose archive).
pub fn decode_body(body: &str) -> Result<Body, DecodeError> {
    let trimmed = body.trim_start();
    if trimmed.starts_with('[') {
        return decode_array(body).map(Body::Records);
    }
    if !trimmed.starts_with('{') {
        return Err(not_an_object(body));
    }
    let p = probe(body)?;
    match p.sns_type.as_deref() {
        None => decode_record_owned(Cow::Borrowed(body)).map(|r| Body::Records(vec![r])),
        Some("Notification") => {
            let n: Notification = serde_json::from_str(body)
                .map_err(|e| DecodeError::BadEnvelope(format!("Notification: {e}")))?;
            decode_payload(n.message).map(Body::Records)
        }
        Some("SubscriptionConfirmation") => serde_json::from_str(body)
            .map(Body::Confirmation)
            .map_err(|e| DecodeError::BadEnvelope(format!("SubscriptionConfirmation: {e}"))),
        Some(other) => Err(DecodeError::UnsupportedSnsType(other.to_owned())),
    }
}

/// The `Message` of a Notification: a record, or an array of records.
fn decode_payload(message: Cow<'_, str>) -> Result<Vec<Record>, DecodeError> {
    if message.trim_start().starts_with('[') {
        decode_array(&message)
    } else {
        decode_record_owned(message).map(|r| vec![r])
    }
}

fn decode_array(text: &str) -> Result<Vec<Record>, DecodeError> {
    let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| {
        if e.is_data() {
            DecodeError::UnsupportedShape(e.to_string())
        } else {
            DecodeError::NotJson(e.to_string())
        }
    })?;
    items
        .into_iter()
        .enumerate()
        .map(|(index, raw)| {
            decode_record_owned(Cow::Borrowed(raw.get()))
                .map_err(|e| DecodeError::InArray { index, source: Box::new(e) })
        })
        .collect()
}
