//! `ams-hub serve`: the runtime (supervisor, consumers, normalizer, writers) on an actix
//! system, migrations applied first. SIGTERM or SIGINT: stop receiving, commit and delete what
//! is in flight, exit — within 30 s (what was not committed returns to its queue by itself).

use std::path::Path;
use std::time::Duration;

use ams_ingest::{Aws, RuntimeConfig, Shutdown};
use ams_store::Store;
use anyhow::Context;
use serde::Deserialize;

/// The `--config` file: every section optional; unknown keys are an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    runtime: Option<RuntimeConfig>,
}

/// Runtime settings: the file's `[runtime]` table, then `AMS_HUB_*` variables over it.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<RuntimeConfig> {
    let mut config = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            let file: FileConfig = toml::from_str(&text).with_context(|| format!("in {}", p.display()))?;
            file.runtime.unwrap_or_default()
        }
        None => RuntimeConfig::default(),
    };
    fn var<T: std::str::FromStr>(name: &str, into: &mut T) -> anyhow::Result<()> {
        if let Ok(v) = std::env::var(name) {
            *into = v.parse().map_err(|_| anyhow::anyhow!("{name}={v:?} is not a valid value"))?;
        }
        Ok(())
    }
    var("AMS_HUB_BATCH_ROWS", &mut config.batch_rows)?;
    var("AMS_HUB_BATCH_MS", &mut config.batch_ms)?;
    var("AMS_HUB_RECONCILE_SECS", &mut config.reconcile_secs)?;
    var("AMS_HUB_MAX_IN_FLIGHT", &mut config.max_in_flight)?;
    var("AMS_HUB_MAX_POLLERS", &mut config.max_pollers)?;
    var("AMS_HUB_WAIT_SECONDS", &mut config.wait_seconds)?;
    var("AMS_HUB_VISIBILITY_SECS", &mut config.visibility_secs)?;
    var("AMS_HUB_BACKOFF_MIN_MS", &mut config.backoff_min_ms)?;
    var("AMS_HUB_BACKOFF_MAX_MS", &mut config.backoff_max_ms)?;
    anyhow::ensure!(config.batch_rows > 0, "batch_rows must be at least 1");
    anyhow::ensure!(config.max_in_flight >= 10, "max_in_flight must be at least 10 (one receive)");
    anyhow::ensure!((0..=20).contains(&config.wait_seconds), "wait_seconds must be 0 to 20");
    Ok(config)
}

pub async fn run(database_url: &str, config: RuntimeConfig) -> anyhow::Result<()> {
    let store = Store::connect(database_url).await?;
    store.migrate().await?;
    let aws = Aws::from_env().await;
    let supervisor = ams_ingest::start(store, aws, config);
    tracing::info!("ams-hub serve: consuming the registered queues");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
    }
    match tokio::time::timeout(Duration::from_secs(28), supervisor.send(Shutdown)).await {
        Ok(_) => tracing::info!("in-flight messages committed and deleted; bye"),
        Err(_) => tracing::warn!("shutdown timed out; uncommitted messages return to their queues"),
    }
    Ok(())
}
