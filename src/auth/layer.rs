//! [`AuthLayer`].

use super::state::{Format, Tokens};
use super::{Auth, TokenSource};
use http::header::AUTHORIZATION;
use http::HeaderName;
use std::sync::Arc;
use std::time::Duration;
use tower::Layer;

/// Wraps a service in an [`Auth`] that sets a credential from a
/// [`TokenSource`] on every request and renews it once when the server
/// rejects it.
///
/// # Clone
/// Cheap: clones, and every service they make, share one credential cache
/// and one single-flight refresh. Make one layer per token source and
/// clone it. A setter called on a layer gives it a cache of its own
/// (configure before use).
#[derive(Debug, Clone)]
pub struct AuthLayer {
    tokens: Arc<Tokens>,
    /// The one per-request setting (see [`override_explicit`](Self::override_explicit)).
    override_explicit: bool,
}

impl AuthLayer {
    /// A layer that sends `Authorization: Bearer <credential>`.
    pub fn new(source: impl TokenSource) -> Self {
        AuthLayer::from_arc(Arc::new(source))
    }

    /// A layer over a source that is already shared.
    pub fn from_arc(source: Arc<dyn TokenSource>) -> Self {
        let format = Format {
            header: AUTHORIZATION,
            prefix: "Bearer ".to_owned(),
        };
        AuthLayer {
            tokens: Arc::new(Tokens::new(source, format)),
            override_explicit: false,
        }
    }

    /// The header the credential goes in (default `Authorization`). For an
    /// API key header, combine with [`no_scheme`](Self::no_scheme):
    /// `.header(HeaderName::from_static("x-api-key")).no_scheme()`.
    pub fn header(self, name: HeaderName) -> Self {
        self.rebuilt(|tokens| tokens.format.header = name)
    }

    /// The scheme before the credential (default `Bearer`): `Token`, `DPoP`,
    /// `Basic` (with a credential already base64-encoded).
    ///
    /// # Panics
    /// When `scheme` is empty or not an HTTP token (RFC 9110 §5.6.2).
    pub fn scheme(self, scheme: &str) -> Self {
        // RFC 9110's `tchar`s.
        let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        assert!(
            !scheme.is_empty() && scheme.bytes().all(tchar),
            "AuthLayer::scheme: {scheme:?} is not an HTTP token"
        );
        self.rebuilt(|tokens| tokens.format.prefix = format!("{scheme} "))
    }

    /// Send the credential alone, without a scheme (`x-api-key: <key>`).
    pub fn no_scheme(self) -> Self {
        self.rebuilt(|tokens| tokens.format.prefix = String::new())
    }

    /// Replace a credential the caller set on the request (default: no; a
    /// request that carries its own credential header goes through as it
    /// is, and is not renewed on a rejection: it is not ours to renew).
    pub fn override_explicit(mut self, override_explicit: bool) -> Self {
        self.override_explicit = override_explicit;
        self
    }

    /// How long a failed refresh holds off the next one (default: from 1 s,
    /// doubling, up to 30 s). The `n`-th consecutive failure for one
    /// credential waits between half and all of `min(max, initial ×
    /// 2^(n-1))` (jittered, so that a fleet does not call the token
    /// endpoint in step); meanwhile a request rejected with that credential
    /// ends at once in that failure
    /// ([`AuthFailure::RefreshBackingOff`](super::AuthFailure::RefreshBackingOff)). A new
    /// credential, or a refresh that succeeds, ends the backoff. See
    /// [`TokenSource`](super::TokenSource#when-the-token-endpoint-fails).
    ///
    /// A backoff beyond the clock's reach (`Duration::MAX`) holds for
    /// ever: one failed refresh per credential, then none.
    ///
    /// # Panics
    /// When `initial` is zero or longer than `max`.
    pub fn refresh_backoff(self, initial: Duration, max: Duration) -> Self {
        assert!(
            !initial.is_zero() && initial <= max,
            "AuthLayer::refresh_backoff: {initial:?} must be above zero and at most {max:?}"
        );
        self.rebuilt(|tokens| (tokens.limits.initial, tokens.limits.max) = (initial, max))
    }

    /// How long one call to the token source may take (default: 10 s).
    /// A call that takes longer fails like any failed refresh: the
    /// requests waiting on it end in an [`Unauthorized`](super::Unauthorized)
    /// error whose `source()` is tokio's
    /// [`Elapsed`](tokio::time::error::Elapsed), and the next call waits
    /// the [backoff](Self::refresh_backoff). Without it, a token endpoint
    /// that accepts and never answers would hold every request waiting on
    /// the refresh, and every later one, for ever. A retry layer the call
    /// goes through starts no wait past it (see
    /// [`TokenSource`](super::TokenSource#when-the-token-endpoint-fails)).
    ///
    /// # Panics
    /// When `timeout` is zero.
    pub fn refresh_timeout(self, timeout: Duration) -> Self {
        assert!(!timeout.is_zero(), "AuthLayer::refresh_timeout: zero");
        self.rebuilt(|tokens| tokens.limits.timeout = timeout)
    }

    /// Records credential loads (`tower_api_errors.auth.refreshes`) and the
    /// time requests wait for one (`tower_api_errors.waits`, source
    /// `auth`) into `metrics`; see [the table](crate::metrics#the-metrics).
    #[cfg(feature = "opentelemetry")]
    pub fn metrics(self, metrics: crate::metrics::Metrics) -> Self {
        self.rebuilt(|tokens| tokens.observer = metrics.into())
    }

    /// The layer with its settings changed by `change`, over a new cache
    /// (a credential loaded under the old settings is not carried over).
    fn rebuilt(self, change: impl FnOnce(&mut Tokens)) -> Self {
        let mut tokens = Tokens::new(self.tokens.source.clone(), self.tokens.format.clone());
        tokens.observer = self.tokens.observer.clone();
        tokens.limits = self.tokens.limits;
        change(&mut tokens);
        let tokens = Arc::new(tokens);
        AuthLayer { tokens, ..self }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth::from_parts(inner, self.tokens.clone(), self.override_explicit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Credential, StaticToken};

    fn layer() -> AuthLayer {
        AuthLayer::new(StaticToken::new(Credential::new("k").unwrap()))
    }

    #[test]
    fn formats() {
        let bearer = layer();
        assert_eq!(bearer.tokens.format.header, AUTHORIZATION);
        assert_eq!(bearer.tokens.format.prefix, "Bearer ");
        let key = layer()
            .header(HeaderName::from_static("x-api-key"))
            .no_scheme();
        assert_eq!(key.tokens.format.header, "x-api-key");
        assert_eq!(key.tokens.format.prefix, "");
        assert_eq!(layer().scheme("DPoP").tokens.format.prefix, "DPoP ");
    }

    #[test]
    fn a_refresh_backoff_and_timeout_survive_the_other_setters() {
        let second = Duration::from_secs(1);
        let layer = layer()
            .refresh_timeout(3 * second)
            .refresh_backoff(second, 10 * second)
            .header(HeaderName::from_static("x-api-key"));
        assert_eq!(layer.tokens.limits.ceiling(1), second);
        assert_eq!(layer.tokens.limits.ceiling(9), 10 * second);
        assert_eq!(layer.tokens.limits.timeout, 3 * second);
        let later = layer.refresh_timeout(2 * second);
        assert_eq!(later.tokens.limits.ceiling(9), 10 * second);
    }

    #[test]
    #[should_panic(expected = "must be above zero")]
    fn a_zero_refresh_backoff_is_refused() {
        let _ = layer().refresh_backoff(Duration::ZERO, Duration::from_secs(1));
    }

    #[test]
    #[should_panic(expected = "not an HTTP token")]
    fn a_scheme_with_a_space_is_refused() {
        let _ = layer().scheme("Bearer x");
    }

    #[test]
    fn layers_are_send_sync_clone() {
        fn check<T: Send + Sync + Clone>() {}
        check::<AuthLayer>();
        check::<crate::auth::Auth<tower::util::BoxCloneSyncService<(), (), ()>>>();
    }
}
