#!/usr/bin/env python3
"""Plays the brand's side of the demo against moto: assumes the brand's role (a queue in the
brand's own AWS account), creates the standard queue AMS would deliver to, and later sends the
traffic to it, as Amazon's SNS topics would.

Usage (with the venv's python, which has boto3 through moto):
  demo_publish.py create ROLE_ARN QUEUE_NAME          -> prints the queue URL
  demo_publish.py send ROLE_ARN QUEUE_URL FILE        -> sends one message per line
  demo_publish.py backlog ROLE_ARN QUEUE_URL          -> prints visible + in-flight messages
"""
import sys
import boto3

def brand_session(role_arn):
    sts = boto3.client("sts")
    c = sts.assume_role(RoleArn=role_arn, RoleSessionName="demo-brand")["Credentials"]
    return boto3.session.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                                 aws_session_token=c["SessionToken"])

cmd, role = sys.argv[1], sys.argv[2]
sqs = brand_session(role).client("sqs")
if cmd == "create":
    url = sqs.create_queue(QueueName=sys.argv[3], Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    print(url)
elif cmd == "send":
    url = sys.argv[3]
    bodies = [line for line in open(sys.argv[4]).read().split("\n") if line]
    for i in range(0, len(bodies), 10):
        entries = [{"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i:i + 10])]
        failed = sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed")
        if failed:
            sys.exit(f"send failed: {failed}")
    print(len(bodies))
elif cmd == "backlog":
    a = sqs.get_queue_attributes(QueueUrl=sys.argv[3], AttributeNames=["ApproximateNumberOfMessages",
                                                                        "ApproximateNumberOfMessagesNotVisible"])
    print(sum(int(v) for v in a["Attributes"].values()))
