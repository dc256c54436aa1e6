//! ams-hub's own SQS client, the default [`Queue`](super::Queue): the four calls a consumer
//! makes in SQS's JSON protocol over one hyper connection pool ([`client`]), signed by a
//! SigV4 signer that keeps one signing key per day ([`sigv4`], held to `aws-sigv4` by a test),
//! with timeouts, retries and clock-skew correction ([`retry`]). Why it exists instead of
//! aws-sdk-sqs: docs/performance.md, Runtime.

pub mod client;
pub mod retry;
mod sigv4;

pub use client::Sqs;
pub use super::SqsError;
