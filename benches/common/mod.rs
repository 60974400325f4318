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

/// An upstream that answers 200 at once, for any request body type.
pub fn ok_service<B>(
) -> impl Service<Request<B>, Response = Response<Full<Bytes>>, Error = Infallible, Future = impl Send>
       + Copy {
    service_fn(|_req: Request<B>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
    })
}

/// A typical GET: a query, one header, no body.
pub fn request() -> Request<Full<Bytes>> {
    Request::get("http://api.test/items?page=2")
        .header("accept", "application/json")
        .body(Full::new(Bytes::new()))
        .unwrap()
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
