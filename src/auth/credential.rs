//! [`Credential`]: a secret that never prints.

use crate::redact::REDACTED;
use http::HeaderValue;
use std::fmt;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// A credential (an access token, an API key, a session id), as a
/// [`TokenSource`](super::TokenSource) hands it out.
///
/// It holds the secret alone (`"abc123"`, not `"Bearer abc123"`): the
/// [`AuthLayer`](super::AuthLayer) adds the scheme it is configured with.
/// Its value is a header value marked
/// [sensitive](HeaderValue::set_sensitive) (HTTP/2 never indexes it), and it
/// never prints: `Debug` shows `Credential(REDACTED)`, `Display` shows
/// `REDACTED`. The only way to the bytes is the loudly named
/// [`expose_secret`](Self::expose_secret).
///
/// Two credentials are equal when their bytes are (whatever their
/// expiry): that is how the layer recognises a refresh that handed back
/// the credential the server had just rejected.
///
/// A credential may carry its expiry ([`expires_in`](Self::expires_in)
/// for an OAuth2 `expires_in`, [`expires_at`](Self::expires_at) for a
/// JWT's `exp`): the layer then refreshes it ahead of time (see
/// [`TokenSource`](super::TokenSource#refreshed-before-it-expires)).
///
/// ```
/// use tower_api_errors::auth::Credential;
///
/// let token = Credential::new("s3cr3t").unwrap();
/// assert_eq!(format!("{token:?} {token}"), "Credential(REDACTED) REDACTED");
/// assert_eq!(token.expose_secret(), b"s3cr3t");
/// assert!(Credential::new("no\nnewlines").is_err());
/// ```
#[derive(Clone)]
pub struct Credential {
    value: HeaderValue,
    /// When it expires, on Tokio's clock, if the source said.
    expiry: Option<Instant>,
}

impl PartialEq for Credential {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Eq for Credential {}

impl Credential {
    /// A credential from its secret text.
    ///
    /// # Errors
    /// When `secret` has bytes a header value cannot carry (control
    /// characters such as a newline), or is empty. The error does not
    /// contain the secret.
    pub fn new(secret: &str) -> Result<Self, InvalidCredential> {
        if secret.is_empty() {
            return Err(InvalidCredential);
        }
        let value = HeaderValue::from_str(secret).map_err(|_| InvalidCredential)?;
        Ok(Credential::from_header_value(value))
    }

    /// A credential from a header value (marked sensitive here, whatever it
    /// was).
    pub fn from_header_value(mut value: HeaderValue) -> Self {
        value.set_sensitive(true);
        Credential {
            value,
            expiry: None,
        }
    }

    /// The same credential, known to expire `lifetime` from now: an OAuth2
    /// token response's `expires_in` (RFC 6749 §5.1), as the source reads
    /// it on arrival. A lifetime too long for the clock means no expiry.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_api_errors::auth::Credential;
    ///
    /// let token = Credential::new("t1").unwrap().expires_in(Duration::from_secs(3600));
    /// let left = token.expiry().unwrap() - tokio::time::Instant::now().into_std();
    /// assert!(left <= Duration::from_secs(3600) && left > Duration::from_secs(3599));
    /// assert_eq!(token, Credential::new("t1").unwrap(), "equal by their bytes");
    /// ```
    pub fn expires_in(mut self, lifetime: Duration) -> Self {
        self.expiry = Instant::now().checked_add(lifetime);
        self
    }

    /// The same credential, known to expire at `at`: a JWT's `exp` (RFC
    /// 7519 §4.1.4, seconds since the epoch: `UNIX_EPOCH +
    /// Duration::from_secs(exp)`). Read against the system clock now, and
    /// kept as the time left; a time already past means it has expired.
    pub fn expires_at(self, at: SystemTime) -> Self {
        self.expires_in(at.duration_since(SystemTime::now()).unwrap_or_default())
    }

    field_getters! {
        /// When the credential expires, if its source said: an instant on
        /// Tokio's clock (a test that pauses time moves it), as
        /// [`tokio::time::Instant::into_std`] gives it.
        pub fn expiry -> Option<std::time::Instant> { expiry.map(Instant::into_std) }

        /// The expiry on Tokio's clock.
        pub(crate) fn expiry_instant -> Option<Instant> { expiry }

        /// The secret's bytes, for code that must send it somewhere. Never log
        /// or format the result.
        pub fn expose_secret -> &[u8] { value.as_bytes() }

        /// The secret as a header value (marked sensitive).
        pub fn expose_header_value -> &HeaderValue { &value }
    }

    /// True when `text` contains this credential, as it is or as a form
    /// carries it (an identity provider quoting the form it was sent):
    /// how the layer checks a token source's error messages before
    /// passing them on. An empty one (a header value may be empty)
    /// appears nowhere.
    pub(crate) fn appears_in(&self, text: &str) -> bool {
        let secret = self.value.as_bytes();
        let found = |secret: &[u8]| memchr::memmem::find(text.as_bytes(), secret).is_some();
        let encoded = crate::redact::form_encoded(secret).map(|encoded| encoded.to_string());
        !secret.is_empty() && (found(secret) || encoded.is_some_and(|e| found(e.as_bytes())))
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential({REDACTED})")
    }
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A credential that is empty or has bytes a header value cannot carry.
/// Says which rule was broken, never what the value was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidCredential;

impl fmt::Display for InvalidCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("credential is empty or has characters a header value cannot carry")
    }
}

impl std::error::Error for InvalidCredential {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_and_is_sensitive() {
        let token = Credential::new("tok-123").unwrap();
        assert!(token.expose_header_value().is_sensitive());
        assert!(!format!("{token:?}{token}{:?}", Some(&token)).contains("tok-123"));
        assert_eq!(token, Credential::new("tok-123").unwrap());
        assert_ne!(token, Credential::new("tok-124").unwrap());
        let from_header = Credential::from_header_value(HeaderValue::from_static("k"));
        assert!(from_header.expose_header_value().is_sensitive());
    }

    #[tokio::test(start_paused = true)]
    async fn an_expiry_is_carried_and_does_not_change_equality() {
        let plain = Credential::new("tok-1").unwrap();
        assert_eq!(plain.expiry(), None);
        let now = Instant::now();
        let timed = plain.clone().expires_in(Duration::from_secs(60));
        assert_eq!(timed.expiry_instant(), Some(now + Duration::from_secs(60)));
        assert_eq!(timed, plain);
        let past = plain.clone().expires_at(SystemTime::UNIX_EPOCH);
        assert_eq!(past.expiry_instant(), Some(now));
        let forever = plain.expires_in(Duration::MAX);
        assert_eq!(forever.expiry(), None);
        assert_eq!(format!("{timed:?}"), "Credential(REDACTED)");
    }

    #[test]
    fn finds_itself_in_text() {
        let token = Credential::new("tok-123").unwrap();
        assert!(token.appears_in("invalid refresh for tok-123: expired"));
        assert!(!token.appears_in("invalid refresh: expired"));
        assert!(!token.appears_in("tok"));
        let empty = Credential::from_header_value(HeaderValue::from_static(""));
        assert!(!empty.appears_in("any text") && !empty.appears_in(""));
        assert!(Credential::new("").is_err());
    }
}
