//! Authenticate every request, and re-authenticate once when the server
//! says the credential is no longer good.
//!
//! [`AuthLayer`] sets a credential from a [`TokenSource`] on every request
//! (`Authorization: Bearer <token>` by default; any header and scheme, or
//! none, by configuration). When the server rejects it (a 401; or a 400 or
//! 403 whose `WWW-Authenticate` says `error="invalid_token"`, RFC 6750
//! §3.1), the layer renews the credential and sends the request again,
//! once. (A 401 whose `WWW-Authenticate` says `error="insufficient_scope"`
//! is an answer, not a rejection: the token is good but lacks a scope, and
//! a new one would lack it too; so is DPoP's `error="use_dpop_nonce"`, RFC
//! 9449 §9: the token is good, the proof needs the server's nonce.) With
//! the `grpc` feature, gRPC's 401 is one too: a trailers-only `UNAUTHENTICATED`, which is how a server's auth
//! interceptor refuses a token; and every send the layer makes after a wait
//! (the first credential loading, a renewal) carries the time left of the
//! call's `grpc-timeout`, not the whole (gRFC A6). This is what vendor docs prescribe ("on 401, re-authenticate,
//! then retry") and what every hand-written version gets wrong in the same
//! ways; here is how each is handled:
//!
//! | pitfall | here |
//! |---|---|
//! | N concurrent 401s trigger N refreshes | one refresh per rejected credential, **single-flight**: every request rejected with it waits for the same refresh |
//! | a request that sent an older credential triggers yet another refresh | credentials carry a generation; a request rejected with an older one than the current just goes again with the current one, no refresh |
//! | the caller that started the refresh gives up, and the others hang or start over | the refresh runs in a task of its own: dropping any request, the first included, does not cancel it; a runtime shutting down under it (a layer shared by several runtimes) is no failure: the requests still waiting start it again |
//! | the re-send goes out with an empty body | the re-send carries the identical body: a [`ReplayBody`](crate::retry::ReplayBody) copy (or a clone); a body too large to replay is not re-sent, and the error says so ([`AuthFailure::BodyNotReplayable`]) |
//! | a refresh that fails loops forever | a failed refresh, or one that gives back the rejected credential, ends the request in one typed [`Unauthorized`] error, its `source()` the refresh failure; a rejection of the re-send is returned as it is, never renewed again |
//! | a token endpoint that is down gets one call per failing request | a failed refresh is shared: every request rejected with that credential, or waiting on the refresh, gets its failure; the next refresh waits a jittered backoff (1 s doubling to 30 s; [`AuthLayer::refresh_backoff`]), and meanwhile a rejection with the same credential ends at once in that failure ([`AuthFailure::RefreshBackingOff`]); the first refresh that succeeds ends the backoff; a token endpoint that said when to come back (its `Retry-After`, read through this crate's stack, up to 120 s; or its client's own quota or breaker refusing the call) is not called before ([`TokenSource`](TokenSource#when-the-token-endpoint-fails)) |
//! | a token source whose new credentials the server rejects too (a revoked client, a wrong audience) is called once per request | a renewed credential rejected on its re-send counts as a failed refresh (once, however many requests it was re-sent with): the next refresh for it waits the backoff (longer for each in a row), meanwhile a rejection with it ends at once ([`AuthFailure::RefreshBackingOff`]); a renewed credential accepted ends the streak |
//! | a token endpoint that accepts and never answers holds every request, and every later refresh, for ever | each call to the token source is bounded (10 s; [`AuthLayer::refresh_timeout`]): past it, the call fails like any failed refresh, backed off the same way |
//! | every token expiry costs a 401 and a re-send | a credential that carries its expiry ([`Credential::expires_in`], [`expires_at`](Credential::expires_at)) is refreshed ahead, at 4/5 of its life, single-flight, in its own task, while requests keep using it; if that fails, it stays in use until rejected, and the refresh is tried again a backoff step later ([`TokenSource`](TokenSource#refreshed-before-it-expires)) |
//! | the auth retry eats the transient-retry budget | the re-send happens inside one attempt of the [`RetryLayer`](crate::RetryLayer): it counts no attempt and draws nothing from the budget; an [`AuthReport`] says what happened |
//! | the token ends up in a log line | a [`Credential`] never prints; nothing the layer records holds one; token source errors are checked (below) |
//!
//! The rejection arrives either as a response (the layer over a raw client
//! or a classifier) or as `Err(Error::Api(_))` from an
//! [`ErrorBodyParseLayer`](crate::ErrorBodyParseLayer) below: both are
//! handled. (There the challenge's `error` is the one the parse layer kept,
//! [`ApiError::challenge_error`](crate::ApiError::challenge_error); without
//! one, the body's error code stands for it.)
//!
//! A request that carries its own credential header goes through as it is,
//! and is not renewed (it is not the layer's to renew), unless
//! [`override_explicit`](AuthLayer::override_explicit) says to replace it.
//!
//! # Where it goes in the stack, and why
//!
//! ```text
//! [HedgeLayer] -> RetryLayer -> [CircuitBreakerLayer] -> AuthLayer -> QuotaLayer -> ErrorBodyParseLayer -> client
//! ```
//!
//! - **Inside [`RetryLayer`](crate::RetryLayer)**: every attempt passes the
//!   auth layer, so a retry sent after a refresh carries the current
//!   credential, not the one the first attempt had. The re-send is part of
//!   the attempt: it costs no retry budget, and a rejection of the re-send
//!   is not retryable for the retry layer either (no loop between the two).
//!   **This promise wins over the server's word**: a re-send rejected
//!   again is not retried even when the server marks it retryable
//!   (`x-should-retry: true`), because a 401 that says "retry" asks for a
//!   retry with a credential, which the re-send already was. The contract
//!   is public: the [`AuthReport`] on the answer says the re-send was made,
//!   and [`RetryPolicy`](crate::RetryPolicy) reads it
//!   ([`RetryContext::auth_rejected_again`](crate::retry::RetryContext::auth_rejected_again)).
//!   "Once" is per pass through the auth layer: a retry for another
//!   reason (a 503, say) passes it again, and could in turn be renewed
//!   once if its credential were rejected, so at most one renewal per
//!   attempt, bounded by the retry policy's `max_attempts`.
//! - **Above the quota layer**: the re-send is a physical send like any
//!   other, so it passes the quota gate below too; with auth below quota, a
//!   re-send would skip the gate.
//!   The price: a request passes the auth layer before the quota layer
//!   holds it, so one held past its credential's expiry goes with that
//!   credential. The server's 401 is then renewed once for all such
//!   requests and each re-send passes the gate again: every request still
//!   ends once, a round trip later. A credential that says when it expires
//!   is refreshed ahead at 4/5 of its life, so only a hold longer than the
//!   fifth left (12 minutes of an hour's token; the quota layer holds 120 s
//!   at most by default) meets it
//!   (`tests/auth_refresh.rs::a_credential_expiring_during_a_quota_hold_costs_one_refresh_and_every_request_succeeds`).
//! - The retry layer hands its inner service a
//!   [`ReplayBody`](crate::retry::ReplayBody); the auth layer re-sends a
//!   copy of that same body ([`ResendBody`]): the bytes are kept once, for
//!   both layers. Without a retry layer, a `Clone` body (`Full<Bytes>`) is
//!   cloned before the first send; wrap a streamed body in
//!   [`ReplayBody::new`](crate::retry::ReplayBody::new) yourself.
//!
//! # Cost
//!
//! With a credential cached: one uncontended lock, two reference-count
//! clones (the formatted header value), and what a re-send is rebuilt
//! from: under a retry layer, the call's
//! [`CallContext`](crate::context::CallContext) the retry layer recorded
//! (no copy of its own); alone, a copy of the request's method, URI,
//! headers and extensions, recorded here. The token source is called once for the first
//! credential, then once per rejected credential. The shared refresh needs
//! a Tokio runtime with timers (it is spawned, and timed out), as the
//! retry layer's waits do.
//!
//! # Secrets
//!
//! A [`Credential`] prints as `REDACTED`, and its header value is marked
//! sensitive. No error, `Debug` output or tracing event of this layer holds
//! one. A token source's error becomes the `source()` of an
//! [`Unauthorized`] error: it is checked first, and an error whose text
//! (`Display` or `Debug`, anywhere along its chain) contains the rejected
//! credential is withheld, replaced by a note saying so. The layer can only
//! check for the credential it knows: a [`TokenSource`] must never put
//! another secret (client secret, refresh token, password) in its errors.
//!
//! # Plugging in an OAuth2 client
//!
//! Implement [`TokenSource`] over it: `current` asks the client for a
//! token, `refresh` for a new one (see the trait's docs for the `oauth2`
//! crate's client-credentials grant). `examples/oauth_refresh.rs` is a
//! complete client-credentials source against a loopback token endpoint,
//! with 50 concurrent requests across a token expiry and one refresh.
//!
//! # The default: `Authorization: Bearer`, renewed once on 401
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_api_errors::auth::{AuthLayer, AuthReport, Credential, Renewal, TokenFuture, TokenSource};
//!
//! /// Hands out "token-1", then "token-2", "token-3"... on each refresh.
//! #[derive(Default)]
//! struct Numbered(AtomicU32);
//!
//! impl TokenSource for Numbered {
//!     fn current(&self) -> TokenFuture<'_> {
//!         let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
//!         Box::pin(async move { Ok(Credential::new(&format!("token-{n}"))?) })
//!     }
//!     fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
//!         self.current()
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // An API that has already expired token-1.
//! let api = service_fn(|req: Request<Full<Bytes>>| async move {
//!     let status = match req.headers()["authorization"].to_str().unwrap() {
//!         "Bearer token-2" => 200,
//!         _ => 401,
//!     };
//!     Ok::<_, std::convert::Infallible>(Response::builder().status(status).body(Full::new(Bytes::new())).unwrap())
//! });
//! let source = Arc::new(Numbered::default());
//! let client = ServiceBuilder::new().layer(AuthLayer::new(source.clone())).service(api);
//!
//! let response = client.oneshot(Request::post("/items").body(Full::new(Bytes::from("{}"))).unwrap()).await.unwrap();
//! assert_eq!(response.status(), 200);
//! let report = response.extensions().get::<AuthReport>().unwrap();
//! assert_eq!((report.sends(), report.renewal()), (2, Some(Renewal::Refreshed)));
//! assert_eq!(source.0.load(Ordering::SeqCst), 2, "the first credential, and one refresh");
//! # }
//! ```
//!
//! # Customised: an API key header, in the full stack
//!
//! ```
//! use bytes::Bytes;
//! use http::{HeaderName, Request, Response};
//! use http_body_util::Full;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_api_errors::auth::{AuthFailure, AuthLayer, Credential, StaticToken};
//! use tower_api_errors::retry::ReplayBody;
//! use tower_api_errors::{Error, ErrorBodyParseLayer, ErrorKind, RetryLayer, RetryPolicy};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // An API that revoked the key.
//! let api = service_fn(|req: Request<ReplayBody<Full<Bytes>>>| async move {
//!     assert_eq!(req.headers()["x-api-key"], "k-123");
//!     let body = r#"{"error": {"code": 401, "message": "Invalid token"}}"#;
//!     Ok::<_, std::convert::Infallible>(Response::builder().status(401).body(Full::new(Bytes::from(body))).unwrap())
//! });
//! let key = StaticToken::new(Credential::new("k-123").unwrap());
//! let client = ServiceBuilder::new()
//!     .layer(RetryLayer::new(RetryPolicy::default()))
//!     .layer(AuthLayer::new(key).header(HeaderName::from_static("x-api-key")).no_scheme())
//!     .layer(ErrorBodyParseLayer::new())
//!     .service(api);
//!
//! let error = client.oneshot(Request::get("/me").body(Full::new(Bytes::new())).unwrap()).await.unwrap_err();
//! // A static key cannot be refreshed: one typed error, with the server's answer.
//! let Error::Unauthorized(unauthorized) = &error else { panic!("{error}") };
//! assert_eq!(unauthorized.reason(), AuthFailure::RefreshFailed);
//! assert_eq!(unauthorized.rejection().unwrap().message(), "Invalid token");
//! assert_eq!((error.kind(), error.retries().attempts()), (ErrorKind::Unauthorized, 1));
//! assert!(!format!("{error} {error:?}").contains("k-123"));
//! # }
//! ```

mod body;
mod challenge;
mod credential;
mod error;
mod future;
mod layer;
mod service;
mod source;
mod state;

pub use body::ResendBody;
pub use challenge::rejects_credential;
pub use credential::{Credential, InvalidCredential};
pub use error::{AuthFailure, AuthReport, Renewal, Unauthorized};
pub use future::ResponseFuture;
pub use layer::AuthLayer;
pub use service::Auth;
pub use source::{StaticToken, TokenFuture, TokenSource};
