//! [`ErrorKind`]: what sort of failure a response (or its absence) is.

use http::StatusCode;
use std::fmt;

/// What sort of failure an API call ended in.
///
/// Kinds follow the status codes the seed APIs document (see the table on
/// [`ErrorKind::from_status`]); anything else that is not a success is
/// [`ErrorKind::Other`]. [`ErrorKind::Transport`] is the one kind with no
/// response at all: the connection failed or the inner service errored.
///
/// ```
/// use http::StatusCode;
/// use tower_api_errors::ErrorKind;
///
/// assert_eq!(ErrorKind::from_status(StatusCode::TOO_MANY_REQUESTS), Some(ErrorKind::RateLimited));
/// assert_eq!(ErrorKind::from_status(StatusCode::GATEWAY_TIMEOUT), Some(ErrorKind::Timeout));
/// assert_eq!(ErrorKind::from_status(StatusCode::IM_A_TEAPOT), Some(ErrorKind::Other));
/// assert_eq!(ErrorKind::from_status(StatusCode::OK), None);
/// assert_eq!(ErrorKind::RateLimited.to_string(), "rate limited");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400: the request was malformed or had invalid parameters.
    BadRequest,
    /// 401: credentials are missing, invalid or expired.
    Unauthorized,
    /// 402: the account lacks funds or a plan for this call.
    PaymentRequired,
    /// 403: valid credentials without the permission needed.
    Forbidden,
    /// 404: the resource does not exist.
    NotFound,
    /// 409: the request conflicts with the resource's state (e.g. a duplicate).
    Conflict,
    /// 408 or 504: the server or a gateway gave up waiting.
    Timeout,
    /// 422: the request was understood but failed validation.
    Validation,
    /// 426: the client (or protocol) version is no longer supported.
    UpgradeRequired,
    /// 429: a rate limit or quota was exceeded.
    RateLimited,
    /// 500: the server failed unexpectedly.
    Server,
    /// 502: a gateway or proxy got a bad answer from upstream.
    BadGateway,
    /// 503: the service is temporarily unavailable.
    Unavailable,
    /// No response: the connection or the inner service failed.
    Transport,
    /// Any other status that is not a success (e.g. 405, 410, 501, 505).
    Other,
}

impl ErrorKind {
    /// The kind for a response status, or `None` for statuses that are not
    /// failures (1xx, 2xx and 3xx).
    ///
    /// | status | kind |
    /// |---|---|
    /// | 400 | `BadRequest` |
    /// | 401 | `Unauthorized` |
    /// | 402 | `PaymentRequired` |
    /// | 403 | `Forbidden` |
    /// | 404 | `NotFound` |
    /// | 408, 504 | `Timeout` |
    /// | 409 | `Conflict` |
    /// | 422 | `Validation` |
    /// | 426 | `UpgradeRequired` |
    /// | 429 | `RateLimited` |
    /// | 500 | `Server` |
    /// | 502 | `BadGateway` |
    /// | 503 | `Unavailable` |
    /// | any other 4xx or 5xx | `Other` |
    ///
    /// 3xx is not a failure: following redirects is the job of a redirect
    /// layer (`tower_http::follow_redirect`), and a 304 is a cache hit.
    pub fn from_status(status: StatusCode) -> Option<ErrorKind> {
        let kind = match status.as_u16() {
            100..=399 => return None,
            400 => ErrorKind::BadRequest,
            401 => ErrorKind::Unauthorized,
            402 => ErrorKind::PaymentRequired,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            408 | 504 => ErrorKind::Timeout,
            409 => ErrorKind::Conflict,
            422 => ErrorKind::Validation,
            426 => ErrorKind::UpgradeRequired,
            429 => ErrorKind::RateLimited,
            500 => ErrorKind::Server,
            502 => ErrorKind::BadGateway,
            503 => ErrorKind::Unavailable,
            _ => ErrorKind::Other,
        };
        Some(kind)
    }

    /// Whether failures of this kind are transient by default: worth trying
    /// again after a wait. True for `Timeout`, `RateLimited`, `Server`,
    /// `BadGateway`, `Unavailable` and `Transport`.
    ///
    /// This is the kind's default only: the classifier decides per response
    /// (a 501 is `Other` and not retried; a server's explicit
    /// `x-should-retry` header overrides either way).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::Timeout
                | ErrorKind::RateLimited
                | ErrorKind::Server
                | ErrorKind::BadGateway
                | ErrorKind::Unavailable
                | ErrorKind::Transport
        )
    }

    /// A short, lowercase, stable name, as used in `Display` and log fields.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad request",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::PaymentRequired => "payment required",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Validation => "validation",
            ErrorKind::UpgradeRequired => "upgrade required",
            ErrorKind::RateLimited => "rate limited",
            ErrorKind::Server => "server error",
            ErrorKind::BadGateway => "bad gateway",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Transport => "transport",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_and_redirect_statuses_are_not_failures() {
        for code in 100..=399u16 {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(ErrorKind::from_status(status), None, "{code}");
        }
    }

    #[test]
    fn transient_kinds() {
        assert!(ErrorKind::Unavailable.is_transient());
        assert!(ErrorKind::Transport.is_transient());
        assert!(!ErrorKind::NotFound.is_transient());
        assert!(!ErrorKind::Other.is_transient());
    }
}
