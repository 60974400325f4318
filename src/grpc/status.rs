//! The gRPC status table: codes, their names, kinds and retry verdicts,
//! and the classification of a trailers-only response, which the default
//! classifier consults before the HTTP status.

use crate::classification::{Classification, Failure};
use crate::hints::{grpc_pushback, GrpcPushback, HintSource, RetryHint};
use crate::redact::RequestContext;
use crate::{Error, ErrorKind, TransportError};
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use std::time::Duration;

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

/// The kind and default retry verdict for a gRPC status code.
pub fn kind_for_code(code: u32) -> Option<(ErrorKind, bool)> {
    let kind = match code {
        0 => return None,
        3 | 9 | 11 => ErrorKind::BadRequest,
        4 => ErrorKind::Timeout,
        5 => ErrorKind::NotFound,
        6 | 10 => ErrorKind::Conflict,
        7 => ErrorKind::Forbidden,
        8 => return Some((ErrorKind::RateLimited, true)),
        14 => return Some((ErrorKind::Unavailable, true)),
        16 => ErrorKind::Unauthorized,
        2 | 13 | 15 => ErrorKind::Server,
        _ => ErrorKind::Other,
    };
    Some((kind, false))
}

/// The canonical name of a gRPC status code (`"UNAVAILABLE"`), used as the
/// error's code.
pub fn code_name(code: u32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    NAMES.get(code as usize).copied().unwrap_or("UNKNOWN_CODE")
}

/// The kind of a trailers-only gRPC failure: a 200 whose `grpc-status`
/// is not `OK`, by the table of [`kind_for_code`]. How the auth and quota
/// layers read gRPC's 401, 429 and 503.
pub(crate) fn trailers_only_kind(status: StatusCode, headers: &HeaderMap) -> Option<ErrorKind> {
    let code = grpc_status(headers).filter(|_| status == StatusCode::OK)?;
    kind_for_code(code).map(|(kind, _)| kind)
}

/// The `grpc-status` of a header map, when present and numeric.
pub fn grpc_status(headers: &HeaderMap) -> Option<u32> {
    let text = headers.get(GRPC_STATUS)?.to_str().ok()?.trim();
    let numeric =
        |text: &&str| (1..=9).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
    Some(text).filter(numeric)?.parse().ok()
}

/// The `grpc-timeout` of a request's headers, when present and valid
/// (gRPC over HTTP/2, "Requests": one to eight ASCII digits and a unit,
/// `H`, `M`, `S`, `m`, `u` or `n`); tonic sets it from
/// `tonic::Request::set_timeout` and a channel's timeout.
///
/// ```
/// use http::HeaderMap;
/// use std::time::Duration;
/// use tower_api_errors::grpc::grpc_timeout;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("grpc-timeout", "250m".parse().unwrap());
/// assert_eq!(grpc_timeout(&headers), Some(Duration::from_millis(250)));
/// headers.insert("grpc-timeout", "123456789S".parse().unwrap());
/// assert_eq!(grpc_timeout(&headers), None, "nine digits");
/// ```
pub fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    parse_timeout(headers.get(GRPC_TIMEOUT)?.as_bytes())
}

/// The request header of a call's timeout.
pub(crate) const GRPC_TIMEOUT: &str = "grpc-timeout";

/// The units of a `grpc-timeout`, finest first.
const TIMEOUT_UNITS: [(u8, Duration); 6] = [
    (b'n', Duration::from_nanos(1)),
    (b'u', Duration::from_micros(1)),
    (b'm', Duration::from_millis(1)),
    (b'S', Duration::from_secs(1)),
    (b'M', Duration::from_secs(60)),
    (b'H', Duration::from_secs(3600)),
];

/// The most a `grpc-timeout` counts of its unit: eight digits.
const MAX_TIMEOUT_VALUE: u32 = 99_999_999;

/// A `grpc-timeout` value (see [`grpc_timeout`]).
pub(crate) fn parse_timeout(text: &[u8]) -> Option<Duration> {
    let (&unit, digits) = text.split_last()?;
    let numeric =
        |digits: &&[u8]| (1..=8).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit);
    let digits = Some(digits).filter(numeric)?;
    let value: u32 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let (_, per) = TIMEOUT_UNITS.iter().find(|(name, _)| *name == unit)?;
    Some(*per * value)
}

/// `timeout` as a `grpc-timeout` value: in the finest unit that counts it
/// in eight digits, rounded up (a server that reads it gives up no sooner
/// than the caller), as grpc-go and grpc-java write it.
pub(crate) fn format_timeout(timeout: Duration) -> HeaderValue {
    let fits = TIMEOUT_UNITS.iter().find_map(|&(unit, per)| {
        let count = timeout.as_nanos().div_ceil(per.as_nanos());
        (count <= u128::from(MAX_TIMEOUT_VALUE)).then_some((count, unit))
    });
    let (count, unit) = fits.unwrap_or((u128::from(MAX_TIMEOUT_VALUE), b'H'));
    let text = format!("{count}{}", char::from(unit));
    HeaderValue::try_from(text).expect("digits and a unit letter make a header value")
}

/// `request` with its `grpc-timeout`, if it carries one, shortened by the
/// time its call has run (a retry's or a hedge's wait, a hold for the
/// quota): gRFC A6 makes the deadline the call's, retries and hedges
/// included, and grpc-go writes each attempt's timeout from the time left,
/// so that the server gives up when the caller does.
pub(crate) fn with_time_left<B>(mut request: Request<B>, elapsed: Duration) -> Request<B> {
    if let Some(timeout) = grpc_timeout(request.headers()) {
        let left = format_timeout(timeout.saturating_sub(elapsed));
        request.headers_mut().insert(GRPC_TIMEOUT, left);
    }
    request
}

/// As [`with_time_left`], for a send after a wait of the auth or quota
/// layer, or a hedge: with no time left, nothing is sent (a `grpc-timeout` is a
/// positive integer, gRPC over HTTP/2; grpc-go fails such a call locally)
/// and the call ends as the retry layer's deadline ends it, an error that
/// [`into_status`](super::into_status) makes `DEADLINE_EXCEEDED`.
pub(crate) fn in_time<B>(request: Request<B>, elapsed: Duration) -> Result<Request<B>, Error> {
    if grpc_timeout(request.headers()).is_some_and(|timeout| timeout <= elapsed) {
        let mut cut = TransportError::deadline_elapsed();
        let context = RequestContext::new(request.method().clone(), request.uri().clone());
        cut.set_request(Some(context));
        return Err(Error::Transport(cut));
    }
    Ok(with_time_left(request, elapsed))
}

/// Classifies a trailers-only response (or a trailer map) by its
/// `grpc-status`; `None` when there is no readable `grpc-status`.
pub fn classify_trailers_only(headers: &HeaderMap) -> Option<Classification> {
    let Some((kind, retryable)) = kind_for_code(grpc_status(headers)?) else {
        return Some(Classification::Success);
    };
    let failure = Failure::new(kind).with_retryable(retryable);
    let failure = match grpc_pushback(headers) {
        Some(GrpcPushback::After(delay)) => {
            failure.with_hint(Some(RetryHint::new(delay, HintSource::GrpcPushback)))
        }
        // The server's "no" to a status the table retries is its verdict,
        // as on an HTTP failure (a hedge then stops, not cancels, A6); to
        // one the table never retries it changes nothing.
        Some(GrpcPushback::DoNotRetry) if retryable => failure.with_server_verdict(Some(false)),
        Some(GrpcPushback::DoNotRetry) | None => failure,
    };
    Some(Classification::Failure(failure))
}

/// Percent-decodes a `grpc-message` value (as the gRPC HTTP/2 protocol
/// encodes it); invalid escapes are kept as they are and invalid UTF-8 is
/// replaced, so decoding never fails.
pub fn decode_grpc_message(raw: &[u8]) -> String {
    String::from(percent_encoding::percent_decode(raw).decode_utf8_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The finest unit that counts the timeout in eight digits, rounded
    /// up; what is written reads back as at least the timeout.
    #[test]
    fn a_timeout_is_written_in_the_finest_unit_that_fits() {
        let cases = [
            (Duration::ZERO, "0n"),
            (Duration::from_nanos(99_999_999), "99999999n"),
            (Duration::from_millis(250), "250000u"),
            (Duration::from_nanos(250_000_001), "250001u"),
            (Duration::from_secs(100), "100000m"),
            (Duration::from_secs(100_000_000), "1666667M"),
            (Duration::from_secs(400_000_000_000), "99999999H"),
        ];
        for (timeout, written) in cases {
            let value = format_timeout(timeout);
            assert_eq!(value, written, "{timeout:?}");
            let read = parse_timeout(value.as_bytes()).unwrap();
            assert!(read >= timeout.min(Duration::from_secs(99_999_999 * 3600)));
        }
    }

    #[test]
    fn every_code_has_a_verdict() {
        for code in 0..=20 {
            let mut headers = HeaderMap::new();
            headers.insert("grpc-status", code.to_string().parse().unwrap());
            let verdict = classify_trailers_only(&headers).unwrap();
            assert_eq!(verdict.is_success(), code == 0, "{code}");
            assert_eq!(verdict.is_retryable(), code == 8 || code == 14, "{code}");
        }
    }

    #[test]
    fn a_do_not_retry_pushback_is_the_servers_verdict_on_a_retried_status() {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-retry-pushback-ms", "-1".parse().unwrap());
        headers.insert("grpc-status", "14".parse().unwrap());
        let verdict = classify_trailers_only(&headers).unwrap();
        let failure = verdict.failure().unwrap();
        assert!(!failure.is_retryable());
        assert_eq!(failure.server_verdict(), Some(false));
        // INTERNAL is never retried: the "no" changes nothing.
        headers.insert("grpc-status", "13".parse().unwrap());
        let verdict = classify_trailers_only(&headers).unwrap();
        assert_eq!(verdict.failure().unwrap().server_verdict(), None);
    }

    #[test]
    fn decodes_messages_without_failing() {
        assert_eq!(decode_grpc_message(b"plain"), "plain");
        assert_eq!(decode_grpc_message(b"100%"), "100%");
        assert_eq!(decode_grpc_message(b"%4"), "%4");
        assert_eq!(decode_grpc_message(b"%zz"), "%zz");
        assert_eq!(decode_grpc_message(b"%FF"), "\u{FFFD}");
    }

    #[test]
    fn garbage_status_is_ignored() {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-status", "-1".parse().unwrap());
        assert_eq!(classify_trailers_only(&headers), None);
        headers.insert("grpc-status", "99999999999999".parse().unwrap());
        assert_eq!(classify_trailers_only(&headers), None);
    }
}
