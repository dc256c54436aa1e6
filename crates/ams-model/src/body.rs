//! What an SQS message body can be (docs/ams.md §2): an SNS SubscriptionConfirmation, an SNS
//! Notification whose `Message` is the record, the bare record, or (Firehose archives, files) a
//! JSON array of records. Anything else is a [`DecodeError`] for the quarantine.

use std::borrow::Cow;
use std::fmt;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::record::{decode_record_owned, not_an_object, scan_dataset_id};
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

/// Routing fields of an object body, read in one pass: an SNS envelope's `Type` and
/// `Message` (unescaped once, borrowed when it has no escapes).
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "Type", borrow, default)]
    sns_type: Option<Cow<'a, str>>,
    #[serde(rename = "Message", borrow, default)]
    message: Option<MessageField<'a>>,
}

/// `Message` is a string in a well-formed envelope; anything else is remembered as such.
enum MessageField<'a> {
    Text(Cow<'a, str>),
    NotAString,
}

impl<'de: 'a, 'a> Deserialize<'de> for MessageField<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = MessageField<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(MessageField::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(MessageField::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(MessageField::Text(Cow::Owned(v)))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(MessageField::NotAString)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(MessageField::NotAString)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(MessageField::NotAString)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(MessageField::NotAString)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(MessageField::NotAString)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(MessageField::NotAString)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(MessageField::NotAString)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
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
    // A bare record: its `dataset_id` is visible to a scan (inside an envelope's Message it
    // is escaped, `\"dataset_id\"`, and is not).
    if scan_dataset_id(body).is_some() {
        return decode_record_owned(Cow::Borrowed(body)).map(|r| Body::Records(vec![r]));
    }
    // Fast path for SNS notifications (nearly every message): `Type` and `Message` read by
    // the JSON reader. Anything else, or any doubt, goes the serde way below.
    if let Some(message) = notification_message(body) {
        return decode_payload(message).map(Body::Records);
    }
    let env: Envelope = serde_json::from_str(body).map_err(|e| {
        if e.is_data() {
            DecodeError::UnsupportedShape(e.to_string())
        } else {
            DecodeError::NotJson(e.to_string())
        }
    })?;
    match env.sns_type.as_deref() {
        None => decode_record_owned(Cow::Borrowed(body)).map(|r| Body::Records(vec![r])),
        Some("Notification") => match env.message {
            Some(MessageField::Text(m)) => decode_payload(m).map(Body::Records),
            Some(MessageField::NotAString) => {
                Err(DecodeError::BadEnvelope("Notification `Message` is not a string".into()))
            }
            None => Err(DecodeError::BadEnvelope("Notification has no `Message`".into())),
        },
        Some("SubscriptionConfirmation") => serde_json::from_str(body)
            .map(Body::Confirmation)
            .map_err(|e| DecodeError::BadEnvelope(format!("SubscriptionConfirmation: {e}"))),
        Some(other) => Err(DecodeError::UnsupportedSnsType(other.to_owned())),
    }
}

/// The `Message` of a well-formed SNS Notification (`Type` and `Message` strings, each once),
/// or None for anything else.
fn notification_message(body: &str) -> Option<Cow<'_, str>> {
    let mut r = crate::json::Reader::new(body);
    let (mut sns_type, mut message) = (None, None);
    let mut duplicate = false;
    r.object(|r, key| {
        match &*key {
            "Type" => duplicate |= sns_type.replace(r.string()?).is_some(),
            "Message" => duplicate |= message.replace(r.string()?).is_some(),
            _ => r.skip()?,
        }
        Ok(())
    })
    .ok()?;
    r.end().ok()?;
    match (sns_type, duplicate) {
        (Some(t), false) if t == "Notification" => message,
        _ => None,
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
