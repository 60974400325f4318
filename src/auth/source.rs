//! [`TokenSource`]: where credentials come from.

use super::Credential;
use crate::BoxError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The future a [`TokenSource`] returns: a credential, or why there is none.
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<Credential, BoxError>> + Send + 'a>>;

/// Gives the current credential, and a new one when the server rejected it.
///
/// Object safe (the layer holds an `Arc<dyn TokenSource>`), `Send + Sync`.
/// The [`AuthLayer`](super::AuthLayer) caches what it is given and calls
/// the source rarely, and one call at a time per layer: [`current`](Self::current)
/// once, when it has no credential yet, and [`refresh`](Self::refresh) once
/// per rejected credential, however many requests were rejected with it
/// (and ahead of a known expiry, below). Both calls run in a task of
/// their own, so a caller that gives up does not cancel them for the
/// others. A call dropped with its runtime (one shutting down, when the
/// layer is shared by several) has not failed: it starts no backoff, and
/// the next request, or one still waiting on another runtime, calls
/// again.
///
/// # When the token endpoint fails
///
/// A failed call is shared like a successful one: every request rejected
/// with that credential, or waiting on the call, ends in one
/// [`Unauthorized`](super::Unauthorized) error whose
/// [`source`](std::error::Error::source) is the call's error. The next call
/// for the same credential waits a backoff: after the `n`-th consecutive
/// failure, a time drawn between half and all of `min(30 s, 1 s ×
/// 2^(n-1))` (so 0.5-1 s, 1-2 s, 2-4 s, 4-8 s, 8-16 s, then 15-30 s;
/// jittered so that a fleet does not call in step;
/// [`AuthLayer::refresh_backoff`](super::AuthLayer::refresh_backoff) sets
/// both numbers). Meanwhile a request rejected with that credential ends at
/// once in that failure, marked
/// [`AuthFailure::RefreshBackingOff`](super::AuthFailure::RefreshBackingOff);
/// a request that sent an older credential than the current one goes
/// again with the current one, as ever. A token endpoint that is down gets
/// at most one call per backoff step from each layer, never one per
/// request. A streak of failures ends with a call that succeeds (for
/// renewed credentials the server rejected, one it accepts on a re-send),
/// or once no call was needed for the longest step (30 s) after its backoff
/// ended (the credential served meanwhile): a failure after that is the
/// first of a new streak, backed off 0.5-1 s, however long the old one had
/// grown.
/// A token endpoint that says when to come back is not called
/// before: when the call's error is, or holds in its source chain, this
/// crate's [`ApiError`](crate::ApiError) with a
/// [`retry_after`](crate::ApiError::retry_after) (the token endpoint
/// called through [`ApiErrorsLayer`](crate::ApiErrorsLayer) or
/// [`ErrorBodyParseLayer`](crate::ErrorBodyParseLayer) answered a 429 or
/// 503 with `Retry-After`), the backoff lasts at least that long, up to
/// 120 s: the longest server wait this crate honours by default (as
/// [`RetryPolicy::max_retry_after`](crate::RetryPolicy::max_retry_after)
/// and [`QuotaLayer::max_wait`](crate::quota::QuotaLayer::max_wait) do). A
/// longer one (a date years ahead, a daily quota) is not waited out: the
/// token endpoint is called again 120 s later, not after a year. So does a
/// refusal by the token endpoint's client itself, when it is built with
/// this crate's layers and the error is, or holds,
/// [`Error::RateLimited`](crate::Error::RateLimited) or
/// [`Error::CircuitOpen`](crate::Error::CircuitOpen): its quota or breaker
/// says when to come back, and a call before would be refused alike. A
/// source on another client hands the failed answer over the same way:
/// `Err(Error::from(parse_error(status, &headers, &body)).into())`, with
/// [`parse_error`](crate::parse::parse_error) and [`Error`](crate::Error).
/// Recovery is immediate: the first call that succeeds installs
/// its credential and ends the backoff. A failed first load
/// (`current`) is held off the same way, its failure
/// ([`AuthFailure::NoCredential`](super::AuthFailure::NoCredential)) the
/// answer to requests meanwhile. A call that takes longer than the
/// layer's [`refresh_timeout`](super::AuthLayer::refresh_timeout) (10 s by
/// default) has failed: its error is tokio's
/// [`Elapsed`](tokio::time::error::Elapsed), and it is backed off the same
/// way (the call itself is dropped). The call is polled within that
/// deadline: a [`RetryLayer`](crate::RetryLayer) it goes through (the
/// token endpoint's client built with `ApiErrorsLayer`) starts no wait
/// the timeout would cut, and a [`QuotaLayer`](crate::QuotaLayer) holds
/// it no longer (it refuses it at once, `RateLimited`). A `503` with `Retry-After: 20` under the 10 s
/// default comes back at once, hint and all, and holds the next call off
/// for 20 s, rather than being waited on, cut and lost (the endpoint then
/// called a backoff step later). That reaches the retry and quota layers
/// polled inside the call only: a source that runs its client in a task of its
/// own (`tokio::spawn`) should give that client's
/// [`RetryPolicy::max_retry_after`](crate::RetryPolicy::max_retry_after)
/// (or its deadline) below the refresh timeout. So does a renewed credential that
/// the server rejects on its re-send, as it did the one it replaced: the
/// source is not asked for another before the backoff.
///
/// # Refreshed before it expires
///
/// A source that knows when its credentials expire says so on them:
/// [`Credential::expires_in`] (an OAuth2 `expires_in`) or
/// [`Credential::expires_at`] (a JWT `exp`). The layer then refreshes such
/// a credential ahead of its expiry, once 4/5 of the lifetime it had left
/// when installed has passed (a token valid for an hour is refreshed after
/// 48 minutes): by calling [`refresh`](Self::refresh) with it,
/// single-flight, in a task of its own started by the first request past
/// that point. Requests keep using the valid credential meanwhile, so a
/// known expiry never costs a 401. If that refresh fails, the credential
/// stays in use until the server rejects it, and the refresh is tried
/// again after the failure's backoff (as above), before the expiry as
/// after it: a token endpoint that blinked at the refresh point is called
/// again a second or so later, not at the expiry. A refresh ahead that
/// gets the same credential back (a source that caches it, and renews it
/// late: a cloud metadata server, a sidecar) is tried again by the expiry
/// at the latest, however long its backoff has grown. A request made after the expiry, when nothing refreshed the
/// credential in time (an idle client), waits for the refresh rather than
/// send a credential known to have expired; if the refresh fails (or a
/// failure's backoff runs), it goes with the old one. A credential with less than a second left when
/// installed (a JWT `exp` read on a skewed clock) is not refreshed ahead:
/// it is used until rejected, rather than refreshed in a loop.
/// Credentials without an expiry are refreshed only when rejected.
///
/// # What an implementation must not do
///
/// Put a secret in an error. The layer checks the errors it is given: an
/// error whose text (`Display` or `Debug`, anywhere in its source chain)
/// contains the rejected credential is withheld, replaced by a note saying
/// so. But it can only check for the credential it knows: a client secret,
/// a refresh token or a password in an error message would go through. Say
/// what failed ("token endpoint answered 400 invalid_client"), never with
/// what.
///
/// # Plugging in an OAuth2 client
///
/// An existing client (the `oauth2` crate, a cloud SDK's credential
/// provider) goes behind the trait in a few lines: `current` asks it for a
/// token (most such clients cache and refresh on expiry themselves),
/// `refresh` asks for a new one, bypassing its cache. With the `oauth2`
/// crate's client-credentials grant, for example:
///
/// ```text
/// impl TokenSource for MyOAuth {
///     fn current(&self) -> TokenFuture<'_> { self.refresh_inner() }
///     fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
///         Box::pin(async move {
///             let token = self.client.exchange_client_credentials()
///                 .request_async(&self.http).await
///                 .map_err(|e| format!("token endpoint: {}", kind_of(&e)))?; // no secret in it
///             Ok(Credential::new(token.access_token().secret())?)
///         })
///     }
/// }
/// ```
///
/// `examples/oauth_refresh.rs` has a complete source over a loopback
/// token endpoint.
pub trait TokenSource: Send + Sync + 'static {
    /// The credential to use now. Called when the layer has none yet.
    fn current(&self) -> TokenFuture<'_>;

    /// A new credential, replacing `rejected`, which the server refused,
    /// or which is about to expire (see [above](Self#refreshed-before-it-expires)).
    ///
    /// Returning `rejected` itself (the source has nothing newer) ends the
    /// rejected requests with an [`Unauthorized`](super::Unauthorized)
    /// error rather than send them again with a credential known to fail.
    fn refresh<'a>(&'a self, rejected: &'a Credential) -> TokenFuture<'a>;
}

/// A shared or boxed source is the source it holds: written once for both.
macro_rules! forward_token_source {
    ($($pointer:ident),*) => {$(
        impl<T: TokenSource + ?Sized> TokenSource for $pointer<T> {
            fn current(&self) -> TokenFuture<'_> {
                (**self).current()
            }

            fn refresh<'a>(&'a self, rejected: &'a Credential) -> TokenFuture<'a> {
                (**self).refresh(rejected)
            }
        }
    )*};
}

forward_token_source!(Arc, Box);

/// A credential that never changes: an API key.
///
/// `refresh` fails: a rejected API key is the caller's problem, and the
/// request ends in an [`Unauthorized`](super::Unauthorized) error whose
/// [`rejection`](super::Unauthorized::rejection) is the server's answer.
///
/// ```
/// use tower_api_errors::auth::{Credential, StaticToken};
///
/// let key = StaticToken::new(Credential::new("k-123").unwrap());
/// assert_eq!(format!("{key:?}"), "StaticToken(Credential(REDACTED))");
/// ```
#[derive(Debug, Clone)]
pub struct StaticToken(Credential);

impl StaticToken {
    /// A source that always gives `credential`.
    pub fn new(credential: Credential) -> Self {
        StaticToken(credential)
    }
}

impl TokenSource for StaticToken {
    fn current(&self) -> TokenFuture<'_> {
        let credential = self.0.clone();
        Box::pin(async move { Ok(credential) })
    }

    fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
        Box::pin(async { Err("a static credential cannot be refreshed".into()) })
    }
}
