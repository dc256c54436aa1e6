//! The CloudFormation template of a brand's AWS side for one AMS queue region:
//!
//! * a standard SQS queue (SSE, 14 days' retention) and its dead-letter queue;
//! * the queue policy: `sns.amazonaws.com` may send only from Amazon's SNS topics of every
//!   dataset in the region's realm, and Amazon's reviewer role may read the queue's attributes
//!   (as Amazon's onboarding pages ask);
//! * the IAM role ams-hub assumes (created by the stack when `CreateRole` is `true`: IAM is
//!   global, so a brand with queues in two regions creates it once), trusting ams-hub's own
//!   role with the account's external id, plus a policy granting only what ams-hub does: on
//!   these queues receive, delete, change visibility, read attributes; and confirm the SNS
//!   subscriptions of Amazon's topics (`sns:ConfirmSubscription` on
//!   `arn:aws:sns:<region>:<account>:*` for each dataset's topic account of the realm, nothing
//!   wider): ams-hub signs the confirmation as this role, and SNS refuses a signed call the
//!   caller's policy does not allow;
//! * outputs: the role ARN, the queue URL and ARN, the dead-letter queue URL.
//!
//! Rendered as a JSON value (CloudFormation's long-form intrinsics), printed as YAML or JSON.

use ams_model::{DatasetInfo, Realm};
use serde_json::{json, Value};

/// Amazon's role that reads a destination queue's attributes when a subscription is made.
pub const AMAZON_REVIEWER_ROLE: &str = "arn:aws:iam::926844853897:role/ReviewerRole";

/// Messages a consumer failed this many times go to the dead-letter queue. High on purpose:
/// ams-hub quarantines what it cannot read and deletes it, so only an outage of ams-hub's own
/// (its database unreachable for hours) makes a message come back this often.
const MAX_RECEIVE_COUNT: u32 = 100;

const RETENTION_SECS: u32 = 14 * 24 * 3600;

pub struct TemplateInput<'a> {
    /// The AMS queue region: us-east-1, eu-west-1 or us-west-2.
    pub region: &'a str,
    /// The ARN of ams-hub's own role (`AMS_HUB_PLATFORM_PRINCIPAL`), which the brand's role trusts.
    pub platform_principal: &'a str,
    /// The account's external id (ams-hub's confused-deputy protection).
    pub external_id: &'a str,
    /// A short name for the brand's resources (queue and role names): letters, digits, `-`.
    pub resource_name: &'a str,
    /// The datasets whose topic accounts the queue policy admits (normally all of `DATASETS`).
    pub datasets: &'a [DatasetInfo],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("{0} is not an Amazon Marketing Stream queue region (us-east-1, eu-west-1, us-west-2)")]
    NotAnAmsRegion(String),
    #[error("the platform principal {0:?} is not an IAM role or user ARN")]
    BadPrincipal(String),
}

/// A rendered template.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsTemplate {
    pub body: Value,
    pub realm: Realm,
}

impl AwsTemplate {
    pub fn to_yaml(&self) -> String {
        yaml_serde::to_string(&self.body).expect("a JSON value is YAML")
    }
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.body).expect("a JSON value")
    }
}

/// The `aws cloudformation deploy` command for a template (v1 or v2) saved as `file`.
pub fn deploy_command(file: &str, stack: &str, region: &str) -> String {
    format!(
        "aws cloudformation deploy --template-file {file} --stack-name {stack} --region {region} \
         --capabilities CAPABILITY_NAMED_IAM --parameter-overrides CreateRole=true"
    )
}

/// The `aws:SourceArn` patterns of Amazon's SNS topics for every dataset in `realm`.
pub fn topic_arn_patterns(datasets: &[DatasetInfo], realm: Realm) -> Vec<String> {
    let mut accounts: Vec<&str> = datasets.iter().map(|d| d.topic_accounts[realm.index()]).collect();
    accounts.sort_unstable();
    accounts.dedup();
    accounts.iter().map(|a| format!("arn:aws:sns:{}:{a}:*", realm.region())).collect()
}

pub fn render(input: &TemplateInput<'_>) -> Result<AwsTemplate, TemplateError> {
    let realm = Realm::from_region(input.region).ok_or_else(|| TemplateError::NotAnAmsRegion(input.region.to_owned()))?;
    check_principal(input.platform_principal)?;
    let queue_arn = json!({"Fn::GetAtt": ["Queue", "Arn"]});
    let body = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!(
            "ams-hub: the Amazon Marketing Stream queue of {} in {} ({}), its dead-letter queue, and the role ams-hub reads it through",
            input.resource_name, input.region, realm.as_str()
        ),
        "Parameters": {
            "CreateRole": create_role_parameter(),
            "RoleName": {
                "Type": "String",
                "Default": format!("ams-hub-{}", input.resource_name),
                "Description": "The role ams-hub assumes (created here, or by this brand's stack in another region)"
            },
            "QueueName": {
                "Type": "String",
                "Default": format!("ams-hub-{}", input.resource_name),
                "Description": "The queue Amazon Marketing Stream delivers to (standard, not FIFO)"
            }
        },
        "Conditions": {
            "CreateRoleCondition": {"Fn::Equals": [{"Ref": "CreateRole"}, "true"]}
        },
        "Resources": {
            "DeadLetterQueue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "QueueName": {"Fn::Sub": "${QueueName}-dlq"},
                    "MessageRetentionPeriod": RETENTION_SECS,
                    "SqsManagedSseEnabled": true
                }
            },
            "Queue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "QueueName": {"Ref": "QueueName"},
                    "MessageRetentionPeriod": RETENTION_SECS,
                    "SqsManagedSseEnabled": true,
                    "RedrivePolicy": {
                        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
                        "maxReceiveCount": MAX_RECEIVE_COUNT
                    }
                }
            },
            "QueuePolicy": {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {
                    "Queues": [{"Ref": "Queue"}],
                    "PolicyDocument": queue_policy(queue_arn.clone(), input.datasets, realm)
                }
            },
            "Role": role(input.platform_principal, input.external_id, "Assumed by ams-hub to read Amazon Marketing Stream queues"),
            "ReadPolicy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyName": {"Fn::Sub": "ams-hub-${QueueName}-${AWS::Region}"},
                    "Roles": [{"Fn::If": ["CreateRoleCondition", {"Ref": "Role"}, {"Ref": "RoleName"}]}],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Sid": "ReadTheQueue",
                            "Effect": "Allow",
                            "Action": [
                                "sqs:ReceiveMessage",
                                "sqs:DeleteMessage",
                                "sqs:ChangeMessageVisibility",
                                "sqs:GetQueueAttributes"
                            ],
                            "Resource": [queue_arn.clone()]
                        }, {
                            "Sid": "ConfirmAmazonSubscriptions",
                            "Effect": "Allow",
                            "Action": "sns:ConfirmSubscription",
                            "Resource": topic_arn_patterns(input.datasets, realm)
                        }]
                    }
                }
            }
        },
        "Outputs": {
            "RoleArn": role_arn_output("Post as role_arn"),
            "QueueUrl": {"Description": "Post in queue_urls", "Value": {"Ref": "Queue"}},
            "QueueArn": {"Description": "The subscriptions' destination", "Value": queue_arn},
            "DeadLetterQueueUrl": {"Description": "Messages ams-hub failed 100 times", "Value": {"Ref": "DeadLetterQueue"}}
        }
    });
    Ok(AwsTemplate { body, realm })
}

/// `CreateRole`: IAM is global, so a brand's stack in a second region uses the first one's role.
pub(crate) fn create_role_parameter() -> Value {
    json!({
        "Type": "String",
        "AllowedValues": ["true", "false"],
        "Default": "true",
        "Description": "Create the IAM role (IAM is global: for a second region of the same brand, deploy with false)"
    })
}

/// ams-hub's own role must be an IAM (or STS) ARN: the brand's role trusts exactly it.
pub(crate) fn check_principal(principal: &str) -> Result<(), TemplateError> {
    if principal.starts_with("arn:aws:iam::") || principal.starts_with("arn:aws:sts::") {
        Ok(())
    } else {
        Err(TemplateError::BadPrincipal(principal.to_owned()))
    }
}

/// The role ams-hub assumes, made when `CreateRole` is `true`: it trusts ams-hub's own role
/// (`principal`) with the account's external id, and nothing else.
pub(crate) fn role(principal: &str, external_id: &str, description: &str) -> Value {
    json!({
        "Type": "AWS::IAM::Role",
        "Condition": "CreateRoleCondition",
        "Properties": {
            "RoleName": {"Ref": "RoleName"},
            "Description": description,
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"AWS": principal},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"sts:ExternalId": external_id}}
                }]
            }
        }
    })
}

/// The `RoleArn` output: the role made here, or the one a stack in another region made.
pub(crate) fn role_arn_output(description: &str) -> Value {
    json!({
        "Description": description,
        "Value": {"Fn::If": [
            "CreateRoleCondition",
            {"Fn::GetAtt": ["Role", "Arn"]},
            {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${RoleName}"}
        ]}
    })
}

/// The queue policy: Amazon's SNS topics of every dataset may send, Amazon's reviewer role may
/// read attributes. `queue_arn` is the queue's ARN (an intrinsic in a template).
pub fn queue_policy(queue_arn: Value, datasets: &[DatasetInfo], realm: Realm) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AmazonMarketingStreamTopics",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn.clone(),
                "Condition": {"ArnLike": {"aws:SourceArn": topic_arn_patterns(datasets, realm)}}
            },
            {
                "Sid": "AmazonMarketingStreamReviewer",
                "Effect": "Allow",
                "Principal": {"AWS": AMAZON_REVIEWER_ROLE},
                "Action": "sqs:GetQueueAttributes",
                "Resource": queue_arn
            }
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ams_model::{confirmable_in, DatasetId, DatasetKind, DATASETS};

    fn input<'a>(region: &'a str, datasets: &'a [DatasetInfo]) -> TemplateInput<'a> {
        TemplateInput {
            region,
            platform_principal: "arn:aws:iam::999999999999:role/ams-hub",
            external_id: "ext-123",
            resource_name: "brand-1",
            datasets,
        }
    }

    fn sources(t: &AwsTemplate) -> Vec<String> {
        let s = &t.body["Resources"]["QueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
        s["Condition"]["ArnLike"]["aws:SourceArn"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn every_dataset_is_admitted_in_every_region_with_its_account() {
        for realm in Realm::ALL {
            let t = render(&input(realm.region(), &DATASETS)).unwrap();
            let admitted = sources(&t);
            for d in &DATASETS {
                let pattern = format!("arn:aws:sns:{}:{}:*", realm.region(), d.topic_accounts[realm.index()]);
                assert!(admitted.contains(&pattern), "{} in {}", d.name, realm.region());
            }
            assert_eq!(admitted.len(), DATASETS.len(), "one account per dataset and realm");
            assert!(t.to_yaml().contains("ext-123"), "the external id is in the role's trust policy");
        }
    }

    #[test]
    fn a_dataset_added_to_the_table_is_in_the_policy_and_the_allow_list() {
        let mut table: Vec<DatasetInfo> = DATASETS.iter().map(|d| DatasetInfo { ..*d }).collect();
        table.push(DatasetInfo {
            id: DatasetId::SpTraffic,
            name: "sp-future-dataset",
            table: "amzn_stream_sp_future_dataset",
            kind: DatasetKind::HourlyDelta,
            topic_accounts: ["111122223333", "444455556666", "777788889999"],
            since_schema: 99,
        });
        let t = render(&input("eu-west-1", &table)).unwrap();
        assert!(sources(&t).contains(&"arn:aws:sns:eu-west-1:444455556666:*".to_string()));
        let arn = "arn:aws:sns:eu-west-1:444455556666:FEADMessageDeliveryTopic-sp-future-dataset-A1PA6795UKMFR9-X";
        assert_eq!(confirmable_in(&table, arn, None), Ok((DatasetId::SpTraffic, Realm::Eu)));
        assert!(ams_model::confirmable(arn, None).is_err(), "the real table does not have it");
    }

    #[test]
    fn the_role_may_confirm_exactly_the_realms_topic_accounts_and_read_only_its_queue() {
        for realm in Realm::ALL {
            let t = render(&input(realm.region(), &DATASETS)).unwrap();
            let statements = &t.body["Resources"]["ReadPolicy"]["Properties"]["PolicyDocument"]["Statement"];
            let confirm = &statements[1];
            assert_eq!(confirm["Action"], "sns:ConfirmSubscription");
            let resources: Vec<&str> = confirm["Resource"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
            let mut expected: Vec<String> =
                DATASETS.iter().map(|d| format!("arn:aws:sns:{}:{}:*", realm.region(), d.topic_accounts[realm.index()])).collect();
            expected.sort();
            expected.dedup();
            assert_eq!(resources, expected, "every topic account of {realm:?} and nothing wider");
            assert!(resources.iter().all(|r| !r.contains(":*:") && r.starts_with(&format!("arn:aws:sns:{}:", realm.region()))));
            assert_eq!(statements[0]["Resource"], json!([{"Fn::GetAtt": ["Queue", "Arn"]}]));
            assert_eq!(statements.as_array().unwrap().len(), 2);
        }
    }

    #[test]
    fn bad_regions_and_principals_are_refused() {
        assert_eq!(render(&input("eu-central-1", &DATASETS)).unwrap_err(), TemplateError::NotAnAmsRegion("eu-central-1".into()));
        let mut i = input("us-east-1", &DATASETS);
        i.platform_principal = "ams-hub";
        assert!(matches!(render(&i), Err(TemplateError::BadPrincipal(_))));
    }
}
