//! `tonic::Status` from our errors, for answering a gRPC caller with an
//! upstream's error.

use crate::{ApiError, Error, ErrorKind};
use bytes::Bytes;
use std::sync::Arc;

/// The gRPC code for an error kind, for answering a gRPC caller with an
/// upstream's error.
pub fn code_for_kind(kind: ErrorKind) -> tonic::Code {
    match kind {
        ErrorKind::BadRequest | ErrorKind::Validation => tonic::Code::InvalidArgument,
        ErrorKind::Unauthorized => tonic::Code::Unauthenticated,
        ErrorKind::PaymentRequired | ErrorKind::RateLimited => tonic::Code::ResourceExhausted,
        ErrorKind::Forbidden => tonic::Code::PermissionDenied,
        ErrorKind::NotFound => tonic::Code::NotFound,
        ErrorKind::Conflict => tonic::Code::AlreadyExists,
        ErrorKind::Timeout => tonic::Code::DeadlineExceeded,
        ErrorKind::UpgradeRequired => tonic::Code::FailedPrecondition,
        ErrorKind::Unavailable | ErrorKind::BadGateway | ErrorKind::Transport => {
            tonic::Code::Unavailable
        }
        ErrorKind::Server => tonic::Code::Internal,
        _ => tonic::Code::Unknown,
    }
}

/// The code a gRPC client gives an HTTP response that carries no
/// `grpc-status` (a proxy's, a load balancer's), as gRPC's
/// `doc/http-grpc-status-mapping.md` has it: the statuses a resend may
/// heal (429, 502, 503, 504) are `UNAVAILABLE`, the one a caller's retry
/// policy retries; 504 is not `DEADLINE_EXCEEDED`, which says the
/// caller's own deadline passed.
fn code_for_http(status: http::StatusCode) -> tonic::Code {
    match status.as_u16() {
        400 => tonic::Code::Internal,
        401 => tonic::Code::Unauthenticated,
        403 => tonic::Code::PermissionDenied,
        404 => tonic::Code::Unimplemented,
        429 | 502 | 503 | 504 => tonic::Code::Unavailable,
        _ => tonic::Code::Unknown,
    }
}

/// An upstream's error as a `tonic::Status` for a gRPC caller: the
/// upstream's own gRPC code when it answered with one
/// ([`ApiError::grpc_status`]), else the code for the kind; the error's
/// one-line `Display` (credentials redacted) as the message.
impl From<&ApiError> for tonic::Status {
    fn from(error: &ApiError) -> Self {
        let code = error
            .grpc_status()
            .map_or_else(|| code_for_kind(error.kind()), tonic::Status::code);
        tonic::Status::new(code, error.to_string())
    }
}

/// A call cut by its deadline is `DEADLINE_EXCEEDED`, as the gRPC status
/// codes say a client reports a deadline that expired before the server
/// answered (not `UNAVAILABLE`, which tells a caller's retry policy to
/// send again).
impl From<&Error> for tonic::Status {
    fn from(error: &Error) -> Self {
        match error {
            Error::Api(api) => tonic::Status::from(api),
            Error::Transport(cut) if cut.is_deadline() => {
                tonic::Status::new(tonic::Code::DeadlineExceeded, error.to_string())
            }
            _ => tonic::Status::new(code_for_kind(error.kind()), error.to_string()),
        }
    }
}

/// By value, so that a tonic handler can `?` our errors:
///
/// ```
/// async fn handler() -> Result<(), tonic::Status> {
///     let upstream: Result<(), tower_api_errors::Error> =
///         Err(tower_api_errors::TransportError::new("connection reset").into());
///     upstream?;
///     Ok(())
/// }
/// # let status = futures_executor_block_on(handler()).unwrap_err();
/// # fn futures_executor_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// assert_eq!(status.code(), tonic::Code::Unavailable);
/// ```
impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        tonic::Status::from(&error)
    }
}

impl From<ApiError> for tonic::Status {
    fn from(error: ApiError) -> Self {
        tonic::Status::from(&error)
    }
}

/// A call's error as the `tonic::Status` a gRPC caller gets, for the edge
/// of a client stack: `tonic::client::Grpc` over
/// `ApiErrorsLayer::new().layer(channel).map_err(into_status)`, as the
/// README's tonic line has it.
///
/// tonic makes a `Status` of a service's error itself, but reads a code
/// only from a `tonic::Status` in the error's source chain: the server's,
/// which the parse layer keeps ([`ApiError::grpc_status`]); every other
/// error (a proxy's plain 503, a transport failure, the crate's own
/// deadline or quota refusal) reached the caller as `UNKNOWN`. Here:
///
/// - the server's status, when the error carries one, as tonic reads it
///   (its code, message, details and metadata);
/// - an HTTP answer without a `grpc-status` (a proxy's 503, a load
///   balancer's 404): the code gRPC's HTTP-to-gRPC status mapping gives
///   it (429, 502, 503 and 504 `UNAVAILABLE`, 404 `UNIMPLEMENTED`, 400
///   `INTERNAL`, any other status without a row `UNKNOWN`), not the
///   kind's, which is for an HTTP API's errors;
/// - a call its deadline cut (the call's `grpc-timeout`, the retry
///   policy's deadline, tonic's own timeout): `DEADLINE_EXCEEDED`;
/// - else the code for the error's kind ([`code_for_kind`]);
///
/// the error's one-line `Display` (credentials redacted) as the message
/// where the server sent none.
///
/// Either way the typed [`Error`] is the status's source.
///
/// ```
/// use std::error::Error as _;
/// use tower_api_errors::grpc::into_status;
/// use tower_api_errors::{Error, TransportError};
///
/// let status = into_status(TransportError::new("connection reset").into());
/// assert_eq!(status.code(), tonic::Code::Unavailable);
/// let typed = status.source().and_then(|s| s.downcast_ref::<Error>()).unwrap();
/// assert!(typed.to_string().contains("connection reset"));
/// ```
pub fn into_status(error: Error) -> tonic::Status {
    let mut status = match error.api().and_then(ApiError::grpc_status) {
        Some(server) => tonic::Status::with_details_and_metadata(
            server.code(),
            server.message(),
            Bytes::copy_from_slice(server.details()),
            server.metadata().clone(),
        ),
        // (A failure on a 200 is a gRPC status the parse layer did not
        // keep: its kind is the gRPC code's.)
        None => match error
            .api()
            .filter(|api| api.status() != http::StatusCode::OK)
        {
            Some(api) => tonic::Status::new(code_for_http(api.status()), api.to_string()),
            None => tonic::Status::from(&error),
        },
    };
    status.set_source(Arc::new(error));
    status
}
