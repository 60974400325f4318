//! [`Quota`].

use super::future::ResponseFuture;
use super::layer::Config;
use super::scope::QuotaRequest;
use super::QuotaLayer;
use crate::error::BoxError;
use crate::Error;
use http::{Request, Response};
use std::sync::Arc;
use tower::{Layer, Service};

/// Holds each request until the quota its scope learned allows it, and
/// learns from every response. Built by [`QuotaLayer`].
///
/// # Clone
/// Clones the inner service; clones share the store. The service must be
/// `Clone`: a request that is sent at once goes to the service the caller
/// made ready; a request that must wait takes a clone and only drives that
/// clone's `poll_ready` once its wait is over, so a held request never
/// holds the inner service's readiness (a connection, a concurrency
/// permit) while it sleeps. The ready service is then replaced by a clone,
/// giving back what its readiness reserved.
#[derive(Debug, Clone)]
pub struct Quota<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> Quota<S> {
    /// Wraps `inner` with a new [`MemoryStore`](super::MemoryStore) and the defaults.
    pub fn new(inner: S) -> Self {
        QuotaLayer::new().layer(inner)
    }

    pub(crate) fn from_config(inner: S, config: Arc<Config>) -> Self {
        Quota { inner, config }
    }

    quota_config_builders!();

    inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Quota<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    S::Error: Into<BoxError>,
{
    type Response = Response<ResBody>;
    type Error = Error;
    type Future = ResponseFuture<S, ReqBody>;

    poll_inner_ready!();

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let config = &self.config;
        let view = QuotaRequest::new(&request);
        // The scope: host and port (from the URI, else the `Host` header;
        // never user-info) plus the partition digest.
        let key = crate::scope::key(&view, config.partition.as_deref());
        let scope = super::ScopeKey::from_u64(key);
        let cost = config.cost.as_ref().map_or(1, |f| f(&view).max(1));
        ResponseFuture::start(&mut self.inner, request, config.clone(), scope, cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::{digest, MemoryStore};
    use crate::{ErrorKind, RetryLayer, RetryPolicy, StopReason};
    use std::future::Future;
    use std::time::Duration;
    use tokio::time::Instant;
    use tower::ServiceExt;
    use tower_test::mock;

    type Handle = mock::Handle<Request<&'static str>, Response<&'static str>>;

    fn window(remaining: u64, reset: u64) -> Response<&'static str> {
        // GitHub-style window headers (docs.github.com, "Rate limits for the REST API").
        Response::builder()
            .header("x-ratelimit-limit", "100")
            .header("x-ratelimit-remaining", remaining.to_string())
            .header("x-ratelimit-reset", reset.to_string())
            .body("ok")
            .unwrap()
    }

    /// A 429 asking to wait `retry_after` seconds, nothing announced.
    fn too_many(retry_after: u64) -> Response<&'static str> {
        Response::builder()
            .status(429)
            .header("retry-after", retry_after.to_string())
            .body("slow down")
            .unwrap()
    }

    fn get(uri: &str) -> Request<&'static str> {
        Request::get(uri).body("").unwrap()
    }

    /// Answers the next request the mock receives with `response`.
    async fn answer(
        handle: &mut Handle,
        response: Response<&'static str>,
    ) -> Request<&'static str> {
        let (request, respond) = handle
            .next_request()
            .await
            .expect("a request reached the mock");
        respond.send_response(response);
        request
    }

    /// True when `future` has not finished after yielding to the runtime.
    async fn pending<F: Future + Unpin>(future: &mut F) -> bool {
        tokio::select! {
            biased;
            _ = future => false,
            _ = tokio::task::yield_now() => true,
        }
    }

    /// A scope's first request probes it (the store keeps the scope, and
    /// holds its other requests until the answer); an answer with no quota
    /// headers opens the scope: from then on, requests pass straight
    /// through, and nothing more is kept.
    #[tokio::test(start_paused = true)]
    async fn nothing_learned_passes_straight_through() {
        let (inner, mut handle) = mock::pair();
        let store = MemoryStore::new();
        let service = QuotaLayer::with_store(store.clone()).layer(inner);
        let probe = tokio::spawn(service.clone().oneshot(get("http://api.example/a")));
        tokio::task::yield_now().await;
        let mut held = tokio::spawn(service.clone().oneshot(get("http://api.example/b")));
        assert!(pending(&mut held).await, "held on the probe");
        answer(&mut handle, Response::new("plain")).await;
        assert_eq!(probe.await.unwrap().unwrap().into_body(), "plain");
        assert_eq!(store.len(), 1, "the probed scope, open");
        tokio::time::advance(Duration::from_millis(50)).await;
        answer(&mut handle, Response::new("plain")).await;
        assert_eq!(held.await.unwrap().unwrap().into_body(), "plain");
        for _ in 0..3 {
            let call = tokio::spawn(service.clone().oneshot(get("http://api.example/c")));
            answer(&mut handle, Response::new("plain")).await;
            assert_eq!(call.await.unwrap().unwrap().into_body(), "plain");
        }
        assert_eq!(store.len(), 1, "nothing more kept");
    }

    #[tokio::test(start_paused = true)]
    async fn learns_a_spent_window_and_holds_until_its_reset() {
        let (inner, mut handle) = mock::pair();
        let service = QuotaLayer::new().layer(inner);
        let first = tokio::spawn(service.clone().oneshot(get("http://api.example/a")));
        answer(&mut handle, window(0, 5)).await;
        first.await.unwrap().unwrap();

        let started = Instant::now();
        let second = tokio::spawn(service.clone().oneshot(get("http://api.example/b")));
        let request = answer(&mut handle, window(99, 60)).await;
        assert_eq!(request.uri().path(), "/b");
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(5),
            "held exactly until the reset"
        );
        second.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn beyond_max_wait_fails_at_once_without_sending() {
        let (inner, mut handle) = mock::pair();
        let service = QuotaLayer::new()
            .max_wait(Duration::from_secs(30))
            .layer(inner);
        let first = tokio::spawn(service.clone().oneshot(get("http://api.example/a")));
        answer(&mut handle, window(0, 3600)).await;
        first.await.unwrap().unwrap();

        let started = Instant::now();
        let error = service
            .clone()
            .oneshot(get("http://api.example/b?api_key=SECRET"))
            .await
            .unwrap_err();
        assert_eq!(started.elapsed(), Duration::ZERO, "failed at once");
        assert_eq!(error.kind(), ErrorKind::RateLimited);
        let refused = error.rate_limited().expect("a RateLimited error");
        assert_eq!(refused.retry_after(), Duration::from_secs(3600));
        assert!(!error.to_string().contains("SECRET"), "{error}");
        assert!(
            pending(&mut Box::pin(handle.next_request())).await,
            "nothing was sent"
        );
    }

    /// A request whose cost alone is more than a window's whole limit (a
    /// prompt larger than OpenAI's tokens per minute, answered 429
    /// whenever it is sent) is refused at once, not held to `max_wait`;
    /// a request that fits still goes.
    #[tokio::test(start_paused = true)]
    async fn a_cost_over_a_whole_limit_is_refused_at_once() {
        let (inner, mut handle) = mock::pair();
        let tokens = |request: &QuotaRequest<'_>| {
            let cost = request.headers().get("x-tokens");
            cost.and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(1)
        };
        let service = QuotaLayer::new().cost(tokens).layer(inner);
        let first = tokio::spawn(service.clone().oneshot(get("http://api.example/a")));
        // platform.openai.com/docs/guides/rate-limits, "Rate limits in headers".
        let taught = Response::builder()
            .header("x-ratelimit-limit-tokens", "10000")
            .header("x-ratelimit-remaining-tokens", "9999")
            .header("x-ratelimit-reset-tokens", "6ms")
            .body("ok")
            .unwrap();
        answer(&mut handle, taught).await;
        first.await.unwrap().unwrap();

        let started = Instant::now();
        let large = Request::get("http://api.example/b").header("x-tokens", "20000");
        let error = service
            .clone()
            .oneshot(large.body("").unwrap())
            .await
            .unwrap_err();
        assert_eq!(started.elapsed(), Duration::ZERO, "refused at once");
        let refused = error.rate_limited().expect("a RateLimited error");
        assert_eq!(refused.exceeded_limit(), Some(10_000));
        assert!(error.to_string().contains("whole limit (10000)"), "{error}");
        assert!(
            pending(&mut Box::pin(handle.next_request())).await,
            "nothing sent"
        );

        let fits = Request::get("http://api.example/c").header("x-tokens", "9000");
        let call = tokio::spawn(service.clone().oneshot(fits.body("").unwrap()));
        assert_eq!(
            answer(&mut handle, Response::new("ok")).await.uri().path(),
            "/c"
        );
        call.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_cooldown_from_one_429_holds_the_whole_scope() {
        let (inner, mut handle) = mock::pair();
        let service = QuotaLayer::new().layer(inner);
        let throttled = tokio::spawn(service.clone().oneshot(get("http://api.example/a")));
        answer(&mut handle, too_many(3)).await;
        assert_eq!(throttled.await.unwrap().unwrap().status(), 429);

        let started = Instant::now();
        let other_path = tokio::spawn(service.clone().oneshot(get("http://api.example/other")));
        let elsewhere = tokio::spawn(service.clone().oneshot(get("http://elsewhere.example/")));
        // Another scope is not held.
        let request = answer(&mut handle, Response::new("ok")).await;
        assert_eq!(request.uri().host(), Some("elsewhere.example"));
        assert_eq!(started.elapsed(), Duration::ZERO);
        answer(&mut handle, Response::new("ok")).await;
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        other_path.await.unwrap().unwrap();
        elsewhere.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn partitions_are_separate_and_hashed() {
        let (inner, mut handle) = mock::pair();
        let store = MemoryStore::new();
        let service = QuotaLayer::with_store(store.clone())
            .partition(|request| {
                request
                    .headers()
                    .get("x-api-key")
                    .map(|key| key.as_bytes().to_vec())
            })
            .layer(inner);
        let keyed = |key: &'static str| {
            Request::get("http://api.example/")
                .header("x-api-key", key)
                .body("")
                .unwrap()
        };
        let first = tokio::spawn(service.clone().oneshot(keyed("key-one")));
        answer(&mut handle, window(0, 60)).await;
        first.await.unwrap().unwrap();
        // key-two has learned nothing: it goes at once.
        let started = Instant::now();
        let second = tokio::spawn(service.clone().oneshot(keyed("key-two")));
        answer(&mut handle, Response::new("ok")).await;
        second.await.unwrap().unwrap();
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert!(!format!("{store:?}").contains("key-one"));
        assert_ne!(digest(&b"key-one".to_vec()), digest(&b"key-two".to_vec()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_request_does_not_hold_the_inner_readiness() {
        let (inner, mut handle) = mock::pair();
        // One permit: a held request that kept it would block every other.
        let limited = tower::limit::ConcurrencyLimitLayer::new(1).layer(inner);
        let service = QuotaLayer::new().layer(limited);
        let first = tokio::spawn(service.clone().oneshot(get("http://spent.example/")));
        answer(&mut handle, window(0, 10)).await;
        first.await.unwrap().unwrap();

        let held = tokio::spawn(service.clone().oneshot(get("http://spent.example/")));
        tokio::task::yield_now().await;
        let started = Instant::now();
        let free = tokio::spawn(service.clone().oneshot(get("http://free.example/")));
        let request = answer(&mut handle, Response::new("ok")).await;
        assert_eq!(request.uri().host(), Some("free.example"));
        assert_eq!(started.elapsed(), Duration::ZERO);
        free.await.unwrap().unwrap();
        answer(&mut handle, window(99, 10)).await;
        held.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn cancelling_a_held_request_returns_its_permit_and_sends_nothing() {
        let (inner, mut handle) = mock::pair();
        let service = QuotaLayer::new().layer(inner);
        let first = tokio::spawn(service.clone().oneshot(get("http://api.example/")));
        // 1 left of 100, reset in 50 s: the next request is paced.
        answer(&mut handle, window(1, 50)).await;
        first.await.unwrap().unwrap();

        let mut paced = Box::pin(service.clone().oneshot(get("http://api.example/paced")));
        assert!(pending(&mut paced).await);
        drop(paced);
        // Its permit came back: the next request gets the last unit (paced
        // again, not refused until the reset).
        let again = tokio::spawn(service.clone().oneshot(get("http://api.example/again")));
        let request = answer(&mut handle, window(0, 50)).await;
        assert_eq!(
            request.uri().path(),
            "/again",
            "the cancelled request was never sent"
        );
        again.await.unwrap().unwrap();
    }

    /// A request paced before its scope's 429 was learned (another process
    /// spent the window they share) is not sent at its slot: it gives its
    /// permit back and holds until the 429's wait ends. Before, each such
    /// slot drew a 429 (`quota_fleet`, 4 x 32, a `MemoryStore` each).
    #[tokio::test(start_paused = true)]
    async fn a_request_paced_before_a_429_holds_for_its_wait() {
        let (inner, mut handle) = mock::pair();
        let service = QuotaLayer::new().layer(inner);
        let first = tokio::spawn(service.clone().oneshot(get("http://api.example/")));
        // 2 left of 100, reset in 50 s: the next two are paced.
        answer(&mut handle, window(2, 50)).await;
        first.await.unwrap().unwrap();
        let started = Instant::now();
        let paced: Vec<_> = ["/a", "/b"]
            .map(|path| {
                tokio::spawn(
                    service
                        .clone()
                        .oneshot(get(&format!("http://api.example{path}"))),
                )
            })
            .into();
        answer(&mut handle, too_many(60)).await;
        let refused_at = started.elapsed();
        answer(&mut handle, window(99, 50)).await;
        assert!(started.elapsed() >= refused_at + Duration::from_secs(60));
        for request in paced {
            request.await.unwrap().unwrap();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_retry_layer_does_not_retry_a_refusal() {
        use bytes::Bytes;
        use http_body_util::Full;
        let (inner, mut handle) =
            mock::pair::<Request<crate::retry::ReplayBody<Full<Bytes>>>, Response<&'static str>>();
        let get = |uri: &str| Request::get(uri).body(Full::new(Bytes::new())).unwrap();
        let service = tower::ServiceBuilder::new()
            .layer(RetryLayer::new(RetryPolicy::default()))
            .layer(QuotaLayer::new().max_wait(Duration::from_secs(10)))
            .service(inner);
        let first = tokio::spawn(service.clone().oneshot(get("http://api.example/")));
        let (_, respond) = handle.next_request().await.unwrap();
        // seeds/004: a per-minute 429 whose window resets in an hour (a daily cap).
        respond.send_response(
            Response::builder()
                .status(429)
                .header("retry-after", "60")
                .header("x-ratelimit-limit", "1000")
                .header("x-ratelimit-remaining", "0")
                .header("x-ratelimit-reset", "3600")
                .body("spent")
                .unwrap(),
        );
        // The retry layer waits the 60 s the 429 asked for (within its cap)
        // and retries; the quota layer refuses that retry without sending it
        // (the window resets in 59 min > its max_wait): one typed error.
        let error = first.await.unwrap().unwrap_err();
        let refused = error.rate_limited().expect("the refusal");
        assert_eq!(refused.retry_after(), Duration::from_secs(3540));
        assert_eq!(error.retries().attempts(), 1, "the refused retry unsent");
        assert_eq!(error.retries().stopped(), Some(StopReason::HintTooLong));

        let started = Instant::now();
        let error = service
            .clone()
            .oneshot(get("http://api.example/"))
            .await
            .unwrap_err();
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(
            error.retries().attempts(),
            0,
            "refused once, not retried, nothing sent: {error}"
        );
        assert!(
            pending(&mut Box::pin(handle.next_request())).await,
            "nothing was sent"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn every_request_ends_in_exactly_one_outcome() {
        let (inner, mut handle) = mock::pair();
        let service = QuotaLayer::new()
            .max_wait(Duration::from_secs(20))
            .layer(inner);
        let first = tokio::spawn(service.clone().oneshot(get("http://api.example/")));
        answer(&mut handle, window(0, 10)).await;
        first.await.unwrap().unwrap();
        // 40 requests while spent: all held for 10 s, then the window refills
        // to 100 and they all go; the mock answers each once.
        let calls: Vec<_> = (0..40)
            .map(|_| tokio::spawn(service.clone().oneshot(get("http://api.example/"))))
            .collect();
        for _ in 0..40 {
            let (_, respond) = handle.next_request().await.unwrap();
            respond.send_response(Response::new("ok"));
        }
        let mut ok = 0;
        for call in calls {
            call.await.unwrap().unwrap();
            ok += 1;
        }
        assert_eq!(ok, 40);
        assert!(
            pending(&mut Box::pin(handle.next_request())).await,
            "no duplicate sends"
        );
    }
}
