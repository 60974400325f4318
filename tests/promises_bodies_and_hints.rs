//! Promises on failure bodies, failures inside successes and header hints
//! that the other suites left open: echoes wherever a bound cuts, JSON Web
//! Tokens, the peek layer's hand-back and media types, body verdicts read
//! through `parse_error`, RFC 9651 lists split or spaced, and hostile
//! shapes of the markup and redaction readers. (Brought in from a probe of
//! the parse and hints promises.)

mod support;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::Full;
use std::convert::Infallible;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::{headers, peek, response, serve};
use tower::{service_fn, Layer, ServiceExt};
use tower_api_errors::hints::{ResponseHints, MAX_HINT};
use tower_api_errors::{parse_error, ApiError, Error, ErrorBodyParseLayer, ErrorKind};

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
