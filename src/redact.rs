//! Credential redaction for anything we print: URIs lose their userinfo and
//! the values of query parameters that look like credentials.
//!
//! Headers are never recorded at all, so `Authorization`, `Cookie` and
//! `Proxy-Authorization` cannot leak through our errors or logs.

use http::{Method, Uri};
use std::fmt;

/// What replaces a redacted value.
pub const REDACTED: &str = "REDACTED";

/// Query parameter names (lowercase, `-` read as `_`) whose values are
/// always redacted.
const SECRET_NAMES: &[&str] = &[
    "access_token",
    "api_key",
    "apikey",
    "auth",
    "authorization",
    "client_secret",
    "code",
    "credential",
    "credentials",
    "id_token",
    "key",
    "password",
    "passwd",
    "pwd",
    "refresh_token",
    "secret",
    "session",
    "sessionid",
    "sig",
    "signature",
    "token",
    "x_amz_credential",
    "x_amz_security_token",
    "x_amz_signature",
];

/// Suffixes that mark a parameter name as a credential (`github_token`,
/// `stripe_key`, `db_password`).
const SECRET_SUFFIXES: &[&str] = &["_token", "_key", "_secret", "password", "signature"];

/// True when a query parameter of this name carries a credential.
/// Case-insensitive, `-` read as `_`, percent-escapes decoded; no
/// allocation unless the name has escapes.
///
/// ```
/// use tower_api_errors::redact::is_secret_param;
/// assert!(is_secret_param("api_key"));
/// assert!(is_secret_param("X-Amz-Signature"));
/// assert!(is_secret_param("github_token"));
/// assert!(is_secret_param("api%5Fkey"));
/// assert!(!is_secret_param("page"));
/// ```
pub fn is_secret_param(name: &str) -> bool {
    if name.contains('%') {
        let decoded = crate::percent::percent_decode(name.as_bytes());
        return is_secret_name(&String::from_utf8_lossy(&decoded));
    }
    is_secret_name(name)
}

fn is_secret_name(name: &str) -> bool {
    let folded = |b: &u8| match b {
        b'-' => b'_',
        b => b.to_ascii_lowercase(),
    };
    let equals = |known: &str| {
        known.len() == name.len() && name.bytes().map(|b| folded(&b)).eq(known.bytes())
    };
    let ends_with = |suffix: &str| {
        name.len() >= suffix.len()
            && name.as_bytes()[name.len() - suffix.len()..]
                .iter()
                .map(folded)
                .eq(suffix.bytes())
    };
    SECRET_NAMES.iter().any(|known| equals(known))
        || SECRET_SUFFIXES.iter().any(|suffix| ends_with(suffix))
}

/// A URI with userinfo removed and credential-like query values replaced
/// by [`REDACTED`].
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
/// ```
pub fn redact_uri(uri: &Uri) -> String {
    RedactedUri(uri).to_string()
}

/// Displays a URI redacted, as [`redact_uri`] does, without building a
/// string first: nothing is done unless it is actually formatted (a log
/// line that is filtered out costs nothing).
#[derive(Debug, Clone, Copy)]
pub struct RedactedUri<'a>(pub &'a Uri);

impl fmt::Display for RedactedUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let uri = self.0;
        if let Some(scheme) = uri.scheme_str() {
            write!(f, "{scheme}://")?;
        }
        if let Some(authority) = uri.authority() {
            // Userinfo sits before the last '@' of the authority.
            let host = authority
                .as_str()
                .rsplit_once('@')
                .map_or(authority.as_str(), |(_, host)| host);
            f.write_str(host)?;
        }
        f.write_str(uri.path())?;
        if let Some(query) = uri.query() {
            f.write_str("?")?;
            for (index, pair) in query.split('&').enumerate() {
                if index > 0 {
                    f.write_str("&")?;
                }
                match pair.split_once('=') {
                    Some((name, _)) if is_secret_param(name) => write!(f, "{name}={REDACTED}")?,
                    _ => f.write_str(pair)?,
                }
            }
        }
        Ok(())
    }
}

/// The request an error belongs to: its method and its redacted URI.
///
/// Recorded by the layers so that an error says which call failed; it holds
/// no headers, and its URI is redacted when printed.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestContext {
    method: Method,
    uri: Uri,
}

impl RequestContext {
    /// The context of a request with this method and URI.
    pub fn new(method: Method, uri: Uri) -> Self {
        RequestContext { method, uri }
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request URI, redacted (see [`redact_uri`]).
    pub fn uri(&self) -> String {
        redact_uri(&self.uri)
    }
}

impl fmt::Display for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, RedactedUri(&self.uri))
    }
}

impl fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestContext")
            .field("method", &self.method)
            .field("uri", &redact_uri(&self.uri))
            .finish()
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
        ];
        for (raw, expected) in rows {
            let uri: Uri = raw.parse().unwrap();
            assert_eq!(redact_uri(&uri), expected, "{raw}");
        }
    }

    #[test]
    fn context_never_prints_secrets() {
        let context = RequestContext::new(
            Method::GET,
            "https://u:pw@h.test/?key=s3cr3t".parse().unwrap(),
        );
        for text in [context.to_string(), format!("{context:?}"), context.uri()] {
            assert!(!text.contains("s3cr3t") && !text.contains("pw"), "{text}");
        }
    }
}
