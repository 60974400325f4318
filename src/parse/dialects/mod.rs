//! The built-in dialects, one small parser each.
//!
//! They are tried in the order of [`BUILT_IN`]'s list: the most specific
//! shapes first, the catch-alls last.

mod errors_list;
mod flat;
mod nested;
mod oauth2;
mod problem;
mod text;

pub use errors_list::ErrorsList;
pub use flat::FlatError;
pub use nested::NestedError;
pub use oauth2::OAuth2Error;
pub use problem::ProblemDetails;
pub use text::PlainText;

use super::Dialect;

/// The built-in dialects, in the order they are tried: (with the `grpc`
/// feature, [`GrpcStatus`](crate::grpc::GrpcStatus)), [`ProblemDetails`],
/// [`NestedError`], [`OAuth2Error`], [`ErrorsList`], [`FlatError`],
/// [`PlainText`].
pub static BUILT_IN: &[&dyn Dialect] = &[
    #[cfg(feature = "grpc")]
    &crate::grpc::GrpcStatus,
    &ProblemDetails,
    &NestedError,
    &OAuth2Error,
    &ErrorsList,
    &FlatError,
    &PlainText,
];
