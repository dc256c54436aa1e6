//! `ams-hub serve`: the runtime (supervisor, consumers, normalizer, writers) on an actix
//! system, migrations applied first. SIGTERM or SIGINT: stop receiving, commit and delete what
//! is in flight, exit — within 30 s (what was not committed returns to its queue by itself).

use actix::Actor;
use actix_web::{web, HttpServer};
use ams_api::ads::AdsServices;
use ams_api::ApiState;
use ams_onboard::ads::{AdsApp, AdsClient, Endpoints, Lwa};
use ams_onboard::reconciler::{Reconciler, ReconcilerConfig};
use ams_ingest::{shutdown, Aws, Shutdown};
use ams_store::Store;
use anyhow::Context;
use crate::config::{AdsConfig, Secrets, ServeConfig};

/// The Amazon Ads API side: the client, the keyring, the platform's LwA app, and the
/// reconciler (started only with a key: it must open the stored refresh tokens).
fn ads_services(store: &Store, config: &AdsConfig, platform_app: Option<AdsApp>, replica: &str) -> (AdsServices, Option<actix::Addr<Reconciler>>) {
    let keyring = store.keyring().cloned();
    let reconciler = ReconcilerConfig {
        sync_every: std::time::Duration::from_secs(config.sync_secs),
        pending_every: std::time::Duration::from_secs(config.pending_sync_secs),
    };
    let http = ams_onboard::ads::http_client();
    let endpoints = Endpoints::new(config.api_url.as_deref(), config.lwa_url.as_deref()).with_consent(config.lwa_consent_url.as_deref());
    let client = AdsClient::new(http.clone(), Lwa::new(http, endpoints));
    let actor = keyring.as_ref().map(|k| {
        Reconciler::new(store.clone(), client.clone(), k.clone(), platform_app.clone(), replica.to_owned(), reconciler).start()
    });
    (AdsServices { client, keyring, platform_app }, actor)
}

pub async fn run(database_url: &str, mut config: ServeConfig, secrets: Secrets) -> anyhow::Result<()> {
    let admin = secrets.admin_token()?;
    let replica = config.runtime.replica_id.get_or_insert_with(|| crate::config::replica_id(None)).clone();
    // Bind first: a taken port is a clear error before anything else has started.
    let listener = std::net::TcpListener::bind(&config.api.listen)
        .with_context(|| format!("cannot listen on {}", config.api.listen))?;
    let metrics_listener = std::net::TcpListener::bind(&config.api.metrics_listen)
        .with_context(|| format!("cannot listen on {} (AMS_HUB_METRICS_LISTEN)", config.api.metrics_listen))?;
    let (api_addr, metrics_addr) = (listener.local_addr()?, metrics_listener.local_addr()?);
    let keyring = secrets.keyring()?;
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
    let supervisor = ams_ingest::start(store.clone(), aws.clone(), config.runtime.clone());
    tracing::info!("ams-hub serve: consuming the registered queues");

    if admin.is_none() {
        tracing::warn!("AMS_HUB_ADMIN_TOKEN is not set: tenant management through the API is disabled");
    }
    let emulator = aws.sqs_endpoint().map(str::to_owned);
    let quota = std::num::NonZeroU32::new(config.api.auth_failures_per_minute).expect("checked by config::load");
    let principal = config.api.platform_principal.clone();
    if principal.as_deref().is_none_or(|p| p.trim().is_empty()) {
        tracing::warn!("AMS_HUB_PLATFORM_PRINCIPAL is not set: brands' AWS templates cannot be rendered");
    }
    let (ads, reconciler) = ads_services(&store, &config.ads, secrets.platform_app()?, &replica);
    // The API and the dashboard on a pool of their own, every statement under a timeout: a
    // burst of heavy reports cannot take the connections ingest commits through.
    let api_store = store
        .api_pool(database_url, config.api.api_connections, std::time::Duration::from_millis(config.api.api_statement_timeout_ms))
        .await?;
    let state = web::Data::new(
        ApiState::new(api_store, admin.as_deref(), Some(std::sync::Arc::new(crate::runtime_handle::Runtime::new(supervisor.clone(), store.clone()))), emulator)
            .with_ingest_store(store.clone())
            .with_reports_per_tenant(config.api.reports_per_tenant)
            .with_webhook_hosts(ams_store::webhooks::rules::AllowedHosts::new(config.runtime.webhook_allow_http_hosts.iter().cloned()))
            .with_bi(ams_api::bi_logins::BiSettings {
                host: config.api.bi_host.clone(),
                port: config.api.bi_port,
                limits: ams_store::bi_logins::BiRoleLimits {
                    connections: config.api.bi_connections,
                    statement_timeout_ms: config.api.bi_statement_timeout_ms,
                },
            })
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
}
