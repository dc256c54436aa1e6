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
    /// Stable, machine-readable: `unauthorized`, `not_found`, `invalid_json`, `invalid_request`,
    /// `conflict`, `payload_too_large`, `unsupported_media_type`, `forbidden`, `read_only`,
    /// `tenant_disabled`, `consent_not_bound`, `role_required`, `too_many_requests`, `still_unreadable`,
    /// `still_refused`, `not_replayable`, `unavailable`, `internal`.
    pub code: String,
    /// For humans; never contains a secret.
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Sent as `Retry-After` (seconds).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after: None }
    }
    pub fn too_many_requests(retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs().max(1);
        ApiError {
            retry_after: Some(secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
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
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send `Authorization: Bearer <token>` with the operator token or a tenant API key",
        )
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }
    /// Well-formed JSON whose content is not acceptable.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            response.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
        }
        response
            .json(ErrorBody { error: ErrorDetail { code: self.code.to_owned(), message: self.message.clone() } })
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::InvalidSlug(e) => ApiError::invalid(e.to_string()),
            StoreError::Invalid(m) => ApiError::invalid(m),
            StoreError::UnknownTenant(_) => ApiError::not_found("tenant"),
            // The server's key is missing or wrong: the operator's to fix, not the caller's.
            StoreError::Secret(s) => {
                tracing::error!(error = %s, "a stored secret does not open");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "secret_unreadable", s.to_string())
            }
            // The API pool's statement timeout cancelled it (`AMS_HUB_API_STATEMENT_TIMEOUT_MS`).
            StoreError::Database(sqlx::Error::Database(ref d)) if d.code().as_deref() == Some("57014") => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "the query took longer than this server allows (AMS_HUB_API_STATEMENT_TIMEOUT_MS): narrow the range, the grouping or the filters",
            ),
            StoreError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the database is unavailable; retry later")
            }
            other => {
                // Logged in full (store errors carry no secrets), answered without detail.
                tracing::error!(error = %other, "request failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the server log")
            }
        }
    }
}

/// Bodies: malformed JSON is 400, JSON of the wrong shape 422, too large 413.
pub fn json_error(err: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    let e = match &err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", err.to_string())
        }
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ),
        JsonPayloadError::Deserialize(d) if d.is_data() => ApiError::invalid(d.to_string()),
        JsonPayloadError::Deserialize(d) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", format!("the body is not valid JSON: {d}"))
        }
        _ => ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", err.to_string()),
    };
    e.into()
}

/// A path segment that does not parse (a malformed id) names nothing: 404.
pub fn path_error(err: PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no such resource: {err}")).into()
}

pub fn query_error(err: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", err.to_string()).into()
}

/// Unknown routes and methods.
pub async fn no_route() -> HttpResponse {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route (see openapi.yaml)").error_response()
}
