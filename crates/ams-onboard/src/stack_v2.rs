//! Verifying a brand's Stream v2 destination before it is adopted: ams-hub assumes the loader's
//! role with the account's external id and checks what the loader will need: the notification
//! queue is readable, standard and the one the subscription names, and the bucket's object
//! versions can be listed and the bucket is versioned (without versions an overwritten file
//! would replace the old one unseen and could not land as a new version).

use ams_store::AccountId;

use crate::stack::{AwsProbe, ProbeError, StackCheck, StackRejected};

/// A destination as its stack's outputs describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Destination {
    pub region: String,
    pub bucket: String,
    pub queue_url: String,
    /// The queue ARN the subscription's `StreamDestinationConfiguration` names, when given.
    pub queue_arn: Option<String>,
}

fn rejected(check: StackCheck, message: String) -> StackRejected {
    StackRejected { check, message }
}

fn not_assumable(role_arn: &str) -> StackRejected {
    rejected(
        StackCheck::RoleNotAssumable,
        format!(
            "ams-hub could not assume {role_arn}: its trust policy must name ams-hub's role and require this account's \
             external id (deploy the template from GET …/aws-template?stream=v2 as it is)"
        ),
    )
}

/// Every AWS check of a v2 destination through `role_arn`; the first that fails.
pub async fn verify_v2_destination(
    aws: &dyn AwsProbe,
    role_arn: &str,
    external_id: &str,
    account: AccountId,
    d: &V2Destination,
) -> Result<(), StackRejected> {
    let role = aws.as_role(role_arn, external_id, account).await;
    let url = &d.queue_url;
    let attributes = role.queue_attributes(&d.region, url).await.map_err(|e| match e {
        ProbeError::Credentials => not_assumable(role_arn),
        ProbeError::Other(why) => rejected(StackCheck::QueueUnreadable, format!("reading {url} through {role_arn} failed: {why}")),
    })?;
    if attributes.get("FifoQueue").map(String::as_str) == Some("true") {
        return Err(rejected(StackCheck::FifoQueue, format!("{url} is a FIFO queue: Stream v2 notifies a standard queue")));
    }
    if let (Some(expected), Some(actual)) = (&d.queue_arn, attributes.get("QueueArn")) {
        if expected != actual {
            return Err(rejected(
                StackCheck::QueueUnreadable,
                format!("the queue at {url} is {actual}, not {expected} (the StreamDestinationConfiguration's queue)"),
            ));
        }
    }
    let versioning = role.bucket_versioning(&d.region, &d.bucket).await.map_err(|e| match e {
        ProbeError::Credentials => not_assumable(role_arn),
        ProbeError::Other(why) => rejected(
            StackCheck::BucketUnreadable,
            format!("listing the object versions of s3://{} through {role_arn} failed: {why}", d.bucket),
        ),
    })?;
    if versioning.as_deref() != Some("Enabled") {
        return Err(rejected(
            StackCheck::BucketNotVersioned,
            format!(
                "s3://{} is not versioned ({}): ams-hub lands each object version once, and needs versions to see an overwritten file",
                d.bucket,
                versioning.as_deref().unwrap_or("never enabled")
            ),
        ));
    }
    Ok(())
}
