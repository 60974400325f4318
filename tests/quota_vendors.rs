//! The quota layer (one process, `MemoryStore`) against vendors'
//! documented rate-limit semantics, under paused time: a simulator of each
//! vendor's fixed windows in seven header formats, Shopify's leaky bucket,
//! OpenAI's token windows, Anthropic's split input and output tokens,
//! Reddit's floats, and resets read against a skewed server clock; then
//! vendors on loopback enforcing their limits through the recommended
//! stack (GitHub's secondary limits, OpenAI's two windows, Anthropic,
//! Zendesk, HubSpot).

#[path = "support/scripted.rs"]
mod scripted;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use scripted::{reply, Scripted};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;
use tower::{Layer, ServiceExt};
use tower_api_errors::quota::QuotaLayer;
use tower_api_errors::{ApiErrorsLayer, Error};

fn get(uri: &str) -> Request<Full<Bytes>> {
    Request::get(uri).body(Full::new(Bytes::new())).unwrap()
}

fn epoch_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Anthropic rate-limit docs: input tokens (ITPM) and output tokens (OTPM)
/// are separate limits; a request's prompt counts against ITPM only.
/// A 20k-token prompt under a 50k ITPM and 8k OTPM limit is accepted.
#[tokio::test(start_paused = true)]
async fn anthropic_prompt_is_not_charged_to_the_output_tokens_window() {
    let up = Scripted::new();
    let svc = up.service::<Full<Bytes>>(|_| {
        reply(
            200,
            &[
                ("anthropic-ratelimit-requests-limit", "50"),
                ("anthropic-ratelimit-requests-remaining", "49"),
                ("anthropic-ratelimit-requests-reset", "2030-01-01T00:00:01Z"),
                ("anthropic-ratelimit-input-tokens-limit", "50000"),
                ("anthropic-ratelimit-input-tokens-remaining", "50000"),
                (
                    "anthropic-ratelimit-input-tokens-reset",
                    "2030-01-01T00:00:01Z",
                ),
                ("anthropic-ratelimit-output-tokens-limit", "8000"),
                ("anthropic-ratelimit-output-tokens-remaining", "8000"),
                (
                    "anthropic-ratelimit-output-tokens-reset",
                    "2030-01-01T00:00:01Z",
                ),
                ("date", "Tue, 01 Jan 2030 00:00:00 GMT"),
            ],
            "{}",
        )
    });
    let client = QuotaLayer::new()
        .cost(|r| {
            r.headers()
                .get("x-prompt-tokens")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(1)
        })
        .layer(svc);
    client
        .clone()
        .oneshot(get("http://api.anthropic.com/v1/messages"))
        .await
        .unwrap();
    let mut big = get("http://api.anthropic.com/v1/messages");
    big.headers_mut()
        .insert("x-prompt-tokens", "20000".parse().unwrap());
    let r = client.clone().oneshot(big).await;
    match r {
        Ok(_) => {}
        Err(Error::RateLimited(refused)) => panic!(
            "refused a 20k-token prompt: exceeded_limit={:?} ({refused})",
            refused.exceeded_limit()
        ),
        Err(e) => panic!("{e:?}"),
    }
    assert_eq!(up.count(), 2);
}

/// Reddit API rules (https://support.reddithelp.com/hc/en-us/articles/16160319875092):
/// `X-Ratelimit-Used`, `X-Ratelimit-Remaining` and `X-Ratelimit-Reset`,
/// sent as floats (`"0.0"`, `"600.0"`? remaining is a float in practice,
/// e.g. `x-ratelimit-remaining: 0.0`). A spent window must hold until reset.
#[tokio::test(start_paused = true)]
async fn reddit_float_remaining_holds_until_reset() {
    let up = Scripted::new();
    let svc = up.service::<Full<Bytes>>(|n| {
        if n == 0 {
            reply(
                200,
                &[
                    ("x-ratelimit-used", "100"),
                    ("x-ratelimit-remaining", "0.0"),
                    ("x-ratelimit-reset", "30"),
                ],
                "{}",
            )
        } else {
            reply(
                200,
                &[
                    ("x-ratelimit-used", "1"),
                    ("x-ratelimit-remaining", "99.0"),
                    ("x-ratelimit-reset", "600"),
                ],
                "{}",
            )
        }
    });
    let client = QuotaLayer::new().layer(svc);
    client
        .clone()
        .oneshot(get("https://oauth.reddit.com/api/v1/me"))
        .await
        .unwrap();
    let started = Instant::now();
    client
        .clone()
        .oneshot(get("https://oauth.reddit.com/api/v1/me"))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(30),
        "sent after {:?} into a spent window (reset 30 s)",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------
// A fixed-window vendor simulator: `limit` requests per `window`, windows
// aligned on the simulator's start; over the limit, a 429. Each format
// writes the vendor's documented headers for (limit, remaining, reset).
// ---------------------------------------------------------------------

use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, Debug)]
enum Format {
    /// GitHub: epoch reset, with Date (whole seconds).
    GitHub,
    /// X API v2: x-rate-limit-* epoch.
    X,
    /// OpenAI: x-ratelimit-*-requests, reset as a Go duration.
    OpenAi,
    /// Older IETF draft: RateLimit-Limit/-Remaining/-Reset (delta seconds, ceil).
    IetfOld,
    /// IETF -09: RateLimit / RateLimit-Policy structured fields.
    Ietf,
    /// Reddit: used/remaining (float)/reset seconds.
    Reddit,
    /// Discord: x-ratelimit-reset-after float seconds.
    Discord,
}

#[derive(Default)]
struct Sim {
    counts: Vec<u64>,
    rejected: u64,
    arrivals: Vec<Duration>,
}

thread_local! {
    /// The simulated server's clock at its start (Unix seconds).
    static BASE: std::cell::Cell<u64> = const { std::cell::Cell::new(1_900_000_000) };
}

fn headers_for(
    format: Format,
    limit: u64,
    remaining: u64,
    elapsed: Duration,
    end: Duration,
    window: Duration,
) -> Vec<(&'static str, String)> {
    let left = end - elapsed;
    let base = BASE.with(|b| b.get());
    let date = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(base + elapsed.as_secs()));
    let reset_epoch = (base + end.as_secs()).to_string();
    let ceil = left.as_millis().div_ceil(1000).to_string();
    match format {
        Format::GitHub => vec![
            ("date", date),
            ("x-ratelimit-limit", limit.to_string()),
            ("x-ratelimit-remaining", remaining.to_string()),
            ("x-ratelimit-used", (limit - remaining).to_string()),
            ("x-ratelimit-reset", reset_epoch),
        ],
        Format::X => vec![
            ("date", date),
            ("x-rate-limit-limit", limit.to_string()),
            ("x-rate-limit-remaining", remaining.to_string()),
            ("x-rate-limit-reset", reset_epoch),
        ],
        Format::OpenAi => vec![
            ("x-ratelimit-limit-requests", limit.to_string()),
            ("x-ratelimit-remaining-requests", remaining.to_string()),
            (
                "x-ratelimit-reset-requests",
                format!("{}ms", left.as_millis()),
            ),
        ],
        Format::IetfOld => vec![
            ("ratelimit-limit", limit.to_string()),
            ("ratelimit-remaining", remaining.to_string()),
            ("ratelimit-reset", ceil),
        ],
        Format::Ietf => vec![
            (
                "ratelimit-policy",
                format!("\"p\";q={limit};w={}", window.as_secs()),
            ),
            ("ratelimit", format!("\"p\";r={remaining};t={ceil}")),
        ],
        Format::Reddit => vec![
            ("x-ratelimit-used", (limit - remaining).to_string()),
            ("x-ratelimit-remaining", format!("{remaining}.0")),
            ("x-ratelimit-reset", ceil),
        ],
        Format::Discord => vec![
            ("x-ratelimit-limit", limit.to_string()),
            ("x-ratelimit-remaining", remaining.to_string()),
            (
                "x-ratelimit-reset-after",
                format!("{:.3}", left.as_secs_f64()),
            ),
            ("x-ratelimit-bucket", "abcd1234".into()),
        ],
    }
}

fn simulator(
    format: Format,
    limit: u64,
    window: Duration,
    latency: Duration,
    start: Instant,
    sim: Arc<Mutex<Sim>>,
) -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
       + Send {
    tower::service_fn(move |_req: Request<Full<Bytes>>| {
        let sim = sim.clone();
        async move {
            // The server counts the request when it arrives.
            let elapsed = start.elapsed();
            let index = (elapsed.as_millis() / window.as_millis()) as usize;
            let end = window * (index as u32 + 1);
            let (ok, remaining) = {
                let mut s = sim.lock().unwrap();
                s.arrivals.push(elapsed);
                if s.counts.len() <= index {
                    s.counts.resize(index + 1, 0);
                }
                if s.counts[index] >= limit {
                    s.rejected += 1;
                    (false, 0)
                } else {
                    s.counts[index] += 1;
                    (true, limit - s.counts[index])
                }
            };
            tokio::time::sleep(latency).await;
            // Headers as of when the server counted it.
            let mut pairs = headers_for(format, limit, remaining, elapsed, end, window);
            let status = if ok { 200 } else { 429 };
            if !ok {
                pairs.push((
                    "retry-after",
                    (end - elapsed).as_millis().div_ceil(1000).to_string(),
                ));
            }
            let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            Ok::<_, std::convert::Infallible>(reply(status, &refs, "{}"))
        }
    })
}

/// Drives `total` requests from `workers` concurrent callers; returns the
/// simulator's record and the time taken.
async fn drive(
    format: Format,
    limit: u64,
    window: Duration,
    latency: Duration,
    workers: usize,
    total: usize,
) -> (Sim, Duration) {
    let start = Instant::now();
    let sim = Arc::new(Mutex::new(Sim::default()));
    let client = QuotaLayer::new()
        .max_wait(Duration::from_secs(600))
        .layer(simulator(
            format,
            limit,
            window,
            latency,
            start,
            sim.clone(),
        ));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let client = client.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < total {
                let r = client
                    .clone()
                    .oneshot(get("http://api.vendor.test/x"))
                    .await;
                assert!(r.is_ok(), "{r:?}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = start.elapsed();
    let sim = std::mem::take(&mut *sim.lock().unwrap());
    (sim, elapsed)
}

fn check(format: Format, sim: &Sim, elapsed: Duration, limit: u64, total: usize, window: Duration) {
    // Every request beyond the cold-start probe's knowledge should be
    // admitted: no 429s at all is the documented aim for an announced window.
    assert_eq!(
        sim.rejected, 0,
        "{format:?}: {} 429s; counts {:?}",
        sim.rejected, sim.counts
    );
    // Never holding what the vendor accepts: the full windows are used.
    let full = total as u64 / limit;
    for (i, count) in sim.counts.iter().enumerate().take(full as usize) {
        assert!(
            *count == limit,
            "{format:?}: window {i} used {count} of {limit}; counts {:?}",
            sim.counts
        );
    }
    let ideal = window * (full as u32);
    assert!(
        elapsed <= ideal + Duration::from_millis(1500),
        "{format:?}: took {elapsed:?}, ideal {ideal:?}; counts {:?}",
        sim.counts
    );
}

/// Every format, `callers` callers sending `total` requests into windows
/// of `limit` per 10 s (a request takes `latency`): each window used whole
/// and no 429 (see `check`); the failures of all formats reported at once.
async fn every_format_uses_each_window(
    limit: u64,
    latency: Duration,
    callers: usize,
    total: usize,
) {
    let mut failures = Vec::new();
    for format in [
        Format::GitHub,
        Format::X,
        Format::OpenAi,
        Format::IetfOld,
        Format::Ietf,
        Format::Reddit,
        Format::Discord,
    ] {
        let window = Duration::from_secs(10);
        let (sim, elapsed) = drive(format, limit, window, latency, callers, total).await;
        let r = std::panic::catch_unwind(|| check(format, &sim, elapsed, limit, total, window));
        if r.is_err() {
            failures.push(format!(
                "{format:?} {elapsed:?} rejected {} counts {:?}",
                sim.rejected, sim.counts
            ));
        }
    }
    assert!(failures.is_empty(), "failed: {failures:?}");
}

#[tokio::test(start_paused = true)]
async fn sequential_caller_uses_each_window_and_draws_no_429() {
    every_format_uses_each_window(20, Duration::from_millis(20), 1, 50).await;
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_use_each_window_and_draw_no_429() {
    every_format_uses_each_window(100, Duration::from_millis(50), 8, 250).await;
}

/// Shopify REST Admin API rate limits (leaky bucket): a bucket of 40 that
/// leaks 2 requests a second; `X-Shopify-Shop-Api-Call-Limit: used/40`;
/// a request into a full bucket gets a 429 with `Retry-After: 2.0`.
/// A caller sending one request after another should draw few 429s and
/// not be held much below the leak rate.
#[tokio::test(start_paused = true)]
async fn shopify_leaky_bucket_sequential_caller() {
    let start = Instant::now();
    // (level as f64, last time)
    let state = Arc::new(Mutex::new((0.0f64, Duration::ZERO, 0u64, 0u64)));
    let st = state.clone();
    let svc = tower::service_fn(move |_req: Request<Full<Bytes>>| {
        let st = st.clone();
        async move {
            let now = start.elapsed();
            let mut s = st.lock().unwrap();
            let leaked = (now - s.1).as_secs_f64() * 2.0;
            s.0 = (s.0 - leaked).max(0.0);
            s.1 = now;
            let r = if s.0 + 1.0 > 40.0 {
                s.3 += 1;
                reply(
                    429,
                    &[
                        ("x-shopify-shop-api-call-limit", "40/40"),
                        ("retry-after", "2.0"),
                    ],
                    "{}",
                )
            } else {
                s.0 += 1.0;
                s.2 += 1;
                let v = format!("{}/40", s.0.ceil() as u64);
                reply(200, &[("x-shopify-shop-api-call-limit", v.as_str())], "{}")
            };
            Ok::<_, std::convert::Infallible>(r)
        }
    });
    let client = QuotaLayer::new().layer(svc);
    let mut ok = 0;
    while ok < 100 {
        if client
            .clone()
            .oneshot(get(
                "http://shop.myshopify.com/admin/api/2024-01/products.json",
            ))
            .await
            .is_ok()
        {
            ok += 1;
        }
    }
    let s = state.lock().unwrap();
    let elapsed = start.elapsed();
    // Ideal: 40 at once, then 60 at 2/s = 30 s.
    eprintln!("shopify: {} 429s in {elapsed:?}", s.3);
    assert!(s.3 <= 2, "{} 429s in {elapsed:?}", s.3);
    assert!(
        elapsed <= Duration::from_secs(45),
        "100 requests took {elapsed:?} (ideal 30 s), {} 429s",
        s.3
    );
}

/// The same bucket, nearly full (`39/40` after a first request), and 20
/// callers at once, answered in 20 ms: the quota layer stops them sending
/// into 429s (src/quota/mod.rs, "Refills": a reset that is a guess is
/// confirmed by one request before the others go). The bucket gives no
/// reset: it leaks, it is not refilled to 40 a second later; so refilled,
/// every held caller went at once and 13 of 20 drew 429s.
#[tokio::test(start_paused = true)]
async fn shopify_nearly_full_bucket_and_a_burst_of_callers() {
    let start = Instant::now();
    // (level, when last leaked, 429s)
    let bucket = Arc::new(Mutex::new((38.0f64, Duration::ZERO, 0u64)));
    let b = bucket.clone();
    let svc = tower::service_fn(move |_req: Request<Full<Bytes>>| {
        let (now, mut s) = (start.elapsed(), b.lock().unwrap());
        s.0 = (s.0 - (now - s.1).as_secs_f64() * 2.0).max(0.0);
        s.1 = now;
        let r = if s.0 + 1.0 > 40.0 {
            s.2 += 1;
            let full = [
                ("x-shopify-shop-api-call-limit", "40/40"),
                ("retry-after", "2.0"),
            ];
            reply(429, &full, "{}")
        } else {
            s.0 += 1.0;
            let used = format!("{}/40", s.0.ceil() as u64);
            reply(
                200,
                &[("x-shopify-shop-api-call-limit", used.as_str())],
                "{}",
            )
        };
        async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, std::convert::Infallible>(r)
        }
    });
    let client = QuotaLayer::new().layer(svc);
    let uri = "http://shop.myshopify.com/admin/api/2024-01/products.json";
    client.clone().oneshot(get(uri)).await.unwrap();
    let callers: Vec<_> = (0..20)
        .map(|_| tokio::spawn(client.clone().oneshot(get(uri))))
        .collect();
    for caller in callers {
        caller.await.unwrap().unwrap();
    }
    let (rejected, elapsed) = (bucket.lock().unwrap().2, start.elapsed());
    assert!(
        rejected <= 2,
        "{rejected} 429s from a bucket announced 39/40"
    );
    // 20 at 2 a second: 10 s; held no longer than twice that.
    assert!(
        elapsed <= Duration::from_secs(20),
        "20 requests took {elapsed:?}"
    );
}

/// OpenAI rate-limit docs: tokens are counted per minute beside requests;
/// `QuotaLayer::cost` charges the tokens window. Tokens limit 10000 per
/// 10 s, each request 3000 tokens: three per window, none refused.
#[tokio::test(start_paused = true)]
async fn openai_tokens_window_paces_by_cost() {
    let start = Instant::now();
    let state = Arc::new(Mutex::new((Vec::<u64>::new(), 0u64)));
    let st = state.clone();
    let svc = tower::service_fn(move |req: Request<Full<Bytes>>| {
        let st = st.clone();
        let cost: u64 = req.headers()["x-tokens"].to_str().unwrap().parse().unwrap();
        async move {
            let now = start.elapsed();
            let index = (now.as_millis() / 10_000) as usize;
            let left = Duration::from_secs(10 * (index as u64 + 1)) - now;
            let mut s = st.lock().unwrap();
            if s.0.len() <= index {
                s.0.resize(index + 1, 0);
            }
            let reset = format!("{}ms", left.as_millis());
            let r = if s.0[index] + cost > 10_000 {
                s.1 += 1;
                let rem = (10_000 - s.0[index]).to_string();
                reply(
                    429,
                    &[
                        ("x-ratelimit-limit-tokens", "10000"),
                        ("x-ratelimit-remaining-tokens", rem.as_str()),
                        ("x-ratelimit-reset-tokens", reset.as_str()),
                    ],
                    "{}",
                )
            } else {
                s.0[index] += cost;
                let rem = (10_000 - s.0[index]).to_string();
                reply(
                    200,
                    &[
                        ("x-ratelimit-limit-requests", "1000"),
                        ("x-ratelimit-remaining-requests", "999"),
                        ("x-ratelimit-reset-requests", "60ms"),
                        ("x-ratelimit-limit-tokens", "10000"),
                        ("x-ratelimit-remaining-tokens", rem.as_str()),
                        ("x-ratelimit-reset-tokens", reset.as_str()),
                    ],
                    "{}",
                )
            };
            Ok::<_, std::convert::Infallible>(r)
        }
    });
    let client = QuotaLayer::new()
        .cost(|r| r.headers()["x-tokens"].to_str().unwrap().parse().unwrap())
        .layer(svc);
    for _ in 0..9 {
        let mut req = get("http://api.openai.com/v1/chat/completions");
        req.headers_mut()
            .insert("x-tokens", "3000".parse().unwrap());
        let r = client.clone().oneshot(req).await;
        assert!(r.is_ok(), "{r:?}");
    }
    let s = state.lock().unwrap();
    let elapsed = start.elapsed();
    assert_eq!(s.1, 0, "{} 429s; windows {:?}", s.1, s.0);
    assert_eq!(&s.0[..3], &[9000, 9000, 9000], "in {elapsed:?}");
}

/// An IETF `RateLimit-Policy` without `qu` counts requests, the draft's
/// default (draft-ietf-httpapi-ratelimit-headers, "Quota Units"): a
/// request costing 500 (tokens, to a cost function) draws 1 of its 100.
/// Before, a policy whose unit was not named drew the cost, and the
/// request was refused as costing more than the whole limit.
#[tokio::test(start_paused = true)]
async fn an_ietf_policy_without_a_unit_counts_requests() {
    let up = Scripted::new();
    let svc = up.service::<Full<Bytes>>(|_| {
        let policy = ("ratelimit-policy", r#""burst";q=100;w=60"#);
        reply(200, &[policy, ("ratelimit", r#""burst";r=50;t=30"#)], "{}")
    });
    let client = QuotaLayer::new().cost(|_| 500).layer(svc);
    for _ in 0..2 {
        let answer = client.clone().oneshot(get("http://api.test/x")).await;
        assert!(answer.is_ok(), "{:?}", answer.err().map(|e| e.to_string()));
    }
}

/// max_wait: OpenAI's tokens window spent for "6m0s": refused at once,
/// not sent, with when to come back.
#[tokio::test(start_paused = true)]
async fn openai_spent_tokens_for_six_minutes_fail_fast() {
    let up = Scripted::new();
    let svc = up.service::<Full<Bytes>>(|_| {
        reply(
            200,
            &[
                ("x-ratelimit-limit-tokens", "150000"),
                ("x-ratelimit-remaining-tokens", "0"),
                ("x-ratelimit-reset-tokens", "6m0s"),
            ],
            "{}",
        )
    });
    let client = QuotaLayer::new().layer(svc);
    client
        .clone()
        .oneshot(get("http://api.openai.com/v1/x"))
        .await
        .unwrap();
    let started = Instant::now();
    let Err(Error::RateLimited(r)) = client
        .clone()
        .oneshot(get("http://api.openai.com/v1/x"))
        .await
    else {
        panic!("not refused")
    };
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(up.count(), 1);
    assert!(
        r.retry_after() > Duration::from_secs(350) && r.retry_after() <= Duration::from_secs(361),
        "{:?}",
        r.retry_after()
    );
}

/// Short windows (Discord's per-route buckets are often 5 per 1-5 s;
/// OpenAI's requests window resets in ms; HubSpot's secondly): a window
/// one second long, whose next window's reset is exactly a second later.
#[tokio::test(start_paused = true)]
async fn one_second_windows_are_each_used() {
    let mut failures = Vec::new();
    for format in [
        Format::OpenAi,
        Format::Discord,
        Format::IetfOld,
        Format::Ietf,
        Format::GitHub,
    ] {
        let window = Duration::from_secs(1);
        let (sim, elapsed) = drive(format, 5, window, Duration::from_millis(10), 1, 50).await;
        let r = std::panic::catch_unwind(|| check(format, &sim, elapsed, 5, 50, window));
        if r.is_err() {
            failures.push(format!(
                "{format:?} {elapsed:?} rejected {} counts {:?}",
                sim.rejected, sim.counts
            ));
        }
    }
    assert!(failures.is_empty(), "failed: {failures:#?}");
}

/// Values the vendors send in practice, read as windows:
/// OpenAI `x-ratelimit-reset-tokens: 2m59.56s`, `17.28s`, `1h0m0s`;
/// Reddit `x-ratelimit-remaining: 599.0`, `x-ratelimit-reset: 342`, `used: 1`;
/// Discord `x-ratelimit-reset-after: 64.57`, with `x-ratelimit-reset` epoch float.
#[test]
fn vendor_values_in_practice() {
    use tower_api_errors::hints::RateLimitInfo;
    fn map(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut m = http::HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        m
    }
    let now = UNIX_EPOCH + Duration::from_secs(1_470_173_000);
    type Row<'a> = (&'a [(&'a str, &'a str)], Option<u64>, u128);
    let rows: &[Row] = &[
        (
            &[
                ("x-ratelimit-remaining-tokens", "0"),
                ("x-ratelimit-reset-tokens", "2m59.56s"),
            ],
            Some(0),
            179_560,
        ),
        (
            &[
                ("x-ratelimit-remaining-tokens", "0"),
                ("x-ratelimit-reset-tokens", "17.28s"),
            ],
            Some(0),
            17_280,
        ),
        (
            &[
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "1h0m0s"),
            ],
            Some(0),
            3_600_000,
        ),
        (
            &[
                ("x-ratelimit-used", "1"),
                ("x-ratelimit-remaining", "599.0"),
                ("x-ratelimit-reset", "342"),
            ],
            Some(599),
            342_000,
        ),
        (
            &[
                ("x-ratelimit-limit", "5"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1470173023.123"),
                ("x-ratelimit-reset-after", "23.123"),
            ],
            Some(0),
            23_123,
        ),
    ];
    for (pairs, remaining, reset_ms) in rows {
        let info =
            RateLimitInfo::from_headers(&map(pairs), now).unwrap_or_else(|| panic!("{pairs:?}"));
        assert_eq!(info.remaining(), *remaining, "{pairs:?}");
        let got = info.reset().map(|r| r.as_millis());
        assert!(
            got.is_some_and(|g| g.abs_diff(*reset_ms) <= 1000 && g >= *reset_ms - 1),
            "{pairs:?}: reset {got:?}, expected {reset_ms} ms"
        );
    }
}

/// Clock skew: the server's clock years behind the client's (its `Date`
/// and epoch resets in the client's past), and ahead: resets are read
/// against `Date` (hints module docs, "Clock skew"), so windows are used
/// in full either way.
#[tokio::test(start_paused = true)]
async fn epoch_resets_with_server_clock_behind_or_ahead() {
    let mut failures = Vec::new();
    for base in [
        1_500_000_000u64,
        epoch_now() - 7,
        epoch_now() + 13,
        1_900_000_000,
    ] {
        BASE.with(|b| b.set(base));
        for format in [Format::GitHub, Format::X] {
            let window = Duration::from_secs(10);
            let (sim, elapsed) = drive(format, 20, window, Duration::from_millis(20), 2, 50).await;
            let r = std::panic::catch_unwind(|| check(format, &sim, elapsed, 20, 50, window));
            if r.is_err() {
                failures.push(format!(
                    "{base} {format:?} {elapsed:?} rejected {} counts {:?}",
                    sim.rejected, sim.counts
                ));
            }
        }
    }
    assert!(failures.is_empty(), "failed: {failures:#?}");
}

/// The partition of the quota module's docs ("Scopes"): one scope per
/// GitHub resource, by path.
fn github_resource(request: &tower_api_errors::quota::QuotaRequest<'_>) -> Option<&'static str> {
    let path = request.uri().path();
    match path {
        _ if path.starts_with("/search/code") => Some("code_search"),
        _ if path.starts_with("/search/") => Some("search"),
        "/graphql" => Some("graphql"),
        _ => None,
    }
}

/// GitHub's REST API rate limits: the search API counts apart from the
/// rest (`x-ratelimit-resource: search`, 30 a minute, beside `core`'s
/// 5,000 an hour), on the same host and headers. Once the search minute
/// is spent, a `core` call under one scope per host waits for the
/// search reset (the module docs' warning); with the docs' partition by
/// resource it goes at once.
#[tokio::test(start_paused = true)]
async fn github_a_spent_search_minute_holds_no_core_call_under_the_resource_partition() {
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
    use std::sync::Arc;
    async fn core_call_after_searches(quota: QuotaLayer) -> Duration {
        let searches = Arc::new(AtomicU64::new(0));
        let github = tower::service_fn(move |request: Request<Full<Bytes>>| {
            let search = request.uri().path().starts_with("/search/");
            let (limit, used, window, resource) = match search {
                true => (30u64, searches.fetch_add(1, SeqCst) + 1, 60, "search"),
                false => (5000, 1, 3600, "core"),
            };
            let remaining = limit.saturating_sub(used).to_string();
            let reset = (epoch_now() + window).to_string();
            let headers = [
                ("x-ratelimit-limit", limit.to_string()),
                ("x-ratelimit-remaining", remaining),
                ("x-ratelimit-reset", reset),
                ("x-ratelimit-resource", resource.to_owned()),
            ];
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let status = if used > limit { 403 } else { 200 };
            let answer = reply(status, &headers, "{}");
            async move { Ok::<_, std::convert::Infallible>(answer) }
        });
        let service = quota.layer(github);
        for _ in 0..30 {
            let search = get("https://api.github.com/search/issues?q=tower");
            assert_eq!(service.clone().oneshot(search).await.unwrap().status(), 200);
        }
        let started = Instant::now();
        let core = service.oneshot(get("https://api.github.com/repos/tower-rs/tower"));
        assert_eq!(core.await.unwrap().status(), 200);
        started.elapsed()
    }
    let one_scope = core_call_after_searches(QuotaLayer::new()).await;
    // Held to the search window's reset (the searches, paced, took ~43 s
    // of it).
    assert!(
        one_scope >= Duration::from_secs(5),
        "held for search: {one_scope:?}"
    );
    let by_resource = core_call_after_searches(QuotaLayer::new().partition(github_resource)).await;
    assert_eq!(by_resource, Duration::ZERO, "core is its own scope");
}

/// The module docs' warning the other way round ("One scope per
/// authority": without a partition, "a spent `search` holds every `core`
/// request until its reset"), GitHub's core hour learned first: the spent
/// search minute, its reset earlier than core's, was taken for a late
/// answer of a window gone and ignored, and the next call drew a 403.
#[tokio::test(start_paused = true)]
async fn github_a_spent_search_minute_after_the_core_hour_holds_one_scope() {
    let (core, search) = (
        (epoch_now() + 3600).to_string(),
        (epoch_now() + 60).to_string(),
    );
    let upstream = Scripted::default();
    let client = QuotaLayer::new().layer(upstream.service::<Full<Bytes>>(move |n| {
        let (limit, left, reset, resource) = match n {
            0 => ("5000", "4999", core.as_str(), "core"),
            _ => ("30", "0", search.as_str(), "search"),
        };
        let headers = [
            ("x-ratelimit-limit", limit),
            ("x-ratelimit-remaining", left),
            ("x-ratelimit-reset", reset),
            ("x-ratelimit-resource", resource),
        ];
        reply(200, &headers, "{}")
    }));
    for uri in ["/user", "/search/issues?q=x", "/search/issues?q=y"] {
        let request = get(&format!("https://api.github.com{uri}"));
        client.clone().oneshot(request).await.unwrap();
    }
    let waits = upstream.waits();
    assert!(
        waits[1] >= Duration::from_secs(55),
        "not held for the spent search: {waits:?}"
    );
}

// ---------------------------------------------------------------------
// Vendors on loopback (hyper), through the recommended stack
// (`ApiErrorsLayer::new().quota(QuotaLayer::new())`): each vendor enforces
// its limit in fixed windows from its start, answers over it as its docs
// say, and 8 callers send for 5 windows. Expected: 0 errors surfaced
// (every hold within `max_wait`), few refusals after the first window
// (the layer may need one to learn an unannounced window), the windows
// used nearly whole.
// ---------------------------------------------------------------------

#[path = "support/full_stack.rs"]
mod full_stack;
#[allow(dead_code)]
#[path = "support/idp.rs"]
mod idp;
mod support;

/// What the vendor knows when it answers: its limit, what is left, when
/// the request arrived and when its window ends (from the vendor's start).
struct At {
    limit: u64,
    remaining: u64,
    /// The window's requests accepted so far.
    used: u64,
    at: Duration,
    end: Duration,
}

impl At {
    /// Whole seconds to the window's end, rounded up (`Retry-After`).
    fn left(&self) -> String {
        (self.end - self.at).as_millis().div_ceil(1000).to_string()
    }
    /// The time to the window's end as a Go duration (`6m0s`, `1.5s`, `20ms`).
    fn go_left(&self) -> String {
        let ms = (self.end - self.at).as_millis() as u64;
        let seconds = (ms % 60_000) as f64 / 1000.0;
        match ms {
            0..1000 => format!("{ms}ms"),
            1000..60_000 => format!("{seconds}s"),
            _ => format!("{}m{seconds}s", ms / 60_000),
        }
    }
    /// `Date` on the vendor's clock (it starts at 2030-01-01T00:00:00Z).
    fn date(&self) -> String {
        httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(1_893_456_000 + self.at.as_secs()))
    }
}

type Headers = Vec<(&'static str, String)>;

struct LoopbackVendor {
    name: &'static str,
    limit: u64,
    window: Duration,
    /// The headers on every answer.
    headers: fn(&At) -> Headers,
    /// The status over the limit, and the headers it adds.
    over: fn(&At) -> (u16, Headers),
    /// Refusals allowed per window after the first.
    refusals: u64,
    /// What the caller says a request costs (`QuotaLayer::cost`).
    cost: u64,
}

const LOOPBACK_VENDORS: &[LoopbackVendor] = &[
    // GitHub REST docs, "Rate limits for the REST API", secondary rate
    // limits: over one, "a 403 or 429 response" with `retry-after`
    // ("you should not retry until after that many seconds"), the
    // primary limit's headers still showing requests left.
    LoopbackVendor {
        name: "GitHub secondary",
        limit: 20,
        window: Duration::from_secs(10),
        headers: |at| {
            vec![
                ("date", at.date()),
                ("x-ratelimit-limit", "5000".into()),
                ("x-ratelimit-remaining", "4000".into()),
                ("x-ratelimit-reset", "1893459600".into()),
            ]
        },
        over: |at| (403, vec![("retry-after", at.left())]),
        // Known limit: a secondary limit is announced only by its refusal
        // and, beside an announced primary window, not inferred (see the
        // quota docs, "Vendors that announce nothing"): each caller in
        // flight when the window is spent draws one.
        refusals: 8,
        cost: 1,
    },
    // OpenAI rate-limit docs: requests and tokens limits at once,
    // `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, resets as
    // Go durations (`6m0s`); here each request spends 25 tokens, so the
    // tokens window (1000 a minute: 40 requests) binds, not the requests
    // one (60); a 429 carries `retry-after`. The caller tells the cost, as
    // `QuotaLayer::cost` asks (without it, a request draws 1 token: 3
    // refusals a window, 8 callers in flight as the tokens run out).
    LoopbackVendor {
        name: "OpenAI",
        limit: 40,
        window: Duration::from_secs(60),
        headers: |at| {
            vec![
                ("x-ratelimit-limit-requests", "60".into()),
                ("x-ratelimit-remaining-requests", (60 - at.used).to_string()),
                ("x-ratelimit-reset-requests", at.go_left()),
                ("x-ratelimit-limit-tokens", "1000".into()),
                (
                    "x-ratelimit-remaining-tokens",
                    (1000 - 25 * at.used).to_string(),
                ),
                ("x-ratelimit-reset-tokens", at.go_left()),
            ]
        },
        over: |at| (429, vec![("retry-after", at.left())]),
        refusals: 1,
        cost: 25,
    },
    // Anthropic rate-limit docs: `anthropic-ratelimit-requests-*`, reset
    // in RFC 3339; a 429 carries `retry-after` (seconds).
    LoopbackVendor {
        name: "Anthropic",
        limit: 50,
        window: Duration::from_secs(60),
        headers: |at| {
            let end = at.end.as_secs();
            vec![
                ("date", at.date()),
                ("anthropic-ratelimit-requests-limit", at.limit.to_string()),
                (
                    "anthropic-ratelimit-requests-remaining",
                    at.remaining.to_string(),
                ),
                (
                    "anthropic-ratelimit-requests-reset",
                    format!("2030-01-01T00:{:02}:{:02}Z", end / 60, end % 60),
                ),
            ]
        },
        over: |at| (429, vec![("retry-after", at.left())]),
        refusals: 1,
        cost: 1,
    },
    // Zendesk Support API, rate limits: `X-Rate-Limit` and
    // `X-Rate-Limit-Remaining` per minute (no reset); a 429 carries
    // `Retry-After`.
    LoopbackVendor {
        name: "Zendesk",
        limit: 40,
        window: Duration::from_secs(60),
        headers: |at| {
            vec![
                ("x-rate-limit", at.limit.to_string()),
                ("x-rate-limit-remaining", at.remaining.to_string()),
            ]
        },
        over: |at| (429, vec![("retry-after", at.left())]),
        refusals: 1,
        cost: 1,
    },
    // HubSpot API usage guidelines: `X-HubSpot-RateLimit-Max`,
    // `-Remaining`, `-Interval-Milliseconds` (no reset); over, a 429.
    LoopbackVendor {
        name: "HubSpot",
        limit: 10,
        window: Duration::from_secs(10),
        headers: |at| {
            vec![
                ("x-hubspot-ratelimit-max", at.limit.to_string()),
                ("x-hubspot-ratelimit-remaining", at.remaining.to_string()),
                ("x-hubspot-ratelimit-interval-milliseconds", "10000".into()),
            ]
        },
        over: |_| (429, vec![]),
        refusals: 1,
        cost: 1,
    },
    // Discord API docs, "Rate Limits": `X-RateLimit-Reset-After` in float
    // seconds, `X-RateLimit-Bucket`; a 429 carries `Retry-After` and a
    // JSON body whose `retry_after` is float seconds.
    LoopbackVendor {
        name: "Discord",
        limit: 5,
        window: Duration::from_secs(5),
        headers: |at| {
            vec![
                ("x-ratelimit-limit", at.limit.to_string()),
                ("x-ratelimit-remaining", at.remaining.to_string()),
                (
                    "x-ratelimit-reset-after",
                    format!("{:.3}", (at.end - at.at).as_secs_f64()),
                ),
                ("x-ratelimit-bucket", "abcd1234".into()),
            ]
        },
        over: |at| {
            (
                429,
                vec![
                    ("retry-after", at.left()),
                    ("x-ratelimit-scope", "user".into()),
                ],
            )
        },
        refusals: 1,
        cost: 1,
    },
    // X API v2 docs, "Rate limits": `x-rate-limit-limit`, `-remaining`,
    // `-reset` in Unix seconds; over, a 429.
    LoopbackVendor {
        name: "X",
        limit: 15,
        window: Duration::from_secs(60),
        headers: |at| {
            vec![
                ("date", at.date()),
                ("x-rate-limit-limit", at.limit.to_string()),
                ("x-rate-limit-remaining", at.remaining.to_string()),
                (
                    "x-rate-limit-reset",
                    (1_893_456_000 + at.end.as_secs()).to_string(),
                ),
            ]
        },
        over: |_| (429, vec![]),
        refusals: 1,
        cost: 1,
    },
    // Reddit Data API rules: `X-Ratelimit-Used`, `-Remaining` (a float)
    // and `-Reset` (seconds to the window's end, whole: truncated here, so
    // read up to a second early); no limit header; over, a 429. The quota
    // docs ("Refills"): a reset read early costs one 429, not one per
    // request held (it cost 8, the window, limitless, was forgotten).
    LoopbackVendor {
        name: "Reddit",
        limit: 100,
        window: Duration::from_secs(60),
        headers: |at| {
            vec![
                ("x-ratelimit-used", at.used.to_string()),
                ("x-ratelimit-remaining", format!("{}.0", at.remaining)),
                ("x-ratelimit-reset", (at.end - at.at).as_secs().to_string()),
            ]
        },
        over: |_| (429, vec![]),
        refusals: 1,
        cost: 1,
    },
];

/// Per window (accepted, refused), and the errors the callers saw.
async fn over_loopback(v: &'static LoopbackVendor) -> (Vec<(u64, u64)>, Vec<String>) {
    use full_stack::Vendor;
    const WINDOWS: u32 = 5;
    let tally: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let vendor = {
        let tally = tally.clone();
        Vendor::start(move |_, hit| {
            let index = (hit.at.as_nanos() / v.window.as_nanos()) as usize;
            let mut tally = tally.lock().unwrap();
            if tally.len() <= index {
                tally.resize(index + 1, (0, 0));
            }
            let ok = tally[index].0 < v.limit;
            if ok {
                tally[index].0 += 1;
            } else {
                tally[index].1 += 1;
            }
            let at = At {
                limit: v.limit,
                remaining: v.limit - tally[index].0,
                used: tally[index].0,
                at: hit.at,
                end: v.window * (index as u32 + 1),
            };
            let mut headers = (v.headers)(&at);
            let mut status = 200;
            if !ok {
                let (over, more) = (v.over)(&at);
                status = over;
                headers.extend(more);
            }
            let refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            (5, support::response(status, &refs, "{}"))
        })
        .await
    };
    let cost = v.cost;
    let client = ApiErrorsLayer::new()
        .quota(QuotaLayer::new().cost(move |_| cost))
        .layer(support::client());
    let until = Instant::now() + v.window * WINDOWS;
    let errors = full_stack::callers_until(&client, 8, &vendor.url("/v1/items"), until).await;
    let tally = tally.lock().unwrap().clone();
    (tally, errors)
}

/// Each loopback vendor: no error surfaced, at most its `refusals` per
/// window after the first, and those windows used to 90 % or more.
#[tokio::test(start_paused = true)]
async fn loopback_vendors_enforcing_their_limits() {
    let mut failures = Vec::new();
    for v in LOOPBACK_VENDORS {
        let (tally, errors) = over_loopback(v).await;
        let learned = &tally[1..tally.len().min(5)];
        let refused: u64 = learned.iter().map(|(_, r)| r).sum();
        let used: u64 = learned.iter().map(|(ok, _)| ok).sum();
        let full = v.limit * learned.len() as u64;
        if !errors.is_empty() || refused > v.refusals * learned.len() as u64 || used * 10 < full * 9
        {
            failures.push(format!(
                "{}: {tally:?}; {} errors, e.g. {:?}",
                v.name,
                errors.len(),
                errors.first()
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Shopify REST Admin API rate limits, on loopback through the recommended
/// stack: a bucket of 40 leaking 2 a second, `X-Shopify-Shop-Api-Call-Limit:
/// used/40` on every answer, a 429 with `Retry-After: 2.0` into a full
/// bucket. 8 callers for a minute: no error surfaced, few 429s, near the
/// leak rate (40 + 2 a second).
#[tokio::test(start_paused = true)]
async fn shopify_bucket_on_loopback_through_the_stack() {
    use full_stack::Vendor;
    // (level, when it was last leaked, accepted, refused)
    let bucket: Arc<Mutex<(f64, Duration, u64, u64)>> = Arc::default();
    let vendor = {
        let bucket = bucket.clone();
        Vendor::start(move |_, hit| {
            let mut b = bucket.lock().unwrap();
            b.0 = (b.0 - (hit.at - b.1).as_secs_f64() * 2.0).max(0.0);
            b.1 = hit.at;
            let ok = b.0 + 1.0 <= 40.0;
            if ok {
                (b.0, b.2) = (b.0 + 1.0, b.2 + 1);
            } else {
                b.3 += 1;
            }
            let used = format!("{}/40", b.0.ceil() as u64);
            let mut headers = vec![("x-shopify-shop-api-call-limit", used.as_str())];
            if !ok {
                headers.push(("retry-after", "2.0"));
            }
            (
                5,
                support::response(if ok { 200 } else { 429 }, &headers, "{}"),
            )
        })
        .await
    };
    let client = ApiErrorsLayer::new()
        .quota(QuotaLayer::new())
        .layer(support::client());
    let url = vendor.url("/admin/api/2024-01/products.json");
    let until = Instant::now() + Duration::from_secs(60);
    let errors = full_stack::callers_until(&client, 8, &url, until).await;
    let (_, _, accepted, refused) = *bucket.lock().unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert!(refused <= 6, "{refused} 429s");
    assert!(accepted * 10 >= 160 * 9, "{accepted} accepted");
}
