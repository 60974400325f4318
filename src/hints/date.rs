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

use super::number::nanos_of;
use super::structured::step;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest date text read. The longest real form, RFC 850 with a long
/// weekday and a fraction-bearing RFC 3339 stamp, is under 40 bytes.
pub(crate) const MAX_DATE_LEN: usize = 64;

/// An HTTP-date (RFC 9110 §5.6.7's three formats), else a lenient date
/// (see [`parse_lenient`]), else an RFC 3339 timestamp. A two-digit year
/// is placed against `now` (see [`parse_lenient`]).
///
/// An IMF-fixdate or asctime date is `httpdate`'s; an RFC 850 date
/// (`06-Nov-94`, a `-` no other HTTP-date holds) is the lenient reader's:
/// `httpdate` reads its year as 1970 to 2069 whatever the time.
pub(crate) fn parse_date(text: &str, now: SystemTime) -> Option<SystemTime> {
    let text = without_zone_comment(text.trim()).filter(|text| text.len() <= MAX_DATE_LEN)?;
    step(text.len());
    httpdate::parse_http_date(text)
        .ok()
        .filter(|_| !text.contains('-'))
        .or_else(|| parse_lenient(text, now))
        .or_else(|| parse_rfc3339(text))
}

/// The longest zone comment dropped by [`without_zone_comment`]. The
/// longest zone names JavaScript engines print (ICU's long names, such as
/// `(Australian Central Western Standard Time)`) are under 50 bytes.
const MAX_ZONE_COMMENT: usize = 64;

/// `text` without a trailing parenthesised comment of at most
/// [`MAX_ZONE_COMMENT`] bytes: JavaScript's `Date.prototype.toString()`
/// (ECMA-262, "Date.prototype.toString": `Tue Nov 14 2023 23:13:22
/// GMT+0100 (Central European Standard Time)`, as Lemlist sends its
/// `X-RateLimit-Reset`) names the zone after the offset, and RFC 5322 §3.3
/// allows a comment there too. The offset says it all; the name is
/// dropped. `None` for text too long to be a date with a comment.
fn without_zone_comment(text: &str) -> Option<&str> {
    let text = Some(text).filter(|text| text.len() <= MAX_DATE_LEN + MAX_ZONE_COMMENT)?;
    let Some(inside) = text.strip_suffix(')') else {
        return Some(text);
    };
    let open = inside.rfind('(')?;
    (text.len() - open <= MAX_ZONE_COMMENT).then(|| inside[..open].trim_end())
}

/// An RFC 3339 / ISO 8601 extended timestamp:
/// `YYYY-MM-DD[T| ]HH:MM[:SS[.fraction]][Z|±HH:MM|±HHMM|±HH]`. Without a
/// zone, UTC is assumed (HTTP APIs send UTC). Anthropic's resets are this
/// form (`2024-09-03T16:47:48Z`, its rate-limit docs).
pub(crate) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let b = Some(text.as_bytes()).filter(|b| (16..=MAX_DATE_LEN).contains(&b.len()))?;
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
            let n = Some(n).filter(|n| *n > 0)?;
            nanos = nanos_of(&tail[..n]);
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

/// The months' names, in order; the first three letters of each are the
/// name an IMF-fixdate writes.
const MONTHS: &str =
    "January February March April May June July August September October November December";

/// `Nov` or `November`, any case.
fn month(token: &str) -> Option<u64> {
    let index = MONTHS.split(' ').position(|name| {
        token.eq_ignore_ascii_case(name) || token.eq_ignore_ascii_case(&name[..3])
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
///
/// A year of one or two digits (RFC 850's, RFC 822's) is the latest year
/// with those digits that is at most 50 years after `now`: RFC 9110 §5.6.7
/// says a recipient MUST read a two-digit year that appears to be more
/// than 50 years in the future as the most recent past year with the same
/// last two digits. On 5 December 2025, `06-Nov-75` is 2075 and
/// `06-Nov-76` is 1976 (`httpdate` reads 1975 and 1976).
fn parse_lenient(text: &str, now: SystemTime) -> Option<SystemTime> {
    let mut tokens: [&str; 6] = [""; 6];
    let count = lenient_tokens(text, &mut tokens)?;
    let mut tokens = &tokens[..count];
    // A leading weekday, any spelling.
    let weekday = |t: &&str| t.bytes().all(|b| b.is_ascii_alphabetic()) && month(t).is_none();
    if tokens.first().is_some_and(weekday) {
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
    let (year, month, day) = lenient_day(date)?;
    if year >= 100 {
        return to_time((year, month, day), clock, offset);
    }
    let (this_year, fifty_years_on) = fifty_years_after(now)?;
    let latest = this_year + 50 - (this_year + 50 - year) % 100;
    match to_time((latest, month, day), clock, offset) {
        Some(at) if fifty_years_on.is_none_or(|limit| at <= limit) => Some(at),
        _ => to_time((latest - 100, month, day), clock, offset),
    }
}

/// The year of `now` (UTC) and the instant 50 years after it (`None` past
/// the year 9999), by `httpdate`'s calendar. February 29th fifty years on,
/// in a common year, is after its 28th and before March 1st.
fn fifty_years_after(now: SystemTime) -> Option<(u64, Option<SystemTime>)> {
    // `httpdate` panics outside 1970 to 9999.
    let last = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
    let now = now.clamp(UNIX_EPOCH, last);
    // `Sun, 06 Nov 1994 08:49:37 GMT`
    let text = httpdate::fmt_http_date(now);
    let (year, month, day) = lenient_day((&text[5..7], &text[8..11], &text[12..16]))?;
    let (clock, _) = lenient_time(&[&text[17..25]])?;
    let later = to_time((year + 50, month, day), clock, 0)
        .or_else(|| to_time((year + 50, 2, 28), (23, 59, 59), 0));
    Some((year, later))
}

/// The tokens of `text` split at whitespace and commas, at most six.
fn lenient_tokens<'a>(text: &'a str, tokens: &mut [&'a str; 6]) -> Option<usize> {
    let words = text.split(|c: char| c.is_ascii_whitespace() || c == ',');
    words.filter(|t| !t.is_empty()).try_fold(0, |count, token| {
        *tokens.get_mut(count)? = token;
        Some(count + 1)
    })
}

/// `DD Mon YYYY` or `Mon DD YYYY` as (year, month, day); a year of one or
/// two digits as written (below 100, for [`parse_lenient`] to place).
fn lenient_day((first, second, year_text): (&str, &str, &str)) -> Option<(u64, u64, u64)> {
    let (day, month) = match (month(first), month(second)) {
        (None, Some(m)) => (digits(first.as_bytes())?, m),
        (Some(m), None) => (digits(second.as_bytes())?, m),
        _ => return None,
    };
    let year = digits(year_text.as_bytes())?;
    (year_text.len() <= 2 || year >= 1000).then_some((year, month, day))
}

/// `HH:MM[:SS]` and a zone (possibly glued on: `08:49:37+0000`) as the
/// clock and the zone's offset in seconds east of UTC.
fn lenient_time(time_and_zone: &[&str]) -> Option<((u64, u64, u64), i64)> {
    let mut time = time_and_zone[0];
    let mut zone = time_and_zone.get(1).copied().unwrap_or("");
    if let Some(at) = time.find(['+', '-']).filter(|_| zone.is_empty()) {
        (time, zone) = time.split_at(at);
    }
    let mut clock = time.split(':');
    let hour = digits(clock.next()?.as_bytes())?;
    let minute = digits(clock.next()?.as_bytes())?;
    let second = clock.next().map_or(Some(0), |s| digits(s.as_bytes()))?;
    if clock.next().is_some() {
        return None;
    }
    // JavaScript's `GMT+0100`: an offset from GMT, written after it.
    let head = zone.get(..3).unwrap_or_default();
    let gmt = head.eq_ignore_ascii_case("GMT") || head.eq_ignore_ascii_case("UTC");
    if gmt && zone[3..].starts_with(['+', '-']) {
        zone = &zone[3..];
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
    let seconds = (hours * 3600 + minutes * 60) as i64;
    let seconds = Some(seconds).filter(|_| hours <= 23 && minutes <= 59)?;
    match sign {
        b'+' => Some(seconds),
        b'-' => Some(-seconds),
        _ => None,
    }
}

/// A run of 1 to 4 ASCII digits.
fn digits(bytes: &[u8]) -> Option<u64> {
    let valid = !bytes.is_empty() && bytes.len() <= 4 && bytes.iter().all(u8::is_ascii_digit);
    valid.then(|| bytes.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
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
/// year before 1970 (which `httpdate` refuses) is the epoch: as far in
/// the past as any instant here. A leap second (`:60`) reads as `:59`.
fn to_time(
    (year, month, day): (u64, u64, u64),
    (hour, minute, second): (u64, u64, u64),
    offset: i64,
) -> Option<SystemTime> {
    let date = (1..=9999).contains(&year) && (1..=12).contains(&month);
    let valid = date && (1..=31).contains(&day) && hour <= 23 && minute <= 59 && second <= 60;
    if !valid {
        return None;
    }
    if year < 1970 {
        return Some(UNIX_EPOCH);
    }
    let mut fixdate = [0u8; 29];
    write!(
        &mut fixdate[..],
        "{}, {day:02} {} {year:04} {hour:02}:{minute:02}:{:02} GMT",
        weekday(year, month, day),
        &MONTHS.split(' ').nth(month as usize - 1)?[..3],
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
            // JavaScript's Date.prototype.toString() (Lemlist's reset),
            // with and without the zone's name; an RFC 5322 comment.
            (
                "Sun Nov 06 1994 09:49:37 GMT+0100 (Central European Standard Time)",
                at(RFC),
            ),
            (
                "Sun Nov 06 1994 08:49:37 GMT+0000 (Coordinated Universal Time)",
                at(RFC),
            ),
            ("Sun Nov 06 1994 00:49:37 GMT-0800", at(RFC)),
            ("Sun Nov 06 1994 00:49:37 UTC-0800 (PST)", at(RFC)),
            ("Sun, 06 Nov 1994 08:49:37 +0000 (UTC)", at(RFC)),
            // Hostile.
            ("Sun Nov 06 1994 09:49:37 GMT+0100 (unclosed", None),
            ("Sun Nov 06 1994 09:49:37 GMT+0100 no open)", None),
            ("Sun Nov 06 1994 09:49:37 GMT+2500 (x)", None),
            ("Sun Nov 06 1994 09:49:37 GMTX0100 (x)", None),
            ("Sun, 31 Feb 1994 08:49:37 GMT", None),
            ("Sun, 06 Nov 1994 24:49:37 GMT", None),
            ("Sun, 06 Nov 1994 08:49:37 XYZ", None),
            // Not read, for want of a source: `CET` is no RFC 822 zone,
            // and local zone names are ambiguous; no HTTP-date writer
            // found prints `+00:00` (RFC 5322's zone is `+0000`, read
            // above).
            ("Sun, 06 Nov 1994 09:49:37 CET", None),
            ("Sun, 06 Nov 1994 08:49:37 +00:00", None),
            ("Sun, 06 Nov 1994 08:49:37 +99999", None),
            ("Sun, 06 Nov 19945 08:49:37 GMT", None),
            // Before 1970, which `httpdate` refuses: the epoch, a past
            // date (RFC 9110 §10.2.3: a `Retry-After` of it is zero).
            ("Sun, 06 Nov 1960 08:49:37 GMT", Some(UNIX_EPOCH)),
            ("06 Nov", None),
            ("", None),
            ("------", None),
            ("a b c d e f g h", None),
        ];
        for (text, expected) in rows {
            assert_eq!(parse_date(text, at(RFC).unwrap()), *expected, "{text:?}");
        }
        assert_eq!(parse_date(&"1".repeat(10_000), at(RFC).unwrap()), None);
        // A comment longer than a zone's name, or a long text ending in
        // one, is refused before it is looked at.
        let long_comment = format!("Sun Nov 06 1994 08:49:37 GMT+0000 ({})", "x".repeat(70));
        assert_eq!(parse_date(&long_comment, at(RFC).unwrap()), None);
        let long = format!("{}(x)", "(".repeat(10_000));
        assert_eq!(parse_date(&long, at(RFC).unwrap()), None);
    }

    /// RFC 9110 §5.6.7: "Recipients of a timestamp value in rfc850-date
    /// format, which uses a two-digit year, MUST interpret a timestamp that
    /// appears to be more than 50 years in the future as representing the
    /// most recent year in the past that had the same last two digits."
    /// The year is placed against `now`; `httpdate` reads 1970 to 2069.
    #[test]
    fn a_two_digit_year_is_placed_against_now() {
        // 2025-12-05 00:00, 2030-06-15 12:00, 2099-03-01 00:00 and
        // 2024-02-29 10:00 UTC.
        let (y2025, y2030, y2099, leap) =
            (1_764_892_800, 1_907_755_200, 4_076_006_400, 1_709_200_800);
        let rows: &[(u64, &str, Option<SystemTime>)] = &[
            // `httpdate` read 1975 (so a `Retry-After` of it was zero).
            (
                y2025,
                "Wednesday, 06-Nov-75 08:49:37 GMT",
                at(3_340_255_777),
            ),
            // More than 50 years ahead: the past year.
            (y2025, "Saturday, 06-Nov-76 08:49:37 GMT", at(216_118_177)),
            (y2025, "Sunday, 06-Nov-94 08:49:37 GMT", at(RFC)),
            (y2025, "Monday, 06-Nov-00 08:49:37 GMT", at(973_500_577)),
            // RFC 822's two-digit year, and RFC 850 with no weekday, alike.
            (y2025, "Sat, 6 Nov 76 08:49:37 GMT", at(216_118_177)),
            (y2025, "06-Nov-75 08:49:37 GMT", at(3_340_255_777)),
            // Exactly 50 years ahead is not more; a second past is. A zone
            // counts: 13:00 at +0100 is 12:00 UTC.
            (y2030, "Saturday, 15-Jun-80 12:00:00 GMT", at(3_485_678_400)),
            (y2030, "Sunday, 15-Jun-80 13:00:00 +0100", at(3_485_678_400)),
            (y2030, "Sunday, 15-Jun-80 12:00:01 GMT", at(329_918_401)),
            // Late in a century, the next one's years are near: not 2005.
            (y2099, "Sunday, 01-Mar-05 00:00:00 GMT", at(4_265_308_800)),
            // Fifty years after February 29th: the 28th is not after it,
            // March 1st is.
            (leap, "Wednesday, 28-Feb-74 23:59:59 GMT", at(3_287_087_999)),
            (leap, "Thursday, 01-Mar-74 00:00:00 GMT", at(131_328_000)),
            // Four-digit years are as written, whatever the time.
            (y2025, "Sun, 06 Nov 2094 08:49:37 GMT", at(3_939_871_777)),
            (y2025, "Sun, 06 Nov 0094 08:49:37 GMT", None),
        ];
        for (now, text, expected) in rows {
            assert_eq!(
                parse_date(text, at(*now).unwrap()),
                *expected,
                "{text:?} at {now}"
            );
        }
        // Hostile clocks: before 1970, past 9999. No panic.
        let before_1970 = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(
            parse_date("Sunday, 06-Nov-94 08:49:37 GMT", before_1970),
            at(RFC)
        );
        // A clock past 9999 reads as 9999's.
        let far = UNIX_EPOCH + Duration::from_secs(10u64.pow(12));
        let in_9994 = to_time((9994, 11, 6), (8, 49, 37), 0);
        assert_eq!(parse_date("Sunday, 06-Nov-94 08:49:37 GMT", far), in_9994);
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
