//! Promises on failure bodies, failures inside successes and header hints
//! that the other suites left open: echoes wherever a bound cuts, JSON Web
//! Tokens, the peek layer's hand-back and media types, body verdicts read
//! through `parse_error`, RFC 9651 lists split or spaced, and hostile
//! shapes of the markup and redaction readers. (Brought in from a probe of
//! the parse and hints promises.) Then error bodies as callers see them
//! (from a probe of the parse layer): vendor bodies the dialect tables do
//! not reach, echoes in JSON escapes, decoded or as field-map keys, bodies
//! cut by a close or reset through reqwest and the stack, classifier
//! verdicts obeyed in the stack, and the peek layer's detectors.

mod support;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::{headers, peek, response, serve};
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};
use tower_api_errors::classify::{
    Classification, ClassifyExt, DefaultClassifier, StatusClassifierLayer,
};
use tower_api_errors::hints::{ResponseHints, MAX_HINT};
use tower_api_errors::parse::{DialectInput, FailureInSuccess, SuccessPeekLayer};
use tower_api_errors::retry::ReplayBody;
use tower_api_errors::{
    parse_error, ApiError, ApiErrorsLayer, Error, ErrorBodyParseLayer, ErrorKind, RetryPolicy,
};

/// A key shaped as vendors issue them.
const KEY: &str = "sk_live_51Hx9q2eZvKYlo2CabcdefGHIJ";

fn json() -> HeaderMap {
    headers(&[("content-type", "application/json")])
}

/// Header lines, in order.
type Pairs = &'static [(&'static str, &'static str)];

/// 2026-12-07T00:00:00Z.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_796_601_600)
}

/// Everything an error shows: Display, Debug and its details.
fn shown(error: &ApiError) -> String {
    format!("{error} {error:?} {:?}", error.details_json())
}

// ------------------------------------------------------------ echoes

/// SECURITY.md, "No credentials in errors or logs": the parse layer
/// scrubs the request's own credentials out of an error's message, code,
/// field errors and details, and parse module docs bound messages (1,024
/// characters), codes (128) and field names. The echoed key is put at every
/// offset around those bounds (and 100, 128, 256), in every dialect: no
/// prefix of it is ever left behind where a bound cut it.
#[tokio::test]
async fn an_echo_is_scrubbed_wherever_a_bound_cuts_it() {
    let addr = serve(|req| async move {
        let query = req.uri().query().unwrap().to_owned();
        let (place, pad) = query.split_once('&').unwrap();
        let fill = "a".repeat(pad.parse().unwrap());
        let auth = req.headers()["authorization"].to_str().unwrap();
        let t = auth.strip_prefix("Bearer ").unwrap();
        let (body, content_type) = match place {
            "message" => (format!(r#"{{"message":"{fill} {t} end"}}"#), "application/json"),
            "glued" => (format!(r#"{{"message":"{fill}:{t} end"}}"#), "application/json"),
            "code" => (format!(r#"{{"message":"m","code":"{fill}:{t}"}}"#), "application/json"),
            "field" => (
                format!(r#"{{"message":"m","errors":[{{"field":"{fill}:{t}","message":"x {fill}:{t}"}}]}}"#),
                "application/json",
            ),
            "text" => (format!("{fill}:{t} end"), "text/plain"),
            "html" => (
                format!("<html><head><title>{fill}:{t}</title></head><body><p>{fill}:{t}</p></body></html>"),
                "text/html",
            ),
            _ => (
                format!("<Error><Code>{fill}:{t}</Code><Message>{fill}:{t}</Message></Error>"),
                "application/xml",
            ),
        };
        response(400, &[("content-type", content_type)], body)
    })
    .await;
    let client = ErrorBodyParseLayer::new().layer(support::client::<Full<Bytes>>());
    let mut leaks = Vec::new();
    for place in ["message", "glued", "code", "field", "text", "html", "xml"] {
        for bound in [100usize, 128, 256, 1024] {
            for pad in bound - 40..bound + 2 {
                let request = Request::get(format!("http://{addr}/?{place}&{pad}"))
                    .header("authorization", format!("Bearer {KEY}"))
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                let Err(Error::Api(e)) = client.clone().oneshot(request).await else {
                    panic!("{place}@{pad}: not a typed failure")
                };
                if shown(&e).contains(&KEY[..10]) {
                    leaks.push(format!("{place}@{pad}: {}", shown(&e)));
                }
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "{} leaks: {:?}",
        leaks.len(),
        leaks.first()
    );
}

/// SECURITY.md and the redact module docs (src/redact/mod.rs:16): the
/// parse layer scrubs well-known token shapes, a JSON Web Token among them,
/// whatever the request carried (this one carried none).
#[tokio::test]
async fn a_json_web_token_in_a_failure_is_scrubbed_by_its_shape() {
    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    let upstream = service_fn(|_req: Request<()>| async move {
        let body = format!(r#"{{"error":"token_revoked","message":"token {JWT} was revoked"}}"#);
        Ok::<_, Infallible>(
            Response::builder()
                .status(401)
                .body(Full::new(Bytes::from(body)))
                .unwrap(),
        )
    });
    let Err(Error::Api(e)) = ErrorBodyParseLayer::new()
        .layer(upstream)
        .oneshot(Request::new(()))
        .await
    else {
        panic!("a 401 is a typed failure")
    };
    assert_eq!(e.code(), Some("token_revoked"));
    assert!(!shown(&e).contains("eyJhbGciOiJIUzI1NiJ9"), "{}", shown(&e));
}

// ------------------------------------------------------------ failures inside successes

/// RFC 9110 §8.3.1: a media type's type and subtype are case-insensitive,
/// and its parameters follow `;` with optional whitespace. The peek layer
/// peeks JSON (its docs, "JSON and XML by default") however the server
/// spells it.
#[tokio::test]
async fn the_peek_layer_reads_json_however_its_media_type_is_spelled() {
    for content_type in [
        "application/json;charset=UTF-8",
        "Application/JSON",
        "application/json ; charset=utf-8",
    ] {
        let failure = peek(content_type, r#"{"ok":false,"error":"channel_not_found"}"#).await;
        let Err(Error::Api(e)) = failure else {
            panic!("{content_type}: {failure:?}")
        };
        assert_eq!(e.code(), Some("channel_not_found"), "{content_type}");
    }
}

/// GraphQL over HTTP / GraphQL spec, "Errors": an `errors` entry, if
/// present, is a non-empty list; an empty one reports no failure, so a 200
/// with `"errors": []` is a success, given back byte for byte. An S3
/// `<Error>` root under 200 (S3 API Reference, CopyObject) is a failure
/// even behind a byte-order mark and an XML declaration.
#[tokio::test]
async fn empty_graphql_errors_are_a_success_and_an_xml_error_root_behind_a_bom_is_not() {
    let body = r#"{"data":null,"errors":[]}"#;
    assert_eq!(
        peek("application/json", body).await.unwrap(),
        body.as_bytes()
    );
    let s3 = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>R1</RequestId></Error>";
    let Err(Error::Api(e)) = peek("application/xml", s3).await else {
        panic!("S3's <Error> under 200 is a failure")
    };
    assert_eq!(e.code(), Some("InternalError"));
    assert!(e.is_retryable());
}

// ------------------------------------------------------------ body verdicts

/// Parse module docs, "Body verdicts" (src/parse/mod.rs:53-67): codes are
/// looked up "compared without case or punctuation", a throttle code turns
/// even a 400 into a retryable `RateLimited`, and "any code naming a daily
/// or monthly limit or quota" is a spent quota, not retried.
#[test]
fn verdict_codes_are_read_without_case_or_punctuation() {
    let rows: &[(StatusCode, &[&str], bool)] = &[
        (
            StatusCode::BAD_REQUEST,
            &[
                "RATE_LIMIT_EXCEEDED",
                "rate-limit-exceeded",
                "RateLimitExceeded",
                "TooManyRequestsException",
            ],
            true,
        ),
        (
            StatusCode::TOO_MANY_REQUESTS,
            &[
                "MONTHLY_QUOTA_EXCEEDED",
                "daily_limit_reached",
                "quotaExceeded",
                "insufficient_quota",
            ],
            false,
        ),
    ];
    for (status, codes, retryable) in rows {
        for code in *codes {
            let body = format!(r#"{{"error":{{"code":"{code}","message":"slow down"}}}}"#);
            let e = parse_error(*status, &json(), body.as_bytes());
            assert_eq!(e.kind(), ErrorKind::RateLimited, "{code}");
            assert_eq!(e.is_retryable(), *retryable, "{code}");
        }
    }
}

/// Parse module docs, "Body verdicts": the message verdict is for "a
/// message saying a rate limit was exceeded or reached". A message that
/// only names a rate-limit setting or a quota field is not one.
#[test]
fn a_message_naming_a_rate_limit_setting_is_no_rate_limit() {
    for (status, message) in [
        (
            StatusCode::BAD_REQUEST,
            "Invalid value for rate_limit: must be a positive integer",
        ),
        (StatusCode::NOT_FOUND, "Rate limit policy 'gold' not found"),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "The field daily_quota is required",
        ),
    ] {
        let body = format!(r#"{{"message":"{message}"}}"#);
        let e = parse_error(status, &json(), body.as_bytes());
        assert_ne!(e.kind(), ErrorKind::RateLimited, "{status} {message}");
    }
}

/// Parse module docs (src/parse/mod.rs:72): "A server's explicit
/// `x-should-retry` still wins", both ways, and over a body verdict
/// (JSON-RPC -32602 is a `ClientFault`, never retried otherwise).
#[test]
fn x_should_retry_wins_both_ways_and_over_a_body_verdict() {
    let invalid_params =
        r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"Invalid params"}}"#;
    for (status, should, body, retryable) in [
        (StatusCode::BAD_REQUEST, "true", "{}", true),
        (StatusCode::SERVICE_UNAVAILABLE, "false", "{}", false),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "true",
            invalid_params,
            true,
        ),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "absent",
            invalid_params,
            false,
        ),
    ] {
        let mut pairs = vec![("content-type", "application/json")];
        if should != "absent" {
            pairs.push(("x-should-retry", should));
        }
        let e = parse_error(status, &headers(&pairs), body.as_bytes());
        assert_eq!(e.is_retryable(), retryable, "{status} {should} {body}");
    }
}

/// Hints module docs (src/hints/mod.rs:5): "absurd values saturate at
/// `MAX_HINT`"; the parse module reads a wait named in a message (parse
/// module docs, "a number and a unit word (milliseconds to days)"): a
/// wait of 10^20 days, or 10^11 hours, is `MAX_HINT`, not an overflow.
#[test]
fn an_absurd_wait_named_in_a_message_saturates() {
    for wait in ["99999999999999999999 days", "99999999999h"] {
        let body = format!(r#"{{"message":"Rate limit exceeded. Please try again in {wait}"}}"#);
        let e = parse_error(StatusCode::TOO_MANY_REQUESTS, &json(), body.as_bytes());
        assert_eq!(e.retry_after(), Some(MAX_HINT), "{wait}");
    }
}

// ------------------------------------------------------------ RFC 9651 lists

/// The `RateLimit` / `RateLimit-Policy` fields are RFC 9651 lists:
/// a list may be split across field lines (RFC 9651 §3.1, RFC 9110 §5.3),
/// parameters may have spaces after `;` and members OWS around `,`
/// (§3.1.2, §4.2), and a policy name is an sf-string whose `\"` is an
/// escaped quote (§3.3.3). Each form still gives its policies and the
/// exhausted one's wait (hints module docs, "the reset of the binding
/// rate-limit window").
#[test]
fn ratelimit_lists_split_across_lines_or_spaced_still_give_their_wait() {
    let rows: &[(&str, Pairs, usize, u64)] = &[
        (
            "split across field lines",
            &[
                ("ratelimit-policy", r#""a";q=10;w=1"#),
                ("ratelimit-policy", r#""b";q=100;w=60"#),
                ("ratelimit", r#""a";r=5;t=1"#),
                ("ratelimit", r#""b";r=0;t=45"#),
            ],
            2,
            45,
        ),
        (
            "spaces after ';' and around ','",
            &[
                (
                    "ratelimit-policy",
                    r#""burst"; q=100; w=60 ,  "day";q=1000;w=86400"#,
                ),
                ("ratelimit", r#""burst"; r=0; t=30"#),
            ],
            2,
            30,
        ),
        (
            "an escaped quote in a name",
            &[
                ("ratelimit-policy", r#""a\"b";q=10;w=1"#),
                ("ratelimit", r#""a\"b";r=0;t=4"#),
            ],
            1,
            4,
        ),
        (
            // RFC 8941 §3.3.3: a String may hold `,`, `;` and `=`; they
            // split no member, nor a parameter.
            "list and parameter delimiters inside a quoted name",
            &[
                ("ratelimit-policy", r#""a,b;c=d";q=10;w=1, "e";q=100;w=60"#),
                ("ratelimit", r#""a,b;c=d";r=0;t=7, "e";r=50;t=30"#),
            ],
            2,
            7,
        ),
    ];
    for (what, pairs, policies, wait) in rows {
        let hints = ResponseHints::read(&headers(pairs), now());
        assert_eq!(
            hints.policies().len(),
            *policies,
            "{what}: {:?}",
            hints.policies()
        );
        assert_eq!(
            hints.retry_hint().map(|h| h.delay()),
            Some(Duration::from_secs(*wait)),
            "{what}"
        );
    }
    let spaced = ResponseHints::read(&headers(rows[1].1), now());
    let burst = spaced.policies().iter().find(|p| p.name() == Some("burst"));
    assert_eq!(
        burst.and_then(|p| p.limit()),
        Some(100),
        "{:?}",
        spaced.policies()
    );
    let escaped = ResponseHints::read(&headers(rows[2].1), now());
    assert_eq!(escaped.policies()[0].limit(), Some(10));
    // The quoted name pairs its quota with its window, whole.
    let quoted = ResponseHints::read(&headers(rows[3].1), now());
    let named = quoted
        .policies()
        .iter()
        .find(|p| p.name() == Some("a,b;c=d"));
    let read = named.map(|p| (p.limit(), p.remaining()));
    assert_eq!(read, Some((Some(10), Some(0))), "{:?}", quoted.policies());
}

// ------------------------------------------------------------ hostile shapes

/// SECURITY.md, "No panic, hang or overflow on hostile input", and the
/// parse module's bounds ("every dialect is linear in the body", messages
/// bounded to 1,024 characters): shapes aimed at the readers the other
/// hostile tables do not reach (CDATA sections and character references,
/// XML 1.0 §2.7 and §4.1; unclosed elements each dialect looks for; the
/// `Bearer`/JWT shape scrubbing) parse, at 512 KiB, to a bounded message
/// well within a generous time (a quadratic reader takes minutes here).
#[test]
fn hostile_markup_and_token_shapes_parse_to_a_bounded_message() {
    const SIZE: usize = 512 * 1024;
    let repeat = |unit: &str| unit.repeat(SIZE / unit.len());
    let shapes: Vec<(&str, String)> = vec![
        ("text/html", repeat("<![CDATA[")),
        ("application/xml", repeat("<Message><![CDATA[a")),
        ("text/html", repeat("&amp;")),
        ("text/html", repeat("&#")),
        ("application/xml", repeat("&#x2F;&#43")),
        ("application/xml", format!("<Error>{}", repeat("<Message>"))),
        (
            "application/xml",
            format!("<Error>{}", repeat("<faultstring>")),
        ),
        (
            "application/xml",
            format!("<Error>{}", repeat("<Reason><Text>")),
        ),
        (
            "application/xml",
            format!("<Error>{}", repeat("<Code><Value>")),
        ),
        ("text/html", repeat("<title>")),
        (
            "application/json",
            format!(r#"{{"message":"{}"}}"#, repeat("Bearer ")),
        ),
        (
            "application/json",
            format!(r#"{{"message":"{}"}}"#, repeat("eyJ.")),
        ),
    ];
    for (content_type, body) in shapes {
        let start = Instant::now();
        let e = parse_error(
            StatusCode::BAD_GATEWAY,
            &headers(&[("content-type", content_type)]),
            body.as_bytes(),
        );
        let took = start.elapsed();
        let what = &body[..20];
        assert!(took < Duration::from_secs(10), "{what}: {took:?}");
        assert!(e.message().chars().count() <= 1024, "{what}");
        assert!(!e.message().contains('\n'), "{what}");
    }
}

// ------------------------------------------------------------ gRPC

/// The gRPC HTTP/2 protocol ("Responses"): a Trailers-Only answer carries
/// `grpc-status` and a percent-encoded UTF-8 `grpc-message` in its headers
/// (src/grpc/status.rs:166: decoded); gRFC A6's `grpc-retry-pushback-ms`
/// is the wait. Through the parse layer: RESOURCE_EXHAUSTED, the decoded
/// message, and the pushback.
#[cfg(feature = "grpc")]
#[tokio::test]
async fn a_trailers_only_grpc_answer_is_typed_with_its_decoded_message() {
    let upstream = service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(
            Response::builder()
                .header("content-type", "application/grpc")
                .header("grpc-status", "8")
                .header("grpc-message", "Quota%20exceeded%3A%20%E2%9C%93")
                .header("grpc-retry-pushback-ms", "100")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
    });
    let client = ErrorBodyParseLayer::new().layer(upstream);
    let Err(Error::Api(e)) = client.oneshot(Request::new(())).await else {
        panic!("grpc-status 8 is a typed failure")
    };
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.message(), "Quota exceeded: \u{2713}");
    assert_eq!(e.retry_after(), Some(Duration::from_millis(100)));
}

// ------------------------------------------------------------ error bodies as callers see them
//
// Brought in from a probe of the parse layer over real vendor payloads and
// hostile servers: what a caller sees of a failure body the dialect tables
// do not reach (error-only OAuth, HTML titles with character references,
// S3's signature echo, odd JSON roots, control characters), echoes written
// in JSON escapes, percent-decoded or as field-map keys, bodies cut by a
// close or reset through reqwest and the one-layer stack, statuses with no
// reason, a failure that ends in trailers, classifier verdicts obeyed in
// the stack, and the peek layer's user detectors and failed bodies.

/// A credential the tests' servers echo, longer than the cuts below.
const TOKEN: &str = "tok_live_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// `parse_error` of `status`, header lines `pairs` and `body`.
fn parsed(status: u16, pairs: Pairs, body: &[u8]) -> ApiError {
    parse_error(StatusCode::from_u16(status).unwrap(), &headers(pairs), body)
}

/// `request` through the parse layer over a hyper-util client: its typed
/// failure.
async fn failure(request: Request<Full<Bytes>>) -> ApiError {
    let client = ErrorBodyParseLayer::new().layer(support::client::<Full<Bytes>>());
    match client.oneshot(request).await {
        Err(Error::Api(e)) => e,
        other => panic!("expected a typed failure: {other:?}"),
    }
}

/// A GET of `path` on `addr`, with `pairs` as its header lines.
fn get(addr: SocketAddr, path: &str, pairs: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut request = Request::get(format!("http://{addr}{path}"));
    for (name, value) in pairs {
        request = request.header(*name, *value);
    }
    request.body(Full::new(Bytes::new())).unwrap()
}

/// A raw loopback server: reads each request (support::read_request),
/// writes `reply` as it goes on the wire, then resets the connection
/// (linger 0) when `reset`, or closes it.
async fn raw_server(reply: Vec<u8>, reset: bool) -> SocketAddr {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let reply = reply.clone();
            tokio::spawn(async move {
                if !support::read_request(&mut stream, &mut Vec::new()).await {
                    return;
                }
                let _ = stream.write_all(&reply).await;
                let _ = stream.flush().await;
                if reset {
                    #[allow(deprecated)]
                    let _ = stream.set_linger(Some(Duration::ZERO));
                }
            });
        }
    });
    addr
}

/// A GET of `/` on `addr` carrying [`TOKEN`] as its bearer credential.
fn bearer_get(addr: SocketAddr) -> Request<Full<Bytes>> {
    Request::get(format!("http://{addr}/"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// A 401 that promises 500 bytes and sends the echo of [`TOKEN`] cut after
/// 30 characters, mid-token.
fn cut_mid_token() -> Vec<u8> {
    format!(
        "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{{\"message\":\"token {}",
        &TOKEN[..30]
    )
    .into_bytes()
}

/// CHANGELOG, "A failure body cut by its connection keeps no part of the
/// word the cut fell in": a close mid-token, read through the reqwest
/// adapter, leaves no prefix of the echoed token.
#[cfg(feature = "reqwest")]
#[tokio::test]
async fn a_credential_cut_by_a_close_mid_token_does_not_leak_via_reqwest() {
    let addr = raw_server(cut_mid_token(), false).await;
    let client = ErrorBodyParseLayer::new().layer(tower_api_errors::reqwest::ReqwestClient::new(
        reqwest::Client::new(),
    ));
    let Err(Error::Api(e)) = client.oneshot(bearer_get(addr)).await else {
        panic!("a cut 401 is a typed failure")
    };
    assert!(e.is_truncated());
    assert!(!shown(&e).contains(&TOKEN[..20]), "{}", shown(&e));
}

/// CHANGELOG, "A failure body cut by its connection keeps no part of the
/// word the cut fell in": the same with a reset, inside `ApiErrorsLayer`
/// (whose parse layer scrubs from the retry layer's copy, src/stack.rs).
#[tokio::test]
async fn a_credential_cut_by_a_reset_mid_token_does_not_leak_inside_the_stack() {
    let addr = raw_server(cut_mid_token(), true).await;
    let client = ApiErrorsLayer::new()
        .retry(RetryPolicy::default().max_attempts(1))
        .client(support::client::<ReplayBody<Full<Bytes>>>());
    let Err(Error::Api(e)) = client.oneshot(bearer_get(addr)).await else {
        panic!("a cut 401 is a typed failure")
    };
    assert!(e.is_truncated());
    assert!(!shown(&e).contains(&TOKEN[..20]), "{}", shown(&e));
}

/// reqwest module docs (src/reqwest/mod.rs:85, "Its URL is redacted"): a
/// body cut by a reset through `ReqwestClient` is a truncated failure whose
/// source chain names neither the userinfo nor the secret query value.
#[cfg(feature = "reqwest")]
#[tokio::test]
async fn a_body_error_from_reqwest_names_no_secret_of_its_url() {
    let reply = b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ncontent-length: 500\r\n\r\nupstream failed while ".to_vec();
    let addr = raw_server(reply, true).await;
    let client = ErrorBodyParseLayer::new().layer(tower_api_errors::reqwest::ReqwestClient::new(
        reqwest::Client::new(),
    ));
    let request = Request::get(format!(
        "http://user:pw_SECRET_1@{addr}/x?access_token=QS_SECRET_2"
    ))
    .body(Full::new(Bytes::new()))
    .unwrap();
    let Err(Error::Api(e)) = client.oneshot(request).await else {
        panic!("a cut 500 is a typed failure")
    };
    assert!(e.is_truncated());
    assert!(std::error::Error::source(&e).is_some(), "the cause is kept");
    let text = support::error_text(&e);
    assert!(
        !text.contains("QS_SECRET_2") && !text.contains("pw_SECRET_1"),
        "{text}"
    );
}

/// Parse module docs, "Dialects" (`PlainText`: "the status reason") and
/// src/error/api.rs: a status with no reason phrase (599, 999, 499, sent
/// over the wire) still gives a message, "Unknown Status".
#[tokio::test]
async fn a_status_with_no_reason_phrase_still_has_a_message() {
    for status in [
        "599 Network Connect Timeout Error",
        "999 Request denied",
        "499 Client Closed Request",
    ] {
        let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
        let addr = raw_server(reply.into_bytes(), false).await;
        let e = failure(get(addr, "/", &[])).await;
        assert_eq!(e.message(), "Unknown Status", "{status}");
        assert!(!e.to_string().contains("()"), "{e}");
    }
}

/// Parse module docs (src/parse/mod.rs:9-12): only a body that outgrows
/// the cap, fails or stalls is truncated; a chunked failure split across
/// frames and ended by trailers is parsed whole.
#[tokio::test]
async fn a_chunked_failure_ended_by_trailers_is_parsed_whole() {
    let addr = serve(|_req| async move {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-checksum", "abc".parse().unwrap());
        let frames: Vec<Result<http_body::Frame<Bytes>, support::BoxError>> = vec![
            Ok(http_body::Frame::data(Bytes::from_static(
                br#"{"error":{"code":"Bad","#,
            ))),
            Ok(http_body::Frame::data(Bytes::from_static(
                br#""message":"split"}}"#,
            ))),
            Ok(http_body::Frame::trailers(trailers)),
        ];
        Response::builder()
            .status(400)
            .body(BodyExt::boxed(support::Frames::new(frames)))
            .unwrap()
    })
    .await;
    let e = failure(get(addr, "/", &[])).await;
    assert_eq!((e.code(), e.message()), (Some("Bad"), "split"));
    assert!(!e.is_truncated());
}

/// src/stack.rs docs: `ApiErrorsLayer` "behaves exactly as the same layers
/// stacked": the parse layer alone and the stack give the same typed error,
/// field for field, neither printing the query's key.
#[tokio::test]
async fn the_same_failure_alone_and_in_the_stack_is_the_same_error() {
    let addr = serve(|_req| async move {
        response(
            422,
            &[("content-type", "application/json"), ("x-request-id", "abc-123")],
            r#"{"error": "validation_failed", "error_description": "Validation failed", "validation_errors": [{"field": "name", "message": "Name is required"}, {"field": "email", "message": "Invalid email format"}]}"#,
        )
    })
    .await;
    let path = "/v1/members?api_key=sk_live_abcdef123456";
    let alone = failure(get(addr, path, &[])).await;
    let stack = ApiErrorsLayer::new()
        .retry(RetryPolicy::default().max_attempts(1))
        .client(support::client::<ReplayBody<Full<Bytes>>>());
    let request = Request::get(format!("http://{addr}{path}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let Err(Error::Api(stacked)) = stack.oneshot(request).await else {
        panic!("a 422 is a typed failure")
    };
    assert_eq!(alone.kind(), stacked.kind());
    assert_eq!(alone.code(), stacked.code());
    assert_eq!(alone.message(), stacked.message());
    assert_eq!(alone.field_errors(), stacked.field_errors());
    assert_eq!(alone.field_errors().len(), 2);
    assert_eq!(alone.request_id(), Some("abc-123"));
    assert_eq!(alone.request_id(), stacked.request_id());
    assert_eq!(
        alone.request().map(ToString::to_string),
        stacked.request().map(ToString::to_string)
    );
    assert_eq!(alone.to_string(), stacked.to_string());
    for e in [&alone, &stacked] {
        assert!(!shown(e).contains("sk_live_abcdef123456"), "{}", shown(e));
    }
}

/// SECURITY.md, "No credentials in errors or logs" (echoes scrubbed from
/// details): a key echoed in JSON escapes, `\/` as PHP's `json_encode`
/// writes `/` or every character as `\u00XX`, is scrubbed from details.
#[tokio::test]
async fn an_echo_written_in_json_escapes_is_scrubbed_from_details() {
    const SLASHED: &str = "a1B2c3/D4e5F6+g7H8i9/J0kLmN==";
    let addr = serve(|req| async move {
        let key = req.headers()["x-api-key"].to_str().unwrap().to_owned();
        let written: String = if req.uri().path() == "/solidus" {
            key.replace('/', "\\/")
        } else {
            key.chars()
                .map(|c| format!("\\u{:04x}", c as u32))
                .collect()
        };
        let body = format!(
            r#"{{"error":{{"code":"invalid_key","message":"Key rejected","key":"{written}"}}}}"#
        );
        response(401, &[("content-type", "application/json")], body)
    })
    .await;
    for (path, key, fragment) in [
        ("/solidus", SLASHED, "D4e5F6"),
        ("/unicode", KEY, &KEY[8..20]),
    ] {
        let e = failure(get(addr, path, &[("x-api-key", key)])).await;
        let details = format!("{} {:?}", shown(&e), e.details());
        assert!(!details.contains(fragment), "{path}: {details}");
        assert_eq!(e.code(), Some("invalid_key"), "{path}");
    }
}

/// SECURITY.md, "No credentials in errors or logs" ("secret query
/// values"): a percent-encoded query secret echoed decoded in the body is
/// scrubbed in both spellings, the harmless pair kept.
#[tokio::test]
async fn a_query_secret_echoed_decoded_in_the_body_is_scrubbed() {
    let addr = serve(|req| async move {
        let query = req.uri().query().unwrap_or_default().to_owned();
        let body = format!(
            r#"{{"message":"bad request to /x?{query}","detail":"access_token=s3cr/t_value"}}"#
        );
        response(400, &[("content-type", "application/json")], body)
    })
    .await;
    let e = failure(get(addr, "/x?access_token=s3cr%2Ft_value&page=2", &[])).await;
    let text = shown(&e);
    assert!(
        !text.contains("s3cr%2Ft") && !text.contains("s3cr/t"),
        "{text}"
    );
    assert!(text.contains("page=2"), "{text}");
}

/// SECURITY.md, "No credentials in errors or logs" (field errors scrubbed)
/// and RFC 6750 §3: a key echoed as a field map's key (parse module docs,
/// `ErrorsList`: "field maps") and in the challenge's description is gone.
#[tokio::test]
async fn echoes_in_field_map_keys_and_challenges_are_scrubbed() {
    let addr = serve(|req| async move {
        let key = req.headers()["x-api-key"].to_str().unwrap().to_owned();
        let body = format!(
            r#"{{"message":"Validation failed","errors":{{"{key}":["is not a valid key"]}}}}"#
        );
        let challenge = format!(
            r#"Bearer realm="api", error="invalid_token", error_description="key {key} expired""#
        );
        response(
            401,
            &[
                ("content-type", "application/json"),
                ("www-authenticate", &challenge),
            ],
            body,
        )
    })
    .await;
    let e = failure(get(addr, "/", &[("x-api-key", KEY)])).await;
    assert_eq!(e.challenge_error(), Some("invalid_token"));
    assert_eq!(e.field_errors().len(), 1);
    let text = format!("{} {:?}", shown(&e), e.field_errors());
    assert!(!text.contains(KEY), "{text}");
}

/// SECURITY.md, "No credentials in errors or logs", and the gRPC status
/// docs (src/error/api.rs, `grpc_status`; `grpc::into_status`): a bearer
/// token echoed in a trailers-only `grpc-message` is scrubbed from the
/// error, its `grpc_status()`, its source and the `tonic::Status` made of it.
#[cfg(feature = "grpc")]
#[tokio::test]
async fn a_bearer_echoed_in_a_grpc_message_is_scrubbed_everywhere() {
    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl";
    let addr = serve(|req| async move {
        let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
        let message = format!("invalid token: {auth}")
            .replace(' ', "%20")
            .replace(':', "%3A");
        response(
            200,
            &[
                ("content-type", "application/grpc"),
                ("grpc-status", "16"),
                ("grpc-message", &message),
            ],
            "",
        )
    })
    .await;
    let request = Request::post(format!("http://{addr}/demo.Echo/Say"))
        .header("authorization", format!("Bearer {JWT}"))
        .header("content-type", "application/grpc")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let e = failure(request).await;
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    let status = format!("{:?}", e.grpc_status().expect("a gRPC failure"));
    let text = format!("{} {status} {}", shown(&e), support::error_text(&e));
    let converted = tower_api_errors::grpc::into_status(Error::Api(e));
    let text = format!("{text} {converted:?} {}", converted.message());
    assert!(!text.contains("eyJzdWIiOiIxMjM0In0"), "{text}");
}

/// RFC 6749 §5.2 (`error_description` is OPTIONAL) and parse module docs,
/// "Dialects" (`OAuth2Error`): the code alone is kept as the code, and the
/// message is the status's reason.
#[test]
fn an_oauth_error_without_a_description_keeps_its_code() {
    let e = parsed(400, &[], br#"{"error":"unsupported_grant_type"}"#);
    assert_eq!(e.code(), Some("unsupported_grant_type"));
    assert_eq!(e.message(), "Bad Request");
    assert!(!e.is_retryable());
}

/// Parse module docs, "Dialects" (`PlainText`: HTML, a bounded excerpt)
/// and src/parse/dialects/markup.rs:93: named, decimal and hexadecimal
/// character references in a proxy page's title are decoded (HTML §13.5).
#[test]
fn an_html_titles_character_references_are_decoded() {
    let page = b"<html><head><title>Service Unavailable &amp; Down &#8211; we&#x2019;ll be back</title></head><body></body></html>";
    let e = parsed(503, &[("content-type", "text/html")], page);
    assert_eq!(
        e.message(),
        "Service Unavailable & Down \u{2013} we\u{2019}ll be back"
    );
    assert!(e.is_retryable());
}

/// SECURITY.md, "No credentials in errors or logs": S3's
/// `SignatureDoesNotMatch` (S3 API Reference, "Error responses") gives its
/// code and message; the `SignatureProvided` and `StringToSign` it echoes
/// are never shown.
#[test]
fn s3_signature_does_not_match_shows_no_signature() {
    let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message><AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256
20130524T000000Z
20130524/us-east-1/s3/aws4_request
7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972</StringToSign><SignatureProvided>aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404</SignatureProvided><RequestId>4442587FB7D0A2F9</RequestId></Error>"#;
    let e = parsed(403, &[("content-type", "application/xml")], body);
    assert_eq!(e.code(), Some("SignatureDoesNotMatch"));
    assert!(e
        .message()
        .starts_with("The request signature we calculated"));
    let text = format!("{} {:?}", shown(&e), e.details());
    for echoed in ["aeeed9bbccd4d02ee5c0109b", "7344ae5b7ee6c3e7e6b0fe06"] {
        assert!(!text.contains(echoed), "{text}");
    }
}

/// Parse module docs, "Bounds" ("bad input is never fatal") and "Dialects"
/// (unknown JSON: "the status reason and its first human text"): every odd
/// JSON root gives a message; a bare string root is the message.
#[test]
fn odd_json_roots_give_a_message() {
    for body in [
        &b"null"[..],
        b"[]",
        b"123",
        b"true",
        b"{}",
        b"[{}]",
        b"[null]",
        br#"{"errors":null}"#,
        br#"{"error":null,"message":null}"#,
        br#"{"errors":[]}"#,
        br#"{"error":{}}"#,
    ] {
        let e = parsed(500, &[("content-type", "application/json")], body);
        assert_eq!(
            e.message(),
            "Internal Server Error",
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let e = parsed(
        500,
        &[("content-type", "application/json")],
        br#""Internal error occurred""#,
    );
    assert_eq!(e.message(), "Internal error occurred");
}

/// Parse module docs, "Dialects": "a JSON document no dialect recognised
/// is never dumped as the message", nor one serde_json refuses (a number
/// out of range): the reason and its first text.
#[test]
fn json_with_a_number_out_of_range_is_not_dumped() {
    let e = parsed(
        400,
        &[],
        br#"{"error":{"code":1e999999,"message":"number out of range"}}"#,
    );
    assert_eq!(e.message(), "Bad Request: number out of range");
}

/// src/parse/extract.rs (`one_line`: "Collapses whitespace and control
/// characters") and parse module docs ("messages are made one line"): no
/// escape sequence, bell or NUL a server sends reaches the message.
#[test]
fn control_characters_do_not_reach_the_message() {
    let body = br#"{"message":"ok\u001b[2J\u001b[31mFAKE LOG LINE\u0007\u0000end"}"#;
    let e = parsed(400, &[], body);
    assert!(
        !e.message().chars().any(char::is_control),
        "{:?}",
        e.message()
    );
    assert!(e.message().contains("FAKE LOG LINE"), "{:?}", e.message());
}

/// charset module docs ("anything else is read as UTF-8, invalid
/// sequences replaced"), as the WHATWG Encoding Standard's UTF-8 decode
/// reads a body (Fetch's `json()`; RFC 8259 §8.1: JSON is UTF-8): a JSON
/// error body with a stray Latin-1 byte and no charset label keeps its
/// dialect. AWS's throttling code, read from it, is a rate limit (and
/// retryable); before, the body fell through to plain text, its code
/// lost, and the 400 was never retried.
#[test]
fn a_json_body_with_an_invalid_utf8_byte_keeps_its_dialect() {
    let body = b"{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded for caf\xe9\"}";
    let e = parsed(400, &[("content-type", "application/x-amz-json-1.1")], body);
    assert_eq!(e.code(), Some("ThrottlingException"));
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert!(e.is_retryable());
    assert_eq!(e.message(), "Rate exceeded for caf\u{fffd}");
    // Mostly invalid: not text, kept as it came, within twice the body.
    let mut binary = br#"{"message":""#.to_vec();
    binary.extend([0xff; 4096]);
    binary.extend(br#""}"#);
    let e = parsed(400, &[], &binary);
    let kept = e.details_json().map_or(0, str::len);
    assert!(kept <= 2 * binary.len() + 1024, "kept {kept}");
}

/// The same for Unicode's bidirectional controls (UAX #9 §2: embeddings,
/// overrides, isolates), which reorder how a log line reads without any
/// control character (CVE-2021-42574, "Trojan Source"): a message
/// reading `payment OK` on screen while it says `KO tnemyap`. They are
/// dropped; the text and its other scripts stay (a right-to-left word
/// needs none of them to read right).
#[test]
fn bidirectional_controls_do_not_reach_the_message() {
    let body = "{\"message\":\"card \u{202e}deniaL\u{202c} for \u{2067}סכום\u{2069} 10\u{200f}\"}";
    let e = parsed(400, &[], body.as_bytes());
    assert_eq!(e.message(), "card deniaL for סכום 10\u{200f}");
}

/// SECURITY.md, "Body parser bounds" (a kept `ApiError`: "at most 2x the
/// body read plus 1 KiB"): also when token shapes scrubbed to `REDACTED`
/// (`Basic`, `Bearer`, JWT) fill the body and the scrubbed text grows.
#[test]
fn scrubbed_token_shapes_keep_the_kept_text_within_twice_the_body() {
    for unit in [
        "basic a ",
        "Bearer a ",
        "basic a\\n",
        "eyJa.eyJb.c ",
        "bearer\\ta ",
    ] {
        let mut body = String::from(r#"{"message":"denied","echo":""#);
        while body.len() < 60 * 1024 {
            body.push_str(unit);
        }
        body.push_str(r#""}"#);
        let e = parsed(403, &[], body.as_bytes());
        let kept = e.details_json().map_or(0, str::len);
        assert!(kept > 0, "{unit:?}: the details are kept");
        assert!(
            kept <= 2 * body.len() + 1024,
            "{unit:?}: kept {kept} for a body of {}",
            body.len()
        );
    }
}

/// `ClassifyExt::refine` docs (src/classification/combinators.rs) and
/// src/stack.rs ("the parse and retry layers classify for themselves"): a
/// 500 refined to not retryable is sent once by the stack.
#[tokio::test]
async fn a_500_refined_to_not_retryable_is_sent_once_by_the_stack() {
    let sends = Arc::new(AtomicUsize::new(0));
    let counter = sends.clone();
    let addr = serve(move |_req| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { response(500, &[], r#"{"message":"deterministic bug"}"#) }
    })
    .await;
    let classifier = DefaultClassifier::new().refine(|status, _headers, verdict| match verdict {
        Classification::Failure(f) if status == StatusCode::INTERNAL_SERVER_ERROR => {
            Classification::Failure(f.with_retryable(false))
        }
        other => other,
    });
    let stack = ApiErrorsLayer::new()
        .retry(support::quick_exact())
        .classifier(classifier)
        .client(support::client::<ReplayBody<Full<Bytes>>>());
    let request = Request::get(format!("http://{addr}/"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let Err(Error::Api(e)) = stack.oneshot(request).await else {
        panic!("a 500 is a typed failure")
    };
    assert!(!e.is_retryable());
    assert_eq!(sends.load(Ordering::SeqCst), 1);
}

/// Classify module docs ("The layers above it ... read the stamp instead
/// of classifying again"): `StatusClassifierLayer`'s stamp gives the kind,
/// retry verdict and wait `parse_error` reaches alone, and the body passes.
#[tokio::test]
async fn the_classifier_stamp_agrees_with_the_parser() {
    let cases: &[(u16, Pairs)] = &[
        (503, &[("retry-after", "2")]),
        (503, &[("x-should-retry", "false")]),
        (400, &[("x-should-retry", "true")]),
        (
            403,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-limit", "60"),
                ("x-ratelimit-reset", "9999999999"),
            ],
        ),
        (
            400,
            &[("x-ratelimit-remaining", "0"), ("x-ratelimit-limit", "60")],
        ),
        (413, &[("retry-after", "5")]),
        (501, &[]),
        (511, &[]),
        (529, &[]),
        (520, &[]),
        (418, &[]),
        (
            429,
            &[
                ("ratelimit", "limit=100, remaining=0, reset=50"),
                ("ratelimit-policy", "100;w=60"),
            ],
        ),
    ];
    for &(status, pairs) in cases {
        let upstream = service_fn(move |_req: Request<()>| async move {
            let mut answer = Response::builder().status(status);
            for (name, value) in pairs {
                answer = answer.header(*name, *value);
            }
            Ok::<_, Infallible>(answer.body(Full::new(Bytes::from_static(b"{}"))).unwrap())
        });
        let stamped = StatusClassifierLayer::new().layer(upstream);
        let answer = stamped.oneshot(Request::new(())).await.unwrap();
        let verdict = *answer.extensions().get::<Classification>().unwrap();
        assert_eq!(support::body_bytes(answer.into_body()).await, "{}");
        let e = parsed(status, pairs, b"{}");
        assert_eq!(verdict.kind(), Some(e.kind()), "{status} {pairs:?}");
        assert_eq!(
            verdict.is_retryable(),
            e.is_retryable(),
            "{status} {pairs:?}"
        );
        assert_eq!(
            verdict.retry_hint().map(|h| h.delay()),
            e.retry_after(),
            "{status} {pairs:?}"
        );
    }
}

/// Parse module docs, "Body verdicts" (Etherscan's "Max rate limit
/// reached" under 200 is `RateLimited`) and `SuccessPeekLayer::detector`:
/// a user's detector flags Etherscan's `status: "0"`, and the message
/// verdict types it.
#[tokio::test]
async fn a_user_detector_types_etherscans_rate_limit_under_200() {
    struct StatusZero;
    impl FailureInSuccess for StatusZero {
        fn is_failure(&self, input: &DialectInput<'_>) -> bool {
            input
                .json()
                .and_then(|j| j.get("status"))
                .and_then(|s| s.as_str())
                == Some("0")
        }
    }
    let upstream = service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(
            Response::builder()
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(
                    br#"{"status":"0","message":"NOTOK","result":"Max rate limit reached"}"#,
                )))
                .unwrap(),
        )
    });
    let client = ServiceBuilder::new()
        .layer(SuccessPeekLayer::new().detector(StatusZero))
        .layer(ErrorBodyParseLayer::new())
        .service(upstream);
    let Err(Error::Api(e)) = client.oneshot(Request::new(())).await else {
        panic!("the detector flags status 0")
    };
    assert_eq!(e.kind(), ErrorKind::RateLimited, "{e:?}");
    let ok = peek(
        "application/json",
        r#"{"status":"1","message":"OK","result":"42"}"#,
    )
    .await;
    assert!(ok.is_ok(), "{ok:?}");
}

/// `OkFalse` docs (src/parse/peek/detect.rs: `{"ok": false, ...}`): Slack's
/// `ok: false` is a failure under 200 even without an `error` member.
#[tokio::test]
async fn ok_false_without_an_error_member_is_a_failure() {
    let r = peek("application/json", r#"{"ok":false}"#).await;
    let Err(Error::Api(e)) = r else {
        panic!("ok:false given back as a success: {r:?}")
    };
    assert_eq!(e.status(), StatusCode::OK);
}

/// `SuccessPeekLayer` docs ("a body that ... failed is given back as it
/// was, its error included"): a success that fails mid-body comes back
/// with the bytes read and then its error, not swallowed.
#[tokio::test]
async fn a_peeked_success_that_fails_is_given_back_with_its_error() {
    let upstream = service_fn(|_req: Request<()>| async {
        let frames: Vec<Result<http_body::Frame<Bytes>, support::BoxError>> = vec![
            Ok(http_body::Frame::data(Bytes::from_static(br#"{"ok":tr"#))),
            Err("connection reset".into()),
        ];
        Ok::<_, Infallible>(
            Response::builder()
                .header("content-type", "application/json")
                .body(support::Frames::new(frames))
                .unwrap(),
        )
    });
    let client = ServiceBuilder::new()
        .layer(SuccessPeekLayer::new())
        .layer(ErrorBodyParseLayer::new())
        .service(upstream);
    let mut body = client.oneshot(Request::new(())).await.unwrap().into_body();
    let mut got = Vec::new();
    let failed = loop {
        match body.frame().await {
            Some(Ok(frame)) => got.extend_from_slice(frame.data_ref().unwrap()),
            Some(Err(_)) => break true,
            None => break false,
        }
    };
    assert_eq!(got, br#"{"ok":tr"#);
    assert!(failed, "the body's error was swallowed");
}
