//! `ams-hub`: the command line. Subcommands are thin: parsing and printing here, the work in
//! ams-model and ams-store.

mod cli;
mod config;
mod ingest_file;
mod runtime_handle;
mod serve;
mod telemetry;

use std::process::ExitCode;

use ams_store::{Store, TenantSlug};
use clap::Parser;

use crate::cli::{Cli, Command, TenantCommand};

// The runtime allocates per SQS response (bodies, headers, JSON); glibc's malloc spent over a
// quarter of the runtime's CPU time there (docs/performance.md).
#[cfg(not(feature = "dhat-heap"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// A heap profile (`--features dhat-heap`): every allocation with its stack, written at exit to
// `AMS_HUB_HEAP_PROFILE` (default dhat-heap.json); docs/performance.md reads one.
#[cfg(feature = "dhat-heap")]
#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

fn main() -> ExitCode {
    #[cfg(feature = "dhat-heap")]
    let _profiler = dhat::Profiler::builder()
        .file_name(std::env::var("AMS_HUB_HEAP_PROFILE").unwrap_or_else(|_| "dhat-heap.json".into()))
        .build();
    let cli = Cli::parse();
    let telemetry = telemetry::init(cli.log_format);
    let result = match &cli.command {
        // The runtime's actors live on an actix system.
        Command::Serve { config } => config::load(config.as_deref())
            .and_then(|c| actix::System::new().block_on(serve::run(&cli.database_url, c, config::Secrets::from_env()))),
        Command::Openapi => {
            print!("{}", ams_api::openapi::yaml());
            Ok(())
        }
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(run(cli))),
    };
    drop(telemetry); // flushes exported spans
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { .. } | Command::Openapi => unreachable!("handled in main"),
        Command::Migrate => {
            let store = Store::connect(&cli.database_url).await?;
            store.migrate().await?;
            println!("migrations applied");
        }
        Command::Tenant { command: TenantCommand::Create { slug, name } } => {
            // Validate before touching the database: a bad slug never reaches SQL.
            let slug = TenantSlug::parse(&slug)?;
            let store = Store::connect(&cli.database_url).await?;
            store.migrate().await?;
            let name = name.unwrap_or_else(|| slug.to_string());
            let tenant = store.provision_tenant(&slug, &name).await?;
            println!("tenant {} ready (schema tenant_{}, id {})", tenant.slug, tenant.slug, tenant.id);
        }
        Command::RotateSecrets => {
            let keyring = config::Secrets::from_env().keyring()?.ok_or(ams_store::SecretError::NoKey)?;
            let store = Store::connect(&cli.database_url).await?.with_keyring(Some(keyring));
            store.migrate().await?;
            let r = store.rotate_secrets().await?;
            println!("{} secrets re-sealed with the current key, {} were already", r.resealed, r.current);
        }
        Command::IngestFile(args) => {
            let slug = TenantSlug::parse(&args.tenant)?;
            let store = Store::connect(&cli.database_url).await?;
            store.migrate().await?;
            ingest_file::run(&store, &slug, &args).await?;
        }
    }
    Ok(())
}
