//! `serve`'s settings, read in one place. Layers, later over earlier (figment):
//! 1. the defaults in the structs below (and `RuntimeConfig`'s);
//! 2. the `--config` TOML file's `[runtime]`, `[api]` and `[ads]` tables (unknown keys are an
//!    error);
//! 3. `AMS_HUB_<KEY>` environment variables, where `<KEY>` is a key of one of those tables in
//!    capitals (`AMS_HUB_BATCH_ROWS` is `[runtime] batch_rows`), optionally with its table's
//!    name before it (`AMS_HUB_ADS_SYNC_SECS` is `[ads] sync_secs`). The keys are read off the
//!    structs themselves: a new field is a new variable, with no list to keep.
//!
//! Secrets ([`Secrets`]) come from the environment only: a secret does not belong in a file
//! that is checked in or mounted from a ConfigMap. Libraries receive values: nothing below the
//! binary reads a variable (except the AWS SDK's own standard chain, `Aws::from_env`).

use std::path::Path;

use ams_ingest::RuntimeConfig;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Everything `serve` needs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    pub runtime: RuntimeConfig,
    pub api: ApiConfig,
    pub ads: AdsConfig,
}

/// The admin API's settings (`[api]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// A list in the file; comma-separated in the environment.
    #[serde(deserialize_with = "ams_ingest::list_or_commas")]
    pub trusted_proxies: Vec<String>,
    /// Connections of the API's own pool (the API and the dashboard; ingest has its own).
    pub api_connections: u32,
    /// Postgres cancels an API or dashboard statement after this long (503 `timeout`).
    pub api_statement_timeout_ms: u64,
    /// Report queries one tenant may run at once (more: 429).
    pub reports_per_tenant: usize,
    /// The ARN of ams-hub's own IAM role, which brands' roles trust (brands' AWS templates
    /// need it).
    pub platform_principal: Option<String>,
    /// The host BI tools reach Postgres at, given in BI logins' connection strings; unset: the
    /// host of `DATABASE_URL`.
    pub bi_host: Option<String>,
    /// Its port; unset: the port of `DATABASE_URL`.
    pub bi_port: Option<u16>,
    /// Sessions one BI login may hold at once.
    pub bi_connections: u32,
    /// Postgres cancels a BI login's statement after this long.
    pub bi_statement_timeout_ms: u64,
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
            platform_principal: None,
            bi_host: None,
            bi_port: None,
            bi_connections: ams_store::bi_logins::BiRoleLimits::default().connections,
            bi_statement_timeout_ms: ams_store::bi_logins::BiRoleLimits::default().statement_timeout_ms,
        }
    }
}

/// The Amazon Ads side (`[ads]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdsConfig {
    /// How often the reconciler syncs subscriptions with Amazon (s).
    pub sync_secs: u64,
    /// How often while a subscription is on its way to ACTIVE (s).
    pub pending_sync_secs: u64,
    /// One base URL for the Ads API of every region (proxies, tests); unset: Amazon's.
    pub api_url: Option<String>,
    /// The base URL of Login with Amazon's token endpoint; unset: Amazon's.
    pub lwa_url: Option<String>,
    /// The base URL of Login with Amazon's consent page (`/ap/oa`); unset: Amazon's.
    pub lwa_consent_url: Option<String>,
}

impl Default for AdsConfig {
    fn default() -> Self {
        let d = ams_onboard::reconciler::ReconcilerConfig::default();
        AdsConfig { sync_secs: d.sync_every.as_secs(), pending_sync_secs: d.pending_every.as_secs(), api_url: None, lwa_url: None, lwa_consent_url: None }
    }
}

/// The keys of a table, read off its serialized default.
fn keys_of<T: Serialize>(table: &T) -> Vec<String> {
    match serde_json::to_value(table) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// `AMS_HUB_*` variables as `table.key`; variables that name no key (secrets, the scripts'
/// own) are not settings and are left alone.
fn environment() -> Env {
    let tables = [
        ("runtime", keys_of(&RuntimeConfig::default())),
        ("api", keys_of(&ApiConfig::default())),
        ("ads", keys_of(&AdsConfig::default())),
    ];
    Env::prefixed("AMS_HUB_").filter_map(move |key| {
        // The key as written (figment lowercases only after this map).
        let key = key.as_str().to_ascii_lowercase();
        let key = key.as_str();
        tables.iter().find_map(|(table, keys)| {
            let own = key.strip_prefix(table).and_then(|k| k.strip_prefix('_'));
            [Some(key), own].into_iter().flatten().find(|k| keys.iter().any(|known| known == k)).map(|k| format!("{table}.{k}").into())
        })
    })
}

/// The settings: defaults, the file, the environment; then checked.
pub fn load(path: Option<&Path>) -> anyhow::Result<ServeConfig> {
    let mut figment = Figment::from(Serialized::defaults(ServeConfig::default()));
    if let Some(p) = path {
        anyhow::ensure!(p.is_file(), "config file {} does not exist", p.display());
        figment = figment.merge(Toml::file_exact(p));
    }
    let config: ServeConfig = figment.merge(environment()).extract().map_err(|e| {
        // figment's error names the key and where its value came from (file or variable).
        anyhow::anyhow!("{}", e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))
    })?;
    check(&config).map(|()| config)
}

fn check(config: &ServeConfig) -> anyhow::Result<()> {
    let (api, runtime) = (&config.api, &config.runtime);
    anyhow::ensure!(api.auth_failures_per_minute > 0, "auth_failures_per_minute must be at least 1");
    ams_api::auth_failures::parse_proxies(&api.trusted_proxies).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(api.api_connections >= 2, "api_connections must be at least 2");
    anyhow::ensure!(api.api_statement_timeout_ms >= 100, "api_statement_timeout_ms must be at least 100");
    anyhow::ensure!(api.reports_per_tenant >= 1, "reports_per_tenant must be at least 1");
    anyhow::ensure!((1..=100).contains(&api.bi_connections), "bi_connections must be 1 to 100");
    anyhow::ensure!(api.bi_statement_timeout_ms >= 1000, "bi_statement_timeout_ms must be at least 1000");
    anyhow::ensure!(runtime.batch_rows > 0, "batch_rows must be at least 1");
    anyhow::ensure!(runtime.max_in_flight >= 10, "max_in_flight must be at least 10 (one receive)");
    anyhow::ensure!((0..=20).contains(&runtime.wait_seconds), "wait_seconds must be 0 to 20");
    anyhow::ensure!(runtime.lease_secs >= 3, "lease_secs must be at least 3");
    anyhow::ensure!(config.ads.sync_secs > 0 && config.ads.pending_sync_secs > 0, "ads sync_secs and pending_sync_secs must be at least 1");
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
    Ok(())
}

/// What only the environment holds. `Debug` shows which are set, never a value.
pub struct Secrets {
    admin_token: Option<String>,
    secret_key: Option<String>,
    secret_key_previous: Option<String>,
    ads_client_id: Option<String>,
    ads_client_secret: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("admin_token", &self.admin_token.is_some())
            .field("secret_key", &self.secret_key.is_some())
            .field("secret_key_previous", &self.secret_key_previous.is_some())
            .field("ads_client_id", &self.ads_client_id.is_some())
            .field("ads_client_secret", &self.ads_client_secret.is_some())
            .finish()
    }
}

impl Secrets {
    pub fn from_env() -> Secrets {
        let var = |n: &str| std::env::var(n).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        Secrets {
            admin_token: var("AMS_HUB_ADMIN_TOKEN"),
            secret_key: var("AMS_HUB_SECRET_KEY"),
            secret_key_previous: var("AMS_HUB_SECRET_KEY_PREVIOUS"),
            ads_client_id: var("AMS_HUB_ADS_CLIENT_ID"),
            ads_client_secret: var("AMS_HUB_ADS_CLIENT_SECRET"),
        }
    }

    /// `AMS_HUB_ADMIN_TOKEN`: unset or empty disables tenant management; a short one is refused.
    pub fn admin_token(&self) -> anyhow::Result<Option<&str>> {
        match self.admin_token.as_deref() {
            Some(t) if t.len() < 16 => anyhow::bail!("AMS_HUB_ADMIN_TOKEN is too short: use at least 16 characters (e.g. `openssl rand -hex 32`)"),
            t => Ok(t),
        }
    }

    /// `AMS_HUB_SECRET_KEY` with `AMS_HUB_SECRET_KEY_PREVIOUS`; `None` when unset.
    pub fn keyring(&self) -> Result<Option<ams_store::Keyring>, ams_store::SecretError> {
        self.secret_key.as_deref().map(|k| ams_store::Keyring::new(k, self.secret_key_previous.as_deref())).transpose()
    }

    /// The platform's LwA app (`AMS_HUB_ADS_CLIENT_ID`, `AMS_HUB_ADS_CLIENT_SECRET`): both or neither.
    pub fn platform_app(&self) -> anyhow::Result<Option<ams_onboard::ads::AdsApp>> {
        match (&self.ads_client_id, &self.ads_client_secret) {
            (Some(id), Some(secret)) => Ok(Some(ams_onboard::ads::AdsApp { client_id: id.clone(), client_secret: secret.clone() })),
            (None, None) => Ok(None),
            _ => anyhow::bail!("set both AMS_HUB_ADS_CLIENT_ID and AMS_HUB_ADS_CLIENT_SECRET, or neither"),
        }
    }
}

/// This process's name among the replicas: `[runtime] replica_id`, or the host name (the pod
/// name on Kubernetes) with the pid and a random suffix, so a restarted process never inherits
/// a dead one's leases by name.
pub fn replica_id(configured: Option<&str>) -> String {
    if let Some(id) = configured.filter(|id| !id.trim().is_empty()) {
        return id.to_owned();
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_owned()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "ams-hub".into());
    format!("{host}-{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// figment's `Jail` isolates the environment and the working directory per test.
    fn loaded(file: Option<&str>, vars: &[(&str, &str)]) -> Result<ServeConfig, String> {
        let mut out = Err(String::new());
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            for (k, v) in vars {
                jail.set_env(k, v);
            }
            let path = file.map(|text| {
                jail.create_file("ams-hub.toml", text).expect("write config");
                jail.directory().join("ams-hub.toml")
            });
            out = load(path.as_deref()).map_err(|e| e.to_string());
            Ok(())
        });
        out
    }

    #[test]
    fn the_environment_overrides_the_file_which_overrides_the_defaults() {
        let file = "[runtime]\nbatch_rows = 100\nbatch_ms = 7\n[api]\nlisten = \"127.0.0.1:9000\"\n[ads]\nsync_secs = 60\n";
        let c = loaded(Some(file), &[("AMS_HUB_BATCH_ROWS", "250"), ("AMS_HUB_ADS_PENDING_SYNC_SECS", "4")]).unwrap();
        assert_eq!(c.runtime.batch_rows, 250, "environment over file");
        assert_eq!(c.runtime.batch_ms, 7, "file over default");
        assert_eq!(c.runtime.max_in_flight, RuntimeConfig::default().max_in_flight, "default");
        assert_eq!(c.api.listen, "127.0.0.1:9000");
        assert_eq!((c.ads.sync_secs, c.ads.pending_sync_secs), (60, 4));
    }

    #[test]
    fn every_key_of_every_table_has_its_variable() {
        let c = loaded(
            None,
            &[
                ("AMS_HUB_SQS_CLIENT", "sdk"),
                ("AMS_HUB_API_CONNECTIONS", "3"),
                ("AMS_HUB_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1"),
                ("AMS_HUB_PLATFORM_PRINCIPAL", "arn:aws:iam::123456789012:role/ams-hub"),
                ("AMS_HUB_REPLICA_ID", "7"),
                ("AMS_HUB_LWA_URL", "http://127.0.0.1:9"),
                ("AMS_HUB_LWA_CONSENT_URL", "http://127.0.0.1:11"),
                ("AMS_HUB_ADS_API_URL", "http://127.0.0.1:10"),
                // Not settings: ignored, not an error.
                ("AMS_HUB_VENV", "/tmp/venv"),
                ("AMS_HUB_ADMIN_TOKEN", "a-secret-token-value"),
            ],
        )
        .unwrap();
        assert_eq!(c.runtime.sqs_client, ams_ingest::queue::SqsClient::Sdk);
        assert_eq!(c.api.api_connections, 3);
        assert_eq!(c.api.trusted_proxies, ["10.0.0.0/8", "192.168.1.1"]);
        assert_eq!(c.api.platform_principal.as_deref(), Some("arn:aws:iam::123456789012:role/ams-hub"));
        assert_eq!(c.runtime.replica_id.as_deref(), Some("7"), "a number-like value kept as the string it is");
        assert_eq!(c.ads.lwa_url.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(c.ads.lwa_consent_url.as_deref(), Some("http://127.0.0.1:11"));
        assert_eq!(c.ads.api_url.as_deref(), Some("http://127.0.0.1:10"));
    }

    #[test]
    fn a_bad_value_or_key_is_an_error_naming_it() {
        let e = loaded(None, &[("AMS_HUB_BATCH_ROWS", "many")]).unwrap_err();
        assert!(e.to_lowercase().contains("batch_rows") && e.contains("AMS_HUB_"), "{e}");
        let e = loaded(Some("[runtime]\nbatch_rowz = 1\n"), &[]).unwrap_err();
        assert!(e.contains("batch_rowz"), "{e}");
        let e = loaded(None, &[("AMS_HUB_WAIT_SECONDS", "21")]).unwrap_err();
        assert!(e.contains("wait_seconds must be 0 to 20"), "{e}");
        let e = loaded(None, &[("AMS_HUB_TRUSTED_PROXIES", "not-an-address")]).unwrap_err();
        assert!(e.contains("not-an-address"), "{e}");
        let e = loaded(Some("[api]\nlisten = \"127.0.0.1:1\"\nmetrics_listen = \"127.0.0.1:1\"\n"), &[]).unwrap_err();
        assert!(e.contains("must differ"), "{e}");
        let e = loaded(Some("[api]\nlisten = 'nowhere'\n"), &[]).unwrap_err();
        assert!(e.contains("host:port"), "{e}");
        assert!(loaded(Some("[databse]\nurl = 'x'\n"), &[]).is_err(), "an unknown table");
    }

    #[test]
    fn secrets_show_only_whether_they_are_set() {
        let s = Secrets {
            admin_token: Some("operator-token-1234".into()),
            secret_key: None,
            secret_key_previous: None,
            ads_client_id: Some("amzn1.application-oa2-client.x".into()),
            ads_client_secret: None,
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("operator-token-1234") && !shown.contains("amzn1"), "{shown}");
        assert!(s.platform_app().is_err(), "an id without its secret");
    }
}
