//! Dates in headers: HTTP-dates, the lenient forms mail-era parsers accept,
//! and RFC 3339 / ISO 8601 timestamps.
//!
//! # Bounds
//!
//! Every parser here refuses text longer than [`MAX_DATE_LEN`] bytes before
//! looking at it, so each costs O(1) whatever the field's length.

use super::structured::step;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest date text read. The longest real form, RFC 850 with a long
/// weekday and a fraction-bearing RFC 3339 stamp, is under 40 bytes.
pub(crate) const MAX_DATE_LEN: usize = 64;

/// An HTTP-date (RFC 9110 §5.6.7's three formats), else a lenient date as
/// Python's `email.utils.parsedate_tz` accepts it (`UTC`, `UT`, `Z`, US
/// zone names or a numeric offset in place of `GMT`; no weekday; two-digit
/// years; `DD-Mon-YY`; no seconds), else an RFC 3339 timestamp.
pub(crate) fn parse_date(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    if text.len() > MAX_DATE_LEN {
        return None;
    }
    step(text.len());
    parse_imf_fixdate(text)
        .or_else(|| httpdate::parse_http_date(text).ok())
        .or_else(|| parse_lenient(text))
        .or_else(|| parse_rfc3339(text))
}

/// The preferred HTTP-date form, `Sun, 06 Nov 1994 08:49:37 GMT` (29
/// bytes), read in place: nearly every `Date` and `Retry-After` date is
/// one. The weekday is not checked against the date (as `email.utils` does
/// not); the other forms go through `httpdate` and the lenient reader.
fn parse_imf_fixdate(text: &str) -> Option<SystemTime> {
    let b: &[u8; 29] = text.as_bytes().try_into().ok()?;
    // A server's `Date` changes once a second, and every response of that
    // second carries the same one: the last date read on this thread is
    // kept with its value (a compare of 29 bytes instead of a parse and a
    // calendar computation). A pure function of the bytes, so the cache
    // can only answer what the parse would.
    if let Some(read) = LAST_FIXDATE.with(|last| last.get().filter(|(seen, _)| seen == b)) {
        return read.1;
    }
    let read = read_imf_fixdate(b, text);
    LAST_FIXDATE.with(|last| last.set(Some((*b, read))));
    read
}

thread_local! {
    /// The last IMF-fixdate [`parse_imf_fixdate`] read on this thread, and
    /// what it read (see there).
    static LAST_FIXDATE: std::cell::Cell<Option<([u8; 29], Option<SystemTime>)>> =
        const { std::cell::Cell::new(None) };
}

fn read_imf_fixdate(b: &[u8; 29], text: &str) -> Option<SystemTime> {
    if &b[3..5] != b", "
        || b[7] != b' '
        || b[11] != b' '
        || b[16] != b' '
        || b[19] != b':'
        || b[22] != b':'
        || &b[25..] != b" GMT"
    {
        return None;
    }
    let mon = month(text.get(8..11)?)?;
    to_time(
        digits(&b[12..16])?,
        mon,
        digits(&b[5..7])?,
        digits(&b[17..19])?,
        digits(&b[20..22])?,
        digits(&b[23..25])?,
        0,
        0,
    )
}

/// An RFC 3339 / ISO 8601 extended timestamp:
/// `YYYY-MM-DD[T| ]HH:MM[:SS[.fraction]][Z|±HH:MM|±HHMM|±HH]`. Without a
/// zone, UTC is assumed (HTTP APIs send UTC).
pub(crate) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let b = text.as_bytes();
    if b.len() > MAX_DATE_LEN || b.len() < 16 {
        return None;
    }
    step(b.len());
    let year = digits(&b[0..4])?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
        return None;
    }
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
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
            if h > 23 || m > 59 {
                return None;
            }
            let seconds = (h * 3600 + m * 60) as i64;
            if *sign == b'-' {
                -seconds
            } else {
                seconds
            }
        }
        _ => return None,
    };
    to_time(year, month, day, hour, minute, second, nanos, offset)
}

/// The zone names `email.utils` knows, with their offsets in hours.
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

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

fn month(token: &str) -> Option<u64> {
    let bytes = token.as_bytes();
    let [a, b, c, ..] = *bytes else {
        return None;
    };
    // The three letters, lowercased, as one number: one comparison per
    // month instead of a case-insensitive string compare each (every
    // response's `Date` names one).
    let key = u32::from_le_bytes([a | 0x20, b | 0x20, c | 0x20, 0]);
    let index = MONTHS.iter().position(|m| {
        let m = m.as_bytes();
        key == u32::from_le_bytes([m[0], m[1], m[2], 0])
    })?;
    // "Nov" or "November", nothing else. (`| 0x20` maps only letters onto
    // lowercase letters, so a match is three letters.)
    (token.len() == 3 || token.eq_ignore_ascii_case(FULL_MONTHS[index])).then_some(index as u64 + 1)
}

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

/// `[Day,] DD Mon YYYY HH:MM[:SS] [zone]`, `DD-Mon-YY HH:MM:SS zone`, and
/// `Mon DD` order, with the zones of [`ZONES`] or `±HHMM`; no zone means UTC.
fn parse_lenient(text: &str) -> Option<SystemTime> {
    let mut tokens: [&str; 6] = [""; 6];
    let mut count = 0;
    for token in text
        .split(|c: char| c.is_ascii_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
    {
        if count == tokens.len() {
            return None;
        }
        tokens[count] = token;
        count += 1;
    }
    let mut tokens = &tokens[..count];
    // A leading weekday, any spelling.
    if tokens
        .first()
        .is_some_and(|t| t.bytes().all(|b| b.is_ascii_alphabetic()) && month(t).is_none())
    {
        tokens = &tokens[1..];
    }
    // RFC 850's `06-Nov-94`.
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
        [a, b, c, rest @ ..] if !rest.is_empty() && rest.len() <= 2 => ((*a, *b, *c), rest),
        _ => return None,
    };
    let (day, mon) = match (month(date.0), month(date.1)) {
        (None, Some(m)) => (digits(date.0.as_bytes())?, m),
        (Some(m), None) => (digits(date.1.as_bytes())?, m),
        _ => return None,
    };
    let mut year = digits(date.2.as_bytes())?;
    if date.2.len() <= 2 {
        year += if year > 68 { 1900 } else { 2000 };
    } else if date.2.len() != 4 {
        return None;
    }
    // `HH:MM[:SS]`, possibly with the offset glued on (`08:49:37+0000`).
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
        let (sign, digits_text) = match zone.as_bytes().first() {
            Some(b'+') => (1, &zone[1..]),
            Some(b'-') => (-1, &zone[1..]),
            _ => return None,
        };
        if digits_text.len() != 4 {
            return None;
        }
        let value = digits(digits_text.as_bytes())? as i64;
        let (h, m) = (value / 100, value % 100);
        if h > 23 || m > 59 {
            return None;
        }
        sign * (h * 3600 + m * 60)
    };
    to_time(year, mon, day, hour, minute, second, 0, offset)
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

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The instant of a UTC-offset civil time; `None` when a field is out of
/// range or the instant is before 1970. A leap second (`:60`) reads as `:59`.
#[allow(clippy::too_many_arguments)]
fn to_time(
    year: u64,
    month: u64,
    day: u64,
    hour: u64,
    minute: u64,
    second: u64,
    nanos: u32,
    offset_secs: i64,
) -> Option<SystemTime> {
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year as i64, month as i64, day as i64);
    let secs = days * 86_400 + (hour * 3600 + minute * 60 + second.min(59)) as i64 - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Option<SystemTime> {
        Some(UNIX_EPOCH + Duration::from_secs(secs))
    }

    /// 1994-11-06 08:49:37 UTC, RFC 9110's example.
    const RFC: u64 = 784_111_777;

    /// The last-date cache answers only for the same bytes: dates that
    /// alternate, and a malformed date of the same length between them,
    /// each read as on their own.
    #[test]
    fn the_last_date_is_kept_for_the_same_bytes_only() {
        let rows = [
            ("Sun, 06 Nov 1994 08:49:37 GMT", at(RFC)),
            ("Sun, 06 Nov 1994 08:49:38 GMT", at(RFC + 1)),
            ("Sun, 06 Nov 1994 08:49:37 GMT", at(RFC)),
            ("Sun, 06 Xyz 1994 08:49:37 GMT", None),
            ("Sun, 06 Xyz 1994 08:49:37 GMT", None),
            ("Sun, 06 Nov 1994 08:49:38 GMT", at(RFC + 1)),
            ("Sun, 06 Nov 1994 08:49:38 GMT", at(RFC + 1)),
        ];
        for (text, expected) in rows {
            assert_eq!(parse_imf_fixdate(text), expected, "{text}");
        }
    }

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
