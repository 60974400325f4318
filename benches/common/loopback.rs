//! The loopback harness shared by `benches/loopback.rs` and the peers
//! comparison (`benches/peers`): a hyper server in a child process pinned to
//! its own core, a single-threaded client pinned to another, many requests
//! in flight, bodies read, clients measured in interleaved rounds.
#![allow(dead_code)]

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use std::convert::Infallible;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// Requests in flight at once.
pub const IN_FLIGHT: usize = 64;
/// The environment variable that turns the bench binary into the server.
const SERVE: &str = "LOOPBACK_SERVE";

/// The core the server runs on, and the client's.
pub const SERVER_CORE: &str = "1";
pub const CLIENT_CORE: &str = "0";

/// One request through a tower `client` (made with [`request`]), its
/// body read to the end: the sender [`throughput`] drives, for every
/// tower client of both loopback benches. The URI is parsed once, as the
/// reqwest senders keep their URL string: each request clones it.
macro_rules! tower_sender {
    ($client:expr, $addr:expr) => {{
        let client = $client;
        let uri = $crate::harness::uri($addr);
        move || {
            let client = client.clone();
            let uri = uri.clone();
            async move {
                let response = tower::ServiceExt::oneshot(client, $crate::harness::request(uri))
                    .await
                    .unwrap();
                http_body_util::BodyExt::collect(response.into_body())
                    .await
                    .unwrap();
            }
        }
    }};
}
pub(crate) use tower_sender;

/// The URI every request asks for.
pub fn uri(addr: SocketAddr) -> http::Uri {
    format!("http://{addr}/v1/items?page=2&per_page=50")
        .parse()
        .unwrap()
}

/// A typical GET of `uri`: a query and two header values.
pub fn request(uri: http::Uri) -> Request<Full<Bytes>> {
    Request::get(uri)
        .header("accept", "application/json")
        .header("authorization", "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// When this process was started as the server, serves until killed and
/// returns true.
pub fn serve_if_asked() -> bool {
    if std::env::var_os(SERVE).is_none() {
        return false;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(serve());
    true
}

async fn serve() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("{}", listener.local_addr().unwrap());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|_request| async {
                // A success as APIs send them: a few headers and a small
                // JSON body.
                Ok::<_, Infallible>(
                    Response::builder()
                        .header("content-type", "application/json")
                        .header("date", "Mon, 23 Nov 2026 21:00:00 GMT")
                        .header("x-request-id", "req_8f3c2a1b9d7e4f60")
                        .header("x-ratelimit-limit", "5000")
                        .header("x-ratelimit-remaining", "4987")
                        .header("x-ratelimit-reset", "1795338000")
                        .body(Full::new(Bytes::from_static(
                            br#"{"id": 1, "name": "widget", "price": 9.5}"#,
                        )))
                        .unwrap(),
                )
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The server child process; killed on drop.
pub struct Server {
    child: Child,
    /// Its address.
    pub addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts this binary again as the server, pinned to [`SERVER_CORE`] with
/// `taskset` when it is installed (unpinned otherwise, and said so).
pub fn spawn_server() -> Server {
    let exe = std::env::current_exe().unwrap();
    let pinned = Command::new("taskset")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let mut command = if pinned {
        let mut command = Command::new("taskset");
        command.args(["-c", SERVER_CORE]).arg(exe);
        command
    } else {
        eprintln!("taskset not found: the server is not pinned");
        Command::new(exe)
    };
    let mut child = command
        .env(SERVE, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    Server {
        child,
        addr: line.trim().parse().unwrap(),
    }
}

/// A single-threaded client runtime (pin the process with
/// `taskset -c 0`).
pub fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Sends `total` requests with `send`, [`IN_FLIGHT`] at a time; returns
/// requests per second.
pub fn throughput<F, Fut>(runtime: &tokio::runtime::Runtime, total: usize, send: F) -> f64
where
    F: Fn() -> Fut + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let local = tokio::task::LocalSet::new();
    let start = Instant::now();
    local.block_on(runtime, async move {
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..IN_FLIGHT {
            let send = send.clone();
            workers.spawn_local(async move {
                for _ in 0..total / IN_FLIGHT {
                    send().await;
                }
            });
        }
        while let Some(done) = workers.join_next().await {
            done.unwrap();
        }
    });
    (total / IN_FLIGHT * IN_FLIGHT) as f64 / start.elapsed().as_secs_f64()
}

/// The median of `values`.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Reads `name=value` from the arguments or the environment: the number of
/// rounds and requests per round.
pub fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `rounds` rounds; each round measures every client once, in an
/// order rotated each round; prints each client's median throughput and
/// the median of its per-round ratio to its baseline (`baseline_of[i]`).
pub fn report(names: &[&str], baseline_of: &[usize], rounds: &[Vec<f64>]) {
    println!(
        "{:<48} {:>12} {:>10} {:>22}",
        "client", "median req/s", "÷ baseline", "per-round ratios"
    );
    for (i, name) in names.iter().enumerate() {
        let mut own: Vec<f64> = rounds.iter().map(|r| r[i]).collect();
        let mut ratios: Vec<f64> = rounds.iter().map(|r| r[i] / r[baseline_of[i]]).collect();
        let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.3}")).collect();
        println!(
            "{:<48} {:>12.0} {:>10.3}   {}",
            name,
            median(&mut own),
            median(&mut ratios),
            shown.join(" ")
        );
    }
}
