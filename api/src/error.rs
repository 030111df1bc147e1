use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::DbError;
use crate::billing::BillingError;
use crate::checkin::{CheckInError, TokenError};

/// The one error type of the HTTP API. Client errors say what was wrong; server errors are logged with
/// their detail and answered with a generic message, so internals never leak.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("too many attempts; try again in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    /// A request the framework refused before a handler saw it (bad JSON, too large, wrong type).
    #[error("{message}")]
    Rejected { status: StatusCode, message: String },
    #[error("the service is not ready: {0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::Invalid { field, reason } => {
                ApiError::BadRequest(format!("{field}: {reason}"))
            }
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<BillingError> for ApiError {
    fn from(err: BillingError) -> Self {
        match err {
            BillingError::Invalid { .. } => ApiError::BadRequest(err.to_string()),
            BillingError::UnknownSession(_) => ApiError::NotFound(err.to_string()),
            BillingError::Conflict(message) => ApiError::Conflict(message),
            BillingError::Db(db) => db.into(),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<CheckInError> for ApiError {
    fn from(err: CheckInError) -> Self {
        match err {
            CheckInError::Token(TokenError::Replayed) => ApiError::Conflict(err.to_string()),
            CheckInError::Token(token) => ApiError::Unauthorized(token.to_string()),
            CheckInError::Billing(billing) => billing.into(),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        // Data errors (a negative count for an unsigned field, a missing field) are the client's to fix
        // like any other malformed body: one status for all of them.
        let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
            StatusCode::BAD_REQUEST
        } else {
            status
        };
        ApiError::Rejected {
            status,
            message: rejection.body_text(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests { retry_after_secs } => {
                let body = Json(json!({ "error": self.to_string() }));
                let retry = [(
                    axum::http::header::RETRY_AFTER,
                    retry_after_secs.to_string(),
                )];
                return (StatusCode::TOO_MANY_REQUESTS, retry, body).into_response();
            }
            ApiError::Rejected { status, .. } => *status,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(source) => {
                tracing::error!(error = %source, "request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}
