//! The queue through `aws-sdk-sqs` (`AMS_HUB_SQS_CLIENT=sdk`): the SDK's own retry (standard
//! mode), endpoint resolution (FIPS and dual-stack through the standard AWS settings) and
//! credential handling. Each attempt is bounded (a receive by SQS's longest long poll plus a
//! margin, any other call by the margin), so a dead connection cannot hold a consumer for ever.

use std::time::Duration;

use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageSystemAttributeName,
    QueueAttributeName,
};
use aws_smithy_runtime_api::client::result::SdkError;
use futures_util::future::BoxFuture;

use super::{Attributes, Backlog, KeepTrying, Queue, ReceiveRoom, Received, SqsError};

pub struct SdkQueue {
    /// For ReceiveMessage: an attempt may take SQS's longest long poll (20 s) plus the margin.
    receive: aws_sdk_sqs::Client,
    /// For every other call: the margin alone.
    calls: aws_sdk_sqs::Client,
}

impl SdkQueue {
    /// Two clients from one configuration (they share its connection pool and credentials),
    /// each with its attempt timeout set once, not rebuilt per call.
    pub fn new(client: aws_sdk_sqs::Client) -> SdkQueue {
        let margin = crate::queue::thin::retry::RetryPolicy::default().request_margin;
        let with_timeout = |attempt: Duration| {
            let timeouts = aws_sdk_sqs::config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(attempt)
                .connect_timeout(margin)
                .build();
            aws_sdk_sqs::Client::from_conf(client.config().to_builder().timeout_config(timeouts).build())
        };
        SdkQueue { receive: with_timeout(Duration::from_secs(20) + margin), calls: with_timeout(margin) }
    }
}

/// The SDK's error as the consumer's: the service's code and status, or what failed before
/// an answer (credentials, connection, timeout).
fn error<E, R>(call: &str, e: SdkError<E, R>) -> SqsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    match &e {
        SdkError::ServiceError(se) => SqsError::Service {
            status: se.raw().status(),
            code: se.err().code().unwrap_or("error").to_owned(),
            message: se.err().message().unwrap_or("(no message)").to_owned(),
            server_date: None,
        },
        SdkError::TimeoutError(_) => SqsError::Timeout(call.to_owned()),
        SdkError::ResponseError(_) => SqsError::Unreadable(format!("{call}: {}", DisplayErrorContext(&e))),
        _ => {
            let text = DisplayErrorContext(&e).to_string();
            // Identity resolution fails before anything is sent: no credentials, AssumeRole
            // refused.
            if text.contains("credential") || text.contains("identity") {
                SqsError::Credentials(format!("{call}: {text}"))
            } else if text.contains("timed out") || text.contains("timeout") {
                SqsError::Timeout(call.to_owned())
            } else {
                SqsError::Transport(format!("{call}: {text}"))
            }
        }
    }
}

/// The status of the raw response the SDK kept with a service error.
trait HttpStatus {
    fn status(&self) -> u16;
}

impl HttpStatus for aws_smithy_runtime_api::http::Response {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}

impl Queue for SdkQueue {
    fn receive<'a>(
        &'a self,
        queue_url: &'a str,
        max: i32,
        wait_seconds: i32,
        visibility_secs: i32,
        _keep_trying: KeepTrying<'a>,
        room: &'a dyn ReceiveRoom,
    ) -> BoxFuture<'a, Result<Vec<Received>, SqsError>> {
        Box::pin(async move {
            // The SDK reads the whole answer before it returns: its bytes are held once they are
            // in memory (counted, not bounded ahead; the thin client bounds them).
            let out = self
                .receive
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(max)
                .wait_time_seconds(wait_seconds)
                .visibility_timeout(visibility_secs)
                .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
                .await
                .map_err(|e| error("ReceiveMessage", e))?;
            let size = out.messages().iter().map(|m| m.body().map_or(0, str::len) as u64).sum();
            room.hold(size).await;
            Ok(out
                .messages
                .unwrap_or_default()
                .into_iter()
                .map(|m| {
                    let attrs = m.attributes.unwrap_or_default();
                    Received {
                        message_id: m.message_id.unwrap_or_default(),
                        receipt_handle: m.receipt_handle.unwrap_or_default(),
                        body: m.body.unwrap_or_default(),
                        attributes: Attributes {
                            sent_timestamp: attrs.get(&MessageSystemAttributeName::SentTimestamp).cloned(),
                            approximate_receive_count: attrs
                                .get(&MessageSystemAttributeName::ApproximateReceiveCount)
                                .cloned(),
                        },
                    }
                })
                .collect())
        })
    }

    fn delete_batch<'a>(&'a self, queue_url: &'a str, receipts: &'a [String]) -> BoxFuture<'a, Result<usize, SqsError>> {
        Box::pin(async move {
            let entries = receipts
                .iter()
                .enumerate()
                .map(|(i, h)| DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(h).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| SqsError::Transport(format!("DeleteMessageBatch: {e}")))?;
            let out = self
                .calls
                .delete_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| error("DeleteMessageBatch", e))?;
            Ok(out.failed.len())
        })
    }

    fn change_visibility_batch<'a>(
        &'a self,
        queue_url: &'a str,
        receipts: &'a [String],
        visibility_secs: i32,
    ) -> BoxFuture<'a, Result<usize, SqsError>> {
        Box::pin(async move {
            let entries = receipts
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(h)
                        .visibility_timeout(visibility_secs)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| SqsError::Transport(format!("ChangeMessageVisibilityBatch: {e}")))?;
            let out = self
                .calls
                .change_message_visibility_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| error("ChangeMessageVisibilityBatch", e))?;
            Ok(out.failed.len())
        })
    }

    fn backlog<'a>(&'a self, queue_url: &'a str) -> BoxFuture<'a, Result<Backlog, SqsError>> {
        Box::pin(async move {
            let out = self
                .calls
                .get_queue_attributes()
                .queue_url(queue_url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .send()
                .await
                .map_err(|e| error("GetQueueAttributes", e))?;
            let attrs = out.attributes.unwrap_or_default();
            let get = |k| attrs.get(&k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
            Ok(Backlog {
                visible: get(QueueAttributeName::ApproximateNumberOfMessages),
                in_flight: get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            })
        })
    }
}

/// Every attribute of a queue (`QueueArn`, `Policy`, `FifoQueue`, …) through the SDK, with
/// the account's credentials: what onboarding verifies a brand's queue with.
pub async fn queue_attributes(
    client: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> Result<std::collections::HashMap<String, String>, SqsError> {
    let out = client
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .map_err(|e| error("GetQueueAttributes", e))?;
    Ok(out.attributes.unwrap_or_default().into_iter().map(|(k, v)| (k.as_str().to_owned(), v)).collect())
}
