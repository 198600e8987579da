//! The web layer's one error: a status, a message and the fields at fault, answered as JSON
//! (`{"error": "...", "fields": [{"field": "...", "message": "..."}]}`).

use crate::backend::{BackendError, FieldError};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An API error: what went wrong, in words, with the right status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    pub status: StatusCode,
    pub message: String,
    pub fields: Vec<FieldError>,
}

impl AppError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), fields: Vec::new() }
    }

    /// 400: the request itself is malformed (bad JSON, a missing or mistyped field).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<BackendError> for AppError {
    fn from(e: BackendError) -> Self {
        let status = match &e {
            BackendError::NotFound(_) => StatusCode::NOT_FOUND,
            BackendError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            BackendError::Conflict(_) => StatusCode::CONFLICT,
            BackendError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            BackendError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = e.to_string();
        let fields = match e {
            BackendError::Invalid { fields, .. } => fields,
            _ => Vec::new(),
        };
        Self { status, message, fields }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    fields: &'a [FieldError],
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (self.status, Json(Body { error: &self.message, fields: &self.fields })).into_response()
    }
}

/// Result of an API handler.
pub type AppResult<T> = Result<T, AppError>;
