//! [`Kept`]: what the parse layer (and the success peek layer, the same
//! way) keeps of a request to name its failure and scrub the failure body's
//! echoes of the request's credentials.
//!
//! Under a layer that recorded the call's
//! [`CallContext`](crate::context::CallContext) (the retry layer), the
//! parse layer finds it and keeps a reference to it; used alone, it keeps
//! the method, the URI and fingerprints of the request's credentials (see
//! [the contract](crate::context)). Either way it names and scrubs its
//! errors itself, the same way, before it logs them.
//!
//! A context found from a layer that set a header in between (the auth
//! layer, its credential; [`CallContext::enter_setting`]) does not hold
//! that header's value as this request carries it: the retry layer's
//! copy was recorded before the credential went in, and the auth layer's
//! own copy holds its first credential, not a renewed one. That value is
//! fingerprinted here, from the request: the failure's `api_error` event
//! is logged before the auth layer scrubs what it returns.

use crate::context::CallContext;
use crate::redact::{RequestContext, RequestSecrets, Scrubber};
use crate::ApiError;
use http::{HeaderValue, Request};

/// What the parse layer keeps of each request until its response.
// Not boxed: the layer's own record would then cost an allocation per
// call when it is used alone.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Kept {
    /// The call's context, found from a layer above, and the header value
    /// a layer in between set (none when no layer did), fingerprinted
    /// only if the call fails.
    Found {
        context: CallContext,
        set: Option<HeaderValue>,
    },
    /// The layer's own record.
    Own {
        context: RequestContext,
        // Fingerprints (not values) of the credentials the request
        // carries, so that a failure body that echoes one can be scrubbed.
        secrets: RequestSecrets,
    },
    /// Given to an error already.
    Taken,
}

impl Kept {
    /// Keeps what naming a failure of `request` needs.
    pub(crate) fn of<B>(request: &Request<B>) -> Kept {
        match CallContext::find_setting(request) {
            Some((context, set)) => Kept::Found {
                context,
                set: set.cloned(),
            },
            None => Kept::Own {
                context: RequestContext::new(request.method().clone(), request.uri().clone()),
                secrets: RequestSecrets::of(request.headers()),
            },
        }
    }

    /// The request's name, for an error of the layer below.
    pub(crate) fn take_context(&mut self) -> Option<RequestContext> {
        match std::mem::replace(self, Kept::Taken) {
            Kept::Found { context, .. } => Some(context.request()),
            Kept::Own { context, .. } => Some(context),
            Kept::Taken => None,
        }
    }

    /// The failure `read` parses with the scrubber of the request's
    /// credentials and URI secrets (which scrubs its message and code
    /// before they are bounded: a replacement may be longer than what it
    /// replaces), scrubbed of their echoes, named and logged.
    pub(crate) fn finish(&mut self, read: impl FnOnce(Option<&Scrubber>) -> ApiError) -> ApiError {
        let (scrubber, request) = match std::mem::replace(self, Kept::Taken) {
            Kept::Found { context, set } => {
                // The set value first: it is the one this request carried
                // (after its scheme, as the auth layer scrubs it).
                let set = set.map_or_else(RequestSecrets::default, |value| {
                    RequestSecrets::of_authorization(value.as_bytes())
                });
                let secrets = set.and(context.secrets());
                let scrubber = Scrubber::new(secrets, Some(context.uri()));
                (Some(scrubber), Some(context.request()))
            }
            Kept::Own { context, secrets } => {
                let scrubber = Scrubber::new(secrets, Some(context.raw_uri()));
                (Some(scrubber), Some(context))
            }
            Kept::Taken => (None, None),
        };
        let mut error = read(scrubber.as_ref());
        if let Some(scrubber) = &scrubber {
            error.scrub(scrubber);
            error.set_request(request);
        }
        crate::observe::api_error(&error);
        error
    }
}
