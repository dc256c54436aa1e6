//! OTLP tracing: `ams-hub serve` with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a collector
//! stand-in (a tiny HTTP server in this test) exports one `sqs.batch` span per received batch,
//! carrying the SQS message ids, which together name every message consumed.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use ams_model::DELTA_SPECS;
use ams_store::{TenantSchema, TenantSlug};
use ams_tests::aws::{self, Moto};
use ams_tests::check::{bodies, delta_count};
use ams_tests::gen;
use ams_tests::serve::Serve;
use ams_tests::TestDb;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::Value;

/// Accepts OTLP/HTTP posts and keeps their bodies.
fn collector() -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
                    let mut length = 0;
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).unwrap();
                        if h.trim().is_empty() {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    store.lock().unwrap().push((path, String::from_utf8_lossy(&body).into_owned()));
                    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
                }
            });
        }
    });
    (url, received)
}

/// Every exported span: (name, attributes as key → string value).
fn spans(posts: &[(String, String)]) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    for (_, body) in posts {
        let v: Value = serde_json::from_str(body).unwrap_or_default();
        for rs in v["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    let attrs = s["attributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| {
                            let v = &a["value"];
                            let text = v["stringValue"].as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
                            (a["key"].as_str().unwrap_or_default().to_owned(), text)
                        })
                        .collect();
                    out.push((s["name"].as_str().unwrap_or_default().to_owned(), attrs));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn each_received_batch_is_exported_as_a_span_naming_its_messages() {
    let (endpoint, posts) = collector();
    let db = TestDb::new();
    let store = db.store().await;
    let moto = Moto::start();
    let slug = TenantSlug::parse("traced").unwrap();
    let tenant = store.provision_tenant(&slug, "traced").await.unwrap();
    // Its account has no role: the operator lets it use the platform's identity.
    store.update_tenant(&slug, None, Some(true), None).await.unwrap();
    let account = store.create_account(tenant.id, "Brand", None, "ext-id-traced-1").await.unwrap();
    let sdk = moto.platform();
    let url = aws::create_queue(&sdk, "traced").await;
    store.add_queue(account.id, &url, "us-east-1").await.unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let records: Vec<_> = (0..30).map(|i| gen::delta(&mut rng, DELTA_SPECS[0], i % 5, format!("traced-{i}"))).collect();
    let sent = bodies(&records);
    aws::send_all(&sdk, &url, &sent).await;

    let serve = Serve::start(&db, &moto.url, &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), ("OTEL_BSP_SCHEDULE_DELAY", "200")]);
    let schema = TenantSchema::of(&slug);
    let ids = ams_tests::wait::until(
        "every message id exported",
        60,
        || async {
            let exported = spans(&posts.lock().unwrap());
            let ids: HashSet<String> = exported
                .iter()
                .filter(|(name, _)| name == "sqs.batch")
                .flat_map(|(_, attrs)| attrs.iter().filter(|(k, _)| k == "messaging.message.ids"))
                .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
                .collect();
            (ids.len() == sent.len() && delta_count(&store, &schema).await == records.len() as i64).then_some(ids)
        },
        || serve.log_text(),
    )
    .await;
    assert!(ids.iter().all(|id| !id.is_empty()));
    let posts = posts.lock().unwrap();
    assert!(posts.iter().all(|(path, _)| path == "/v1/traces"), "OTLP/HTTP posts go to /v1/traces");
    assert!(posts.iter().any(|(_, b)| b.contains("\"ams-hub\"")), "service.name is ams-hub");
    let batch = spans(&posts).into_iter().find(|(n, _)| n == "sqs.batch").unwrap();
    assert!(batch.1.iter().any(|(k, v)| k == "messaging.destination.name" && *v == url), "{batch:?}");
}
