//! [`ErrorKind`]: what sort of failure a response (or its absence) is.

use http::StatusCode;

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
    /// 408 or 504 (and Cloudflare's 522, 524; 598, 599): the server or a
    /// gateway gave up waiting.
    Timeout,
    /// 422: the request was understood but failed validation.
    Validation,
    /// 426: the client (or protocol) version is no longer supported.
    UpgradeRequired,
    /// 429: a rate limit or quota was exceeded.
    RateLimited,
    /// 500 (and any 5xx not named in the table): the server failed
    /// unexpectedly.
    Server,
    /// 502 (and Cloudflare's 520, 521, 523, 525, 526, 530): a gateway or
    /// proxy got a bad answer, or none, from upstream.
    BadGateway,
    /// 503 (and 507, 509, Anthropic's 529): the service is temporarily
    /// unavailable or out of capacity.
    Unavailable,
    /// No response: the connection or the inner service failed.
    Transport,
    /// Any other status that is not a success (e.g. 405, 410, 413, and the
    /// 5xx that waiting cannot heal: 501, 505, 506, 508, 510, 511).
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
    /// | 502 Bad Gateway | `BadGateway` |
    /// | 503 Service Unavailable | `Unavailable` |
    /// | 504 Gateway Timeout | `Timeout` |
    /// | 501 Not Implemented, 505 HTTP Version Not Supported, 506 Variant Also Negotiates, 508 Loop Detected, 510 Not Extended, 511 Network Authentication Required | `Other` |
    /// | 507 Insufficient Storage (WebDAV) | `Unavailable` |
    /// | 509 Bandwidth Limit Exceeded (cPanel, Apache) | `Unavailable` |
    /// | 520 Unknown Error, 521 Web Server Is Down, 523 Origin Is Unreachable, 525 SSL Handshake Failed, 526 Invalid SSL Certificate (Cloudflare) | `BadGateway` |
    /// | 522 Connection Timed Out, 524 A Timeout Occurred (Cloudflare) | `Timeout` |
    /// | 529 Overloaded (Anthropic `overloaded_error`, Qualys) | `Unavailable` |
    /// | 530 Origin Error (Cloudflare, with a 1xxx error such as 1016 origin DNS) | `BadGateway` |
    /// | 598, 599 Network Read / Connect Timeout (proxies) | `Timeout` |
    /// | any other 5xx | `Server` |
    /// | any other 4xx | `Other` |
    ///
    /// 3xx is not a failure: following redirects is the job of a redirect
    /// layer (`tower_http::follow_redirect`), and a 304 is a cache hit.
    ///
    /// **Why these kinds.** A kind says what went wrong, by the status's
    /// documented meaning: Cloudflare's 52x and 530 are a gateway reporting
    /// on its upstream (a bad answer: `BadGateway`; no answer in time:
    /// `Timeout`); 529, 507 and 509 say the server is out of capacity for
    /// now (`Unavailable`; 509 is a hosting bandwidth allowance, not an
    /// API's rate limit, so it is not `RateLimited`); an unknown 5xx is still
    /// the server's failure (`Server`). The six statuses that name a
    /// permanent condition (an unimplemented method, an unsupported
    /// version, a configuration error, a loop, a missing extension, a
    /// captive portal) are `Other`: waiting will not change them.
    pub fn from_status(status: StatusCode) -> Option<ErrorKind> {
        let kind = match status.as_u16() {
            100..=399 => return None,
            400 => ErrorKind::BadRequest,
            401 => ErrorKind::Unauthorized,
            402 => ErrorKind::PaymentRequired,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            408 => ErrorKind::Timeout,
            409 => ErrorKind::Conflict,
            422 => ErrorKind::Validation,
            426 => ErrorKind::UpgradeRequired,
            429 => ErrorKind::RateLimited,
            502 | 520 | 521 | 523 | 525 | 526 | 530 => ErrorKind::BadGateway,
            503 | 507 | 509 | 529 => ErrorKind::Unavailable,
            504 | 522 | 524 | 598 | 599 => ErrorKind::Timeout,
            501 | 505 | 506 | 508 | 510 | 511 => ErrorKind::Other,
            500..=599 => ErrorKind::Server,
            _ => ErrorKind::Other,
        };
        Some(kind)
    }

    /// Whether failures of this kind are transient by default: worth trying
    /// again after a wait. True for `Timeout`, `RateLimited`, `Server`,
    /// `BadGateway`, `Unavailable` and `Transport`.
    ///
    /// This is the kind's default only: the classifier decides per response
    /// (a 501 is `Other` and not retried; a 413 with `Retry-After` is `Other`
    /// and retried; a server's explicit `x-should-retry` header overrides
    /// either way). Every 5xx of a transient kind is retryable by the
    /// default classifier, and every 5xx it does not retry is `Other`.
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
        self.names().0
    }

    /// The kind in snake case: the `error.type` of spans and metrics.
    #[cfg(any(feature = "tracing", feature = "opentelemetry"))]
    pub(crate) fn label(self) -> &'static str {
        self.names().1
    }

    /// The kind's two names, prose and snake case: one row a kind.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            ErrorKind::BadRequest => ("bad request", "bad_request"),
            ErrorKind::Unauthorized => ("unauthorized", "unauthorized"),
            ErrorKind::PaymentRequired => ("payment required", "payment_required"),
            ErrorKind::Forbidden => ("forbidden", "forbidden"),
            ErrorKind::NotFound => ("not found", "not_found"),
            ErrorKind::Conflict => ("conflict", "conflict"),
            ErrorKind::Timeout => ("timeout", "timeout"),
            ErrorKind::Validation => ("validation", "validation"),
            ErrorKind::UpgradeRequired => ("upgrade required", "upgrade_required"),
            ErrorKind::RateLimited => ("rate limited", "rate_limited"),
            ErrorKind::Server => ("server error", "server_error"),
            ErrorKind::BadGateway => ("bad gateway", "bad_gateway"),
            ErrorKind::Unavailable => ("unavailable", "unavailable"),
            ErrorKind::Transport => ("transport", "transport"),
            ErrorKind::Other => ("other", "other"),
        }
    }
}

display_as_str!(ErrorKind);

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
    fn every_5xx_is_transient_unless_waiting_cannot_heal_it() {
        for code in 500..=599u16 {
            let kind = ErrorKind::from_status(StatusCode::from_u16(code).unwrap()).unwrap();
            let permanent = matches!(code, 501 | 505 | 506 | 508 | 510 | 511);
            assert_eq!(kind.is_transient(), !permanent, "{code}: {kind:?}");
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
