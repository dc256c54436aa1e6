//! moto's server for SQS and STS over real HTTP, one per test (no shared state), and SDK
//! clients for the test's own calls. Accounts: moto keeps them apart by credentials, so a
//! queue created with credentials of an assumed role in account 111111111111 is visible only
//! with such credentials.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

pub struct Moto {
    child: Child,
    pub url: String,
}

/// The moto_server executable: `AMS_MOTO_SERVER`, or the venv scripts/test creates.
fn moto_server() -> String {
    std::env::var("AMS_MOTO_SERVER").unwrap_or_else(|_| "/var/cache/ams-hub/venv/bin/moto_server".into())
}

/// The venv's python (it has boto3, moto's dependency): `AMS_CFN_LINT`'s sibling, or the venv
/// scripts/test creates.
pub fn venv_python() -> String {
    let lint = std::env::var("AMS_CFN_LINT").unwrap_or_else(|_| "/var/cache/ams-hub/venv/bin/cfn-lint".into());
    std::path::Path::new(&lint).with_file_name("python").display().to_string()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Moto {
    pub fn start() -> Moto {
        Self::start_with(&[])
    }

    /// moto with extra environment, e.g. `INITIAL_NO_AUTH_ACTION_COUNT` to make it verify
    /// request signatures against the IAM users it holds.
    pub fn start_with(env: &[(&str, &str)]) -> Moto {
        // Port 0: the system picks a free port as moto binds it (no race with another test
        // taking a port chosen in advance), and Werkzeug's "Running on http://…" names it.
        let mut child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", "0"])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} ({e}): run scripts/test, which installs it", moto_server()));
        // The rest of its stderr (a line per request) is drained so that moto never blocks on it.
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.split("Running on ").nth(1) {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => Moto { child, url },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("moto did not say where it listens within 30 s");
            }
        }
    }

    /// SDK configuration with the platform's credentials (moto's default account 123456789012).
    pub fn platform(&self) -> SdkConfig {
        self.config(Credentials::new("testing", "testing", None, None, "test"))
    }

    pub fn config(&self, credentials: Credentials) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(credentials))
            .build()
    }

    /// Credentials of a role assumed in another account, as a brand would hand us.
    pub async fn assume(&self, role_arn: &str) -> SdkConfig {
        let sts = aws_sdk_sts::Client::new(&self.platform());
        let out = sts.assume_role().role_arn(role_arn).role_session_name("ams-test").send().await.unwrap();
        let c = out.credentials.unwrap();
        self.config(Credentials::new(c.access_key_id, c.secret_access_key, Some(c.session_token), None, "assumed"))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn create_queue(config: &SdkConfig, name: &str) -> String {
    let sqs = aws_sdk_sqs::Client::new(config);
    sqs.create_queue().queue_name(name).send().await.unwrap().queue_url.unwrap()
}

pub async fn send_all(config: &SdkConfig, queue_url: &str, bodies: &[String]) {
    let sqs = aws_sdk_sqs::Client::new(config);
    // SendMessageBatch takes at most 10 messages and 256 KiB in all.
    let mut chunks: Vec<&[String]> = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, b) in bodies.iter().enumerate() {
        if i > start && (i - start == 10 || bytes + b.len() > 256 * 1024) {
            chunks.push(&bodies[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += b.len();
    }
    if start < bodies.len() {
        chunks.push(&bodies[start..]);
    }
    for chunk in chunks {
        let entries = chunk.iter().enumerate().map(|(i, b)| {
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(b).build().unwrap()
        });
        let out = sqs.send_message_batch().queue_url(queue_url).set_entries(Some(entries.collect())).send().await.unwrap();
        assert!(out.failed.is_empty(), "send failed: {:?}", out.failed);
    }
}

/// Messages still on the queue (visible + in flight).
pub async fn backlog(config: &SdkConfig, queue_url: &str) -> i64 {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let sqs = aws_sdk_sqs::Client::new(config);
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let attrs = out.attributes.unwrap_or_default();
    [A::ApproximateNumberOfMessages, A::ApproximateNumberOfMessagesNotVisible]
        .iter()
        .map(|a| attrs.get(a).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0))
        .sum()
}

/// Deploys a template in moto as `deployer` would (`scripts/cfn_deploy.py`: create the stack,
/// wait for it), and answers what `aws cloudformation describe-stacks` prints.
pub fn deploy(moto: &Moto, deployer: &str, template: &str, stack: &str, region: &str) -> serde_json::Value {
    let file = std::env::temp_dir().join(format!("{stack}-{}.json", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, template).unwrap();
    let out = std::process::Command::new(venv_python())
        .arg(crate::repo_root().join("scripts/cfn_deploy.py"))
        .args([deployer, file.to_str().unwrap(), stack, region])
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    std::fs::remove_file(&file).ok();
    assert!(out.status.success(), "cfn_deploy: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `cfn-lint` (AWS's linter, in the venv scripts/test makes) passes `file`.
pub fn cfn_lint(file: &std::path::Path) {
    let lint = std::env::var("AMS_CFN_LINT").unwrap_or_else(|_| "/var/cache/ams-hub/venv/bin/cfn-lint".into());
    let out = std::process::Command::new(&lint).arg(file).output().unwrap_or_else(|e| panic!("{lint} ({e}): run scripts/test"));
    assert!(out.status.success(), "cfn-lint {}:\n{}{}", file.display(), String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// A described stack's outputs by key.
pub fn stack_outputs(described: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    described["Stacks"][0]["Outputs"]
        .as_array()
        .expect("the stack's outputs")
        .iter()
        .map(|o| (o["OutputKey"].as_str().unwrap().to_owned(), o["OutputValue"].as_str().unwrap().to_owned()))
        .collect()
}
