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
        let listen = extra_env
            .iter()
            .rev()
            .find(|(k, _)| *k == "AMS_HUB_LISTEN")
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| format!("127.0.0.1:{}", crate::aws::free_port()));
        let metrics = extra_env
            .iter()
            .rev()
            .find(|(k, _)| *k == "AMS_HUB_METRICS_LISTEN")
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| format!("127.0.0.1:{}", crate::aws::free_port()));
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
            .env("RUST_LOG", "info,ams_ingest=debug")
            // Tests run in parallel: each server's API on its own port.
            .env("AMS_HUB_LISTEN", &listen)
            .env("AMS_HUB_METRICS_LISTEN", &metrics)
            .stdout(Stdio::null())
            .stderr(out);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        Serve {
            child: Some(cmd.spawn().expect("start ams-hub serve")),
            log,
            api: format!("http://{listen}"),
            metrics: format!("http://{metrics}"),
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
