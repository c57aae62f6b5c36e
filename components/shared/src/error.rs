//! One error type for the public API: each variant maps to a status code and
//! a stable `code`; internal details are logged, never returned.

use spin_sdk::http::{IntoResponse, Response};

/// An error a handler returns; rendered as `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub enum ApiError {
    /// 400: malformed JSON, wrong types, a bad cursor.
    BadRequest(String),
    /// 401: missing, malformed, expired or wrongly signed credentials.
    Unauthorized(String),
    /// 401 `invalid_credentials`: a failed login (same for unknown users).
    InvalidCredentials,
    /// 403: authenticated but not allowed.
    Forbidden(String),
    /// 404.
    NotFound(String),
    /// 405.
    MethodNotAllowed,
    /// 409: the username is in use.
    UsernameTaken,
    /// 413: the body is over the limit.
    PayloadTooLarge,
    /// 414: the URL is over 8 KiB.
    UriTooLong,
    /// 415: a body that is not JSON.
    UnsupportedMediaType,
    /// 431: the headers are over 64 KiB.
    HeadersTooLarge,
    /// 422: a field failed validation; the message names the field.
    Validation {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// 429: over a rate limit (see [`crate::ratelimit`]).
    RateLimited {
        /// What the limit counts, for the message.
        what: &'static str,
        /// How many it allows per window.
        limit: i64,
        /// Seconds until it allows one again.
        retry_after_secs: i64,
    },
    /// 503: the store stayed busy, or a service this request depends on did
    /// not answer; worth retrying shortly (`Retry-After`).
    Unavailable(String),
    /// 500: anything unexpected; the details are logged only.
    Internal(anyhow::Error),
}

impl ApiError {
    /// A 422 for `field`.
    pub fn validation(field: &'static str, message: impl Into<String>) -> Self {
        Self::Validation {
            field,
            message: message.into(),
        }
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Unauthorized(_) | Self::InvalidCredentials => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed => 405,
            Self::UsernameTaken => 409,
            Self::PayloadTooLarge => 413,
            Self::UriTooLong => 414,
            Self::UnsupportedMediaType => 415,
            Self::HeadersTooLarge => 431,
            Self::Validation { .. } => 422,
            Self::RateLimited { .. } => 429,
            Self::Unavailable(_) => 503,
            Self::Internal(_) => 500,
        }
    }

    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UsernameTaken => "username_taken",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UriTooLong => "uri_too_long",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::HeadersTooLarge => "headers_too_large",
            Self::Validation { .. } => "validation_failed",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) => "service_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The human-readable message; never internal details.
    pub fn message(&self) -> String {
        match self {
            Self::BadRequest(m)
            | Self::Unauthorized(m)
            | Self::Forbidden(m)
            | Self::NotFound(m) => m.clone(),
            Self::InvalidCredentials => "invalid username or password".into(),
            Self::MethodNotAllowed => "method not allowed on this resource".into(),
            Self::UsernameTaken => "username is already taken".into(),
            Self::PayloadTooLarge => "request body is larger than 64 KiB".into(),
            Self::UriTooLong => "the URL is longer than 8 KiB".into(),
            Self::UnsupportedMediaType => "request bodies must be application/json".into(),
            Self::HeadersTooLarge => "the request headers are larger than 64 KiB".into(),
            Self::Validation { field, message } => format!("{field}: {message}"),
            Self::RateLimited {
                what,
                retry_after_secs,
                ..
            } => format!("too many {what}; try again in {retry_after_secs} s"),
            Self::Unavailable(m) => m.clone(),
            Self::Internal(_) => "internal error".into(),
        }
    }

    /// The JSON response; internal errors are logged to stderr here.
    pub fn to_response(&self) -> Response {
        if let Self::Internal(e) = &self {
            eprintln!("internal error: {e:#}");
        }
        let body = serde_json::json!({"error": {"code": self.code(), "message": self.message()}});
        let mut builder = Response::builder();
        builder
            .status(self.status())
            .header("content-type", "application/json")
            .body(body.to_string());
        if matches!(self, Self::Unauthorized(_) | Self::InvalidCredentials) {
            builder.header("www-authenticate", "Bearer");
        }
        match self {
            Self::RateLimited {
                limit,
                retry_after_secs,
                ..
            } => {
                let wait = retry_after_secs.max(&1).to_string();
                builder
                    .header("retry-after", wait.as_str())
                    .header("ratelimit-limit", limit.to_string())
                    .header("ratelimit-remaining", "0")
                    .header("ratelimit-reset", wait.as_str());
            }
            Self::Unavailable(_) => {
                builder.header("retry-after", "1");
            }
            _ => {}
        }
        builder.build()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        Self::Internal(e)
    }
}

impl From<spin_sdk::sqlite::Error> for ApiError {
    fn from(e: spin_sdk::sqlite::Error) -> Self {
        Self::Internal(anyhow::anyhow!("sqlite: {e:?}"))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_its_status_and_code() {
        let cases = [
            (ApiError::BadRequest("x".into()), 400, "bad_request"),
            (ApiError::Unauthorized("x".into()), 401, "unauthorized"),
            (ApiError::InvalidCredentials, 401, "invalid_credentials"),
            (ApiError::Forbidden("x".into()), 403, "forbidden"),
            (ApiError::NotFound("x".into()), 404, "not_found"),
            (ApiError::MethodNotAllowed, 405, "method_not_allowed"),
            (ApiError::UsernameTaken, 409, "username_taken"),
            (ApiError::PayloadTooLarge, 413, "payload_too_large"),
            (ApiError::UriTooLong, 414, "uri_too_long"),
            (
                ApiError::UnsupportedMediaType,
                415,
                "unsupported_media_type",
            ),
            (ApiError::HeadersTooLarge, 431, "headers_too_large"),
            (
                ApiError::validation("body", "too long"),
                422,
                "validation_failed",
            ),
            (
                ApiError::RateLimited {
                    what: "posts",
                    limit: 1,
                    retry_after_secs: 1,
                },
                429,
                "rate_limited",
            ),
            (
                ApiError::Unavailable("x".into()),
                503,
                "service_unavailable",
            ),
        ];
        for (err, status, code) in cases {
            assert_eq!((err.status(), err.code()), (status, code));
        }
    }

    #[test]
    fn waits_are_announced_in_headers() {
        let busy = ApiError::Unavailable("busy".into()).to_response();
        assert_eq!(header(&busy, "retry-after"), Some("1".into()));
        let limited = ApiError::RateLimited {
            what: "posts",
            limit: 300,
            retry_after_secs: 42,
        }
        .to_response();
        for (name, value) in [
            ("retry-after", "42"),
            ("ratelimit-limit", "300"),
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "42"),
        ] {
            assert_eq!(header(&limited, name), Some(value.into()), "{name}");
        }
    }

    fn header(response: &Response, name: &str) -> Option<String> {
        response
            .header(name)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    }

    #[test]
    fn internal_errors_never_reveal_their_cause() {
        let err = ApiError::from(anyhow::anyhow!("secret table name"));
        assert_eq!(err.status(), 500);
        assert!(!err.message().contains("secret"));
    }

    #[test]
    fn validation_messages_name_the_field() {
        assert_eq!(
            ApiError::validation("username", "is required").message(),
            "username: is required"
        );
    }
}
