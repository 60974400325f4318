//! Properties, with proptest: the in-suite twins of the fuzz targets in
//! `fuzz/`, run on every `cargo test` (thousands of cases, bounded time).

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use proptest::prelude::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tower::util::rng::HasherRng;
use tower_api_errors::hints::{
    grpc_pushback, parse_retry_after, retry_hint, GrpcPushback, RateLimitInfo, ResponseHints,
    MAX_HINT, MAX_POLICIES, MAX_POLICY_NAME,
};
use tower_api_errors::parse_error;
use tower_api_errors::retry::{Backoff, Jitter, ReplayBody};

/// Header names the parsers read, and one they do not.
const HINT_HEADERS: &[&str] = &[
    "retry-after",
    "retry-after-ms",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-reset-after",
    "ratelimit",
    "ratelimit-policy",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
    "x-rate-limit-remaining",
    "x-rate-limit-reset",
    "anthropic-ratelimit-tokens-remaining",
    "anthropic-ratelimit-tokens-reset",
    "x-shopify-shop-api-call-limit",
    "x-ms-retry-after-ms",
    "date",
    "age",
    "x-should-retry",
    "stripe-should-retry",
    "grpc-retry-pushback-ms",
    "grpc-status",
    "grpc-message",
    "content-type",
    "x-unrelated",
];

/// Header values: anything a `HeaderValue` can hold, and plausible ones.
fn header_value() -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40).prop_filter_map(
            "not a header value",
            |bytes| HeaderValue::from_bytes(&bytes).ok()
        ),
        "-?[0-9]{0,32}(\\.[0-9]{0,12})?".prop_map(|s| HeaderValue::from_str(&s).unwrap()),
        "[a-z\"]{0,8};r=-?[0-9]{0,20};t=[0-9a-z]{0,6}(, ?[a-z]{1,5};q=[0-9]{1,4})?"
            .prop_map(|s| HeaderValue::from_str(&s).unwrap()),
        "(Mon|Sun), [0-9]{2} (Nov|Feb) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} (GMT|UTC|[+-][0-9]{4})"
            .prop_map(|s| HeaderValue::from_str(&s).unwrap()),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{0,12})?)?(Z|[+-][0-9]{2}:?[0-9]{2})?"
            .prop_map(|s| HeaderValue::from_str(&s).unwrap()),
        "(limit|remaining|reset)=-?[0-9]{0,5}(, ?(limit|remaining|reset)=[0-9]{0,5}){0,3}|[0-9]{0,3}/[0-9]{0,3}"
            .prop_map(|s| HeaderValue::from_str(&s).unwrap()),
    ]
}

fn headers() -> impl Strategy<Value = HeaderMap> {
    proptest::collection::vec(
        (proptest::sample::select(HINT_HEADERS), header_value()),
        0..8,
    )
    .prop_map(|pairs| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_static(name), value);
        }
        map
    })
}

/// JSON-ish bodies: nested objects and arrays under the keys dialects read.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(serde_json::Value::Number)),
        ".{0,40}".prop_map(serde_json::Value::from),
    ];
    let keys = proptest::sample::select(vec![
        "error",
        "errors",
        "message",
        "detail",
        "title",
        "type",
        "status",
        "code",
        "error_description",
        "validation_errors",
        "field",
        "details",
        "retry_after",
        "retryDelay",
        "fieldViolations",
        "source",
        "pointer",
        "loc",
        "msg",
        "__type",
        "name",
        "errorMessages",
        "param",
    ]);
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(keys.clone().prop_map(str::to_owned), inner, 0..6)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2048),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        ".{0,300}".prop_map(
            |s: String| format!("<html><title>{s}</title><body>{s}</body></html>").into_bytes()
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// `parse_error` never panics, and what it returns is bounded.
    #[test]
    fn parse_error_is_total_and_bounded(status in 100u16..600, headers in headers(), body in body()) {
        let error = parse_error(StatusCode::from_u16(status).unwrap(), &headers, &body);
        prop_assert!(!error.message().is_empty());
        prop_assert!(error.message().chars().count() <= 1024);
        prop_assert!(!error.message().contains('\n'));
        prop_assert!(error.code().is_none_or(|code| code.chars().count() <= 128));
        prop_assert!(error.field_errors().len() <= 100);
        prop_assert!(error.retry_after().is_none_or(|d| d <= MAX_HINT));
        prop_assert!(!error.to_string().contains('\n'));
    }

    /// Every header parser is total on any header map, and hints never
    /// exceed `MAX_HINT`.
    #[test]
    fn hint_parsers_are_total(headers in headers(), now_secs in 0u64..4_000_000_000) {
        let now = UNIX_EPOCH + Duration::from_secs(now_secs);
        if let Some(hint) = retry_hint(&headers, now) {
            prop_assert!(hint.delay() <= MAX_HINT);
        }
        if let Some(info) = RateLimitInfo::from_headers(&headers, now) {
            prop_assert!(info.reset().is_none_or(|reset| reset <= MAX_HINT));
        }
        let _ = grpc_pushback(&headers);
        let _ = tower_api_errors::hints::should_retry(&headers);
    }

    /// `ResponseHints::read` never panics, stays within its bounds, and
    /// agrees with the free functions built on it.
    #[test]
    fn response_hints_are_total_and_bounded(headers in headers(), now_secs in 0u64..4_000_000_000) {
        let now = UNIX_EPOCH + Duration::from_secs(now_secs);
        let hints = ResponseHints::read(&headers, now);
        prop_assert!(hints.policies().len() <= MAX_POLICIES);
        for policy in hints.policies() {
            prop_assert!(policy.name().is_none_or(|n| n.len() <= MAX_POLICY_NAME));
            prop_assert!(policy.reset().is_none_or(|r| r <= MAX_HINT));
            prop_assert!(policy.window().is_none_or(|w| w <= MAX_HINT));
        }
        prop_assert!(hints.retry_hint_when_limited().is_none_or(|h| h.delay() <= MAX_HINT));
        prop_assert_eq!(hints.retry_hint(), retry_hint(&headers, now));
        prop_assert_eq!(hints.rate_limit(), RateLimitInfo::from_headers(&headers, now));
        prop_assert_eq!(hints.should_retry(), tower_api_errors::hints::should_retry(&headers));
    }

    /// Retry-After in seconds is monotone in its value and never overflows,
    /// up to 30 digits.
    #[test]
    fn retry_after_seconds_are_monotone(a in "[0-9]{1,30}", b in "[0-9]{1,30}") {
        let (small, large) = if (a.len(), &a) <= (b.len(), &b) { (a, b) } else { (b, a) };
        let small = small.trim_start_matches('0');
        let large = large.trim_start_matches('0');
        // Compare as numbers: fewer digits (after leading zeros) is smaller.
        let (small, large) = if (small.len(), small) <= (large.len(), large) { (small, large) } else { (large, small) };
        let parse = |digits: &str| {
            let digits = if digits.is_empty() { "0" } else { digits };
            parse_retry_after(&HeaderValue::from_str(digits).unwrap(), SystemTime::now()).unwrap()
        };
        let (d_small, d_large) = (parse(small), parse(large));
        prop_assert!(d_small <= d_large);
        prop_assert!(d_large <= MAX_HINT);
    }

    /// Millisecond hints are monotone too.
    #[test]
    fn pushback_is_monotone(a in any::<u64>(), b in any::<u64>()) {
        let pushback = |ms: u64| {
            let mut headers = HeaderMap::new();
            headers.insert("grpc-retry-pushback-ms", HeaderValue::from(ms));
            match grpc_pushback(&headers) {
                Some(GrpcPushback::After(delay)) => delay,
                other => panic!("{other:?}"),
            }
        };
        let (small, large) = (a.min(b), a.max(b));
        prop_assert!(pushback(small) <= pushback(large));
    }

    /// Backoff delays stay within their documented bounds, for every retry
    /// and jitter mode.
    #[test]
    fn backoff_stays_in_bounds(
        initial_ms in 1u64..10_000,
        multiplier in 1.0f64..10.0,
        extra_ms in 0u64..100_000,
        jitter in proptest::sample::select(vec![Jitter::None, Jitter::Full, Jitter::Equal, Jitter::Decorrelated]),
        retries in 1u32..200,
    ) {
        let initial = Duration::from_millis(initial_ms);
        let max = initial + Duration::from_millis(extra_ms);
        let backoff = Backoff::exponential(initial, multiplier, max).jitter(jitter);
        let mut rng = HasherRng::default();
        let mut previous = Duration::ZERO;
        for retry in 1..=retries {
            let base = backoff.base(retry);
            prop_assert!(base >= initial.min(max) && base <= max);
            if retry > 1 {
                prop_assert!(base >= backoff.base(retry - 1), "the base never shrinks");
            }
            let delay = backoff.delay(retry, previous, &mut rng);
            match jitter {
                Jitter::None => prop_assert_eq!(delay, base),
                Jitter::Full => prop_assert!(delay <= base),
                Jitter::Equal => prop_assert!(delay >= base / 2 && delay <= base),
                _ => prop_assert!(delay >= initial && delay <= max),
            }
            previous = delay;
        }
    }
}

/// A body of the given chunks, one per poll.
struct Chunks(std::collections::VecDeque<Bytes>);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }
}

/// Splits `data` at the given cut points.
fn chunked(data: &[u8], cuts: &[usize]) -> Chunks {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = std::collections::VecDeque::new();
    let mut start = 0;
    for point in points.into_iter().chain([data.len()]) {
        chunks.push_back(Bytes::copy_from_slice(&data[start..point]));
        start = point;
    }
    Chunks(chunks)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// A replayed request body equals the original byte for byte, for any
    /// chunking, and however much of it the first attempt read.
    #[test]
    fn replay_equals_the_original(
        data in proptest::collection::vec(any::<u8>(), 1..4096),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        first_reads in 0usize..16,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let mut first = ReplayBody::new(chunked(&data, &cuts), 64 * 1024);
            let keep = first.replay();
            // The first attempt reads some frames, then the server answers.
            let mut read = Vec::new();
            for _ in 0..first_reads {
                match first.frame().await {
                    Some(Ok(frame)) => read.extend_from_slice(&frame.into_data().unwrap()),
                    _ => break,
                }
            }
            drop(first);
            prop_assert!(data.starts_with(&read));
            prop_assert!(keep.is_replayable());
            for _ in 0..2 {
                let replayed = keep.replay().collect().await.unwrap().to_bytes();
                prop_assert_eq!(&replayed[..], &data[..]);
            }
            Ok(())
        })?;
    }
}

/// One thing a vendor's answer can teach the default quota store.
#[derive(Debug, Clone)]
enum Taught {
    /// An answer that teaches nothing (a vendor that announces nothing).
    Answer,
    /// A 429's wait (`true`) or a 503's (`false`), in milliseconds.
    Wait(u64, bool),
    /// An announced window: limit, remaining, reset in milliseconds.
    Window(u64, u64, u64),
}

/// Waits and resets of a few seconds, or of any length at all.
fn millis() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..20_000, any::<u64>()]
}

fn taught() -> impl Strategy<Value = Taught> {
    prop_oneof![
        4 => Just(Taught::Answer),
        2 => (millis(), any::<bool>()).prop_map(|(ms, limited)| Taught::Wait(ms, limited)),
        1 => (any::<u64>(), any::<u64>(), millis())
            .prop_map(|(limit, remaining, reset)| Taught::Window(limit, remaining, reset)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Whatever a vendor answers, and whenever: the default store (which
    /// infers a vendor's window from its 429s) never panics, and a
    /// request it lets go can always be settled.
    #[test]
    fn the_default_store_takes_any_answers(
        steps in proptest::collection::vec((taught(), 0u64..15_000), 1..64),
    ) {
        use tower_api_errors::quota::{Grant, MemoryStore, Observation, QuotaStore, ScopeKey, WindowReport};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let store = MemoryStore::new();
            let scope = ScopeKey::new("api.example.com", None);
            for (taught, pause) in steps {
                let max = Duration::from_secs(3600);
                if let Grant::Go { permit, .. } = store.acquire(scope, 1, max).await {
                    let observation = match taught {
                        Taught::Answer => Observation::new(),
                        Taught::Wait(ms, true) => Observation::new().with_cooldown(Duration::from_millis(ms)).rate_limited(),
                        Taught::Wait(ms, false) => Observation::new().with_cooldown(Duration::from_millis(ms)),
                        Taught::Window(limit, remaining, reset) => Observation::new().with_window(WindowReport::new(
                            None, Some(limit), Some(remaining), Some(Duration::from_millis(reset)), None,
                        )),
                    };
                    store.settle(permit, &observation).await;
                }
                tokio::time::advance(Duration::from_millis(pause)).await;
            }
        });
    }
}
