//! ams-ingest's thin SQS client against moto with signature checking on: moto verifies every
//! request's SigV4 signature against the IAM user it holds, so a signing mistake fails here
//! (and a wrong secret is refused), not first against real SQS.

use std::process::Command;

use ams_ingest::sqs::{Sqs, SqsError};
use ams_tests::aws::{self, Moto};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;

/// Creates an IAM user allowed `sqs:*` with an access key (moto's first, unauthenticated calls).
fn iam_user(moto: &Moto) -> (String, String) {
    let python = std::env::var("AMS_HUB_VENV").unwrap_or_else(|_| "/var/cache/ams-hub/venv".into()) + "/bin/python";
    let script = r#"
import json, sys, boto3
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="setup", aws_secret_access_key="setup")
iam.create_user(UserName="hub")
iam.put_user_policy(UserName="hub", PolicyName="sqs", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}))
k = iam.create_access_key(UserName="hub")["AccessKey"]
print(k["AccessKeyId"], k["SecretAccessKey"])
"#;
    let out = Command::new(python).args(["-c", script, &moto.url]).output().expect("venv python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut parts = text.split_whitespace();
    (parts.next().unwrap().to_owned(), parts.next().unwrap().to_owned())
}

fn client(moto: &Moto, id: &str, secret: &str) -> Sqs {
    let creds = SharedCredentialsProvider::new(Credentials::new(id, secret, None, None, "test"));
    Sqs::new("us-east-1", Some(&moto.url), creds).expect("moto's URL is an endpoint")
}

#[tokio::test]
async fn signed_receive_delete_and_visibility_pass_moto_signature_checks() {
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]);
    let (id, secret) = iam_user(&moto);
    let sdk = moto.config(Credentials::new(&id, &secret, None, None, "test"));
    let url = aws::create_queue(&sdk, "signed").await;
    let bodies: Vec<String> = (0..25).map(|i| format!("{{\"n\": {i}, \"text\": \"caf\\u00e9 \\\"quoted\\\"\"}}")).collect();
    aws::send_all(&sdk, &url, &bodies).await;

    let sqs = client(&moto, &id, &secret);
    let mut got = Vec::new();
    while got.len() < bodies.len() {
        let batch = sqs.receive(&url, 10, 1, 30).await.expect("signed receive");
        assert!(!batch.is_empty(), "queue ran dry after {} messages", got.len());
        for m in &batch {
            assert_eq!(m.attributes.approximate_receive_count.as_deref(), Some("1"));
            assert!(m.attributes.sent_timestamp.is_some());
        }
        let receipts: Vec<String> = batch.iter().map(|m| m.receipt_handle.clone()).collect();
        assert_eq!(sqs.change_visibility_batch(&url, &receipts, 60).await.expect("signed visibility change"), 0);
        assert_eq!(sqs.delete_batch(&url, &receipts).await.expect("signed delete"), 0);
        got.extend(batch.into_iter().map(|m| m.body));
    }
    got.sort();
    let mut want = bodies.clone();
    want.sort();
    assert_eq!(got, want, "bodies arrive byte for byte");
    assert_eq!(aws::backlog(&sdk, &url).await, 0);

    // A wrong secret: moto recomputes the signature and refuses the request.
    let forged = client(&moto, &id, "not-the-secret");
    match forged.receive(&url, 10, 0, 30).await {
        Err(SqsError::Service { status, code, .. }) => assert!(status == 403 || status == 400, "{status} {code}"),
        other => panic!("a forged signature was accepted: {other:?}"),
    }
    // A queue that does not exist: the service's error code comes through.
    let missing = url.replace("signed", "missing");
    match sqs.receive(&missing, 10, 0, 30).await {
        Err(SqsError::Service { code, .. }) => assert!(code.contains("NonExistentQueue") || code.contains("QueueDoesNotExist"), "{code}"),
        other => panic!("expected a service error: {other:?}"),
    }
}
