//! The crates' dependencies run one way: model → store → runtime/onboarding → api → binary.
//! Read from `cargo metadata`, so an edge added in a Cargo.toml fails here before review.

use std::process::Command;

/// What each workspace crate may depend on, from the bottom up. The runtime (`ams-ingest`)
/// and onboarding sit side by side and do not reach each other; the API reaches onboarding but
/// never the runtime; the binary joins them.
const ALLOWED: &[(&str, &[&str])] = &[
    ("ams-model", &[]),
    ("migration", &["ams-model"]),
    ("ams-store", &["ams-model", "migration"]),
    ("ams-ingest", &["ams-model", "ams-store"]),
    ("ams-onboard", &["ams-model", "ams-store"]),
    ("ams-api", &["ams-model", "ams-store", "ams-onboard"]),
    ("ams-hub", &["ams-model", "migration", "ams-store", "ams-ingest", "ams-onboard", "ams-api"]),
];

#[test]
fn dependencies_point_from_the_binary_down_to_the_model() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(ams_tests::repo_root())
        .output()
        .expect("run cargo metadata");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let workspace: Vec<&str> = ALLOWED.iter().map(|(n, _)| *n).collect();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for package in meta["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        if name == "ams-tests" {
            continue; // the end-to-end tests reach everything, by design
        }
        let Some((_, allowed)) = ALLOWED.iter().find(|(n, _)| *n == name) else {
            panic!("{name} is a workspace crate missing from ALLOWED")
        };
        for dep in package["dependencies"].as_array().unwrap() {
            let dep_name = dep["name"].as_str().unwrap();
            if workspace.contains(&dep_name) {
                checked += 1;
                if !allowed.contains(&dep_name) {
                    wrong.push(format!("{name} depends on {dep_name}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "dependencies against the direction model → store → runtime/onboarding → api → binary:\n{}", wrong.join("\n"));
    assert!(checked >= 10, "only {checked} workspace edges seen: is cargo metadata reading this workspace?");
}
