// A closure is not a classifier until `classify_fn` makes it one.
use http::{HeaderMap, StatusCode};
use tower_api_errors::classify::Classification;
use tower_api_errors::ErrorBodyParseLayer;

fn main() {
    let _layer = ErrorBodyParseLayer::new()
        .classifier(|_status: StatusCode, _headers: &HeaderMap| Classification::Success);
}
