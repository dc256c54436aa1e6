//! `docs/datasets.md` is generated from the model (every dataset's tables, key and columns), so
//! the documentation cannot drift from the tables. After a model change, regenerate it with
//! `AMS_BLESS=1 cargo test -p ams-model --test datasets_doc`.

use std::path::PathBuf;

use ams_model::{columns_of, BudgetUsage, DatasetKind, DATASETS};

fn render() -> String {
    let mut out = String::from(
        "# Datasets and their tables\n\n\
         Generated from the model (`crates/ams-model`) by `crates/ams-model/tests/datasets_doc.rs`;\n\
         do not edit by hand. Every table lives in the tenant's schema (`tenant_<slug>`) and also has\n\
         `hub_account_id` (the ams-hub account the record came through; null for files) and\n\
         `received_at`. Column names follow Amazon's field names in snake_case.\n\n\
         | dataSetId | kind | tables | one row per |\n|---|---|---|---|\n",
    );
    for d in &DATASETS {
        let (tables, key) = match d.kind {
            DatasetKind::HourlyDelta => {
                let s = d.id.delta_spec().unwrap();
                (format!("`{0}`, `{0}_hourly`", d.table), format!("delta: `idempotency_id`; rollup: {}", s.key.join(", ")))
            }
            DatasetKind::Entity => {
                let s = d.id.entity_spec().unwrap();
                (format!("`{0}`, `{0}_history`", d.table), format!("{} (history: + version)", s.key.join(", ")))
            }
            DatasetKind::BudgetUsage => (
                format!("`{0}`, `{0}_current`", d.table),
                format!("notification; current: {}", BudgetUsage::SCOPE_KEY.join(", ")),
            ),
            DatasetKind::Snapshot => {
                let s = d.id.snapshot_spec().unwrap();
                (
                    format!("`{0}`, `{0}_history`, view `{0}{1}`", d.table, s.view.0),
                    format!("{} (history: each distinct state)", s.key.join(", ")),
                )
            }
        };
        out.push_str(&format!("| `{}` | {} | {tables} | {key} |\n", d.name, d.kind.as_str()));
    }
    for d in &DATASETS {
        out.push_str(&format!("\n## `{}` ({})\n\n| column | type | role |\n|---|---|---|\n", d.name, d.kind.as_str()));
        for c in columns_of(d.id) {
            let role = match d.kind {
                DatasetKind::HourlyDelta => {
                    let s = d.id.delta_spec().unwrap();
                    if c.name == "idempotency_id" {
                        "dedupe key (delta table only)".to_string()
                    } else if s.key.contains(&c.name) {
                        "natural key (rollup)".into()
                    } else if s.metrics.contains(&c.name) {
                        "metric: summed in `_hourly`, null as 0".into()
                    } else {
                        "attribute: as sent with the key's first delta".into()
                    }
                }
                DatasetKind::Entity => {
                    let s = d.id.entity_spec().unwrap();
                    if s.key.contains(&c.name) {
                        "key".to_string()
                    } else if c.name == "version" {
                        "the highest is current".into()
                    } else if c.name == "payload" {
                        "the whole record as received".into()
                    } else {
                        "typed from the record".into()
                    }
                }
                DatasetKind::BudgetUsage => {
                    if BudgetUsage::SCOPE_KEY.contains(&c.name) {
                        "budget scope (current key)".to_string()
                    } else if c.name == "payload" {
                        "the whole record as received".into()
                    } else {
                        "typed from the record".into()
                    }
                }
                DatasetKind::Snapshot => {
                    let s = d.id.snapshot_spec().unwrap();
                    if s.key.contains(&c.name) {
                        "key".to_string()
                    } else if c.name == s.order {
                        "the state's own time: the latest is current".into()
                    } else if c.name == "payload" {
                        "the whole record as received".into()
                    } else {
                        "typed from the record".into()
                    }
                }
            };
            out.push_str(&format!("| `{}` | {}{} | {role} |\n", c.name, c.kind.sql_type(), if c.required { " not null" } else { "" }));
        }
    }
    out
}

#[test]
fn docs_datasets_md_is_generated_from_the_model() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/datasets.md");
    let want = render();
    if std::env::var_os("AMS_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(have == want, "docs/datasets.md is stale: run AMS_BLESS=1 cargo test -p ams-model --test datasets_doc");
}
