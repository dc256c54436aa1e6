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

fn describe<E>(e: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match e {
        aws_smithy_runtime_api::client::result::SdkError::ServiceError(se) => format!(
            "{} {}: {}",
            se.raw().status().as_u16(),
            se.err().code().unwrap_or("error"),
            se.err().message().unwrap_or("(no message)")
        ),
        _ => aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
    }
}

/// Why a bucket could not be probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeFailure {
    /// The role could not be assumed, or there is no identity at all.
    Credentials,
    Other(String),
}

fn probe_failure<E>(e: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>) -> ProbeFailure
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
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
    match s3.get_bucket_versioning().bucket(bucket).send().await {
        Ok(v) => Ok(v.status().map(|s| s.as_str().to_owned())),
        Err(aws_smithy_runtime_api::client::result::SdkError::ServiceError(se)) if se.raw().status().as_u16() == 200 => {
            // A 200 whose body the SDK would not read: moto names the answer's root element
            // GetBucketVersioningResponse where S3 says VersioningConfiguration. The status is
            // the same element in both.
            let body = se.raw().body().bytes().map(String::from_utf8_lossy).unwrap_or_default();
            Ok(["Enabled", "Suspended"].into_iter().find(|s| body.contains(&format!("<Status>{s}</Status>"))).map(str::to_owned))
        }
        Err(e) => Err(match probe_failure(&e) {
            ProbeFailure::Other(why) => ProbeFailure::Other(format!("reading whether it is versioned: {why}")),
            credentials => credentials,
        }),
    }
}
