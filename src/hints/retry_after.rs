//! `Retry-After` (RFC 9110 §10.2.3) and `retry-after-ms`.

use super::date::parse_date;
use super::number::{parse_seconds, When};
use super::{HintSource, ResponseHints};
use http::header::{HeaderMap, HeaderValue};
use std::time::{Duration, SystemTime};

/// Parses one `Retry-After` value, relative to `now`.
///
/// Accepts delta-seconds (`120`) and an HTTP-date in each of the three
/// formats RFC 9110 §5.6.7 requires a recipient to accept: IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850 (`Sunday, 06-Nov-94 08:49:37
/// GMT`) and asctime (`Sun Nov  6 08:49:37 1994`). A two-digit year is the
/// latest with those digits at most 50 years after `now` (RFC 9110 §5.6.7:
/// one that appears to be more than 50 years in the future is the most
/// recent past year with the same last two digits). As leniencies,
/// delta-seconds may carry a decimal fraction (`1.5`) or come as a list
/// (`2, 5`: the longest, see [`retry_after`]), and a date may use the
/// obsolete forms Python's `email.utils` accepts: `UTC`, `UT`, `Z`, US zone
/// names or a numeric offset (`+0000`) in place of `GMT`, no weekday, a
/// two-digit year, no seconds; or be an RFC 3339 time.
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
    let (delay, at) = retry_after_when(value.to_str().ok()?, now);
    delay.max(at.map(|at| When::At(at).from(now)))
}

/// A line's longest delay and latest date.
type Longest = (Option<Duration>, Option<SystemTime>);

/// One `Retry-After` line's longest delay and latest date, before they are
/// resolved against a clock (`now` places a date's two-digit year). Its
/// comma-joined pieces (see [`retry_after`]) are delays, or dates: a piece
/// that is no delay is read with the next one first (IMF-fixdate and RFC
/// 850 dates hold a comma after the day's name), else alone; each piece is
/// read at most three times.
pub(crate) fn retry_after_when(text: &str, now: SystemTime) -> Longest {
    let (mut delay, mut at, mut pieces) = (None, None, text.split(',').peekable());
    let start = |piece: &str| piece.as_ptr() as usize - text.as_ptr() as usize;
    while let Some(piece) = pieces.next() {
        let pair = |next: &&str| parse_date(&text[start(piece)..start(next) + next.len()], now);
        if let Some(seconds) = parse_seconds(piece) {
            delay = delay.max(Some(seconds));
        } else if let Some(date) = pieces.peek().and_then(pair) {
            at = at.max(Some(date));
            pieces.next();
        } else {
            at = at.max(parse_date(piece, now));
        }
    }
    (delay, at)
}

/// The `Retry-After` hint of a response, relative to `now`: the
/// [`ResponseHints`] reading's, so dates are read against the response's
/// own `Date` (see its docs), as every hint is.
///
/// `retry-after-ms` wins when it parses: it is the same hint, sent by the
/// same server, at a finer grain. `Retry-After` is a single value (RFC 9110
/// §10.2.3), not a list, so several of it are not allowed; but when a proxy
/// chain sends several lines, or joins them into one (`2, 5`, as RFC 9110
/// §5.3 joins a list's lines), the **longest** valid value wins: a client
/// must never retry earlier than any instruction it was given, and waiting
/// the longest honours all of them. Invalid values are skipped. A date
/// holds a comma: joined dates are read whole, and the latest wins.
///
/// ```
/// use http::HeaderMap;
/// use std::time::{Duration, SystemTime};
/// use tower_api_errors::hints::retry_after;
///
/// let mut headers = HeaderMap::new();
/// headers.append("retry-after", "2".parse().unwrap());
/// headers.append("retry-after", "garbage".parse().unwrap());
/// headers.append("retry-after", "5, 3".parse().unwrap());
/// assert_eq!(retry_after(&headers, SystemTime::now()), Some(Duration::from_secs(5)));
///
/// headers.insert("retry-after-ms", "5250".parse().unwrap());
/// assert_eq!(retry_after(&headers, SystemTime::now()), Some(Duration::from_millis(5250)));
/// ```
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let hint = ResponseHints::read(headers, now).explicit_hint()?;
    (hint.source() != HintSource::GrpcPushback).then(|| hint.delay())
}
