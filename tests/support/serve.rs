//! `ams-hub serve` as a child process against a test database and moto, with settings that
//! make tests quick (short polls, fast reconcile). Killed with SIGKILL when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::{ams_hub_bin, TestDb};

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
        let out = std::fs::File::create(&log).unwrap();
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
            .stdout(Stdio::null())
            .stderr(out);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.env("RUST_LOG", &rust_log);
        let mut serve = Serve { child: Some(cmd.spawn().expect("start ams-hub serve")), log, api: String::new(), metrics: String::new() };
        serve.wait_listening();
        serve
    }

    /// Reads the bound addresses from the log (`… admin API listening listen=127.0.0.1:PORT`).
    /// Gives up when the process exits first (a test of a failing start reads the log itself).
    fn wait_listening(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let log = strip_ansi(&self.log_text());
            let addr = |what: &str| {
                log.lines().find(|l| l.contains(what)).and_then(|l| l.split("listen=").nth(1)).map(|a| a.split_whitespace().next().unwrap_or("").to_owned())
            };
            if let (Some(api), Some(metrics)) = (addr("admin API listening"), addr("metrics listening")) {
                self.api = format!("http://{api}");
                self.metrics = format!("http://{metrics}");
                return;
            }
            let exited = self.child.as_mut().is_none_or(|c| c.try_wait().ok().flatten().is_some());
            if exited || std::time::Instant::now() > deadline {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The Prometheus text from the metrics listener.
    pub fn metrics_text(&self) -> String {
        ureq::get(&format!("{}/metrics", self.metrics)).call().ok().and_then(|r| r.into_string().ok()).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
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
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

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
