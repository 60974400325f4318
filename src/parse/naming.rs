//! [`Kept`]: what the parse layer keeps of a request to name its failure
//! and scrub the failure body's echoes of the request's credentials.
//!
//! Under a layer that recorded the call's
//! [`CallContext`](crate::context::CallContext) (the retry layer), the
//! parse layer finds it and keeps a reference to it; used alone, it keeps
//! the method, the URI and fingerprints of the request's credentials (see
//! [the contract](crate::context)). Either way it names and scrubs its
//! errors itself, the same way.

use crate::context::CallContext;
use crate::redact::{RequestContext, RequestSecrets, Scrubber};
use crate::ApiError;
use http::Request;

/// What the parse layer keeps of each request until its response.
// Not boxed: the layer's own record would then cost an allocation per
// call when it is used alone.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Kept {
    /// The call's context, found from a layer above.
    Found(CallContext),
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
        match CallContext::find(request) {
            Some(found) => Kept::Found(found),
            None => Kept::Own {
                context: RequestContext::new(request.method().clone(), request.uri().clone()),
                secrets: RequestSecrets::of(request.headers()),
            },
        }
    }

    /// The request's name, for an error of the layer below.
    pub(crate) fn take_context(&mut self) -> Option<RequestContext> {
        match std::mem::replace(self, Kept::Taken) {
            Kept::Found(found) => Some(found.request()),
            Kept::Own { context, .. } => Some(context),
            Kept::Taken => None,
        }
    }

    /// Names a parsed failure and scrubs its echoes of the request's
    /// credentials and URI secrets.
    pub(crate) fn finish(&mut self, error: &mut ApiError) {
        match std::mem::replace(self, Kept::Taken) {
            Kept::Found(found) => {
                error.scrub(&Scrubber::new(found.secrets(), Some(found.uri())));
                error.set_request(Some(found.request()));
            }
            Kept::Own { context, secrets } => {
                error.scrub(&Scrubber::new(secrets, Some(context.raw_uri())));
                error.set_request(Some(context));
            }
            Kept::Taken => {}
        }
        crate::observe::api_error(error);
    }
}
