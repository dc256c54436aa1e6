#!/usr/bin/env python3
"""Deploys a brand's CloudFormation template (as GET .../aws-template?format=json renders it)
in the brand's AWS account on moto, the way `aws cloudformation deploy` would on AWS, and prints
the stack as `aws cloudformation describe-stacks` does: what the brand posts to .../aws-stack.

moto's CloudFormation does not create AWS::SQS::QueuePolicy resources: when the queue has no
policy after the deploy, the template's own policy document is applied with SetQueueAttributes
(and this script says so on stderr). Nor does it apply an AWS::S3::Bucket's
VersioningConfiguration: when the bucket's versioning differs from the template's, the
template's is applied with PutBucketVersioning (said on stderr too).

Usage (the venv's python; AWS_ENDPOINT_URL points at moto):
  cfn_deploy.py DEPLOYER_ROLE_ARN TEMPLATE.json STACK_NAME REGION [Key=Value ...]
DEPLOYER_ROLE_ARN `-` deploys with the ambient credentials (an IAM user's, when moto enforces
IAM and no deployer role exists).
"""
import json
import sys

import boto3

role, template_file, stack, region = sys.argv[1:5]
params = [dict(zip(("ParameterKey", "ParameterValue"), p.split("=", 1))) for p in sys.argv[5:]]
if role == "-":
    session = boto3.session.Session(region_name=region)
else:
    c = boto3.client("sts", region_name=region).assume_role(RoleArn=role, RoleSessionName="brand-deployer")["Credentials"]
    session = boto3.session.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                                    aws_session_token=c["SessionToken"], region_name=region)
body = open(template_file).read()
cfn = session.client("cloudformation")
cfn.create_stack(StackName=stack, TemplateBody=body, Parameters=params, Capabilities=["CAPABILITY_NAMED_IAM"])
cfn.get_waiter("stack_create_complete").wait(StackName=stack, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
described = cfn.describe_stacks(StackName=stack)
outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0]["Outputs"]}
sqs = session.client("sqs")
template = json.loads(body)
# (policy resource, queue resource, queue URL output, queue ARN output): the v1 queue's and the
# v2 notification queue's.
for policy_name, queue_name, url_key, arn_key in [("QueuePolicy", "Queue", "QueueUrl", "QueueArn"),
                                                  ("StreamDestinationQueuePolicy", "StreamDestinationQueue",
                                                   "StreamDestinationQueueUrl", "StreamDestinationQueueArn")]:
    if policy_name not in template["Resources"]:
        continue
    attrs = sqs.get_queue_attributes(QueueUrl=outputs[url_key], AttributeNames=["Policy"]).get("Attributes", {})
    if not attrs.get("Policy"):
        policy = template["Resources"][policy_name]["Properties"]["PolicyDocument"]
        text = json.dumps(policy).replace(json.dumps({"Fn::GetAtt": [queue_name, "Arn"]}), json.dumps(outputs[arn_key]))
        sqs.set_queue_attributes(QueueUrl=outputs[url_key], Attributes={"Policy": text})
        print(f"moto did not create AWS::SQS::QueuePolicy {policy_name}: applied the template's policy with SetQueueAttributes",
              file=sys.stderr)
s3 = session.client("s3")
for resource in cfn.describe_stack_resources(StackName=stack)["StackResources"]:
    if resource.get("ResourceType") != "AWS::S3::Bucket":
        continue
    wanted = template["Resources"][resource["LogicalResourceId"]]["Properties"].get("VersioningConfiguration", {}).get("Status")
    bucket = resource["PhysicalResourceId"]
    if wanted and s3.get_bucket_versioning(Bucket=bucket).get("Status") != wanted:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": wanted})
        print(f"moto did not apply {resource['LogicalResourceId']}'s VersioningConfiguration: applied it with PutBucketVersioning",
              file=sys.stderr)
print(json.dumps(described, default=str))
