//! AWS clients. The platform's own identity comes from the standard chain (environment,
//! profile, IRSA on Kubernetes); an account with a role is reached through STS AssumeRole with
//! its external id, credentials cached and refreshed before expiry by the SDK's identity
//! cache. `AWS_ENDPOINT_URL` / `AWS_REGION` point everything at an emulator.

use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;

#[derive(Clone)]
pub struct Aws {
    base: SdkConfig,
    /// Where SQS is when not AWS's own host (`AWS_ENDPOINT_URL_SQS`, else `AWS_ENDPOINT_URL`),
    /// for the thin client, which does not resolve endpoints the SDK's way.
    sqs_endpoint: Option<String>,
}

/// What reaches one account: its credentials (assumed role or the platform's own).
#[derive(Clone)]
pub struct AccountAws {
    base: SdkConfig,
    credentials: Option<SharedCredentialsProvider>,
    sqs_endpoint: Option<String>,
}

impl Aws {
    /// The standard AWS chain (variables, profile, IRSA), read once here as the SDK reads it.
    pub async fn from_env() -> Aws {
        let base = aws_config::defaults(BehaviorVersion::latest()).load().await;
        let sqs_endpoint = std::env::var("AWS_ENDPOINT_URL_SQS").ok().or_else(|| base.endpoint_url().map(str::to_owned));
        Aws { base, sqs_endpoint }
    }

    /// The SQS endpoint when it is not AWS's (an emulator), as configured.
    pub fn sqs_endpoint(&self) -> Option<&str> {
        self.sqs_endpoint.as_deref()
    }

    /// Credentials for an account: AssumeRole when it has a role, else the platform's own.
    pub async fn account(&self, role_arn: Option<&str>, external_id: &str, account_id: ams_store::AccountId) -> AccountAws {
        let credentials = match role_arn {
            Some(arn) => {
                let mut builder = AssumeRoleProvider::builder(arn)
                    // Visible in the brand's CloudTrail: which platform account assumed the role.
                    .session_name(format!("ams-hub-{}", &account_id.0.simple().to_string()[..12]))
                    .external_id(external_id)
                    .configure(&self.base);
                if self.base.region().is_none() {
                    builder = builder.region(Region::new("us-east-1"));
                }
                let counted = Counted { inner: SharedCredentialsProvider::new(builder.build().await), account: account_id.to_string() };
                Some(SharedCredentialsProvider::new(counted))
            }
            None => None,
        };
        AccountAws { base: self.base.clone(), credentials, sqs_endpoint: self.sqs_endpoint.clone() }
    }
}

#[derive(Debug)]
struct NoCredentials;

impl aws_credential_types::provider::ProvideCredentials for NoCredentials {
    fn provide_credentials<'a>(&'a self) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::ready(Err(
            aws_credential_types::provider::error::CredentialsError::not_loaded(
                "no AWS credentials: set the standard AWS variables, a profile, or IRSA",
            ),
        ))
    }
}

/// An account's credentials provider that counts its failures (`ams_hub_credential_failures_total`).
#[derive(Debug)]
struct Counted {
    inner: SharedCredentialsProvider,
    account: String,
}

impl aws_credential_types::provider::ProvideCredentials for Counted {
    fn provide_credentials<'a>(&'a self) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::new(async move {
            let result = self.inner.provide_credentials().await;
            if let Err(e) = &result {
                use crate::events::{CredentialsFailed, InternalEvent};
                CredentialsFailed { account: &self.account, error: e }.emit();
            }
            result
        })
    }
}

impl AccountAws {
    /// An account with no AWS configuration at all: for a consumer whose queue is given to it
    /// (the actors' unit tests, with the in-memory queue). Any SDK call fails with a clear
    /// credentials error.
    pub fn offline() -> AccountAws {
        AccountAws { base: SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build(), credentials: None, sqs_endpoint: None }
    }

    pub fn sqs(&self, region: &str) -> aws_sdk_sqs::Client {
        // Stalled-stream protection arms timers on every response body; SQS responses are a
        // few KB and long polls are bounded by WaitTimeSeconds already.
        let mut b = aws_sdk_sqs::config::Builder::from(&self.base)
            .region(Region::new(region.to_owned()))
            .stalled_stream_protection(aws_sdk_sqs::config::StalledStreamProtectionConfig::disabled());
        if let Some(c) = &self.credentials {
            b = b.credentials_provider(c.clone());
        }
        aws_sdk_sqs::Client::from_conf(b.build())
    }

    /// The thin client for receive, delete and visibility (see `queue/thin/`).
    pub fn sqs_fast(&self, region: &str) -> Result<crate::queue::thin::Sqs, crate::queue::thin::SqsError> {
        let endpoint = self.sqs_endpoint.clone();
        // No identity at all: every call fails with a clear credentials error.
        let credentials = self
            .credentials
            .clone()
            .or_else(|| self.base.credentials_provider())
            .unwrap_or_else(|| SharedCredentialsProvider::new(NoCredentials));
        crate::queue::thin::Sqs::new(region, endpoint.as_deref(), credentials)
    }

    /// S3 (Stream v2's bucket). Against an emulator (an endpoint is configured) requests are
    /// path-style: virtual-hosted names (`bucket.localhost`) do not resolve there.
    pub fn s3(&self, region: &str) -> aws_sdk_s3::Client {
        let mut b = aws_sdk_s3::config::Builder::from(&self.base).region(Region::new(region.to_owned()));
        if self.base.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some() {
            b = b.force_path_style(true);
        }
        if let Some(c) = &self.credentials {
            b = b.credentials_provider(c.clone());
        }
        aws_sdk_s3::Client::from_conf(b.build())
    }

    pub fn sns(&self, region: &str) -> aws_sdk_sns::Client {
        let mut b = aws_sdk_sns::config::Builder::from(&self.base).region(Region::new(region.to_owned()));
        if let Some(c) = &self.credentials {
            b = b.credentials_provider(c.clone());
        }
        aws_sdk_sns::Client::from_conf(b.build())
    }

    /// Whether this identity may call `sns:ConfirmSubscription` on `topic_arn`, asked of SNS
    /// itself: a confirmation with a token that confirms nothing. SNS authorizes the caller
    /// before it looks at the topic or the token, so `AuthorizationError` (or `AccessDenied`)
    /// means the permission is missing and any other answer (`NotFound`, `InvalidParameter`)
    /// that it is there. `Err` when SNS could not be asked.
    pub async fn may_confirm(&self, region: &str, topic_arn: &str) -> Result<bool, String> {
        let probe = self.sns(region).confirm_subscription().topic_arn(topic_arn).token("ams-hub-permission-probe").send().await;
        match probe {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(se) => {
                    use aws_sdk_sns::error::ProvideErrorMetadata;
                    Ok(!matches!(se.code(), Some("AuthorizationError" | "AccessDenied" | "AccessDeniedException")))
                }
                None => Err(describe(&e)),
            },
        }
    }
}

/// A short, secret-free description of an SDK error: the service's code and message, or the
/// chain of causes of a failure before any response (credentials, connection).
pub fn describe<E, R>(e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.as_service_error() {
        Some(se) => format!("{}: {}", se.code().unwrap_or("error"), se.message().unwrap_or("(no message)")),
        None => aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
    }
}
