//! `openapi.yaml` (checked in) is what the code serves: the document is generated from the
//! handlers, so a route, body or error changed without updating the file fails here.
//! Regenerate with `cargo run -p ams-hub -- openapi > openapi.yaml`.

#[test]
fn openapi_yaml_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi.yaml");
    let generated = ams_api::openapi::yaml();
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    if generated != checked_in {
        let first = generated.lines().zip(checked_in.lines()).position(|(a, b)| a != b);
        panic!(
            "openapi.yaml differs from the code (first differing line: {:?}); regenerate it with \
             `cargo run -p ams-hub -- openapi > openapi.yaml`",
            first.map(|i| i + 1)
        );
    }
}

#[test]
fn every_route_is_in_the_document() {
    let yaml = ams_api::openapi::yaml();
    for route in [
        "/healthz:", "/readyz:", "/v1/tenants:", "/v1/tenants/{tenant}:", "/v1/tenants/{tenant}/api-keys:",
        "/v1/tenants/{tenant}/api-keys/{key}:", "/v1/tenants/{tenant}/accounts:", "/v1/tenants/{tenant}/accounts/{account}:",
        "/v1/tenants/{tenant}/accounts/{account}/marketplaces:", "/v1/tenants/{tenant}/accounts/{account}/marketplaces/{code}:",
        "/v1/tenants/{tenant}/accounts/{account}/queues:", "/v1/tenants/{tenant}/accounts/{account}/queues/{queue}:",
        "/v1/tenants/{tenant}/accounts/{account}/status:", "/v1/tenants/{tenant}/quarantine:",
        "/v1/tenants/{tenant}/quarantine/{id}:", "/v1/tenants/{tenant}/quarantine/{id}/body:", "/v1/tenants/{tenant}/quarantine/{id}/replay:",
    ] {
        assert!(yaml.contains(&format!("  {route}\n")), "{route} missing from the OpenAPI document");
    }
    // Metrics have their own listener (AMS_HUB_METRICS_LISTEN): not part of the API.
    assert!(!yaml.contains("  /metrics:\n"), "/metrics is served on the API port's document");
}
