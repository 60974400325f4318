//! The built-in dialects, one small parser each.
//!
//! They are tried in the order of [`BUILT_IN`]'s list: the most specific
//! shapes first, the catch-alls last.

mod array;
mod errors_list;
mod flat;
#[cfg(feature = "grpc")]
pub(crate) mod grpc;
mod jsonrpc;
pub(crate) mod markup;
mod nested;
mod oauth2;
mod odata;
mod problem;
mod soap;
mod tagged;
mod text;

pub use array::ErrorArray;
pub use errors_list::ErrorsList;
pub use flat::FlatError;
#[cfg(feature = "grpc")]
pub use grpc::GrpcStatus;
pub use jsonrpc::JsonRpcError;
pub use nested::NestedError;
pub use oauth2::OAuth2Error;
pub use odata::ODataError;
pub use problem::ProblemDetails;
pub use soap::SoapFault;
pub use tagged::TaggedUnion;
pub use text::PlainText;

use super::Dialect;

/// The built-in dialects, in the order they are tried: (with the `grpc`
/// feature, [`GrpcStatus`]), [`ProblemDetails`],
/// [`JsonRpcError`], [`ODataError`], [`TaggedUnion`], [`NestedError`],
/// [`OAuth2Error`], [`ErrorsList`], [`ErrorArray`], [`FlatError`],
/// [`SoapFault`], [`PlainText`].
#[cfg_attr(
    not(feature = "grpc"),
    doc = "",
    doc = "[`GrpcStatus`]: https://docs.rs/tower-api-errors/latest/tower_api_errors/grpc/struct.GrpcStatus.html"
)]
pub static BUILT_IN: &[&dyn Dialect] = &[
    #[cfg(feature = "grpc")]
    &grpc::GrpcStatus,
    &ProblemDetails,
    &JsonRpcError,
    &ODataError,
    &TaggedUnion,
    &NestedError,
    &OAuth2Error,
    &ErrorsList,
    &ErrorArray,
    &FlatError,
    &SoapFault,
    &PlainText,
];
