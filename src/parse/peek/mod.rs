//! Errors inside successes (opt-in): [`SuccessPeekLayer`] peeks at small
//! 2xx bodies of chosen content types and turns those a
//! [`FailureInSuccess`] detector recognises into typed errors.
//!
//! A layer of its own, beside the parse layer whose
//! [`ErrorParser`](crate::parse::ErrorParser) reads the flagged bodies:
//! place it directly above the
//! [`ErrorBodyParseLayer`](crate::ErrorBodyParseLayer). See
//! [`SuccessPeekLayer`] for what is peeked, and an example.

mod body;
mod detect;
mod future;
mod layer;
mod service;

pub use body::PeekBody;
pub use detect::{FailureInSuccess, GraphQlErrors, OkFalse, XmlErrorRoot};
pub use future::PeekFuture;
pub use layer::{SuccessPeekLayer, DEFAULT_MAX_PEEK};
pub use service::SuccessPeek;
