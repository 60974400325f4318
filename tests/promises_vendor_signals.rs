//! Real vendors' rate-limit and retry signals, in the forms each
//! vendor documents them, read by `ResponseHints::read` and `parse_error`,
//! and waited (or refused) by the retry and quota layers under paused time.
//!
//! Every response but the skew rows carries a `Date` of
//! `Tue, 14 Nov 2023 22:13:20 GMT` (Unix 1 700 000 000) while the local
//! clock is elsewhere: absolute times must be read against the server's
//! clock (the hints' module docs, "Clock skew"; RFC 9110 §10.2.3 and
//! §6.6.1).
//!
//! The last section pins hint values outside the grammars (ignored,
//! saturated, never clamped) and what the quota layer does with each hint
//! source, alone and inside `ApiErrorsLayer`.

#[path = "support/scripted.rs"]
mod scripted;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use scripted::{exact, get, held_after, reply, send, Scripted};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;
use tower::{Layer, ServiceExt};
use tower_api_errors::hints::{
    parse_retry_after, HintSource, RateLimitInfo, ResponseHints, MAX_HINT,
};
use tower_api_errors::parse::SuccessPeekLayer;
use tower_api_errors::retry::{ReplayBody, RetryLayer};
use tower_api_errors::{
    parse_error, Error, ErrorBodyParseLayer, ErrorKind, QuotaLayer, StopReason,
};

/// An Azure row: headers, status, the wait in ms, its source.
type AzureRow = (
    &'static [(&'static str, &'static str)],
    u16,
    u128,
    HintSource,
);

/// Header pairs as a row lists them.
type Pairs = Vec<(&'static str, &'static str)>;

const DATE: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
const D: u64 = 1_700_000_000;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    headers
}

/// `pairs` with the server's `Date` first.
fn dated(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut headers = map(&[("date", DATE)]);
    for (name, value) in map(pairs) {
        headers.append(name.unwrap(), value);
    }
    headers
}

fn ms(d: Option<Duration>) -> Option<u128> {
    d.map(|d| d.as_millis())
}

fn request(method: &str, key: Option<&str>) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .uri("http://api.vendor.test/v1/x");
    if let Some(key) = key {
        builder = builder.header("idempotency-key", key);
    }
    builder.body(Full::new(Bytes::new())).unwrap()
}

/// The retry layer over the parse layer over a scripted upstream whose
/// first answer is `first` and the rest 200: the waits taken, or the error.
async fn retried(
    method: &str,
    key: Option<&str>,
    first: Response<Full<Bytes>>,
) -> (Vec<Duration>, Result<(), tower_api_errors::ApiError>) {
    let upstream = Scripted::default();
    let first = Arc::new(Mutex::new(Some(first)));
    let client = RetryLayer::new(exact()).layer(ErrorBodyParseLayer::new().layer(
        upstream.service::<ReplayBody<Full<Bytes>>>(move |n| {
            if n == 0 {
                first.lock().unwrap().take().unwrap()
            } else {
                reply(200, &[], "{}")
            }
        }),
    ));
    let result = tokio::time::timeout(
        Duration::from_secs(3600),
        client.oneshot(request(method, key)),
    )
    .await
    .expect("no hang");
    let result = match result {
        Ok(_) => Ok(()),
        Err(Error::Api(error)) => Err(error),
        Err(other) => panic!("{other:?}"),
    };
    (upstream.waits(), result)
}

// ---------------------------------------------------------------------------
// Reading: each vendor's documented headers and bodies.
// ---------------------------------------------------------------------------

/// OpenAI, platform.openai.com/docs/guides/rate-limits ("Rate limits in
/// headers"): `x-ratelimit-reset-requests: 1s`, `x-ratelimit-reset-tokens:
/// 6m0s`, Go durations (`20ms`, `1h2m3.5s` as Go's `Duration.String`
/// prints them). A 429 whose tokens are spent waits the tokens' reset.
#[test]
fn openai_resets_are_go_durations_per_named_window() {
    let now = at(D + 86_400);
    for (requests_reset, tokens_reset, want_ms) in [
        ("1s", "6m0s", 360_000u128),
        ("20ms", "1h2m3.5s", 3_723_500),
        ("8.64s", "2m59.56s", 179_560),
        ("0s", "17ms", 17),
        ("1m0.5s", "1.5h", 5_400_000),
    ] {
        let headers = dated(&[
            ("x-ratelimit-limit-requests", "60"),
            ("x-ratelimit-limit-tokens", "150000"),
            ("x-ratelimit-remaining-requests", "59"),
            ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-requests", requests_reset),
            ("x-ratelimit-reset-tokens", tokens_reset),
        ]);
        let hints = ResponseHints::read(&headers, now);
        let names: Vec<_> = hints.policies().iter().map(|p| p.name()).collect();
        assert_eq!(names, [Some("requests"), Some("tokens")], "{tokens_reset}");
        let tokens = hints.policies()[1];
        assert_eq!(tokens.limit(), Some(150_000));
        assert_eq!(ms(tokens.reset()), Some(want_ms), "{tokens_reset}");
        let hint = hints.retry_hint().unwrap();
        assert_eq!(hint.delay().as_millis(), want_ms, "{tokens_reset}");
        assert_eq!(hint.source(), HintSource::RateLimitReset);
        let error = parse_error(StatusCode::TOO_MANY_REQUESTS, &headers, b"");
        assert_eq!(ms(error.retry_after()), Some(want_ms), "{tokens_reset}");
        assert_eq!(error.policies().len(), 2);
    }
}

/// Anthropic, docs.anthropic.com/en/api/rate-limits ("Response headers"):
/// `anthropic-ratelimit-*-reset` are RFC 3339 times; a 429 carries
/// `retry-after` in seconds, which wins. Read against the response's
/// `Date`, whatever the local clock.
#[test]
fn anthropic_rfc3339_resets_read_against_the_server_clock() {
    for now in [at(D - 3_600), at(D), at(D + 86_400)] {
        let headers = dated(&[
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-reset", "2023-11-14T22:13:50Z"),
            ("anthropic-ratelimit-tokens-limit", "40000"),
            ("anthropic-ratelimit-tokens-remaining", "39000"),
            (
                "anthropic-ratelimit-tokens-reset",
                "2023-11-14T23:13:21.500+01:00",
            ),
            ("anthropic-ratelimit-input-tokens-limit", "40000"),
            ("anthropic-ratelimit-input-tokens-remaining", "39000"),
            (
                "anthropic-ratelimit-input-tokens-reset",
                "2023-11-14T22:13:21Z",
            ),
        ]);
        let hints = ResponseHints::read(&headers, now);
        let resets: Vec<_> = hints
            .policies()
            .iter()
            .map(|p| (p.name().unwrap().to_owned(), ms(p.reset())))
            .collect();
        assert_eq!(
            resets,
            [
                ("requests".to_owned(), Some(30_000)),
                ("tokens".to_owned(), Some(1_500)),
                ("input-tokens".to_owned(), Some(1_000)),
            ],
            "{now:?}"
        );
        let hint = hints.retry_hint_when_limited().unwrap();
        assert_eq!(hint.delay(), Duration::from_secs(30));
        let mut with_retry_after = headers.clone();
        with_retry_after.insert("retry-after", HeaderValue::from_static("12"));
        let error = parse_error(StatusCode::TOO_MANY_REQUESTS, &with_retry_after, b"{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"Number of request tokens has exceeded your per-minute rate limit\"}}");
        assert_eq!(error.kind(), ErrorKind::RateLimited);
        assert_eq!(error.retry_after(), Some(Duration::from_secs(12)));
        assert!(error.is_retryable());
    }
}

/// Shopify, shopify.dev/docs/api/usage/rate-limits: REST's
/// `X-Shopify-Shop-Api-Call-Limit: 40/40` on a 429 with `Retry-After:
/// 2.0` (a float, as the page shows it).
#[test]
fn shopify_call_limit_and_float_retry_after() {
    let headers = dated(&[
        ("x-shopify-shop-api-call-limit", "40/40"),
        ("retry-after", "2.0"),
    ]);
    let error = parse_error(
        StatusCode::TOO_MANY_REQUESTS,
        &headers,
        br#"{"errors":"Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}"#,
    );
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
    let window = error.rate_limit().unwrap();
    assert_eq!((window.limit(), window.remaining()), (Some(40), Some(0)));
    // 39 of 40 used, a success: one left, no wait.
    let hints = ResponseHints::read(&dated(&[("x-shopify-shop-api-call-limit", "39/40")]), at(D));
    assert_eq!(hints.rate_limit().unwrap().remaining(), Some(1));
    assert_eq!(hints.retry_hint(), None);
}

/// Discord, discord.com/developers/docs/topics/rate-limits: the 429 body
/// `{"message", "retry_after": 64.57, "global": false}` (seconds, a float)
/// names the wait when a proxy dropped the headers; `X-RateLimit-Reset` is
/// epoch seconds with a fraction, `X-RateLimit-Reset-After` seconds with a
/// fraction, `X-RateLimit-Bucket` an opaque id.
#[test]
fn discord_float_resets_and_body_retry_after() {
    let body =
        br#"{"message": "You are being rate limited.", "retry_after": 64.57, "global": false}"#;
    let bare = map(&[("content-type", "application/json")]);
    let error = parse_error(StatusCode::TOO_MANY_REQUESTS, &bare, body);
    assert_eq!(error.retry_after(), Some(Duration::from_millis(64_570)));
    assert_eq!(error.retry_hint().unwrap().source(), HintSource::Body);
    let global = br#"{"message": "You are being rate limited.", "retry_after": 1.337, "global": true, "code": 0}"#;
    let error = parse_error(StatusCode::TOO_MANY_REQUESTS, &bare, global);
    assert_eq!(error.retry_after(), Some(Duration::from_millis(1_337)));
    assert!(error.is_retryable());

    // The epoch reset alone (no Reset-After), a fraction, against Date,
    // the local clock a day ahead.
    let headers = dated(&[
        ("x-ratelimit-limit", "5"),
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "1700000002.250"),
        ("x-ratelimit-bucket", "abcd1234"),
    ]);
    let hints = ResponseHints::read(&headers, at(D + 86_400));
    assert_eq!(ms(hints.retry_hint().map(|h| h.delay())), Some(2_250));
    // Reset-After read first, even when the epoch says longer.
    let mut both = headers.clone();
    both.insert("x-ratelimit-reset-after", HeaderValue::from_static("1.234"));
    let hints = ResponseHints::read(&both, at(D + 86_400));
    assert_eq!(ms(hints.retry_hint().map(|h| h.delay())), Some(1_234));
}

/// Slack, api.slack.com/apis/rate-limits: "a HTTP 429 Too Many Requests
/// error, and a Retry-After HTTP header containing the number of seconds
/// until you can retry"; the body `{"ok": false, "error": "ratelimited"}`.
#[test]
fn slack_ratelimited() {
    let headers = dated(&[("retry-after", "30"), ("content-type", "application/json")]);
    let error = parse_error(
        StatusCode::TOO_MANY_REQUESTS,
        &headers,
        br#"{"ok": false, "error": "ratelimited"}"#,
    );
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(error.code(), Some("ratelimited"));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
    assert!(error.is_retryable());
}

/// GitHub, docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
/// ("Exceeding the rate limit"): a primary limit is a 403 or 429 with
/// `x-ratelimit-remaining: 0`, wait until `x-ratelimit-reset` (UTC epoch
/// seconds); a secondary limit is a 403 or 429 with `retry-after`.
#[test]
fn github_primary_and_secondary_limits_on_403() {
    let primary = dated(&[
        ("x-ratelimit-limit", "60"),
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-used", "60"),
        ("x-ratelimit-reset", "1700000045"),
        ("x-ratelimit-resource", "core"),
    ]);
    let body = br#"{"message": "API rate limit exceeded for 203.0.113.7. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)", "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}"#;
    for status in [StatusCode::FORBIDDEN, StatusCode::TOO_MANY_REQUESTS] {
        let error = parse_error(status, &primary, body);
        assert_eq!(error.kind(), ErrorKind::RateLimited, "{status}");
        assert!(error.is_retryable(), "{status}");
        assert_eq!(
            error.retry_after(),
            Some(Duration::from_secs(45)),
            "{status}"
        );
    }
    let secondary = dated(&[
        ("retry-after", "60"),
        ("x-ratelimit-limit", "5000"),
        ("x-ratelimit-remaining", "4990"),
        ("x-ratelimit-reset", "1700003600"),
    ]);
    let body = br#"{"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID ABCD:1234.", "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}"#;
    for status in [StatusCode::FORBIDDEN, StatusCode::TOO_MANY_REQUESTS] {
        let error = parse_error(status, &secondary, body);
        assert_eq!(error.kind(), ErrorKind::RateLimited, "{status}");
        assert!(error.is_retryable(), "{status}");
        assert_eq!(
            error.retry_after(),
            Some(Duration::from_secs(60)),
            "{status}"
        );
    }
}

/// Infura, "Avoid rate limiting" (docs.infura.io/api/networks/ethereum/how-to/avoid-rate-limiting):
/// a 429 whose JSON-RPC `error.data` holds `see` (a link), `current_rps`,
/// `allowed_rps` and `backoff_seconds`, "the suggested amount of time to
/// wait before sending more requests ... We recommend pausing JSON-RPC
/// activity for the time value in backoff_seconds".
const INFURA_429: &str = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"project ID request rate exceeded","data":{"see":"https://infura.io/docs/ethereum/jsonrpc/ratelimits","current_rps":13.333,"allowed_rps":10.0,"backoff_seconds":30.0}}}"#;

/// Infura's 429 waits its `backoff_seconds`; the link is no field error.
#[test]
fn infura_rate_limit_names_its_backoff_and_no_field() {
    let error = parse_error(
        StatusCode::TOO_MANY_REQUESTS,
        &HeaderMap::new(),
        INFURA_429.as_bytes(),
    );
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert!(error.is_retryable());
    assert_eq!(error.code(), Some("-32005"));
    assert_eq!(error.message(), "project ID request rate exceeded");
    assert!(
        error.field_errors().is_empty(),
        "{:?}",
        error.field_errors()
    );
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
}

/// X (Twitter), docs.x.com/x-api/fundamentals/rate-limits: `x-rate-limit-
/// reset` is "the remaining window before the rate limit resets, in UTC
/// epoch seconds".
#[test]
fn x_twitter_epoch_reset_against_the_server_clock() {
    let headers = dated(&[
        ("x-rate-limit-limit", "900"),
        ("x-rate-limit-remaining", "0"),
        ("x-rate-limit-reset", "1700000090"),
    ]);
    for now in [at(D - 7_200), at(D + 7_200)] {
        let error = parse_error(
            StatusCode::TOO_MANY_REQUESTS,
            &headers,
            br#"{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}"#,
        );
        assert_eq!(error.retry_after(), Some(Duration::from_secs(90)));
        let hints = ResponseHints::read(&headers, now);
        assert_eq!(hints.retry_hint().unwrap().delay(), Duration::from_secs(90));
    }
}

/// Stripe, docs.stripe.com/error-low-level ("Stripe-Should-Retry") and
/// docs.stripe.com/rate-limits (a 429 `lock_timeout`, "retry ... with
/// exponential backoff").
#[test]
fn stripe_should_retry_and_lock_timeout() {
    let no = dated(&[("stripe-should-retry", "false")]);
    let error = parse_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &no,
        br#"{"error": {"message": "An unknown error occurred", "type": "api_error"}}"#,
    );
    assert_eq!(error.server_verdict(), Some(false));
    assert!(!error.is_retryable());
    let yes = dated(&[("stripe-should-retry", "true")]);
    let error = parse_error(
        StatusCode::CONFLICT,
        &yes,
        br#"{"error": {"message": "There is currently another in-progress request using this Stripe-Idempotency-Key.", "type": "idempotency_error"}}"#,
    );
    assert!(error.is_retryable());
    let lock = br#"{"error": {"code": "lock_timeout", "doc_url": "https://stripe.com/docs/error-codes/lock-timeout", "message": "This object cannot be accessed right now because another API request or Stripe process is currently accessing it. If you see this error intermittently, retry the request. If you see this error frequently and are making multiple concurrent requests to a single object, make your requests serially or at a lower rate.", "type": "invalid_request_error"}}"#;
    let error = parse_error(StatusCode::TOO_MANY_REQUESTS, &dated(&[]), lock);
    assert_eq!(error.code(), Some("lock_timeout"));
    assert!(error.is_retryable(), "{error}");
    let rate = br#"{"error": {"code": "rate_limit", "message": "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.", "type": "invalid_request_error"}}"#;
    let error = parse_error(StatusCode::TOO_MANY_REQUESTS, &dated(&[]), rate);
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert!(error.is_retryable(), "{error}");
}

/// Azure: learn.microsoft.com/azure/ai-services/openai/quotas-limits
/// (`retry-after-ms`, `x-ms-retry-after-ms`), and
/// learn.microsoft.com/azure/architecture/best-practices/retry-service-specific
/// (a 503 with `Retry-After`, seconds or an HTTP-date).
#[test]
fn azure_millisecond_and_503_hints() {
    let rows: &[AzureRow] = &[
        (
            &[("x-ms-retry-after-ms", "1500"), ("retry-after", "2")],
            429,
            1_500,
            HintSource::RetryAfterMs,
        ),
        (
            &[("retry-after-ms", "250"), ("retry-after", "1")],
            429,
            250,
            HintSource::RetryAfterMs,
        ),
        (
            &[("retry-after", "10")],
            503,
            10_000,
            HintSource::RetryAfter,
        ),
        (
            &[("retry-after", "Tue, 14 Nov 2023 22:13:35 GMT")],
            503,
            15_000,
            HintSource::RetryAfter,
        ),
    ];
    for (pairs, status, want, source) in rows {
        let headers = dated(pairs);
        let error = parse_error(StatusCode::from_u16(*status).unwrap(), &headers, b"");
        let hint = error.retry_hint().unwrap();
        assert_eq!(
            (hint.delay().as_millis(), hint.source()),
            (*want, *source),
            "{pairs:?}"
        );
        assert!(error.is_retryable(), "{pairs:?}");
    }
}

/// Google, cloud.google.com/apis/design/errors ("Error details",
/// `google.rpc.RetryInfo`, `retryDelay` a protobuf JSON Duration: "seconds
/// with up to nine fractional digits, followed by the suffix s") and
/// protobuf's JSON mapping (Duration: "3s", "3.000000001s").
#[test]
fn google_retry_info_durations() {
    for (delay, want) in [
        ("30s", Duration::from_secs(30)),
        ("43.365s", Duration::from_millis(43_365)),
        ("1.500s", Duration::from_millis(1_500)),
        ("0.5s", Duration::from_millis(500)),
        ("3.000000001s", Duration::new(3, 1)),
    ] {
        let body = format!(
            r#"{{"error": {{"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED", "details": [{{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{{"subject": "project:123", "description": "per minute"}}]}}, {{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "{delay}"}}]}}}}"#
        );
        let error = parse_error(StatusCode::TOO_MANY_REQUESTS, &dated(&[]), body.as_bytes());
        assert_eq!(error.retry_after(), Some(want), "{delay}");
        assert_eq!(error.kind(), ErrorKind::RateLimited);
    }
}

/// Cloudflare API, developers.cloudflare.com/fundamentals/api/reference/limits:
/// `Ratelimit: "default";r=50;t=30`, `Ratelimit-Policy:
/// "burst";q=1200;w=300` style fields; a 429 with `retry-after`.
#[test]
fn cloudflare_api_fields() {
    let headers = dated(&[
        ("ratelimit", "\"default\";r=0;t=30"),
        ("ratelimit-policy", "\"default\";q=1200;w=300"),
    ]);
    let error = parse_error(StatusCode::TOO_MANY_REQUESTS, &headers, br#"{"success": false, "errors": [{"code": 971, "message": "Please wait and consider throttling your request speed"}], "messages": [], "result": null}"#);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(error.policies()[0].window(), Some(Duration::from_secs(300)));
    assert_eq!(error.kind(), ErrorKind::RateLimited);
}

/// Zendesk, developer.zendesk.com/api-reference/introduction/rate-limits:
/// `X-Rate-Limit: 700`, `X-Rate-Limit-Remaining`, and a 429 with
/// `Retry-After` in seconds. HubSpot,
/// developers.hubspot.com/docs/guides/apps/api-usage/usage-details: a 429
/// body names its `policyName` (`SECONDLY` is retried, `DAILY` is not).
#[test]
fn zendesk_and_hubspot_429s() {
    let headers = dated(&[
        ("x-rate-limit", "700"),
        ("x-rate-limit-remaining", "0"),
        ("retry-after", "93"),
    ]);
    let error = parse_error(
        StatusCode::TOO_MANY_REQUESTS,
        &headers,
        b"Too Many Requests",
    );
    assert_eq!(error.retry_after(), Some(Duration::from_secs(93)));
    let window = error.rate_limit().unwrap();
    assert_eq!((window.limit(), window.remaining()), (Some(700), Some(0)));

    let hubspot = dated(&[
        ("x-hubspot-ratelimit-interval-milliseconds", "10000"),
        ("x-hubspot-ratelimit-max", "100"),
        ("x-hubspot-ratelimit-remaining", "0"),
        ("x-hubspot-ratelimit-secondly", "10"),
        ("x-hubspot-ratelimit-secondly-remaining", "0"),
    ]);
    let secondly = br#"{"status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT", "correlationId": "c033cdaa-2c40-4a64-ae48-b4cec88dad24", "policyName": "SECONDLY", "requestId": "3d3e35b7-0dae-4b9f-a6e3-9c230cbcf8dd"}"#;
    let error = parse_error(StatusCode::TOO_MANY_REQUESTS, &hubspot, secondly);
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert!(error.is_retryable(), "{error}");
    let daily = br#"{"status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT", "correlationId": "c033cdaa-2c40-4a64-ae48-b4cec88dad24", "policyName": "DAILY", "requestId": "3d3e35b7-0dae-4b9f-a6e3-9c230cbcf8dd"}"#;
    let error = parse_error(StatusCode::TOO_MANY_REQUESTS, &hubspot, daily);
    assert!(!error.is_retryable(), "{error}");
}

// ---------------------------------------------------------------------------
// Clock skew.
// ---------------------------------------------------------------------------

/// RFC 9110 §10.2.3: a `Retry-After` HTTP-date is read against the
/// response's `Date` (the hints' docs, "Clock skew"), in every HTTP-date
/// form of §5.6.7, whatever the local clock; a cached response's `Age`
/// moves the server's clock on (`Date + Age`, RFC 9111 §4.2.3).
#[test]
fn retry_after_dates_read_against_date_whatever_the_local_clock() {
    for now in [at(D - 86_400 * 30), at(D), at(D + 86_400 * 30)] {
        for value in [
            "Tue, 14 Nov 2023 22:13:50 GMT",
            "Tuesday, 14-Nov-23 22:13:50 GMT",
            "Tue Nov 14 22:13:50 2023",
        ] {
            let headers = dated(&[("retry-after", value)]);
            let hints = ResponseHints::read(&headers, now);
            assert_eq!(
                hints.retry_hint().map(|h| h.delay()),
                Some(Duration::from_secs(30)),
                "{value} at {now:?}"
            );
        }
    }
    // A date before the server's Date: no wait left.
    let headers = dated(&[("retry-after", "Tue, 14 Nov 2023 22:13:00 GMT")]);
    assert_eq!(
        ResponseHints::read(&headers, at(D - 3_600))
            .retry_hint()
            .map(|h| h.delay()),
        Some(Duration::ZERO)
    );
    // With `Age`, the server's clock reads `Date + Age` (22:13:25),
    // whatever the local clock. (Before, the local clock: 20 s.)
    let headers = dated(&[
        ("retry-after", "Tue, 14 Nov 2023 22:13:50 GMT"),
        ("age", "5"),
    ]);
    assert_eq!(
        ResponseHints::read(&headers, at(D + 10))
            .retry_hint()
            .map(|h| h.delay()),
        Some(Duration::from_secs(25))
    );
}

// ---------------------------------------------------------------------------
// Bounds and the epoch / delta heuristic.
// ---------------------------------------------------------------------------

/// The hints' docs: absurd values saturate at `MAX_HINT` (never a wait of
/// centuries, never a panic), and the retry layer refuses any hint longer
/// than `max_retry_after` ("a longer one fails fast with the hint").
#[test]
fn absurd_values_saturate_at_max_hint() {
    let now = at(D);
    let rows: &[&[(&str, &str)]] = &[
        &[("retry-after", "18446744073709551616")],
        &[("retry-after", "99999999999999999999999999.5")],
        &[("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT")],
        &[("retry-after-ms", "18446744073709551615")],
        &[("x-ms-retry-after-ms", "1e400")],
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "999999999"),
        ],
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset-after", "99999999999.999"),
        ],
        &[
            ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-tokens", "2562047h47m16.854775807s"),
        ],
        &[
            ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-tokens", "99999999999999999999h"),
        ],
        &[
            ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-reset", "9999-12-31T23:59:59Z"),
        ],
        &[
            ("x-rate-limit-remaining", "0"),
            ("x-rate-limit-reset", "99999999999"),
        ],
    ];
    for pairs in rows {
        let headers = dated(pairs);
        let hints = ResponseHints::read(&headers, now);
        if let Some(hint) = hints.retry_hint() {
            assert!(hint.delay() <= MAX_HINT, "{pairs:?}: {hint}");
            assert!(
                hint.delay() >= Duration::from_secs(86_400),
                "{pairs:?}: {hint}"
            );
        }
        let error = parse_error(StatusCode::TOO_MANY_REQUESTS, &headers, b"");
        if let Some(wait) = error.retry_after() {
            assert!(wait <= MAX_HINT, "{pairs:?}: {wait:?}");
        }
    }
    for body in [
        r#"{"retry_after": 1e300}"#,
        r#"{"error": {"retry_after_ms": 1.7976931348623157e308}}"#,
        r#"{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "315576000000.999999999s"}]}}"#,
    ] {
        let error = parse_error(StatusCode::TOO_MANY_REQUESTS, &dated(&[]), body.as_bytes());
        assert_eq!(error.retry_after(), Some(MAX_HINT), "{body}");
    }
}

/// The documented heuristic (`RateLimitInfo` docs): below 10^9 a reset is
/// delta seconds, from 10^9 Unix seconds, from 10^12 Unix milliseconds.
#[test]
fn ambiguous_resets_follow_the_documented_heuristic() {
    let now = at(D + 86_400);
    for (reset, want) in [
        ("60", Some(60_000u128)),
        ("86400", Some(86_400_000)),
        ("1700000060", Some(60_000)),
        ("1700000060.5", Some(60_500)),
        ("1700000060000", Some(60_000)),
        ("1000000000", Some(0)),
        ("1699999000", Some(0)),
    ] {
        let headers = dated(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", reset)]);
        let hints = ResponseHints::read(&headers, now);
        assert_eq!(
            ms(hints.rate_limit().and_then(|w| w.reset())),
            want,
            "{reset}"
        );
    }
}

// ---------------------------------------------------------------------------
// The waits actually taken.
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn retry_layer_waits_each_vendor_hint_exactly() {
    let rows: Vec<(&str, u16, Pairs, &str, Duration)> = vec![
        // Shopify: Retry-After 2.0.
        (
            "shopify",
            429,
            vec![
                ("x-shopify-shop-api-call-limit", "40/40"),
                ("retry-after", "2.0"),
            ],
            r#"{"errors":"Exceeded 2 calls per second for api client."}"#,
            Duration::from_secs(2),
        ),
        // Discord: body only.
        (
            "discord body",
            429,
            vec![("content-type", "application/json")],
            r#"{"message": "You are being rate limited.", "retry_after": 64.57, "global": false}"#,
            Duration::from_millis(64_570),
        ),
        // Discord: Reset-After on an exhausted bucket.
        (
            "discord headers",
            429,
            vec![
                ("x-ratelimit-limit", "5"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1700000001.234"),
                ("x-ratelimit-reset-after", "1.234"),
                ("x-ratelimit-bucket", "abcd1234"),
            ],
            "",
            Duration::from_millis(1_234),
        ),
        // OpenAI: the tokens' reset.
        (
            "openai",
            429,
            vec![
                ("x-ratelimit-remaining-requests", "59"),
                ("x-ratelimit-remaining-tokens", "0"),
                ("x-ratelimit-reset-requests", "1s"),
                ("x-ratelimit-reset-tokens", "20ms"),
            ],
            r#"{"error": {"message": "Rate limit reached for requests", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}"#,
            Duration::from_millis(20),
        ),
        // Anthropic: the RFC 3339 reset, against Date.
        (
            "anthropic",
            429,
            vec![
                ("anthropic-ratelimit-requests-limit", "50"),
                ("anthropic-ratelimit-requests-remaining", "0"),
                ("anthropic-ratelimit-requests-reset", "2023-11-14T22:13:27Z"),
            ],
            r#"{"type": "error", "error": {"type": "rate_limit_error", "message": "rate limited"}}"#,
            Duration::from_secs(7),
        ),
        // GitHub secondary limit on a 403.
        (
            "github 403",
            403,
            vec![("retry-after", "60"), ("x-ratelimit-remaining", "4990")],
            r#"{"message": "You have exceeded a secondary rate limit."}"#,
            Duration::from_secs(60),
        ),
        // GitHub primary limit on a 403: the epoch reset, against Date.
        (
            "github primary",
            403,
            vec![
                ("x-ratelimit-limit", "60"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1700000045"),
            ],
            r#"{"message": "API rate limit exceeded for 203.0.113.7."}"#,
            Duration::from_secs(45),
        ),
        // Twitter epoch, against Date.
        (
            "x",
            429,
            vec![
                ("x-rate-limit-limit", "900"),
                ("x-rate-limit-remaining", "0"),
                ("x-rate-limit-reset", "1700000011"),
            ],
            "",
            Duration::from_secs(11),
        ),
        // Slack.
        (
            "slack",
            429,
            vec![("retry-after", "30")],
            r#"{"ok": false, "error": "ratelimited"}"#,
            Duration::from_secs(30),
        ),
        // Azure.
        (
            "azure ms",
            429,
            vec![("x-ms-retry-after-ms", "1500"), ("retry-after", "2")],
            "",
            Duration::from_millis(1_500),
        ),
        (
            "azure 503 date",
            503,
            vec![("retry-after", "Tue, 14 Nov 2023 22:13:35 GMT")],
            "",
            Duration::from_secs(15),
        ),
        // Google RetryInfo.
        (
            "google",
            429,
            vec![("content-type", "application/json")],
            r#"{"error": {"code": 429, "message": "Quota exceeded.", "status": "RESOURCE_EXHAUSTED", "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "43.365s"}]}}"#,
            Duration::from_millis(43_365),
        ),
        // Cloudflare.
        (
            "cloudflare",
            429,
            vec![
                ("ratelimit", "\"default\";r=0;t=30"),
                ("ratelimit-policy", "\"default\";q=1200;w=300"),
            ],
            "",
            Duration::from_secs(30),
        ),
        // Zendesk.
        (
            "zendesk",
            429,
            vec![
                ("x-rate-limit", "700"),
                ("x-rate-limit-remaining", "0"),
                ("retry-after", "93"),
            ],
            "",
            Duration::from_secs(93),
        ),
        // Infura's JSON-RPC 429: `error.data.backoff_seconds`.
        (
            "infura",
            429,
            vec![("content-type", "application/json")],
            INFURA_429,
            Duration::from_secs(30),
        ),
        // Stripe lock_timeout: no hint, the backoff's first step.
        (
            "stripe lock",
            429,
            vec![],
            r#"{"error": {"code": "lock_timeout", "message": "This object cannot be accessed right now because another API request or Stripe process is currently accessing it.", "type": "invalid_request_error"}}"#,
            Duration::from_millis(500),
        ),
    ];
    for (vendor, status, mut headers, body, want) in rows {
        headers.insert(0, ("date", DATE));
        let (waits, result) = retried("GET", None, reply(status, &headers, body)).await;
        assert!(result.is_ok(), "{vendor}: {result:?}");
        assert_eq!(waits, [want], "{vendor}");
    }
}

/// GitHub GraphQL's limits come under 200 (docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api,
/// "Exceeding the rate limit"): the primary with `x-ratelimit-remaining: 0`
/// ("You should not retry your request until after the time specified by
/// the x-ratelimit-reset header"), the secondary with `retry-after`. Over
/// the success peek, the retry waits that hint, not the 500 ms backoff
/// ("Continuing to make requests while you are rate limited may result in
/// the banning of your integration", same page).
#[tokio::test(start_paused = true)]
async fn github_graphql_limits_under_200_wait_their_hint() {
    const PRIMARY: &[(&str, &str)] = &[
        ("content-type", "application/json; charset=utf-8"),
        ("date", DATE),
        ("x-ratelimit-limit", "5000"),
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "1700000030"),
        ("x-ratelimit-resource", "graphql"),
    ];
    const SECONDARY: &[(&str, &str)] = &[
        ("content-type", "application/json; charset=utf-8"),
        ("date", DATE),
        ("retry-after", "60"),
        ("x-ratelimit-remaining", "4990"),
    ];
    let rows = [
        (
            PRIMARY,
            r#"{"errors":[{"type":"RATE_LIMITED","message":"API rate limit exceeded for user ID 1234."}]}"#,
            30,
        ),
        (
            SECONDARY,
            r#"{"errors":[{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}]}"#,
            60,
        ),
    ];
    for (headers, body, wait) in rows {
        let upstream = Scripted::new();
        let client = RetryLayer::new(exact().retry_non_idempotent(true)).layer(
            SuccessPeekLayer::new().layer(ErrorBodyParseLayer::new().layer(
                upstream.service::<ReplayBody<Full<Bytes>>>(move |n| match n {
                    0 => reply(200, headers, body),
                    _ => reply(
                        200,
                        &[("content-type", "application/json")],
                        r#"{"data":{"viewer":{"login":"octocat"}}}"#,
                    ),
                }),
            )),
        );
        let request = Request::post("/graphql")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        let response = client.oneshot(request).await;
        assert!(response.is_ok(), "{:?}", response.err());
        assert_eq!(upstream.waits(), [Duration::from_secs(wait)], "{body}");
    }
}

/// Stripe-Should-Retry: `true` lets a keyed POST's 409 be sent again,
/// `false` stops a GET's 500.
#[tokio::test(start_paused = true)]
async fn stripe_should_retry_decides_in_the_retry_layer() {
    let (waits, result) = retried(
        "POST",
        Some("idem-1"),
        reply(409, &[("stripe-should-retry", "true")], r#"{"error": {"message": "There is currently another in-progress request using this Stripe-Idempotency-Key.", "type": "idempotency_error"}}"#),
    )
    .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(waits.len(), 1);
    let (waits, result) = retried(
        "GET",
        None,
        reply(
            500,
            &[("stripe-should-retry", "false")],
            r#"{"error": {"message": "An unknown error occurred", "type": "api_error"}}"#,
        ),
    )
    .await;
    assert!(waits.is_empty());
    assert_eq!(
        result.unwrap_err().retries().stopped(),
        Some(StopReason::NotRetryable)
    );
}

/// Hints past `max_retry_after` (120 s) fail fast with the hint on the
/// error, never slept on: a Twitter 15-minute window, a saturated
/// reset, an absurd body `retry_after`.
#[tokio::test(start_paused = true)]
async fn long_and_absurd_hints_fail_fast() {
    let rows: Vec<(Pairs, &str, Duration)> = vec![
        (
            vec![
                ("x-rate-limit-limit", "900"),
                ("x-rate-limit-remaining", "0"),
                ("x-rate-limit-reset", "1700000900"),
            ],
            "",
            Duration::from_secs(900),
        ),
        (
            vec![
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "999999999"),
            ],
            "",
            MAX_HINT,
        ),
        (
            vec![],
            r#"{"message": "You are being rate limited.", "retry_after": 1e300, "global": true}"#,
            MAX_HINT,
        ),
        (vec![("retry-after", "99999999999999999999")], "", MAX_HINT),
        (
            vec![
                ("x-ratelimit-remaining-tokens", "0"),
                ("x-ratelimit-reset-tokens", "6m0s"),
            ],
            "",
            Duration::from_secs(360),
        ),
    ];
    for (mut headers, body, want) in rows {
        headers.insert(0, ("date", DATE));
        let started = Instant::now();
        let (waits, result) = retried("GET", None, reply(429, &headers, body)).await;
        assert!(waits.is_empty(), "{headers:?}");
        assert_eq!(started.elapsed(), Duration::ZERO, "{headers:?}");
        let error = result.unwrap_err();
        assert_eq!(
            error.retries().stopped(),
            Some(StopReason::HintTooLong),
            "{headers:?}"
        );
        assert_eq!(error.retry_after(), Some(want), "{headers:?}");
    }
}

// ---------------------------------------------------------------------------
// The quota layer: windows learned from vendors' forms, against Date.
// ---------------------------------------------------------------------------

/// The quota holds the second request until the window the first answer
/// announced resets, read against the answer's `Date` (the local clock is
/// years away from it here).
#[tokio::test(start_paused = true)]
async fn quota_holds_until_each_vendors_reset_by_the_server_clock() {
    let rows: Vec<(&str, Pairs, Duration)> = vec![
        (
            "github epoch",
            vec![
                ("x-ratelimit-limit", "60"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1700000005"),
            ],
            Duration::from_secs(5),
        ),
        (
            "x epoch",
            vec![
                ("x-rate-limit-limit", "900"),
                ("x-rate-limit-remaining", "0"),
                ("x-rate-limit-reset", "1700000007"),
            ],
            Duration::from_secs(7),
        ),
        (
            "anthropic rfc3339",
            vec![
                ("anthropic-ratelimit-requests-limit", "50"),
                ("anthropic-ratelimit-requests-remaining", "0"),
                ("anthropic-ratelimit-requests-reset", "2023-11-14T22:13:26Z"),
            ],
            Duration::from_secs(6),
        ),
        (
            "discord reset-after",
            vec![
                ("x-ratelimit-limit", "5"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset-after", "2.5"),
                ("x-ratelimit-reset", "1700000002.5"),
            ],
            Duration::from_millis(2_500),
        ),
        (
            "openai duration",
            vec![
                ("x-ratelimit-limit-requests", "60"),
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "3s"),
            ],
            Duration::from_secs(3),
        ),
    ];
    for (vendor, headers, want) in rows {
        let mut headers = headers;
        headers.insert(0, ("date", DATE));
        let upstream = Scripted::default();
        let answer = reply(200, &headers, "{}");
        let (parts, _) = answer.into_parts();
        let client = QuotaLayer::new().layer(upstream.service::<Full<Bytes>>(move |_| {
            let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
            *response.headers_mut() = parts.headers.clone();
            response
        }));
        client.clone().oneshot(request("GET", None)).await.unwrap();
        let started = Instant::now();
        client.clone().oneshot(request("GET", None)).await.unwrap();
        let held = started.elapsed();
        assert!(
            held >= want && held <= want + Duration::from_millis(1_100),
            "{vendor}: held {held:?}, want {want:?}"
        );
        assert_eq!(upstream.count(), 2, "{vendor}");
    }
}

/// A 429 whose `Retry-After` is an HTTP-date holds the scope until that
/// date by the server's clock; a Discord-style body `retry_after` (over
/// the parse layer) holds it too.
#[tokio::test(start_paused = true)]
async fn quota_cooldowns_from_dates_and_bodies() {
    for (headers, body, want) in [
        (
            vec![
                ("date", DATE),
                ("retry-after", "Tue, 14 Nov 2023 22:13:29 GMT"),
            ],
            "",
            Duration::from_secs(9),
        ),
        (
            vec![("date", DATE), ("content-type", "application/json")],
            r#"{"message": "You are being rate limited.", "retry_after": 6.5, "global": true}"#,
            Duration::from_millis(6_500),
        ),
    ] {
        let upstream = Scripted::default();
        let headers2 = headers.clone();
        let client = QuotaLayer::new().layer(ErrorBodyParseLayer::new().layer(
            upstream.service::<Full<Bytes>>(move |n| {
                if n == 0 {
                    reply(429, &headers2, body)
                } else {
                    reply(200, &[("date", DATE)], "{}")
                }
            }),
        ));
        let first = client.clone().oneshot(request("GET", None)).await;
        assert!(first.is_err());
        let started = Instant::now();
        client.clone().oneshot(request("GET", None)).await.unwrap();
        let held = started.elapsed();
        assert!(
            held >= want && held <= want + Duration::from_millis(1_100),
            "{headers:?} {body}: held {held:?}, want {want:?}"
        );
    }
}

/// A reset the quota cannot wait for (a saturated one, a Twitter 15-minute
/// window) is refused at once with when to come back, never slept on and
/// never sent.
#[tokio::test(start_paused = true)]
async fn quota_refuses_long_and_absurd_resets_at_once() {
    for (pairs, want) in [
        (
            vec![
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "999999999"),
            ],
            MAX_HINT,
        ),
        (
            vec![
                ("x-rate-limit-limit", "900"),
                ("x-rate-limit-remaining", "0"),
                ("x-rate-limit-reset", "1700000900"),
            ],
            Duration::from_secs(900),
        ),
        (
            vec![
                ("anthropic-ratelimit-tokens-limit", "1000"),
                ("anthropic-ratelimit-tokens-remaining", "0"),
                ("anthropic-ratelimit-tokens-reset", "9999-12-31T23:59:59Z"),
            ],
            MAX_HINT,
        ),
    ] {
        let mut pairs = pairs;
        pairs.insert(0, ("date", DATE));
        let upstream = Scripted::default();
        let client = QuotaLayer::new().layer(upstream.service::<Full<Bytes>>({
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            move |_| {
                let borrowed: Vec<(&str, &str)> = pairs
                    .iter()
                    .map(|(a, b)| (a.as_str(), b.as_str()))
                    .collect();
                reply(200, &borrowed, "{}")
            }
        }));
        client.clone().oneshot(request("GET", None)).await.unwrap();
        let started = Instant::now();
        let refused = client.clone().oneshot(request("GET", None)).await;
        assert_eq!(started.elapsed(), Duration::ZERO, "{pairs:?}");
        let Err(Error::RateLimited(refused)) = refused else {
            panic!("{pairs:?}: {refused:?}")
        };
        assert!(refused.retry_after() <= MAX_HINT, "{pairs:?}");
        assert!(
            refused.retry_after() + Duration::from_secs(2) >= want,
            "{pairs:?}: {:?}",
            refused.retry_after()
        );
        assert_eq!(upstream.count(), 1, "{pairs:?}");
    }
}

/// GitHub, docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api:
/// a 403 with `retry-after: 10` while `x-ratelimit-remaining` is 0 and the
/// window resets in 90 s. The retry layer waits the `Retry-After` (the
/// explicit hint wins, as octokit's throttling and the vendors' own SDKs
/// do); through the whole stack, the quota layer learned the spent window
/// from the same answer and holds that retry until the reset.
#[tokio::test(start_paused = true)]
async fn github_spent_window_behind_a_short_retry_after_is_held_by_the_quota() {
    let headers = [
        ("date", DATE),
        ("retry-after", "10"),
        ("x-ratelimit-limit", "5000"),
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "1700000090"),
    ];
    let upstream = Scripted::default();
    let client = tower_api_errors::ApiErrorsLayer::new()
        .retry(exact())
        .quota(QuotaLayer::new())
        .layer(upstream.service::<ReplayBody<Full<Bytes>>>(move |n| {
            if n == 0 {
                reply(
                    403,
                    &headers,
                    r#"{"message": "You have exceeded a secondary rate limit."}"#,
                )
            } else {
                reply(200, &[("date", DATE)], "{}")
            }
        }));
    client.oneshot(request("GET", None)).await.unwrap();
    let waits = upstream.waits();
    assert_eq!(waits.len(), 1);
    assert!(waits[0] >= Duration::from_secs(90), "{waits:?}");
}

// ---------------------------------------------------------------------------
// Hint values outside the grammars, and what the quota layer does with
// each hint source (IETF drafts, 503, past dates, reset 0, gRPC pushback),
// alone and inside `ApiErrorsLayer`.
// ---------------------------------------------------------------------------

/// RFC 9110 §10.2.3 (`delay-seconds = 1*DIGIT`) and §5.6.7, hints module
/// docs ("every parser here is total"): values outside the grammar are
/// ignored, a date that is no date too, one in the past is zero.
#[test]
fn retry_after_values_outside_the_grammar_are_ignored() {
    let rfc = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
    let now = at(rfc);
    let rows: &[(&str, Option<Duration>)] = &[
        ("007", Some(Duration::from_secs(7))),
        ("18446744073709551616", Some(MAX_HINT)),
        ("-0", None),
        ("0x10", None),
        ("5.", None),
        (".5", None),
        ("5s", None),
        ("NaN", None),
        ("inf", None),
        ("Thu, 01 Jan 1970 00:00:00 GMT", Some(Duration::ZERO)),
        ("Sun, 31 Feb 1994 08:49:37 GMT", None),
        ("Sun, 06 Nov 1994", None),
    ];
    for (value, expected) in rows {
        let got = parse_retry_after(&HeaderValue::from_str(value).unwrap(), now);
        assert_eq!(got, *expected, "{value:?}");
    }
}

/// Hints module docs ("every parser here is total"): negative counts are
/// ignored, counts past `u64` saturate, and counts are kept as the server
/// sent them (a remaining above the limit is not clamped).
#[test]
fn hostile_counts_are_kept_ignored_or_saturated() {
    let now = at(D);
    let info = |pairs: &[(&str, &str)]| RateLimitInfo::from_headers(&map(pairs), now).unwrap();
    let got = info(&[
        ("x-ratelimit-limit", "10"),
        ("x-ratelimit-remaining", "100"),
    ]);
    assert_eq!((got.limit(), got.remaining()), (Some(10), Some(100)));
    let got = info(&[
        ("x-ratelimit-limit", "-10"),
        ("x-ratelimit-remaining", "-1"),
        ("x-ratelimit-reset", "5"),
    ]);
    assert_eq!((got.limit(), got.remaining()), (None, None));
    assert_eq!(got.reset(), Some(Duration::from_secs(5)));
    let got = info(&[
        ("x-ratelimit-remaining", "99999999999999999999999"),
        ("x-ratelimit-reset", "99999999999999999999999"),
    ]);
    assert_eq!(
        (got.remaining(), got.reset()),
        (Some(u64::MAX), Some(MAX_HINT))
    );
}

/// draft-ietf-httpapi-ratelimit-headers-09 and RFC 9651 §2.3.1 (unknown
/// parameters are ignored): they change nothing in the policies read.
#[test]
fn ietf_structured_fields_ignore_unknown_parameters() {
    let headers = map(&[
        (
            "ratelimit-policy",
            r#""burst";q=100;w=60;foo=bar, "daily";q=1000;w=86400;qu="requests""#,
        ),
        (
            "ratelimit",
            r#""burst";r=0;t=30;x="y", "daily";r=900;t=40000"#,
        ),
    ]);
    let hints = ResponseHints::read(&headers, at(D));
    let policies = hints.policies();
    assert_eq!(policies.len(), 2, "{policies:?}");
    assert_eq!(policies[0].name(), Some("burst"));
    assert_eq!(
        (policies[0].limit(), policies[0].remaining()),
        (Some(100), Some(0))
    );
    assert_eq!(policies[0].reset(), Some(Duration::from_secs(30)));
    assert_eq!(policies[0].window(), Some(Duration::from_secs(60)));
    assert_eq!(policies[1].limit(), Some(1000));
    assert_eq!(hints.rate_limit().unwrap().remaining(), Some(0));
    assert_eq!(
        hints.retry_hint().map(|h| h.delay()),
        Some(Duration::from_secs(30))
    );
}

/// An upstream answering `first` once, then 200s with no headers.
fn first_then_ok<B: Send + 'static>(
    upstream: &Scripted,
    status: u16,
    first: &[(&str, &str)],
) -> impl tower::Service<
    Request<B>,
    Response = Response<Full<Bytes>>,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
       + Send {
    let first: Vec<(String, String)> = first
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    upstream.service::<B>(move |n| {
        if n == 0 {
            let pairs: Vec<(&str, &str)> = first
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            reply(status, &pairs, "{}")
        } else {
            reply(200, &[], "{}")
        }
    })
}

/// Hints module docs, "Header families" (the IETF rows; "teaches the
/// quota: yes"): every draft form teaches a spent window held to its reset.
#[tokio::test(start_paused = true)]
async fn quota_holds_a_spent_window_in_every_ietf_draft_form() {
    let forms: [&[(&str, &str)]; 4] = [
        &[
            ("ratelimit-policy", r#""default";q=10;w=60"#),
            ("ratelimit", r#""default";r=0;t=7"#),
        ],
        &[
            ("ratelimit", "limit=10, remaining=0, reset=7"),
            ("ratelimit-policy", "10;w=60"),
        ],
        &[
            ("ratelimit-limit", "10"),
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "7"),
            ("ratelimit-policy", "10;w=60, 1000;w=3600"),
        ],
        &[
            ("ratelimit-limit", "10, 10;w=60"),
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "7"),
        ],
    ];
    for pairs in forms {
        let upstream = Scripted::default();
        let client = QuotaLayer::new().layer(first_then_ok::<Full<Bytes>>(&upstream, 200, pairs));
        let waited = held_after(&client, "http://api.example/a", "http://api.example/b").await;
        assert_eq!(waited, Duration::from_secs(7), "{pairs:?}");
    }
}

/// Quota module docs, "Learning": a 429 or 503 with `Retry-After` holds the
/// scope that long; a `Retry-After` on a success holds nothing.
#[tokio::test(start_paused = true)]
async fn quota_holds_a_503s_retry_after_and_ignores_a_200s() {
    for (status, held) in [(503u16, Duration::from_secs(2)), (200, Duration::ZERO)] {
        let upstream = Scripted::default();
        let client = QuotaLayer::new().layer(first_then_ok::<Full<Bytes>>(
            &upstream,
            status,
            &[("retry-after", "2")],
        ));
        let waited = held_after(&client, "http://api.example/a", "http://api.example/b").await;
        assert_eq!(waited, held, "{status}");
    }
}

/// Hints module docs (a date in the past means zero) and quota/learn.rs (a
/// zero wait holds as a bare 429 does, 1 s): no longer than that second.
#[tokio::test(start_paused = true)]
async fn quota_a_429_with_a_past_date_cools_down_a_second_at_most() {
    let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(3600));
    let upstream = Scripted::default();
    let client = QuotaLayer::new().layer(first_then_ok::<Full<Bytes>>(
        &upstream,
        429,
        &[("retry-after", &past)],
    ));
    let waited = held_after(&client, "http://api.example/a", "http://api.example/b").await;
    assert!(waited <= Duration::from_secs(1), "{waited:?}");
    assert_eq!(upstream.count(), 2);
}

/// Quota module docs, "Learning": "a reset of 0 ends the window within the
/// second, not now".
#[tokio::test(start_paused = true)]
async fn quota_a_spent_window_with_reset_zero_holds_within_the_second() {
    let upstream = Scripted::default();
    let client = QuotaLayer::new().layer(first_then_ok::<Full<Bytes>>(
        &upstream,
        200,
        &[
            ("x-ratelimit-limit", "10"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "0"),
        ],
    ));
    let waited = held_after(&client, "http://api.example/a", "http://api.example/b").await;
    assert!(
        waited > Duration::ZERO && waited <= Duration::from_secs(1),
        "{waited:?}"
    );
}

/// Quota module docs, "Learning" (gRFC A6): a trailers-only
/// `RESOURCE_EXHAUSTED` with `grpc-retry-pushback-ms` holds the scope.
#[cfg(feature = "grpc")]
#[tokio::test(start_paused = true)]
async fn quota_holds_a_grpc_pushback() {
    let upstream = Scripted::default();
    let client = QuotaLayer::new().layer(upstream.service::<Full<Bytes>>(|n| {
        let status = if n == 0 { "8" } else { "0" };
        let mut pairs = vec![
            ("content-type", "application/grpc"),
            ("grpc-status", status),
        ];
        if n == 0 {
            pairs.push(("grpc-retry-pushback-ms", "2500"));
        }
        reply(200, &pairs, "")
    }));
    let waited = held_after(
        &client,
        "http://grpc.example/svc/M",
        "http://grpc.example/svc/M",
    )
    .await;
    assert_eq!(waited, Duration::from_millis(2500));
}

/// Quota module docs, "Stack order, and why" (a retry waits for the quota
/// like any request): a 429's `Retry-After: 3` is waited 3 s, not 3 + 3.
#[tokio::test(start_paused = true)]
async fn in_the_stack_a_429s_retry_after_is_waited_once() {
    let upstream = Scripted::default();
    let client = tower_api_errors::ApiErrorsLayer::new()
        .quota(QuotaLayer::new())
        .layer(first_then_ok::<ReplayBody<Full<Bytes>>>(
            &upstream,
            429,
            &[("retry-after", "3")],
        ));
    let started = Instant::now();
    let response = client.oneshot(get("http://api.example/a")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(upstream.waits(), [Duration::from_secs(3)]);
}

/// Quota module docs, "Learning" (over a parse layer, from the typed
/// `ApiError`): in the stack as alone, a 429 holds the next call.
#[tokio::test(start_paused = true)]
async fn the_stack_and_the_quota_alone_hold_a_scope_alike_after_a_429() {
    let pairs = [("retry-after", "4")];
    // Alone.
    let upstream = Scripted::default();
    let alone = QuotaLayer::new().layer(first_then_ok::<Full<Bytes>>(&upstream, 429, &pairs));
    let started = Instant::now();
    let first = send(&alone, "http://api.example/a").await;
    assert_eq!(first.status(), 429);
    send(&alone, "http://api.example/b").await;
    assert_eq!(started.elapsed(), Duration::from_secs(4), "alone");
    // In the stack, retries off: the first call fails, the next is held.
    let upstream = Scripted::default();
    let stack = tower_api_errors::ApiErrorsLayer::new()
        .retry(tower_api_errors::RetryPolicy::default().max_attempts(1))
        .quota(QuotaLayer::new())
        .layer(first_then_ok::<ReplayBody<Full<Bytes>>>(
            &upstream, 429, &pairs,
        ));
    let started = Instant::now();
    let first = stack.clone().oneshot(get("http://api.example/a")).await;
    assert!(matches!(first, Err(Error::Api(_))), "{first:?}");
    send(&stack, "http://api.example/b").await;
    assert_eq!(started.elapsed(), Duration::from_secs(4), "in the stack");
}

/// A 429 naming only its window's reset (no `remaining`, no
/// `Retry-After`): src/hints/mod.rs, "For a 429 the classifier also waits
/// for a known reset whose `remaining` is absent"; src/quota/learn.rs, a
/// 429 "still holds its scope". The quota layer held nothing (not even a
/// bare 429's second): its other callers went straight into the spent
/// window. Now the reset holds the scope, read from the headers (layer
/// alone) and from the typed failure (over the parse layer).
#[tokio::test(start_paused = true)]
async fn quota_a_429_naming_only_its_reset_holds_the_scope() {
    let rows: [&[(&str, &str)]; 3] = [
        &[("x-ratelimit-reset", "30")],
        &[("x-ratelimit-limit", "60"), ("x-ratelimit-reset", "30")],
        &[("ratelimit", r#""default";t=30"#)],
    ];
    for (pairs, typed) in rows.into_iter().flat_map(|p| [(p, false), (p, true)]) {
        let hint = ResponseHints::read(&map(pairs), SystemTime::now()).retry_hint_when_limited();
        assert_eq!(
            hint.map(|h| h.delay()),
            Some(Duration::from_secs(30)),
            "{pairs:?}"
        );
        let upstream = Scripted::default();
        let answers = move |n| reply(if n == 0 { 429 } else { 200 }, pairs, "{}");
        let service = upstream.service::<Full<Bytes>>(answers);
        let client = tower::util::BoxCloneService::new(match typed {
            true => QuotaLayer::new()
                .layer(ErrorBodyParseLayer::new().layer(service))
                .boxed_clone(),
            false => QuotaLayer::new()
                .layer(service)
                .map_err(Error::from)
                .boxed_clone(),
        });
        let first = client.clone().oneshot(request("GET", None)).await;
        assert!(first.map_or(true, |r| r.status() == 429), "{pairs:?}");
        client.clone().oneshot(request("GET", None)).await.unwrap();
        let held = upstream.waits()[0];
        assert!(
            held >= Duration::from_secs(30),
            "{pairs:?} typed {typed}: sent again after {held:?}"
        );
    }
}

/// The same 429 through `ApiErrorsLayer`: while the first caller's retry
/// waits out the reset, a second caller is not sent into the spent window
/// (it was: every caller of the scope drew a 429 of its own).
#[tokio::test(start_paused = true)]
async fn stack_a_429_naming_only_its_reset_holds_other_callers() {
    let (upstream, started) = (Scripted::default(), Instant::now());
    let client = tower_api_errors::ApiErrorsLayer::new()
        .retry(exact())
        .quota(QuotaLayer::new())
        .layer(upstream.service::<ReplayBody<Full<Bytes>>>(move |_| {
            let spent = started.elapsed() < Duration::from_secs(30);
            let pairs = [("x-ratelimit-limit", "60"), ("x-ratelimit-reset", "30")];
            reply(
                if spent { 429 } else { 200 },
                if spent { &pairs } else { &[] },
                "{}",
            )
        }));
    let first = tokio::spawn(client.clone().oneshot(request("GET", None)));
    while upstream.count() == 0 {
        tokio::task::yield_now().await;
    }
    for _ in 0..100 {
        tokio::task::yield_now().await; // the 429 is learned, the retry sleeps
    }
    client.clone().oneshot(request("GET", None)).await.unwrap();
    first.await.unwrap().unwrap();
    // (When each request after the first arrived.)
    let mut at = Duration::ZERO;
    let arrivals: Vec<_> = upstream
        .waits()
        .into_iter()
        .map(|w| {
            at += w;
            at
        })
        .collect();
    let early = arrivals
        .iter()
        .filter(|at| **at < Duration::from_secs(30))
        .count();
    assert_eq!(
        early, 0,
        "sent into the spent window after the first: {arrivals:?}"
    );
}
