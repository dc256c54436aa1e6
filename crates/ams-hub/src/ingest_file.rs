//! `ams-hub ingest-file`: replay files of SQS bodies or records into a tenant's ledger, in
//! batches, with a per-dataset summary. Bodies that cannot be decoded are quarantined with
//! their file and line; a subscription confirmation is quarantined too (files never confirm).

use std::collections::BTreeMap;

use ams_model::{archive_bodies, DatasetId};
use ams_store::{decode, DecodedBody};
use ams_store::{LedgerBatch, LedgerWriter, Provenance, QuarantineEntry, Store, TenantSlug, WriteSummary};
use anyhow::Context;

use crate::cli::IngestFileArgs;

pub async fn run(store: &Store, slug: &TenantSlug, args: &IngestFileArgs) -> anyhow::Result<()> {
    let schema = store.tenant_schema(slug).await?;
    let writer = LedgerWriter::new(store);
    let mut total = WriteSummary::default();
    let mut confirmations = 0u64;
    let mut batch = LedgerBatch::new();
    for path in &args.paths {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        // A stray invalid byte must not cost the whole file: it becomes U+FFFD and the body
        // holding it is quarantined if it no longer decodes.
        let text = String::from_utf8_lossy(&bytes);
        for chunk in archive_bodies(&text) {
            let prov = Provenance::now(args.account);
            let source: std::sync::Arc<str> = format!("file:{}:{}", path.display(), chunk.line).into();
            match decode(chunk.text.to_owned(), source.clone(), None, prov) {
                DecodedBody::Ledger(decoded) => decoded.push_into(&mut batch),
                DecodedBody::Confirmation { body, confirmation: c, .. } => {
                    confirmations += 1;
                    batch.quarantine(QuarantineEntry {
                        body,
                        reason_code: ams_model::QuarantineReason::SubscriptionConfirmation,
                        reason: format!(
                            "SNS SubscriptionConfirmation for {}: files are never confirmed; \
                             confirm through the queue consumer or the Ads API",
                            c.topic_arn
                        ),
                        source: source.to_string(),
                        message_id: c.message_id.clone(),
                        provenance: prov,
                    });
                }
            }
            if batch.records() + batch.quarantine_len() >= args.batch_size as usize {
                total.add(&writer.write_isolating(&schema, &batch).await?.summary);
                batch = LedgerBatch::new();
            }
        }
    }
    // Values whose rows Postgres refuses are quarantined (and counted) in their place; what
    // fails here is the database itself, and nothing of an unwritten batch is lost: running
    // the same files again is harmless.
    total.add(&writer.write_isolating(&schema, &batch).await?.summary);
    print_summary(&total, confirmations, args.json);
    Ok(())
}

fn print_summary(s: &WriteSummary, confirmations: u64, json: bool) {
    if json {
        let datasets: BTreeMap<&str, serde_json::Value> = s
            .datasets
            .iter()
            .map(|(d, c)| {
                (d.as_str(), serde_json::json!({
                    "received": c.received, "new": c.inserted, "duplicates": c.duplicates,
                }))
            })
            .collect();
        let out = serde_json::json!({
            "datasets": datasets,
            "quarantined": s.quarantined,
            "quarantine_known": s.quarantine_known,
            "confirmations": confirmations,
        });
        println!("{out}");
        return;
    }
    println!("{:<16} {:>10} {:>10} {:>11}", "dataset", "received", "new", "duplicates");
    for d in DatasetId::ALL {
        if let Some(c) = s.datasets.get(&d) {
            println!("{:<16} {:>10} {:>10} {:>11}", d.as_str(), c.received, c.inserted, c.duplicates);
        }
    }
    println!(
        "quarantined: {} new, {} already quarantined (subscription confirmations among them: {})",
        s.quarantined, s.quarantine_known, confirmations
    );
}
