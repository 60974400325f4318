//! OpenTelemetry metrics (feature `opentelemetry`): the metrics table in
//! `src/metrics/mod.rs` checked against what an in-memory exporter
//! collects from a scripted run, and no secret in any attribute value.

mod support;

#[path = "support/exported.rs"]
mod exported;
#[path = "../examples/metrics.rs"]
mod metrics_example;
#[path = "support/scripted.rs"]
mod scripted;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use metrics_example::{points, sdk, Point, Summary};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::retry::budget::TpsBudget;
use tower::{service_fn, BoxError, ServiceBuilder, ServiceExt};
use tower_api_errors::auth::{AuthLayer, Credential, TokenFuture, TokenSource};
use tower_api_errors::breaker::CircuitBreakerLayer;
use tower_api_errors::hedge::HedgeLayer;
use tower_api_errors::metrics::{self, Metrics, WaitSource};
use tower_api_errors::quota::{MemoryStore, QuotaLayer};
use tower_api_errors::retry::{Backoff, ReplayBody};
use tower_api_errors::{ErrorBodyParseLayer, RetryLayer, RetryPolicy, StatusClassifierLayer};

/// Every request carries these; none may reach an attribute.
const SECRET: &str = "sk_live_SECRET";
const AUTHORITY: &str = "user:pw@api.example.com:8443";

/// One row of the documented table.
#[derive(Debug)]
struct Row {
    name: String,
    instrument: String,
    unit: String,
    always: BTreeSet<String>,
    sometimes: BTreeSet<String>,
}

/// The table, read from the module docs it is published in.
fn documented() -> Vec<Row> {
    let source = include_str!("../src/metrics/mod.rs");
    let code = |cell: &str| -> BTreeSet<String> {
        cell.split(',')
            .map(|c| c.trim().trim_matches('`').to_owned())
            .filter(|c| !c.is_empty())
            .collect()
    };
    source
        .lines()
        .filter_map(|line| line.strip_prefix("//! | `"))
        .map(|row| {
            let cells: Vec<&str> = row
                .trim_end()
                .trim_end_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            assert_eq!(cells.len(), 6, "a table row has six cells: {row}");
            Row {
                name: cells[0].trim_end_matches('`').to_owned(),
                instrument: cells[1].to_owned(),
                unit: cells[2].trim_matches('`').to_owned(),
                always: code(cells[3]),
                sometimes: code(cells[4]),
            }
        })
        .collect()
}

/// What the scripted upstream answers per path, attempt by attempt (the
/// last answer repeats). `None`: the attempt never answers.
type Script = &'static [Option<(u16, &'static [(&'static str, &'static str)], &'static str)>];

fn script(path: &str) -> Script {
    match path {
        "/ok" => &[Some((200, &[], "{}"))],
        // Backoff (no hint), then success.
        "/503-then-ok" => &[
            Some((503, &[], r#"{"error": {"code": 503, "message": "down"}}"#)),
            Some((200, &[], "{}")),
        ],
        // An explicit hint, then a rate-limit window's reset.
        "/429-hint" => &[
            Some((
                429,
                &[("retry-after", "1")],
                r#"{"error": "rate_limit_exceeded"}"#,
            )),
            Some((
                429,
                &[
                    ("x-ratelimit-limit", "60"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "2"),
                ],
                r#"{"error": "rate_limit_exceeded"}"#,
            )),
            Some((200, &[], "{}")),
        ],
        "/post-503" => &[Some((503, &[], r#"{"error": "down"}"#))],
        // Fails fast: a day is longer than max_retry_after.
        "/429-daily" => &[Some((
            429,
            &[("retry-after", "86400")],
            r#"{"error": "Too many requests"}"#,
        ))],
        // Not retryable; its code is allowlisted.
        "/upgrade" => &[Some((
            426,
            &[],
            r#"{"error": {"code": "VERSION_OUTDATED", "message": "upgrade"}}"#,
        ))],
        // Not retryable; its code carries the secret and is not listed.
        "/leaky" => &[Some((
            400,
            &[],
            r#"{"error": "bad_sk_live_SECRET", "message": "echo sk_live_SECRET"}"#,
        ))],
        // A hint longer than the deadline left.
        "/deadline-wait" => &[Some((503, &[("retry-after", "100")], "{}"))],
        // An attempt that never answers: the deadline cuts it.
        "/hang" => &[None],
        // Down twice, saying when to come back, then up: a breaker opens
        // (the fleet learns it), and its probe closes it.
        "/down-then-ok" => &[
            Some((503, &[("retry-after", "2")], "{}")),
            Some((503, &[("retry-after", "2")], "{}")),
            Some((200, &[], "{}")),
        ],
        // A first attempt that never answers, then a twin that does.
        "/slow-then-ok" => &[None, Some((200, &[], "{}"))],
        // A window spent: remaining 0, reset in 3 s.
        "/quota" => &[Some((
            200,
            &[
                ("x-ratelimit-limit", "1"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "3"),
            ],
            "{}",
        ))],
        // Rejects the first credential (see `Rotating`).
        "/auth" => &[
            Some((401, &[], r#"{"error": "invalid_token"}"#)),
            Some((200, &[], "{}")),
        ],
        _ => &[Some((404, &[], "{}"))],
    }
}

/// Hands out `tok-1`, then `tok-2` on refresh.
#[derive(Default)]
struct Rotating(std::sync::atomic::AtomicU32);

impl TokenSource for Rotating {
    fn current(&self) -> TokenFuture<'_> {
        self.next()
    }
    fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
        self.next()
    }
}

impl Rotating {
    fn next(&self) -> TokenFuture<'_> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        Box::pin(async move { Ok(Credential::new(&format!("tok-{n}")).unwrap()) })
    }
}

/// A token source whose every load fails.
struct Broken;

impl TokenSource for Broken {
    fn current(&self) -> TokenFuture<'_> {
        Box::pin(async { Err("token endpoint down".into()) })
    }
    fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
        self.current()
    }
}

type Upstream = tower::util::BoxCloneSyncService<
    Request<ReplayBody<Full<Bytes>>>,
    Response<Full<Bytes>>,
    BoxError,
>;

fn upstream() -> Upstream {
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    tower::util::BoxCloneSyncService::new(service_fn(
        move |request: Request<ReplayBody<Full<Bytes>>>| {
            let path = request.uri().path().to_owned();
            let attempt = {
                let mut seen = seen.lock().unwrap();
                let count = seen.entry(path.clone()).or_default();
                *count += 1;
                *count
            };
            let answers = script(&path);
            let answer = answers[(attempt - 1).min(answers.len() - 1)];
            async move {
                let Some((status, headers, body)) = answer else {
                    std::future::pending::<()>().await;
                    unreachable!()
                };
                let mut response = Response::builder().status(status);
                for (name, value) in headers {
                    response = response.header(*name, *value);
                }
                Ok::<_, BoxError>(
                    response
                        .body(Full::new(Bytes::from_static(body.as_bytes())))
                        .unwrap(),
                )
            }
        },
    ))
}

fn request(method: &str, path: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(format!("https://{AUTHORITY}{path}?api_key={SECRET}&page=2"))
        .header("authorization", format!("Bearer {SECRET}"))
        .header("x-api-key", SECRET)
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap()
}

fn stack(
    policy: RetryPolicy,
) -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = tower_api_errors::Error,
> + Clone {
    ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .layer(ErrorBodyParseLayer::new())
        .layer(StatusClassifierLayer::new())
        .service(upstream())
}

/// The scripted run: success, a retried 503, a 429 with hints, a budget
/// refusal, fail-fast, the deadline (a wait and a hanging attempt), and
/// what the quota and auth layers record.
async fn scripted_run() -> Vec<Point> {
    let (provider, exporter) = sdk();
    let metrics = Metrics::from_provider(&provider).error_codes(["VERSION_OUTDATED"]);
    let policy = RetryPolicy::default()
        .backoff(Backoff::exponential(
            Duration::from_millis(100),
            2.0,
            Duration::from_secs(1),
        ))
        .metrics(metrics.clone());
    let client = stack(policy.clone());
    for path in [
        "/ok",
        "/503-then-ok",
        "/429-hint",
        "/429-daily",
        "/upgrade",
        "/leaky",
    ] {
        let _ = client.clone().oneshot(request("GET", path)).await;
    }
    // A POST is not retried (not idempotent); a custom method is `_OTHER`.
    let _ = client.clone().oneshot(request("POST", "/post-503")).await;
    let _ = client.clone().oneshot(request("PURGE", "/ok")).await;

    let broke = stack(
        policy
            .clone()
            .budget(TpsBudget::new(Duration::from_secs(10), 0, 0.0)),
    );
    let _ = broke.oneshot(request("GET", "/503-then-ok")).await;

    let hurried = stack(policy.clone().deadline(Duration::from_secs(30)));
    let _ = hurried
        .clone()
        .oneshot(request("GET", "/deadline-wait"))
        .await;
    let _ = hurried.oneshot(request("GET", "/hang")).await;

    // The auth layer: the first credential is loaded (a wait), rejected
    // once (a refresh, a wait), and a broken source fails its load.
    let authed = ServiceBuilder::new()
        .layer(RetryLayer::new(policy.clone()))
        .layer(AuthLayer::new(Rotating::default()).metrics(metrics.clone()))
        .layer(ErrorBodyParseLayer::new())
        .layer(StatusClassifierLayer::new())
        .service(upstream());
    // The layer's own credential (a caller's `authorization` is left alone).
    let mut fresh = request("GET", "/auth");
    fresh.headers_mut().remove("authorization");
    authed.oneshot(fresh).await.unwrap();
    let broken = ServiceBuilder::new()
        .layer(RetryLayer::new(policy.clone()))
        .layer(AuthLayer::new(Broken).metrics(metrics.clone()))
        .service(upstream());
    let mut fresh = request("GET", "/ok");
    fresh.headers_mut().remove("authorization");
    assert!(broken.oneshot(fresh).await.is_err());

    // The quota layer: learns a spent window (remaining 0, reset in 3 s)
    // from a success, holds the next request 3 s, and refuses one that
    // may not wait that long.
    let quota = QuotaLayer::new().metrics(metrics.clone());
    let gated = |layer: QuotaLayer| {
        ServiceBuilder::new()
            .layer(RetryLayer::new(policy.clone()))
            .layer(layer)
            .layer(ErrorBodyParseLayer::new())
            .layer(StatusClassifierLayer::new())
            .service(upstream())
    };
    gated(quota.clone())
        .oneshot(request("GET", "/quota"))
        .await
        .unwrap();
    gated(quota.clone())
        .oneshot(request("GET", "/quota"))
        .await
        .unwrap();
    let hurried = quota.max_wait(Duration::from_secs(1));
    assert!(gated(hurried)
        .oneshot(request("GET", "/quota"))
        .await
        .is_err());
    // The breaker: opened by two 503s that say when to come back (the
    // fleet's store learns it: a second breaker counts it `fleet`), then
    // half-open and closed by its probe.
    let store = MemoryStore::new();
    let breaker = |layer: CircuitBreakerLayer| {
        ServiceBuilder::new()
            // (A retry layer without metrics: the breaker's are the point.)
            .layer(RetryLayer::new(RetryPolicy::default().max_attempts(1)))
            .layer(layer.shared(store.clone()).metrics(metrics.clone()))
            .layer(ErrorBodyParseLayer::new())
            .service(upstream())
    };
    let local = breaker(CircuitBreakerLayer::new().minimum_calls(2));
    for _ in 0..2 {
        let _ = local.clone().oneshot(request("GET", "/down-then-ok")).await;
    }
    let fleet = breaker(CircuitBreakerLayer::new());
    assert!(fleet
        .oneshot(request("GET", "/down-then-ok"))
        .await
        .is_err());
    tokio::time::sleep(Duration::from_secs(3)).await;
    local
        .oneshot(request("GET", "/down-then-ok"))
        .await
        .unwrap();
    // A hedge: its first attempt never answers, the twin sent after
    // 100 ms wins, the first is cancelled.
    let hedged = ServiceBuilder::new()
        .layer(
            HedgeLayer::fixed(Duration::from_millis(100))
                .no_budget()
                .metrics(metrics.clone()),
        )
        .layer(ErrorBodyParseLayer::new())
        .service(upstream());
    hedged
        .oneshot(request("GET", "/slow-then-ok"))
        .await
        .unwrap();
    // A cooldown as a layer of your own would record it.
    let uri: http::Uri = format!("https://{AUTHORITY}/v1/quota?api_key={SECRET}")
        .parse()
        .unwrap();
    metrics.record_wait(
        WaitSource::Cooldown,
        Duration::from_secs(5),
        &http::Method::GET,
        &uri,
    );

    provider.force_flush().unwrap();
    let points = points(&exporter.get_finished_metrics().unwrap());
    provider.shutdown().unwrap();
    points
}

fn find<'a>(points: &'a [Point], metric: &str, attrs: &[(&str, &str)]) -> Vec<&'a Point> {
    points
        .iter()
        .filter(|p| p.metric == metric)
        .filter(|p| {
            attrs
                .iter()
                .all(|(k, v)| p.attributes.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

fn total(points: &[&Point]) -> u64 {
    points.iter().map(|p| p.count).sum()
}

#[tokio::test(start_paused = true)]
async fn every_documented_metric_appears_with_exactly_its_documented_attributes() {
    let points = scripted_run().await;
    let table = documented();
    assert_eq!(table.len(), 12, "{table:#?}");

    let exported: BTreeSet<&str> = points.iter().map(|p| p.metric.as_str()).collect();
    let documented: BTreeSet<&str> = table.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(exported, documented, "exported vs documented metrics");

    for row in &table {
        let rows: Vec<&Point> = points.iter().filter(|p| p.metric == row.name).collect();
        let mut seen_sometimes = BTreeSet::new();
        for point in &rows {
            assert_eq!(
                (point.instrument, point.unit.as_str()),
                (row.instrument.as_str(), row.unit.as_str()),
                "{}",
                row.name
            );
            let keys: BTreeSet<String> = point.attributes.keys().cloned().collect();
            assert!(
                row.always.is_subset(&keys),
                "{}: missing {:?} in {keys:?}",
                row.name,
                row.always.difference(&keys).collect::<Vec<_>>()
            );
            let extra: Vec<&String> = keys
                .difference(&row.always)
                .filter(|k| !row.sometimes.contains(*k))
                .collect();
            assert!(
                extra.is_empty(),
                "{}: undocumented attributes {extra:?}",
                row.name
            );
            seen_sometimes.extend(keys.difference(&row.always).cloned());
        }
        assert_eq!(
            seen_sometimes, row.sometimes,
            "{}: every conditional attribute shows up in the run",
            row.name
        );
        // Every name is OTel's or under our one prefix.
        assert!(
            row.name.starts_with("http.client.") || row.name.starts_with(metrics::PREFIX),
            "{}",
            row.name
        );
        for key in row.always.iter().chain(&row.sometimes) {
            assert!(
                ["http.", "server.", "error.type"]
                    .iter()
                    .any(|p| key.starts_with(p))
                    || key.starts_with(metrics::PREFIX),
                "{key}"
            );
        }
    }

    // OTel's recommended buckets.
    let attempt = find(&points, "http.client.request.duration", &[])[0];
    assert_eq!(attempt.bounds, metrics::HTTP_DURATION_BUCKETS);
}

#[tokio::test(start_paused = true)]
async fn the_scripted_run_counts_what_happened() {
    let points = scripted_run().await;
    let d = "http.client.request.duration";
    // The success: one attempt, 200, no error.type, the URI's host and port.
    let ok = find(
        &points,
        d,
        &[
            ("http.request.method", "GET"),
            ("http.response.status_code", "200"),
        ],
    );
    assert!(ok
        .iter()
        .all(|p| p.attributes["server.address"] == "api.example.com"
            && p.attributes["server.port"] == "8443"));
    assert!(ok.iter().all(|p| !p.attributes.contains_key("error.type")));
    assert_eq!(
        total(&find(&points, d, &[("http.request.method", "_OTHER")])),
        1
    );

    // The retried 503: a first attempt `unavailable`, a resend that succeeded.
    assert_eq!(
        total(&find(
            &points,
            d,
            &[
                ("error.type", "unavailable"),
                ("http.response.status_code", "503")
            ]
        )),
        4,
        "GET retried + POST + budget-refused GET + deadline wait"
    );
    assert_eq!(
        total(&find(
            &points,
            d,
            &[
                ("http.request.resend_count", "1"),
                ("http.response.status_code", "200")
            ]
        )),
        1
    );
    assert_eq!(
        total(&find(
            &points,
            d,
            &[
                ("http.request.resend_count", "2"),
                ("http.response.status_code", "200")
            ]
        )),
        1,
        "the 429 path"
    );

    // Retries by reason, waits by source, and their lengths.
    let r = "tower_api_errors.retries";
    assert_eq!(
        total(&find(&points, r, &[("error.type", "unavailable")])),
        1
    );
    assert_eq!(
        total(&find(&points, r, &[("error.type", "rate_limited")])),
        2
    );
    let w = "tower_api_errors.wait.duration";
    let waited = |source: &str| {
        let points = find(&points, w, &[("tower_api_errors.wait.source", source)]);
        (total(&points), points.iter().map(|p| p.sum).sum::<f64>())
    };
    assert_eq!(waited("retry_after"), (1, 1.0));
    assert_eq!(waited("rate_limit"), (1, 2.0));
    assert_eq!(waited("backoff").0, 1);
    assert!(waited("backoff").1 <= 0.1);
    assert_eq!(waited("quota"), (1, 3.0));
    assert_eq!(waited("cooldown"), (1, 5.0));
    assert_eq!(
        waited("auth").0,
        3,
        "the first load, the refresh, the broken load"
    );
    assert_eq!(
        total(&find(
            &points,
            "tower_api_errors.waits",
            &[("tower_api_errors.wait.source", "retry_after")]
        )),
        1
    );

    // Refusals and fail-fast.
    assert_eq!(
        total(&find(
            &points,
            "tower_api_errors.budget.refusals",
            &[("error.type", "unavailable")]
        )),
        1
    );
    let f = "tower_api_errors.failed_fast";
    let reason = |r: &str| {
        total(&find(
            &points,
            f,
            &[("tower_api_errors.failed_fast.reason", r)],
        ))
    };
    assert_eq!(
        (reason("hint_too_long"), reason("deadline"), reason("quota")),
        (1, 2, 1)
    );

    // Calls: outcome, stop reason and attempts.
    let c = "tower_api_errors.call.duration";
    let stopped = |r: &str| total(&find(&points, c, &[("tower_api_errors.stop_reason", r)]));
    assert_eq!(stopped("budget_exhausted"), 1);
    assert_eq!(
        stopped("hint_too_long"),
        2,
        "the daily limit, the quota refusal"
    );
    assert_eq!(stopped("deadline"), 2);
    assert_eq!(stopped("not_idempotent"), 1);
    assert_eq!(
        stopped("not_retryable"),
        3,
        "426, 400, the broken credential"
    );
    // The hanging attempt was cut at the deadline, 30 s in.
    let hang = find(&points, d, &[("error.type", "transport")]);
    assert_eq!((total(&hang), hang[0].sum), (1, 30.0));
    let calls = find(&points, c, &[]);
    // (The hedged call is the hedge layer's, once.)
    assert_eq!(total(&calls), 17);
    let successes: u64 = calls
        .iter()
        .filter(|p| !p.attributes.contains_key("error.type"))
        .map(|p| p.count)
        .sum();
    assert_eq!(
        successes, 8,
        "ok, 503 then ok, 429s then ok, PURGE ok, auth renewed, two quota, hedged"
    );
    let attempts: f64 = find(&points, "tower_api_errors.call.attempts", &[])
        .iter()
        .map(|p| p.sum)
        .sum();
    assert_eq!(
        attempts, 19.0,
        "17 calls, 3 retries (the auth re-send is inside its attempt), a hedge; \
         the broken credential's call and the quota's refused one sent nothing"
    );

    // The allowlisted code shows; the other does not.
    assert_eq!(
        total(&find(
            &points,
            d,
            &[("tower_api_errors.error.code", "VERSION_OUTDATED")]
        )),
        1
    );
    assert!(find(&points, d, &[("error.type", "bad_request")])
        .iter()
        .all(|p| !p.attributes.contains_key("tower_api_errors.error.code")));

    // Auth: two good loads (the first, the refresh), one failed.
    let a = "tower_api_errors.auth.refreshes";
    assert_eq!(
        total(&find(
            &points,
            a,
            &[("tower_api_errors.auth.outcome", "success")]
        )),
        2
    );
    assert_eq!(
        total(&find(
            &points,
            a,
            &[("tower_api_errors.auth.outcome", "failure")]
        )),
        1
    );
    assert_eq!(
        total(&find(&points, "tower_api_errors.quota.holds", &[])),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn no_attribute_value_carries_a_path_query_header_or_credential() {
    let points = scripted_run().await;
    assert!(!points.is_empty());
    let values: BTreeMap<String, BTreeSet<String>> = points
        .iter()
        .flat_map(|p| p.attributes.iter())
        .fold(BTreeMap::new(), |mut all, (k, v)| {
            all.entry(k.clone()).or_default().insert(v.clone());
            all
        });
    for (key, values) in &values {
        for value in values {
            for forbidden in [
                SECRET, "SECRET", "Bearer", "pw", "user", "?", "=", "&", "/", "api_key", "page",
                "leaky", "v1",
            ] {
                assert!(
                    !value.contains(forbidden),
                    "{key}={value} contains {forbidden:?}"
                );
            }
            assert!(value.len() <= 32, "{key}={value}: bounded values only");
        }
    }
    // Every value is from a bounded set: the keys' whole vocabulary.
    assert_eq!(
        values["server.address"],
        BTreeSet::from(["api.example.com".to_owned()])
    );
    assert!(values["error.type"]
        .iter()
        .all(|v| v.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
}

#[tokio::test]
async fn without_metrics_in_the_policy_nothing_is_recorded() {
    let (provider, exporter) = sdk();
    // Instruments exist on the provider, but the policy has no handle.
    let _unused = Metrics::from_provider(&provider);
    let client = stack(RetryPolicy::default());
    client.oneshot(request("GET", "/ok")).await.unwrap();
    provider.force_flush().unwrap();
    assert!(points(&exporter.get_finished_metrics().unwrap()).is_empty());
}

/// The example, end to end over loopback: the demo's scenarios, read back
/// from the exporter.
#[tokio::test]
async fn the_example_answers_error_rate_attempts_and_waits() {
    let (rows, points) = metrics_example::run().await;
    let summary = Summary::from_points(&points);
    assert_eq!(summary.calls, rows.len() as u64);
    let attempts: u64 = rows.iter().map(|r| u64::from(r.attempts)).sum();
    assert_eq!(
        summary.attempts, attempts,
        "attempts per call match the demo's reports"
    );
    let failed = rows.iter().filter(|r| r.outcome.is_err()).count() as u64;
    assert_eq!(summary.failures_by_kind.values().sum::<u64>(), failed);
    assert_eq!(
        summary.failures_by_kind["rate_limited"], 1,
        "the daily limit"
    );
    assert_eq!(summary.failures_by_kind["unauthorized"], 1);
    // The per-minute limit waited 1 s on Retry-After, the body hint 0.5 s.
    let (count, seconds) = summary.waits_by_source["retry_after"];
    assert_eq!(count, 2);
    assert!((seconds - 1.5).abs() < 1e-9, "{seconds}");
    assert!(
        summary.waits_by_source["backoff"].0 >= 3,
        "503 recovers twice, 502 twice"
    );
    let waited: f64 = rows.iter().map(|r| r.waited.as_secs_f64()).sum();
    let exported: f64 = summary.waits_by_source.values().map(|(_, s)| s).sum();
    assert!((waited - exported).abs() < 1e-6, "{waited} vs {exported}");
    // The allowlisted code made it; nothing of the secret did.
    assert!(points.iter().any(|p| p
        .attributes
        .get("tower_api_errors.error.code")
        .map(String::as_str)
        == Some("VERSION_OUTDATED")));
    assert!(points
        .iter()
        .flat_map(|p| p.attributes.values())
        .all(|v| !v.contains("sk_demo") && !v.contains('?')));
}

/// Held requests and series, counted (probe 8).
mod counted {
    use super::scripted;
    use crate::exported::{points, sdk, total};
    use bytes::Bytes;
    use http::Request;
    use http_body_util::Full;
    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};
    use tower_api_errors::metrics::Metrics;
    use tower_api_errors::quota::QuotaLayer;
    use tower_api_errors::retry::ReplayBody;
    use tower_api_errors::{ErrorBodyParseLayer, RetryLayer};

    /// `tower_api_errors.quota.holds` is documented as a `{request}` counter,
    /// "each request a quota gate held before sending" (src/metrics/mod.rs:
    /// the table). Requests queued behind a spent window of one request each
    /// are held; each request counts once, however many times the store
    /// makes it wait again.
    #[tokio::test(start_paused = true)]
    async fn quota_holds_count_each_held_request_once() {
        let (provider, exporter) = sdk();
        let upstream = service_fn(|_req: Request<Full<Bytes>>| async {
            Ok::<_, std::convert::Infallible>(scripted::reply(
                200,
                &[
                    ("x-ratelimit-limit", "1"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "2"),
                ],
                "{}",
            ))
        });
        let quota = QuotaLayer::new()
            .max_wait(Duration::from_secs(60))
            .metrics(Metrics::from_provider(&provider));
        let client = quota.layer(upstream);
        // Learns the spent window.
        client
            .clone()
            .oneshot(scripted::get("http://api.test/x"))
            .await
            .unwrap();
        let calls: Vec<_> = (0..4)
            .map(|i| {
                client
                    .clone()
                    .oneshot(scripted::get(&format!("http://api.test/x/{i}")))
            })
            .collect();
        for result in futures_join(calls).await {
            result.unwrap();
        }
        let points = points(&provider, &exporter);
        let holds = total(&points, "tower_api_errors.quota.holds", &[]);
        let waits = total(
            &points,
            "tower_api_errors.waits",
            &[("tower_api_errors.wait.source", "quota")],
        );
        assert_eq!(holds, 4, "4 held requests; waits {waits}: {points:?}");
    }

    /// Joins futures on the current task, in order.
    async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
        let handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
        let mut outputs: Vec<Option<F::Output>> = handles.iter().map(|_| None).collect();
        let mut handles: Vec<Option<std::pin::Pin<Box<F>>>> =
            handles.into_iter().map(Some).collect();
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (slot, out) in handles.iter_mut().zip(outputs.iter_mut()) {
                if let Some(f) = slot {
                    match f.as_mut().poll(cx) {
                        std::task::Poll::Ready(v) => {
                            *out = Some(v);
                            *slot = None;
                        }
                        std::task::Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        outputs.into_iter().map(Option::unwrap).collect()
    }

    /// 2,000 calls, each with a distinct custom method and path and query: the
    /// metrics stay a handful of series (method `_OTHER`, host and port only).
    #[tokio::test(start_paused = true)]
    async fn distinct_methods_paths_and_queries_do_not_make_series() {
        let (provider, exporter) = sdk();
        let n = Arc::new(AtomicU32::new(0));
        let counter = n.clone();
        let upstream = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| {
            let i = counter.fetch_add(1, Ordering::SeqCst);
            let status = [200, 503, 404, 429][(i % 4) as usize];
            async move {
                Ok::<_, std::convert::Infallible>(scripted::reply(
                    status,
                    &[("retry-after", "0")],
                    &format!(r#"{{"error": {{"code": "E{i}", "message": "m{i}"}}}}"#),
                ))
            }
        });
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(
                scripted::exact()
                    .max_attempts(2)
                    .metrics(Metrics::from_provider(&provider)),
            ))
            .layer(ErrorBodyParseLayer::new())
            .service(upstream);
        for i in 0..2_000 {
            let request = Request::builder()
                .method(format!("FOO{i}").as_str())
                .uri(format!(
                    "http://api.test/v1/users/{i}/items?cursor={i}&key=k{i}"
                ))
                .header("idempotency-key", format!("idem-{i}"))
                .body(Full::new(Bytes::new()))
                .unwrap();
            let _ = client.clone().oneshot(request).await;
        }
        let points = points(&provider, &exporter);
        let series: BTreeSet<String> = points
            .iter()
            .map(|(m, a, _)| format!("{m} {a:?}"))
            .collect();
        assert!(series.len() < 60, "{} series: {series:#?}", series.len());
        for (_, attrs, _) in &points {
            for (k, v) in attrs {
                assert!(
                    !v.contains("FOO") && !v.contains('/') && !v.starts_with('E'),
                    "{k}={v}"
                );
            }
        }
    }
}

/// A load left on an idle runtime is failed by another runtime's waiter
/// at its deadline (and counted then, a failure); when its own runtime
/// later runs it to its end, that one load is not counted again
/// (`tower_api_errors.auth.refreshes`: "each credential load").
#[test]
fn an_overdue_load_is_counted_once() {
    struct Late(Arc<Mutex<u32>>);
    impl TokenSource for Late {
        fn current(&self) -> TokenFuture<'_> {
            *self.0.lock().unwrap() += 1;
            // Pending on its first poll: it ends when its runtime runs again.
            Box::pin(async {
                tokio::task::yield_now().await;
                Ok(Credential::new("t1").unwrap())
            })
        }
        fn refresh<'a>(&'a self, _: &'a Credential) -> TokenFuture<'a> {
            self.current()
        }
    }
    let reader = support::MetricsReader::new();
    let calls = Arc::new(Mutex::new(0));
    let auth = AuthLayer::new(Late(calls.clone()))
        .refresh_timeout(Duration::from_millis(20))
        .metrics(reader.metrics());
    let api = service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, BoxError>(Response::new(Full::<Bytes>::default()))
    });
    let client = ServiceBuilder::new().layer(auth).service(api);
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let idle = runtime();
    let request = idle.spawn(client.clone().oneshot(scripted::get("/a")));
    let started = calls.clone();
    idle.block_on(async move {
        while *started.lock().unwrap() == 0 {
            tokio::task::yield_now().await;
        }
    });
    // The idle runtime drives nothing meanwhile: this waiter fails the load.
    let waited = runtime().block_on(client.oneshot(scripted::get("/b")));
    assert!(waited.is_err(), "the overdue load failed this wait");
    let _ = idle.block_on(request);
    assert_eq!(*calls.lock().unwrap(), 1);
    let points = reader.counter_points(
        "tower_api_errors.auth.refreshes",
        "tower_api_errors.auth.outcome",
    );
    assert_eq!(points, ["failure 1"], "one load, counted once");
}

/// Calls and attempts dropped before their end are still recorded, with
/// `error.type` `cancelled`: "each attempt the retry layer sends" and
/// "each logical call ... at its end" (src/metrics/mod.rs, the table).
mod dropped {
    use super::scripted::{delayed as upstream, exact, get, send};
    use crate::metrics_example::{points, sdk, Point};
    use bytes::Bytes;
    use http::{Request, Response};
    use http_body_util::Full;
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    use tower::{Layer, Service, ServiceBuilder, ServiceExt};
    use tower_api_errors::auth::AuthLayer;
    use tower_api_errors::hedge::HedgeLayer;
    use tower_api_errors::metrics::Metrics;
    use tower_api_errors::quota::QuotaLayer;
    use tower_api_errors::retry::ReplayBody;
    use tower_api_errors::{ApiErrorsLayer, Error, ErrorBodyParseLayer, RetryLayer, RetryPolicy};

    const ATTEMPT: &str = "http.client.request.duration";
    const CALL: &str = "tower_api_errors.call.duration";
    const CALL_ATTEMPTS: &str = "tower_api_errors.call.attempts";
    type Body = ReplayBody<Full<Bytes>>;
    /// (count, sum) of `metric`'s points with `error.type` `error`.
    pub(super) fn seen(
        provider: &SdkMeterProvider,
        exporter: &InMemoryMetricExporter,
        metric: &str,
        error: Option<&str>,
    ) -> (u64, f64) {
        provider.force_flush().unwrap();
        let points: Vec<Point> = points(&exporter.get_finished_metrics().unwrap());
        points
            .iter()
            .filter(|p| p.metric == metric)
            .filter(|p| {
                error.is_none_or(|e| p.attributes.get("error.type").map(String::as_str) == Some(e))
            })
            .fold((0, 0.0), |(n, sum), p| (n + p.count, sum + p.sum))
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_dropped_mid_attempt_is_recorded() {
        let (provider, exporter) = sdk();
        let hits = Arc::default();
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(
                exact().metrics(Metrics::from_provider(&provider)),
            ))
            .layer(ErrorBodyParseLayer::new())
            .service(upstream(&hits, |_| (None, 200, &[])));
        let call = client.oneshot(get("http://api.test/x"));
        assert!(tokio::time::timeout(Duration::from_secs(3), call)
            .await
            .is_err());
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        let attempt = seen(&provider, &exporter, ATTEMPT, Some("cancelled"));
        assert_eq!(attempt.0, 1, "the attempt sent");
        assert!((attempt.1 - 3.0).abs() < 0.01, "it ran 3 s: {attempt:?}");
        assert_eq!(seen(&provider, &exporter, CALL, Some("cancelled")).0, 1);
        assert_eq!(seen(&provider, &exporter, CALL_ATTEMPTS, None), (1, 1.0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_dropped_mid_wait_is_recorded() {
        let (provider, exporter) = sdk();
        let hits = Arc::default();
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(
                exact().metrics(Metrics::from_provider(&provider)),
            ))
            .layer(ErrorBodyParseLayer::new())
            .service(upstream(&hits, |_| {
                (Some(Duration::ZERO), 503, &[("retry-after", "10")])
            }));
        let call = client.oneshot(get("http://api.test/x"));
        assert!(tokio::time::timeout(Duration::from_secs(3), call)
            .await
            .is_err());
        assert_eq!(
            seen(&provider, &exporter, ATTEMPT, Some("unavailable")).0,
            1
        );
        assert_eq!(seen(&provider, &exporter, ATTEMPT, None).0, 1);
        let call = seen(&provider, &exporter, CALL, Some("cancelled"));
        assert_eq!(call.0, 1, "the call");
        assert!((call.1 - 3.0).abs() < 0.01, "it lasted 3 s: {call:?}");
        assert_eq!(seen(&provider, &exporter, CALL_ATTEMPTS, None), (1, 1.0));
    }

    /// An attempt dropped while a layer below holds it unsent (a spent
    /// quota window, a first credential loading) is no HTTP request:
    /// `http.client.request.duration` is for "each attempt the retry layer
    /// sends" (src/metrics/mod.rs, the table; src/context/mod.rs, "An
    /// attempt dropped before it was sent"). The call is still recorded,
    /// cancelled.
    #[tokio::test(start_paused = true)]
    async fn an_attempt_dropped_while_held_unsent_is_no_http_request() {
        let (provider, exporter) = sdk();
        let (hits, metrics) = (Arc::default(), Metrics::from_provider(&provider));
        let client = ApiErrorsLayer::new()
            .retry(exact().metrics(metrics.clone()))
            .quota(QuotaLayer::new().metrics(metrics))
            .layer(upstream::<Body>(&hits, |_| {
                let spent = &[
                    ("x-ratelimit-limit", "1"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "10"),
                ];
                (Some(Duration::ZERO), 200, spent)
            }));
        client
            .clone()
            .oneshot(get("http://api.test/x"))
            .await
            .unwrap();
        let held = client.oneshot(get("http://api.test/x"));
        assert!(tokio::time::timeout(Duration::from_secs(3), held)
            .await
            .is_err());
        assert_eq!(hits.load(Ordering::SeqCst), 1, "the held request unsent");
        assert_eq!(seen(&provider, &exporter, ATTEMPT, None).0, 1, "the first");
        assert_eq!(seen(&provider, &exporter, CALL, Some("cancelled")).0, 1);

        let (provider, exporter) = sdk();
        let metrics = Metrics::from_provider(&provider);
        let client = ApiErrorsLayer::new()
            .retry(exact().metrics(metrics.clone()))
            .auth(AuthLayer::new(super::cut_short::Slow).metrics(metrics))
            .layer(upstream::<Body>(&hits, |_| {
                (Some(Duration::ZERO), 200, &[])
            }));
        let waiting = client.oneshot(get("http://api.test/x"));
        assert!(tokio::time::timeout(Duration::from_secs(3), waiting)
            .await
            .is_err());
        assert_eq!(hits.load(Ordering::SeqCst), 1, "nothing more sent");
        assert_eq!(seen(&provider, &exporter, ATTEMPT, None).0, 0);
        assert_eq!(seen(&provider, &exporter, CALL, Some("cancelled")).0, 1);
    }

    /// An answer that spends the window: one request per 10 s.
    pub(super) const SPENT: &[(&str, &str)] = &[
        ("x-ratelimit-limit", "1"),
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "10"),
    ];

    /// A retry layer recording to `metrics`, over a second retry layer
    /// (`inner`, recording nothing), over a quota layer recording to
    /// `metrics`, over an upstream whose every answer, at once, spends the
    /// window ([`SPENT`]).
    pub(super) fn nested_retries_over_a_spent_window(
        hits: &Arc<AtomicUsize>,
        metrics: Metrics,
        inner: RetryPolicy,
    ) -> impl Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Error> + Clone
    {
        ServiceBuilder::new()
            .layer(RetryLayer::new(exact().metrics(metrics.clone())))
            .layer(RetryLayer::new(inner))
            .layer(QuotaLayer::new().metrics(metrics))
            .service(upstream::<ReplayBody<Body>>(hits, |_| {
                (Some(Duration::ZERO), 200, SPENT)
            }))
    }

    /// The same through a `tower::buffer::Buffer` between the retry and
    /// quota layers, on a multi-thread runtime: the quota layer is called
    /// on the buffer's worker, on another thread, and the mark still
    /// reaches the retry layer (src/context/mod.rs: the buffer hands the
    /// layer's future back to the caller's task, which drops it with the
    /// attempt). A probe below the buffer says when the caller's task first
    /// polls the quota layer's future, holding the request.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn through_a_buffer_an_attempt_dropped_while_held_is_no_http_request() {
        let (provider, exporter) = sdk();
        let (hits, metrics) = (Arc::default(), Metrics::from_provider(&provider));
        let (polled, mut first_polls) = tokio::sync::mpsc::unbounded_channel();
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(exact().metrics(metrics.clone())))
            .buffer(4)
            .map_future(move |future| {
                let (polled, called_on) = (polled.clone(), std::thread::current().id());
                async move {
                    let _ = polled.send(called_on);
                    future.await
                }
            })
            .layer(QuotaLayer::new().metrics(metrics))
            .service(upstream::<Body>(&hits, |_| {
                (Some(Duration::ZERO), 200, SPENT)
            }));
        send(&client, "http://api.test/x").await;
        first_polls.recv().await.unwrap();
        let mut held = Box::pin(client.oneshot(get("http://api.test/x")));
        let called_on = tokio::select! {
            biased;
            _ = &mut held => panic!("the window is spent: held"),
            called_on = first_polls.recv() => called_on.unwrap(),
        };
        assert_ne!(called_on, std::thread::current().id(), "another thread");
        drop(held);
        assert_eq!(hits.load(Ordering::SeqCst), 1, "the held request unsent");
        assert_eq!(seen(&provider, &exporter, ATTEMPT, None).0, 1, "the first");
        assert_eq!(seen(&provider, &exporter, CALL, Some("cancelled")).0, 1);
        assert_eq!(seen(&provider, &exporter, CALL_ATTEMPTS, None), (2, 1.0));
    }

    /// The same under a nested retry layer, whose call sent nothing: the
    /// outer retry layer's attempt was held unsent too (src/context/mod.rs).
    /// The outer records; the inner, without metrics, does not. The outer
    /// once recorded its attempt as sent.
    #[tokio::test(start_paused = true)]
    async fn under_a_nested_retry_an_attempt_dropped_while_held_is_no_http_request() {
        let (provider, exporter) = sdk();
        let (hits, metrics) = (Arc::default(), Metrics::from_provider(&provider));
        let client = nested_retries_over_a_spent_window(&hits, metrics, exact());
        send(&client, "http://api.test/x").await;
        let held = client.oneshot(get("http://api.test/x"));
        assert!(tokio::time::timeout(Duration::from_secs(3), held)
            .await
            .is_err());
        assert_eq!(hits.load(Ordering::SeqCst), 1, "the held request unsent");
        assert_eq!(seen(&provider, &exporter, ATTEMPT, None).0, 1, "the first");
        assert_eq!(seen(&provider, &exporter, CALL, Some("cancelled")).0, 1);
        assert_eq!(seen(&provider, &exporter, CALL_ATTEMPTS, None), (2, 1.0));
    }

    /// The hedge answers first: the first attempt, cancelled, was sent
    /// too; the call is recorded once, by the hedge layer.
    #[tokio::test(start_paused = true)]
    async fn a_hedged_call_is_recorded_once_with_both_attempts() {
        let (provider, exporter) = sdk();
        let hits = Arc::default();
        let metrics = Metrics::from_provider(&provider);
        let client = ApiErrorsLayer::new()
            .retry(exact().metrics(metrics.clone()))
            .hedge(
                HedgeLayer::fixed(Duration::from_millis(100))
                    .no_budget()
                    .metrics(metrics),
            )
            .layer(upstream::<ReplayBody<Body>>(&hits, |n| {
                (
                    [
                        Some(Duration::from_secs(5)),
                        Some(Duration::from_millis(10)),
                    ][n.min(1)],
                    200,
                    &[],
                )
            }));
        client.oneshot(get("http://api.test/x")).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        assert_eq!(
            seen(&provider, &exporter, ATTEMPT, None).0,
            2,
            "each attempt sent"
        );
        assert_eq!(seen(&provider, &exporter, ATTEMPT, Some("cancelled")).0, 1);
        assert_eq!(seen(&provider, &exporter, CALL, None).0, 1);
        assert_eq!(seen(&provider, &exporter, CALL_ATTEMPTS, None), (1, 2.0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hedged_call_dropped_is_recorded() {
        let (provider, exporter) = sdk();
        let hits = Arc::default();
        let metrics = Metrics::from_provider(&provider);
        let client = ApiErrorsLayer::new()
            .retry(exact().metrics(metrics.clone()))
            .hedge(
                HedgeLayer::fixed(Duration::from_millis(100))
                    .no_budget()
                    .metrics(metrics),
            )
            .layer(upstream::<ReplayBody<Body>>(&hits, |_| (None, 200, &[])));
        let call = client.oneshot(get("http://api.test/x"));
        assert!(tokio::time::timeout(Duration::from_secs(1), call)
            .await
            .is_err());
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        assert_eq!(seen(&provider, &exporter, ATTEMPT, Some("cancelled")).0, 2);
        assert_eq!(seen(&provider, &exporter, CALL, Some("cancelled")).0, 1);
        assert_eq!(seen(&provider, &exporter, CALL_ATTEMPTS, None), (1, 2.0));
    }
}

/// `tower_api_errors.call.attempts` is "the attempts it sent", as
/// `RetryReport::attempts` counts them (src/metrics/mod.rs, the table):
/// the same count as the call's report when it ends (tests/tracing.rs,
/// `requests_sent`, for its `finished` event; `dropped` above for a call
/// dropped). Both once counted an attempt the quota layer refused, or
/// held unsent until the call's deadline, as made.
mod attempts_sent {
    use super::dropped::{nested_retries_over_a_spent_window, seen, SPENT};
    use super::scripted::{delayed as upstream, exact, get, send};
    use crate::metrics_example::sdk;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::Duration;
    use tower::{ServiceBuilder, ServiceExt};
    use tower_api_errors::metrics::Metrics;
    use tower_api_errors::quota::QuotaLayer;
    use tower_api_errors::{ErrorKind, RetryLayer};

    const ATTEMPT: &str = "http.client.request.duration";
    const CALL_ATTEMPTS: &str = "tower_api_errors.call.attempts";

    /// A 503 spends the window for a minute and asks for a retry in 1 s;
    /// the quota layer refuses the retry, which may not wait that long: one
    /// attempt sent.
    #[tokio::test(start_paused = true)]
    async fn a_retry_the_quota_refused_is_not_counted() {
        let (provider, exporter) = sdk();
        let (hits, metrics) = (Arc::default(), Metrics::from_provider(&provider));
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(exact().metrics(metrics.clone())))
            .layer(
                QuotaLayer::new()
                    .max_wait(Duration::from_secs(1))
                    .metrics(metrics),
            )
            .service(upstream(&hits, |_| {
                let spent = &[
                    ("retry-after", "1"),
                    ("x-ratelimit-limit", "1"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "60"),
                ];
                (Some(Duration::ZERO), 503, spent)
            }));
        let error = client.oneshot(get("http://api.test/x")).await.unwrap_err();
        assert!(error.rate_limited().is_some(), "{error}");
        assert_eq!(hits.load(Ordering::SeqCst), 1, "the retry unsent");
        assert_eq!(error.retries().attempts(), 1, "{error}");
        assert_eq!(seen(&provider, &exporter, ATTEMPT, None).0, 1);
        assert_eq!(seen(&provider, &exporter, CALL_ATTEMPTS, None), (1, 1.0));
    }

    /// The call's deadline (3 s) passes while the quota holds its attempt
    /// (10 s): no attempt sent, and no HTTP request recorded for it.
    #[tokio::test(start_paused = true)]
    async fn a_call_whose_deadline_cut_a_held_attempt_counts_none() {
        let (provider, exporter) = sdk();
        let (hits, metrics) = (Arc::default(), Metrics::from_provider(&provider));
        let policy = exact().deadline(Duration::from_secs(3));
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(policy.metrics(metrics.clone())))
            .layer(QuotaLayer::new().metrics(metrics))
            .service(upstream(&hits, |_| (Some(Duration::ZERO), 200, SPENT)));
        send(&client, "http://api.test/x").await;
        let error = client.oneshot(get("http://api.test/x")).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Transport, "{error}");
        assert_eq!(hits.load(Ordering::SeqCst), 1, "the held request unsent");
        assert_eq!(error.retries().attempts(), 0, "{error}");
        assert_eq!(seen(&provider, &exporter, ATTEMPT, None).0, 1, "the first");
        assert_eq!(seen(&provider, &exporter, CALL_ATTEMPTS, None), (2, 1.0));
    }

    /// The same under a nested retry layer, whose deadline cut the held
    /// attempt: its call sent nothing, so neither did the outer retry
    /// layer's attempt (which once counted it, and recorded an HTTP
    /// request for it). The outer records; the inner, without metrics,
    /// does not.
    #[tokio::test(start_paused = true)]
    async fn under_a_nested_retry_a_call_that_sent_nothing_counts_none() {
        let (provider, exporter) = sdk();
        let (hits, metrics) = (Arc::default(), Metrics::from_provider(&provider));
        let inner = exact().deadline(Duration::from_secs(3));
        let client = nested_retries_over_a_spent_window(&hits, metrics, inner);
        send(&client, "http://api.test/x").await;
        let error = client.oneshot(get("http://api.test/x")).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Transport, "{error}");
        assert_eq!(hits.load(Ordering::SeqCst), 1, "the held request unsent");
        assert_eq!(error.retries().attempts(), 0, "{error}");
        assert_eq!(seen(&provider, &exporter, ATTEMPT, None).0, 1, "the first");
        assert_eq!(seen(&provider, &exporter, CALL_ATTEMPTS, None), (2, 1.0));
    }
}

/// A wait its caller cuts short is recorded as waited, not as planned:
/// `tower_api_errors.wait.duration` is "with each wait counted above: its
/// length" (src/metrics/mod.rs, the table). Each caller here gives up 3 s
/// into a 10 s wait: one wait of 3 s, whichever layer waited.
mod cut_short {
    use super::scripted::{self, delayed as upstream, exact, get};
    use crate::metrics_example::{points, sdk, Point};
    use bytes::Bytes;
    use http::Request;
    use http_body_util::Full;
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};
    use std::future::Future;
    use std::sync::Arc;
    use std::time::Duration;
    use tower::{service_fn, BoxError, Layer, ServiceBuilder, ServiceExt};
    use tower_api_errors::auth::{AuthLayer, Credential, TokenFuture, TokenSource};
    use tower_api_errors::metrics::Metrics;
    use tower_api_errors::quota::QuotaLayer;
    use tower_api_errors::{ErrorBodyParseLayer, RetryLayer};

    /// (count, sum) of `tower_api_errors.waits` and of
    /// `tower_api_errors.wait.duration` with wait source `source`.
    fn waits(
        provider: &SdkMeterProvider,
        exporter: &InMemoryMetricExporter,
        source: &str,
    ) -> (u64, u64, f64) {
        provider.force_flush().unwrap();
        let points: Vec<Point> = points(&exporter.get_finished_metrics().unwrap());
        let of = |metric: &str| {
            let source = |p: &&Point| {
                p.attributes
                    .get("tower_api_errors.wait.source")
                    .map(String::as_str)
                    == Some(source)
            };
            let matching = points.iter().filter(|p| p.metric == metric).filter(source);
            matching.fold((0, 0.0), |(n, sum), p| (n + p.count, sum + p.sum))
        };
        let (counted, (recorded, waited)) = (
            of("tower_api_errors.waits").0,
            of("tower_api_errors.wait.duration"),
        );
        (counted, recorded, waited)
    }

    /// Gives `call` up after 3 s.
    async fn give_up<T>(call: impl Future<Output = T>) {
        assert!(tokio::time::timeout(Duration::from_secs(3), call)
            .await
            .is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_wait_cut_short_is_recorded_as_waited() {
        let (provider, exporter) = sdk();
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(
                exact().metrics(Metrics::from_provider(&provider)),
            ))
            .layer(ErrorBodyParseLayer::new())
            .service(upstream(&Arc::default(), |_| {
                (Some(Duration::ZERO), 503, &[("retry-after", "10")])
            }));
        give_up(client.oneshot(get("http://api.test/x"))).await;
        assert_eq!(waits(&provider, &exporter, "retry_after"), (1, 1, 3.0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_quota_hold_cut_short_is_recorded_as_waited() {
        let (provider, exporter) = sdk();
        let spent = [
            ("x-ratelimit-limit", "1"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "10"),
        ];
        let client = QuotaLayer::new()
            .metrics(Metrics::from_provider(&provider))
            .layer(service_fn(move |_: Request<Full<Bytes>>| async move {
                Ok::<_, BoxError>(scripted::reply(200, &spent, "{}"))
            }));
        // Learns the spent window; the next request is held 10 s.
        client
            .clone()
            .oneshot(get("http://api.test/a"))
            .await
            .unwrap();
        give_up(client.oneshot(get("http://api.test/a"))).await;
        assert_eq!(waits(&provider, &exporter, "quota"), (1, 1, 3.0));
    }

    /// A token source whose every load takes 10 s.
    pub(super) struct Slow;

    impl TokenSource for Slow {
        fn current(&self) -> TokenFuture<'_> {
            Box::pin(async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok(Credential::new("t1").unwrap())
            })
        }
        fn refresh<'a>(&'a self, _: &'a Credential) -> TokenFuture<'a> {
            self.current()
        }
    }

    /// The wait for the first credential, cut short, is recorded too (it
    /// was not at all).
    #[tokio::test(start_paused = true)]
    async fn an_auth_wait_cut_short_is_recorded_as_waited() {
        let (provider, exporter) = sdk();
        let client = AuthLayer::new(Slow)
            .metrics(Metrics::from_provider(&provider))
            .layer(service_fn(|_: Request<Full<Bytes>>| async {
                Ok::<_, BoxError>(scripted::reply(200, &[], "{}"))
            }));
        give_up(client.clone().oneshot(get("http://api.test/a"))).await;
        assert_eq!(waits(&provider, &exporter, "auth"), (1, 1, 3.0));
        // A wait that ends records its whole length, as before: the load
        // goes on, and its credential comes 7 s later.
        client.oneshot(get("http://api.test/a")).await.unwrap();
        assert_eq!(waits(&provider, &exporter, "auth"), (2, 2, 3.0 + 7.0));
    }
}
