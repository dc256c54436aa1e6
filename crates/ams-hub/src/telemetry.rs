//! Logging and tracing: human-readable or JSON lines on stderr (level from `RUST_LOG`), and,
//! when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, OTLP export of ams-hub's spans (HTTP, JSON) —
//! one `sqs.batch` span per received batch, from receive to delete, carrying its SQS message
//! ids. The standard `OTEL_*` variables apply (`OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_BSP_SCHEDULE_DELAY`, …).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::cli::LogFormat;

/// Flushes the exported spans when dropped (at the end of `main`).
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            if let Err(e) = p.shutdown() {
                eprintln!("OTLP: could not flush the last spans: {e}");
            }
        }
    }
}

/// Call before any async runtime starts (the OTLP exporter uses a blocking HTTP client on its
/// own thread).
pub fn init(format: LogFormat) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm_migration=warn"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().boxed(),
    };
    let provider = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok().filter(|e| !e.is_empty()).and_then(|_| {
        match opentelemetry_otlp::SpanExporter::builder().with_http().with_protocol(Protocol::HttpJson).build() {
            Ok(exporter) => Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(opentelemetry_sdk::Resource::builder().with_service_name("ams-hub").build())
                    .build(),
            ),
            Err(e) => {
                eprintln!("OTLP export disabled: {e}");
                None
            }
        }
    });
    // Only ams-hub's own spans are exported, not every library's.
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("ams-hub"))
            .with_filter(tracing_subscriber::filter::filter_fn(|m| m.target().starts_with("ams_")))
    });
    tracing_subscriber::registry().with(filter).with(fmt).with(otel).init();
    Telemetry { provider }
}
