//! Peak memory of many concurrent failing requests with large error bodies,
//! measured as this process's peak resident set (`VmHWM`, Linux).
//!
//! ```text
//! cargo run --release --example memory_peak -- layer 10000     # ErrorBodyParseLayer, 64 KiB cap
//! cargo run --release --example memory_peak -- collect 1000    # naive: collect each body whole
//! ```
//!
//! Every error body streams 1 MiB in 16 KiB chunks, yielding between chunks
//! so that all requests read in lockstep: the worst case for peak memory.
//! Each chunk is a fresh buffer, as a network body delivers them, so what a
//! request holds at its peak is what its reader keeps.

use bytes::Bytes;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::BodyExt;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower::{service_fn, Layer, ServiceExt};
use tower_api_errors::ErrorBodyParseLayer;

const CHUNK: usize = 16 * 1024;
const BODY: usize = 1024 * 1024;
static DATA: [u8; CHUNK] = [b'x'; CHUNK];

/// 1 MiB of error body, one chunk per poll, yielding in between.
#[derive(Debug)]
struct LargeBody {
    sent: usize,
    yielded: bool,
}

impl http_body::Body for LargeBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.sent >= BODY {
            return Poll::Ready(None);
        }
        if !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.yielded = false;
        self.sent += CHUNK;
        // A fresh buffer per chunk, as a network body delivers them.
        Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(&DATA)))))
    }
}

fn upstream() -> impl tower::Service<
    Request<()>,
    Response = Response<LargeBody>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(
            Response::builder()
                .status(500)
                .body(LargeBody {
                    sent: 0,
                    yielded: false,
                })
                .unwrap(),
        )
    })
}

/// Peak and current resident set, in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "layer".into());
    let concurrency: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (_, before) = memory_kib();
    let failures = runtime.block_on(async {
        let mut tasks = Vec::with_capacity(concurrency);
        for _ in 0..concurrency {
            let mode = mode.clone();
            tasks.push(tokio::spawn(async move {
                match mode.as_str() {
                    "collect" => {
                        let response = upstream().oneshot(Request::new(())).await.unwrap();
                        !response
                            .into_body()
                            .collect()
                            .await
                            .unwrap()
                            .to_bytes()
                            .is_empty()
                    }
                    _ => {
                        let service = ErrorBodyParseLayer::new().layer(upstream());
                        let error = service.oneshot(Request::new(())).await.unwrap_err();
                        error.api().is_some_and(|api| api.is_truncated())
                    }
                }
            }));
        }
        let mut failures = 0;
        for task in tasks {
            failures += usize::from(task.await.unwrap());
        }
        failures
    });
    let (peak, _) = memory_kib();
    let per_request = (peak.saturating_sub(before)) as f64 / concurrency as f64;
    println!(
        "mode={mode} concurrency={concurrency} failures={failures} rss_before={:.1}MiB peak={:.1}MiB per_request={per_request:.1}KiB",
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
    );
}
