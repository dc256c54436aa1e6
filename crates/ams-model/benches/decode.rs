//! Decode throughput on one core: SQS bodies per second, by body shape, and over a realistic
//! mix. Run with `cargo bench -p ams-model`. Prints figures; asserts nothing about speed.

use std::hint::black_box;
use std::time::Instant;

use ams_model::{decode_body, Body};

// The allocator `ams-hub` runs with: decoding allocates a string per dimension, and the
// allocator's cost is part of the rate the runtime sees.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn fixture(name: &str) -> String {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/ams/");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(format!("{p}{name}")).unwrap()).unwrap();
    v.to_string() // compact, as SNS delivers
}

fn envelope(record: &str) -> String {
    serde_json::json!({
        "Type": "Notification", "MessageId": "c2a1f0e4-7b3d-5e6f-9a8b-1c2d3e4f5a6b",
        "TopicArn": "arn:aws:sns:us-east-1:906013806264:FEADMessageDeliveryTopic-sp-traffic-ATVPDKIKX0DER-ENTITY2EXAMPLEABCD1",
        "Message": record, "Timestamp": "2024-05-01T17:04:12.345Z", "SignatureVersion": "1",
        "Signature": "EXAMPLEbase64signature==",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000000000000a.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:906013806264:x",
    })
    .to_string()
}

/// Best of 5 runs of decoding every body `reps` times; bodies per second.
fn rate(bodies: &[String], reps: usize) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..reps {
            for b in bodies {
                match decode_body(black_box(b)) {
                    Ok(Body::Records(r)) => {
                        black_box(r);
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    (bodies.len() * reps) as f64 / best
}

/// `AMS_DECODE_REPS` scales the repetitions (default 100,000 per case). A small value under
/// `valgrind --tool=callgrind` counts instructions per body: exact and repeatable on a machine
/// whose timings are noisy (docs/performance.md).
fn reps(default: usize) -> usize {
    std::env::var("AMS_DECODE_REPS").ok().and_then(|v| v.parse().ok()).map_or(default, |r: usize| r.max(1) * default / 100_000).max(1)
}

fn main() {
    let traffic = fixture("sp-traffic.json");
    // `AMS_DECODE_ONLY=<dataset>`: only that DSP dataset's body; `=sp-traffic-as-<dataset>`:
    // only the sp-traffic body of its size. For a profiler, or callgrind's exact counts.
    if let Ok(only) = std::env::var("AMS_DECODE_ONLY") {
        let body = match only.strip_prefix("sp-traffic-as-") {
            Some(ds) => same_size_pair(&traffic, ds).1,
            None => envelope(&fixture(&format!("{only}.json"))),
        };
        println!("{only}: {:.0} bodies/s", rate(std::slice::from_ref(&body), reps(100_000)));
        return;
    }
    let conversion = fixture("sp-conversion.json");
    let sd_conv = fixture("sd-conversion.json");
    let campaign = fixture("campaigns.json");
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("sp-traffic, bare", vec![traffic.clone()]),
        ("sp-traffic, SNS envelope", vec![envelope(&traffic)]),
        ("sp-conversion, bare", vec![conversion.clone()]),
        ("sd-conversion, SNS envelope", vec![envelope(&sd_conv)]),
        ("campaigns, SNS envelope", vec![envelope(&campaign)]),
    ];
    println!("decode throughput, one core (best of 5):");
    for (name, bodies) in &cases {
        println!("  {name:<30} {:>10.0} bodies/s  ({} bytes)", rate(bodies, reps(100_000)), bodies[0].len());
    }
    // The hourly burst is mostly traffic and conversion, half of it in SNS envelopes.
    let mix: Vec<String> = vec![
        traffic.clone(), envelope(&traffic), traffic.clone(), envelope(&traffic),
        conversion.clone(), envelope(&conversion), fixture("sb-traffic.json"), envelope(&sd_conv),
        fixture("budget-usage.json"), envelope(&campaign),
    ];
    println!("  {:<30} {:>10.0} bodies/s", "realistic mix", rate(&mix, reps(20_000)));
    dsp_against_sp_traffic(&traffic);
}

/// A DSP dataset's body and an sp-traffic body padded to its size, both in SNS envelopes.
fn same_size_pair(traffic: &str, ds: &str) -> (String, String) {
    let dsp = envelope(&fixture(&format!("{ds}.json")));
    let mut padded: serde_json::Value = serde_json::from_str(traffic).unwrap();
    let mut i = 0;
    while envelope(&padded.to_string()).len() < dsp.len() {
        padded[format!("extra_dimension_{i}")] = serde_json::Value::from(format!("value {i}"));
        i += 1;
    }
    (dsp, envelope(&padded.to_string()))
}

/// The DSP deltas against sp-traffic bodies of the same size: an sp-traffic record padded with
/// unknown dimension-like fields (short strings, as Amazon adds them) to the DSP body's length,
/// both in SNS envelopes. Issue target: at least 0.8x.
fn dsp_against_sp_traffic(traffic: &str) {
    println!("DSP deltas against sp-traffic of the same size (SNS envelopes):");
    for ds in ["adsp-traffic", "adsp-conversion", "adsp-clickstream", "adsp-rich-media"] {
        let (dsp, sp) = same_size_pair(traffic, ds);
        let (r_dsp, r_sp) = (rate(std::slice::from_ref(&dsp), reps(50_000)), rate(std::slice::from_ref(&sp), reps(50_000)));
        println!(
            "  {ds:<18} {r_dsp:>9.0} bodies/s ({} B)   sp-traffic {r_sp:>9.0} bodies/s ({} B)   ratio {:.2}",
            dsp.len(),
            sp.len(),
            r_dsp / r_sp
        );
    }
}
