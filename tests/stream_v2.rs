//! Stream v2 (preview), the brand's side: the destination template `GET …/aws-template?stream=v2`
//! renders for every region Amazon delivers v2 to, checked by `cfn-lint` (AWS's own linter)
//! and deployed on moto; regions outside the account's realms are refused with the allowed ones.

use ams_tests::api::{serve_with_api, Api, ADMIN_TOKEN};
use ams_tests::aws::{cfn_lint as lint, deploy, Moto};
use ams_tests::TestDb;
use serde_json::{json, Value};

const ADMIN: Option<&str> = Some(ADMIN_TOKEN);
const PRINCIPAL: &str = "arn:aws:iam::999999999999:role/ams-hub-platform";

/// A tenant with a `write` key and an account selling in `marketplaces`; (key, account id,
/// external id).
fn brand(api: &Api, slug: &str, marketplaces: &[&str]) -> (String, String, String) {
    api.ok("POST", "/v1/tenants", ADMIN, Some(&json!({"slug": slug, "name": slug})), 201);
    let key = api.ok("POST", &format!("/v1/tenants/{slug}/api-keys"), ADMIN, Some(&json!({"name": "k", "scope": "write"})), 201);
    let key = key["token"].as_str().unwrap().to_owned();
    let a = api.ok("POST", &format!("/v1/tenants/{slug}/accounts"), Some(&key), Some(&json!({"name": "Brand"})), 201);
    let id = a["id"].as_str().unwrap().to_owned();
    for m in marketplaces {
        api.ok("POST", &format!("/v1/tenants/{slug}/accounts/{id}/marketplaces"), Some(&key), Some(&json!({"marketplace": m})), 201);
    }
    (key, id, a["external_id"].as_str().unwrap().to_owned())
}

/// GET with a key: (status, deploy command header, body).
fn get(api: &Api, path: &str, token: &str) -> (u16, Option<String>, String) {
    let r = match ureq::get(&format!("{}{path}", api.base)).set("Authorization", &format!("Bearer {token}")).call() {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    (r.status(), r.header("Ams-Hub-Deploy-Command").map(str::to_owned), r.into_string().unwrap())
}

#[tokio::test]
async fn the_v2_destination_of_every_region_passes_cfn_lint_and_deploys_on_moto() {
    let db = TestDb::new();
    let moto = Moto::start();
    let (serve, api) = serve_with_api(&db, &moto.url, &[("AMS_HUB_PLATFORM_PRINCIPAL", PRINCIPAL)]);
    let (key, id, external_id) = brand(&api, "vtwo", &["US", "DE", "JP"]);
    let dir = std::env::temp_dir().join(format!("ams-cfn-v2-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    for region in ["us-east-1", "eu-west-1", "eu-west-2", "eu-south-2", "us-west-2", "ap-southeast-1"] {
        let path = format!("/v1/tenants/vtwo/accounts/{id}/aws-template?region={region}&stream=v2");
        let (status, command, yaml) = get(&api, &path, &key);
        assert_eq!(status, 200, "{yaml}");
        let command = command.unwrap();
        assert!(command.contains(&format!("--region {region}")) && command.contains("-v2"), "{command}");
        assert!(yaml.contains(&external_id) && yaml.contains(PRINCIPAL), "the loader's role trusts ams-hub with the external id");
        let file = dir.join(format!("{region}.yaml"));
        std::fs::write(&file, &yaml).unwrap();
        lint(&file);
    }

    // Deployed in the brand's account on moto: Amazon's outputs, consistent with each other.
    let (_, _, json_text) = get(&api, &format!("/v1/tenants/vtwo/accounts/{id}/aws-template?region=eu-west-2&stream=v2&format=json"), &key);
    let described = deploy(&moto, "arn:aws:iam::111111111111:role/brand-deployer", &json_text, "ams-hub-v2", "eu-west-2");
    let outputs = ams_tests::aws::stack_outputs(&described);
    let destination: Value = serde_json::from_str(&outputs["StreamDestinationConfiguration"]).unwrap();
    assert_eq!(destination, json!({"bucketArn": outputs["StreamDataBucketArn"], "notification": {"queueArn": outputs["StreamDestinationQueueArn"]}}));
    assert!(outputs["StreamDataBucketArn"].ends_with("-111111111111-eu-west-2-data"), "{outputs:?}");
    assert!(outputs["RoleArn"].starts_with("arn:aws:iam::111111111111:role/ams-hub-"), "{outputs:?}");
    assert_eq!(outputs["StreamRealm"], "EU");

    // Outside the account's realms, or a stream that does not exist: refused, saying what to use.
    let (_, id_us, _) = brand(&api, "usonly", &["US"]);
    let (status, _, body) = get(&api, &format!("/v1/tenants/usonly/accounts/{id_us}/aws-template?region=eu-west-2&stream=v2"), &key);
    assert_eq!(status, 404, "another tenant's key: {body}");
    let key_us = api.ok("POST", "/v1/tenants/usonly/api-keys", ADMIN, Some(&json!({"name": "k", "scope": "write"})), 201)["token"].as_str().unwrap().to_owned();
    let (status, _, body) = get(&api, &format!("/v1/tenants/usonly/accounts/{id_us}/aws-template?region=eu-west-2&stream=v2"), &key_us);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("use us-east-1"), "{body}");
    let (status, _, body) = get(&api, &format!("/v1/tenants/usonly/accounts/{id_us}/aws-template?region=us-east-1&stream=v3"), &key_us);
    assert_eq!(status, 422, "{body}");
    assert!(!serve.log_text().contains(&external_id), "the external id reached the log");
    std::fs::remove_dir_all(dir).ok();
}
