//! A `redis-server` of the test's own, on a free loopback port, without
//! persistence; killed when dropped. Standalone, or one node of a cluster.
//!
//! Needs `redis-server` on the PATH: in CI (`CI` set) its absence fails the
//! run; on a developer machine the failure says how to install it.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A `redis-server` of our own; killed when dropped.
pub struct RedisServer {
    child: Child,
    pub port: u16,
    _dir: Option<TempDir>,
}

/// A directory removed when dropped (a cluster node's `nodes.conf`).
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl RedisServer {
    /// A standalone server on `port`.
    pub fn start(port: u16) -> RedisServer {
        RedisServer::spawn(port, &[], None)
    }

    /// A cluster node on `port` (its config in a directory of its own).
    pub fn cluster_node(port: u16) -> RedisServer {
        let dir =
            std::env::temp_dir().join(format!("tae-redis-node-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let args = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
        ];
        RedisServer::spawn(port, &args, Some(TempDir(dir)))
    }

    fn spawn(port: u16, extra: &[&str], dir: Option<TempDir>) -> RedisServer {
        let port_text = port.to_string();
        let mut args = vec![
            "--port",
            &port_text,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ];
        args.extend_from_slice(extra);
        let mut command = Command::new("redis-server");
        command
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(dir) = &dir {
            command.current_dir(&dir.0);
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) if std::env::var_os("CI").is_some() => {
                panic!("redis-server is missing in CI ({error}): .ci/run installs it")
            }
            Err(error) => panic!(
                "these tests need a local redis-server ({error}): apt-get install redis-server"
            ),
        };
        // Event-driven readiness: Redis logs this line once it listens.
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines
            .by_ref()
            .take(200)
            .map_while(Result::ok)
            .any(|line| line.contains("Ready to accept connections"));
        assert!(ready, "redis-server on port {port} did not start");
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        RedisServer {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A three-node Redis Cluster of our own (no replicas), every slot
/// assigned, `cluster_state:ok` on every node.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub async fn start() -> RedisCluster {
        RedisCluster::start_on(&[free_port(), free_port(), free_port()]).await
    }

    /// A cluster of fresh nodes on `ports` (a cluster built again where
    /// one was: its clients' seed URLs find the new one).
    pub async fn start_on(ports: &[u16]) -> RedisCluster {
        let nodes: Vec<RedisServer> = ports
            .iter()
            .map(|port| RedisServer::cluster_node(*port))
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("redis-cli (apt-get install redis-tools)");
        let said = String::from_utf8_lossy(&created.stdout);
        assert!(
            said.contains("All 16384 slots covered"),
            "cluster create: {said}"
        );
        // Each node reports the cluster ok once the others' gossip reached it.
        for node in &nodes {
            until_cluster_state(node.port, "ok").await;
        }
        RedisCluster { nodes }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}

/// The number `INFO <section>` gives for `field` (`process_id`,
/// `total_commands_processed`, ...), on `connection`.
pub async fn info_number(
    connection: &mut redis::aio::MultiplexedConnection,
    section: &str,
    field: &str,
) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg(section)
        .query_async(connection)
        .await
        .unwrap();
    let prefix = format!("{field}:");
    let value = info.lines().find_map(|l| l.strip_prefix(prefix.as_str()));
    value
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
        .trim()
        .parse()
        .unwrap()
}

/// The calls of `command` (e.g. `evalsha`) Redis counted, from
/// `INFO commandstats`: (calls, failed + rejected).
pub async fn command_stats(
    connection: &mut redis::aio::MultiplexedConnection,
    command: &str,
) -> (u64, u64) {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(connection)
        .await
        .unwrap();
    let prefix = format!("cmdstat_{command}:");
    let Some(line) = info.lines().find(|l| l.starts_with(&prefix)) else {
        return (0, 0);
    };
    let field = |name: &str| {
        line[prefix.len()..]
            .split(',')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (
        field("calls"),
        field("failed_calls") + field("rejected_calls"),
    )
}

/// A connection of our own to the Redis at `url` (to read, break or
/// flush what the stores under test keep there).
pub async fn admin(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Polls `CLUSTER INFO` on node `port` until it says `cluster_state:<state>`
/// (gossip has no event to wait on), for 15 s at most.
pub async fn until_cluster_state(port: u16, state: &str) {
    let mut connection = admin(&format!("redis://127.0.0.1:{port}/")).await;
    let want = format!("cluster_state:{state}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let info: String = redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async(&mut connection)
            .await
            .unwrap();
        if info.contains(&want) {
            return;
        }
        let now = std::time::Instant::now();
        assert!(now < deadline, "node {port} never said {want}");
        tokio::task::yield_now().await;
    }
}
