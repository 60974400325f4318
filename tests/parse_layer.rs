//! `ErrorBodyParseLayer` and `parse_error` under hostile input, and over
//! real hyper on loopback.

mod support;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Empty, Full};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};
use tower_api_errors::classify::{Classification, StatusClassifierLayer};
use tower_api_errors::{parse_error, Error, ErrorBodyParseLayer, ErrorKind};

// ---- parse_error on hostile bodies ----

#[test]
fn deep_nesting_is_not_a_stack_overflow() {
    let depth = 100_000;
    let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let error = parse_error(StatusCode::BAD_REQUEST, &HeaderMap::new(), body.as_bytes());
    assert_eq!(error.kind(), ErrorKind::BadRequest);
    assert!(error.message().chars().count() <= 257, "bounded excerpt");
    let objects = format!("{}{}", r#"{"error":"#.repeat(depth), "}".repeat(depth));
    let error = parse_error(
        StatusCode::BAD_REQUEST,
        &HeaderMap::new(),
        objects.as_bytes(),
    );
    assert!(error.message().chars().count() <= 257);
}

#[test]
fn malformed_bodies_still_give_a_message() {
    let rows: &[(&[u8], &str)] = &[
        (
            b"\xff\xfe\x00garbage\x80",
            "\u{FFFD}\u{FFFD} garbage\u{FFFD}",
        ),
        (
            // Cut JSON is not dumped either: the reason and its first text.
            br#"{"error": {"code": 404, "message": "Resource not"#,
            "Bad Request: Resource not",
        ),
        (
            br#"{"error": {"code": [1, 2], "message": "wrong type of code"}}"#,
            "wrong type of code",
        ),
        (
            br#"{"error": "slow_down", "error_description": "wait", "retry_after": "abc"}"#,
            "wait",
        ),
        // Never a raw JSON dump.
        (br#"{"message": 42}"#, "Bad Request"),
        (b"\xef\xbb\xbf{\"message\": \"with a BOM\"}", "with a BOM"),
        (b"   ", "Bad Request"),
    ];
    for (body, message) in rows {
        let error = parse_error(StatusCode::BAD_REQUEST, &HeaderMap::new(), body);
        assert_eq!(
            error.message(),
            *message,
            "{:?}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(error.retry_after(), None);
    }
    let error = parse_error(
        StatusCode::BAD_REQUEST,
        &HeaderMap::new(),
        br#"{"error": {"code": [1, 2], "message": "x"}}"#,
    );
    assert_eq!(error.code(), None, "a code of the wrong type is dropped");
}

/// The bound holds with the ellipsis in it (parse module docs: "bounded
/// to 1024 characters"; it was 1,025 when the cut fell after a word), and
/// a code or message that is one token past the bound is absent (the
/// status's reason for a message), not a lone "…".
#[test]
fn a_cut_is_within_the_bound_and_never_a_lone_ellipsis() {
    let json = |body: String| {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        parse_error(StatusCode::BAD_REQUEST, &headers, body.as_bytes())
    };
    let message = "try again in ".repeat(500);
    let error = json(format!(r#"{{"message": "{message}"}}"#));
    assert_eq!(error.message().chars().count(), 1024);
    assert!(error.message().ends_with("again…"));
    let code = "E".repeat(200);
    let error = json(format!(
        r#"{{"error": {{"code": "{code}", "message": "Bad"}}}}"#
    ));
    assert_eq!((error.code(), error.message()), (None, "Bad"));
    let url = format!("https://example.com/{}", "a".repeat(1100));
    assert_eq!(
        json(format!(r#"{{"message": "{url}"}}"#)).message(),
        "Bad Request"
    );
}

#[test]
fn huge_messages_are_bounded() {
    let long = "word ".repeat(100_000);
    let body = format!(
        r#"{{"message": "{long}", "code": "{}"}}"#,
        "C".repeat(10_000)
    );
    let error = parse_error(StatusCode::BAD_REQUEST, &HeaderMap::new(), body.as_bytes());
    assert!(error.message().chars().count() <= 1024);
    // A code with no word that fits the bound is no code (it was a lone
    // "…"); one of words is cut between them, within the bound.
    assert_eq!(error.code(), None);
    let body = format!(r#"{{"message": "m", "code": "{}"}}"#, "CODE ".repeat(2_000));
    let error = parse_error(StatusCode::BAD_REQUEST, &HeaderMap::new(), body.as_bytes());
    let code = error.code().unwrap();
    assert!(
        code.chars().count() <= 128 && code.ends_with("CODE…"),
        "{code}"
    );
}

// ---- the layer on hostile bodies ----

/// A body that yields `chunk` forever and counts the bytes pulled from it.
#[derive(Debug)]
struct Endless {
    chunk: Bytes,
    pulled: Arc<AtomicUsize>,
}

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.pulled.fetch_add(self.chunk.len(), Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(self.chunk.clone()))))
    }
}

/// A body that never yields anything and never ends.
#[derive(Debug)]
struct Stalled;

impl http_body::Body for Stalled {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Pending
    }
}

fn upstream<B: Send + 'static>(
    make: impl Fn() -> Response<B> + Clone + Send + 'static,
) -> impl tower::Service<Request<()>, Response = Response<B>, Error = Infallible, Future = impl Send>
       + Clone {
    service_fn(move |_req: Request<()>| {
        let make = make.clone();
        async move { Ok::<_, Infallible>(make()) }
    })
}

/// Calls `service` once and returns the `ApiError` it must fail with.
async fn api_error<S>(service: S) -> tower_api_errors::ApiError
where
    S: tower::Service<Request<()>, Error = Error>,
    S::Response: std::fmt::Debug,
{
    service
        .oneshot(Request::new(()))
        .await
        .unwrap_err()
        .into_api()
        .expect("an API error")
}

#[tokio::test]
async fn endless_and_huge_bodies_stop_at_the_cap() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    // 10 MiB in 64 KiB chunks, or an endless stream: the same to the reader.
    let service = ErrorBodyParseLayer::new().layer(upstream(move || {
        let mut chunk = br#"{"message": "overflowing""#.to_vec();
        chunk.resize(64 * 1024, b' ');
        Response::builder()
            .status(500)
            .body(Endless {
                chunk: Bytes::from(chunk),
                pulled: counter.clone(),
            })
            .unwrap()
    }));
    let error = api_error(service).await;
    assert!(error.is_truncated());
    assert_eq!(error.kind(), ErrorKind::Server);
    // One chunk fills the 64 KiB cap; the reader stops after the next.
    assert!(
        pulled.load(Ordering::SeqCst) <= 2 * 64 * 1024,
        "read {} bytes",
        pulled.load(Ordering::SeqCst)
    );
    assert!(error.to_string().contains("body truncated"));
}

#[tokio::test]
async fn a_smaller_cap_is_honoured() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let service = ErrorBodyParseLayer::new()
        .max_body_bytes(10)
        .layer(upstream(move || {
            Response::builder()
                .status(503)
                .body(Endless {
                    chunk: Bytes::from_static(b"0123456789abcdef"),
                    pulled: counter.clone(),
                })
                .unwrap()
        }));
    let error = api_error(service).await;
    assert!(error.is_truncated());
    assert_eq!(error.message(), "0123456789");
}

/// Before: a body cut at the read cap kept the start of the word the cap
/// fell in, an echoed credential's first bytes (`sk_live_51Hx9`), which
/// scrubbing finds only whole (`parse::extract::one_line`: "a cut falls
/// between words, never in one"; SECURITY.md, "No credentials in errors
/// or logs"). The cut word goes, whatever the cap and the dialect.
#[tokio::test]
async fn a_body_cut_at_the_cap_keeps_no_part_of_the_word_it_fell_in() {
    const KEY: &str = "sk_live_51Hx9q2eZvKYlo2CabcdefGHIJ";
    let lead = 65_536 - r#"{"message":"Invalid API key: "#.len() - 13;
    let json = format!(
        r#"{{{}"message":"Invalid API key: {KEY}"}}"#,
        " ".repeat(lead)
    );
    let rows = [
        (None, "application/json", json),
        (Some(32), "text/plain", format!("Invalid API key: {KEY}")),
        (
            Some(40),
            "text/html",
            format!("<p>Invalid API key:<b>{KEY}</b></p>"),
        ),
    ];
    for (cap, content_type, body) in rows {
        let layer = cap.map_or_else(ErrorBodyParseLayer::new, |cap| {
            ErrorBodyParseLayer::new().max_body_bytes(cap)
        });
        let error = api_error(layer.layer(upstream(move || {
            Response::builder()
                .status(401)
                .header("content-type", content_type)
                .body(Full::new(Bytes::from(body.clone())))
                .unwrap()
        })))
        .await;
        assert!(error.is_truncated(), "{content_type}");
        let message = error.message();
        assert!(
            message.ends_with("Invalid API key:"),
            "{content_type}: {message}"
        );
        assert!(!format!("{error:?} {:?}", error.details()).contains("sk_live"));
    }
}

/// The same for a body the connection cut mid-stream: a real server sends
/// one chunk ending inside an echoed key, then closes the connection. The
/// error says it was cut, and keeps no part of the word the cut fell in.
#[tokio::test]
async fn a_body_cut_by_the_connection_keeps_no_part_of_the_word_it_fell_in() {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let chunk = "Invalid API key: sk_live_51Hx9";
        let head = "HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\n\
                    transfer-encoding: chunked\r\n\r\n";
        let sent = format!("{head}{:x}\r\n{chunk}\r\n", chunk.len());
        // The request read (a GET: one packet), the answer cut mid-body.
        let mut request = [0; 1024];
        let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut request).await;
        socket.write_all(sent.as_bytes()).await.unwrap();
    });
    let client = support::client::<Empty<Bytes>>();
    let error = ErrorBodyParseLayer::new()
        .layer(client)
        .oneshot(
            Request::get(format!("http://{addr}/"))
                .body(Empty::new())
                .unwrap(),
        )
        .await
        .unwrap_err()
        .into_api()
        .expect("an API error");
    assert!(error.is_truncated());
    assert_eq!(error.message(), "Invalid API key:");
    assert!(!format!("{error:?} {error}").contains("sk_live"));
}

#[tokio::test(start_paused = true)]
async fn a_stalled_body_times_out() {
    let service = ErrorBodyParseLayer::new()
        .body_timeout(Duration::from_secs(3))
        .layer(upstream(|| {
            Response::builder().status(502).body(Stalled).unwrap()
        }));
    let started = tokio::time::Instant::now();
    let error = api_error(service).await;
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert!(error.is_truncated());
    assert_eq!(error.message(), "Bad Gateway");
}

#[tokio::test]
async fn a_body_that_errors_half_way_keeps_what_it_read_and_the_cause() {
    let service = ErrorBodyParseLayer::new().layer(upstream(|| {
        let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
            Ok(Frame::data(Bytes::from_static(b"upstream went "))),
            Ok(Frame::data(Bytes::from_static(b"away"))),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "reset mid-body",
            )),
        ];
        Response::builder()
            .status(503)
            .body(support::Frames::new(frames))
            .unwrap()
    }));
    let error = service.oneshot(Request::new(())).await.unwrap_err();
    let api = error.api().unwrap();
    assert!(api.is_truncated());
    // Without the last word: a reset may fall inside one (an echoed key's
    // first bytes), and nothing tells it from a reset after a whole word.
    assert_eq!(api.message(), "upstream went");
    let cause = std::error::Error::source(&error).expect("the body error is the source");
    assert_eq!(cause.to_string(), "reset mid-body");
}

#[tokio::test]
async fn successes_pass_untouched_and_inner_errors_become_transport() {
    let service = ErrorBodyParseLayer::new().layer(upstream(|| {
        Response::builder()
            .status(201)
            .header("x-id", "7")
            .body(Full::new(Bytes::from_static(b"created")))
            .unwrap()
    }));
    let response = service.oneshot(Request::new(())).await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-id"], "7");
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "created"
    );

    let failing = ErrorBodyParseLayer::new().layer(service_fn(|_req: Request<()>| async {
        Err::<Response<Empty<Bytes>>, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        ))
    }));
    match failing.oneshot(Request::new(())).await.unwrap_err() {
        Error::Transport(transport) => {
            assert!(transport.is_connect());
            assert_eq!(transport.request().unwrap().to_string(), "GET /");
            let io = std::error::Error::source(&transport)
                .unwrap()
                .downcast_ref::<std::io::Error>()
                .unwrap();
            assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
}

#[tokio::test]
async fn uses_the_classification_stamped_below() {
    // A classifier below says 404 is a success: the parse layer agrees.
    let classifier = tower_api_errors::classify::DefaultClassifier::new();
    let classifier = tower_api_errors::classify::ClassifyExt::with_status(
        classifier,
        StatusCode::NOT_FOUND,
        Classification::Success,
    );
    let service = ServiceBuilder::new()
        .layer(ErrorBodyParseLayer::new())
        .layer(StatusClassifierLayer::new().classifier(classifier))
        .service(upstream(|| {
            Response::builder()
                .status(404)
                .body(Full::new(Bytes::new()))
                .unwrap()
        }));
    assert_eq!(
        service.oneshot(Request::new(())).await.unwrap().status(),
        404
    );
}

// ---- over real hyper on loopback ----

#[tokio::test]
async fn over_real_hyper_on_loopback() {
    let addr = support::serve(|request| async move {
        match request.uri().path() {
            "/stream" => {
                // A success streamed in three chunks.
                let chunks = support::Frames::<support::BoxError>::chunks(&["alpha-", "beta-", "gamma"]);
                Response::new(BodyExt::boxed(chunks))
            }
            "/version" => support::response(
                426,
                &[("content-type", "application/json")],
                r#"{"error": {"code": "VERSION_OUTDATED", "message": "Client version a.0.9-1 is no longer supported", "min_version": "a.1.0-1", "update_url": "https://example.com/update"}}"#,
            ),
            _ => support::response(
                429,
                &[("retry-after", "45"), ("x-ratelimit-limit", "60"), ("x-ratelimit-remaining", "0")],
                r#"{"error": "Rate Limit Exceeded", "message": "Too many requests per minute"}"#,
            ),
        }
    })
    .await;
    let client = ServiceBuilder::new()
        .layer(ErrorBodyParseLayer::new())
        .layer(StatusClassifierLayer::new())
        .service(support::client::<Empty<Bytes>>());
    let get = |path: &str| {
        Request::get(format!("http://{addr}{path}"))
            .body(Empty::new())
            .unwrap()
    };

    let streamed = client.clone().oneshot(get("/stream")).await.unwrap();
    assert_eq!(
        support::body_bytes(streamed.into_body()).await,
        "alpha-beta-gamma"
    );

    let Error::Api(version) = client.clone().oneshot(get("/version")).await.unwrap_err() else {
        panic!()
    };
    assert_eq!(version.kind(), ErrorKind::UpgradeRequired);
    assert_eq!(version.code(), Some("VERSION_OUTDATED"));
    assert_eq!(
        version.details().unwrap()["error"]["min_version"],
        "a.1.0-1"
    );

    let uri = format!("http://user:hunter2@{addr}/limited?api_key=sk_live_123&page=2");
    let request = Request::get(uri)
        .header("authorization", "Bearer sk_live_456")
        .body(Empty::new())
        .unwrap();
    let Error::Api(limited) = client.oneshot(request).await.unwrap_err() else {
        panic!()
    };
    assert_eq!(limited.kind(), ErrorKind::RateLimited);
    assert_eq!(limited.message(), "Too many requests per minute");
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(45)));
    assert_eq!(limited.rate_limit().unwrap().remaining(), Some(0));
    for text in [limited.to_string(), format!("{limited:?}")] {
        for secret in ["hunter2", "sk_live_123", "sk_live_456", "Bearer"] {
            assert!(!text.contains(secret), "{secret} leaked into {text}");
        }
    }
    assert!(limited.to_string().contains("api_key=REDACTED&page=2"));
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    let addr = support::refused_addr();
    let client = ErrorBodyParseLayer::new().layer(support::client::<Empty<Bytes>>());
    let request = Request::get(format!("http://{addr}/"))
        .body(Empty::new())
        .unwrap();
    let error = client.oneshot(request).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transport);
    assert!(error.transport().unwrap().is_connect(), "{error:?}");
}

#[test]
fn types_are_send_sync_clone() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<ErrorBodyParseLayer>();
    assert_traits::<tower_api_errors::ApiError>();
    fn assert_error<T: std::error::Error + Send + Sync + 'static>() {}
    assert_error::<Error>();
    assert_error::<tower_api_errors::ApiError>();
}

/// A body that is always ready with a frame that carries no bytes: an
/// empty data frame (an HTTP/2 server may send zero-length DATA frames
/// without end, the "empty frames flood" of CVE-2019-9518), or a trailers
/// frame. Panics past a million frames, so that a reader that never
/// stops fails the test instead of hanging it.
#[derive(Debug)]
struct Weightless {
    trailers: bool,
    polled: Arc<AtomicUsize>,
}

impl http_body::Body for Weightless {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let polled = self.polled.fetch_add(1, Ordering::SeqCst);
        assert!(polled < 1_000_000, "the reader spun on empty frames");
        Poll::Ready(Some(Ok(if self.trailers {
            Frame::trailers(HeaderMap::new())
        } else {
            Frame::data(Bytes::new())
        })))
    }
}

/// Before: the reader looped on frames without bytes for ever (the body
/// timer is only polled when the body is pending), holding the thread. A
/// frame now costs at least one byte of the cap.
#[tokio::test(start_paused = true)]
async fn endless_frames_without_bytes_stop_at_the_cap() {
    for trailers in [false, true] {
        let polled = Arc::new(AtomicUsize::new(0));
        let counter = polled.clone();
        let service = ErrorBodyParseLayer::new()
            .max_body_bytes(1024)
            .layer(upstream(move || {
                let body = Weightless {
                    trailers,
                    polled: counter.clone(),
                };
                Response::builder().status(503).body(body).unwrap()
            }));
        let error = api_error(service).await;
        assert!(error.is_truncated(), "trailers: {trailers}");
        assert_eq!(error.message(), "Service Unavailable");
        assert!(
            polled.load(Ordering::SeqCst) <= 1025,
            "trailers: {trailers}"
        );
    }
}

/// An error body still in its content coding: a client that asks for
/// `Accept-Encoding: gzip` and does not decompress (hyper-util's client
/// does not) gets the failure body compressed. Before, its bytes were read
/// as text and the message was binary noise ("\u{FFFD} \u{FFFD}V\u{FFFD}M-.NLOU...").
/// Now a coded body that is not UTF-8 is not read: the message is the
/// status's reason. A `Content-Encoding` that lies (a plain body) is still
/// read, and so is a body declared latin-1 without a coding.
#[test]
fn a_body_still_in_its_content_coding_is_not_read_as_text() {
    const GZIP: &[u8] = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xab\x56\x4a\x2d\x2a\xca\x2f\x52\xb2\xaa\x56\xca\x4d\x2d\x2e\x4e\x4c\x4f\x55\xb2\x52\x2a\x2c\xcd\x2f\x49\x54\x48\xad\x48\x4e\x4d\x4d\x49\x4d\x51\xd2\x51\x4a\xce\x4f\x01\x89\x17\x25\x96\xa4\xc6\xe7\x64\xe6\x66\x96\x28\xd5\xd6\x02\x00\x93\xa1\x43\x4f\x3a\x00\x00\x00";
    const DEFLATE: &[u8] = b"\x78\x9c\xab\x56\x4a\x2d\x2a\xca\x2f\x52\xb2\xaa\x56\xca\x4d\x2d\x2e\x4e\x4c\x4f\x55\xb2\x52\x2a\x2c\xcd\x2f\x49\x54\x48\xad\x48\x4e\x4d\x4d\x49\x4d\x51\xd2\x51\x4a\xce\x4f\x01\x89\x17\x25\x96\xa4\xc6\xe7\x64\xe6\x66\x96\x28\xd5\xd6\x02\x00\x57\x99\x14\x74";
    const PLAIN: &[u8] = br#"{"error":{"message":"quota exceeded","code":"rate_limit"}}"#;
    // (content-encoding, content-type, body, message, code)
    type Row<'a> = (&'a str, &'a str, &'a [u8], &'a str, Option<&'a str>);
    let rows: &[Row<'_>] = &[
        // RFC 9110 §8.4.1.3 gzip, §8.4.1.2 deflate (zlib), and a list of
        // codings (§8.4): not text until decoded.
        ("gzip", "application/json", GZIP, "Too Many Requests", None),
        (
            "x-gzip",
            "application/json",
            GZIP,
            "Too Many Requests",
            None,
        ),
        (
            "deflate",
            "application/json",
            DEFLATE,
            "Too Many Requests",
            None,
        ),
        (
            "identity, gzip",
            "application/json",
            GZIP,
            "Too Many Requests",
            None,
        ),
        (
            "br",
            "text/plain",
            b"\x8b\x03\x80\xff\xfe\x00",
            "Too Many Requests",
            None,
        ),
        // The header lies: the body is plain, and read as such.
        (
            "gzip",
            "application/json",
            PLAIN,
            "quota exceeded",
            Some("rate_limit"),
        ),
        (
            "identity",
            "application/json",
            PLAIN,
            "quota exceeded",
            Some("rate_limit"),
        ),
        // No coding: latin-1 text is still transcoded.
        (
            "",
            "text/plain; charset=iso-8859-1",
            b"caf\xe9 ferm\xe9",
            "caf\u{e9} ferm\u{e9}",
            None,
        ),
    ];
    for (coding, content_type, body, message, code) in rows {
        let mut headers = HeaderMap::new();
        if !coding.is_empty() {
            headers.insert("content-encoding", coding.parse().unwrap());
        }
        headers.insert("content-type", content_type.parse().unwrap());
        let error = parse_error(StatusCode::TOO_MANY_REQUESTS, &headers, body);
        assert_eq!(error.message(), *message, "{coding:?}");
        assert_eq!(error.code(), *code, "{coding:?}");
        assert_eq!(error.kind(), ErrorKind::RateLimited, "{coding:?}");
    }
}

/// SECURITY.md: "messages are bounded to 1,024 characters" (codes to
/// 128). Through the layer, echoes were scrubbed after the bound, and a
/// six-character echo (a `?token=` secret, `Bearer <scheme word>`) becomes
/// the longer `REDACTED`: the message outgrew its bound. Now scrubbed
/// before it is bounded.
#[tokio::test]
async fn a_scrubbed_message_stays_within_its_bound() {
    let message = "abcdef Bearer Bearer ".repeat(3000);
    let body = format!(r#"{{"message":"{message}","code":"{}"}}"#, &message[..2000]);
    let upstream = service_fn(move |_: Request<()>| {
        let response = Response::builder()
            .status(502)
            .body(Full::new(Bytes::from(body.clone())));
        async move { Ok::<_, Infallible>(response.unwrap()) }
    });
    let request = Request::get("http://api.test/items?token=abcdef")
        .body(())
        .unwrap();
    let response = ErrorBodyParseLayer::new()
        .layer(upstream)
        .oneshot(request)
        .await;
    let Err(Error::Api(error)) = response else {
        panic!("{response:?}")
    };
    assert!(
        error.message().starts_with("REDACTED Bearer REDACTED"),
        "{}",
        error.message()
    );
    assert!(
        error.message().chars().count() <= 1024,
        "{}",
        error.message().len()
    );
    assert!(error.code().is_none_or(|code| code.chars().count() <= 128));
}
