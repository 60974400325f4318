//! What the benches share: an in-memory upstream, a typical request, and
//! the baseline a tower user writes by hand: tower-http's
//! `ServerErrorsAsFailures` classification inside a `tower::retry::Policy`.
#![allow(dead_code)]

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use std::convert::Infallible;
use std::future::{ready, Ready};
use std::sync::Arc;
use std::time::Duration;
use tower::retry::budget::{Budget, TpsBudget};
use tower::retry::Policy;
use tower::{service_fn, Service};
use tower_http::classify::{ClassifiedResponse, ClassifyResponse, ServerErrorsAsFailures};

/// An upstream that answers 200 at once, for any request body type, with
/// the headers a typical API success carries.
pub fn ok_service<B>(
) -> impl Service<Request<B>, Response = Response<Full<Bytes>>, Error = Infallible, Future = impl Send>
       + Copy {
    service_fn(|_req: Request<B>| async {
        Ok::<_, Infallible>(
            Response::builder()
                .header("content-type", "application/json")
                .header("date", "Mon, 23 Nov 2026 21:00:00 GMT")
                .header("x-request-id", "req_8f3c2a1b9d7e4f60")
                .header("x-ratelimit-remaining", "4987")
                .body(Full::new(Bytes::from_static(br#"{"id": 1}"#)))
                .unwrap(),
        )
    })
}

/// A success that announces no quota, with the other headers of
/// `ok_service`'s.
pub fn unannounced_response() -> Response<Full<Bytes>> {
    Response::builder()
        .header("content-type", "application/json")
        .header("date", "Mon, 23 Nov 2026 21:00:00 GMT")
        .header("x-request-id", "req_8f3c2a1b9d7e4f60")
        .body(Full::new(Bytes::from_static(br#"{"id": 1}"#)))
        .unwrap()
}

/// A typical GET: a URI with a query, two header values (one of them a
/// credential, as most API calls carry), no body.
pub fn request() -> Request<Full<Bytes>> {
    Request::get("https://api.example.com/v1/items?page=2&per_page=50")
        .header("accept", "application/json")
        .header("authorization", "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// The same GET without its credential, for stacks whose auth layer adds
/// one.
pub fn request_without_credential() -> Request<Full<Bytes>> {
    Request::get("https://api.example.com/v1/items?page=2&per_page=50")
        .header("accept", "application/json")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// How a bench binary runs: under criterion, or (environment `COUNT=<row>`,
/// `ITERS=<n>`) running one row `n` times and nothing else, for
/// instruction counts under `valgrind --tool=cachegrind` (see
/// `benches/instructions.sh`).
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    Criterion,
    Count { row: usize, iters: u64 },
}

impl Mode {
    pub fn from_env() -> Mode {
        let row = std::env::var("COUNT").ok().and_then(|v| v.parse().ok());
        let iters = std::env::var("ITERS").ok().and_then(|v| v.parse().ok());
        match (row, iters) {
            (Some(row), Some(iters)) => Mode::Count { row, iters },
            _ => Mode::Criterion,
        }
    }
}

/// The hand-written baseline: retry 5xx (as tower-http classifies them) up
/// to twice, optionally within a `TpsBudget` like ours.
#[derive(Clone)]
pub struct ServerErrorsPolicy {
    retries_left: u32,
    budget: Option<Arc<TpsBudget>>,
    deposited: bool,
}

impl ServerErrorsPolicy {
    /// Without a budget.
    pub fn new() -> Self {
        ServerErrorsPolicy {
            retries_left: 2,
            budget: None,
            deposited: false,
        }
    }

    /// With a budget of the same shape as our default.
    pub fn with_budget() -> Self {
        ServerErrorsPolicy {
            budget: Some(Arc::new(TpsBudget::new(Duration::from_secs(10), 1, 0.2))),
            ..ServerErrorsPolicy::new()
        }
    }
}

impl<B, E> Policy<Request<Full<Bytes>>, Response<B>, E> for ServerErrorsPolicy {
    type Future = Ready<()>;

    fn retry(
        &mut self,
        _: &mut Request<Full<Bytes>>,
        result: &mut Result<Response<B>, E>,
    ) -> Option<Self::Future> {
        let Ok(response) = result else { return None };
        match ServerErrorsAsFailures::new().classify_response(response) {
            ClassifiedResponse::Ready(Err(_)) if self.retries_left > 0 => {
                if self
                    .budget
                    .as_ref()
                    .is_some_and(|budget| !budget.withdraw())
                {
                    return None;
                }
                self.retries_left -= 1;
                Some(ready(()))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, req: &Request<Full<Bytes>>) -> Option<Request<Full<Bytes>>> {
        if !self.deposited {
            self.deposited = true;
            if let Some(budget) = &self.budget {
                budget.deposit();
            }
        }
        let mut clone = Request::new(req.body().clone());
        *clone.method_mut() = req.method().clone();
        *clone.uri_mut() = req.uri().clone();
        *clone.version_mut() = req.version();
        *clone.headers_mut() = req.headers().clone();
        Some(clone)
    }
}
