//! ams-ingest's thin SQS client against moto with signature checking on: moto verifies every
//! request's SigV4 signature against the IAM user it holds, so a signing mistake fails here
//! (and a wrong secret is refused), not first against real SQS.

use std::process::Command;

use ams_ingest::queue::thin::{Sqs, SqsError};
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
        let batch = sqs.receive(&url, 10, 1, 30, || true).await.expect("signed receive");
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
    match forged.receive(&url, 10, 0, 30, || true).await {
        Err(SqsError::Service { status, code, .. }) => assert!(status == 403 || status == 400, "{status} {code}"),
        other => panic!("a forged signature was accepted: {other:?}"),
    }
    // A queue that does not exist: the service's error code comes through.
    let missing = url.replace("signed", "missing");
    match sqs.receive(&missing, 10, 0, 30, || true).await {
        Err(SqsError::Service { code, .. }) => assert!(code.contains("NonExistentQueue") || code.contains("QueueDoesNotExist"), "{code}"),
        other => panic!("expected a service error: {other:?}"),
    }
}

mod faults {
    use std::time::{Duration, Instant, SystemTime};

    use ams_ingest::queue::thin::{Sqs, SqsError};
    use ams_ingest::queue::thin::retry::RetryPolicy;
    use ams_tests::aws::{self, Moto};
    use ams_tests::faulty::{Fault, FaultyProxy};
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_credential_types::Credentials;

    /// Quick timeouts: a hung request is given up after 1 s.
    fn through(proxy: &FaultyProxy) -> Sqs {
        let creds = SharedCredentialsProvider::new(Credentials::new("testing", "testing", None, None, "test"));
        let policy = RetryPolicy {
            attempts: 5,
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            connect_timeout: Duration::from_secs(1),
            request_margin: Duration::from_secs(1),
        };
        Sqs::with_policy("us-east-1", Some(&proxy.url), creds, policy).unwrap()
    }

    fn receives(proxy: &FaultyProxy) -> Vec<ams_tests::faulty::Seen> {
        proxy.seen().into_iter().filter(|s| s.target == "AmazonSQS.ReceiveMessage").collect()
    }

    #[tokio::test]
    async fn hangs_5xx_throttling_garbage_and_skew_are_ridden_out() {
        let moto = Moto::start();
        let sdk = moto.platform();
        let url = aws::create_queue(&sdk, "faulty").await;
        aws::send_all(&sdk, &url, &(0..4).map(|i| format!("m{i}")).collect::<Vec<_>>()).await;
        let proxy = FaultyProxy::start(&moto.url);
        let sqs = through(&proxy);

        // A black-holed request ends at the timeout and is retried on a new connection.
        proxy.inject("ReceiveMessage", Fault::Hang);
        let started = Instant::now();
        let got = sqs.receive(&url, 1, 0, 30, || true).await.expect("receive after a hung attempt");
        assert_eq!(got.len(), 1);
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        assert_eq!(receives(&proxy).len(), 2);

        // 500, then throttled, then garbage: three retries, then the answer.
        for f in [Fault::Status500, Fault::Throttle, Fault::Garbage] {
            proxy.inject("ReceiveMessage", f);
        }
        assert_eq!(sqs.receive(&url, 1, 0, 30, || true).await.unwrap().len(), 1);
        assert_eq!(receives(&proxy).len(), 6);
        assert_eq!(proxy.pending(), 0);

        // "Signature expired" with the server an hour ahead: the retry, and every later
        // request, is signed with the server's time.
        proxy.inject("ReceiveMessage", Fault::Skewed(Duration::from_secs(3600)));
        let msgs = sqs.receive(&url, 1, 0, 30, || true).await.expect("receive after a skew error");
        let seen = receives(&proxy);
        let date = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ").unwrap().and_utc();
        let ahead = date(&seen[seen.len() - 1].amz_date) - date(&seen[seen.len() - 2].amz_date);
        assert!((3590..=3610).contains(&ahead.num_seconds()), "signed {}s ahead", ahead.num_seconds());
        let receipts: Vec<String> = msgs.iter().map(|m| m.receipt_handle.clone()).collect();
        assert_eq!(sqs.delete_batch(&url, &receipts).await.unwrap(), 0);
        let delete = proxy.seen().into_iter().rfind(|s| s.target == "AmazonSQS.DeleteMessageBatch").unwrap();
        let now = chrono::DateTime::<chrono::Utc>::from(SystemTime::now());
        assert!((date(&delete.amz_date) - now).num_seconds() > 3500, "later calls keep the offset");

        // Garbage from a batch call is a failure, not "nothing failed".
        for _ in 0..5 {
            proxy.inject("ChangeMessageVisibilityBatch", Fault::Garbage);
        }
        match sqs.change_visibility_batch(&url, &receipts, 30).await {
            Err(SqsError::Unreadable(e)) => assert!(e.contains("ChangeMessageVisibilityBatch"), "{e}"),
            other => panic!("garbage accepted: {other:?}"),
        }

        // Not retried: a queue that does not exist; nor anything once the caller stops trying.
        let before = receives(&proxy).len();
        let missing = url.replace("faulty", "missing");
        assert!(matches!(sqs.receive(&missing, 1, 0, 30, || true).await, Err(SqsError::Service { .. })));
        assert_eq!(receives(&proxy).len(), before + 1);
        proxy.inject("ReceiveMessage", Fault::Status500);
        assert!(sqs.receive(&url, 1, 0, 30, || false).await.is_err());
        assert_eq!(receives(&proxy).len(), before + 2);
    }

    #[tokio::test]
    async fn a_connection_that_never_answers_is_given_up_and_plain_http_is_only_for_emulators() {
        // Accepts connections and never answers (nor closes).
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = silent.local_addr().unwrap();
        let _keep = std::thread::spawn(move || {
            let mut held = Vec::new();
            for c in silent.incoming() {
                held.push(c);
            }
        });
        let creds = SharedCredentialsProvider::new(Credentials::new("testing", "testing", None, None, "test"));
        let policy = RetryPolicy { attempts: 2, request_margin: Duration::from_secs(1), min_delay: Duration::from_millis(10), ..RetryPolicy::default() };
        let sqs = Sqs::with_policy("us-east-1", Some(&format!("http://{addr}")), creds.clone(), policy).unwrap();
        let started = Instant::now();
        let r = sqs.receive(&format!("http://{addr}/123456789012/q"), 10, 2, 30, || true).await;
        assert!(matches!(r, Err(SqsError::Timeout(_))), "{r:?}");
        let took = started.elapsed();
        assert!(took >= Duration::from_secs(6) && took < Duration::from_secs(10), "two attempts of 2 s + 1 s: {took:?}");
        // Without an operator's endpoint, SQS is reached over https only; odd schemes are refused.
        assert!(Sqs::new("us-east-1", None, creds.clone()).is_ok());
        assert!(Sqs::new("us-east-1", Some("ftp://example.com"), creds).is_err());
    }
}

/// What a receive asked its room (the memory budget) for, granted at once.
#[derive(Default)]
struct Recorded(std::sync::Mutex<Vec<u64>>);

impl ams_ingest::queue::ReceiveRoom for Recorded {
    fn hold(&self, bytes: u64) -> futures_util::future::BoxFuture<'_, ()> {
        self.0.lock().unwrap().push(bytes);
        Box::pin(std::future::ready(()))
    }
}

#[tokio::test]
async fn a_receive_takes_room_for_its_answer_before_reading_it() {
    let moto = Moto::start();
    let sdk = moto.config(Credentials::new("testing", "testing", None, None, "test"));
    let url = aws::create_queue(&sdk, "roomy").await;
    let bodies: Vec<String> = (0..3).map(|i| format!("{i} {}", "x".repeat(100 * 1024))).collect();
    aws::send_all(&sdk, &url, &bodies).await;
    let sqs = client(&moto, "testing", "testing");
    let room = Recorded::default();
    let mut got = Vec::new();
    while got.len() < bodies.len() {
        let batch = sqs.receive_within(&url, 10, 1, 30, || true, &room).await.expect("receive");
        got.extend(batch.into_iter().map(|m| m.body.len()));
    }
    let asked = room.0.lock().unwrap().clone();
    // Once per answer, from its announced length: twice it (the answer, and the bodies out of
    // it), so at least twice the bodies, and not much more.
    let bodies_len: usize = got.iter().sum();
    let total: u64 = asked.iter().sum();
    assert!(total >= 2 * bodies_len as u64 && total < 2 * bodies_len as u64 + 64 * 1024, "asked {asked:?} for {bodies_len} bytes of bodies");
    // An empty long poll asks for its few bytes only.
    let before = asked.len();
    assert!(sqs.receive_within(&url, 10, 0, 30, || true, &room).await.unwrap().is_empty());
    let asked = room.0.lock().unwrap().clone();
    assert_eq!(asked.len(), before + 1);
    assert!(asked[before] < 1024, "{asked:?}");
}
