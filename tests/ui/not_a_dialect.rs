// A dialect is a type implementing `Dialect`, not a closure.
use tower_api_errors::parse::DialectInput;
use tower_api_errors::ErrorBodyParseLayer;

fn main() {
    let _layer = ErrorBodyParseLayer::new().dialect(|_input: &DialectInput<'_>| None::<String>);
}
