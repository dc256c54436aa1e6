//! Stream v2 (preview): Amazon writes Parquet files into the brand's versioned bucket; each
//! object version lands once in the tenant's schema (`landing.rs`), read by record batch
//! (`parquet_file.rs`) and written with binary COPY, its columns mapped from Arrow's types
//! (`columns.rs`). Where the runtime finds versions to land: `destinations.rs`.
//!
//! The loader's watermark: a pass that listed the whole bucket and handled every version in it
//! records the newest `LastModified` it saw as `listed_through`; the next pass lands versions
//! last modified after `listed_through - WATERMARK_MARGIN` that are not landed yet. The margin
//! covers S3's `LastModified` being when an upload *began* (a large multipart upload started
//! before the watermark can finish after it).

pub mod columns;
pub mod destinations;
pub mod landing;
pub mod parquet_file;

pub use destinations::{ActiveDestination, Destination, LoaderState, V2SubscriptionState, V2Wanted};
pub use landing::{dataset_of, is_dataset_id, prepare, table_name, Batch, Landed, ObjectVersion, Prepared, Target};

/// How far before the watermark a pass still looks (see the module's comment).
pub const WATERMARK_MARGIN: chrono::Duration = chrono::Duration::hours(6);
