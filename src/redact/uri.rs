//! [`RedactedUri`] and [`redact_uri`]: a URI as it may be printed.

use super::{is_secret_param, Redaction, REDACTED};
use http::Uri;
use std::fmt;

/// A URI with userinfo removed, credential-like query values and
/// credential path segments replaced by [`REDACTED`].
///
/// Query pairs are split at `&` and at `;` (the older HTML form
/// separator). Path segments are redacted in Telegram's `bot<id>:<token>`
/// shape and by the rules a program [installs](Redaction::install).
///
/// ```
/// use http::Uri;
/// use tower_api_errors::redact::redact_uri;
///
/// let uri: Uri = "https://user:hunter2@api.example.com/v1/items?api_key=sk_live_123&page=2"
///     .parse()
///     .unwrap();
/// assert_eq!(
///     redact_uri(&uri),
///     "https://api.example.com/v1/items?api_key=REDACTED&page=2"
/// );
/// let uri: Uri = "https://api.telegram.org/bot123456:ABC-DEF1234ghIkl/getMe?a=1;accessToken=x"
///     .parse()
///     .unwrap();
/// assert_eq!(
///     redact_uri(&uri),
///     "https://api.telegram.org/botREDACTED/getMe?a=1;accessToken=REDACTED"
/// );
/// ```
pub fn redact_uri(uri: &Uri) -> String {
    RedactedUri(uri).to_string()
}

/// Displays a URI redacted, as [`redact_uri`] does, without building a
/// string first: nothing is done unless it is actually formatted (a log
/// line that is filtered out costs nothing). Its `Debug` is redacted too.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RedactedUri<'a>(pub &'a Uri);

impl fmt::Debug for RedactedUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// A header map as its `Debug` shows it where values may be credentials:
/// the names only.
#[derive(Clone, Copy)]
pub(crate) struct HeaderNames<'a>(pub(crate) &'a http::HeaderMap);

impl fmt::Debug for HeaderNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl fmt::Display for RedactedUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let uri = self.0;
        if let Some(scheme) = uri.scheme_str() {
            write!(f, "{scheme}://")?;
        }
        if let Some(authority) = uri.authority() {
            // Userinfo sits before the last '@' of the authority.
            let host = authority.as_str();
            let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
            f.write_str(host)?;
        }
        let rules = Redaction::installed();
        for (index, (segment, keep)) in path_segments(uri.path(), rules.as_deref()).enumerate() {
            if index > 0 {
                f.write_str("/")?;
            }
            match keep {
                Some(visible) => write!(f, "{}{REDACTED}", &segment[..visible])?,
                None => f.write_str(segment)?,
            }
        }
        if let Some(query) = uri.query() {
            f.write_str("?")?;
            for_each_query_piece(query, |piece| f.write_str(piece))?;
        }
        Ok(())
    }
}

/// Each segment of `path`, with the length of its visible start when the
/// rest of it is a secret (a Telegram bot token, or by `rules`).
fn path_segments<'p, 'r>(
    path: &'p str,
    rules: Option<&'r Redaction>,
) -> impl Iterator<Item = (&'p str, Option<usize>)> + use<'p, 'r> {
    let mut previous = None;
    path.split('/').map(move |segment| {
        let keep = telegram_bot_token(segment).or_else(|| rules?.segment_rule(previous, segment));
        previous = Some(segment);
        (segment, keep.filter(|visible| *visible < segment.len()))
    })
}

/// Telegram's bot API puts the token in the path: `/bot<digits>:<secret>/`.
/// Keeps `bot`, redacts the rest.
pub(crate) fn telegram_bot_token(segment: &str) -> Option<usize> {
    let rest = segment.strip_prefix("bot")?;
    let id = rest.bytes().take_while(u8::is_ascii_digit).count();
    let after_id = &rest[id..];
    // `:`, or its escape in either case (RFC 3986 §2.1: `%3a` is `%3A`).
    let starts = |sep: &&str| {
        after_id
            .get(..sep.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(sep))
    };
    let separator = [":", "%3a"].into_iter().find(starts)?.len();
    (id > 0 && after_id.len() > separator).then_some(3)
}

/// Writes `query` pair by pair (split at `&` and `;`), secret values replaced.
fn for_each_query_piece(query: &str, mut write: impl FnMut(&str) -> fmt::Result) -> fmt::Result {
    let mut rest = query;
    loop {
        let end = rest.find(['&', ';']).unwrap_or(rest.len());
        let pair = &rest[..end];
        match pair.split_once('=') {
            Some((name, _)) if is_secret_param(name) => {
                write(name)?;
                write("=")?;
                write(REDACTED)?;
            }
            _ => write(pair)?,
        }
        if end == rest.len() {
            return Ok(());
        }
        write(&rest[end..end + 1])?;
        rest = &rest[end + 1..];
    }
}

/// The secret values a URI carries, as printed in it: userinfo (user and
/// password), credential query values, credential path segments. What echo
/// scrubbing looks for in an error body.
pub(crate) fn secrets_in<'u>(uri: &'u Uri, mut f: impl FnMut(&'u str)) {
    let authority = uri.authority().map(|authority| authority.as_str());
    if let Some((userinfo, _)) = authority.and_then(|authority| authority.rsplit_once('@')) {
        userinfo.split(':').for_each(&mut f);
    }
    let rules = Redaction::installed();
    for (segment, keep) in path_segments(uri.path(), rules.as_deref()) {
        let Some(visible) = keep else { continue };
        let secret = &segment[visible..];
        f(secret);
        // The token part alone too: `<id>:<secret>` is often echoed
        // without the id.
        if let Some((_, token)) = secret.split_once(':') {
            f(token);
        }
    }
    let pairs = uri.query().unwrap_or_default().split(['&', ';']);
    for (name, value) in pairs.filter_map(|pair| pair.split_once('=')) {
        if is_secret_param(name) {
            f(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_every_credential_form() {
        let rows = [
            ("http://a.test/x", "http://a.test/x"),
            ("http://u:p@a.test/x", "http://a.test/x"),
            ("http://u%40x:p%40ss@a.test:8080/x", "http://a.test:8080/x"),
            ("/x?token=abc", "/x?token=REDACTED"),
            ("/x?Access_Token=abc&q=1", "/x?Access_Token=REDACTED&q=1"),
            ("/x?api%5Fkey=abc", "/x?api%5Fkey=REDACTED"),
            (
                "/x?X-Amz-Signature=abc&X-Amz-Credential=def",
                "/x?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED",
            ),
            (
                "/x?stripe_key=abc&page=2&sort=asc",
                "/x?stripe_key=REDACTED&page=2&sort=asc",
            ),
            ("/x?flag&password=", "/x?flag&password=REDACTED"),
            // Hardening II: camelCase, bracketed, `;`-separated, in the path.
            (
                "/x?accessToken=a&apiToken=b",
                "/x?accessToken=REDACTED&apiToken=REDACTED",
            ),
            (
                "/x?clientSecret=a;sessionToken=b",
                "/x?clientSecret=REDACTED;sessionToken=REDACTED",
            ),
            (
                "/x?jwt=a&bearer=b&page=1",
                "/x?jwt=REDACTED&bearer=REDACTED&page=1",
            ),
            (
                "/x?api_key[]=a&api_key[]=b",
                "/x?api_key[]=REDACTED&api_key[]=REDACTED",
            ),
            ("/x?user[password]=a", "/x?user[password]=REDACTED"),
            ("/bot123456:ABC-DEF/sendMessage", "/botREDACTED/sendMessage"),
            (
                "/bot123456%3AABC-DEF/sendMessage",
                "/botREDACTED/sendMessage",
            ),
            (
                "/bot123456%3aABC-DEF/sendMessage",
                "/botREDACTED/sendMessage",
            ),
            ("/bot%3Aabc/x", "/bot%3Aabc/x"),
            ("/bot12%3A/x", "/bot12%3A/x"),
            ("/bots/list", "/bots/list"),
            ("/botany:x/", "/botany:x/"),
            ("/x?&&;=", "/x?&&;="),
        ];
        for (raw, expected) in rows {
            let uri: Uri = raw.parse().unwrap();
            assert_eq!(redact_uri(&uri), expected, "{raw}");
        }
    }

    #[test]
    fn finds_the_secrets_a_uri_carries() {
        let uri: Uri = "https://me:pw-123@a.test/bot42:tok-en/x?page=2&api_key=k-9;jwt=j.w.t"
            .parse()
            .unwrap();
        let mut found = Vec::new();
        secrets_in(&uri, |s| found.push(s.to_owned()));
        assert_eq!(
            found,
            ["me", "pw-123", "42:tok-en", "tok-en", "k-9", "j.w.t"]
        );
    }
}
