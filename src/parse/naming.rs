//! [`Naming`]: who names a failure's request in the parse layer's errors,
//! and scrubs the body's echoes of the request's credentials.
//!
//! Stand-alone, the parse layer does it itself ([`NamesRequests`], the
//! default): it keeps the method, the URI and fingerprints of the
//! credentials of every request until its response. Under
//! [`ApiErrorsLayer`](crate::ApiErrorsLayer) the retry layer above keeps the
//! whole request anyway and does it on a failure ([`NamedAbove`]), so the
//! parse layer keeps nothing, and its future, which every call moves, is
//! smaller by what it would have kept.

use crate::redact::{RequestContext, RequestSecrets, Scrubber};
use crate::ApiError;
use http::Request;

/// Who names a failure's request and scrubs its echoes: [`NamesRequests`]
/// (the parse layer itself) or [`NamedAbove`] (the retry layer of
/// [`ApiErrorsLayer`](crate::ApiErrorsLayer)). Sealed.
pub trait Naming: keep::Keep {}

/// The parse layer names each failure's request itself (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NamesRequests;

/// A layer above names each failure's request: the parse layer of
/// [`ApiErrorsLayer`](crate::ApiErrorsLayer), whose retry layer keeps the
/// request.
#[derive(Debug, Clone, Copy, Default)]
pub struct NamedAbove;

impl Naming for NamesRequests {}
impl Naming for NamedAbove {}

mod keep {
    use super::*;

    /// What [`NamesRequests`] keeps of a request until its response
    /// (public in a private module: users cannot name it).
    #[derive(Debug)]
    pub struct Kept {
        context: Option<RequestContext>,
        // Fingerprints (not values) of the credentials the request
        // carries, so that a failure body that echoes one can be scrubbed.
        secrets: RequestSecrets,
    }

    /// The workings of [`Naming`](super::Naming), out of users' sight.
    pub trait Keep {
        /// What the parse layer keeps of each request until its response.
        type Kept;
        /// Keeps what naming a failure of `request` needs.
        fn keep<B>(request: &Request<B>) -> Self::Kept;
        /// The request's name for an error of the layer below, if kept.
        fn context(kept: &mut Self::Kept) -> Option<RequestContext>;
        /// Names and scrubs a parsed failure, if this layer does.
        fn finish(kept: &mut Self::Kept, error: &mut ApiError);
    }

    impl Keep for NamesRequests {
        type Kept = Kept;

        fn keep<B>(request: &Request<B>) -> Kept {
            Kept {
                context: Some(RequestContext::new(
                    request.method().clone(),
                    request.uri().clone(),
                )),
                secrets: RequestSecrets::of(request.headers()),
            }
        }

        fn context(kept: &mut Kept) -> Option<RequestContext> {
            kept.context.take()
        }

        fn finish(kept: &mut Kept, error: &mut ApiError) {
            let uri = kept.context.as_ref().map(RequestContext::raw_uri);
            error.scrub(&Scrubber::new(kept.secrets, uri));
            error.set_request(kept.context.take());
            crate::observe::api_error(error);
        }
    }

    impl Keep for NamedAbove {
        type Kept = ();

        fn keep<B>(_: &Request<B>) {}

        fn context(_: &mut ()) -> Option<RequestContext> {
            None
        }

        fn finish(_: &mut (), _: &mut ApiError) {}
    }
}
