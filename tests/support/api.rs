//! An HTTP client for the admin API of a running `ams-hub serve` (blocking; the server is
//! another process). Every answer is returned as (status, JSON body), errors included.

use std::time::Duration;

use serde_json::Value;

use crate::serve::Serve;
use crate::TestDb;

/// The operator token the tests start the server with.
pub const ADMIN_TOKEN: &str = "test-operator-token-0123456789";

#[derive(Clone)]
pub struct Api {
    pub base: String,
    /// The metrics listener's base URL.
    pub metrics: String,
}

/// `ams-hub serve` with the admin API on a free port and the operator token set; returns once
/// `/healthz` answers.
pub fn serve_with_api(db: &TestDb, moto_url: &str, extra_env: &[(&str, &str)]) -> (Serve, Api) {
    serve_bin_with_api(&crate::ams_hub_bin(), db, moto_url, extra_env)
}

/// [`serve_with_api`] with a given binary (the benches' release build).
pub fn serve_bin_with_api(bin: &std::path::Path, db: &TestDb, moto_url: &str, extra_env: &[(&str, &str)]) -> (Serve, Api) {
    let mut env = vec![("AMS_HUB_ADMIN_TOKEN", ADMIN_TOKEN)];
    env.extend_from_slice(extra_env);
    let serve = Serve::start_bin(bin, db, moto_url, &env);
    let api = Api { base: serve.api.clone(), metrics: serve.metrics.clone() };
    // Serve::start returns once the listener is bound: it answers from here on.
    if let Err(e) = ureq::get(&format!("{}/healthz", api.base)).call() {
        panic!("the API does not answer ({e}):\n{}", serve.log_text());
    }
    (serve, api)
}

impl Api {
    /// A JSON request; `token` goes in `Authorization: Bearer`.
    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
        self.raw(method, path, token, body.map(|b| ("application/json", b.to_string().into_bytes())))
    }

    /// Any body with any content type.
    pub fn raw(&self, method: &str, path: &str, token: Option<&str>, body: Option<(&str, Vec<u8>)>) -> (u16, Value) {
        let mut req = ureq::request(method, &format!("{}{path}", self.base)).timeout(Duration::from_secs(30));
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let result = match body {
            Some((content_type, bytes)) => req.set("Content-Type", content_type).send_bytes(&bytes),
            None => req.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = response.status();
        let text = response.into_string().unwrap_or_default();
        let json = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, json)
    }

    /// Calls that must succeed with `expected`; returns the body.
    pub fn ok(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>, expected: u16) -> Value {
        let (status, json) = self.call(method, path, token, body);
        assert_eq!(status, expected, "{method} {path}: {json}");
        json
    }

    pub fn text(&self, path: &str) -> String {
        ureq::get(&format!("{}{path}", self.base)).call().unwrap().into_string().unwrap()
    }

    /// The Prometheus text from the metrics listener.
    pub fn metrics_text(&self) -> String {
        ureq::get(&format!("{}/metrics", self.metrics)).call().unwrap().into_string().unwrap()
    }
}
