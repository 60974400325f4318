//! Credential redaction for anything we print.
//!
//! - **Headers are never recorded** by any error or event, so
//!   `Authorization`, `Cookie` and `Proxy-Authorization` cannot leak
//!   through them.
//! - **URIs** are recorded for context but always printed redacted
//!   ([`RedactedUri`]): userinfo dropped; credential-like query values
//!   replaced (pairs split at `&` and `;`); credential path segments
//!   (Telegram's `/bot<id>:<token>/`, and segments matched by installed
//!   rules) replaced.
//! - **Names** are matched by words ([`is_secret_param`]): `accessToken`,
//!   `client-secret`, `api_key[]`, `X-Session-Id` and `jwt` are all
//!   credentials, `page` and `status_code` are not.
//! - **Echoes**: an error body that repeats the request's own credential
//!   (its `Authorization` token, and a `Basic` one's password as the
//!   server decoded it, an API-key header, a secret query value,
//!   userinfo) or a well-known token shape (`Bearer …`, `Basic …`, a JSON
//!   Web Token, the value of a credential-named `name=value` pair, as a
//!   token endpoint quoting its form writes it) has it replaced in the error's message, code, field errors
//!   and details, by the parse layer (and the success peek layer, for a
//!   failure inside a success). Only fingerprints of the header values
//!   are kept while the request is in flight, never the values: 4 each
//!   for `Authorization` and `Proxy-Authorization`, taken first whatever
//!   the header order, then at most 12 of credential headers, then of
//!   cookies.
//! - **Your own rules**: [`Redaction`] adds names and path shapes for the
//!   whole process.
//!
//! ```
//! use http::Uri;
//! use tower_api_errors::redact::{is_secret_param, redact_uri};
//!
//! let uri: Uri = "https://me:pw@api.test/v1/items?accessToken=abc;page=2".parse().unwrap();
//! assert_eq!(redact_uri(&uri), "https://api.test/v1/items?accessToken=REDACTED;page=2");
//! assert!(is_secret_param("client_secret") && !is_secret_param("per_page"));
//! ```
//!
//! An echoed credential, scrubbed by the parse layer:
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use tower::{service_fn, Layer, ServiceExt};
//! use tower_api_errors::{Error, ErrorBodyParseLayer};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let upstream = service_fn(|req: Request<Full<Bytes>>| async move {
//!     // A server that echoes the key it was given.
//!     let key = req.headers()["x-api-key"].to_str().unwrap().to_owned();
//!     let body = format!(r#"{{"error": "Invalid API key provided: {key}"}}"#);
//!     Ok::<_, std::convert::Infallible>(Response::builder().status(401).body(Full::new(Bytes::from(body))).unwrap())
//! });
//! let client = ErrorBodyParseLayer::new().layer(upstream);
//! let request = Request::get("https://api.test/me")
//!     .header("x-api-key", "sk_live_51Hx9q2eZvKYlo2C")
//!     .body(Full::new(Bytes::new()))
//!     .unwrap();
//! let Err(Error::Api(error)) = client.oneshot(request).await else { panic!() };
//! assert_eq!(error.message(), "Invalid API key provided: REDACTED");
//! assert!(!format!("{error} {error:?}").contains("sk_live"));
//! # }
//! ```

mod echo;
mod names;
mod rules;
mod uri;

#[cfg(feature = "grpc")]
pub(crate) use echo::decode_base64;
pub(crate) use echo::{form_encoded, RequestSecrets, Scrubber};
pub(crate) use names::is_secret_name;
pub use names::is_secret_param;
pub use rules::Redaction;
pub(crate) use uri::HeaderNames;
pub use uri::{redact_uri, RedactedUri};

use http::{Method, Uri};
use std::fmt;

/// `text` with every echo of the request's credentials (see the module
/// docs) and every well-known token shape replaced by [`REDACTED`]: the
/// scrubbing the parse layer does, for clients that build errors with
/// [`parse_error`](crate::parse_error) themselves. Linear in `text` for a
/// bounded number of secrets.
///
/// ```
/// use http::{HeaderMap, Uri};
/// use tower_api_errors::redact::scrub_echoes;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("authorization", "Bearer tok_9a8b7c6d".parse().unwrap());
/// let uri: Uri = "/v1/items?api_key=k_1234567".parse().unwrap();
/// let text = "token tok_9a8b7c6d or key k_1234567 is invalid";
/// assert_eq!(scrub_echoes(&headers, Some(&uri), text), "token REDACTED or key REDACTED is invalid");
/// ```
pub fn scrub_echoes<'t>(
    request_headers: &http::HeaderMap,
    uri: Option<&Uri>,
    text: &'t str,
) -> std::borrow::Cow<'t, str> {
    Scrubber::new(RequestSecrets::of(request_headers), uri).scrub(text)
}

/// What replaces a redacted value.
pub const REDACTED: &str = "REDACTED";

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

    field_getters! {
        /// The request method.
        pub fn method -> &Method { &method }

        /// The raw URI, for scrubbing echoes of its secrets; never printed.
        pub(crate) fn raw_uri -> &Uri { &uri }
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

debug_fields!([] RequestContext (&self) {
    method: self.method,
    uri: redact_uri(&self.uri),
});

#[cfg(test)]
mod tests {
    use super::*;

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
