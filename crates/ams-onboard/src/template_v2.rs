//! The CloudFormation template of a brand's Stream v2 destination, for one region. It creates
//! what Amazon's own destination template creates, written here from the same facts:
//!
//! * a customer-managed KMS key for the data (Amazon's publisher may encrypt through S3 only)
//!   and one for the notification queues (through SQS only), each with an alias;
//! * the data bucket: versioned, SSE-KMS with a bucket key, public access blocked, owner
//!   enforced, access logs to a log bucket (SSE-S3, as S3 log delivery requires); its policy
//!   lets Amazon's `PublisherRole` put objects and `ReviewerRole` list the bucket's root, and
//!   refuses every request not over TLS;
//! * the notification queue (KMS, 14 days, long polling) and its dead-letter queue; the
//!   publisher may send, the reviewer may read attributes, TLS only;
//! * the role ams-hub's loader assumes (trusting ams-hub's role with the account's external id),
//!   allowed exactly what the loader does: list the bucket's object versions (and read whether it
//!   is versioned, which adopting the stack checks) and read them,
//!   decrypt with the two keys, and receive, delete, change the visibility of and read the
//!   attributes of the notification queue. Nothing else: no writes, no other bucket.
//!
//! Outputs: Amazon's (`StreamDestinationConfiguration` among them, the `s3Destination` of a
//! subscription) and `RoleArn`.
//!
//! Amazon's regions per realm for v2 differ from v1's queue regions: [`V2_REGIONS`].

use ams_model::Realm;
use serde_json::{json, Value};

use crate::template::{check_principal, create_role_parameter, role, role_arn_output, AwsTemplate, TemplateError, AMAZON_REVIEWER_ROLE};

/// Amazon's role that writes Stream v2 objects and notifications.
pub const AMAZON_PUBLISHER_ROLE: &str = "arn:aws:iam::926844853897:role/PublisherRole";

/// Where Amazon delivers Stream v2 per realm (its destination template's rules).
pub const V2_REGIONS: [(&str, Realm); 6] = [
    ("us-east-1", Realm::Na),
    ("eu-west-1", Realm::Eu),
    ("eu-west-2", Realm::Eu),
    ("eu-south-2", Realm::Eu),
    ("us-west-2", Realm::Fe),
    ("ap-southeast-1", Realm::Fe),
];

/// The realm whose Stream v2 destinations may live in `region`.
pub fn v2_realm(region: &str) -> Option<Realm> {
    V2_REGIONS.iter().find(|(r, _)| *r == region).map(|(_, realm)| *realm)
}

const RETENTION_SECS: u32 = 14 * 24 * 3600;

pub struct V2TemplateInput<'a> {
    /// One of [`V2_REGIONS`].
    pub region: &'a str,
    /// The ARN of ams-hub's own role (`AMS_HUB_PLATFORM_PRINCIPAL`).
    pub platform_principal: &'a str,
    /// The account's external id.
    pub external_id: &'a str,
    /// A short lowercase name for the brand's destination: letters, digits, `-`, 3 to 24
    /// characters (it goes into bucket names).
    pub destination_name: &'a str,
}

/// The resources' tags (the names carry the destination).
fn tags(purpose: &str) -> Value {
    json!([
        {"Key": "Application", "Value": "AmazonMarketingStream"},
        {"Key": "Purpose", "Value": purpose},
        {"Key": "ManagedBy", "Value": "ams-hub"}
    ])
}

/// A KMS key Amazon's publisher may use through `service` (`s3` or `sqs`) in this region.
fn key(what: &str, service: &str) -> Value {
    json!({
        "Type": "AWS::KMS::Key",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "Description": {"Fn::Sub": format!("ams-hub: encrypts ${{DestinationName}}'s Amazon Marketing Stream v2 {what}")},
            "EnableKeyRotation": true,
            "KeyPolicy": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "AccountAdministersTheKey",
                        "Effect": "Allow",
                        "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
                        "Action": "kms:*",
                        "Resource": "*"
                    },
                    {
                        "Sid": "AmazonPublisherEncrypts",
                        "Effect": "Allow",
                        "Principal": {"AWS": AMAZON_PUBLISHER_ROLE},
                        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                        "Resource": "*",
                        "Condition": {"StringEquals": {"kms:ViaService": {"Fn::Sub": format!("{service}.${{AWS::Region}}.amazonaws.com")}}}
                    }
                ]
            }
            // No tags on the keys: moto's CloudFormation fails the whole stack on a key's tags
            // (it reads them in KMS's own shape), and the alias names the key anyway.
        }
    })
}

/// Refuses every request to `resources` not made over TLS.
fn tls_only(action: &str, resources: Value) -> Value {
    json!({
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": resources,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}
    })
}

pub fn render_v2(input: &V2TemplateInput<'_>) -> Result<AwsTemplate, TemplateError> {
    let realm = v2_realm(input.region).ok_or_else(|| TemplateError::NotAnAmsRegion(input.region.to_owned()))?;
    check_principal(input.platform_principal)?;
    let bucket_arn = json!({"Fn::GetAtt": ["StreamDataBucket", "Arn"]});
    let objects = json!({"Fn::Sub": "${StreamDataBucket.Arn}/*"});
    let queue_arn = json!({"Fn::GetAtt": ["StreamDestinationQueue", "Arn"]});
    let dlq_arn = json!({"Fn::GetAtt": ["StreamDeadLetterQueue", "Arn"]});
    let body = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!(
            "ams-hub: the Amazon Marketing Stream v2 destination {} in {} ({}): a versioned data bucket and a notification queue under their own KMS keys, and the role ams-hub loads through",
            input.destination_name, input.region, realm.as_str()
        ),
        "Parameters": {
            "DestinationName": {
                "Type": "String",
                "Default": input.destination_name,
                "AllowedPattern": "^[a-z0-9][a-z0-9-]{1,22}[a-z0-9]$",
                "Description": "Lowercase name in the bucket, queue and key alias names (3 to 24 characters)"
            },
            "CreateRole": create_role_parameter(),
            "RoleName": {
                "Type": "String",
                "Default": format!("ams-hub-{}-v2", input.destination_name),
                "Description": "The role ams-hub's Stream v2 loader assumes"
            }
        },
        "Conditions": {
            "CreateRoleCondition": {"Fn::Equals": [{"Ref": "CreateRole"}, "true"]}
        },
        "Resources": {
            "StreamDataKey": key("data", "s3"),
            "StreamDataKeyAlias": {
                "Type": "AWS::KMS::Alias",
                "Properties": {"AliasName": {"Fn::Sub": "alias/${DestinationName}-ams-data"}, "TargetKeyId": {"Ref": "StreamDataKey"}}
            },
            "StreamQueueKey": key("notifications", "sqs"),
            "StreamQueueKeyAlias": {
                "Type": "AWS::KMS::Alias",
                "Properties": {"AliasName": {"Fn::Sub": "alias/${DestinationName}-ams-queue"}, "TargetKeyId": {"Ref": "StreamQueueKey"}}
            },
            "AccessLogBucket": {
                "Type": "AWS::S3::Bucket",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "BucketName": {"Fn::Sub": "${DestinationName}-${AWS::AccountId}-${AWS::Region}-logs"},
                    // S3 server access logs cannot be written under SSE-KMS.
                    "BucketEncryption": {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
                    "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true
                    },
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "LifecycleConfiguration": {"Rules": [{"Id": "ExpireAccessLogs", "Status": "Enabled", "ExpirationInDays": 365, "NoncurrentVersionExpiration": {"NoncurrentDays": 365}}]},
                    "Tags": tags("S3ServerAccessLogs")
                }
            },
            "AccessLogBucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": "AccessLogBucket"},
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "S3DeliversAccessLogs",
                                "Effect": "Allow",
                                "Principal": {"Service": "logging.s3.amazonaws.com"},
                                "Action": "s3:PutObject",
                                "Resource": {"Fn::Sub": "${AccessLogBucket.Arn}/access-logs/*"},
                                "Condition": {
                                    "ArnLike": {"aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${DestinationName}-${AWS::AccountId}-${AWS::Region}-data"}},
                                    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
                                }
                            },
                            tls_only("s3:*", json!([{"Fn::GetAtt": ["AccessLogBucket", "Arn"]}, {"Fn::Sub": "${AccessLogBucket.Arn}/*"}]))
                        ]
                    }
                }
            },
            "StreamDataBucket": {
                "Type": "AWS::S3::Bucket",
                "DependsOn": "AccessLogBucketPolicy",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "BucketName": {"Fn::Sub": "${DestinationName}-${AWS::AccountId}-${AWS::Region}-data"},
                    "BucketEncryption": {"ServerSideEncryptionConfiguration": [{
                        "BucketKeyEnabled": true,
                        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": ["StreamDataKey", "Arn"]}}
                    }]},
                    "LoggingConfiguration": {"DestinationBucketName": {"Ref": "AccessLogBucket"}, "LogFilePrefix": "access-logs/"},
                    "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true
                    },
                    // Versioned: an overwritten object keeps its old version, and the loader
                    // loads each (key, version) once.
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "Tags": tags("StreamData")
                }
            },
            "StreamDataBucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": "StreamDataBucket"},
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Sid": "AmazonPublisherDelivers", "Effect": "Allow", "Principal": {"AWS": AMAZON_PUBLISHER_ROLE}, "Action": "s3:PutObject", "Resource": objects.clone()},
                            {
                                "Sid": "AmazonReviewerValidates",
                                "Effect": "Allow",
                                "Principal": {"AWS": AMAZON_REVIEWER_ROLE},
                                "Action": "s3:ListBucket",
                                "Resource": bucket_arn.clone(),
                                "Condition": {"StringNotLike": {"s3:prefix": ["*"]}}
                            },
                            tls_only("s3:*", json!([bucket_arn.clone(), objects.clone()]))
                        ]
                    }
                }
            },
            "StreamDeadLetterQueue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "QueueName": {"Fn::Sub": "${DestinationName}-${AWS::AccountId}-${AWS::Region}-dlq"},
                    "KmsMasterKeyId": {"Fn::GetAtt": ["StreamQueueKey", "Arn"]},
                    "KmsDataKeyReusePeriodSeconds": 300,
                    "MessageRetentionPeriod": RETENTION_SECS,
                    "Tags": tags("DeadLetterQueue")
                }
            },
            "StreamDeadLetterQueuePolicy": {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {
                    "Queues": [{"Ref": "StreamDeadLetterQueue"}],
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [tls_only("sqs:*", dlq_arn.clone())]}
                }
            },
            "StreamDestinationQueue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "QueueName": {"Fn::Sub": "${DestinationName}-${AWS::AccountId}-${AWS::Region}-queue"},
                    "KmsMasterKeyId": {"Fn::GetAtt": ["StreamQueueKey", "Arn"]},
                    "KmsDataKeyReusePeriodSeconds": 300,
                    "MessageRetentionPeriod": RETENTION_SECS,
                    "ReceiveMessageWaitTimeSeconds": 20,
                    // A notification only wakes the loader, which lists the bucket: it is never
                    // worth holding for long, and one that keeps failing goes aside.
                    "VisibilityTimeout": 300,
                    "RedrivePolicy": {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 20},
                    "Tags": tags("StreamNotifications")
                }
            },
            "StreamDestinationQueuePolicy": {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {
                    "Queues": [{"Ref": "StreamDestinationQueue"}],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Sid": "AmazonPublisherNotifies", "Effect": "Allow", "Principal": {"AWS": AMAZON_PUBLISHER_ROLE}, "Action": "sqs:SendMessage", "Resource": queue_arn.clone()},
                            {"Sid": "AmazonReviewerValidates", "Effect": "Allow", "Principal": {"AWS": AMAZON_REVIEWER_ROLE}, "Action": "sqs:GetQueueAttributes", "Resource": queue_arn.clone()},
                            tls_only("sqs:*", queue_arn.clone())
                        ]
                    }
                }
            },
            "Role": role(input.platform_principal, input.external_id, "Assumed by ams-hub to load Amazon Marketing Stream v2 files"),
            "LoadPolicy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyName": {"Fn::Sub": "ams-hub-${DestinationName}-${AWS::Region}-v2"},
                    "Roles": [{"Fn::If": ["CreateRoleCondition", {"Ref": "Role"}, {"Ref": "RoleName"}]}],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Sid": "ListObjectVersions", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketVersioning"], "Resource": bucket_arn},
                            {"Sid": "ReadObjectVersions", "Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": objects},
                            {
                                "Sid": "DecryptWithTheDestinationsKeys",
                                "Effect": "Allow",
                                "Action": "kms:Decrypt",
                                "Resource": [{"Fn::GetAtt": ["StreamDataKey", "Arn"]}, {"Fn::GetAtt": ["StreamQueueKey", "Arn"]}]
                            },
                            {
                                "Sid": "ReadTheNotificationQueue",
                                "Effect": "Allow",
                                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
                                "Resource": queue_arn.clone()
                            }
                        ]
                    }
                }
            }
        },
        "Outputs": {
            "RoleArn": role_arn_output("The role ams-hub's loader assumes"),
            "StreamRealm": {"Description": "The realm this destination serves", "Value": realm.as_str()},
            "DestinationRegion": {"Description": "The region of the bucket and the queue", "Value": {"Ref": "AWS::Region"}},
            "StreamDataBucketName": {"Description": "The bucket Amazon writes Parquet files to", "Value": {"Ref": "StreamDataBucket"}},
            "StreamDataBucketArn": {"Description": "The subscription's bucketArn", "Value": {"Fn::GetAtt": ["StreamDataBucket", "Arn"]}},
            "StreamDestinationQueueUrl": {"Description": "The notification queue", "Value": {"Ref": "StreamDestinationQueue"}},
            "StreamDestinationQueueArn": {"Description": "The subscription's notification queueArn", "Value": queue_arn},
            "StreamDeadLetterQueueUrl": {"Description": "Notifications that failed 20 times", "Value": {"Ref": "StreamDeadLetterQueue"}},
            "StreamDataKmsKeyArn": {"Description": "The data's key", "Value": {"Fn::GetAtt": ["StreamDataKey", "Arn"]}},
            "StreamQueueKmsKeyArn": {"Description": "The notifications' key", "Value": {"Fn::GetAtt": ["StreamQueueKey", "Arn"]}},
            "StreamDestinationConfiguration": {
                "Description": "The s3Destination of a Stream v2 subscription",
                "Value": {"Fn::Sub": "{\"bucketArn\":\"${StreamDataBucket.Arn}\",\"notification\":{\"queueArn\":\"${StreamDestinationQueue.Arn}\"}}"}
            }
        }
    });
    Ok(AwsTemplate { body, realm })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(region: &str) -> V2TemplateInput<'_> {
        V2TemplateInput {
            region,
            platform_principal: "arn:aws:iam::999999999999:role/ams-hub",
            external_id: "ext-123",
            destination_name: "ams-1a2b3c4d",
        }
    }

    #[test]
    fn each_realm_renders_in_its_regions_only() {
        for (region, realm) in V2_REGIONS {
            let t = render_v2(&input(region)).unwrap();
            assert_eq!(t.realm, realm);
            assert_eq!(t.body["Outputs"]["StreamRealm"]["Value"], realm.as_str());
        }
        for region in ["eu-central-1", "ap-northeast-1", "us-east-2"] {
            assert_eq!(render_v2(&input(region)).unwrap_err(), TemplateError::NotAnAmsRegion(region.into()));
        }
    }

    #[test]
    fn the_loader_may_read_and_decrypt_and_nothing_more() {
        let t = render_v2(&input("eu-south-2")).unwrap();
        let statements = t.body["Resources"]["LoadPolicy"]["Properties"]["PolicyDocument"]["Statement"].as_array().unwrap().clone();
        let actions: Vec<String> = statements
            .iter()
            .flat_map(|s| match &s["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(a) => a.iter().map(|a| a.as_str().unwrap().to_owned()).collect(),
                _ => vec![],
            })
            .collect();
        assert_eq!(
            actions,
            [
                "s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketVersioning", "s3:GetObject", "s3:GetObjectVersion", "kms:Decrypt",
                "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"
            ]
        );
        assert!(statements.iter().all(|s| s["Effect"] == "Allow" && s["Resource"] != "*"), "every grant names its resource");
        let trust = &t.body["Resources"]["Role"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
        assert_eq!(trust["Condition"]["StringEquals"]["sts:ExternalId"], "ext-123");
    }

    #[test]
    fn amazons_roles_get_what_amazons_template_grants() {
        let t = render_v2(&input("us-east-1")).unwrap();
        let bucket = &t.body["Resources"]["StreamDataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"];
        assert_eq!((bucket[0]["Principal"]["AWS"].as_str(), bucket[0]["Action"].as_str()), (Some(AMAZON_PUBLISHER_ROLE), Some("s3:PutObject")));
        assert_eq!((bucket[1]["Principal"]["AWS"].as_str(), bucket[1]["Action"].as_str()), (Some(AMAZON_REVIEWER_ROLE), Some("s3:ListBucket")));
        assert_eq!(bucket[2]["Effect"], "Deny", "TLS only");
        let queue = &t.body["Resources"]["StreamDestinationQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"];
        assert_eq!((queue[0]["Principal"]["AWS"].as_str(), queue[0]["Action"].as_str()), (Some(AMAZON_PUBLISHER_ROLE), Some("sqs:SendMessage")));
        assert_eq!((queue[1]["Principal"]["AWS"].as_str(), queue[1]["Action"].as_str()), (Some(AMAZON_REVIEWER_ROLE), Some("sqs:GetQueueAttributes")));
        let data = &t.body["Resources"]["StreamDataBucket"]["Properties"];
        assert_eq!(data["VersioningConfiguration"]["Status"], "Enabled");
        assert_eq!(data["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"], "aws:kms");
    }
}
