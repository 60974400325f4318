//! The OpenTelemetry backend (feature `opentelemetry`): the instruments,
//! their attributes, and the retry layer's per-call recorder. Its public
//! page, with the table of every metric, is [`metrics`](crate::metrics).

mod attributes;
mod call;
mod instruments;

// Every public name of the backend, re-exported on the
// [`metrics`](crate::metrics) page.
pub use attributes::*;
pub(crate) use call::{Call, Waiting};
pub use instruments::*;
