// Under the retry layer the client's request body type must be `ReplayBody<B>`.
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tower_api_errors::ApiErrorsLayer;

fn main() {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let _stack = ApiErrorsLayer::new().client(client);
}
