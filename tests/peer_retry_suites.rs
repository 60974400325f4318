//! Peers' retry test suites, ported as rows and run against our stack.
//!
//! Each row names the peer test it comes from (repository, file, test) and
//! states what the peer expects; the row asserts what our `RetryLayer`
//! does, on tower-test mocks with paused time (and, for the rows that need
//! a real client, hyper on 127.0.0.1). Every row runs twice: over the bare
//! retry layer (failures arrive as responses) and over the parse layer
//! (failures arrive as typed errors); both must agree. A row whose
//! answers carry an error body (an error code) runs over the parse
//! layer only: the bare layer reads no body.
//!
//! Where we and the peer differ and the peer is right, the code was fixed
//! (see `changes/peers.md`, `changes/peers2.md`); where we are right, the
//! row keeps our behaviour and its `differs` says why (RFC 9110, the
//! vendors' docs).
//!
//! The peers:
//! - urllib3 `test/test_retry.py` (`Retry`, `RETRY_AFTER_STATUS_CODES`);
//! - hashicorp/go-retryablehttp `client_test.go` (`DefaultRetryPolicy`,
//!   `DefaultBackoff`, `parseRetryAfterHeader`);
//! - dotnet/extensions, Microsoft.Extensions.Http.Resilience (Polly v8's
//!   standard handler): `HttpRetryStrategyOptionsTests.cs`,
//!   `HttpClientResiliencePredicatesTests.cs`;
//! - failsafe-go `failsafehttp/policy.go` (`RetryPolicyBuilder`, `DelayFunc`);
//! - grpc/proposal A6-client-retries.md (gRFC A6: pushback, throttling);
//! - jd/tenacity `tests/test_tenacity.py`, litl/backoff `tests/test_wait_gen.py`;
//! - softonic/axios-retry `spec/index.spec.ts` and `src/index.ts`
//!   (`isNetworkOrIdempotentRequestError`, `exponentialDelay`);
//! - TrueLayer/reqwest-middleware, the `reqwest-retry` crate:
//!   `tests/all/retry.rs` and `src/retryable_strategy.rs`
//!   (`default_on_request_success`, `default_on_request_failure`);
//! - the OpenAI and Anthropic SDKs (Stainless-generated): openai-python
//!   `_base_client.py` (`_should_retry`, `_calculate_retry_timeout`) and
//!   `tests/test_client.py`, openai-node `retryRequest` (`retry-after-ms`);
//! - Stripe's SDKs: stripe-java `HttpClientTest.java`, stripe-go
//!   `shouldRetry` (`Stripe-Should-Retry`, 409, `lock_timeout`);
//! - boto/botocore's standard retry mode, `botocore/retries/standard.py`
//!   and `tests/unit/retries/test_standard.py` (the body's error code);
//! - square/okhttp `RetryAndFollowUpInterceptor.kt` (`followUpRequest`:
//!   408 and 503; `isRecoverable`);
//! - googleapis/python-api-core `tests/unit/retry/test_retry_base.py`
//!   (`if_transient_error`, `exponential_sleep_generator`);
//! - envoyproxy/envoy `test/common/router/retry_state_impl_test.cc`
//!   (`retry_on`: 5xx, gateway-error, connect-failure, retriable-4xx,
//!   `x-envoy-overloaded`), grpc-java `RetriableStream` (buffer limit);
//! - grpc/grpc-go `test/retry_test.go` (`TestRetryStreaming`: codes,
//!   attempts, pushback);
//! - googleapis/google-cloud-go `storage/invoke.go` (`ShouldRetry`);
//! - Azure/azure-sdk-for-python azure-core `policies/_retry.py` and
//!   `tests/test_retry_policy.py` (`retry-after-ms`, `x-ms-retry-after-ms`).

mod support;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tower::{ServiceBuilder, ServiceExt};
use tower_api_errors::retry::{
    Backoff, Jitter, ReplayBody, RetryLayer, RetryOverride, RetryPolicy, TpsBudget,
};
use tower_api_errors::{Error, ErrorBodyParseLayer, RetryReport, StopReason};
use tower_test::mock;

type Req<B = Full<Bytes>> = Request<ReplayBody<B>>;
type Upstream = mock::Mock<Req, Response<Full<Bytes>>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

const MS: fn(u64) -> Duration = Duration::from_millis;
const S: fn(u64) -> Duration = Duration::from_secs;

/// Our policy with its waits made exact: the default backoff (500 ms,
/// doubling, capped at 20 s) without jitter, and no budget.
fn exact() -> RetryPolicy {
    RetryPolicy::default()
        .backoff(Backoff::exponential(MS(500), 2.0, S(20)).jitter(Jitter::None))
        .no_budget()
}

/// Our policy with room for the long hints urllib3 sleeps on (it honours
/// up to 6 h, `DEFAULT_RETRY_AFTER_MAX`): 2 h honoured, a 3 h deadline.
fn patient() -> RetryPolicy {
    exact().max_retry_after(S(7_200)).deadline(S(10_800))
}

/// What the upstream does with one attempt.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Answers with this status and these headers (empty body).
    Status(u16, &'static [(&'static str, &'static str)]),
    /// Answers with this status, content type and body: what only the
    /// parse layer reads (a row with one runs over the parse layer only).
    Body(u16, &'static str, &'static str),
    /// Fails with an I/O error of this kind (refused: never sent; reset,
    /// timed out: may have reached the server).
    Io(std::io::ErrorKind),
    /// Fails with this error.
    Fails(fn() -> BoxError),
    /// Never answers (a per-attempt timeout or the deadline cuts it).
    Hangs,
}

use Step::{Body, Fails, Hangs, Io, Status};

/// How the waits between attempts are checked.
#[derive(Clone, Debug)]
enum Waits {
    /// Exactly these.
    Exact(Vec<Duration>),
    /// Each within its bounds, inclusive.
    Within(Vec<(Duration, Duration)>),
}

use Waits::{Exact, Within};

/// What the caller gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The last attempt's status (a response over the bare layer, an
    /// `ApiError` over the parse layer), and why retries stopped (`None`
    /// for a success).
    Status(u16, Option<StopReason>),
    /// A transport error, and why retries stopped.
    Transport(Option<StopReason>),
}

struct Row {
    /// The peer test: repository, file, test (and parameters).
    peer: &'static str,
    /// What the peer's test expects.
    peer_says: &'static str,
    method: &'static str,
    request_headers: &'static [(&'static str, &'static str)],
    policy: fn() -> RetryPolicy,
    /// A `tower::timeout` per attempt, below the retry layer.
    attempt_timeout: Option<Duration>,
    steps: Vec<Step>,
    waits: Waits,
    end: End,
    /// Where we keep a behaviour the peer does not share: why.
    differs: Option<&'static str>,
}

impl Row {
    fn new(peer: &'static str, peer_says: &'static str) -> Self {
        Row {
            peer,
            peer_says,
            method: "GET",
            request_headers: &[],
            policy: exact,
            attempt_timeout: None,
            steps: Vec::new(),
            waits: Exact(Vec::new()),
            end: End::Status(200, None),
            differs: None,
        }
    }
    fn method(mut self, method: &'static str) -> Self {
        self.method = method;
        self
    }
    fn headers(mut self, headers: &'static [(&'static str, &'static str)]) -> Self {
        self.request_headers = headers;
        self
    }
    fn policy(mut self, policy: fn() -> RetryPolicy) -> Self {
        self.policy = policy;
        self
    }
    fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }
    fn steps(mut self, steps: &[Step]) -> Self {
        self.steps = steps.to_vec();
        self
    }
    fn waits(mut self, waits: &[Duration]) -> Self {
        self.waits = Exact(waits.to_vec());
        self
    }
    fn waits_within(mut self, bounds: &[(Duration, Duration)]) -> Self {
        self.waits = Within(bounds.to_vec());
        self
    }
    fn ends(mut self, status: u16, stopped: Option<StopReason>) -> Self {
        self.end = End::Status(status, stopped);
        self
    }
    fn ends_in_transport_error(mut self, stopped: Option<StopReason>) -> Self {
        self.end = End::Transport(stopped);
        self
    }
    fn differs(mut self, why: &'static str) -> Self {
        self.differs = Some(why);
        self
    }
}

/// What a row's run showed.
#[derive(Debug, PartialEq)]
struct Seen {
    attempts: usize,
    waits: Vec<Duration>,
    end: End,
    reported_attempts: u32,
}

#[derive(Clone, Copy, Debug)]
enum Stack {
    Bare,
    Parsed,
}

fn request(row: &Row) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(row.method)
        .uri("http://api.test/v1/items");
    for (name, value) in row.request_headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(Bytes::from_static(b"{}"))).unwrap()
}

fn reply(status: u16, headers: &[(&str, &str)]) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(Bytes::new())).unwrap()
}

type Outcome = Result<Response<Full<Bytes>>, Error>;

/// Sends the row's request through `stack` over a mock that plays the
/// row's steps, and records what happened.
async fn run(row: &Row, stack: Stack) -> Seen {
    let (mock, mut handle) = mock::pair::<Req, Response<Full<Bytes>>>();
    handle.allow(u64::MAX);
    // "No per-attempt timeout" is one longer than any deadline.
    let timeout = row.attempt_timeout.unwrap_or(S(365 * 86_400));
    let retry = RetryLayer::new((row.policy)());
    let call: tokio::task::JoinHandle<Outcome> = match stack {
        Stack::Bare => {
            let client = ServiceBuilder::new()
                .layer(retry)
                .timeout(timeout)
                .service::<Upstream>(mock);
            tokio::spawn(client.oneshot(request(row)))
        }
        Stack::Parsed => {
            let client = ServiceBuilder::new()
                .layer(retry)
                .layer(ErrorBodyParseLayer::new())
                .timeout(timeout)
                .service::<Upstream>(mock);
            tokio::spawn(client.oneshot(request(row)))
        }
    };
    let mut arrivals = Vec::new();
    let mut hanging = Vec::new();
    let mut steps = row.steps.iter();
    let mut call = call;
    let outcome = loop {
        tokio::select! {
            biased;
            outcome = &mut call => break outcome.unwrap(),
            next = handle.next_request() => {
                let Some((_request, send)) = next else {
                    break call.await.unwrap();
                };
                arrivals.push(Instant::now());
                // An attempt the row does not expect is answered 200 (and
                // counted: the row then fails on its count).
                match *steps.next().unwrap_or(&OK) {
                    Status(status, headers) => send.send_response(reply(status, headers)),
                    Body(status, content_type, body) => {
                        let mut response = reply(status, &[("content-type", content_type)]);
                        *response.body_mut() = Full::new(Bytes::from_static(body.as_bytes()));
                        send.send_response(response)
                    }
                    Io(kind) => send.send_error(std::io::Error::new(kind, "injected")),
                    Fails(error) => send.send_error(error()),
                    Hangs => hanging.push(send),
                }
            }
        }
    };
    let (end, report) = match &outcome {
        Ok(response) => {
            let report = response.extensions().get::<RetryReport>().copied();
            let report = report.unwrap_or_else(|| RetryReport::new(1, Duration::ZERO));
            (
                End::Status(response.status().as_u16(), report.stopped()),
                report,
            )
        }
        Err(error) => {
            let report = error.retries();
            let end = match error.api() {
                Some(api) => End::Status(api.status().as_u16(), report.stopped()),
                None => {
                    assert!(error.transport().is_some(), "{}: {error}", row.peer);
                    End::Transport(report.stopped())
                }
            };
            (end, report)
        }
    };
    Seen {
        attempts: arrivals.len(),
        waits: arrivals.windows(2).map(|w| w[1] - w[0]).collect(),
        end,
        reported_attempts: report.attempts(),
    }
}

/// Runs every row over both stacks and asserts it.
async fn check(rows: Vec<Row>) {
    let mut failures = Vec::new();
    for row in &rows {
        // The bare layer classifies by status and headers: a body's verdict
        // is the parse layer's.
        let bodies = row.steps.iter().any(|step| matches!(step, Body(..)));
        let stacks = if bodies {
            &[Stack::Parsed][..]
        } else {
            &[Stack::Bare, Stack::Parsed]
        };
        for &stack in stacks {
            let seen = run(row, stack).await;
            let waits_ok = match &row.waits {
                Exact(waits) => seen.waits == *waits,
                Within(bounds) => {
                    seen.waits.len() == bounds.len()
                        && seen
                            .waits
                            .iter()
                            .zip(bounds)
                            .all(|(wait, (low, high))| low <= wait && wait <= high)
                }
            };
            let attempts = row.steps.len();
            if !waits_ok
                || seen.end != row.end
                || seen.attempts != attempts
                || seen.reported_attempts as usize != attempts
            {
                failures.push(format!(
                    "{} ({stack:?})\n  peer says: {}\n  we differ: {}\n  expected: {attempts} attempts, waits {:?}, {:?}\n  seen:     {seen:?}",
                    row.peer,
                    row.peer_says,
                    row.differs.unwrap_or("-"),
                    row.waits,
                    row.end,
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

const OK: Step = Status(200, &[]);
const REFUSED: Step = Io(std::io::ErrorKind::ConnectionRefused);
const RESET: Step = Io(std::io::ErrorKind::ConnectionReset);

// urllib3 mocks its clock at 2019-06-03 11:00:00 UTC; our responses carry
// that instant as their `Date`, which a `Retry-After` date is read against.
const DATE: (&str, &str) = ("date", "Mon, 03 Jun 2019 11:00:00 GMT");

#[tokio::test(start_paused = true)]
async fn urllib3_test_retry() {
    use StopReason::*;
    check(vec![
        // --- Retry-After on a 503 (RETRY_AFTER_STATUS_CODES) -------------
        Row::new(
            "urllib3 test/test_retry.py::test_respect_retry_after_header_sleep[3600-True-3600]",
            "a 503 with Retry-After: 3600 sleeps 3600 s, then retries",
        )
        .steps(&[Status(503, &[("retry-after", "3600")])])
        .ends(503, Some(HintTooLong))
        .differs(
            "an hour is not slept on by default (max_retry_after 120 s): the caller gets the \
             error at once with the hint on it and decides; holding a request for an hour \
             holds its task, a connection and maybe a user. A caller who wants the wait says \
             so (next row).",
        ),
        Row::new(
            "urllib3 test/test_retry.py::test_respect_retry_after_header_sleep[3600-True-3600]",
            "a 503 with Retry-After: 3600 sleeps 3600 s, then retries",
        )
        .policy(patient)
        .steps(&[Status(503, &[("retry-after", "3600")]), OK])
        .waits(&[S(3600)])
        .ends(200, None),
        Row::new(
            "urllib3 test/test_retry.py::test_respect_retry_after_header_sleep[Mon, 3 Jun 2019 12:00:00 UTC-True-3600]",
            "a date an hour ahead sleeps 3600 s",
        )
        .policy(patient)
        .steps(&[
            Status(503, &[DATE, ("retry-after", "Mon, 3 Jun 2019 12:00:00 UTC")]),
            OK,
        ])
        .waits(&[S(3600)])
        .ends(200, None),
        Row::new(
            "urllib3 test/test_retry.py::test_respect_retry_after_header_sleep[Mon, 3 Jun 2019 11:00:00 UTC-True-None]",
            "a date already reached: no Retry-After sleep, the backoff instead",
        )
        .steps(&[
            Status(503, &[DATE, ("retry-after", "Mon, 3 Jun 2019 11:00:00 UTC")]),
            OK,
        ])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "urllib3 test/test_retry.py::test_respect_retry_after_header_sleep[Mon, 03 Jun 2019 11:30:12 GMT-True-1812]",
            "IMF-fixdate: 1812 s",
        )
        .policy(patient)
        .steps(&[
            Status(503, &[DATE, ("retry-after", "Mon, 03 Jun 2019 11:30:12 GMT")]),
            OK,
        ])
        .waits(&[S(1812)])
        .ends(200, None),
        Row::new(
            "urllib3 test/test_retry.py::test_respect_retry_after_header_sleep[Monday, 03-Jun-19 11:30:12 GMT-True-1812]",
            "RFC 850 date: 1812 s",
        )
        .policy(patient)
        .steps(&[
            Status(503, &[DATE, ("retry-after", "Monday, 03-Jun-19 11:30:12 GMT")]),
            OK,
        ])
        .waits(&[S(1812)])
        .ends(200, None),
        Row::new(
            "urllib3 test/test_retry.py::test_respect_retry_after_header_sleep[Mon Jun  3 11:30:12 2019-True-1812]",
            "asctime date, read as UTC: 1812 s",
        )
        .policy(patient)
        .steps(&[
            Status(503, &[DATE, ("retry-after", "Mon Jun  3 11:30:12 2019")]),
            OK,
        ])
        .waits(&[S(1812)])
        .ends(200, None),
        // --- parse_retry_after ----------------------------------------
        Row::new(
            "urllib3 test/test_retry.py::test_parse_retry_after[0-0]",
            "Retry-After: 0 is no sleep: the backoff runs instead (sleep_for_retry is falsy)",
        )
        .steps(&[Status(503, &[("retry-after", "0")]), OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "urllib3 test/test_retry.py::test_parse_retry_after[\\t42 -42]",
            "whitespace around delta-seconds is trimmed: 42 s",
        )
        .steps(&[Status(503, &[("retry-after", "\t42 ")]), OK])
        .waits(&[S(42)])
        .ends(200, None),
        Row::new(
            "urllib3 test/test_retry.py::test_parse_retry_after[1000-1000]",
            "1000 s is slept on",
        )
        .policy(patient)
        .steps(&[Status(503, &[("retry-after", "1000")]), OK])
        .waits(&[S(1000)])
        .ends(200, None),
        Row::new(
            "urllib3 test/test_retry.py::test_parse_retry_after_invalid[-1]",
            "InvalidHeader: the request fails",
        )
        .steps(&[Status(503, &[("retry-after", "-1")]), OK])
        .waits(&[MS(500)])
        .ends(200, None)
        .differs(
            "an unreadable hint is no reason to fail a request the server called transient: \
             it is ignored and the backoff waits (go-retryablehttp's parseRetryAfterHeader \
             'negative' row does the same)",
        ),
        Row::new(
            "urllib3 test/test_retry.py::test_parse_retry_after_invalid[+1]",
            "InvalidHeader: the request fails",
        )
        .steps(&[Status(503, &[("retry-after", "+1")]), OK])
        .waits(&[MS(500)])
        .ends(200, None)
        .differs("not delta-seconds (RFC 9110 §10.2.3: 1*DIGIT): ignored, the backoff waits"),
        Row::new(
            "urllib3 test/test_retry.py::test_parse_retry_after_invalid[1.0]",
            "InvalidHeader: the request fails",
        )
        .steps(&[Status(503, &[("retry-after", "1.0")]), OK])
        .waits(&[S(1)])
        .ends(200, None)
        .differs(
            "a documented leniency (hints::parse_retry_after): a fraction means what it \
             says, and waiting it never retries earlier than asked",
        ),
        // --- Retry-After too long: test_configurable_retry_after_max,
        //     test_max_retry_wait_length_exceeded -------------------------
        Row::new(
            "urllib3 test/test_retry.py::test_configurable_retry_after_max",
            "Retry(retry_after_max=1): Retry-After: 2 is clamped to 1 s and slept",
        )
        .policy(|| exact().max_retry_after(S(1)))
        .steps(&[Status(503, &[("retry-after", "2")])])
        .ends(503, Some(HintTooLong))
        .differs(
            "retrying after 1 s when the server said 2 s retries earlier than asked and earns \
             another 503; we stop with the hint on the error (what urllib3 itself did before, \
             test_max_retry_wait_length_exceeded: MaxRetryWaitExceededError)",
        ),
        Row::new(
            "urllib3 test/test_retry.py::test_configurable_retry_after_max (huge value)",
            "a Retry-After beyond retry_after_max (6 h) is clamped to 6 h and slept",
        )
        .steps(&[Status(503, &[("retry-after", "99999999999999999999")])])
        .ends(503, Some(HintTooLong))
        .differs("a huge hint saturates and fails fast, as any hint past max_retry_after"),
        Row::new(
            "urllib3 test/test_retry.py::test_configurable_retry_after_max (at the limit)",
            "a Retry-After equal to the maximum is slept on in full",
        )
        .steps(&[Status(503, &[("retry-after", "120")]), OK])
        .waits(&[S(120)])
        .ends(200, None),
        Row::new(
            "urllib3 test/test_retry.py::test_configurable_retry_after_max (one past the limit)",
            "121 s is well under retry_after_max (6 h): slept on",
        )
        .steps(&[Status(503, &[("retry-after", "121")])])
        .ends(503, Some(HintTooLong))
        .differs("past max_retry_after (120 s by default) the caller gets the error and the hint"),
        Row::new(
            "urllib3 test/test_retry.py::test_respect_retry_after_header_sleep (a date in year 9999)",
            "a far-future date is clamped to retry_after_max and slept",
        )
        .steps(&[Status(503, &[DATE, ("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT")])])
        .ends(503, Some(HintTooLong))
        .differs("a far-future date saturates and fails fast, as any hint past max_retry_after"),
        Row::new(
            "urllib3 test/test_retry.py::test_respect_retry_after_header_sleep (413, HTTP-date)",
            "a 413 with a Retry-After date (RETRY_AFTER_STATUS_CODES) waits until then",
        )
        .method("PUT")
        .steps(&[
            Status(413, &[DATE, ("retry-after", "Mon, 03 Jun 2019 11:00:05 GMT")]),
            OK,
        ])
        .waits(&[S(5)])
        .ends(200, None),
        Row::new(
            "urllib3 test/test_retry.py::test_parse_retry_after_invalid (garbage on a 413)",
            "413 with a Retry-After is retryable, then parsing it raises InvalidHeader",
        )
        .method("PUT")
        .steps(&[Status(413, &[("retry-after", "later")])])
        .ends(413, Some(NotRetryable)),
        Row::new(
            "urllib3 test/test_retry.py::test_parse_retry_after_invalid (garbage on a 429)",
            "InvalidHeader: the request fails",
        )
        .steps(&[Status(429, &[("retry-after", "soon")]), OK])
        .waits(&[MS(500)])
        .ends(200, None)
        .differs("an unreadable hint is ignored: the backoff waits"),
        // --- which statuses and methods --------------------------------
        Row::new(
            "urllib3 test/test_retry.py::test_status_forcelist (RETRY_AFTER_STATUS_CODES 413)",
            "a 413 with Retry-After is retried after it",
        )
        .method("PUT")
        .steps(&[Status(413, &[("retry-after", "2")]), OK])
        .waits(&[S(2)])
        .ends(200, None),
        Row::new(
            "urllib3 test/test_retry.py::test_status_forcelist (413 without Retry-After)",
            "a 413 alone is not in the default list: not retried",
        )
        .method("PUT")
        .steps(&[Status(413, &[])])
        .ends(413, Some(NotRetryable)),
        Row::new(
            "urllib3 test/test_retry.py::test_status_forcelist (RETRY_AFTER_STATUS_CODES 429)",
            "a 429 with Retry-After is retried after it",
        )
        .steps(&[Status(429, &[("retry-after", "3")]), OK])
        .waits(&[S(3)])
        .ends(200, None),
        Row::new(
            "urllib3 test/test_retry.py::test_status_forcelist[range(500, 600)] (sleep honours Retry-After on any status)",
            "a 500 with Retry-After: 3, forcelisted, sleeps 3 s",
        )
        .steps(&[Status(500, &[("retry-after", "3")]), OK])
        .waits(&[S(3)])
        .ends(200, None),
        Row::new(
            "urllib3 test/test_retry.py::test_status_forcelist (a 404 with Retry-After)",
            "404 is not in any list: not retried, whatever Retry-After says",
        )
        .steps(&[Status(404, &[("retry-after", "1")])])
        .ends(404, Some(NotRetryable)),
        Row::new(
            "urllib3 test/test_retry.py::test_status_forcelist[418]",
            "Retry(status_forcelist=[418]) retries a 418",
        )
        .policy(|| exact().retry_if(|ctx| (ctx.status() == Some(StatusCode::IM_A_TEAPOT)).then_some(true)))
        .steps(&[Status(418, &[]), OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "urllib3 test/test_retry.py::test_allowed_methods_with_status_forcelist (DEFAULT_ALLOWED_METHODS)",
            "a POST is not in the allowed methods: a 503 with Retry-After is not retried",
        )
        .method("POST")
        .steps(&[Status(503, &[("retry-after", "1")])])
        .ends(503, Some(NotIdempotent)),
        Row::new(
            "urllib3 test/test_retry.py::test_allowed_methods_with_status_forcelist (allowed_methods=None)",
            "falsey allowed_methods: any method is retried",
        )
        .method("POST")
        .policy(|| exact().retry_non_idempotent(true))
        .steps(&[Status(500, &[]), OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "urllib3 test/test_retry.py::test_allowed_methods_with_status_forcelist (DELETE, PUT allowed)",
            "DELETE is idempotent: retried",
        )
        .method("DELETE")
        .steps(&[Status(503, &[]), OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "urllib3 test/test_retry.py::test_allowed_methods_with_status_forcelist (PATCH not allowed)",
            "PATCH is not in DEFAULT_ALLOWED_METHODS: not retried",
        )
        .method("PATCH")
        .steps(&[Status(503, &[])])
        .ends(503, Some(NotIdempotent)),
        // --- errors ----------------------------------------------------
        Row::new(
            "urllib3 test/test_retry.py::test_retry_default (ConnectTimeoutError, _is_connection_error)",
            "a connect error is retried whatever the method: the server never got it",
        )
        .method("POST")
        .steps(&[REFUSED, OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "urllib3 test/test_retry.py::test_retry_method_not_allowed",
            "a read error on a POST is raised, not retried",
        )
        .method("POST")
        .steps(&[RESET])
        .ends_in_transport_error(Some(NotIdempotent)),
        Row::new(
            "urllib3 test/test_retry.py::test_retry_higher_total_loses_vs_read",
            "a read timeout on a GET is retried",
        )
        .steps(&[Io(std::io::ErrorKind::TimedOut), OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "urllib3 test/test_retry.py::test_disabled[0]",
            "Retry(0): the first failure is final",
        )
        .policy(|| exact().max_attempts(1))
        .steps(&[Status(503, &[])])
        .ends(503, Some(MaxAttempts)),
        Row::new(
            "urllib3 test/test_retry.py::test_status_counter",
            "retries are counted: the third failure with status=2 is final",
        )
        .steps(&[Status(503, &[]), Status(503, &[]), Status(503, &[])])
        .waits(&[MS(500), S(1)])
        .ends(503, Some(MaxAttempts)),
        // --- backoff ---------------------------------------------------
        Row::new(
            "urllib3 test/test_retry.py::test_configurable_backoff_max (backoff_factor=0.2, backoff_max=1)",
            "waits 0, 0.4, 0.8, 1, 1: factor × 2^(n-1) from the second retry, capped",
        )
        .policy(|| {
            exact()
                .max_attempts(6)
                .backoff(Backoff::exponential(MS(200), 2.0, S(1)).jitter(Jitter::None))
        })
        .steps(&[Status(503, &[]), Status(503, &[]), Status(503, &[]), Status(503, &[]), Status(503, &[]), OK])
        .waits(&[MS(200), MS(400), MS(800), S(1), S(1)])
        .ends(200, None)
        .differs(
            "no immediate first retry: the blip that failed the first attempt is most likely \
             still there a moment later, and a fleet retrying at once retries in lockstep",
        ),
        Row::new(
            "urllib3 test/test_retry.py::test_backoff_jitter (backoff_jitter=0.4, backoff_max=1)",
            "each wait in [base, base + jitter], never above backoff_max",
        )
        .policy(|| {
            exact()
                .max_attempts(5)
                .backoff(Backoff::exponential(MS(400), 2.0, S(1)).jitter(Jitter::Equal))
        })
        .steps(&[Status(503, &[]), Status(503, &[]), Status(503, &[]), Status(503, &[]), OK])
        .waits_within(&[(MS(200), MS(400)), (MS(400), MS(800)), (MS(500), S(1)), (MS(500), S(1))])
        .ends(200, None)
        .differs(
            "our jitter takes from the delay ([base/2, base], Jitter::Equal; [0, base] by \
             default) rather than adding to it: the cap is never exceeded and the expected \
             load stays below the backoff's",
        ),
    ])
    .await;
}

#[tokio::test(start_paused = true)]
async fn go_retryablehttp_client_test() {
    use StopReason::*;
    // Dates against the response's `Date`, as `testStaticTime` fixes the
    // clock at 1999-12-31 23:59:57 UTC.
    const GO_DATE: (&str, &str) = ("date", "Fri, 31 Dec 1999 23:59:57 GMT");
    check(vec![
        // --- TestParseRetryAfterHeader ---------------------------------
        Row::new(
            "hashicorp/go-retryablehttp client_test.go::TestParseRetryAfterHeader/seconds",
            "Retry-After: 2 is 2 s",
        )
        .steps(&[Status(429, &[("retry-after", "2")]), OK])
        .waits(&[S(2)])
        .ends(200, None),
        Row::new(
            "hashicorp/go-retryablehttp client_test.go::TestParseRetryAfterHeader/date",
            "a date 2 s ahead is 2 s",
        )
        .steps(&[
            Status(429, &[GO_DATE, ("retry-after", "Fri, 31 Dec 1999 23:59:59 GMT")]),
            OK,
        ])
        .waits(&[S(2)])
        .ends(200, None),
        Row::new(
            "hashicorp/go-retryablehttp client_test.go::TestParseRetryAfterHeader/past-date",
            "a past date is a 0 s sleep (ok = true): retried at once",
        )
        .steps(&[
            Status(429, &[GO_DATE, ("retry-after", "Fri, 31 Dec 1999 23:59:00 GMT")]),
            OK,
        ])
        .waits(&[MS(500)])
        .ends(200, None)
        .differs(
            "a zero wait is the backoff's: retried at once, a 429 only earns another \
             (urllib3's test_respect_retry_after_header_sleep row for a reached date agrees)",
        ),
        Row::new(
            "hashicorp/go-retryablehttp client_test.go::TestParseRetryAfterHeader/nil",
            "no header: the backoff",
        )
        .steps(&[Status(429, &[]), OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "hashicorp/go-retryablehttp client_test.go::TestParseRetryAfterHeader/two-headers",
            "two Retry-After lines, 2 and 3: the first, 2 s",
        )
        .steps(&[Status(429, &[("retry-after", "2"), ("retry-after", "3")]), OK])
        .waits(&[S(3)])
        .ends(200, None)
        .differs(
            "Retry-After is a single value (RFC 9110 §10.2.3); of several lines the longest \
             wins: a client must never retry earlier than any instruction it was given \
             (hints::retry_after)",
        ),
        Row::new(
            "hashicorp/go-retryablehttp client_test.go::TestParseRetryAfterHeader/empty",
            "an empty value is no hint: the backoff",
        )
        .steps(&[Status(429, &[("retry-after", "")]), OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "hashicorp/go-retryablehttp client_test.go::TestParseRetryAfterHeader/negative",
            "-2 is no hint: the backoff",
        )
        .steps(&[Status(429, &[("retry-after", "-2")]), OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "hashicorp/go-retryablehttp client_test.go::TestParseRetryAfterHeader/bad-date",
            "32 December is no date: the backoff",
        )
        .steps(&[
            Status(429, &[GO_DATE, ("retry-after", "Fri, 32 Dec 1999 23:59:59 GMT")]),
            OK,
        ])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "hashicorp/go-retryablehttp client_test.go::TestParseRetryAfterHeader/bad-date-format",
            "garbage is no hint: the backoff",
        )
        .steps(&[Status(429, &[("retry-after", "badbadbad")]), OK])
        .waits(&[MS(500)])
        .ends(200, None),
        // --- TestClient_DefaultBackoff ----------------------------------
        Row::new(
            "hashicorp/go-retryablehttp client_test.go::TestClient_DefaultBackoff/http_503_seconds",
            "a 503 with Retry-After: 2 is retryable and waits 2 s",
        )
        .steps(&[Status(503, &[("retry-after", "2")]), OK])
        .waits(&[S(2)])
        .ends(200, None),
        Row::new(
            "hashicorp/go-retryablehttp client_test.go::TestClient_DefaultBackoff/http_503_date",
            "a 503 with a date 2 s ahead waits 2 s",
        )
        .steps(&[
            Status(503, &[GO_DATE, ("retry-after", "Fri, 31 Dec 1999 23:59:59 GMT")]),
            OK,
        ])
        .waits(&[S(2)])
        .ends(200, None),
        // --- TestBackoff_RateLimitLinearJitterBackoff --------------------
        Row::new(
            "hashicorp/go-retryablehttp client_test.go::TestBackoff_RateLimitLinearJitterBackoff/502 ignore retry header",
            "a 502's Retry-After: 2 is ignored: the backoff (1 s)",
        )
        .steps(&[Status(502, &[("retry-after", "2")]), OK])
        .waits(&[S(2)])
        .ends(200, None)
        .differs(
            "RFC 9110 §10.2.3 gives Retry-After one meaning on any response, how long to wait \
             before a follow-up request; a gateway that says when to come back is waited for \
             (urllib3 honours it on every retried status too)",
        ),
        Row::new(
            "hashicorp/go-retryablehttp client_test.go::TestBackoff_RateLimitLinearJitterBackoff/429 retry header less than min",
            "Retry-After: 2 with a 5 s minimum backoff: 2 s, the server's word",
        )
        .policy(|| exact().backoff(Backoff::exponential(S(5), 2.0, S(10)).jitter(Jitter::None)))
        .steps(&[Status(429, &[("retry-after", "2")]), OK])
        .waits(&[S(2)])
        .ends(200, None),
        // --- DefaultRetryPolicy --------------------------------------------
        Row::new(
            "hashicorp/go-retryablehttp client.go::baseRetryPolicy (501)",
            "501 Not Implemented is not retried",
        )
        .steps(&[Status(501, &[])])
        .ends(501, Some(NotRetryable)),
        Row::new(
            "hashicorp/go-retryablehttp client.go::baseRetryPolicy (505)",
            "every 5xx but 501 is retried: a 505 too",
        )
        .steps(&[Status(505, &[])])
        .ends(505, Some(NotRetryable))
        .differs(
            "505 says the server refuses the HTTP version the request used (RFC 9110 \
             §15.6.6); the retry uses the same version and gets the same answer",
        ),
        Row::new(
            "hashicorp/go-retryablehttp client.go::baseRetryPolicy (408)",
            "a 4xx other than 429 is not retried: a 408 neither",
        )
        .steps(&[Status(408, &[]), OK])
        .waits(&[MS(500)])
        .ends(200, None)
        .differs(
            "RFC 9110 §15.5.9: on a 408 the client MAY repeat the request (the server closed \
             an idle connection); .NET's standard handler retries it too",
        ),
        Row::new(
            "hashicorp/go-retryablehttp client.go::baseRetryPolicy (999: invalid codes retried)",
            "a non-standard 5xx (599) is retried",
        )
        .steps(&[Status(599, &[]), OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "hashicorp/go-retryablehttp client_test.go::TestClient_Do_fails",
            "a POST answered 500 is retried RetryMax times, then 'giving up'",
        )
        .method("POST")
        .steps(&[Status(500, &[])])
        .ends(500, Some(NotIdempotent))
        .differs(
            "a POST is not idempotent (RFC 9110 §9.2.2): the server may have done it once \
             already, and a retry may do it twice; it is retried with an Idempotency-Key \
             (next row) or retry_non_idempotent(true)",
        ),
        Row::new(
            "hashicorp/go-retryablehttp client.go::baseRetryPolicy (429, POST)",
            "a 429 is retried whatever the method, after its Retry-After",
        )
        .method("POST")
        .steps(&[Status(429, &[("retry-after", "1")])])
        .ends(429, Some(NotIdempotent))
        .differs(
            "RFC 9110 §9.2.2: no automatic retry of a non-idempotent request without a means to \
             know it was not applied, and RFC 6585 §4 does not say a 429 was not; urllib3 \
             (allowed_methods) and axios-retry agree. An Idempotency-Key, x-should-retry: true \
             or retry_non_idempotent(true) makes it retried",
        ),
        Row::new(
            "hashicorp/go-retryablehttp client_test.go::TestClient_Do_fails (with Idempotency-Key)",
            "a POST answered 500 is retried",
        )
        .method("POST")
        .headers(&[("idempotency-key", "order-42")])
        .steps(&[Status(500, &[]), Status(500, &[]), Status(500, &[])])
        .waits(&[MS(500), S(1)])
        .ends(500, Some(MaxAttempts)),
        Row::new(
            "hashicorp/go-retryablehttp client.go::baseRetryPolicy (a connection reset, POST with Idempotency-Key)",
            "any error but the listed ones is retried",
        )
        .method("POST")
        .headers(&[("idempotency-key", "order-42")])
        .steps(&[RESET, OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "hashicorp/go-retryablehttp client_test.go::TestClient_DefaultRetryPolicy_TLS",
            "an x509 error (certificate not trusted) is not retried: 1 attempt",
        )
        .steps(&[Fails(|| ConnectError::boxed("invalid peer certificate: UnknownIssuer"))])
        .ends_in_transport_error(Some(NotRetryable)),
        Row::new(
            "hashicorp/go-retryablehttp client_test.go::TestClient_DefaultRetryPolicy_TLS (native-tls text)",
            "a certificate that fails verification is not retried",
        )
        .method("POST")
        .steps(&[Fails(|| {
            ConnectError::boxed("error:0A000086:SSL routines::certificate verify failed")
        })])
        .ends_in_transport_error(Some(NotRetryable)),
        Row::new(
            "hashicorp/go-retryablehttp client_test.go::TestClient_DefaultRetryPolicy_TLS (a URL naming certificates)",
            "only the TLS failure's own words stop retries, not the URL's",
        )
        .steps(&[
            Fails(|| {
                Box::new(SendError(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "operation timed out",
                )))
            }),
            OK,
        ])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "hashicorp/go-retryablehttp client_test.go::TestClient_DefaultRetryPolicy_redirects",
            "too many redirects is an error, not retried",
        )
        .steps(&[Status(302, &[("location", "/")])])
        .ends(302, None),
        Row::new(
            "hashicorp/go-retryablehttp client_test.go::TestClient_CheckRetry",
            "a CheckRetry that says stop stops",
        )
        .policy(|| exact().retry_if(|_| Some(false)))
        .steps(&[Status(500, &[])])
        .ends(500, Some(ForbiddenByPolicy)),
        // --- TestBackoff: DefaultBackoff(1 s, 5 min, i) = 1, 2, 4, 8 s ...
        Row::new(
            "hashicorp/go-retryablehttp client_test.go::TestBackoff",
            "min 1 s, max 5 min: 1, 2, 4, 8 s",
        )
        .policy(|| {
            exact()
                .max_attempts(5)
                .backoff(Backoff::exponential(S(1), 2.0, S(300)).jitter(Jitter::None))
        })
        .steps(&[Status(503, &[]), Status(503, &[]), Status(503, &[]), Status(503, &[]), OK])
        .waits(&[S(1), S(2), S(4), S(8)])
        .ends(200, None),
    ])
    .await;
}

/// A connect failure as a client reports it: "client error (Connect)",
/// whose root cause says why (for a TLS failure, hyper-rustls and
/// native-tls put the verifier's words there).
#[derive(Debug)]
struct ConnectError(std::io::Error);

impl ConnectError {
    fn boxed(root: &'static str) -> BoxError {
        Box::new(ConnectError(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            root,
        )))
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("client error (Connect)")
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// A send failure as reqwest reports it: its own text names the URL (here
/// one about certificates and schemes), its root cause says what failed.
#[derive(Debug)]
struct SendError(std::io::Error);

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("error sending request for url (https://api.test/v1/certificates?scheme=rsa)")
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// go-retryablehttp `TestClient_DefaultRetryPolicy_invalidscheme` and
/// failsafe-go `failsafehttp/policy.go` (`unsupportedScheme`): a URL whose
/// scheme the client cannot send is not retried. A real hyper-util client
/// on loopback: its connector refuses `ftp://` ("invalid URL, scheme is
/// not http"), a connect error that no attempt can heal.
#[tokio::test]
async fn go_retryablehttp_invalid_scheme_is_not_retried() {
    let hits = Arc::new(Mutex::new(0));
    let count = hits.clone();
    let addr = support::serve(move |_request| {
        *count.lock().unwrap() += 1;
        async { support::response(200, &[], "") }
    })
    .await;
    let sent = Arc::new(Mutex::new(0u32));
    let log = sent.clone();
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default().on_retry(
            move |_| {
                *log.lock().unwrap() += 1;
            },
        )))
        .layer(ErrorBodyParseLayer::new())
        .service(support::client::<ReplayBody<Full<Bytes>>>());
    let request = Request::post(format!("ftp://{addr}/upload"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let started = std::time::Instant::now();
    let error = client.oneshot(request).await.unwrap_err();
    let transport = error.transport().expect("a transport error");
    assert!(transport.to_string().contains("scheme"), "{transport}");
    assert_eq!(error.retries().attempts(), 1, "{error}");
    assert_eq!(error.retries().stopped(), Some(StopReason::NotRetryable));
    assert_eq!(*sent.lock().unwrap(), 0, "no retry was scheduled");
    assert_eq!(*hits.lock().unwrap(), 0);
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// urllib3 `test_retry_default` (`_is_connection_error`: a connect error
/// is retried whatever the method) and go-retryablehttp `TestClient_Do`
/// (a PUT sent while nothing listens is retried until a server answers):
/// a real hyper-util client against a loopback port nothing listens on.
#[tokio::test]
async fn a_refused_connection_is_retried_for_a_post_over_real_hyper() {
    let addr = support::refused_addr();
    let policy = RetryPolicy::default()
        .no_budget()
        .backoff(Backoff::exponential(MS(5), 2.0, MS(20)).jitter(Jitter::None));
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .layer(ErrorBodyParseLayer::new())
        .service(support::client::<ReplayBody<Full<Bytes>>>());
    let request = Request::post(format!("http://{addr}/v1/foo"))
        .body(Full::new(Bytes::from_static(b"hello")))
        .unwrap();
    let error = client.oneshot(request).await.unwrap_err();
    let transport = error.transport().expect("a transport error");
    assert!(transport.is_connect(), "{transport}");
    assert_eq!(error.retries().attempts(), 3, "{error}");
    assert_eq!(error.retries().stopped(), Some(StopReason::MaxAttempts));
}

#[tokio::test(start_paused = true)]
async fn dotnet_http_resilience_standard_handler() {
    use StopReason::*;
    check(vec![
        Row::new(
            "dotnet/extensions HttpRetryStrategyOptionsTests.cs::ShouldHandleResultAsError_DefaultValue_ShouldClassify(OK, false)",
            "200 is not handled",
        )
        .steps(&[OK])
        .ends(200, None),
        Row::new(
            "dotnet/extensions HttpRetryStrategyOptionsTests.cs::ShouldHandleResultAsError_DefaultValue_ShouldClassify(BadRequest, false)",
            "400 is not retried",
        )
        .steps(&[Status(400, &[])])
        .ends(400, Some(NotRetryable)),
        Row::new(
            "dotnet/extensions HttpRetryStrategyOptionsTests.cs::ShouldHandleResultAsError_DefaultValue_ShouldClassify(RequestEntityTooLarge, false)",
            "413 is not retried",
        )
        .steps(&[Status(413, &[])])
        .ends(413, Some(NotRetryable)),
        Row::new(
            "dotnet/extensions HttpRetryStrategyOptionsTests.cs::ShouldHandleResultAsError_DefaultValue_ShouldClassify(InternalServerError, true)",
            "500 is retried",
        )
        .steps(&[Status(500, &[]), OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "dotnet/extensions HttpRetryStrategyOptionsTests.cs::ShouldHandleResultAsError_DefaultValue_ShouldClassify(HttpVersionNotSupported, true)",
            "505 is retried",
        )
        .steps(&[Status(505, &[])])
        .ends(505, Some(NotRetryable))
        .differs(
            "505: the server refuses the request's HTTP version (RFC 9110 §15.6.6); the \
             same request gets the same answer",
        ),
        Row::new(
            "dotnet/extensions HttpRetryStrategyOptionsTests.cs::ShouldHandleResultAsError_DefaultValue_ShouldClassify(RequestTimeout, true)",
            "408 is retried",
        )
        .steps(&[Status(408, &[]), OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "dotnet/extensions HttpClientResiliencePredicatesTests.cs::IsTransientFailure_ShouldClassify(429, true)",
            "429 is retried",
        )
        .steps(&[Status(429, &[]), OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "dotnet/extensions HttpRetryStrategyOptionsTests.cs::ShouldHandleException_DefaultValue_ShouldClassify(HttpRequestException, true)",
            "an HttpRequestException (the connection failed) is retried",
        )
        .steps(&[RESET, OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "dotnet/extensions HttpClientResiliencePredicatesTests.cs::IsTransientHttpException_Exception_ShouldClassify(TimeoutRejectedException, true)",
            "an attempt cut by the attempt timeout (inside the retry) is retried",
        )
        .attempt_timeout(S(10))
        .steps(&[Hangs, OK])
        .waits(&[S(10) + MS(500)])
        .ends(200, None),
        Row::new(
            "dotnet/extensions HttpClientResiliencePredicatesTests.cs::IsTransientHttpException_Exception_ShouldClassify(TimeoutRejectedException, true) (POST)",
            "an attempt timeout is retried for any method (DisableForUnsafeHttpMethods opts out)",
        )
        .method("POST")
        .attempt_timeout(S(10))
        .steps(&[Hangs])
        .ends_in_transport_error(Some(NotIdempotent))
        .differs(
            "a POST that timed out may have been done by the server: not sent twice by \
             default (RFC 9110 §9.2.2), which .NET's DisableForUnsafeHttpMethods() opts into",
        ),
        Row::new(
            "dotnet/extensions HttpClientResiliencePredicatesTests.cs (attempt timeouts, three of them)",
            "attempts cut by the attempt timeout use up MaxRetryAttempts",
        )
        .attempt_timeout(S(2))
        .steps(&[Hangs, Hangs, Hangs])
        .waits(&[S(2) + MS(500), S(2) + S(1)])
        .ends_in_transport_error(Some(MaxAttempts)),
        Row::new(
            "dotnet/extensions HttpRetryStrategyOptionsTests.cs::Ctor_Defaults (MaxRetryAttempts 3)",
            "three retries: four attempts",
        )
        .policy(|| RetryPolicy::default().no_budget().backoff(Backoff::default().jitter(Jitter::None)))
        .steps(&[Status(503, &[]), Status(503, &[]), Status(503, &[])])
        .waits(&[MS(500), S(1)])
        .ends(503, Some(MaxAttempts))
        .differs(
            "our default is three attempts in all (two retries): a third attempt rides out most \
             blips without tripling an outage's load (RetryPolicy's table of defaults)",
        ),
        Row::new(
            "dotnet/extensions HttpRetryStrategyOptionsTests.cs::ShouldRetryAfterHeader_WhenResponseContainsRetryAfterHeader_ShouldReturnTimeSpan",
            "Retry-After: 10 s is the delay",
        )
        .steps(&[Status(503, &[("retry-after", "10")]), OK])
        .waits(&[S(10)])
        .ends(200, None),
        Row::new(
            "dotnet/extensions HttpRetryStrategyOptionsTests.cs::ShouldRetryAfterHeader_InvalidOutcomes_ShouldReturnZero",
            "no Retry-After: the generator gives nothing, the backoff decides",
        )
        .steps(&[Status(503, &[]), OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "dotnet/extensions standard handler (total request timeout, 30 s)",
            "the total timeout bounds attempts and waits",
        )
        .policy(|| exact().deadline(S(30)))
        .steps(&[Status(503, &[("retry-after", "20")]), Status(503, &[("retry-after", "20")])])
        .waits(&[S(20)])
        .ends(503, Some(Deadline)),
    ])
    .await;
}

#[tokio::test(start_paused = true)]
async fn failsafe_go_failsafehttp() {
    use StopReason::*;
    check(vec![
        Row::new(
            "failsafe-go/failsafe-go failsafehttp/policy.go::RetryPolicyBuilder (429)",
            "429 is retried, after Retry-After",
        )
        .steps(&[Status(429, &[("retry-after", "1")]), OK])
        .waits(&[S(1)])
        .ends(200, None),
        Row::new(
            "failsafe-go/failsafe-go failsafehttp/policy.go::RetryPolicyBuilder (501)",
            "5xx but 501 retried: 501 is not",
        )
        .steps(&[Status(501, &[])])
        .ends(501, Some(NotRetryable)),
        Row::new(
            "failsafe-go/failsafe-go failsafehttp/policy.go::RetryPolicyBuilder (certNotTrusted)",
            "'certificate is not trusted' is not retried",
        )
        .steps(&[Fails(|| ConnectError::boxed("x509: certificate is not trusted"))])
        .ends_in_transport_error(Some(NotRetryable)),
        Row::new(
            "failsafe-go/failsafe-go failsafehttp/policy.go::RetryPolicyBuilder (unsupportedScheme)",
            "'unsupported protocol scheme' is not retried",
        )
        .steps(&[Fails(|| ConnectError::boxed("unsupported protocol scheme \"ftp\""))])
        .ends_in_transport_error(Some(NotRetryable)),
        Row::new(
            "failsafe-go/failsafe-go failsafehttp/policy.go::RetryPolicyBuilder (other url errors)",
            "every other connection error is retried",
        )
        .steps(&[REFUSED, RESET, OK])
        .waits(&[MS(500), S(1)])
        .ends(200, None),
        Row::new(
            "failsafe-go/failsafe-go failsafehttp/policy.go::DelayFunc (503, HTTP-date)",
            "only integer seconds are read: a date falls back to the delay policy",
        )
        .steps(&[
            Status(503, &[DATE, ("retry-after", "Mon, 03 Jun 2019 11:00:02 GMT")]),
            OK,
        ])
        .waits(&[S(2)])
        .ends(200, None)
        .differs("RFC 9110 §10.2.3: Retry-After is an HTTP-date or delay-seconds; both are read"),
        Row::new(
            "failsafe-go/failsafe-go failsafehttp/policy.go::DelayFunc (502)",
            "Retry-After is read on a 429 or 503 only: a 502's is ignored",
        )
        .steps(&[Status(502, &[("retry-after", "2")]), OK])
        .waits(&[S(2)])
        .ends(200, None)
        .differs("RFC 9110 §10.2.3 gives Retry-After its meaning on any response"),
        Row::new(
            "failsafe-go/failsafe-go failsafehttp/policy.go::DelayFunc (503, seconds)",
            "a 503's Retry-After seconds are the delay",
        )
        .steps(&[Status(503, &[("retry-after", "4")]), OK])
        .waits(&[S(4)])
        .ends(200, None),
    ])
    .await;
}

#[tokio::test(start_paused = true)]
async fn grpc_a6_client_retries() {
    use StopReason::*;
    check(vec![
        Row::new(
            "grpc/proposal A6-client-retries.md, Pushback",
            "a pushback of 250 ms is the delay before the next attempt",
        )
        .steps(&[Status(503, &[("grpc-retry-pushback-ms", "250")]), OK])
        .waits(&[MS(250)])
        .ends(200, None),
        Row::new(
            "grpc/proposal A6-client-retries.md, Pushback (negative)",
            "a negative pushback: the server says do not retry",
        )
        .steps(&[Status(503, &[("grpc-retry-pushback-ms", "-1")])])
        .ends(503, Some(NotRetryable)),
        Row::new(
            "grpc/proposal A6-client-retries.md, Pushback (unparseable)",
            "an unparseable pushback: do not retry",
        )
        .steps(&[Status(503, &[("grpc-retry-pushback-ms", "soon")])])
        .ends(503, Some(NotRetryable)),
        Row::new(
            "grpc/proposal A6-client-retries.md, Pushback (backoff reset)",
            "after a pushback the backoff starts over from initialBackoff",
        )
        .policy(|| exact().max_attempts(4))
        .steps(&[
            Status(503, &[]),
            Status(503, &[("grpc-retry-pushback-ms", "100")]),
            Status(503, &[]),
            OK,
        ])
        .waits(&[MS(500), MS(100), MS(500)])
        .ends(200, None),
        Row::new(
            "grpc/proposal A6-client-retries.md, Exponential backoff",
            "random(0, min(initialBackoff × multiplier^(n-1), maxBackoff)) (full jitter)",
        )
        .policy(|| {
            RetryPolicy::default()
                .no_budget()
                .max_attempts(5)
                .backoff(Backoff::exponential(S(1), 2.0, S(3)))
        })
        .steps(&[
            Status(503, &[]),
            Status(503, &[]),
            Status(503, &[]),
            Status(503, &[]),
            OK,
        ])
        .waits_within(&[
            (Duration::ZERO, S(1)),
            (Duration::ZERO, S(2)),
            (Duration::ZERO, S(3)),
            (Duration::ZERO, S(3)),
        ])
        .ends(200, None),
        Row::new(
            "grpc/proposal A6-client-retries.md, maxAttempts (values above 5 are treated as 5)",
            "a policy of 6 attempts makes 5",
        )
        .policy(|| exact().max_attempts(6))
        .steps(&[Status(503, &[]); 6])
        .waits(&[MS(500), S(1), S(2), S(4), S(8)])
        .ends(503, Some(MaxAttempts))
        .differs(
            "A6 caps maxAttempts because a service config comes from the server's side; \
             ours is the caller's own setting, and the deadline and budget bound it",
        ),
    ])
    .await;
}

#[cfg(feature = "grpc")]
#[tokio::test(start_paused = true)]
async fn grpc_a6_retryable_status_codes() {
    use StopReason::*;
    check(vec![
        Row::new(
            "grpc/proposal A6-client-retries.md, retryableStatusCodes (UNAVAILABLE)",
            "UNAVAILABLE (14) is retried",
        )
        .steps(&[Status(200, &[("grpc-status", "14")]), OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "grpc/proposal A6-client-retries.md, retryableStatusCodes (INVALID_ARGUMENT)",
            "a status not in retryableStatusCodes is final",
        )
        .steps(&[Status(200, &[("grpc-status", "3")])])
        .ends(200, Some(NotRetryable)),
    ])
    .await;
}

#[tokio::test(start_paused = true)]
async fn tenacity_and_backoff() {
    use StopReason::*;
    let fail = Status(503, &[]);
    check(vec![
        Row::new(
            "jd/tenacity tests/test_tenacity.py::TestWaitConditions::test_exponential_with_max_wait",
            "wait_exponential(max=40): 1, 2, 4, 8, 16, 32, 40 s",
        )
        .policy(|| {
            exact()
                .max_attempts(8)
                .backoff(Backoff::exponential(S(1), 2.0, S(40)).jitter(Jitter::None))
        })
        .steps(&[fail, fail, fail, fail, fail, fail, fail, OK])
        .waits(&[S(1), S(2), S(4), S(8), S(16), S(32), S(40)])
        .ends(200, None),
        Row::new(
            "litl/backoff tests/test_wait_gen.py::test_expo_max_value",
            "expo(max_value=16): 1, 2, 4, 8, 16, 16, 16",
        )
        .policy(|| {
            exact()
                .max_attempts(8)
                .backoff(Backoff::exponential(S(1), 2.0, S(16)).jitter(Jitter::None))
        })
        .steps(&[fail, fail, fail, fail, fail, fail, fail, OK])
        .waits(&[S(1), S(2), S(4), S(8), S(16), S(16), S(16)])
        .ends(200, None),
        Row::new(
            "jd/tenacity tests/test_tenacity.py::TestWaitConditions::test_wait_random_exponential",
            "wait_random_exponential: uniform in [0, min(max, multiplier × 2^n)]",
        )
        .policy(|| {
            RetryPolicy::default()
                .no_budget()
                .max_attempts(4)
                .backoff(Backoff::exponential(S(1), 2.0, S(3)).jitter(Jitter::Full))
        })
        .steps(&[fail, fail, fail, OK])
        .waits_within(&[(Duration::ZERO, S(1)), (Duration::ZERO, S(2)), (Duration::ZERO, S(3))])
        .ends(200, None),
        Row::new(
            "jd/tenacity tests/test_tenacity.py::TestStopConditions::test_stop_after_delay",
            "stop_after_delay(10): no attempt after 10 s",
        )
        .policy(|| exact().max_attempts(10).deadline(S(10)))
        .steps(&[fail, fail, fail, fail, fail])
        .waits(&[MS(500), S(1), S(2), S(4)])
        .ends(503, Some(Deadline))
        .differs(
            "tenacity checks the delay after an attempt, so at 7.5 s it sleeps 8 s more and \
             tries at 15.5 s; we do not start a wait that would end past the deadline, and \
             the caller gets the error at 7.5 s (tenacity's stop_before_delay does this)",
        ),
        Row::new(
            "litl/backoff tests/test_backoff.py::test_on_exception_max_time",
            "max_time bounds the attempts and waits together",
        )
        .policy(|| exact().max_attempts(10).deadline(S(3)))
        .attempt_timeout(S(1))
        .steps(&[Hangs, Hangs])
        .waits(&[S(1) + MS(500)])
        .ends_in_transport_error(Some(Deadline)),
    ])
    .await;
}

#[tokio::test(start_paused = true)]
async fn axios_retry_spec() {
    use StopReason::*;
    check(vec![
        Row::new(
            "softonic/axios-retry src/index.ts::isNetworkOrIdempotentRequestError (ECONNRESET, GET)",
            "a network error on a GET is retried",
        )
        .steps(&[RESET, OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "softonic/axios-retry src/index.ts::isNetworkError (ECONNRESET, POST)",
            "a network error is retried whatever the method",
        )
        .method("POST")
        .steps(&[RESET])
        .ends_in_transport_error(Some(NotIdempotent))
        .differs(
            "a reset after the request was written may come after the server acted on it; \
             only an error before the connection existed (refused) is safe for a POST \
             (urllib3's _is_connection_error draws the same line)",
        ),
        Row::new(
            "softonic/axios-retry src/index.ts::isNetworkError (ECONNREFUSED, POST)",
            "a refused connection is retried",
        )
        .method("POST")
        .steps(&[REFUSED, OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "softonic/axios-retry src/index.ts::isIdempotentRequestError (5xx, PUT)",
            "a 5xx on an idempotent method is retried",
        )
        .method("PUT")
        .steps(&[Status(502, &[]), OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "softonic/axios-retry src/index.ts::isIdempotentRequestError (5xx, POST)",
            "a 5xx on a POST is not retried",
        )
        .method("POST")
        .steps(&[Status(502, &[])])
        .ends(502, Some(NotIdempotent)),
        Row::new(
            "softonic/axios-retry src/index.ts::isRetryableError (429)",
            "only 5xx and network errors: a 429 is not retried",
        )
        .steps(&[Status(429, &[("retry-after", "1")]), OK])
        .waits(&[S(1)])
        .ends(200, None)
        .differs(
            "RFC 6585 §4: a 429 says too many requests, and its Retry-After how long to wait \
             before a new one; waited out, it is the most retryable failure there is",
        ),
        Row::new(
            "softonic/axios-retry spec/index.spec.ts::should not make a retry attempt if the whole request lifecycle takes more than `timeout`",
            "no retry whose delay would end past the request's timeout",
        )
        .policy(|| exact().max_attempts(5).deadline(S(2)))
        .steps(&[RESET, RESET, RESET])
        .waits(&[MS(500), S(1)])
        .ends_in_transport_error(Some(Deadline)),
        Row::new(
            "softonic/axios-retry spec/index.spec.ts::should honor the original `timeout` across retries",
            "an attempt still running at the request's timeout ends the request",
        )
        .policy(|| exact().deadline(S(5)))
        .steps(&[RESET, Hangs])
        .waits(&[MS(500)])
        .ends_in_transport_error(Some(Deadline)),
        Row::new(
            "softonic/axios-retry spec/index.spec.ts::should reject with a request error if retries <= 0",
            "retries: 0 is one attempt",
        )
        .policy(|| exact().max_attempts(1))
        .steps(&[RESET])
        .ends_in_transport_error(Some(MaxAttempts)),
        Row::new(
            "softonic/axios-retry spec/index.spec.ts::should reject with a request error if there are more errors than retries",
            "the last error is the one the caller gets",
        )
        .policy(|| exact().max_attempts(2))
        .steps(&[RESET, RESET])
        .waits(&[MS(500)])
        .ends_in_transport_error(Some(MaxAttempts)),
    ])
    .await;
}

/// axios-retry `spec/index.spec.ts` "should use request-specific
/// configuration": a request's own settings win over the client's.
#[tokio::test(start_paused = true)]
async fn axios_retry_request_specific_configuration() {
    let (mock, mut handle) = mock::pair::<Req, Response<Full<Bytes>>>();
    handle.allow(10);
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(exact().max_attempts(1)))
        .service(mock);
    let mut request = Request::get("http://api.test/test")
        .body(Full::new(Bytes::new()))
        .unwrap();
    request
        .extensions_mut()
        .insert(RetryOverride::new().max_attempts(3));
    let call = tokio::spawn(client.oneshot(request));
    for _ in 0..2 {
        let (_, send) = handle.next_request().await.unwrap();
        send.send_error(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset",
        ));
    }
    let (_, send) = handle.next_request().await.unwrap();
    send.send_response(reply(200, &[]));
    assert_eq!(call.await.unwrap().unwrap().status(), 200);
}

/// gRFC A6 "Throttling retry attempts and hedged RPCs" (a token bucket
/// that stops retries when most calls fail); go-retryablehttp and urllib3
/// have none. Our budget: under total failure, retries add at most ~20 %
/// to the load (three attempts each would triple it).
#[tokio::test(start_paused = true)]
async fn grpc_a6_throttling_a_retry_budget_bounds_total_failure() {
    let (mock, mut handle) = mock::pair::<Req, Response<Full<Bytes>>>();
    handle.allow(u64::MAX);
    let policy = exact().budget(TpsBudget::new(S(10), 1, 0.2));
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .service(mock);
    let served = Arc::new(Mutex::new(0usize));
    let counter = served.clone();
    let server = tokio::spawn(async move {
        while let Some((_, send)) = handle.next_request().await {
            *counter.lock().unwrap() += 1;
            send.send_response(reply(503, &[]));
        }
    });
    let calls: Vec<_> = (0..200)
        .map(|_| {
            let request = Request::get("http://api.test/x")
                .body(Full::new(Bytes::new()))
                .unwrap();
            tokio::spawn(client.clone().oneshot(request))
        })
        .collect();
    let mut exhausted = 0;
    for call in calls {
        let response = call.await.unwrap().unwrap();
        assert_eq!(response.status(), 503);
        let report = response.extensions().get::<RetryReport>().unwrap();
        if report.stopped() == Some(StopReason::BudgetExhausted) {
            exhausted += 1;
        }
    }
    drop(client);
    server.abort();
    let total = *served.lock().unwrap();
    assert!(total <= 260, "{total} attempts for 200 requests");
    assert!(exhausted > 100, "{exhausted} stopped by the budget");
}

/// go-retryablehttp `TestClient_Do` (a PUT whose `io.Reader` body is
/// read again for every retry): a streamed body is replayed byte for byte;
/// one that outgrew the replay cap cannot be, and is not retried.
#[tokio::test(start_paused = true)]
async fn go_retryablehttp_streamed_bodies() {
    type Streamed = support::Frames<std::io::Error>;
    for (cap, statuses, replayed) in [
        (64 * 1024, &[500, 502, 200][..], true),
        (8, &[500][..], false),
    ] {
        let (mock, mut handle) = mock::pair::<Req<Streamed>, Response<Full<Bytes>>>();
        handle.allow(10);
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(exact().max_replay_bytes(cap)))
            .service(mock);
        let body = support::Frames::chunks(&["hel", "lo, ", "", "world"]);
        let request = Request::put("http://127.0.0.1:28934/v1/foo")
            .body(body)
            .unwrap();
        let call = tokio::spawn(client.oneshot(request));
        let mut bodies = Vec::new();
        for status in statuses {
            let (request, send) = handle.next_request().await.unwrap();
            bodies.push(request.into_body().collect().await.unwrap().to_bytes());
            send.send_response(reply(*status, &[]));
        }
        let response = call.await.unwrap().unwrap();
        assert!(
            bodies.iter().all(|body| body == "hello, world"),
            "{bodies:?}"
        );
        let report = response.extensions().get::<RetryReport>().copied();
        if replayed {
            assert_eq!(response.status(), 200);
            assert_eq!(report.unwrap().attempts(), 3);
        } else {
            assert_eq!(response.status(), 500);
            assert_eq!(
                report.unwrap().stopped(),
                Some(StopReason::BodyNotReplayable)
            );
        }
    }
}

/// A peer's name for one case of a test generated per status
/// (`file::test_STATUS`).
fn named(file: &str, test: &str, status: u16) -> &'static str {
    leak(format!("{file}::{test}{status}"))
}

/// A row's text made at run time (a parametrised peer test's name).
fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

#[tokio::test(start_paused = true)]
async fn reqwest_retry_default_strategy() {
    use StopReason::*;
    const FILE: &str = "TrueLayer/reqwest-middleware reqwest-retry/tests/all/retry.rs";
    let retried = |status: u16| vec![Status(status, &[]), OK];
    let mut rows = Vec::new();
    for status in [500, 502, 503, 504, 507, 408, 429] {
        rows.push(
            Row::new(
                named(FILE, "assert_retry_succeds_on_", status),
                "a 5xx, a 408 or a 429 is Transient",
            )
            .steps(&retried(status))
            .waits(&[MS(500)])
            .ends(200, None),
        );
    }
    for status in [400, 401, 403, 404, 409, 410, 413, 418, 422, 423, 451] {
        rows.push(
            Row::new(
                named(FILE, "assert_no_retry_on_", status),
                "any other 4xx is Fatal",
            )
            .steps(&[Status(status, &[])])
            .ends(status, Some(NotRetryable)),
        );
    }
    for status in [200, 201, 204, 302, 304] {
        rows.push(
            Row::new(
                named(FILE, "assert_no_retry_on_", status),
                "a 2xx or 3xx is no failure",
            )
            .steps(&[Status(status, &[])])
            .ends(status, None),
        );
    }
    for (status, why) in [
        (501, "501: the server does not support the method (RFC 9110 §15.6.2); it will not learn it in a second"),
        (505, "505: the server refuses the request's HTTP version (RFC 9110 §15.6.6)"),
        (506, "506: a content-negotiation misconfiguration (RFC 2295 §8.1)"),
        (508, "508: the server found an infinite loop (RFC 5842 §7.2)"),
        (510, "510: the request lacks an extension the server requires (RFC 2774 §7)"),
        (511, "511: a captive portal wants the user to log in (RFC 6585 §6); no resend does that"),
    ] {
        rows.push(
            Row::new(named(FILE, "assert_retry_succeds_on_", status), "every 5xx is Transient")
                .steps(&[Status(status, &[])])
                .ends(status, Some(NotRetryable))
                .differs(why),
        );
    }
    rows.extend([
        Row::new(
            "TrueLayer/reqwest-middleware reqwest-retry/tests/all/retry.rs::assert_retry_on_request_timeout",
            "a request cut by reqwest's timeout is Transient: retried",
        )
        .attempt_timeout(MS(10))
        .steps(&[Hangs, OK])
        .waits(&[MS(10) + MS(500)])
        .ends(200, None),
        Row::new(
            "TrueLayer/reqwest-middleware reqwest-retry/tests/all/retry.rs::assert_retry_on_incomplete_message",
            "three responses cut short (hyper IncompleteMessage) are retried; the fourth answers",
        )
        .policy(|| exact().max_attempts(4))
        .steps(&[Io(std::io::ErrorKind::UnexpectedEof), Io(std::io::ErrorKind::UnexpectedEof), Io(std::io::ErrorKind::UnexpectedEof), OK])
        .waits(&[MS(500), S(1), S(2)])
        .ends(200, None),
        Row::new(
            "TrueLayer/reqwest-middleware reqwest-retry/src/retryable_strategy.rs::classify_io_error (ConnectionAborted)",
            "a connection reset or aborted is Transient",
        )
        .steps(&[Io(std::io::ErrorKind::ConnectionAborted), RESET, OK])
        .waits(&[MS(500), S(1)])
        .ends(200, None),
        Row::new(
            "TrueLayer/reqwest-middleware reqwest-retry/src/retryable_strategy.rs::classify_io_error (BrokenPipe)",
            "any other I/O error under hyper is Fatal",
        )
        .steps(&[Io(std::io::ErrorKind::BrokenPipe), OK])
        .waits(&[MS(500)])
        .ends(200, None)
        .differs(
            "a broken pipe is a write to a connection the server already closed (a pooled \
             keep-alive one, typically): the server never read the request, and a GET \
             sent again on a new connection is answered",
        ),
        Row::new(
            "TrueLayer/reqwest-middleware reqwest-retry/src/retryable_strategy.rs::default_on_request_success (POST)",
            "the verdict ignores the method: a POST answered 503 is retried",
        )
        .method("POST")
        .steps(&[Status(503, &[])])
        .ends(503, Some(NotIdempotent))
        .differs(
            "RFC 9110 §9.2.2: a POST is not retried automatically unless the client knows it \
             was not applied (an Idempotency-Key, the server's x-should-retry: true, or \
             retry_non_idempotent(true))",
        ),
    ]);
    check(rows).await;
}

/// The OpenAI and Anthropic SDKs (Stainless-generated: openai-python,
/// anthropic-sdk-python, openai-node, anthropic-sdk-typescript share the
/// rules): `_should_retry` (x-should-retry, then 408, 409, 429, >= 500),
/// `_calculate_retry_timeout` (retry-after-ms, then Retry-After honoured
/// when 0 < wait <= 60 s, else 0.5 s doubling to 8 s) and
/// `tests/test_client.py::test_parse_retry_after_header`, whose clock is
/// fixed at 1696004797 (Fri, 29 Sep 2023 16:26:37 GMT).
#[tokio::test(start_paused = true)]
async fn openai_and_anthropic_sdks() {
    use StopReason::*;
    const NOW: (&str, &str) = ("date", "Fri, 29 Sep 2023 16:26:37 GMT");
    const PARSE: &str = "openai/openai-python tests/test_client.py::test_parse_retry_after_header";
    const SHOULD: &str = "openai/openai-python src/openai/_base_client.py::_should_retry";
    let after = |value: &'static str| -> Vec<Step> {
        let headers: &'static [(&str, &str)] = Box::leak(Box::new([NOW, ("retry-after", value)]));
        vec![Status(429, headers), OK]
    };
    let mut rows = Vec::new();
    // --- test_parse_retry_after_header: the cases we agree on ----------
    for (case, value, wait) in [
        ("[3-20-20]", "20", S(20)),
        ("[3-0-0.5]", "0", MS(500)),
        ("[3--10-0.5]", "-10", MS(500)),
        ("[3-60-60]", "60", S(60)),
        (
            "[3-Fri, 29 Sep 2023 16:26:57 GMT-20]",
            "Fri, 29 Sep 2023 16:26:57 GMT",
            S(20),
        ),
        (
            "[3-Fri, 29 Sep 2023 16:26:37 GMT-0.5]",
            "Fri, 29 Sep 2023 16:26:37 GMT",
            MS(500),
        ),
        (
            "[3-Fri, 29 Sep 2023 16:26:27 GMT-0.5]",
            "Fri, 29 Sep 2023 16:26:27 GMT",
            MS(500),
        ),
        (
            "[3-Fri, 29 Sep 2023 16:27:37 GMT-60]",
            "Fri, 29 Sep 2023 16:27:37 GMT",
            S(60),
        ),
        (
            "[3-Zun, 29 Sep 2023 16:26:27 GMT-0.5]",
            "Zun, 29 Sep 2023 16:26:27 GMT",
            MS(500),
        ),
        ("[3--0.5]", "", MS(500)),
    ] {
        rows.push(
            Row::new(
                leak(format!("{PARSE}{case}")),
                "a hint within 60 s is the wait; none, zero, past or unreadable: 0.5 s",
            )
            .steps(&after(value))
            .waits(&[wait])
            .ends(200, None),
        );
    }
    // --- the cases past 60 s -------------------------------------------
    for (case, value) in [
        ("[3-61-0.5]", "61"),
        (
            "[3-Fri, 29 Sep 2023 16:27:38 GMT-0.5]",
            "Fri, 29 Sep 2023 16:27:38 GMT",
        ),
    ] {
        rows.push(
            Row::new(
                leak(format!("{PARSE}{case}")),
                "a hint past 60 s is ignored: the backoff's 0.5 s",
            )
            .steps(&after(value))
            .waits(&[S(61)])
            .ends(200, None)
            .differs(
                "a server that asks for 61 s and is retried after 0.5 s answers 429 again: \
                     we honour hints up to max_retry_after (120 s), which a caller lowers to 60 s \
                     to get the SDKs' bound (and the error, not an early retry, past it)",
            ),
        );
    }
    rows.extend([
        Row::new(
            leak(format!("{PARSE}[3-99999999999999999999999999999999999-0.5]")),
            "a huge hint is ignored: the backoff's 0.5 s",
        )
        .steps(&after("99999999999999999999999999999999999")[..1])
        .ends(429, Some(HintTooLong))
        .differs("a hint past max_retry_after fails fast with the hint on the error (urllib3's rows)"),
        Row::new(
            "openai/openai-python tests/test_client.py::test_parse_retry_after_header[3-, 2-, 1-]",
            "no hint: 0.5, 1, 2 s (before the SDK's jitter of up to -25 %)",
        )
        .policy(|| exact().max_attempts(4))
        .steps(&[Status(503, &[]), Status(503, &[]), Status(503, &[]), OK])
        .waits(&[MS(500), S(1), S(2)])
        .ends(200, None),
        Row::new(
            "openai/openai-node src/core.ts::retryRequest (retry-after-ms)",
            "retry-after-ms is read first, as milliseconds: 1.5 s over Retry-After's 2 s",
        )
        .steps(&[Status(429, &[("retry-after-ms", "1500"), ("retry-after", "2")]), OK])
        .waits(&[MS(1500)])
        .ends(200, None),
        Row::new(
            "openai/openai-python src/openai/_constants.py::DEFAULT_MAX_RETRIES (2)",
            "two retries: three attempts",
        )
        .steps(&[Status(500, &[]), Status(500, &[]), Status(500, &[])])
        .waits(&[MS(500), S(1)])
        .ends(500, Some(MaxAttempts)),
        // --- _should_retry ----------------------------------------------
        Row::new(SHOULD, "x-should-retry: true on a 400: retried, whatever the status")
            .steps(&[Status(400, &[("x-should-retry", "true")]), OK])
            .waits(&[MS(500)])
            .ends(200, None),
        Row::new(SHOULD, "x-should-retry: false on a 503: not retried")
            .steps(&[Status(503, &[("x-should-retry", "false")])])
            .ends(503, Some(NotRetryable)),
        Row::new(SHOULD, "x-should-retry: false on a 429 with Retry-After: not retried")
            .steps(&[Status(429, &[("x-should-retry", "false"), ("retry-after", "1")])])
            .ends(429, Some(NotRetryable)),
        Row::new(SHOULD, "x-should-retry: true on a POST's 500: retried")
            .method("POST")
            .steps(&[Status(500, &[("x-should-retry", "true")]), OK])
            .waits(&[MS(500)])
            .ends(200, None),
        Row::new(SHOULD, "408: retried (request timeouts)")
            .steps(&[Status(408, &[]), OK])
            .waits(&[MS(500)])
            .ends(200, None),
        Row::new(SHOULD, "429: retried (rate limits)")
            .steps(&[Status(429, &[]), OK])
            .waits(&[MS(500)])
            .ends(200, None),
        Row::new(SHOULD, "529 (Anthropic's overloaded_error) is >= 500: retried")
            .steps(&[Status(529, &[]), OK])
            .waits(&[MS(500)])
            .ends(200, None),
        Row::new(SHOULD, "409: retried (lock timeouts)")
            .steps(&[Status(409, &[])])
            .ends(409, Some(NotRetryable))
            .differs(
                "RFC 9110 §15.5.10: a 409 is a conflict with the resource's state that the \
                 user may resolve and resubmit (GitHub's empty repository, an existing name); \
                 resending it unchanged gets it again. A server whose 409 is a lock timeout \
                 can say so with x-should-retry: true (next row); retry_if retries it for an \
                 API known to mean that",
            ),
        Row::new(SHOULD, "409 with x-should-retry: true: retried")
            .steps(&[Status(409, &[("x-should-retry", "true")]), OK])
            .waits(&[MS(500)])
            .ends(200, None),
        Row::new(SHOULD, "a POST (a completion) answered 500 is retried")
            .method("POST")
            .steps(&[Status(500, &[])])
            .ends(500, Some(NotIdempotent))
            .differs(
                "RFC 9110 §9.2.2: a POST whose 500 may have come after the work (a charged \
                 completion) is not sent twice by default; it is with an Idempotency-Key (the \
                 SDKs' idempotency_key option sends one), the server's x-should-retry: true \
                 (above) or retry_non_idempotent(true)",
            ),
        Row::new(
            "openai/openai-python src/openai/_base_client.py::_retry_request (APIConnectionError, POST)",
            "a connection that could not be made is retried",
        )
        .method("POST")
        .steps(&[REFUSED, OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            "openai/openai-python tests/test_client.py::test_retrying_timeout_errors_doesnt_leak",
            "a timed-out POST /chat/completions is retried (max_retries times), then APITimeoutError",
        )
        .method("POST")
        .attempt_timeout(S(10))
        .steps(&[Hangs])
        .ends_in_transport_error(Some(NotIdempotent))
        .differs(
            "a POST that timed out may be running on the server: not sent twice by default \
             (RFC 9110 §9.2.2); a GET's timeout is retried (the reqwest-retry rows)",
        ),
    ]);
    check(rows).await;
}

/// Stripe's SDKs: stripe-java `HttpClientTest` (a GET with
/// `maxNetworkRetries(2)`), stripe-go `stripe.go::shouldRetry` and
/// stripe-node `RequestSender._shouldRetry`: `Stripe-Should-Retry` first,
/// then connection errors, 409, a 429 whose code is `lock_timeout`, 500
/// (not for a POST: its idempotency layer replays the saved 500) and 503.
#[tokio::test(start_paused = true)]
async fn stripe_sdks() {
    use StopReason::*;
    const JAVA: &str = "stripe/stripe-java src/test/java/com/stripe/net/HttpClientTest.java";
    const GO: &str = "stripe/stripe-go stripe.go::shouldRetry";
    let key: &'static [(&str, &str)] = &[("idempotency-key", "order-42")];
    check(vec![
        Row::new(leak(format!("{JAVA}::testRequestWithRetriesConnectException")), "a refused connection is retried")
            .steps(&[REFUSED, OK])
            .waits(&[MS(500)])
            .ends(200, None),
        Row::new(
            leak(format!("{JAVA}::testRequestWithRetriesConnectExceptionRethrowAfterAllAttempts")),
            "three refused connections: the last error",
        )
        .steps(&[REFUSED, REFUSED, REFUSED])
        .waits(&[MS(500), S(1)])
        .ends_in_transport_error(Some(MaxAttempts)),
        Row::new(leak(format!("{JAVA}::testRequestWithRetriesSocketTimeoutException")), "a read timeout is retried")
            .attempt_timeout(S(80))
            .steps(&[Hangs, OK])
            .waits(&[S(80) + MS(500)])
            .ends(200, None),
        Row::new(leak(format!("{JAVA}::testRequestWithRetriesStripeShouldRetryTrue")), "a 400 with Stripe-Should-Retry: true is retried")
            .steps(&[Status(400, &[("stripe-should-retry", "true")]), OK])
            .waits(&[MS(500)])
            .ends(200, None),
        Row::new(leak(format!("{JAVA}::testRequestWithRetriesStripeShouldRetryFalse")), "a 400 with Stripe-Should-Retry: false is not")
            .steps(&[Status(400, &[("stripe-should-retry", "false")])])
            .ends(400, Some(NotRetryable)),
        Row::new(leak(format!("{JAVA}::testRequestWithRetriesConflictServiceUnavailable")), "a 503 is retried")
            .steps(&[Status(503, &[]), OK])
            .waits(&[MS(500)])
            .ends(200, None),
        Row::new(leak(format!("{JAVA}::testRequestWithRetriesConflictInternalServerError")), "a GET's 500 is retried")
            .steps(&[Status(500, &[]), OK])
            .waits(&[MS(500)])
            .ends(200, None),
        Row::new(leak(format!("{JAVA}::testRequestWithRetriesConflict")), "a 409 is retried")
            .steps(&[Status(409, &[])])
            .ends(409, Some(NotRetryable))
            .differs(
                "RFC 9110 §15.5.10: a 409 is a conflict the user may resolve and resubmit; \
                 most APIs' 409s (an existing name, a stale version) come back unchanged. \
                 Stripe's transient one (a concurrent request on the same Idempotency-Key) is \
                 retried when the response carries Stripe-Should-Retry: true (next row), or by \
                 retry_if",
            ),
        Row::new(leak(format!("{JAVA}::testRequestWithRetriesConflict (Stripe-Should-Retry: true)")), "a 409 the server calls retryable is retried")
            .method("POST")
            .headers(key)
            .steps(&[Status(409, &[("stripe-should-retry", "true")]), OK])
            .waits(&[MS(500)])
            .ends(200, None),
        Row::new(leak(format!("{GO} (429 lock_timeout)")), "a 429 whose error code is lock_timeout is retried")
            .method("POST")
            .headers(key)
            .steps(&[
                Body(429, "application/json", r#"{"error":{"code":"lock_timeout","message":"This object cannot be accessed right now because another API request or Stripe process is currently accessing it.","type":"invalid_request_error"}}"#),
                OK,
            ])
            .waits(&[MS(500)])
            .ends(200, None),
        Row::new(leak(format!("{GO} (429 rate_limit)")), "any other 429 (a rate limit) is not retried: it adds to the contention")
            .steps(&[Status(429, &[]), OK])
            .waits(&[MS(500)])
            .ends(200, None)
            .differs(
                "Stripe's own rate-limit guide asks clients to retry a 429 with exponential \
                 backoff; the backoff and the budget keep the retries off a contended account",
            ),
        Row::new(leak(format!("{GO} (500, POST)")), "a POST's 500 is not retried: the idempotency layer would replay it")
            .method("POST")
            .headers(key)
            .steps(&[Status(500, &[]), OK])
            .waits(&[MS(500)])
            .ends(200, None)
            .differs(
                "a POST with an Idempotency-Key is safe to send again (RFC 9110 §9.2.2), and \
                 most servers do not save a 500 under the key; Stripe, which does, says so \
                 with Stripe-Should-Retry: false (next row), which we obey",
            ),
        Row::new(leak(format!("{GO} (500, POST, Stripe-Should-Retry: false)")), "Stripe-Should-Retry: false is obeyed first")
            .method("POST")
            .headers(key)
            .steps(&[Status(500, &[("stripe-should-retry", "false")])])
            .ends(500, Some(NotRetryable)),
        Row::new(leak(format!("{GO} (503, POST)")), "a 503 is retried for any method (the SDK sent an Idempotency-Key)")
            .method("POST")
            .headers(key)
            .steps(&[Status(503, &[]), OK])
            .waits(&[MS(500)])
            .ends(200, None),
    ])
    .await;
}

/// botocore's standard retry mode (`botocore/retries/standard.py`) and its
/// table of cases, `tests/unit/retries/test_standard.py`
/// (`RETRYABLE_TRANSIENT_ERRORS`, `RETRYABLE_THROTTLED_RESPONSES`):
/// statuses 500, 502, 503, 504, connection errors, and the error code of
/// the parsed body (JSON protocols' `__type`, Query and REST-XML's
/// `<Code>`). AWS's JSON and Query protocols send every operation as a
/// POST, which botocore retries; our caller says so with
/// `retry_non_idempotent(true)` (the last row shows the default).
#[tokio::test(start_paused = true)]
async fn botocore_standard_retry_mode() {
    use StopReason::*;
    const TABLE: &str = "boto/botocore tests/unit/retries/test_standard.py";
    fn aws() -> RetryPolicy {
        exact().retry_non_idempotent(true)
    }
    fn json(code: &str) -> &'static str {
        leak(format!(
            r#"{{"__type":"com.amazonaws.service#{code}","message":"{code}"}}"#
        ))
    }
    fn query(code: &str) -> &'static str {
        leak(format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{code}</Message></Error><RequestId>a1b2</RequestId></ErrorResponse>"
        ))
    }
    const JSON: &str = "application/x-amz-json-1.0";
    const XML: &str = "text/xml";
    let mut rows = Vec::new();
    for (list, status, code, body) in [
        ("RETRYABLE_THROTTLED_RESPONSES", 400, "Throttling", (XML, query("Throttling"))),
        ("RETRYABLE_THROTTLED_RESPONSES", 400, "ThrottlingException", (JSON, json("ThrottlingException"))),
        ("RETRYABLE_THROTTLED_RESPONSES", 400, "ThrottledException", (JSON, json("ThrottledException"))),
        ("RETRYABLE_THROTTLED_RESPONSES", 400, "RequestThrottledException", (JSON, json("RequestThrottledException"))),
        ("RETRYABLE_THROTTLED_RESPONSES", 400, "TooManyRequestsException", (JSON, json("TooManyRequestsException"))),
        ("RETRYABLE_THROTTLED_RESPONSES", 400, "ProvisionedThroughputExceededException", (JSON, json("ProvisionedThroughputExceededException"))),
        ("RETRYABLE_THROTTLED_RESPONSES", 400, "TransactionInProgressException", (JSON, json("TransactionInProgressException"))),
        ("RETRYABLE_THROTTLED_RESPONSES", 503, "RequestLimitExceeded", (XML, query("RequestLimitExceeded"))),
        ("RETRYABLE_THROTTLED_RESPONSES", 509, "BandwidthLimitExceeded", (XML, query("BandwidthLimitExceeded"))),
        ("RETRYABLE_THROTTLED_RESPONSES", 403, "RequestThrottled", (XML, query("RequestThrottled"))),
        ("RETRYABLE_THROTTLED_RESPONSES", 503, "SlowDown", (XML, "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>")),
        ("RETRYABLE_THROTTLED_RESPONSES", 400, "PriorRequestNotComplete", (XML, query("PriorRequestNotComplete"))),
        ("RETRYABLE_THROTTLED_RESPONSES", 502, "EC2ThrottledException", (JSON, json("EC2ThrottledException"))),
        ("RETRYABLE_TRANSIENT_ERRORS", 400, "RequestTimeout", (XML, "<Error><Code>RequestTimeout</Code><Message>Your socket connection to the server was not read from or written to within the timeout period.</Message></Error>")),
        ("RETRYABLE_TRANSIENT_ERRORS", 400, "RequestTimeoutException", (JSON, json("RequestTimeoutException"))),
        ("RETRYABLE_TRANSIENT_ERRORS", 500, "InternalServiceError", (JSON, json("InternalServiceError"))),
        ("RETRYABLE_TRANSIENT_ERRORS", 502, "BadError", (JSON, json("BadError"))),
    ] {
        let (content_type, body) = body;
        let steps: &'static [Step] = Box::leak(Box::new([Body(status, content_type, body), OK]));
        rows.push(
            Row::new(leak(format!("{TABLE}::{list} ({status}, {code})")), "retryable")
                .method("POST")
                .policy(aws)
                .steps(steps)
                .waits(&[MS(500)])
                .ends(200, None),
        );
    }
    for status in [500, 502, 503, 504] {
        rows.push(
            Row::new(
                leak(format!(
                    "{TABLE}::RETRYABLE_TRANSIENT_ERRORS ({status}, None)"
                )),
                "any 500, 502, 503 or 504 is transient",
            )
            .method("POST")
            .policy(aws)
            .steps(&[Status(status, &[]), OK])
            .waits(&[MS(500)])
            .ends(200, None),
        );
    }
    rows.extend([
        Row::new(leak(format!("{TABLE}::RETRYABLE_THROTTLED_RESPONSES (400, NotAThrottlingError)")), "not retryable")
            .method("POST")
            .policy(aws)
            .steps(&[Body(400, JSON, json("NotAThrottlingError"))])
            .ends(400, Some(NotRetryable)),
        Row::new(leak(format!("{TABLE}::RETRYABLE_TRANSIENT_ERRORS (400, None)")), "a 400 without a code is not retryable")
            .method("POST")
            .policy(aws)
            .steps(&[Status(400, &[])])
            .ends(400, Some(NotRetryable)),
        Row::new(leak(format!("{TABLE}::RETRYABLE_THROTTLED_RESPONSES (400, LimitExceededException)")), "retryable")
            .method("POST")
            .policy(aws)
            .steps(&[Body(400, JSON, json("LimitExceededException"))])
            .ends(400, Some(NotRetryable))
            .differs(
                "AWS services share this name between rate limits (Kinesis) and count quotas \
                 that no wait heals (IAM, CloudFormation: too many policies, stacks); a 400 \
                 of it is left to the caller. Those sent as 429 (API Gateway) are retried by \
                 their status",
            ),
        Row::new(leak(format!("{TABLE}::RETRYABLE_TRANSIENT_ERRORS (None, ConnectionError)")), "a connection error is transient")
            .method("POST")
            .policy(aws)
            .steps(&[RESET, OK])
            .waits(&[MS(500)])
            .ends(200, None),
        Row::new(leak(format!("{TABLE}::test_can_honor_max_attempts")), "max_attempts 3: the third failure is final")
            .method("POST")
            .policy(aws)
            .steps(&[Status(503, &[]), Status(503, &[]), Status(503, &[])])
            .waits(&[MS(500), S(1)])
            .ends(503, Some(MaxAttempts)),
        Row::new(
            "boto/botocore botocore/retries/standard.py::ExponentialBackoff.delay_amount",
            "rand(0, 1) × min(2^(attempt - 1), 20): [0, 1], [0, 2], [0, 4] s",
        )
        .policy(|| {
            RetryPolicy::default()
                .no_budget()
                .max_attempts(4)
                .backoff(Backoff::exponential(S(1), 2.0, S(20)).jitter(Jitter::Full))
        })
        .steps(&[Status(500, &[]), Status(500, &[]), Status(500, &[]), OK])
        .waits_within(&[(Duration::ZERO, S(1)), (Duration::ZERO, S(2)), (Duration::ZERO, S(4))])
        .ends(200, None),
        Row::new(leak(format!("{TABLE}::RETRYABLE_THROTTLED_RESPONSES (400, ThrottlingException), our default policy")), "retryable: every AWS call is a POST")
            .method("POST")
            .steps(&[Body(400, JSON, json("ThrottlingException"))])
            .ends(400, Some(NotIdempotent))
            .differs(
                "by default a POST is not retried (RFC 9110 §9.2.2), and RFC 6585 does not \
                 say a throttled request was not applied; an AWS client, whose operations \
                 carry their own idempotency tokens, says retry_non_idempotent(true) (rows above)",
            ),
    ]);
    check(rows).await;
}

/// OkHttp's `RetryAndFollowUpInterceptor.kt` (`followUpRequest` for
/// 408 and 503, `recover`/`isRecoverable` for I/O failures): a follow-up
/// engine rather than a retry policy, sending again at once and only when
/// the protocol says the request can be repeated.
#[tokio::test(start_paused = true)]
async fn okhttp_retry_and_follow_up_interceptor() {
    use StopReason::*;
    const FOLLOW: &str =
        "square/okhttp okhttp3/internal/http/RetryAndFollowUpInterceptor.kt::followUpRequest";
    const RECOVER: &str =
        "square/okhttp okhttp3/internal/http/RetryAndFollowUpInterceptor.kt::isRecoverable";
    check(vec![
        Row::new(leak(format!("{FOLLOW} (HTTP_CLIENT_TIMEOUT)")), "a 408 is repeated (RFC 9110 allows it), at once")
            .steps(&[Status(408, &[]), OK])
            .waits(&[MS(500)])
            .ends(200, None)
            .differs("no immediate retry: the backoff's first step (urllib3's backoff row)"),
        Row::new(
            leak(format!("{FOLLOW} (HTTP_CLIENT_TIMEOUT, POST)")),
            "a POST's 408 is repeated too: \"modern browsers also repeat the request (even non-idempotent ones)\"",
        )
        .method("POST")
        .steps(&[Status(408, &[]), OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            leak(format!("{FOLLOW} (HTTP_CLIENT_TIMEOUT, PATCH)")),
            "a 408 says the request never arrived whole: repeated whatever the method",
        )
        .method("PATCH")
        .steps(&[Status(408, &[]), Status(408, &[]), OK])
        .waits(&[MS(500), S(1)])
        .ends(200, None)
        .differs(
            "a second 408 in a row is repeated too (OkHttp gives up): RFC 9110 §15.5.9 does \
             not limit the repeats, and max_attempts and the deadline bound them",
        ),
        Row::new(leak(format!("{FOLLOW} (HTTP_CLIENT_TIMEOUT, Retry-After: 1)")), "a 408 with a Retry-After above 0 is not repeated")
            .steps(&[Status(408, &[("retry-after", "1")]), OK])
            .waits(&[S(1)])
            .ends(200, None)
            .differs("RFC 9110 §10.2.3: Retry-After says how long to wait before a follow-up request, on any response: we wait it"),
        Row::new(leak(format!("{FOLLOW} (HTTP_UNAVAILABLE, Retry-After: 0)")), "a 503 with Retry-After: 0 is repeated, at once")
            .steps(&[Status(503, &[("retry-after", "0")]), OK])
            .waits(&[MS(500)])
            .ends(200, None)
            .differs("a zero wait is the backoff's (urllib3's test_parse_retry_after[0-0] row)"),
        Row::new(leak(format!("{FOLLOW} (HTTP_UNAVAILABLE, Retry-After: 2)")), "a 503 with a later Retry-After is returned to the caller")
            .steps(&[Status(503, &[("retry-after", "2")]), OK])
            .waits(&[S(2)])
            .ends(200, None)
            .differs("a retry policy waits the hint out when it fits max_retry_after (120 s); OkHttp leaves waiting to the application"),
        Row::new(leak(format!("{FOLLOW} (HTTP_UNAVAILABLE, no Retry-After)")), "a 503 without Retry-After is returned to the caller")
            .steps(&[Status(503, &[]), OK])
            .waits(&[MS(500)])
            .ends(200, None)
            .differs("a 503 is the transient failure (RFC 9110 §15.6.4): a retry policy backs off and retries it"),
        Row::new(leak(format!("{RECOVER} (ConnectException, POST)")), "a connection that could not be made is retried on a route")
            .method("POST")
            .steps(&[REFUSED, OK])
            .waits(&[MS(500)])
            .ends(200, None),
        Row::new(leak(format!("{RECOVER} (SSLHandshakeException caused by CertificateException)")), "a certificate failure is not retried")
            .steps(&[Fails(|| ConnectError::boxed("invalid peer certificate: UnknownIssuer"))])
            .ends_in_transport_error(Some(NotRetryable)),
        Row::new(leak(format!("{RECOVER} (SocketTimeoutException after the request was sent)")), "a read timeout is not recovered")
            .attempt_timeout(S(10))
            .steps(&[Hangs, OK])
            .waits(&[S(10) + MS(500)])
            .ends(200, None)
            .differs(
                "a GET that timed out is idempotent (RFC 9110 §9.2.2) and retried, as .NET's \
                 standard handler and reqwest-retry do; a POST's is not (the .NET rows)",
            ),
    ])
    .await;
}

/// googleapis/python-api-core `google/api_core/retry` (`if_transient_error`,
/// `exponential_sleep_generator`) and its `tests/unit/retry/test_retry_base.py`.
#[tokio::test(start_paused = true)]
async fn google_api_core_retry() {
    use StopReason::*;
    const TEST: &str = "googleapis/python-api-core tests/unit/retry/test_retry_base.py";
    let mut rows = Vec::new();
    for (exception, step) in [
        ("InternalServerError", Status(500, &[])),
        ("TooManyRequests", Status(429, &[])),
        ("ServiceUnavailable", Status(503, &[])),
        ("requests.exceptions.ConnectionError", REFUSED),
        (
            "requests.exceptions.ChunkedEncodingError",
            Io(std::io::ErrorKind::UnexpectedEof),
        ),
    ] {
        rows.push(
            Row::new(
                leak(format!("{TEST}::test_if_transient_error ({exception})")),
                "transient: retried",
            )
            .steps(&[step, OK])
            .waits(&[MS(500)])
            .ends(200, None),
        );
    }
    rows.extend([
        Row::new(
            leak(format!("{TEST}::test_if_transient_error (InvalidArgument)")),
            "not transient",
        )
        .steps(&[Status(400, &[])])
        .ends(400, Some(NotRetryable)),
        Row::new(
            leak(format!("{TEST}::test_if_transient_error (GatewayTimeout)")),
            "504 is not in if_transient_error: not retried",
        )
        .steps(&[Status(504, &[]), OK])
        .waits(&[MS(500)])
        .ends(200, None)
        .differs(
            "a 504 is a gateway that gave up waiting upstream (RFC 9110 §15.6.5), as \
                 transient as a 503; botocore, go-retryablehttp and .NET retry it, and so \
                 does google-cloud-go's storage client",
        ),
        Row::new(
            leak(format!("{TEST}::test_exponential_sleep_generator_base_2")),
            "initial 1, maximum 60, multiplier 2: 1, 2, 4, 8, 16, 32, 60 s",
        )
        .policy(|| {
            exact()
                .max_attempts(8)
                .backoff(Backoff::exponential(S(1), 2.0, S(60)).jitter(Jitter::None))
        })
        .steps(&[
            Status(503, &[]),
            Status(503, &[]),
            Status(503, &[]),
            Status(503, &[]),
            Status(503, &[]),
            Status(503, &[]),
            Status(503, &[]),
            OK,
        ])
        .waits(&[S(1), S(2), S(4), S(8), S(16), S(32), S(60)])
        .ends(200, None),
    ]);
    check(rows).await;
}

/// Envoy's router retries (`retry_on`, `x-envoy-retry-on`):
/// `test/common/router/retry_state_impl_test.cc` (`RouterRetryStateImplTest`),
/// with Envoy's default of one retry (`num_retries: 1`) as our
/// `max_attempts(2)`; grpc-java's `RetriableStream` for a body past the
/// buffer limit.
#[tokio::test(start_paused = true)]
async fn envoy_router_retry_state() {
    use StopReason::*;
    const TEST: &str =
        "envoyproxy/envoy test/common/router/retry_state_impl_test.cc::RouterRetryStateImplTest";
    fn once() -> RetryPolicy {
        exact().max_attempts(2)
    }
    let mut rows = Vec::new();
    for (test, status) in [
        ("Policy5xxRemote503", 503),
        ("PolicyGatewayErrorRemote502", 502),
        ("PolicyGatewayErrorRemote503", 503),
        ("PolicyGatewayErrorRemote504", 504),
    ] {
        rows.push(
            Row::new(
                leak(format!("{TEST}.{test}")),
                "retried once; the second is NoRetryLimitExceeded",
            )
            .policy(once)
            .steps(&[Status(status, &[]), Status(status, &[])])
            .waits(&[MS(500)])
            .ends(status, Some(MaxAttempts)),
        );
    }
    rows.extend([
        Row::new(leak(format!("{TEST}.PolicyGatewayErrorRemoteReset")), "an upstream reset is retried once")
            .policy(once)
            .steps(&[RESET, RESET])
            .waits(&[MS(500)])
            .ends_in_transport_error(Some(MaxAttempts)),
        Row::new(leak(format!("{TEST}.PolicyConnectFailureResetConnectFailure")), "a connect failure is retried")
            .policy(once)
            .steps(&[REFUSED, OK])
            .waits(&[MS(500)])
            .ends(200, None),
        Row::new(leak(format!("{TEST}.PolicyRetriable4xxRetry")), "retriable-4xx (opted into) retries a 409")
            .policy(|| once().retry_if(|ctx| (ctx.status() == Some(StatusCode::CONFLICT)).then_some(true)))
            .steps(&[Status(409, &[]), OK])
            .waits(&[MS(500)])
            .ends(200, None),
        Row::new(leak(format!("{TEST}.PolicyRetriable4xxNoRetry")), "retriable-4xx does not retry a 400")
            .policy(|| once().retry_if(|ctx| (ctx.status() == Some(StatusCode::CONFLICT)).then_some(true)))
            .steps(&[Status(400, &[])])
            .ends(400, Some(NotRetryable)),
        Row::new(leak(format!("{TEST}.Policy5xxRemote503Overloaded")), "a 503 with x-envoy-overloaded is never retried")
            .policy(once)
            .steps(&[Status(503, &[("x-envoy-overloaded", "true")]), OK])
            .waits(&[MS(500)])
            .ends(200, None)
            .differs(
                "Envoy marks a 503 it made by shedding load (a circuit breaker's overflow, \
                 maintenance mode) so that the proxies behind it do not multiply the load: \
                 a rule for a mesh of retrying hops. At the edge our retry budget bounds what \
                 retries add (20 % of traffic), and an overflow is over in a moment; a server \
                 that means \"do not retry\" says x-should-retry: false",
            ),
        Row::new(
            "grpc/grpc-java core/src/main/java/io/grpc/internal/RetriableStream.java (bufferLimitExceeded)",
            "a request whose buffered body passed the limit is committed: no retry",
        )
        .policy(|| exact().max_replay_bytes(1))
        .steps(&[Status(503, &[])])
        .ends(503, Some(BodyNotReplayable)),
    ]);
    check(rows).await;
}

/// grpc-go `test/retry_test.go::TestRetryStreaming` (its retry policy:
/// `MaxAttempts` 4, `RetryableStatusCodes` `UNAVAILABLE`), over
/// trailers-only responses; every gRPC call is a POST, so the service is
/// declared safe to repeat (`retry_non_idempotent(true)`, as A6 makes
/// retries a per-service opt-in).
#[cfg(feature = "grpc")]
#[tokio::test(start_paused = true)]
async fn grpc_go_retry_streaming() {
    use StopReason::*;
    const TEST: &str = "grpc/grpc-go test/retry_test.go::TestRetryStreaming";
    fn service() -> RetryPolicy {
        exact().retry_non_idempotent(true).max_attempts(4)
    }
    const UNAVAILABLE: Step = Status(200, &[("grpc-status", "14")]);
    let row = |case: &str, says: &'static str| {
        Row::new(leak(format!("{TEST}/{case}")), says)
            .method("POST")
            .policy(service)
    };
    check(vec![
        row(
            "Non-retryable error code",
            "INTERNAL is not in RetryableStatusCodes: final",
        )
        .steps(&[Status(200, &[("grpc-status", "13")])])
        .ends(200, Some(NotRetryable)),
        row("One retry necessary", "UNAVAILABLE, then the answer")
            .steps(&[UNAVAILABLE, OK])
            .waits(&[MS(500)])
            .ends(200, None),
        row(
            "Exceed max attempts (4)",
            "four UNAVAILABLE: the last is the caller's",
        )
        .steps(&[UNAVAILABLE; 4])
        .waits(&[MS(500), S(1), S(2)])
        .ends(200, Some(MaxAttempts)),
        row(
            "No retry after header",
            "a response whose headers carried no status is committed",
        )
        .steps(&[Status(200, &[("test_header", "test_value")])])
        .ends(200, None),
        row(
            "Negative server pushback - no retry",
            "pushback -1: no retry",
        )
        .steps(&[Status(
            200,
            &[("grpc-status", "14"), ("grpc-retry-pushback-ms", "-1")],
        )])
        .ends(200, Some(NotRetryable)),
        row(
            "Non-numeric server pushback - no retry",
            "pushback xxx: no retry",
        )
        .steps(&[Status(
            200,
            &[("grpc-status", "14"), ("grpc-retry-pushback-ms", "xxx")],
        )])
        .ends(200, Some(NotRetryable)),
        row(
            "Multiple server pushback values - no retry",
            "two pushback values: no retry",
        )
        .steps(&[Status(
            200,
            &[
                ("grpc-status", "14"),
                ("grpc-retry-pushback-ms", "100"),
                ("grpc-retry-pushback-ms", "10"),
            ],
        )])
        .ends(200, Some(NotRetryable)),
        row(
            "1s server pushback - delayed retry",
            "pushback 1000: the retry comes 1 s later",
        )
        .steps(&[
            Status(
                200,
                &[("grpc-status", "14"), ("grpc-retry-pushback-ms", "1000")],
            ),
            OK,
        ])
        .waits(&[S(1)])
        .ends(200, None),
        Row::new(
            leak(format!("{TEST}/Overflowing buffer - no retry")),
            "a request past MaxRetryRPCBufferSize is not retried",
        )
        .method("POST")
        .policy(|| service().max_replay_bytes(1))
        .steps(&[UNAVAILABLE])
        .ends(200, Some(BodyNotReplayable)),
    ])
    .await;
}

/// googleapis/google-cloud-go `storage/invoke.go::ShouldRetry` (GCS's
/// retry strategy: 408, 429, 5xx; unexpected EOF, closed connections,
/// "connection refused", "connection reset", "broken pipe").
#[tokio::test(start_paused = true)]
async fn google_cloud_go_storage_should_retry() {
    use StopReason::*;
    const FN: &str = "googleapis/google-cloud-go storage/invoke.go::ShouldRetry";
    let mut rows = Vec::new();
    for step in [
        Status(408, &[]),
        Status(429, &[]),
        Status(500, &[]),
        Status(502, &[]),
        Status(503, &[]),
        Status(504, &[]),
        Io(std::io::ErrorKind::UnexpectedEof),
        Io(std::io::ErrorKind::BrokenPipe),
        REFUSED,
        RESET,
    ] {
        rows.push(
            Row::new(leak(format!("{FN} ({step:?})")), "retried")
                .steps(&[step, OK])
                .waits(&[MS(500)])
                .ends(200, None),
        );
    }
    for status in [501, 505] {
        rows.push(
            Row::new(leak(format!("{FN} ({status})")), "any 5xx is retried")
                .steps(&[Status(status, &[])])
                .ends(status, Some(NotRetryable))
                .differs("501 and 505 name what the server will not do (RFC 9110 §15.6.2, §15.6.6): the same request gets the same answer"),
        );
    }
    rows.push(
        Row::new(
            leak(format!("{FN} (404)")),
            "a 4xx but 408 and 429 is not retried",
        )
        .steps(&[Status(404, &[])])
        .ends(404, Some(NotRetryable)),
    );
    check(rows).await;
}

/// The gRPC half of google-cloud-go's `storage/invoke.go::ShouldRetry`:
/// UNAVAILABLE, RESOURCE_EXHAUSTED, INTERNAL and DEADLINE_EXCEEDED.
#[cfg(feature = "grpc")]
#[tokio::test(start_paused = true)]
async fn google_cloud_go_storage_should_retry_grpc() {
    use StopReason::*;
    const FN: &str = "googleapis/google-cloud-go storage/invoke.go::ShouldRetry";
    fn service() -> RetryPolicy {
        exact().retry_non_idempotent(true)
    }
    let row = |code: &str, says: &'static str| {
        Row::new(leak(format!("{FN} (codes.{code})")), says)
            .method("POST")
            .policy(service)
    };
    check(vec![
        row("Unavailable", "retried")
            .steps(&[Status(200, &[("grpc-status", "14")]), OK])
            .waits(&[MS(500)])
            .ends(200, None),
        row("ResourceExhausted", "retried")
            .steps(&[Status(200, &[("grpc-status", "8")]), OK])
            .waits(&[MS(500)])
            .ends(200, None),
        row("Internal", "retried")
            .steps(&[Status(200, &[("grpc-status", "13")])])
            .ends(200, Some(NotRetryable))
            .differs(
                "INTERNAL says invariants of the server are broken (gRPC's status-code \
                 guide, which names UNAVAILABLE as the code a client retries); GCS's retry \
                 guide lists it for GCS, whose client says so with retry_if",
            ),
        row("DeadlineExceeded", "retried")
            .steps(&[Status(200, &[("grpc-status", "4")])])
            .ends(200, Some(NotRetryable))
            .differs(
                "a DEADLINE_EXCEEDED a client sees is, in gRPC, almost always its own \
                 deadline (propagated to the server), which a retry cannot meet; gRFC A6 \
                 leaves it out of the retryable codes unless a service lists it",
            ),
    ])
    .await;
}

/// Azure's azure-core for Python: `azure/core/pipeline/policies/_retry.py`
/// (`_RETRY_CODES`: 408, 429, 500, 502, 503, 504 and 506 up; a response
/// with `Retry-After` is retried whatever its status; POST and PATCH on
/// 500, 503, 504) and `tests/test_retry_policy.py`.
#[tokio::test(start_paused = true)]
async fn azure_core_retry_policy() {
    use StopReason::*;
    const TEST: &str = "Azure/azure-sdk-for-python sdk/core/azure-core/tests/test_retry_policy.py";
    const POLICY: &str =
        "Azure/azure-sdk-for-python sdk/core/azure-core/azure/core/pipeline/policies/_retry.py";
    let mut rows = vec![
        Row::new(
            leak(format!("{TEST}::test_retry_code_class_variables (408)")),
            "408 is in _RETRY_CODES",
        )
        .steps(&[Status(408, &[]), OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            leak(format!("{TEST}::test_retry_code_class_variables (501)")),
            "501 is not in _RETRY_CODES",
        )
        .steps(&[Status(501, &[])])
        .ends(501, Some(NotRetryable)),
        Row::new(
            leak(format!("{POLICY}::_RETRY_CODES (505)")),
            "505 is not either",
        )
        .steps(&[Status(505, &[])])
        .ends(505, Some(NotRetryable)),
        Row::new(
            leak(format!("{POLICY}::_RETRY_CODES (507)")),
            "506 and up are retried: 507",
        )
        .steps(&[Status(507, &[]), OK])
        .waits(&[MS(500)])
        .ends(200, None),
        Row::new(
            leak(format!("{POLICY}::_RETRY_CODES (511)")),
            "506 and up are retried: 511",
        )
        .steps(&[Status(511, &[])])
        .ends(511, Some(NotRetryable))
        .differs(
            "511 is a captive portal asking the user to log in (RFC 6585 §6): no resend does that",
        ),
        Row::new(
            leak(format!("{TEST}::test_retry_on_429")),
            "retry_total=1: a 429 is sent twice",
        )
        .policy(|| exact().max_attempts(2))
        .steps(&[Status(429, &[]), Status(429, &[])])
        .waits(&[MS(500)])
        .ends(429, Some(MaxAttempts)),
        Row::new(
            leak(format!("{TEST}::test_no_retry_on_201")),
            "a 201 with Retry-After is no failure",
        )
        .steps(&[Status(201, &[("retry-after", "1")])])
        .ends(201, None),
    ];
    for (header, value, wait) in [
        ("retry-after-ms", "800", MS(800)),
        ("retry-after-ms", "1200", MS(1200)),
        ("x-ms-retry-after-ms", "800", MS(800)),
        ("x-ms-retry-after-ms", "1000", S(1)),
        ("retry-after", "0", MS(500)),
    ] {
        let headers: &'static [(&str, &str)] = Box::leak(Box::new([(header, value)]));
        let test = if header == "x-ms-retry-after-ms" {
            "test_x_ms_retry_after"
        } else {
            "test_retry_after"
        };
        rows.push(
            Row::new(
                leak(format!("{TEST}::{test} ({header}: {value})")),
                "the header's wait (milliseconds for the -ms headers)",
            )
            .steps(&[Status(503, headers), OK])
            .waits(&[wait])
            .ends(200, None),
        );
    }
    rows.extend([
        Row::new(
            leak(format!("{TEST}::test_retry_after (Retry-After: 800)")),
            "Retry-After in seconds: 800 s",
        )
        .policy(patient)
        .steps(&[Status(503, &[("retry-after", "800")]), OK])
        .waits(&[S(800)])
        .ends(200, None),
        Row::new(
            leak(format!(
                "{TEST}::test_retry_after (Retry-After: 1 with retry-after-ms: 500)"
            )),
            "Retry-After is read before retry-after-ms: 1 s",
        )
        .steps(&[
            Status(503, &[("retry-after", "1"), ("retry-after-ms", "500")]),
            OK,
        ])
        .waits(&[MS(500)])
        .ends(200, None)
        .differs(
            "the two are one hint, the -ms one finer: the OpenAI SDKs read retry-after-ms \
                 first, as we do",
        ),
        Row::new(
            leak(format!("{POLICY}::is_retry (404 with Retry-After)")),
            "any response with Retry-After is retried",
        )
        .steps(&[Status(404, &[("retry-after", "1")])])
        .ends(404, Some(NotRetryable))
        .differs(
            "Retry-After says when a follow-up may come (RFC 9110 §10.2.3), not that the \
                 failure heals: a 404 is not a rate limit (urllib3's 404 row agrees)",
        ),
        Row::new(
            leak(format!("{POLICY}::_is_method_retryable (POST, 503)")),
            "a POST is retried on 500, 503 and 504",
        )
        .method("POST")
        .steps(&[Status(503, &[])])
        .ends(503, Some(NotIdempotent))
        .differs(
            "RFC 9110 §9.2.2: a POST's 500 or 504 may come after the work was done; \
                 without an Idempotency-Key (or the server's x-should-retry: true) it is not \
                 sent twice",
        ),
        Row::new(
            leak(format!("{POLICY}::_is_method_retryable (POST, 502)")),
            "a POST's 502 is not retried",
        )
        .method("POST")
        .steps(&[Status(502, &[])])
        .ends(502, Some(NotIdempotent)),
        Row::new(
            leak(format!("{TEST}::test_does_not_sleep_after_timeout")),
            "no sleep that would end past the timeout",
        )
        .policy(|| exact().max_attempts(4).deadline(S(1)))
        .steps(&[RESET, RESET])
        .waits(&[MS(500)])
        .ends_in_transport_error(Some(Deadline)),
    ]);
    check(rows).await;
}
