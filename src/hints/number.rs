//! Lenient, saturating number parsing shared by every hint parser.
//!
//! Servers send anything: `-5`, `1e9`, thirty digits, `"30"` with quotes,
//! non-ASCII. Each function here returns `None` for what it cannot read and
//! saturates at [`MAX_HINT`] for what is too large, so that no input can
//! panic or overflow later arithmetic (`Instant + Duration` panics on
//! overflow; a saturated hint never gets near that).

use super::date::parse_date;
use super::structured::step;
use super::MAX_HINT;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A moment a header names: a delay from now, or an absolute time that is
/// turned into a delay against a reference clock (the response's `Date`,
/// else the local clock) once the whole header map has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum When {
    /// A delta (`Retry-After: 120`, `reset=30`).
    After(Duration),
    /// An instant (an HTTP-date, a Unix timestamp, an RFC 3339 time).
    At(SystemTime),
}

impl When {
    /// The delay this names, seen from `reference`.
    pub(crate) fn from(self, reference: SystemTime) -> Duration {
        match self {
            When::After(delay) => delay,
            When::At(at) => until(at, reference),
        }
    }
}

/// Values at or above this many seconds are read as a Unix timestamp rather
/// than a delta: 1e9 s is 2001-09-09, and a delta of 31 years is absurd.
const EPOCH_SECONDS_FLOOR: u64 = 1_000_000_000;
/// Values at or above this are read as a Unix timestamp in milliseconds
/// (1e12 ms is 2001-09-09 too).
const EPOCH_MILLIS_FLOOR: u64 = 1_000_000_000_000;
/// Values at or above this are read as a Unix timestamp in microseconds
/// (1e15 µs is 2001-09-09 too; as milliseconds it would be the year 33658).
const EPOCH_MICROS_FLOOR: u64 = 1_000_000_000_000_000;
/// Values at or above this are read as a Unix timestamp in nanoseconds, as
/// Go's `time.UnixNano()` gives it (1e18 ns is 2001-09-09 too; `u64::MAX`
/// ns is the year 2554, the most a value can say).
const EPOCH_NANOS_FLOOR: u64 = 1_000_000_000_000_000_000;

/// A non-negative decimal number of seconds (`"30"`, `"1.5"`, `" 2 "`),
/// saturating at [`MAX_HINT`]. Signs, exponents, empty and non-digit text
/// give `None`.
pub(crate) fn parse_seconds(text: &str) -> Option<Duration> {
    parse_decimal(text).map(|(whole, nanos)| saturating_duration(whole, nanos))
}

/// A non-negative whole number of milliseconds (`retry-after-ms`,
/// `grpc-retry-pushback-ms`), saturating at [`MAX_HINT`].
pub(crate) fn parse_millis(text: &str) -> Option<Duration> {
    let (millis, fraction) = parse_decimal(text)?;
    // `fraction` is in billionths of a millisecond: a thousandth of it is
    // nanoseconds.
    let nanos = (millis % 1_000) as u32 * 1_000_000 + fraction / 1_000;
    Some(saturating_duration(millis / 1_000, nanos))
}

/// A rate-limit reset value: delta seconds, or a Unix time in seconds,
/// milliseconds, microseconds or nanoseconds, told apart by size alone:
///
/// | value | read as |
/// |---|---|
/// | below 10^9 | seconds from now |
/// | 10^9 to 10^12 | Unix seconds |
/// | 10^12 to 10^15 | Unix milliseconds |
/// | 10^15 to 10^18 | Unix microseconds |
/// | 10^18 and up | Unix nanoseconds (saturating at `u64::MAX`) |
///
/// Each floor is 2001-09-09 in its unit ([`EPOCH_SECONDS_FLOOR`] and on),
/// and each range ends where the next unit's begins (the year 33658 in the
/// smaller unit), so a time between those years reads the same in any of
/// the four units, and no clock is consulted to choose. The test is three
/// comparisons on a number already parsed. A Go-style duration (`"6m0s"`, `"20ms"`, as
/// OpenAI sends), an RFC 3339 time (`2024-09-03T16:47:48Z`, Anthropic) and
/// an HTTP-date (GitLab's `RateLimit-ResetTime`) are accepted too. Past
/// timestamps mean zero once resolved against a clock ([`When::from`];
/// `now` places a date's two-digit year).
pub(crate) fn parse_reset_when(text: &str, now: SystemTime) -> Option<When> {
    let Some((whole, nanos)) = parse_decimal(text) else {
        return parse_go_duration(text)
            .map(When::After)
            .or_else(|| parse_date(text, now).map(When::At));
    };
    let epoch = |since: Duration| UNIX_EPOCH.checked_add(since).map(When::At);
    match whole {
        EPOCH_NANOS_FLOOR.. => epoch(Duration::from_nanos(whole)),
        EPOCH_MICROS_FLOOR..EPOCH_NANOS_FLOOR => epoch(Duration::from_micros(whole)),
        EPOCH_MILLIS_FLOOR..EPOCH_MICROS_FLOOR => epoch(Duration::from_millis(whole)),
        EPOCH_SECONDS_FLOOR..EPOCH_MILLIS_FLOOR => epoch(Duration::new(whole, nanos)),
        _ => Some(When::After(saturating_duration(whole, nanos))),
    }
}

/// Below this, an `X-Retry-After` is read as seconds: a wait of under a
/// millisecond in nanoseconds is as unlikely as one of over 11 days in
/// seconds, and the header's name promises `Retry-After`'s unit.
const NANOS_FROM: u64 = 1_000_000;

/// A non-negative whole number of nanoseconds (Aevo's `X-Retry-After`),
/// saturating at [`MAX_HINT`]; a fraction of a nanosecond is dropped; a
/// number below [`NANOS_FROM`] is whole seconds (the same header name in
/// `Retry-After`'s unit).
pub(crate) fn parse_nanos(text: &str) -> Option<Duration> {
    let (number, _) = parse_decimal(text)?;
    let wait = match number {
        seconds if seconds < NANOS_FROM => Duration::from_secs(seconds),
        nanos => Duration::from_nanos(nanos),
    };
    Some(wait.min(MAX_HINT))
}

/// A non-negative whole number (`X-RateLimit-Limit: 60`), saturating at
/// `u64::MAX`.
pub(crate) fn parse_count(text: &str) -> Option<u64> {
    let (whole, nanos) = parse_decimal(text)?;
    // "60.0" is a count; "60.5" is not.
    (nanos == 0).then_some(whole)
}

/// The time from `now` until `at`: zero for the past, saturating at
/// [`MAX_HINT`] for the far future.
pub(crate) fn until(at: SystemTime, now: SystemTime) -> Duration {
    at.duration_since(now).unwrap_or_default().min(MAX_HINT)
}

/// A Go `time.Duration` string: one or more `<decimal><unit>` runs with
/// units h, m, s, ms, us, µs, ns (`"1h2m3.5s"`, `"6m0s"`, `"20ms"`).
pub(crate) fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = Some(text.trim().as_bytes()).filter(|rest| !rest.is_empty())?;
    let is_number = |b: &u8| b.is_ascii_digit() || *b == b'.';
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.iter().take_while(|b| is_number(b)).count();
        let (number, after) = rest.split_at(digits);
        let unit_len = after.iter().take_while(|b| !is_number(b)).count();
        let (unit, next) = after.split_at(unit_len);
        let (whole, nanos) = parse_decimal(std::str::from_utf8(number).ok()?)?;
        let value = saturating_duration(whole, nanos);
        let scaled = match unit {
            b"h" => value.saturating_mul(3600),
            b"m" => value.saturating_mul(60),
            b"s" => value,
            b"ms" => value / 1_000,
            b"us" | b"\xc2\xb5s" => value / 1_000_000,
            b"ns" => value / 1_000_000_000,
            _ => return None,
        };
        total = total.saturating_add(scaled);
        rest = next;
    }
    Some(total.min(MAX_HINT))
}

/// `digits[.digits]` after trimming ASCII whitespace: the whole part
/// (saturating at `u64::MAX`) and the fraction as nanoseconds (digits past
/// the ninth are dropped).
fn parse_decimal(text: &str) -> Option<(u64, u32)> {
    step(text.len());
    let bytes = text.as_bytes().trim_ascii();
    // Every rate-limit header of every learning response comes here: the
    // whole part is found first, then read without overflow checks when it
    // has at most 19 digits (10^19 - 1 fits a u64), as every real one has.
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let digits = Some(digits).filter(|digits| *digits > 0)?;
    let (integer, rest) = bytes.split_at(digits);
    let digit = |d: &u8| u64::from(d - b'0');
    let whole = if digits <= 19 {
        integer.iter().fold(0, |whole, d| whole * 10 + digit(d))
    } else {
        let saturating = |whole: u64, d| whole.saturating_mul(10).saturating_add(digit(d));
        integer.iter().fold(0, saturating)
    };
    let all_digits = |text: &[u8]| !text.is_empty() && text.iter().all(u8::is_ascii_digit);
    let nanos = match rest {
        [] => 0,
        [b'.', fraction @ ..] if all_digits(fraction) => nanos_of(fraction),
        _ => return None,
    };
    Some((whole, nanos))
}

/// The nanoseconds of a fraction's digits (after the point): the first
/// nine, the rest dropped.
pub(crate) fn nanos_of(fraction: &[u8]) -> u32 {
    let nine = fraction.iter().chain(std::iter::repeat(&b'0')).take(9);
    nine.fold(0u32, |acc, digit| acc * 10 + u32::from(digit - b'0'))
}

fn saturating_duration(secs: u64, nanos: u32) -> Duration {
    // MAX_HINT is whole seconds: at its seconds, any `nanos` reach it.
    Duration::new(secs.min(MAX_HINT.as_secs()), nanos).min(MAX_HINT)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`parse_reset_when`], resolved against `now`.
    fn parse_reset(text: &str, now: SystemTime) -> Option<Duration> {
        parse_reset_when(text, now).map(|when| when.from(now))
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_seconds(" 1.5 "), Some(Duration::from_millis(1500)));
        assert_eq!(parse_seconds("0"), Some(Duration::ZERO));
        assert_eq!(
            parse_seconds("999999999999999999999999999999"),
            Some(MAX_HINT)
        );
        for bad in ["", "-5", "+5", "1e3", "1.", ".5", "abc", "5s", "1.2.3", "٣"] {
            assert_eq!(parse_seconds(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn nanos() {
        assert_eq!(
            parse_nanos("4406000000"),
            Some(Duration::from_millis(4_406))
        );
        assert_eq!(parse_nanos("1000000.5"), Some(Duration::from_millis(1)));
        assert_eq!(parse_nanos("30"), Some(Duration::from_secs(30)), "seconds");
        assert_eq!(parse_nanos("86400"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_nanos(&"9".repeat(40)), Some(MAX_HINT));
        assert_eq!(parse_nanos("-1"), None);
    }

    #[test]
    fn millis() {
        assert_eq!(parse_millis("1500"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_millis("20.5"), Some(Duration::from_micros(20_500)));
        assert_eq!(parse_millis("-1"), None);
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("60"), Some(60));
        assert_eq!(parse_count("60.0"), Some(60));
        assert_eq!(parse_count("60.5"), None);
        assert_eq!(
            parse_count("999999999999999999999999999999"),
            Some(u64::MAX)
        );
    }

    /// Up to 19 digits are read without overflow checks (10^19 - 1 fits a
    /// u64); a 20th digit takes the saturating path, exact up to `u64::MAX`.
    #[test]
    fn counts_at_the_unchecked_boundary() {
        assert_eq!(
            parse_count("9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        assert_eq!(parse_count("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_count("18446744073709551616"), Some(u64::MAX));
        assert_eq!(parse_count("00000000000000000000042"), Some(42));
        assert_eq!(parse_count(" 7\t"), Some(7));
        assert_eq!(parse_count("7 7"), None);
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_go_duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(
            parse_go_duration("1h2m3.5s"),
            Some(Duration::from_millis(3_723_500))
        );
        assert_eq!(parse_go_duration("5x"), None);
        assert_eq!(parse_go_duration("s"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn reset_tells_epoch_from_delta() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_reset("45", now), Some(Duration::from_secs(45)));
        assert_eq!(
            parse_reset("1700000060", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_reset("1700000000500", now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_reset("1600000000", now), Some(Duration::ZERO));
        // Microseconds and nanoseconds since the epoch (Go's UnixNano).
        assert_eq!(
            parse_reset("1700000000250000", now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            parse_reset("1700000002000000000", now),
            Some(Duration::from_secs(2))
        );
        // Every floor is 2001 in its unit (past: zero), where the unit
        // below would put it in the far future; the value under a floor is
        // the far future in the unit below (saturated).
        assert_eq!(parse_reset("999999999", now), Some(MAX_HINT));
        for (floor, below) in [
            ("1000000000", "999999999999"),
            ("1000000000000", "999999999999999"),
            ("1000000000000000", "999999999999999999"),
            ("1000000000000000000", "18446744073709551615"),
        ] {
            assert_eq!(parse_reset(floor, now), Some(Duration::ZERO), "{floor}");
            assert_eq!(parse_reset(below, now), Some(MAX_HINT), "{below}");
        }
        // Saturating: more digits than a u64 holds is the year 2554.
        assert_eq!(parse_reset(&"9".repeat(40), now), Some(MAX_HINT));
        assert_eq!(parse_reset("6m0s", now), Some(Duration::from_secs(360)));
        assert_eq!(
            parse_reset("2023-11-14T22:14:20Z", now),
            Some(Duration::from_secs(60))
        );
    }
}
