//! Turn failure bodies into a typed [`ApiError`](crate::ApiError), whatever
//! the vendor's error dialect.
//!
//! [`ErrorBodyParseLayer`] leaves successes untouched: the response, body
//! and all, passes through without buffering or allocation. A failure (as
//! the [`Classification`](crate::classify::Classification) stamp below it
//! says, or the classifier's verdict when there is none) has its body read
//! **up to a cap** (64 KiB by default) and **for a bounded time** (10 s), and
//! becomes `Err(Error::Api(ApiError))`. A body that outgrows the cap, fails
//! mid-stream or stalls still yields a typed error, marked
//! [`is_truncated`](crate::ApiError::is_truncated), from what was read.
//!
//! # Dialects
//!
//! The body is decoded (a UTF-8 BOM dropped; a declared ISO-8859-1 or
//! windows-1252 charset, by `Content-Type` or XML declaration, transcoded),
//! parsed as JSON once, and then [`Dialect`]s are tried in order, yours
//! first, and the first that recognises the body wins:
//!
//! | dialect | shape |
//! |---|---|
//! | `GrpcStatus` (feature `grpc`) | trailers-only `grpc-status`, `grpc-message`, `grpc-status-details-bin` |
//! | [`ProblemDetails`] | RFC 9457 `application/problem+json` |
//! | [`JsonRpcError`] | JSON-RPC 2.0 `{"jsonrpc": "2.0", "error": {"code", "message", "data"}}`, batches too |
//! | [`ODataError`] | OData v2/v3 `error.message` as `{lang, value}`, `odata.error` |
//! | [`TaggedUnion`] | `error_summary` and `.tag` paths (Dropbox) |
//! | [`NestedError`] | `{"error": {"code", "message", "status", "details", "innererror", ...}}` (Google, Azure, OData v4, OpenAI, Stripe, Facebook) |
//! | [`OAuth2Error`] | `{"error": "code", "error_description", "validation_errors"}` |
//! | [`ErrorsList`] | top-level `errors` (arrays, field maps, Discord trees), Cloudflare v4 `success: false` envelopes, FastAPI `detail` lists |
//! | [`ErrorArray`] | a top-level array of errors (Salesforce `[{"message", "errorCode", "fields"}]`) |
//! | [`FlatError`] | top-level `message`, `detail`, `error`, `code`, ... (Kubernetes `Status` with `details.causes`, Okta `errorCauses`) |
//! | [`SoapFault`] | SOAP 1.1 `faultcode`/`faultstring`, SOAP 1.2 `Code/Value`/`Reason/Text`; `detail` never in the message |
//! | [`PlainText`] | HTML, XML, text: a bounded excerpt; unknown JSON: the status reason and its first human text |
//!
//! Human text wins the message; a type name or identifier becomes the code
//! (`{"error": "Payment Required", "message": "Insufficient balance"}` gives
//! message "Insufficient balance" and code "Payment Required"). When codes
//! nest, the most specific wins: the deepest `innererror` code, a Google
//! `ErrorInfo.reason` or `errors[].reason`, PayPal's `details[].issue`, a
//! string `reason` over a numeric `code`. HTML inside a JSON message is
//! stripped; a JSON document no dialect recognised is never dumped as the
//! message. A body's `retry_after` (seconds), `retry_after_ms`, Infura's
//! `backoff_seconds` (in JSON-RPC `error.data`), Google
//! `RetryInfo` or a spent `error.limit`'s `reset` (Vercel) is the hint when
//! no header gave one. When nothing structured names a wait, a rate limit's
//! or an outage's message may: "Please try again in 6s." (OpenAI, Groq),
//! "Please retry in 16.7s." (Gemini), "Please retry after 86400 seconds."
//! (Azure OpenAI), "Try again in 7 days" (Vercel). After "try again in",
//! "retry in" or "retry after", a Go duration (`6s`, `20ms`, `1m30s`) or a
//! number and a unit word (milliseconds to days) is read, in one pass over
//! the bounded message; a bare number or "a few minutes" names no wait.
//!
//! # Body verdicts
//!
//! The status table cannot tell a throttle sent as 400 from a bad request,
//! nor a spent monthly quota from a per-minute limit; the body can. After a
//! dialect has read the body, its [`BodyVerdict`] (set by the dialect, or
//! looked up by code in one small table, compared without case or
//! punctuation) adjusts the error's kind and retry verdict:
//!
//! | verdict | codes (examples) | kind | retried |
//! |---|---|---|---|
//! | `Throttled` | `Throttling`, `ThrottlingException`, `SlowDown`, `rateLimitExceeded`, `userRateLimitExceeded`, `RATE_LIMITED`, `too_many_requests`; Facebook codes 4, 17, 32, 613 with `is_transient` | `RateLimited` | yes |
//! | `QuotaExhausted` | `insufficient_quota`, `billing_hard_limit_reached`, `dailyLimitExceeded`, `quotaExceeded`, any code naming a daily or monthly limit or quota | `RateLimited` | **no**: it will not come back soon |
//! | `RateLimited` | a `google.rpc.QuotaFailure` detail | `RateLimited` | as the status says |
//! | `RateLimited` (message) | no code verdict, and a message saying a rate limit was exceeded or reached (GitHub's 403 secondary limit, Twitter v1's 400, Etherscan's "Max rate limit reached" under 200) | `RateLimited` | as the status says |
//! | `QuotaExhausted` (message) | a rate limit (by status, headers or a code that only says "rate limit") whose message names a daily or monthly limit or quota (HubSpot's daily 429, CoinMarketCal's `rate_limit_exceeded` daily quota) | `RateLimited` | **no** |
//! | `Transient` | Facebook's `is_transient: true`, Telnyx's `meta.retryable: true` | unchanged | yes |
//! | `ServerFault` | `InternalError` (S3, also under 200), `InternalFailure`, `internal_server_error` | `Server` if the status names no kind | yes |
//! | `ClientFault` | SOAP `Client`/`Sender` faults, JSON-RPC -32700, -32600, -32601, -32602, Telnyx's `meta.retryable: false` | unchanged | **no**, whatever the status |
//!
//! A server's explicit `x-should-retry` still wins. The retry layer follows
//! the typed error's verdict ([`ApiError::is_retryable`](crate::ApiError::is_retryable)).
//!
//! ```
//! use http::{HeaderMap, StatusCode};
//! use tower_api_errors::{parse_error, ErrorKind};
//!
//! // AWS sends its throttles as 400.
//! let body = br#"{"__type": "ThrottlingException", "message": "Rate exceeded"}"#;
//! let error = parse_error(StatusCode::BAD_REQUEST, &HeaderMap::new(), body);
//! assert_eq!(error.kind(), ErrorKind::RateLimited);
//! assert!(error.is_retryable());
//!
//! // A spent quota is a rate limit that waiting will not fix.
//! let body = br#"{"error": {"message": "You exceeded your current quota.", "type": "insufficient_quota", "code": "insufficient_quota"}}"#;
//! let error = parse_error(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), body);
//! assert_eq!(error.kind(), ErrorKind::RateLimited);
//! assert!(!error.is_retryable());
//! ```
//!
//! # Errors inside successes (opt-in)
//!
//! Some APIs answer 200 and say in the body that they failed: Slack's
//! `{"ok": false}`, a GraphQL response with `errors` and no `data`, S3's
//! `<Error><Code>SlowDown</Code>` after a copy started. [`SuccessPeekLayer`],
//! placed directly above the parse layer, peeks at such successes (chosen
//! content types, up to 16 KiB), lets a [`FailureInSuccess`] detector
//! declare them failures, and types them like any other, body verdicts
//! included; every other success comes back byte for byte. Without it,
//! successes are never read.
//!
//! # Bounds
//!
//! Bad input is never fatal: malformed or deeply nested JSON (serde_json's
//! recursion limit), invalid UTF-8 and binary garbage all fall through to
//! [`PlainText`]; messages are made one line (control characters become
//! spaces, bidirectional controls go) and bounded to 1024
//! characters, codes and field names to 128, field errors to 100. Every
//! dialect is linear in the body: lists are read up to 1024 entries,
//! nesting (field trees, `innererror` chains, tag paths) followed 8 levels
//! deep, XML searched with one look at each `<`. A kept [`ApiError`](crate::ApiError)
//! holds the body's JSON *text* and parses it only when
//! [`details`](crate::ApiError::details) is first called: it retains at most
//! twice the body read plus 1 KiB until then.
//!
//! # The default
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_api_errors::{Error, ErrorBodyParseLayer, ErrorKind};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let upstream = service_fn(|req: Request<()>| async move {
//!     let response = match req.uri().path() {
//!         "/ok" => Response::new(Full::new(Bytes::from_static(b"{\"id\": 1}"))),
//!         _ => Response::builder().status(422).body(Full::new(Bytes::from_static(
//!             br#"{"error": "validation_failed", "error_description": "Validation failed",
//!                 "validation_errors": [{"field": "email", "message": "Invalid email format"}]}"#,
//!         ))).unwrap(),
//!     };
//!     Ok::<_, std::convert::Infallible>(response)
//! });
//! let client = ServiceBuilder::new().layer(ErrorBodyParseLayer::new()).service(upstream);
//!
//! // Successes pass through untouched.
//! let ok = client.clone().oneshot(Request::get("/ok").body(()).unwrap()).await.unwrap();
//! assert_eq!(ok.status(), 200);
//!
//! // Failures are typed.
//! let Err(Error::Api(error)) = client.oneshot(Request::post("/members").body(()).unwrap()).await else {
//!     panic!("expected an API error");
//! };
//! assert_eq!(error.kind(), ErrorKind::Validation);
//! assert_eq!(error.code(), Some("validation_failed"));
//! assert_eq!(error.field_errors()[0].field(), "email");
//! assert_eq!(error.request().unwrap().to_string(), "POST /members");
//! # }
//! ```
//!
//! # Customised: an in-house dialect, a smaller cap
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_api_errors::parse::{Dialect, DialectInput, ErrorFields};
//! use tower_api_errors::{Error, ErrorBodyParseLayer};
//!
//! /// Our gateway answers `{"fault": {"id": "...", "text": "..."}}`.
//! struct GatewayFault;
//!
//! impl Dialect for GatewayFault {
//!     fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields> {
//!         let fault = input.json()?.get("fault")?;
//!         Some(ErrorFields::new().code(fault.get("id")?.as_str()?).message(fault.get("text")?.as_str()?))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let upstream = service_fn(|_req: Request<()>| async {
//!     Ok::<_, std::convert::Infallible>(Response::builder().status(503).body(Full::new(Bytes::from_static(
//!         br#"{"fault": {"id": "GW-17", "text": "Backend pool drained"}}"#,
//!     ))).unwrap())
//! });
//! let client = ServiceBuilder::new()
//!     .layer(ErrorBodyParseLayer::new().dialect(GatewayFault).max_body_bytes(4096))
//!     .service(upstream);
//! let Err(Error::Api(error)) = client.oneshot(Request::new(())).await else { panic!() };
//! assert_eq!(error.code(), Some("GW-17"));
//! assert_eq!(error.message(), "Backend pool drained");
//! assert!(error.is_retryable());
//! # }
//! ```

/// The parse layer's setters, written once for the layer and its service
/// (tower-http's pattern): each edits the `config` field. (`dialect` is
/// written in each: a closure passed for a dialect then reads its error
/// at the user's call, not inside a macro.)
macro_rules! parse_setters {
    () => {
        config_setters! {
            config.failure;

            /// The most bytes of an error body that are read; the rest is
            /// dropped and the error notes the truncation.
            ///
            /// # Panics
            /// When `bytes` is zero: a parser that can read nothing cannot help.
            pub fn max_body_bytes(bytes: usize) |c| {
                assert!(bytes > 0, "max_body_bytes must be at least 1");
                c.max_body = bytes;
            };

            /// How long reading an error body may take in total; a body that
            /// stalls longer is cut there, and the error notes the truncation.
            ///
            /// # Panics
            /// When `timeout` is zero.
            pub fn body_timeout(timeout: std::time::Duration) |c| {
                assert!(!timeout.is_zero(), "body_timeout must be longer than zero");
                c.body_timeout = timeout;
            };

            /// Replaces the parser (and so its dialects).
            pub fn parser(parser: crate::parse::ErrorParser) |c| c.parser = parser;
        }
    };
}

mod capped;
mod charset;
mod dialect;
pub mod dialects;
mod extract;
mod future;
mod layer;
mod naming;
mod parser;
pub mod peek;
mod service;
mod verdict;

pub use dialect::{Dialect, DialectInput, ErrorFields};
pub use dialects::{
    ErrorArray, ErrorsList, FlatError, JsonRpcError, NestedError, OAuth2Error, ODataError,
    PlainText, ProblemDetails, SoapFault, TaggedUnion,
};
pub use future::ResponseFuture;
pub use layer::{ErrorBodyParseLayer, DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_BODY};
pub use parser::{parse_error, ErrorParser};
pub use peek::{
    FailureInSuccess, GraphQlErrors, OkFalse, PeekBody, PeekFuture, SuccessPeek, SuccessPeekLayer,
    XmlErrorRoot, DEFAULT_MAX_PEEK,
};
pub use service::ErrorBodyParse;
pub use verdict::BodyVerdict;
