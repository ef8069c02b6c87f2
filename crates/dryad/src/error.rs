//! The API's one error type: each variant maps to a status code and a JSON body
//! `{"error": "<code>", "detail": "<message>"}`. 5xx bodies stay generic; the cause travels in a
//! response extension for the logging middleware.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::{PasswordError, TokenError};
use crate::model::ErrorBody;

/// An error answered to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed (query, path, JSON syntax, a value out of range).
    #[error("{detail}")]
    BadRequest {
        /// Error code.
        code: &'static str,
        /// Message.
        detail: String,
    },
    /// 401: no, or an unacceptable, credential.
    #[error("{detail}")]
    Unauthorized {
        /// Error code.
        code: &'static str,
        /// Message.
        detail: String,
    },
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 408: the request body did not arrive within the body read timeout.
    #[error("{0}")]
    RequestTimeout(String),
    /// 413: body over the limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: not `application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed JSON of the wrong shape (missing field, wrong type, bad UUID).
    #[error("{0}")]
    InvalidBody(String),
    /// 422 with its own code (e.g. an idempotency key reused with another body).
    #[error("{detail}")]
    InvalidBodyCode {
        /// Error code.
        code: &'static str,
        /// Message.
        detail: String,
    },
    /// 431: too many header fields, or too many bytes of them.
    #[error("{0}")]
    HeadersTooLarge(String),
    /// 429: too many failed logins for this username or from this address.
    #[error("{detail}")]
    TooManyRequests {
        /// Error code.
        code: &'static str,
        /// Message.
        detail: String,
        /// Seconds for `Retry-After`.
        retry_after_secs: u64,
    },
    /// 503 with `Retry-After`: the server is busy (the password-hashing queue is full).
    #[error("{detail}")]
    Overloaded {
        /// Error code.
        code: &'static str,
        /// Message.
        detail: String,
        /// Seconds for `Retry-After`.
        retry_after_secs: u64,
    },
    /// 503: the database is out of reach or the pool is exhausted.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected database error.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The cause of a 5xx, attached to the response for the logging middleware.
#[derive(Debug, Clone)]
pub struct ErrorCause(pub String);

impl ApiError {
    /// A 400 with this code.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::InvalidBody(_) | ApiError::InvalidBodyCode { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Overloaded { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Unauthorized { code, .. }
            | ApiError::TooManyRequests { code, .. }
            | ApiError::InvalidBodyCode { code, .. }
            | ApiError::Overloaded { code, .. } => code,
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::InvalidBody(_) => "invalid_body",
            ApiError::HeadersTooLarge(_) => "headers_too_large",
            ApiError::Unavailable(_) => "service_unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (detail, cause) = match &self {
            ApiError::Internal(cause) => ("internal server error".to_owned(), Some(cause.clone())),
            ApiError::Unavailable(cause) => (
                "the service is temporarily unavailable, retry later".to_owned(),
                Some(cause.clone()),
            ),
            other => (other.to_string(), None),
        };
        let body = ErrorBody {
            error: self.code().to_owned(),
            detail,
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body may still trickle in: do not read it as the next request.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::TooManyRequests {
            retry_after_secs, ..
        }
        | ApiError::Overloaded {
            retry_after_secs, ..
        } = &self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        if let Some(cause) = cause {
            response.extensions_mut().insert(ErrorCause(cause));
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                ApiError::Unavailable(format!("database pool: {e}"))
            }
            other => ApiError::Internal(format!("database: {other}")),
        }
    }
}

/// Whole seconds for `Retry-After`, rounded up, at least 1.
pub fn retry_after_secs(d: std::time::Duration) -> u64 {
    d.as_secs_f64().ceil().max(1.0) as u64
}

impl From<PasswordError> for ApiError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::Busy { retry_after, .. } => ApiError::Overloaded {
                code: "login_queue_full",
                detail: format!("{e}; retry later"),
                retry_after_secs: retry_after_secs(retry_after),
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Sign(msg) => ApiError::Internal(msg),
            TokenError::Expired => ApiError::Unauthorized {
                code: "token_expired",
                detail: e.to_string(),
            },
            other => ApiError::Unauthorized {
                code: "invalid_token",
                detail: other.to_string(),
            },
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        if crate::server::body::is_body_timeout(&r) {
            return ApiError::RequestTimeout(format!(
                "the request body did not arrive in time: {}",
                r.body_text()
            ));
        }
        match r {
            JsonRejection::JsonDataError(e) => ApiError::InvalidBody(e.body_text()),
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::bad_request("invalid_json", e.body_text())
            }
            JsonRejection::MissingJsonContentType(e) => {
                ApiError::UnsupportedMediaType(e.body_text())
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge("request body is over the 64 KiB limit".to_owned())
            }
            other => ApiError::bad_request("invalid_body", other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request("invalid_path", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", r.body_text())
    }
}
