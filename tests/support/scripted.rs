//! What the probe suites (`tests/promises*.rs`) share: a scripted answer,
//! a GET, and a retry policy whose waits are exact.
#![allow(dead_code)]

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tower::{service_fn, BoxError, ServiceExt};
use tower_api_errors::retry::{Backoff, Jitter, RetryPolicy};

/// An answer with `status`, `headers` and `body`.
pub fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

/// A GET of `uri` with an empty body.
pub fn get(uri: &str) -> Request<Full<Bytes>> {
    Request::get(uri).body(Full::new(Bytes::new())).unwrap()
}

/// A GET of `uri` through a clone of `client`; it must not fail.
pub async fn send<S>(client: &S, uri: &str) -> S::Response
where
    S: tower::Service<Request<Full<Bytes>>> + Clone,
    S::Error: std::fmt::Debug,
{
    client.clone().oneshot(get(uri)).await.unwrap()
}

/// A GET of `first` through `client` (to learn from), then how long a GET
/// of `then` takes; neither may fail.
pub async fn held_after<S>(client: &S, first: &str, then: &str) -> Duration
where
    S: tower::Service<Request<Full<Bytes>>> + Clone,
    S::Error: std::fmt::Debug,
{
    send(client, first).await;
    let started = Instant::now();
    send(client, then).await;
    started.elapsed()
}

/// The default policy with exact waits: backoff from 500 ms, doubling, at
/// most 20 s, no jitter, no budget.
pub fn exact() -> RetryPolicy {
    RetryPolicy::default()
        .backoff(
            Backoff::exponential(Duration::from_millis(500), 2.0, Duration::from_secs(20))
                .jitter(Jitter::None),
        )
        .no_budget()
}

/// After how long (`None`: never), the status, the headers.
pub type Answer = (
    Option<Duration>,
    u16,
    &'static [(&'static str, &'static str)],
);

/// An upstream answering request n (from 0) with `answer(n)`: after how
/// long (`None`: never), and the status and headers; `hits` counts the
/// requests.
pub fn delayed<B>(
    hits: &Arc<AtomicUsize>,
    answer: fn(usize) -> Answer,
) -> impl tower::Service<
    Request<B>,
    Response = Response<Full<Bytes>>,
    Error = BoxError,
    Future = impl Send,
> + Clone
       + Send
       + Sync {
    let hits = hits.clone();
    service_fn(move |_req: Request<B>| {
        let (delay, status, headers) = answer(hits.fetch_add(1, Ordering::SeqCst));
        async move {
            match delay {
                Some(delay) => tokio::time::sleep(delay).await,
                None => std::future::pending().await,
            }
            Ok::<_, BoxError>(reply(status, headers, ""))
        }
    })
}

/// An upstream that answers each request with `script(n)` (n from 0) and
/// records the instant each arrived.
#[derive(Clone, Default)]
pub struct Scripted {
    arrivals: Arc<Mutex<Vec<Instant>>>,
    pub requests: Arc<Mutex<Vec<http::request::Parts>>>,
}

impl Scripted {
    pub fn new() -> Self {
        Scripted {
            arrivals: Arc::default(),
            requests: Arc::default(),
        }
    }

    pub fn service<B: Send + 'static>(
        &self,
        script: impl Fn(usize) -> Response<Full<Bytes>> + Clone + Send + Sync + 'static,
    ) -> impl tower::Service<
        Request<B>,
        Response = Response<Full<Bytes>>,
        Error = std::convert::Infallible,
        Future = impl Send,
    > + Clone
           + Send {
        let arrivals = self.arrivals.clone();
        let requests = self.requests.clone();
        service_fn(move |request: Request<B>| {
            let mut arrivals = arrivals.lock().unwrap();
            let n = arrivals.len();
            arrivals.push(Instant::now());
            requests.lock().unwrap().push(request.into_parts().0);
            let response = script(n);
            async move { Ok::<_, std::convert::Infallible>(response) }
        })
    }

    pub fn count(&self) -> usize {
        self.arrivals.lock().unwrap().len()
    }

    pub fn waits(&self) -> Vec<Duration> {
        let arrivals = self.arrivals.lock().unwrap();
        arrivals.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

/// Runs `test` on the runtime `build` makes, in a thread of its own, and
/// fails if it does not end within `real` wall-clock time: a busy loop
/// under paused time never lets the clock advance, and a deadlock never
/// ends, so `timeout` alone catches neither.
pub fn within<F>(
    real: Duration,
    build: impl FnOnce() -> tokio::runtime::Runtime + Send + 'static,
    test: impl FnOnce() -> F + Send + 'static,
) where
    F: std::future::Future<Output = ()>,
{
    let (done, wait) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        build().block_on(test());
        let _ = done.send(());
    });
    match wait.recv_timeout(real) {
        Ok(()) => thread.join().unwrap(),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // The test panicked: surface its panic.
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!(
                "did not finish within {real:?} of wall-clock time: a hang, busy loop or deadlock"
            )
        }
    }
}
