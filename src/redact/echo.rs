//! Echo scrubbing: an error body that repeats the request's own credential
//! (`"invalid api key: sk_live_…"`) must not carry it into an error.
//!
//! At call time the parse layer remembers **fingerprints** of the request's
//! credential header values (a length and a 64-bit rolling hash each), not
//! the values: nothing secret is kept beyond the request. A `Basic`
//! credential is fingerprinted decoded too (RFC 7617: `user-id:password`),
//! as a server that refuses it quotes it (`bad password … for user
//! alice`). When a failure body is parsed, its message, code, field
//! errors and details are scanned for any window of the same length with
//! the same hash (Rabin–Karp: one linear pass per distinct length), for
//! the secrets the request URI itself carries (userinfo, credential query
//! values and path segments, raw and percent-decoded; hex letters, so
//! escapes, match in either case), and for well-known token shapes
//! (`Bearer …`, `Basic …`, JSON Web Tokens). Each is replaced by
//! [`REDACTED`](super::REDACTED).

use super::is_secret_name;
use aho_corasick::AhoCorasick;
use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION};
use http::{HeaderMap, Uri};
use std::borrow::Cow;
use std::ops::Range;

/// Fingerprints remembered per request of credential-named headers and
/// cookies (a value with `+`, `/` or `=` takes two: raw and form-encoded);
/// more are ignored. Enough for several API-key headers and session
/// cookies, and a bound on a hostile request's.
const MAX_FINGERPRINTS: usize = 12;
/// And those each of `Authorization` and `Proxy-Authorization` has of
/// its own (raw and form-encoded; a `Basic` one's decoded secret too, so
/// that one `Basic` value can take all four), taken before any other
/// header's: the credentials a request surely carries are never crowded
/// out, by each other or by any number of lesser ones.
const AUTHORIZATION_SLOTS: usize = 4;
/// Scrubbing a text is at most `SLOTS` linear passes, each window
/// compared with at most `SLOTS` hashes.
const SLOTS: usize = MAX_FINGERPRINTS + 2 * AUTHORIZATION_SLOTS;
/// Values shorter than this are not searched for: too many false hits.
const MIN_SECRET_LEN: usize = 6;
/// Longer values are not fingerprinted (no credential is this long).
const MAX_SECRET_LEN: usize = 16 * 1024;
const _: () = assert!(
    MAX_SECRET_LEN <= u16::MAX as usize,
    "lengths are kept as u16"
);
const BASE: u64 = 0x0100_0000_01b3; // odd: a unit mod 2^64

/// The fingerprints of a request's credential header values.
// Lengths and hashes in two arrays: the parse layer keeps this in every
// call's future, and pairs would pad each length to eight bytes.
#[derive(Clone, Copy, Default)]
pub(crate) struct RequestSecrets {
    hashes: [u64; SLOTS],
    lengths: [u16; SLOTS],
    count: u8,
}

debug_fields!([] RequestSecrets (&self) {
    count: self.count,
    ..
});

impl RequestSecrets {
    /// Fingerprints, in this order: `Authorization`, then
    /// `Proxy-Authorization` (the credential after the scheme), each in
    /// `AUTHORIZATION_SLOTS` of its own; then every header whose name is
    /// credential-like (`x-api-key`, `X-Auth-Token`), then secret-named
    /// cookies, these two up to `MAX_FINGERPRINTS`. Cookies come last: a
    /// browser-like request carries many, most of them no credential of
    /// the API called.
    pub(crate) fn of(headers: &HeaderMap) -> Self {
        let mut secrets = RequestSecrets::default();
        for name in [AUTHORIZATION, PROXY_AUTHORIZATION] {
            let cap = usize::from(secrets.count) + AUTHORIZATION_SLOTS;
            for value in headers.get_all(name) {
                secrets.push_authorization(value.as_bytes(), cap, MIN_SECRET_LEN);
            }
        }
        let cap = usize::from(secrets.count) + MAX_FINGERPRINTS;
        let taken = [AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE];
        for (name, value) in headers {
            if !taken.contains(name) && is_secret_name(name.as_str()) {
                secrets.push(value.as_bytes(), cap, MIN_SECRET_LEN);
            }
        }
        for value in headers.get_all(COOKIE) {
            for pair in value.as_bytes().split(|b| *b == b';') {
                let mut parts = pair.splitn(2, |b| *b == b'=');
                let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
                    continue;
                };
                if std::str::from_utf8(key.trim_ascii()).is_ok_and(is_secret_name) {
                    secrets.push(value.trim_ascii(), cap, MIN_SECRET_LEN);
                }
            }
        }
        secrets
    }

    /// The fingerprint of one `Authorization`-style value (`Bearer <token>`):
    /// the credential after the scheme, the auth layer's own, scrubbed
    /// however short (its layer promises it never prints).
    pub(crate) fn of_authorization(value: &[u8]) -> Self {
        let mut secrets = RequestSecrets::default();
        secrets.push_authorization(value, AUTHORIZATION_SLOTS, 1);
        secrets
    }

    /// Fingerprints an `Authorization`-style value: the credential after
    /// the scheme (an echo of the whole value holds it too, so one
    /// fingerprint covers both), and what a `Basic` one decodes to; up to
    /// `cap` fingerprints in all.
    fn push_authorization(&mut self, value: &[u8], cap: usize, min: usize) {
        let (scheme, credential) = split_scheme(value);
        self.push(credential, cap, min);
        // RFC 7617 §2: the scheme name is case-insensitive.
        let basic = scheme.is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"basic"));
        // (One too long to fingerprint is not decoded either.)
        if basic && credential.len() <= MAX_SECRET_LEN {
            self.push_basic_secret(credential, cap, min);
        }
    }

    /// The secret a `Basic` credential decodes to, which a server that
    /// refuses it may quote decoded, where the base64 form's fingerprint
    /// cannot find it. Of `user-id:password` (RFC 7617 §2), the password:
    /// the user id is a name, not a secret, and stays readable. The whole
    /// pair when the password is shorter than `min` (searched for alone,
    /// it would replace every word that holds it); the user id when the
    /// password is empty (an API key sent as the user name, as Stripe's,
    /// Recurly's and Chargebee's clients send theirs); the whole value
    /// when it holds no `:`. The decoded bytes are dropped at once.
    fn push_basic_secret(&mut self, credential: &[u8], cap: usize, min: usize) {
        // With its `=` padding or without: some clients leave it out, and
        // servers accept (and quote) the credential either way.
        let Some(decoded) = decode_base64(credential) else {
            return;
        };
        let secret = match memchr::memchr(b':', &decoded) {
            None => &decoded[..],
            Some(colon) => match (&decoded[..colon], &decoded[colon + 1..]) {
                (user, b"") => user,
                (_, password) if password.len() < min => &decoded[..],
                (_, password) => password,
            },
        };
        self.push(secret, cap, min);
    }

    /// These fingerprints and `more`'s, these first (beyond the cap, the
    /// last of `more` are left out).
    pub(crate) fn and(mut self, more: RequestSecrets) -> Self {
        for (length, hash) in more.prints() {
            self.push_print(length, hash, SLOTS);
        }
        self
    }

    /// Fingerprints `value`, and its form-encoded spelling when that
    /// differs: a server that quotes what it was sent in a form or a query
    /// (an identity provider its refresh token or client secret, `+`, `/`
    /// and `=` as `%2B`, `%2F` and `%3D`) echoes it encoded. Up to `cap`
    /// fingerprints in all.
    fn push(&mut self, value: &[u8], cap: usize, min: usize) {
        if !(min..=MAX_SECRET_LEN).contains(&value.len()) {
            return;
        }
        self.push_print(value.len(), hash(value), cap);
        if let Some(encoded) = form_encoded(value) {
            let (length, hash) = encoded.fold((0, 0u64), |(length, h), chunk| {
                let h = chunk.bytes().map(fold_byte).fold(h, step);
                (length + chunk.len(), h)
            });
            self.push_print(length, hash, cap);
        }
    }

    fn push_print(&mut self, length: usize, hash: u64, cap: usize) {
        let count = usize::from(self.count);
        if count < cap && length <= MAX_SECRET_LEN {
            self.hashes[count] = hash;
            self.lengths[count] = u16::try_from(length).unwrap_or(u16::MAX);
            self.count += 1;
        }
    }

    /// Each fingerprint: the value's length and hash.
    fn prints(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        let count = usize::from(self.count);
        let lengths = self.lengths[..count].iter().map(|&l| usize::from(l));
        lengths.zip(self.hashes[..count].iter().copied())
    }
}

/// An `Authorization` value's scheme (none without a space: the value is
/// a bare credential) and its credential, what follows the scheme.
fn split_scheme(bytes: &[u8]) -> (Option<&[u8]>, &[u8]) {
    match memchr::memchr(b' ', bytes) {
        Some(space) => (Some(&bytes[..space]), bytes[space + 1..].trim_ascii()),
        None => (None, bytes),
    }
}

/// Standard base64, padded or not (a `Basic` credential and gRPC's `-bin`
/// headers may be either); `None` for anything else.
pub(crate) fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::{alphabet, Engine};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(text).ok()
}

/// The hash of `bytes` as [`fold_hex`] folds them, copying nothing.
fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().copied().map(fold_byte).fold(0u64, step)
}

fn step(h: u64, byte: u8) -> u64 {
    h.wrapping_mul(BASE).wrapping_add(u64::from(byte))
}

/// `bytes` with every hex letter (`a`-`f`) in upper case. RFC 3986 §2.1:
/// `%2f` and `%2F` are the same escape, and servers and URL libraries
/// write either; secrets and texts are both folded before they are
/// compared, so an echo is found however its escapes are written. Byte by
/// byte, whatever is next to it: folded only after a `%`, a text's `%`
/// just before an echoed secret (`100%deadbeef…`) folded the secret's
/// first letters and hid it. Only ASCII letters change: lengths and char
/// boundaries stay.
fn fold_hex(bytes: &[u8]) -> Cow<'_, [u8]> {
    if !bytes.iter().any(|b| matches!(b, b'a'..=b'f')) {
        return Cow::Borrowed(bytes);
    }
    Cow::Owned(bytes.iter().copied().map(fold_byte).collect())
}

/// A hex letter in upper case; any other byte as it is.
fn fold_byte(byte: u8) -> u8 {
    match byte {
        b'a'..=b'f' => byte.to_ascii_uppercase(),
        _ => byte,
    }
}

/// `value` as a form or a query carries it (`+`, `/` and `=` as `%2B`,
/// `%2F` and `%3D`), when that spelling differs from the value's own.
pub(crate) fn form_encoded(value: &[u8]) -> Option<percent_encoding::PercentEncode<'_>> {
    let form_safe =
        |b: &u8| matches!(b, b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' | b'*' | b'-' | b'.' | b'_');
    let escaped = !value.iter().all(form_safe);
    escaped.then(|| percent_encoding::percent_encode(value, FORM_ENCODED))
}

/// What `application/x-www-form-urlencoded` escapes (WHATWG URL,
/// "urlencoded serializer"): all but ASCII letters and digits, `*`, `-`,
/// `.` and `_`.
const FORM_ENCODED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// Replaces a request's secrets and well-known token shapes in text.
pub(crate) struct Scrubber {
    prints: RequestSecrets,
    /// Every secret of the request URI, raw and percent-decoded, searched
    /// for at once (Aho-Corasick: one pass over the text however many the
    /// URI holds, so none is left out and the work stays linear).
    uri_secrets: Option<AhoCorasick>,
}

impl Scrubber {
    /// A scrubber for the request with these header fingerprints and URI.
    pub(crate) fn new(prints: RequestSecrets, uri: Option<&Uri>) -> Self {
        // Escapes folded, as the text searched will be.
        let mut secrets: Vec<Cow<'_, [u8]>> = Vec::new();
        if let Some(uri) = uri {
            super::uri::secrets_in(uri, |secret| {
                if secret.len() < MIN_SECRET_LEN {
                    return;
                }
                if secret.contains('%') || secret.contains('+') {
                    let spaced = secret.replace('+', " ");
                    let decoded = percent_encoding::percent_decode_str(&spaced).decode_utf8();
                    if let Ok(decoded) = decoded {
                        secrets.push(Cow::Owned(fold_hex(decoded.as_bytes()).into_owned()));
                    }
                }
                secrets.push(fold_hex(secret.as_bytes()));
            });
        }
        // (Building fails only past the crate's size limits, far beyond a
        // URI's: then the header fingerprints and token shapes still apply.)
        let uri_secrets = (!secrets.is_empty())
            .then(|| AhoCorasick::new(&secrets).ok())
            .flatten();
        Scrubber {
            prints,
            uri_secrets,
        }
    }

    /// `text` with every secret and token shape replaced.
    pub(crate) fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut ranges = Vec::new();
        // Same length as `text`: a range in one is the same in the other.
        let folded = fold_hex(text.as_bytes());
        self.fingerprint_matches(&folded, &mut ranges);
        if let Some(secrets) = &self.uri_secrets {
            // Overlapping too: one secret inside another is replaced whole.
            let found = secrets.find_overlapping_iter(&*folded);
            ranges.extend(found.map(|m| m.range()));
        }
        token_shapes(text.as_bytes(), &mut ranges);
        if ranges.is_empty() {
            return Cow::Borrowed(text);
        }
        Cow::Owned(replace_ranges(text, ranges))
    }

    /// Rabin–Karp, one pass per distinct fingerprint length.
    fn fingerprint_matches(&self, text: &[u8], ranges: &mut Vec<Range<usize>>) {
        let prints = &self.prints;
        for (index, (len, _)) in prints.prints().enumerate() {
            if len > text.len() || prints.prints().take(index).any(|(l, _)| l == len) {
                continue;
            }
            // BASE^(len-1), to take the leaving byte out of the window.
            let high = (1..len).fold(1u64, |p, _| p.wrapping_mul(BASE));
            let mut h = hash(&text[..len]);
            for start in 0..=text.len() - len {
                if start > 0 {
                    let out = u64::from(text[start - 1]).wrapping_mul(high);
                    let into = u64::from(text[start + len - 1]);
                    h = h.wrapping_sub(out).wrapping_mul(BASE).wrapping_add(into);
                }
                if prints.prints().any(|(l, p)| p == h && l == len) {
                    ranges.push(start..start + len);
                }
            }
        }
    }
}

/// `Bearer <token>`, `Basic <credentials>` (the scheme word stays), the
/// value of a credential-named `name=value` pair (see
/// [`is_secret_param`](super::is_secret_param)), and JSON Web Tokens
/// (`eyJ….eyJ….…`).
fn token_shapes(text: &[u8], ranges: &mut Vec<Range<usize>>) {
    // (And `%`: a form-encoded value's escapes.)
    let is_token68 = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/=%".contains(&b);
    let mut index = 0;
    let mut jwt_checked_until = 0;
    while index < text.len() {
        let rest = &text[index..];
        let scheme = [&b"bearer "[..], b"basic "].into_iter().find(|scheme| {
            rest.len() > scheme.len() && rest[..scheme.len()].eq_ignore_ascii_case(scheme)
        });
        let at_word_start = index == 0 || !text[index - 1].is_ascii_alphanumeric();
        // A credential's `name=value` too: a form or a URL quoted back (a
        // token endpoint's `refresh_token=…&client_secret=…`). Its name is
        // read back to the last `=` or non-token byte: each byte once.
        let named = |b: &&u8| **b != b'=' && is_token68(**b);
        let pair = rest[0] == b'=' && {
            let name = &text[index - text[..index].iter().rev().take_while(named).count()..index];
            std::str::from_utf8(name).is_ok_and(super::is_secret_param)
        };
        let start = match scheme {
            Some(scheme) if at_word_start => Some(index + scheme.len()),
            _ => pair.then_some(index + 1),
        };
        if let Some(start) = start {
            let end = start + text[start..].iter().take_while(|b| is_token68(**b)).count();
            if end - start >= MIN_SECRET_LEN {
                ranges.push(start..end);
                index = end;
                continue;
            }
        }
        if rest.starts_with(b"eyJ") && at_word_start && index >= jwt_checked_until {
            let end = index + rest.iter().take_while(|b| is_token68(**b)).count();
            let token = &text[index..end];
            if token.iter().filter(|b| **b == b'.').count() >= 2 && token.len() >= 20 {
                ranges.push(index..end);
                index = end;
                continue;
            }
            // No later start inside this run can pass where the whole run
            // failed (a suffix has no more dots and is shorter): skip them,
            // which keeps the scan linear.
            jwt_checked_until = end;
        }
        index += 1;
    }
}

/// `text` with each range (widened to char boundaries, merged) replaced.
fn replace_ranges(text: &str, mut ranges: Vec<Range<usize>>) -> String {
    ranges.sort_unstable_by_key(|range| range.start);
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for range in ranges {
        let (mut start, mut end) = (range.start, range.end);
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        while !text.is_char_boundary(end) {
            end += 1;
        }
        if start < copied {
            // Overlaps what was already replaced: extend it.
            copied = copied.max(end);
            continue;
        }
        if start == end {
            continue;
        }
        out.push_str(&text[copied..start]);
        out.push_str(super::REDACTED);
        copied = end;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect()
    }

    /// Every secret of the URI, however many it holds: before, only the
    /// first 16 (raw and decoded each counting) were searched for, so a
    /// ninth percent-escaped credential echoed back stayed in the error.
    /// In one pass over the text: a URI of thousands of them stays linear.
    #[test]
    fn scrubs_every_secret_of_the_uri() {
        let params: Vec<String> = (0..40)
            .map(|i| format!("x_amz_credential_{i}=AKIA{i:04}%2F20261206%2Fs3"))
            .collect();
        let uri: Uri = format!("https://a.test/up?{}", params.join("&"))
            .parse()
            .unwrap();
        let scrubber = Scrubber::new(RequestSecrets::default(), Some(&uri));
        let echoed: Vec<String> = (0..40)
            .map(|i| format!("AKIA{i:04}/20261206/s3 AKIA{i:04}%2F20261206%2Fs3"))
            .collect();
        let scrubbed = scrubber.scrub(&echoed.join("; ")).into_owned();
        assert!(!scrubbed.contains("AKIA"), "{scrubbed}");
        assert_eq!(scrubbed.matches(super::super::REDACTED).count(), 80);
    }

    #[test]
    fn scrubs_what_the_request_carried() {
        let secrets = RequestSecrets::of(&headers(&[
            ("authorization", "Bearer sk_live_abcdef123456"),
            ("x-api-key", "key-98765432"),
            ("x-refresh-token", "rt/ab+cd=="),
            ("cookie", "theme=dark; session=cookie-s3cr3t-v4l"),
            ("accept", "application/json"),
        ]));
        let uri: Uri = "https://u:hunter22@a.test/x?api_key=q-k%2Fabc12&page=22"
            .parse()
            .unwrap();
        let scrubber = Scrubber::new(secrets, Some(&uri));
        let rows = [
            (
                "Invalid API key: sk_live_abcdef123456.",
                "Invalid API key: REDACTED.",
            ),
            ("key key-98765432 unknown", "key REDACTED unknown"),
            ("bad session cookie-s3cr3t-v4l", "bad session REDACTED"),
            ("password hunter22 rejected", "password REDACTED rejected"),
            (
                "api_key q-k/abc12 and q-k%2Fabc12",
                "api_key REDACTED and REDACTED",
            ),
            ("page 22 of application/json", "page 22 of application/json"),
            (
                "Authorization: Bearer abc.def-ghi_jkl",
                "Authorization: Bearer REDACTED",
            ),
            ("basic dXNlcjpwYXNz failed", "basic REDACTED failed"),
            (
                "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl expired",
                "token REDACTED expired",
            ),
            ("é sk_live_abcdef123456é", "é REDACTEDé"),
            (
                "refresh_token=rt%2Fab%2Bcd%3D%3D is revoked",
                "refresh_token=REDACTED is revoked",
            ),
            // RFC 3986 §2.1: escapes in lower or mixed case are the same.
            ("rt%2fab%2bcd%3d%3D, q-k%2fabc12", "REDACTED, REDACTED"),
            // A token endpoint quoting the form it was sent (RFC 6749 §6):
            // credential-named pairs lose their values, whoever sent them.
            (
                "bad grant_type=refresh_token&refresh_token=rt_9x8y7z&client_secret=cs%2Bq1w2",
                "bad grant_type=refresh_token&refresh_token=REDACTED&client_secret=REDACTED",
            ),
            (
                "page=1234567 sort=name code=E42",
                "page=1234567 sort=name code=E42",
            ),
            ("nothing to see", "nothing to see"),
            ("", ""),
        ];
        for (text, expected) in rows {
            assert_eq!(scrubber.scrub(text), expected, "{text}");
        }
    }

    #[test]
    fn overlapping_and_repeated_matches() {
        let secrets = RequestSecrets::of(&headers(&[("x-auth-token", "aaaaaa")]));
        let scrubber = Scrubber::new(secrets, None);
        assert_eq!(scrubber.scrub("aaaaaaaa b aaaaaa"), "REDACTED b REDACTED");
    }

    #[test]
    fn remembers_no_values_and_a_bounded_count() {
        let many: Vec<(String, String)> = (0..20)
            .map(|i| (format!("x-key-{i}"), format!("secret-value-{i}")))
            .collect();
        let map: HeaderMap = many
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect();
        let secrets = RequestSecrets::of(&map);
        assert_eq!(usize::from(secrets.count), MAX_FINGERPRINTS);
        assert!(!format!("{secrets:?}").contains("secret-value"));
    }

    /// Before: six fingerprints in header order, so credentials before
    /// `Authorization` crowded its token out. Its token has slots of its
    /// own; a hostile request's thousand cookies still make at most
    /// `MAX_FINGERPRINTS` (each search a linear pass), and come after the
    /// API-key header that followed them.
    #[test]
    fn authorization_first_and_a_bound_whatever_comes_before() {
        let cookies: Vec<String> = (0..1_000)
            .map(|i| format!("session_{i}=v+{i:06}/x="))
            .collect();
        let mut map = headers(&[("cookie", &cookies.join("; "))]);
        map.append("x-api-key", "AKIA+EXAMPLE/KEY=".parse().unwrap());
        map.append(
            AUTHORIZATION,
            "Bearer sk_live_abcdef123456".parse().unwrap(),
        );
        let secrets = RequestSecrets::of(&map);
        let text = "bad sk_live_abcdef123456, AKIA+EXAMPLE/KEY= v+000000/x= v+000004/x=";
        let scrubbed = Scrubber::new(secrets, None).scrub(text).into_owned();
        assert_eq!(scrubbed, "bad REDACTED, REDACTED REDACTED REDACTED");
        assert_eq!(usize::from(secrets.count), MAX_FINGERPRINTS + 1);
        // The key's two and five cookies' two each fill the cap.
        let past_the_cap = Scrubber::new(secrets, None).scrub("v+000005/x=");
        assert_eq!(past_the_cap, "v+000005/x=");
    }

    /// Before: `Authorization` and `Proxy-Authorization` shared four
    /// slots after the others' twelve, and a dozen API-key headers before
    /// two `Basic` values left the second unfingerprinted. Each has four
    /// of its own now, whatever the header order, and a hostile request
    /// (a thousand cookies, fifty key headers, fifty `Authorization`
    /// values) still makes at most `SLOTS`.
    #[test]
    fn two_basic_credentials_keep_their_slots_and_the_bound() {
        use base64::Engine;
        let encode = |pair: &str| base64::engine::general_purpose::STANDARD.encode(pair);
        let cookies: Vec<String> = (0..1_000)
            .map(|i| format!("session_{i}=v+{i:06}/x="))
            .collect();
        let mut map = headers(&[("cookie", &cookies.join("; "))]);
        for i in 0..50 {
            let name: http::HeaderName = format!("x-key-{i}").parse().unwrap();
            map.append(name, format!("k+{i:06}/x=").parse().unwrap());
        }
        let proxy = format!("Basic {}", encode("proxy:pr0xy/s3cret+pwd"));
        map.append(PROXY_AUTHORIZATION, proxy.parse().unwrap());
        for i in 0..50 {
            let value = format!("Basic {}", encode(&format!("alice:p@ss/w+rd={i:02}")));
            map.append(AUTHORIZATION, value.parse().unwrap());
        }
        let secrets = RequestSecrets::of(&map);
        assert_eq!(usize::from(secrets.count), SLOTS);
        let text = "pr0xy/s3cret+pwd p@ss/w+rd=00 pr0xy%2Fs3cret%2Bpwd k+000000/x=";
        let scrubbed = Scrubber::new(secrets, None).scrub(text).into_owned();
        assert_eq!(scrubbed, "REDACTED REDACTED REDACTED REDACTED");
    }

    /// Before: only the base64 form of a `Basic` credential was
    /// fingerprinted, and a server quoting what it decoded (`user:password`
    /// or the password) printed the password. The user id beside a
    /// password stays; an API key sent as the user id (empty password) is
    /// the secret; a short password is scrubbed only with its user id.
    #[test]
    fn a_basic_credential_is_scrubbed_decoded() {
        use base64::Engine;
        let encode = |pair: &str| base64::engine::general_purpose::STANDARD.encode(pair);
        let rows = [
            (
                format!("Basic {}", encode("alice:s3cr3t-pass")),
                "bad password s3cr3t-pass for user alice (alice:s3cr3t-pass)",
                "bad password REDACTED for user alice (alice:REDACTED)",
            ),
            (
                format!("bAsIc {}", encode("bob:p@ss/w+rd=1")),
                "bob p@ss/w+rd=1 p%40ss%2Fw%2Brd%3D1",
                "bob REDACTED REDACTED",
            ),
            (
                format!("Basic {}", encode("sk_test_4eC39HqLyjWDarjtT1zdp7dc:")),
                "Invalid API key: sk_test_4eC39HqLyjWDarjtT1zdp7dc",
                "Invalid API key: REDACTED",
            ),
            (
                format!("Basic {}", encode("token-without-colon")),
                "token-without-colon is unknown",
                "REDACTED is unknown",
            ),
            // Unpadded (one `=` and two left out): decoded all the same.
            (
                format!(
                    "Basic {}",
                    encode("alice:s3cr3t-pass").trim_end_matches('=')
                ),
                "bad password s3cr3t-pass",
                "bad password REDACTED",
            ),
            (
                format!("Basic {}", encode("dave:0pen-s3same").trim_end_matches('=')),
                "alice:0pen-s3same",
                "alice:REDACTED",
            ),
            // Not `Basic`: a bearer token is not decoded.
            (
                format!("Bearer {}", encode("alice:s3cr3t-pass")),
                "alice:s3cr3t-pass",
                "alice:s3cr3t-pass",
            ),
            // Not base64: the value's own fingerprint only.
            (
                "Basic !!not-base64!!".to_owned(),
                "!!not-base64!! alice",
                "REDACTED alice",
            ),
        ];
        for (authorization, text, expected) in rows {
            let secrets = RequestSecrets::of(&headers(&[("authorization", &authorization)]));
            let scrubber = Scrubber::new(secrets, None);
            assert_eq!(scrubber.scrub(text), expected, "{authorization}");
            let secrets = RequestSecrets::of_authorization(authorization.as_bytes());
            let scrubber = Scrubber::new(secrets, None);
            assert_eq!(scrubber.scrub(text), expected, "{authorization}");
        }
        // A password under six bytes: a request's is scrubbed with its
        // user id, the auth layer's own however short.
        let authorization = format!("Basic {}", encode("alice:pw1"));
        let text = "alice:pw1 rejected, pw1 too short";
        let secrets = RequestSecrets::of(&headers(&[("authorization", &authorization)]));
        let scrubbed = Scrubber::new(secrets, None).scrub(text).into_owned();
        assert_eq!(scrubbed, "REDACTED rejected, pw1 too short");
        let own = RequestSecrets::of_authorization(authorization.as_bytes());
        let scrubbed = Scrubber::new(own, None).scrub(text).into_owned();
        assert_eq!(scrubbed, "alice:REDACTED rejected, REDACTED too short");
    }

    /// A `Basic` value's decoded secret comes out of `Authorization`'s
    /// own slots, after its base64 form: 1,000 cookies before it leave
    /// both found, and the count within its slots and the others'.
    #[test]
    fn a_basic_credential_after_many_cookies_keeps_the_bound() {
        use base64::Engine;
        let cookies: Vec<String> = (0..1_000)
            .map(|i| format!("session_{i}=v+{i:06}/x="))
            .collect();
        let mut map = headers(&[("cookie", &cookies.join("; "))]);
        let encoded = base64::engine::general_purpose::STANDARD.encode("alice:p@ss/w+rd=1");
        let authorization = format!("Basic {encoded}");
        map.append(AUTHORIZATION, authorization.parse().unwrap());
        let secrets = RequestSecrets::of(&map);
        assert_eq!(
            usize::from(secrets.count),
            AUTHORIZATION_SLOTS + MAX_FINGERPRINTS
        );
        let text = format!("{encoded} alice p@ss/w+rd=1 p%40ss%2Fw%2Brd%3D1");
        let scrubbed = Scrubber::new(secrets, None).scrub(&text).into_owned();
        assert_eq!(scrubbed, "REDACTED alice REDACTED REDACTED");
    }

    #[test]
    fn linear_on_long_hostile_text() {
        let secrets = RequestSecrets::of(&headers(&[("authorization", "Bearer zzzzzzzzzz")]));
        let scrubber = Scrubber::new(secrets, None);
        let text = "bearer ".repeat(20_000) + &"eyJ.".repeat(20_000) + " " + &"eyJ-".repeat(20_000);
        let out = scrubber.scrub(&text);
        assert!(out.len() <= text.len());
    }
}
