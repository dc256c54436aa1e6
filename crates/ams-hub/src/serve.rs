//! `ams-hub serve`: the runtime (supervisor, consumers, normalizer, writers) on an actix
//! system, migrations applied first. SIGTERM or SIGINT: stop receiving, commit and delete what
//! is in flight, exit — within 30 s (what was not committed returns to its queue by itself).

use std::path::Path;

use actix::Actor;
use actix_web::{web, HttpServer};
use ams_api::ads::AdsServices;
use ams_api::ApiState;
use ams_onboard::ads::{AdsApp, AdsClient, Endpoints, Lwa};
use ams_onboard::reconciler::{Reconciler, ReconcilerConfig};
use ams_store::Keyring;
use ams_ingest::{shutdown, Aws, RuntimeConfig, Shutdown};
use ams_store::Store;
use anyhow::Context;
use serde::Deserialize;

/// The `--config` file: every section optional; unknown keys are an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    runtime: Option<RuntimeConfig>,
    #[serde(default)]
    api: Option<ApiConfig>,
}

/// The admin API's settings (`[api]`). The operator token is read from the environment only
/// (`AMS_HUB_ADMIN_TOKEN`): a secret does not belong in a config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Address the admin API listens on.
    pub listen: String,
    /// Address `/metrics` listens on: its own port, so that the API's clients (tenants) never
    /// see the metrics, which name every tenant, account and queue.
    pub metrics_listen: String,
    /// Failed authentications per client address and minute before it gets 429.
    pub auth_failures_per_minute: u32,
    /// Proxies (CIDRs or addresses) whose `X-Forwarded-For` names the client, for that limit.
    pub trusted_proxies: Vec<String>,
    /// Connections of the API's own pool (the API and the dashboard; ingest has its own).
    pub api_connections: u32,
    /// Postgres cancels an API or dashboard statement after this long (503 `timeout`).
    pub api_statement_timeout_ms: u64,
    /// Report queries one tenant may run at once (more: 429).
    pub reports_per_tenant: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: "127.0.0.1:8080".into(),
            metrics_listen: "127.0.0.1:9464".into(),
            auth_failures_per_minute: ams_api::DEFAULT_AUTH_FAILURES_PER_MINUTE,
            trusted_proxies: Vec::new(),
            api_connections: 8,
            api_statement_timeout_ms: 15_000,
            reports_per_tenant: ams_api::report_slots::DEFAULT_REPORTS_PER_TENANT,
        }
    }
}

/// Everything `serve` needs.
#[derive(Debug, Clone, Default)]
pub struct ServeConfig {
    pub runtime: RuntimeConfig,
    pub api: ApiConfig,
}

/// Settings: the file's `[runtime]` and `[api]` tables, then `AMS_HUB_*` variables over them.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<ServeConfig> {
    let (mut config, mut api) = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            let file: FileConfig = toml::from_str(&text).with_context(|| format!("in {}", p.display()))?;
            (file.runtime.unwrap_or_default(), file.api.unwrap_or_default())
        }
        None => (RuntimeConfig::default(), ApiConfig::default()),
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
    var("AMS_HUB_QUEUE_ATTRIBUTES_SECS", &mut config.queue_attributes_secs)?;
    var("AMS_HUB_LEASE_SECS", &mut config.lease_secs)?;
    var("AMS_HUB_BACKOFF_MIN_MS", &mut config.backoff_min_ms)?;
    var("AMS_HUB_BACKOFF_MAX_MS", &mut config.backoff_max_ms)?;
    var("AMS_HUB_MAX_INFLIGHT_BYTES", &mut config.max_inflight_bytes)?;
    var("AMS_HUB_SQS_CLIENT", &mut config.sqs_client)?;
    if let Ok(v) = std::env::var("AMS_HUB_LISTEN") {
        api.listen = v;
    }
    if let Ok(v) = std::env::var("AMS_HUB_METRICS_LISTEN") {
        api.metrics_listen = v;
    }
    var("AMS_HUB_AUTH_FAILURES_PER_MINUTE", &mut api.auth_failures_per_minute)?;
    anyhow::ensure!(api.auth_failures_per_minute > 0, "auth_failures_per_minute must be at least 1");
    if let Ok(v) = std::env::var("AMS_HUB_TRUSTED_PROXIES") {
        api.trusted_proxies = v.split(',').map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect();
    }
    ams_api::auth_failures::parse_proxies(&api.trusted_proxies).map_err(anyhow::Error::msg)?;
    var("AMS_HUB_API_CONNECTIONS", &mut api.api_connections)?;
    var("AMS_HUB_API_STATEMENT_TIMEOUT_MS", &mut api.api_statement_timeout_ms)?;
    var("AMS_HUB_REPORTS_PER_TENANT", &mut api.reports_per_tenant)?;
    anyhow::ensure!(api.api_connections >= 2, "api_connections must be at least 2");
    anyhow::ensure!(api.api_statement_timeout_ms >= 100, "api_statement_timeout_ms must be at least 100");
    anyhow::ensure!(api.reports_per_tenant >= 1, "reports_per_tenant must be at least 1");
    anyhow::ensure!(config.batch_rows > 0, "batch_rows must be at least 1");
    anyhow::ensure!(config.max_in_flight >= 10, "max_in_flight must be at least 10 (one receive)");
    anyhow::ensure!((0..=20).contains(&config.wait_seconds), "wait_seconds must be 0 to 20");
    anyhow::ensure!(config.lease_secs >= 3, "lease_secs must be at least 3");
    for (name, addr) in [("listen", &api.listen), ("metrics_listen", &api.metrics_listen)] {
        anyhow::ensure!(
            addr.parse::<std::net::SocketAddr>().is_ok(),
            "{name} address {addr:?} is not host:port (e.g. 127.0.0.1:8080)"
        );
    }
    anyhow::ensure!(
        api.listen != api.metrics_listen || api.listen.ends_with(":0"),
        "listen and metrics_listen must differ: metrics are not served to API clients"
    );
    Ok(ServeConfig { runtime: config, api })
}

/// `AMS_HUB_ADMIN_TOKEN`: unset or empty disables tenant management; a short one is refused.
fn admin_token() -> anyhow::Result<Option<String>> {
    match std::env::var("AMS_HUB_ADMIN_TOKEN").ok().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) {
        Some(t) if t.len() < 16 => anyhow::bail!("AMS_HUB_ADMIN_TOKEN is too short: use at least 16 characters (e.g. `openssl rand -hex 32`)"),
        t => Ok(t),
    }
}

/// The Amazon Ads API side: the client, `AMS_HUB_SECRET_KEY`'s keyring, the platform's LwA app
/// (`AMS_HUB_ADS_CLIENT_ID`, `AMS_HUB_ADS_CLIENT_SECRET`), and the reconciler (started only
/// with a key: it must open the stored refresh tokens).
fn ads_services(store: &Store) -> anyhow::Result<(AdsServices, Option<actix::Addr<Reconciler>>)> {
    let keyring = store.keyring().cloned();
    let var = |n: &str| std::env::var(n).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let platform_app = match (var("AMS_HUB_ADS_CLIENT_ID"), var("AMS_HUB_ADS_CLIENT_SECRET")) {
        (Some(client_id), Some(client_secret)) => Some(AdsApp { client_id, client_secret }),
        (None, None) => None,
        _ => anyhow::bail!("set both AMS_HUB_ADS_CLIENT_ID and AMS_HUB_ADS_CLIENT_SECRET, or neither"),
    };
    let secs = |n: &str, default: u64| -> anyhow::Result<std::time::Duration> {
        let v = match var(n) {
            Some(v) => v.parse::<u64>().ok().filter(|s| *s > 0).ok_or_else(|| anyhow::anyhow!("{n}={v:?} is not a positive number of seconds"))?,
            None => default,
        };
        Ok(std::time::Duration::from_secs(v))
    };
    let defaults = ReconcilerConfig::default();
    let config = ReconcilerConfig {
        sync_every: secs("AMS_HUB_ADS_SYNC_SECS", defaults.sync_every.as_secs())?,
        pending_every: secs("AMS_HUB_ADS_PENDING_SYNC_SECS", defaults.pending_every.as_secs())?,
    };
    let http = ams_onboard::ads::http_client();
    let client = AdsClient::new(http.clone(), Lwa::new(http, Endpoints::from_env()));
    let actor = keyring.as_ref().map(|k| {
        Reconciler::new(store.clone(), client.clone(), k.clone(), platform_app.clone(), ams_ingest::replica_id(), config).start()
    });
    Ok((AdsServices { client, keyring, platform_app }, actor))
}

pub async fn run(database_url: &str, config: ServeConfig) -> anyhow::Result<()> {
    let admin = admin_token()?;
    // Bind first: a taken port is a clear error before anything else has started.
    let listener = std::net::TcpListener::bind(&config.api.listen)
        .with_context(|| format!("cannot listen on {}", config.api.listen))?;
    let metrics_listener = std::net::TcpListener::bind(&config.api.metrics_listen)
        .with_context(|| format!("cannot listen on {} (AMS_HUB_METRICS_LISTEN)", config.api.metrics_listen))?;
    let (api_addr, metrics_addr) = (listener.local_addr()?, metrics_listener.local_addr()?);
    let keyring = Keyring::from_env()?;
    let store = Store::connect(database_url).await?.with_keyring(keyring);
    store.migrate().await?;
    if store.keyring().is_some() {
        let sealed = store.seal_clear_external_ids().await?;
        if sealed > 0 {
            tracing::info!(accounts = sealed, "external ids stored in clear are now sealed with AMS_HUB_SECRET_KEY");
        }
    } else {
        tracing::warn!("AMS_HUB_SECRET_KEY is not set: external ids are stored in clear and Amazon Ads logins cannot be stored");
    }
    let aws = Aws::from_env().await;
    let supervisor = ams_ingest::start(store.clone(), aws.clone(), config.runtime);
    tracing::info!("ams-hub serve: consuming the registered queues");

    if admin.is_none() {
        tracing::warn!("AMS_HUB_ADMIN_TOKEN is not set: tenant management through the API is disabled");
    }
    let emulator = std::env::var("AWS_ENDPOINT_URL_SQS").or_else(|_| std::env::var("AWS_ENDPOINT_URL")).ok();
    let quota = std::num::NonZeroU32::new(config.api.auth_failures_per_minute).expect("checked by load_config");
    let principal = std::env::var("AMS_HUB_PLATFORM_PRINCIPAL").ok();
    if principal.as_deref().is_none_or(|p| p.trim().is_empty()) {
        tracing::warn!("AMS_HUB_PLATFORM_PRINCIPAL is not set: brands' AWS templates cannot be rendered");
    }
    let (ads, reconciler) = ads_services(&store)?;
    // The API and the dashboard on a pool of their own, every statement under a timeout: a
    // burst of heavy reports cannot take the connections ingest commits through.
    let api_store = store
        .api_pool(database_url, config.api.api_connections, std::time::Duration::from_millis(config.api.api_statement_timeout_ms))
        .await?;
    let state = web::Data::new(
        ApiState::new(api_store, admin.as_deref(), Some(std::sync::Arc::new(crate::runtime_handle::Runtime::new(supervisor.clone(), store.clone()))), emulator)
            .with_ingest_store(store.clone())
            .with_reports_per_tenant(config.api.reports_per_tenant)
            .with_auth_failures_per_minute(quota, ams_api::auth_failures::parse_proxies(&config.api.trusted_proxies).map_err(anyhow::Error::msg)?)
            .with_platform_principal(principal)
            .with_aws(std::sync::Arc::new(crate::runtime_handle::PlatformAws(aws)))
            .with_ads(ads),
    );
    let api_state = state.clone();
    let server = HttpServer::new(move || ams_api::app(Some(api_state.clone())).0)
        .workers(2)
        .disable_signals()
        .shutdown_timeout(shutdown::API_DRAIN.as_secs())
        .listen(listener)?
        .run();
    let api = server.handle();
    actix::spawn(server);
    // The bound address: with port 0 (tests) the system picks one, and this line says which.
    tracing::info!(listen = %api_addr, "admin API listening");
    let metrics_server = HttpServer::new(move || ams_api::metrics_app(state.clone()))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(shutdown::METRICS_DRAIN.as_secs())
        .listen(metrics_listener)?
        .run();
    let metrics = metrics_server.handle();
    actix::spawn(metrics_server);
    tracing::info!(listen = %metrics_addr, "metrics listening");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
    }
    api.stop(true).await;
    metrics.stop(true).await;
    if let Some(r) = reconciler {
        let _ = r.send(ams_onboard::reconciler::Stop).await;
    }
    match tokio::time::timeout(shutdown::RUNTIME, supervisor.send(Shutdown)).await {
        Ok(_) => tracing::info!("in-flight messages committed and deleted; bye"),
        Err(_) => tracing::warn!("shutdown timed out; uncommitted messages return to their queues"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kubernetes must not SIGKILL a pod that is still committing: the deployment's grace
    /// period covers serve's whole shutdown (ams_ingest::shutdown) with a margin.
    #[test]
    fn the_pod_grace_period_covers_the_shutdown() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/k8s/base/deployment.yaml");
        let yaml = std::fs::read_to_string(&path).unwrap();
        let grace: u64 = yaml
            .lines()
            .find_map(|l| l.trim().strip_prefix("terminationGracePeriodSeconds:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("terminationGracePeriodSeconds in the deployment");
        let needed = (shutdown::TOTAL + shutdown::POD_MARGIN).as_secs();
        assert!(grace >= needed, "terminationGracePeriodSeconds {grace} < {needed} (shutdown::TOTAL + POD_MARGIN)");
    }

    /// A scratch config file, removed on drop.
    struct ConfigFile(std::path::PathBuf);

    impl Drop for ConfigFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn file(text: &str) -> ConfigFile {
        let p = std::env::temp_dir().join(format!("ams-hub-config-{}.toml", uuid::Uuid::new_v4().simple()));
        std::fs::write(&p, text).unwrap();
        ConfigFile(p)
    }

    #[test]
    fn the_config_file_sets_runtime_keys_and_keeps_defaults_for_the_rest() {
        let f = file("[runtime]\nbatch_rows = 1000\nmax_pollers = 2\n");
        let c = load_config(Some(&f.0)).unwrap().runtime;
        assert_eq!((c.batch_rows, c.max_pollers), (1000, 2));
        assert_eq!(c.wait_seconds, RuntimeConfig::default().wait_seconds);
        let f = file("[api]\nlisten = '0.0.0.0:9000'\n");
        assert_eq!(load_config(Some(&f.0)).unwrap().api.listen, "0.0.0.0:9000");
        let f = file("[api]\nlisten = '127.0.0.1:9000'\nmetrics_listen = '127.0.0.1:9000'\n");
        assert!(format!("{:#}", load_config(Some(&f.0)).unwrap_err()).contains("must differ"));
        let f = file("[api]\nlisten = 'nowhere'\n");
        assert!(format!("{:#}", load_config(Some(&f.0)).unwrap_err()).contains("host:port"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_clear_errors() {
        let f = file("[runtime]\nbatch_rowz = 1000\n");
        let e = format!("{:#}", load_config(Some(&f.0)).unwrap_err());
        assert!(e.contains("batch_rowz"), "{e}");
        let f = file("[runtime]\nwait_seconds = 60\n");
        let e = format!("{:#}", load_config(Some(&f.0)).unwrap_err());
        assert!(e.contains("wait_seconds must be 0 to 20"), "{e}");
        let f = file("[databse]\nurl = 'x'\n");
        assert!(load_config(Some(&f.0)).is_err());
    }
}
