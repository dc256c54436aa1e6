//! Every error the API answers is JSON `{"error": {"code", "message"}}` with a 4xx status for
//! anything the caller can fix. Extractor failures (bad JSON, bad path, bad query, oversize
//! bodies) are turned into the same shape here, so bad input never yields a 5xx or an HTML page.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use ams_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable; each code always comes with the same HTTP status.
    pub code: ErrorCode,
    /// For humans; never contains a secret.
    pub message: String,
}

/// Every error code the API answers, each with its one HTTP status: the table is the whole
/// contract, and openapi.yaml lists the codes from it.
macro_rules! error_codes {
    ($($(#[doc = $doc:expr])* $variant:ident = $code:literal => $status:ident,)*) => {
        // The words are the variants in snake_case (a test holds the table to it): utoipa does
        // not read a `rename` that a macro passes through, so the enum is renamed as a whole.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as it is sent.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status,)* }
            }
        }
    };
}

error_codes! {
    /// The body is not JSON.
    InvalidJson = "invalid_json" => BAD_REQUEST,
    /// A query parameter is malformed.
    InvalidQuery = "invalid_query" => BAD_REQUEST,
    /// The consent flow's `state` or callback parameters are missing, tampered with or expired.
    InvalidConsent = "invalid_consent" => BAD_REQUEST,
    /// No token, or one the server does not know.
    Unauthorized = "unauthorized" => UNAUTHORIZED,
    /// The token may not do this (a tenant key on operator routes, a key without the scope).
    Forbidden = "forbidden" => FORBIDDEN,
    /// A `read` key asked to change something.
    ReadOnly = "read_only" => FORBIDDEN,
    /// The tenant is disabled.
    TenantDisabled = "tenant_disabled" => FORBIDDEN,
    /// The consent callback reached a browser that did not start the consent.
    ConsentNotBound = "consent_not_bound" => FORBIDDEN,
    /// No such route or resource (or not the caller's).
    NotFound = "not_found" => NOT_FOUND,
    /// It exists already, or the change conflicts with the current state.
    Conflict = "conflict" => CONFLICT,
    /// The consent link was opened already (in this or another browser).
    ConsentLinkUsed = "consent_link_used" => CONFLICT,
    /// A quarantined subscription confirmation: nothing to replay.
    NotReplayable = "not_replayable" => CONFLICT,
    /// The body is larger than the API accepts.
    PayloadTooLarge = "payload_too_large" => PAYLOAD_TOO_LARGE,
    /// The body is not sent as `application/json`.
    UnsupportedMediaType = "unsupported_media_type" => UNSUPPORTED_MEDIA_TYPE,
    /// Well-formed, but its content is not acceptable (the message says which field and why).
    InvalidRequest = "invalid_request" => UNPROCESSABLE_ENTITY,
    /// The account needs its AWS role first.
    RoleRequired = "role_required" => UNPROCESSABLE_ENTITY,
    /// A replayed body still does not decode.
    StillUnreadable = "still_unreadable" => UNPROCESSABLE_ENTITY,
    /// A replayed body decodes, but Postgres still refuses its rows.
    StillRefused = "still_refused" => UNPROCESSABLE_ENTITY,
    /// No Amazon Ads app (client id and secret) for this tenant or server.
    AdsAppUnset = "ads_app_unset" => UNPROCESSABLE_ENTITY,
    /// The server has no `AMS_HUB_PLATFORM_PRINCIPAL`.
    PlatformPrincipalUnset = "platform_principal_unset" => UNPROCESSABLE_ENTITY,
    /// The server has no `AMS_HUB_SECRET_KEY`, so it cannot store the secret.
    SecretKeyUnset = "secret_key_unset" => UNPROCESSABLE_ENTITY,
    /// Amazon answered with an error (its words are in the message).
    AmazonRefused = "amazon_refused" => UNPROCESSABLE_ENTITY,
    /// The brand's role could not be assumed (trust policy, external id).
    RoleNotAssumable = "role_not_assumable" => UNPROCESSABLE_ENTITY,
    /// The brand's queue could not be read through its role.
    QueueUnreadable = "queue_unreadable" => UNPROCESSABLE_ENTITY,
    /// A FIFO queue: Amazon delivers to standard queues only.
    FifoQueue = "fifo_queue" => UNPROCESSABLE_ENTITY,
    /// The queue is in a region the account's marketplaces do not deliver to.
    ForeignRegion = "foreign_region" => UNPROCESSABLE_ENTITY,
    /// The queue policy does not admit every dataset's Amazon topics.
    PolicyMissingDatasets = "policy_missing_datasets" => UNPROCESSABLE_ENTITY,
    /// The role may not confirm Amazon's subscriptions.
    ConfirmNotAllowed = "confirm_not_allowed" => UNPROCESSABLE_ENTITY,
    /// A Stream v2 bucket whose object versions the role may not list.
    BucketUnreadable = "bucket_unreadable" => UNPROCESSABLE_ENTITY,
    /// A Stream v2 bucket without versioning: an overwritten file could not be told apart.
    BucketNotVersioned = "bucket_not_versioned" => UNPROCESSABLE_ENTITY,
    /// Too many failed authentications, or reports at once; see `Retry-After`.
    TooManyRequests = "too_many_requests" => TOO_MANY_REQUESTS,
    /// A bug: the server log has the detail.
    Internal = "internal" => INTERNAL_SERVER_ERROR,
    /// The database or AWS could not be reached, or the server lacks the configuration.
    Unavailable = "unavailable" => SERVICE_UNAVAILABLE,
    /// Amazon's API could not be reached or failed; retry later.
    AmazonUnavailable = "amazon_unavailable" => SERVICE_UNAVAILABLE,
    /// A stored secret does not open with the server's keys: the operator's to fix.
    SecretUnreadable = "secret_unreadable" => SERVICE_UNAVAILABLE,
    /// The query ran past the statement timeout.
    Timeout = "timeout" => SERVICE_UNAVAILABLE,
}

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Sent as `Retry-After` (seconds).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into(), retry_after: None }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }
    pub fn too_many_requests(retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs().max(1);
        ApiError {
            retry_after: Some(secs),
            ..Self::new(
                ErrorCode::TooManyRequests,
                format!("too many failed authentications from this address; retry in {secs} s"),
            )
        }
    }
    /// The same error with another message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }
    pub fn unauthorized() -> Self {
        Self::new(
            ErrorCode::Unauthorized,
            "send `Authorization: Bearer <token>` with the operator token or a tenant API key",
        )
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }
    /// Well-formed JSON whose content is not acceptable.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }
    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status());
        if let Some(secs) = self.retry_after {
            response.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
        }
        response
            .json(ErrorBody { error: ErrorDetail { code: self.code, message: self.message.clone() } })
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => ApiError::new(ErrorCode::Conflict, m),
            StoreError::InvalidSlug(e) => ApiError::invalid(e.to_string()),
            StoreError::Invalid(m) => ApiError::invalid(m),
            StoreError::UnknownTenant(_) => ApiError::not_found("tenant"),
            StoreError::Unprivileged(m) => {
                tracing::error!(error = %m, "the database user lacks a privilege");
                ApiError::new(ErrorCode::Unavailable, m)
            }
            // The server's key is missing or wrong: the operator's to fix, not the caller's.
            StoreError::Secret(s) => {
                tracing::error!(error = %s, "a stored secret does not open");
                ApiError::new(ErrorCode::SecretUnreadable, s.to_string())
            }
            // The API pool's statement timeout cancelled it (`AMS_HUB_API_STATEMENT_TIMEOUT_MS`).
            StoreError::Database(sqlx::Error::Database(ref d)) if d.code().as_deref() == Some("57014") => ApiError::new(ErrorCode::Timeout,
                "the query took longer than this server allows (AMS_HUB_API_STATEMENT_TIMEOUT_MS): narrow the range, the grouping or the filters",
            ),
            StoreError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::new(ErrorCode::Unavailable, "the database is unavailable; retry later")
            }
            other => {
                // Logged in full (store errors carry no secrets), answered without detail.
                tracing::error!(error = %other, "request failed");
                ApiError::new(ErrorCode::Internal, "internal error; see the server log")
            }
        }
    }
}

/// Bodies: malformed JSON is 400, JSON of the wrong shape 422, too large 413.
pub fn json_error(err: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    let e = match &err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::new(ErrorCode::PayloadTooLarge, err.to_string())
        }
        JsonPayloadError::ContentType => ApiError::new(ErrorCode::UnsupportedMediaType,
            "send the body as JSON with `Content-Type: application/json`",
        ),
        JsonPayloadError::Deserialize(d) if d.is_data() => ApiError::invalid(d.to_string()),
        JsonPayloadError::Deserialize(d) => {
            ApiError::new(ErrorCode::InvalidJson, format!("the body is not valid JSON: {d}"))
        }
        _ => ApiError::new(ErrorCode::InvalidJson, err.to_string()),
    };
    e.into()
}

/// A path segment that does not parse (a malformed id) names nothing: 404.
pub fn path_error(err: PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::new(ErrorCode::NotFound, format!("no such resource: {err}")).into()
}

pub fn query_error(err: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::new(ErrorCode::InvalidQuery, err.to_string()).into()
}

/// Unknown routes and methods.
pub async fn no_route() -> HttpResponse {
    ApiError::new(ErrorCode::NotFound, "no such route (see openapi.yaml)").error_response()
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    /// The word sent (serde) is the word in the table, and the OpenAPI document lists exactly
    /// the table's words.
    #[test]
    fn every_code_is_sent_and_documented_as_its_word() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str(), "{code:?}");
        }
        let doc: serde_json::Value = serde_json::to_value(crate::app(None).1).unwrap();
        let listed: Vec<&str> =
            doc["components"]["schemas"]["ErrorCode"]["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let words: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, words);
    }
}
