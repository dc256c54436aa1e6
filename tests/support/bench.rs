//! Shared by the benches: fauxqs (a fast SQS emulator from npm; moto is too slow to measure
//! anything but itself), an SDK config for it, and a process's CPU time and memory from /proc.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};


use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

use crate::aws::free_port;

/// A running fauxqs and its URL; killed when dropped.
pub struct Fauxqs(Child, pub String);

impl Drop for Fauxqs {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn fauxqs() -> Fauxqs {
    let bin = std::env::var("AMS_FAUXQS").unwrap_or_else(|_| "/var/cache/ams-hub/fauxqs/node_modules/.bin/fauxqs".into());
    let port = free_port();
    let child = Command::new(&bin)
        .env("FAUXQS_PORT", port.to_string())
        .env("LOG_LEVEL", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e} (scripts/bench installs it)"));
    crate::wait::until_blocking("fauxqs to listen", 30, || std::net::TcpStream::connect(("127.0.0.1", port)).ok(), String::new);
    Fauxqs(child, format!("http://127.0.0.1:{port}"))
}

pub fn sdk(url: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "bench",
        )))
        .build()
}

/// utime + stime of a process, in seconds (Linux /proc).
pub fn cpu_seconds(pid: u32) -> f64 {
    let (user, system) = cpu_split(pid);
    user + system
}

/// (utime, stime) of a process, in seconds.
pub fn cpu_split(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    let ticks = |i: usize| fields[i].parse::<f64>().unwrap() / 100.0; // CLK_TCK is 100 on Linux
    (ticks(11), ticks(12))
}

/// Resident memory now, or its peak so far (`VmHWM`), in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    status_kb(pid, "VmRSS:") / 1024.0
}

pub fn peak_rss_mib(pid: u32) -> f64 {
    status_kb(pid, "VmHWM:") / 1024.0
}

fn status_kb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find(|l| l.starts_with(field)).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The release binary next to the bench, or `AMS_BENCH_BIN` (scripts/bench: the `dist` build).
pub fn release_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("AMS_BENCH_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("ams-hub");
    assert!(bin.exists(), "{} missing: cargo build --release -p ams-hub", bin.display());
    bin
}

/// Sends `bodies` with 8 concurrent senders, in batches of 10 that stay under 256 KiB.
pub async fn fill(sqs: &aws_sdk_sqs::Client, url: &str, bodies: std::sync::Arc<Vec<String>>) {
    let mut chunks: Vec<(usize, usize)> = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, b) in bodies.iter().enumerate() {
        if i > start && (i - start == 10 || bytes + b.len() > 256 * 1024) {
            chunks.push((start, i));
            (start, bytes) = (i, 0);
        }
        bytes += b.len();
    }
    if start < bodies.len() {
        chunks.push((start, bodies.len()));
    }
    let chunks = std::sync::Arc::new(chunks);
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (sqs, url, bodies, chunks) = (sqs.clone(), url.to_owned(), bodies.clone(), chunks.clone());
        tasks.push(tokio::spawn(async move {
            for (c, &(from, to)) in chunks.iter().enumerate() {
                if c % 8 != w {
                    continue;
                }
                let entries = bodies[from..to].iter().enumerate().map(|(i, b)| {
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(b).build().unwrap()
                });
                sqs.send_message_batch().queue_url(&url).set_entries(Some(entries.collect())).send().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// An sp-traffic record in an SNS envelope, as Amazon delivers it: idempotency id `<run>-<i>`,
/// one of 5,000 campaigns.
pub fn sp_traffic_body(i: usize, run: &str) -> String {
    let record = crate::fixture("sp-traffic.json")
        .replace("0b6f3f0e-5a8e-4c53-9a7e-2d1c6f4e8a11", &format!("{run}-{i}"))
        .replace("374615283940172", &format!("{}", 374615283940172u64 + (i % 5000) as u64));
    let compact: serde_json::Value = serde_json::from_str(&record).unwrap();
    crate::gen::envelope(&compact.to_string())
}

/// The report target's query, as the API runs it: totals by campaign over `range`, dearest
/// first (the reports and scale benches).
pub fn by_campaign(range: ams_store::reports::Range) -> ams_store::reports::PerformanceQuery {
    use ams_store::reports::{Dimension, Granularity, PerformanceQuery};
    PerformanceQuery {
        range,
        granularity: Granularity::Total,
        group_by: vec![Dimension::Campaign],
        advertisers: None,
        marketplace_id: None,
        product: None,
        campaign_id: None,
        sort: Some(("cost".into(), true)),
        limit: 10_000,
    }
}
