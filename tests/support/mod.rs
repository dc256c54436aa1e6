//! Shared by the end-to-end tests: a fresh database per test (dropped afterwards, even when the
//! test panics), fixtures, the `ams-hub` binary, and generators of AMS streams.

pub mod amazon;
pub mod amazon_lwa;
pub mod amazon_sns;
pub mod amazon_v2;
pub mod api;
pub mod aws;
pub mod bench;
pub mod browser;
pub mod check;
pub mod contract;
pub mod faulty;
pub mod gen;
pub mod hostile;
pub mod receiver;
pub mod serve;
pub mod streams;
pub mod parquet_gen;
pub mod tcp_cut;
pub mod wait;

use std::path::PathBuf;

use ams_store::{Store, TenantSchema, TenantSlug};

/// Base URL of the Postgres server the tests use (no database name).
pub fn server_url() -> String {
    std::env::var("AMS_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A database created for one test and dropped when this value is dropped.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub fn new() -> TestDb {
        let name = format!("ams_test_{}", uuid::Uuid::new_v4().simple());
        let url = format!("{}/{}", server_url(), name);
        TestDb { name, url }
    }

    /// Connects (creating the database) and applies the control-plane migrations.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url).await.expect("connect to test Postgres");
        store.migrate().await.expect("migrate");
        store
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run inside a runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut c) = sqlx::PgConnection::connect(&format!("{}/postgres", server_url())).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut c)
                        .await;
                }
            })
        })
        .join();
    }
}

pub async fn tenant(store: &Store, slug: &str) -> TenantSchema {
    let slug = TenantSlug::parse(slug).unwrap();
    store.provision_tenant(&slug, slug.as_str()).await.unwrap();
    TenantSchema::of(&slug)
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("fixtures/ams").join(name)).unwrap()
}

/// The `ams-hub` binary of this build (scripts/test builds it before running the tests).
pub fn ams_hub_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("ams-hub");
    assert!(bin.exists(), "{} is missing: run `cargo build -p ams-hub` first (scripts/test does)", bin.display());
    bin
}
