//! `tonic::Status` from our errors, for answering a gRPC caller with an
//! upstream's error.

use crate::{ApiError, Error, ErrorKind};

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

impl From<&Error> for tonic::Status {
    fn from(error: &Error) -> Self {
        match error.api() {
            Some(api) => tonic::Status::from(api),
            None => tonic::Status::new(code_for_kind(error.kind()), error.to_string()),
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
