//! Onboarding a brand's AWS side through the API: the CloudFormation template of an account,
//! checked by `cfn-lint` (AWS's own linter) for every AMS region, with the role and without.

use std::process::Command;

use ams_tests::api::{serve_with_api, Api, ADMIN_TOKEN};
use ams_tests::aws::Moto;
use ams_tests::TestDb;
use serde_json::{json, Value};

const ADMIN: Option<&str> = Some(ADMIN_TOKEN);
const PRINCIPAL: &str = "arn:aws:iam::999999999999:role/ams-hub-platform";

fn cfn_lint() -> String {
    std::env::var("AMS_CFN_LINT").unwrap_or_else(|_| "/var/cache/ams-hub/venv/bin/cfn-lint".into())
}

/// A tenant with an `admin` key and an account selling in the US, Germany and Japan (one
/// marketplace per AMS region); returns (key, account id, external id).
fn brand(api: &Api, slug: &str) -> (String, String, String) {
    api.ok("POST", "/v1/tenants", ADMIN, Some(&json!({"slug": slug, "name": slug})), 201);
    let key = api.ok("POST", &format!("/v1/tenants/{slug}/api-keys"), ADMIN, Some(&json!({"name": "k", "scope": "admin"})), 201);
    let key = key["token"].as_str().unwrap().to_owned();
    let a = api.ok("POST", &format!("/v1/tenants/{slug}/accounts"), Some(&key), Some(&json!({"name": "Brand"})), 201);
    let id = a["id"].as_str().unwrap().to_owned();
    for m in ["US", "DE", "JP"] {
        api.ok("POST", &format!("/v1/tenants/{slug}/accounts/{id}/marketplaces"), Some(&key), Some(&json!({"marketplace": m})), 201);
    }
    (key, id, a["external_id"].as_str().unwrap().to_owned())
}

/// GET the template: (status, content type, deploy command header, body).
fn template(api: &Api, path: &str, token: &str) -> (u16, String, Option<String>, String) {
    let r = ureq::get(&format!("{}{path}", api.base)).set("Authorization", &format!("Bearer {token}")).call();
    let r = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let (status, ct, cmd) = (r.status(), r.content_type().to_owned(), r.header("Ams-Hub-Deploy-Command").map(str::to_owned));
    (status, ct, cmd, r.into_string().unwrap())
}

fn lint(file: &std::path::Path) {
    let out = Command::new(cfn_lint()).arg(file).output().unwrap_or_else(|e| panic!("{} ({e}): run scripts/test", cfn_lint()));
    assert!(out.status.success(), "cfn-lint {}:\n{}{}", file.display(), String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn the_template_of_every_region_passes_cfn_lint_with_and_without_the_role() {
    let db = TestDb::new();
    let moto = Moto::start();
    let (serve, api) = serve_with_api(&db, &moto.url, &[("AMS_HUB_PLATFORM_PRINCIPAL", PRINCIPAL)]);
    let (key, id, external_id) = brand(&api, "lint");
    let dir = std::env::temp_dir().join(format!("ams-cfn-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    for region in ["us-east-1", "eu-west-1", "us-west-2"] {
        let path = format!("/v1/tenants/lint/accounts/{id}/aws-template?region={region}");
        let (status, ct, cmd, yaml) = template(&api, &path, &key);
        assert_eq!(status, 200, "{yaml}");
        assert_eq!(ct, "application/yaml");
        let cmd = cmd.expect("the deploy command header");
        assert!(cmd.starts_with("aws cloudformation deploy --template-file ") && cmd.contains(&format!("--region {region}")), "{cmd}");
        assert!(yaml.contains(&external_id), "the role's trust policy carries the external id");
        assert!(yaml.contains(PRINCIPAL));
        let (status, ct, _, json_text) = template(&api, &format!("{path}&format=json"), &key);
        assert_eq!((status, ct.as_str()), (200, "application/json"));
        let mut body: Value = serde_json::from_str(&json_text).unwrap();
        assert_eq!(body["Parameters"]["CreateRole"]["Default"], "true");
        let with_role = dir.join(format!("{region}.yaml"));
        std::fs::write(&with_role, &yaml).unwrap();
        lint(&with_role);
        body["Parameters"]["CreateRole"]["Default"] = json!("false");
        let without_role = dir.join(format!("{region}-no-role.json"));
        std::fs::write(&without_role, body.to_string()).unwrap();
        lint(&without_role);
    }
    assert!(!serve.log_text().contains(&external_id), "the external id reached the log");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn the_template_is_refused_with_a_reason_and_never_to_read_keys_or_other_tenants() {
    let db = TestDb::new();
    let moto = Moto::start();
    let (_serve, api) = serve_with_api(&db, &moto.url, &[("AMS_HUB_PLATFORM_PRINCIPAL", PRINCIPAL)]);
    let (key, id, _) = brand(&api, "owner");
    let (other, _, _) = brand(&api, "other");
    let base = format!("/v1/tenants/owner/accounts/{id}/aws-template");
    let code = |path: &str, token: &str| -> (u16, String) {
        let (status, _, _, body) = template(&api, path, token);
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        (status, v["error"]["code"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(code(&format!("{base}?region=eu-central-1"), &key), (422, "invalid_request".into()));
    assert_eq!(code(&format!("{base}?region=us-east-1&format=xml"), &key), (422, "invalid_request".into()));
    assert_eq!(code(&base, &key).0, 400, "region is required");
    assert_eq!(code(&format!("{base}?region=us-east-1"), &other), (404, "not_found".into()));
    let read = api.ok("POST", "/v1/tenants/owner/api-keys", ADMIN, Some(&json!({"name": "r", "scope": "read"})), 201);
    assert_eq!(code(&format!("{base}?region=us-east-1"), read["token"].as_str().unwrap()), (403, "read_only".into()));
    // An account without marketplaces has no region yet.
    let bare = api.ok("POST", "/v1/tenants/owner/accounts", Some(&key), Some(&json!({"name": "New"})), 201);
    let bare_path = format!("/v1/tenants/owner/accounts/{}/aws-template?region=us-east-1", bare["id"].as_str().unwrap());
    assert_eq!(code(&bare_path, &key), (422, "invalid_request".into()));

    // A server without the platform principal says what the operator must set.
    let db2 = TestDb::new();
    let (_serve2, api2) = serve_with_api(&db2, &moto.url, &[]);
    let (key2, id2, _) = brand(&api2, "unset");
    let (status, _, _, body) = template(&api2, &format!("/v1/tenants/unset/accounts/{id2}/aws-template?region=us-east-1"), &key2);
    assert_eq!(status, 422);
    assert!(body.contains("platform_principal_unset") && body.contains("AMS_HUB_PLATFORM_PRINCIPAL"), "{body}");
}
