//! Dates in headers: HTTP-dates (the `httpdate` crate), the lenient forms
//! real servers send that it refuses, and RFC 3339 / ISO 8601 timestamps.
//!
//! `httpdate` does every calendar computation here. The lenient forms and
//! RFC 3339 are read into fields by hand, written out as an IMF-fixdate and
//! handed to `httpdate`, which checks the date (leap years, month lengths)
//! and turns it into a time.
//!
//! # Bounds
//!
//! Every parser here refuses text longer than [`MAX_DATE_LEN`] bytes before
//! looking at it, so each costs O(1) whatever the field's length.

use super::structured::step;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest date text read. The longest real form, RFC 850 with a long
/// weekday and a fraction-bearing RFC 3339 stamp, is under 40 bytes.
pub(crate) const MAX_DATE_LEN: usize = 64;

/// An HTTP-date (RFC 9110 §5.6.7's three formats, by `httpdate`), else a
/// lenient date (see [`parse_lenient`]), else an RFC 3339 timestamp.
pub(crate) fn parse_date(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    if text.len() > MAX_DATE_LEN {
        return None;
    }
    step(text.len());
    httpdate::parse_http_date(text)
        .ok()
        .or_else(|| parse_lenient(text))
        .or_else(|| parse_rfc3339(text))
}

/// An RFC 3339 / ISO 8601 extended timestamp:
/// `YYYY-MM-DD[T| ]HH:MM[:SS[.fraction]][Z|±HH:MM|±HHMM|±HH]`. Without a
/// zone, UTC is assumed (HTTP APIs send UTC). Anthropic's resets are this
/// form (`2024-09-03T16:47:48Z`, its rate-limit docs).
pub(crate) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let b = text.as_bytes();
    if b.len() > MAX_DATE_LEN || b.len() < 16 {
        return None;
    }
    step(b.len());
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
        return None;
    }
    let date = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (hour, minute) = (digits(&b[11..13])?, digits(&b[14..16])?);
    let mut rest = &b[16..];
    let mut second = 0;
    let mut nanos = 0u32;
    if let [b':', s1, s2, tail @ ..] = rest {
        second = digits(&[*s1, *s2])?;
        rest = tail;
        if let [b'.' | b',', tail @ ..] = rest {
            let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            nanos = tail[..n]
                .iter()
                .chain(std::iter::repeat(&b'0'))
                .take(9)
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
            rest = &tail[n..];
        }
    }
    let offset = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), zone @ ..] => {
            let (h, m) = match zone {
                [h1, h2] => (digits(&[*h1, *h2])?, 0),
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
                    (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?)
                }
                _ => return None,
            };
            signed_offset(*sign, h, m)?
        }
        _ => return None,
    };
    let at = to_time(date, (hour, minute, second), offset)?;
    at.checked_add(Duration::from_nanos(u64::from(nanos)))
}

/// The zone names of RFC 822 §5.1 (kept by RFC 5322 §4.3 as obsolete
/// zones), with their offsets in hours. Go's `time.RFC1123` layout, used
/// where `http.TimeFormat` belongs, prints `UTC` or a local zone's name
/// (`PST`) in place of `GMT`.
const ZONES: &[(&str, i64)] = &[
    ("UT", 0),
    ("UTC", 0),
    ("GMT", 0),
    ("Z", 0),
    ("AST", -4),
    ("ADT", -3),
    ("EST", -5),
    ("EDT", -4),
    ("CST", -6),
    ("CDT", -5),
    ("MST", -7),
    ("MDT", -6),
    ("PST", -8),
    ("PDT", -7),
];

/// As an IMF-fixdate writes them.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

const FULL_MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// `Nov` or `November`, any case.
fn month(token: &str) -> Option<u64> {
    let index = MONTHS.iter().zip(FULL_MONTHS).position(|(short, full)| {
        token.eq_ignore_ascii_case(short) || token.eq_ignore_ascii_case(full)
    })?;
    Some(index as u64 + 1)
}

/// The dates real servers send that `httpdate` refuses, each beside
/// where it comes from:
///
/// - another zone than `GMT`: `UTC` and zone names (Go's `time.RFC1123`,
///   see [`ZONES`]), `UT` and `Z` (RFC 822 §5.1), a numeric offset
///   (`+0000`: PHP's `DATE_RFC1123` / `DATE_RFC2822`, Go's
///   `time.RFC1123Z`), or none (mail-era servers);
/// - no weekday (RFC 5322 §3.3 makes it optional), or one that does not
///   match the date (`httpdate` checks it; `email.utils` does not);
/// - a one-digit day (Java's `DateTimeFormatter.RFC_1123_DATE_TIME`:
///   `Tue, 3 Jun 2008 11:05:30 GMT`), a two-digit year (RFC 822 §5.1),
///   no seconds (RFC 822 §5.1's `hh:mm`);
/// - RFC 850's `DD-Mon-YY` with another zone (RFC 850 §2.1.4), and the
///   `Mon DD` order, a full month name and an offset glued to the time,
///   as Python's `email.utils.parsedate_tz` (urllib3's `Retry-After`
///   reader) accepts them; so asctime with an unpadded day (`Nov 6`).
fn parse_lenient(text: &str) -> Option<SystemTime> {
    let mut tokens: [&str; 6] = [""; 6];
    let count = lenient_tokens(text, &mut tokens)?;
    let mut tokens = &tokens[..count];
    // A leading weekday, any spelling.
    if tokens
        .first()
        .is_some_and(|t| t.bytes().all(|b| b.is_ascii_alphabetic()) && month(t).is_none())
    {
        tokens = &tokens[1..];
    }
    // RFC 850's `06-Nov-94`, split into three tokens.
    let mut split: [&str; 6] = [""; 6];
    if let Some(first) = tokens.first().filter(|t| t.contains('-')) {
        let mut parts = first.split('-');
        let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || tokens.len() > 3 {
            return None;
        }
        split[..3].copy_from_slice(&[d, m, y]);
        split[3..3 + tokens.len() - 1].copy_from_slice(&tokens[1..]);
        tokens = &split[..2 + tokens.len()];
    }
    let (date, time_and_zone) = match tokens {
        // asctime's order, `Nov 6 08:49:37 1994`: the year after the time.
        [a, b, time, year] if time.contains(':') => ((*a, *b, *year), std::slice::from_ref(time)),
        [a, b, c, rest @ ..] if !rest.is_empty() && rest.len() <= 2 => ((*a, *b, *c), rest),
        _ => return None,
    };
    let (clock, offset) = lenient_time(time_and_zone)?;
    to_time(lenient_day(date)?, clock, offset)
}

/// The tokens of `text` split at whitespace and commas, at most six.
fn lenient_tokens<'a>(text: &'a str, tokens: &mut [&'a str; 6]) -> Option<usize> {
    let mut count = 0;
    for token in text
        .split(|c: char| c.is_ascii_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
    {
        *tokens.get_mut(count)? = token;
        count += 1;
    }
    Some(count)
}

/// `DD Mon YYYY` or `Mon DD YYYY` (two-digit years: 69 and up are 19xx)
/// as (year, month, day).
fn lenient_day((first, second, year_text): (&str, &str, &str)) -> Option<(u64, u64, u64)> {
    let (day, month) = match (month(first), month(second)) {
        (None, Some(m)) => (digits(first.as_bytes())?, m),
        (Some(m), None) => (digits(second.as_bytes())?, m),
        _ => return None,
    };
    let mut year = digits(year_text.as_bytes())?;
    if year_text.len() <= 2 {
        year += if year > 68 { 1900 } else { 2000 };
    } else if year_text.len() != 4 {
        return None;
    }
    Some((year, month, day))
}

/// `HH:MM[:SS]` and a zone (possibly glued on: `08:49:37+0000`) as the
/// clock and the zone's offset in seconds east of UTC.
fn lenient_time(time_and_zone: &[&str]) -> Option<((u64, u64, u64), i64)> {
    let mut time = time_and_zone[0];
    let mut zone = time_and_zone.get(1).copied().unwrap_or("");
    if zone.is_empty() {
        if let Some(at) = time.find(['+', '-']) {
            (time, zone) = time.split_at(at);
        }
    }
    let mut clock = time.split(':');
    let hour = digits(clock.next()?.as_bytes())?;
    let minute = digits(clock.next()?.as_bytes())?;
    let second = clock.next().map_or(Some(0), |s| digits(s.as_bytes()))?;
    if clock.next().is_some() {
        return None;
    }
    let offset = if zone.is_empty() {
        0
    } else if let Some(&(_, hours)) = ZONES.iter().find(|(n, _)| n.eq_ignore_ascii_case(zone)) {
        hours * 3600
    } else {
        let (sign, hhmm) = zone.as_bytes().split_first()?;
        let [h1, h2, m1, m2] = *hhmm else {
            return None;
        };
        signed_offset(*sign, digits(&[h1, h2])?, digits(&[m1, m2])?)?
    };
    Some(((hour, minute, second), offset))
}

/// `±HH:MM` as seconds east of UTC.
fn signed_offset(sign: u8, hours: u64, minutes: u64) -> Option<i64> {
    if hours > 23 || minutes > 59 {
        return None;
    }
    let seconds = (hours * 3600 + minutes * 60) as i64;
    match sign {
        b'+' => Some(seconds),
        b'-' => Some(-seconds),
        _ => None,
    }
}

/// A run of 1 to 4 ASCII digits.
fn digits(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 4 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        bytes
            .iter()
            .fold(0, |acc, d| acc * 10 + u64::from(d - b'0')),
    )
}

/// The weekday `httpdate` checks an IMF-fixdate's date against (Tomohiko
/// Sakamoto's method), as it is written. `month` is 1 to 12, `year` 1970
/// or later.
fn weekday(year: u64, month: u64, day: u64) -> &'static str {
    const NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const SHIFT: [u64; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let y = if month < 3 { year - 1 } else { year };
    let index = (y + y / 4 - y / 100 + y / 400 + SHIFT[month as usize - 1] + day) % 7;
    NAMES[index as usize]
}

/// The instant of a civil time at `offset` seconds east of UTC: written as
/// an IMF-fixdate for `httpdate`, which checks the date and converts it.
/// `None` when a field is out of range or the instant is before 1970. A
/// leap second (`:60`) reads as `:59`.
fn to_time(
    (year, month, day): (u64, u64, u64),
    (hour, minute, second): (u64, u64, u64),
    offset: i64,
) -> Option<SystemTime> {
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut fixdate = [0u8; 29];
    write!(
        &mut fixdate[..],
        "{}, {day:02} {} {year:04} {hour:02}:{minute:02}:{:02} GMT",
        weekday(year, month, day),
        MONTHS[month as usize - 1],
        second.min(59),
    )
    .ok()?;
    let at = httpdate::parse_http_date(std::str::from_utf8(&fixdate).ok()?).ok()?;
    let secs = at.duration_since(UNIX_EPOCH).ok()?.as_secs() as i64 - offset;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Option<SystemTime> {
        Some(UNIX_EPOCH + Duration::from_secs(secs))
    }

    /// 1994-11-06 08:49:37 UTC, RFC 9110's example.
    const RFC: u64 = 784_111_777;

    #[test]
    fn http_and_lenient_dates() {
        let rows: &[(&str, Option<SystemTime>)] = &[
            ("Sun, 06 Nov 1994 08:49:37 GMT", at(RFC)),
            ("Sunday, 06-Nov-94 08:49:37 GMT", at(RFC)),
            ("Sun Nov  6 08:49:37 1994", at(RFC)),
            // Obsolete zones, as email.utils accepts them.
            ("Sun, 06 Nov 1994 08:49:37 UTC", at(RFC)),
            ("Sun, 06 Nov 1994 08:49:37 UT", at(RFC)),
            ("Sun, 06 Nov 1994 08:49:37 +0000", at(RFC)),
            ("Sun, 06 Nov 1994 09:49:37 +0100", at(RFC)),
            ("Sun, 06 Nov 1994 03:49:37 EST", at(RFC)),
            ("Sun, 06 Nov 1994 08:49:37 -0000", at(RFC)),
            ("06 Nov 1994 08:49:37 GMT", at(RFC)),
            ("Sun, 6 Nov 94 08:49:37 GMT", at(RFC)),
            ("Sun, 06 Nov 1994 08:49 GMT", at(RFC - 37)),
            ("Sun, 06 Nov 1994 08:49:37", at(RFC)),
            ("Sun, 06 November 1994 08:49:37 GMT", at(RFC)),
            ("Sun, 06 Nov 1994 08:49:37+0000", at(RFC)),
            ("1994-11-06T08:49:37Z", at(RFC)),
            // One row per source cited at `parse_lenient`: Go's
            // time.RFC1123 (UTC, PST), time.RFC1123Z and PHP (+0000),
            // Java's RFC_1123_DATE_TIME (one-digit day), a weekday that
            // does not match (httpdate refuses it), RFC 850 with a zone,
            // `Mon DD` order, and a leap second.
            ("Sun, 06 Nov 1994 00:49:37 PST", at(RFC)),
            ("Tue, 3 Jun 2008 11:05:30 GMT", at(1_212_491_130)),
            ("Mon, 06 Nov 1994 08:49:37 GMT", at(RFC)),
            ("Sunday, 06-Nov-94 03:49:37 EST", at(RFC)),
            ("Nov 06 1994 08:49:37 GMT", at(RFC)),
            ("Sun, 06 Nov 1994 08:49:60 GMT", at(RFC + 22)),
            ("Fri, 31 Dec 9999 23:59:59 GMT", at(253_402_300_799)),
            ("Fri, 31 Dec 9999 23:59:59 -0100", at(253_402_304_399)),
            // Hostile.
            ("Sun, 31 Feb 1994 08:49:37 GMT", None),
            ("Sun, 06 Nov 1994 24:49:37 GMT", None),
            ("Sun, 06 Nov 1994 08:49:37 XYZ", None),
            ("Sun, 06 Nov 1994 08:49:37 +99999", None),
            ("Sun, 06 Nov 19945 08:49:37 GMT", None),
            ("Sun, 06 Nov 1960 08:49:37 GMT", None),
            ("06 Nov", None),
            ("", None),
            ("------", None),
            ("a b c d e f g h", None),
        ];
        for (text, expected) in rows {
            assert_eq!(parse_date(text), *expected, "{text:?}");
        }
        assert_eq!(parse_date(&"1".repeat(10_000)), None);
    }

    #[test]
    fn rfc3339() {
        // Anthropic's documented reset form.
        let rows: &[(&str, Option<SystemTime>)] = &[
            ("2024-09-03T16:47:48Z", at(1_725_382_068)),
            (
                "2024-09-03T16:47:48.500Z",
                Some(UNIX_EPOCH + Duration::from_millis(1_725_382_068_500)),
            ),
            ("2024-09-03T18:47:48+02:00", at(1_725_382_068)),
            ("2024-09-03T18:47:48+0200", at(1_725_382_068)),
            ("2024-09-03T14:47:48-02", at(1_725_382_068)),
            ("2024-09-03 16:47:48", at(1_725_382_068)),
            ("2024-09-03t16:47:48z", at(1_725_382_068)),
            ("2024-09-03T16:47Z", at(1_725_382_020)),
            ("2024-02-29T00:00:00Z", at(1_709_164_800)),
            ("2023-02-29T00:00:00Z", None),
            ("2024-13-03T16:47:48Z", None),
            ("2024-09-03T16:47:48.Z", None),
            ("2024-09-03T16:47:48+25:00", None),
            ("2024-09-03T16:47:48Zjunk", None),
            ("-024-09-03T16:47:48Z", None),
        ];
        for (text, expected) in rows {
            assert_eq!(parse_rfc3339(text), *expected, "{text:?}");
        }
    }
}
