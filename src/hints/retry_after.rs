//! `Retry-After` (RFC 9110 §10.2.3) and `retry-after-ms`.

use super::date::parse_date;
use super::number::{parse_millis, parse_seconds, When};
use http::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use std::time::{Duration, SystemTime};

/// `retry-after-ms`: the same hint in milliseconds, sent by OpenAI and
/// Azure OpenAI beside `Retry-After`.
pub(crate) const RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");

/// Parses one `Retry-After` value, relative to `now`.
///
/// Accepts delta-seconds (`120`) and an HTTP-date in each of the three
/// formats RFC 9110 §5.6.7 requires a recipient to accept: IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850 (`Sunday, 06-Nov-94 08:49:37
/// GMT`) and asctime (`Sun Nov  6 08:49:37 1994`), parsed by the `httpdate`
/// crate. As leniencies, delta-seconds may carry a decimal fraction (`1.5`),
/// and a date may use the obsolete forms Python's `email.utils` accepts:
/// `UTC`, `UT`, `Z`, US zone names or a numeric offset (`+0000`) in place of
/// `GMT`, no weekday, a two-digit year, no seconds; or be an RFC 3339 time.
///
/// A date in the past means zero; a far-future date or a huge number
/// saturates at [`MAX_HINT`](super::MAX_HINT). Anything else (negative,
/// empty, non-ASCII, garbage) is `None`.
///
/// ```
/// use http::HeaderValue;
/// use std::time::{Duration, UNIX_EPOCH};
/// use tower_api_errors::hints::parse_retry_after;
///
/// let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // 1994-11-06 08:49:37 GMT
/// let in_a_minute = HeaderValue::from_static("Sun, 06 Nov 1994 08:50:37 GMT");
/// assert_eq!(parse_retry_after(&in_a_minute, now), Some(Duration::from_secs(60)));
/// assert_eq!(parse_retry_after(&HeaderValue::from_static("120"), now), Some(Duration::from_secs(120)));
/// assert_eq!(parse_retry_after(&HeaderValue::from_static("-5"), now), None);
/// ```
pub fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    retry_after_when(value.to_str().ok()?).map(|when| when.from(now))
}

/// One `Retry-After` value, before it is resolved against a clock.
pub(crate) fn retry_after_when(text: &str) -> Option<When> {
    let text = text.trim();
    let first = text.bytes().next()?;
    if first.is_ascii_digit() {
        // Delta-seconds, or a date that starts with its day (`06 Nov 1994
        // ...`, `1994-11-06T...`).
        if let Some(delay) = parse_seconds(text) {
            return Some(When::After(delay));
        }
    }
    parse_date(text).map(When::At)
}

/// The `Retry-After` hint of a response, relative to `now`.
///
/// `retry-after-ms` wins when it parses: it is the same hint, sent by the
/// same server, at a finer grain. Several `Retry-After` fields are not
/// allowed by RFC 9110 (it is not a list), but when a proxy chain produces
/// them, the **longest** valid value wins: a client must never retry earlier
/// than any instruction it was given, and waiting the longest honours all of
/// them. Invalid fields are skipped. Dates are read against `now`;
/// [`ResponseHints`](super::ResponseHints) reads them against the
/// response's own `Date`.
///
/// ```
/// use http::HeaderMap;
/// use std::time::{Duration, SystemTime};
/// use tower_api_errors::hints::retry_after;
///
/// let mut headers = HeaderMap::new();
/// headers.append("retry-after", "2".parse().unwrap());
/// headers.append("retry-after", "garbage".parse().unwrap());
/// headers.append("retry-after", "5".parse().unwrap());
/// assert_eq!(retry_after(&headers, SystemTime::now()), Some(Duration::from_secs(5)));
///
/// headers.insert("retry-after-ms", "5250".parse().unwrap());
/// assert_eq!(retry_after(&headers, SystemTime::now()), Some(Duration::from_millis(5250)));
/// ```
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    retry_after_ms(headers).or_else(|| {
        headers
            .get_all(RETRY_AFTER)
            .iter()
            .filter_map(|value| parse_retry_after(value, now))
            .max()
    })
}

/// The longest valid `retry-after-ms` (or Azure's `x-ms-retry-after-ms`)
/// value.
pub(crate) fn retry_after_ms(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all(RETRY_AFTER_MS)
        .iter()
        .chain(headers.get_all(X_MS_RETRY_AFTER_MS))
        .filter_map(|value| parse_millis(value.to_str().ok()?))
        .max()
}

/// Azure's name for `retry-after-ms`.
pub(crate) const X_MS_RETRY_AFTER_MS: HeaderName = HeaderName::from_static("x-ms-retry-after-ms");
