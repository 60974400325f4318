//! `ResponseHints::read`: a realistic failure's headers, and hostile
//! rate-limit fields from 4 KB to 400 KB (throughput in bytes, so the
//! report reads as cost per KB). Each case has a same-run baseline: one
//! pass over the same header map that only checks every value is text
//! (`HeaderValue::to_str`), the floor any reader pays.
//!
//! `COUNT=<row> ITERS=<n>` runs one realistic row n times without
//! criterion, for instruction counts (`benches/instructions.sh hints 4`):
//! even rows are the floor, odd rows `ResponseHints::read`.

use criterion::{black_box, BenchmarkId, Criterion, Throughput};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tower_api_errors::hints::ResponseHints;

fn map(pairs: &[(&str, String)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    headers
}

/// The floor: visit every header once and check its value is text.
fn floor(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(_, value)| value.to_str().map_or(0, str::len))
        .sum()
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_724_244_000)
}

/// An Anthropic 429 as sent (Cloudflare in front), 17 headers.
fn anthropic_429() -> HeaderMap {
    let s = |v: &str| v.to_string();
    map(&[
        ("date", s("Thu, 21 Aug 2025 12:41:00 GMT")),
        ("content-type", s("application/json")),
        ("retry-after", s("12")),
        ("x-should-retry", s("true")),
        ("anthropic-ratelimit-input-tokens-limit", s("80000")),
        ("anthropic-ratelimit-input-tokens-remaining", s("0")),
        (
            "anthropic-ratelimit-input-tokens-reset",
            s("2025-08-21T12:41:12Z"),
        ),
        ("anthropic-ratelimit-output-tokens-limit", s("16000")),
        ("anthropic-ratelimit-output-tokens-remaining", s("16000")),
        (
            "anthropic-ratelimit-output-tokens-reset",
            s("2025-08-21T12:41:00Z"),
        ),
        ("anthropic-ratelimit-requests-limit", s("1000")),
        ("anthropic-ratelimit-requests-remaining", s("999")),
        (
            "anthropic-ratelimit-requests-reset",
            s("2025-08-21T12:40:59Z"),
        ),
        ("request-id", s("req_011CSLsW7mFqvHHnzrKdKjAE")),
        ("via", s("1.1 google")),
        ("server", s("cloudflare")),
        ("cf-ray", s("972a33bb3977d246-FRA")),
    ])
}

/// A GitHub 403 rate limit, 9 headers.
fn github_403() -> HeaderMap {
    let s = |v: &str| v.to_string();
    map(&[
        ("date", s("Thu, 21 Aug 2025 12:41:00 GMT")),
        ("content-type", s("application/json; charset=utf-8")),
        ("x-ratelimit-limit", s("60")),
        ("x-ratelimit-remaining", s("0")),
        ("x-ratelimit-reset", s("1755780120")),
        ("x-ratelimit-used", s("60")),
        ("x-ratelimit-resource", s("core")),
        ("x-github-request-id", s("CA4E:3A8B:1F2D3C:2E3F4A:66C5E1B4")),
        ("server", s("github.com")),
    ])
}

fn realistic_rows() -> [(&'static str, HeaderMap); 2] {
    [
        ("anthropic 429", anthropic_429()),
        ("github 403", github_403()),
    ]
}

fn realistic(c: &mut Criterion) {
    let mut group = c.benchmark_group("hints/read");
    for (name, headers) in realistic_rows() {
        group.bench_with_input(BenchmarkId::new("floor", name), &headers, |b, h| {
            b.iter(|| floor(black_box(h)))
        });
        group.bench_with_input(BenchmarkId::new("ResponseHints", name), &headers, |b, h| {
            b.iter(|| ResponseHints::read(black_box(h), now()))
        });
    }
    group.finish();
}

/// `COUNT=<row> ITERS=<n>`: one realistic row, `n` times.
fn count(row: usize, iters: u64) {
    let (name, headers) = &realistic_rows()[row / 2];
    if row.is_multiple_of(2) {
        eprintln!("row {row}: floor, {name}");
        for _ in 0..iters {
            black_box(floor(black_box(headers)));
        }
    } else {
        eprintln!("row {row}: ResponseHints::read, {name}");
        for _ in 0..iters {
            black_box(ResponseHints::read(black_box(headers), now()));
        }
    }
}

/// Issue #13's attack: long `RateLimit` + `RateLimit-Policy` fields, and a
/// single member with a huge parameter list (the one shape whose reading
/// cannot stop early).
fn hostile(c: &mut Criterion) {
    let mut group = c.benchmark_group("hints/hostile");
    group.sample_size(20);
    for kb in [4usize, 40, 400] {
        let members = kb * 1024 / 40;
        let policies: String = (0..members)
            .map(|i| format!("\"p{i:06}\";q=100;w=60;qu=\"r\","))
            .collect();
        let states: String = (0..members)
            .map(|i| format!("\"p{i:06}\";r=0;t=30;x=1234,"))
            .collect();
        let many = map(&[("ratelimit-policy", policies), ("ratelimit", states)]);
        let long = map(&[(
            "ratelimit",
            format!("\"x\"{}", ";r=1".repeat(kb * 1024 / 4)),
        )]);
        for (shape, headers) in [("many members", many), ("one long member", long)] {
            let bytes: usize = headers.iter().map(|(_, v)| v.len()).sum();
            group.throughput(Throughput::Bytes(bytes as u64));
            let id = format!("{shape} {kb} KB");
            group.bench_with_input(BenchmarkId::new("floor", &id), &headers, |b, h| {
                b.iter(|| floor(black_box(h)))
            });
            group.bench_with_input(BenchmarkId::new("ResponseHints", &id), &headers, |b, h| {
                b.iter(|| ResponseHints::read(black_box(h), now()))
            });
        }
    }
    group.finish();
}

fn main() {
    let env = |name| std::env::var(name).ok().and_then(|v| v.parse().ok());
    if let (Some(row), Some(iters)) = (env("COUNT"), env("ITERS")) {
        count(row as usize, iters);
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    realistic(&mut criterion);
    hostile(&mut criterion);
    criterion.final_summary();
}
