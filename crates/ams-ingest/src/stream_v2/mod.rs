//! Stream v2 (preview) in the runtime: loaders that land the Parquet files Amazon writes into
//! brands' buckets (`loader.rs`), reading the buckets through the brands' roles (`s3.rs`) and
//! narrowing their listings by what notifications say, when they say it in a known shape
//! (`notification.rs`). How a version lands once: `ams_store::stream_v2`.

mod loader;
pub mod notification;
mod s3;

pub use loader::V2Loaders;
pub use s3::{bucket_versioning, ProbeFailure};
