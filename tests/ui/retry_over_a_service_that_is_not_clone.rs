// `RetryLayer` needs a `Clone` inner service: it sends each attempt on a clone.
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tower::util::BoxService;
use tower::{service_fn, Layer};
use tower_api_errors::retry::ReplayBody;
use tower_api_errors::{RetryLayer, RetryPolicy};

type Upstream = BoxService<Request<ReplayBody<Full<Bytes>>>, Response<Full<Bytes>>, std::convert::Infallible>;

fn main() {
    let upstream: Upstream = BoxService::new(service_fn(|_req: Request<ReplayBody<Full<Bytes>>>| async {
        Ok(Response::new(Full::new(Bytes::new())))
    }));
    let _client = RetryLayer::new(RetryPolicy::default()).layer(upstream);
}
