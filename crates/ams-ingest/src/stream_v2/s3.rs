//! The brand's Stream v2 bucket through its role: object versions listed (all, or those of
//! some keys) and one version downloaded to a spool file, streamed (never whole in memory).

use std::path::{Path, PathBuf};

use ams_store::stream_v2::ObjectVersion;
use chrono::{DateTime, TimeZone, Utc};
use tokio::io::AsyncWriteExt;

/// Object versions in `bucket` under `prefix` (every one when `None`), delete markers left out.
pub async fn list_versions(s3: &aws_sdk_s3::Client, bucket: &str, prefix: Option<&str>) -> Result<Vec<ObjectVersion>, String> {
    let mut out = Vec::new();
    let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .set_prefix(prefix.map(str::to_owned))
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
            .map_err(|e| format!("listing s3://{bucket}: {}", describe(&e)))?;
        for v in page.versions() {
            let (Some(key), Some(modified)) = (v.key(), v.last_modified()) else { continue };
            out.push(ObjectVersion {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                // A version written before the bucket was versioned is S3's "null".
                version_id: v.version_id().unwrap_or("null").to_owned(),
                last_modified: to_utc(modified),
                size: v.size().unwrap_or(0),
            });
        }
        if page.is_truncated() != Some(true) {
            return Ok(out);
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
        if key_marker.is_none() {
            return Ok(out);
        }
    }
}

fn to_utc(t: &aws_sdk_s3::primitives::DateTime) -> DateTime<Utc> {
    Utc.timestamp_opt(t.secs(), t.subsec_nanos()).single().unwrap_or_default()
}

/// A spool file, removed when dropped.
pub struct Spooled {
    pub path: PathBuf,
}

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Downloads one version into `dir`.
pub async fn download(s3: &aws_sdk_s3::Client, object: &ObjectVersion, dir: &Path) -> Result<Spooled, String> {
    let mut request = s3.get_object().bucket(&object.bucket).key(&object.key);
    if object.version_id != "null" {
        request = request.version_id(&object.version_id);
    }
    let response = request.send().await.map_err(|e| format!("reading s3://{}/{}: {}", object.bucket, object.key, describe(&e)))?;
    let spooled = Spooled { path: dir.join(format!("ams-hub-v2-{}.parquet", uuid::Uuid::new_v4().simple())) };
    let mut file = tokio::fs::File::create(&spooled.path).await.map_err(|e| format!("spool file {}: {e}", spooled.path.display()))?;
    let mut body = response.body;
    while let Some(chunk) = body.try_next().await.map_err(|e| format!("reading s3://{}/{}: {e}", object.bucket, object.key))? {
        file.write_all(&chunk).await.map_err(|e| format!("spool file {}: {e}", spooled.path.display()))?;
    }
    file.flush().await.map_err(|e| format!("spool file {}: {e}", spooled.path.display()))?;
    Ok(spooled)
}

fn describe<E, R>(e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.as_service_error() {
        Some(se) => format!("{}: {}", se.code().unwrap_or("error"), se.message().unwrap_or("(no message)")),
        None => aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
    }
}

/// Why a bucket could not be probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeFailure {
    /// The role could not be assumed, or there is no identity at all.
    Credentials,
    Other(String),
}

fn probe_failure<E, R>(e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> ProbeFailure
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let text = describe(e);
    if e.as_service_error().is_none() && (text.contains("credential") || text.contains("identity")) {
        ProbeFailure::Credentials
    } else {
        ProbeFailure::Other(text)
    }
}

/// What adopting a v2 stack asks of its bucket: one object version listed (the loader's
/// permission), then the bucket's versioning status (`None`: never enabled).
pub async fn bucket_versioning(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Option<String>, ProbeFailure> {
    s3.list_object_versions().bucket(bucket).max_keys(1).send().await.map_err(|e| probe_failure(&e))?;
    let v = s3.get_bucket_versioning().bucket(bucket).send().await.map_err(|e| probe_failure(&e))?;
    Ok(v.status().map(|s| s.as_str().to_owned()))
}
