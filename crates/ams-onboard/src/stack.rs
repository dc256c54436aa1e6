//! Verifying a brand's deployed stack before it is adopted: ams-hub assumes the role with the
//! account's external id, reads each queue's attributes, and checks that the queue is
//! standard, that its policy lets every dataset's Amazon SNS topics send, and that the role
//! may confirm subscriptions of Amazon's topics. The API validates the URLs and regions first
//! and adopts the stack after; AWS is reached through [`AwsProbe`], which the binary answers
//! with the platform's identity (this crate does not depend on the runtime).

use std::collections::HashMap;

use ams_model::{DatasetInfo, Realm};
use ams_store::AccountId;
use futures_util::future::BoxFuture;

use crate::policy::missing_datasets;
use crate::template::topic_arn_patterns;

/// The platform's AWS identity, as stack verification needs it.
pub trait AwsProbe: Send + Sync + 'static {
    /// `role_arn` assumed with `external_id` (lazily: a refused trust policy shows as
    /// [`ProbeError::Credentials`] on the first call).
    fn as_role<'a>(&'a self, role_arn: &'a str, external_id: &'a str, account: AccountId) -> BoxFuture<'a, Box<dyn RoleProbe>>;
}

/// What one assumed role is asked.
pub trait RoleProbe: Send + Sync {
    /// Every attribute of the queue (`QueueArn`, `Policy`, `FifoQueue`, …).
    fn queue_attributes<'a>(&'a self, region: &'a str, queue_url: &'a str) -> BoxFuture<'a, Result<HashMap<String, String>, ProbeError>>;
    /// Whether the role may call `sns:ConfirmSubscription` on `topic_arn` (asked of SNS).
    /// `Err`: SNS could not be asked.
    fn may_confirm<'a>(&'a self, region: &'a str, topic_arn: &'a str) -> BoxFuture<'a, Result<bool, String>>;
    /// The bucket's versioning status (`Enabled`, `Suspended`, or `None` when never set), after
    /// listing one object version (what the Stream v2 loader does).
    fn bucket_versioning<'a>(&'a self, region: &'a str, bucket: &'a str) -> BoxFuture<'a, Result<Option<String>, ProbeError>>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeError {
    /// The role could not be assumed (trust policy, external id).
    Credentials,
    /// Any other failure, in a few secret-free words.
    Other(String),
}

/// Which check failed: each is a distinct answer of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackCheck {
    RoleNotAssumable,
    QueueUnreadable,
    FifoQueue,
    PolicyMissingDatasets,
    ConfirmNotAllowed,
    /// Stream v2: the bucket's object versions cannot be listed through the role.
    BucketUnreadable,
    /// Stream v2: the bucket is not versioned.
    BucketNotVersioned,
    /// AWS could not be asked: not the stack's fault.
    Unavailable,
}

/// A failed check and what to fix, in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StackRejected {
    pub check: StackCheck,
    pub message: String,
}

fn rejected(check: StackCheck, message: String) -> StackRejected {
    StackRejected { check, message }
}

/// Every AWS check of `queues` (canonical URL, region) through `role_arn`; the first that
/// fails.
pub async fn verify_queues(
    aws: &dyn AwsProbe,
    role_arn: &str,
    external_id: &str,
    account: AccountId,
    queues: &[(String, String)],
    datasets: &[DatasetInfo],
) -> Result<(), StackRejected> {
    let role = aws.as_role(role_arn, external_id, account).await;
    for (url, region) in queues {
        let attributes = role.queue_attributes(region, url).await.map_err(|e| match e {
            ProbeError::Credentials => rejected(
                StackCheck::RoleNotAssumable,
                format!(
                    "ams-hub could not assume {role_arn}: its trust policy must name ams-hub's role and require this \
                     account's external id (deploy the template from GET …/aws-template as it is)"
                ),
            ),
            ProbeError::Other(why) => rejected(StackCheck::QueueUnreadable, format!("reading {url} through {role_arn} failed: {why}")),
        })?;
        if attributes.get("FifoQueue").map(String::as_str) == Some("true") || url.ends_with(".fifo") {
            return Err(rejected(
                StackCheck::FifoQueue,
                format!("{url} is a FIFO queue: Amazon Marketing Stream delivers to standard queues only"),
            ));
        }
        let Some(realm) = Realm::from_region(region) else {
            return Err(rejected(StackCheck::QueueUnreadable, format!("{url}: {region} is not an AMS queue region")));
        };
        let missing = missing_datasets(attributes.get("Policy").map(String::as_str), datasets, realm)
            .map_err(|e| rejected(StackCheck::PolicyMissingDatasets, format!("{url}: {e}")))?;
        if !missing.is_empty() {
            let list: Vec<String> = missing.iter().map(|m| format!("{} (account {})", m.dataset, m.account)).collect();
            return Err(rejected(
                StackCheck::PolicyMissingDatasets,
                format!(
                    "the policy of {url} does not let Amazon's SNS topics of {} dataset(s) send: {}; add arn:aws:sns:{region}:<account>:* \
                     for each to its aws:SourceArn condition (the template's policy has them all)",
                    missing.len(),
                    list.join(", ")
                ),
            ));
        }
        // ams-hub confirms Amazon's subscriptions as the role: without the permission SNS
        // refuses, the subscription fails after three days and no data ever flows.
        let mut refused = Vec::new();
        for pattern in topic_arn_patterns(datasets, realm) {
            let topic = pattern.replace(":*", ":ams-hub-permission-probe");
            match role.may_confirm(region, &topic).await {
                Ok(true) => {}
                Ok(false) => refused.push(pattern),
                Err(e) => {
                    return Err(rejected(
                        StackCheck::Unavailable,
                        format!("could not ask SNS whether {role_arn} may confirm subscriptions: {e}"),
                    ))
                }
            }
        }
        if !refused.is_empty() {
            return Err(rejected(
                StackCheck::ConfirmNotAllowed,
                format!(
                    "{role_arn} may not call sns:ConfirmSubscription on {}: ams-hub confirms Amazon's subscriptions as this role; \
                     grant it (the template's policy does) or no subscription can be confirmed",
                    refused.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ams_model::DATASETS;
    use std::sync::Mutex;

    /// A role whose answers the test sets, recording what it was asked.
    struct FakeRole {
        attributes: Result<HashMap<String, String>, ProbeError>,
        may_confirm: Result<bool, String>,
        asked: std::sync::Arc<Mutex<Vec<String>>>,
    }

    impl RoleProbe for FakeRole {
        fn queue_attributes<'a>(&'a self, _: &'a str, url: &'a str) -> BoxFuture<'a, Result<HashMap<String, String>, ProbeError>> {
            self.asked.lock().unwrap().push(format!("attributes {url}"));
            Box::pin(std::future::ready(self.attributes.clone()))
        }
        fn may_confirm<'a>(&'a self, _: &'a str, topic: &'a str) -> BoxFuture<'a, Result<bool, String>> {
            self.asked.lock().unwrap().push(format!("confirm {topic}"));
            Box::pin(std::future::ready(self.may_confirm.clone()))
        }
        fn bucket_versioning<'a>(&'a self, _: &'a str, bucket: &'a str) -> BoxFuture<'a, Result<Option<String>, ProbeError>> {
            self.asked.lock().unwrap().push(format!("bucket {bucket}"));
            Box::pin(std::future::ready(Ok(Some("Enabled".to_owned()))))
        }
    }

    struct FakeAws(Mutex<Option<FakeRole>>);

    impl AwsProbe for FakeAws {
        fn as_role<'a>(&'a self, _: &'a str, _: &'a str, _: AccountId) -> BoxFuture<'a, Box<dyn RoleProbe>> {
            let role = self.0.lock().unwrap().take().expect("one role per verification");
            Box::pin(async move { Box::new(role) as Box<dyn RoleProbe> })
        }
    }

    fn full_policy(region: &str) -> String {
        let realm = Realm::from_region(region).unwrap();
        let arns: Vec<String> = topic_arn_patterns(&DATASETS, realm);
        serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage", "Condition": {"ArnLike": {"aws:SourceArn": arns}}}]})
        .to_string()
    }

    async fn verify(attributes: Result<HashMap<String, String>, ProbeError>, may_confirm: Result<bool, String>) -> (Result<(), StackRejected>, Vec<String>) {
        let asked = std::sync::Arc::new(Mutex::new(Vec::new()));
        let aws = FakeAws(Mutex::new(Some(FakeRole { attributes, may_confirm, asked: asked.clone() })));
        let queues = [("https://sqs.us-east-1.amazonaws.com/123456789012/ams".to_owned(), "us-east-1".to_owned())];
        let r = verify_queues(&aws, "arn:aws:iam::123456789012:role/r", "ext", AccountId(uuid::Uuid::nil()), &queues, &DATASETS).await;
        let asked = asked.lock().unwrap().clone();
        (r, asked)
    }

    fn attrs(policy: Option<String>, fifo: bool) -> HashMap<String, String> {
        let mut m = HashMap::new();
        m.extend(policy.map(|p| ("Policy".to_owned(), p)));
        if fifo {
            m.insert("FifoQueue".into(), "true".into());
        }
        m
    }

    #[tokio::test]
    async fn a_complete_stack_passes_after_asking_sns_about_every_topic_account() {
        let (r, asked) = verify(Ok(attrs(Some(full_policy("us-east-1")), false)), Ok(true)).await;
        assert_eq!(r, Ok(()));
        let accounts = topic_arn_patterns(&DATASETS, Realm::from_region("us-east-1").unwrap()).len();
        assert_eq!(asked.iter().filter(|a| a.starts_with("confirm ")).count(), accounts);
    }

    #[tokio::test]
    async fn each_failed_check_is_named() {
        let check = |r: Result<(), StackRejected>| r.unwrap_err().check;
        assert_eq!(check(verify(Err(ProbeError::Credentials), Ok(true)).await.0), StackCheck::RoleNotAssumable);
        assert_eq!(check(verify(Err(ProbeError::Other("throttled".into())), Ok(true)).await.0), StackCheck::QueueUnreadable);
        assert_eq!(check(verify(Ok(attrs(Some(full_policy("us-east-1")), true)), Ok(true)).await.0), StackCheck::FifoQueue);
        assert_eq!(check(verify(Ok(attrs(None, false)), Ok(true)).await.0), StackCheck::PolicyMissingDatasets);
        assert_eq!(check(verify(Ok(attrs(Some(full_policy("us-east-1")), false)), Ok(false)).await.0), StackCheck::ConfirmNotAllowed);
        assert_eq!(check(verify(Ok(attrs(Some(full_policy("us-east-1")), false)), Err("down".into())).await.0), StackCheck::Unavailable);
    }
}
