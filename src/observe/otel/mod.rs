//! The OpenTelemetry backend (feature `opentelemetry`): the instruments,
//! their attributes, and the retry layer's per-call recorder. Its public
//! page, with the table of every metric, is [`metrics`](crate::metrics).

mod attributes;
mod call;
mod instruments;

pub use attributes::{
    AUTH_OUTCOME, BREAKER_ORIGIN, BREAKER_STATE, ERROR_CODE, ERROR_TYPE, FAILED_FAST_REASON,
    HEDGE_EVENT, HTTP_REQUEST_METHOD, HTTP_REQUEST_RESEND_COUNT, HTTP_RESPONSE_STATUS_CODE,
    SERVER_ADDRESS, SERVER_PORT, STOP_REASON, WAIT_SOURCE,
};
pub(crate) use call::{Call, Waiting};
pub use instruments::{
    FailFast, Metrics, WaitSource, ATTEMPT_BUCKETS, CALL_DURATION_BUCKETS, HTTP_DURATION_BUCKETS,
    PREFIX, SCOPE, WAIT_DURATION_BUCKETS,
};
