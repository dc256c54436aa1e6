//! `ams-hub serve` as a child process against a test database and moto, with settings that
//! make tests quick (short polls, fast reconcile). Killed with SIGKILL when dropped.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use crate::{ams_hub_bin, TestDb};

/// The `AMS_HUB_SECRET_KEY` servers start with: 32 bytes, base64 (tests only).
pub const TEST_SECRET_KEY: &str = "dGVzdC1zZWNyZXQta2V5LTAxMjM0NTY3ODlhYmNkZWY=";

pub struct Serve {
    child: Option<Child>,
    pub log: PathBuf,
    /// The admin API's base URL.
    pub api: String,
    /// The metrics listener's base URL (`/metrics` is not on the API port).
    pub metrics: String,
}

impl Serve {
    pub fn start(db: &TestDb, moto_url: &str, extra_env: &[(&str, &str)]) -> Serve {
        Self::start_bin(&ams_hub_bin(), db, moto_url, extra_env)
    }

    pub fn start_bin(bin: &std::path::Path, db: &TestDb, moto_url: &str, extra_env: &[(&str, &str)]) -> Serve {
        let log = std::env::temp_dir().join(format!("ams-serve-{}.log", uuid::Uuid::new_v4().simple()));
        // Port 0: the system picks free ports and the server logs which (no race between
        // choosing a port here and the server binding it).
        let rust_log = extra_env.iter().rev().find(|(k, _)| *k == "RUST_LOG").map_or("info,ams_ingest=debug", |(_, v)| *v);
        let rust_log = format!("{rust_log},ams_hub::serve=info");
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .env("DATABASE_URL", &db.url)
            .env("AWS_ENDPOINT_URL", moto_url)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .env("AMS_HUB_WAIT_SECONDS", "1")
            .env("AMS_HUB_RECONCILE_SECS", "1")
            .env("AMS_HUB_BATCH_MS", "50")
            .env("AMS_HUB_BACKOFF_MIN_MS", "200")
            .env("AMS_HUB_BACKOFF_MAX_MS", "2000")
            .env("AMS_HUB_LISTEN", "127.0.0.1:0")
            .env("AMS_HUB_METRICS_LISTEN", "127.0.0.1:0")
            // Secrets sealed at rest, as in production (a test may override or remove it).
            .env("AMS_HUB_SECRET_KEY", TEST_SECRET_KEY)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.env("RUST_LOG", &rust_log);
        let mut child = cmd.spawn().expect("start ams-hub serve");
        let listening = copy_log(child.stderr.take().expect("piped stderr"), &log);
        let mut serve = Serve { child: Some(child), log, api: String::new(), metrics: String::new() };
        serve.wait_listening(listening);
        serve
    }

    /// Takes the bound addresses the log announces (`… admin API listening listen=…`). Gives
    /// up when the process exits first (a test of a failing start reads the log itself).
    fn wait_listening(&mut self, listening: Receiver<(&'static str, String)>) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.api.is_empty() || self.metrics.is_empty() {
            match listening.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok((API, addr)) => self.api = format!("http://{addr}"),
                Ok((_, addr)) => self.metrics = format!("http://{addr}"),
                // Exited (the log ended), or never listened in time.
                Err(_) => return,
            }
        }
    }

    /// The Prometheus text from the metrics listener.
    pub fn metrics_text(&self) -> String {
        ureq::get(&format!("{}/metrics", self.metrics)).call().ok().and_then(|r| r.into_string().ok()).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The log so far, without colour codes. A log that cannot be read fails the test (a
    /// `!contains` check on an empty text would pass).
    pub fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_else(|e| panic!("reading the serve log {}: {e}", self.log.display()));
        strip_ansi(&text)
    }

    /// SIGKILL: no chance to commit or delete anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then the exit status (waits at most `secs`).
    pub fn terminate(&mut self, secs: u64) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let pid = c.id();
        let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(c.wait());
        });
        match rx.recv_timeout(Duration::from_secs(secs)) {
            Ok(status) => status.ok(),
            Err(_) => {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
                None
            }
        }
    }
}

/// Copies the server's log into `log` as it comes (the file is what tests read, and what is
/// kept when a test fails), and reports the addresses it announces it listens on.
fn copy_log(stderr: std::process::ChildStderr, log: &std::path::Path) -> Receiver<(&'static str, String)> {
    let mut file = std::fs::File::create(log).expect("create the serve log");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).split(b'\n') {
            let Ok(mut line) = line else { break };
            line.push(b'\n');
            if file.write_all(&line).is_err() {
                break;
            }
            let text = strip_ansi(&String::from_utf8_lossy(&line));
            for what in [API, METRICS] {
                if let Some(addr) = text.contains(what).then(|| text.split("listen=").nth(1)).flatten() {
                    let _ = tx.send((what, addr.split_whitespace().next().unwrap_or("").to_owned()));
                }
            }
        }
    });
    rx
}

const API: &str = "admin API listening";
const METRICS: &str = "metrics listening";

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill9();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        } else {
            eprintln!("ams-hub serve log kept at {}", self.log.display());
        }
    }
}

/// The log without terminal colour codes.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
