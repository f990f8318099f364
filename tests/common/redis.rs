//! Real `redis-server` processes on free 127.0.0.1 ports: one standalone
//! server, or a Redis Cluster of 3 primaries and 3 replicas. Each is
//! stopped (and its files removed) when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's `redis-server` and `redis-cli` are; CI installs them.
fn bin(name: &str) -> String {
    let path = format!("/usr/bin/{name}");
    if std::path::Path::new(&path).exists() {
        path
    } else {
        name.to_string()
    }
}

/// A free port whose cluster bus port (+10000) is free too.
pub fn free_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        drop(l);
        if port > 55_000 {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: PathBuf,
    extra: Vec<String>,
    /// redis-cli's own options for this server (TLS, password).
    cli_opts: Vec<String>,
    tls: bool,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// A standalone server with extra `--option value` arguments.
    pub fn start_with(extra: &[&str]) -> RedisServer {
        RedisServer::start_on(free_port(), extra, &[], false)
    }

    /// A server on `port` (chosen by the caller, e.g. to start a Redis a
    /// sidecar was already pointed at); `cli_opts` are what redis-cli needs
    /// to talk to it; `tls` puts it on TLS only.
    pub fn start_on(port: u16, extra: &[&str], cli_opts: &[&str], tls: bool) -> RedisServer {
        let dir = std::env::temp_dir().join(format!("retryd-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("redis dir");
        let mut s = RedisServer {
            port,
            child: None,
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            cli_opts: cli_opts.iter().map(|s| s.to_string()).collect(),
            tls,
        };
        s.spawn();
        s
    }

    /// TLS only, with the server certificate of `pki` (clients need not
    /// present one).
    pub fn start_tls(pki: &super::pki::Pki) -> RedisServer {
        let p = |f: &str| pki.path(f).display().to_string();
        RedisServer::start_on(
            free_port(),
            &[
                "--tls-cert-file",
                &p("server.pem"),
                "--tls-key-file",
                &p("server.key"),
                "--tls-ca-cert-file",
                &p("ca.pem"),
                "--tls-auth-clients",
                "no",
            ],
            &["--tls", "--cacert", &p("ca.pem")],
            true,
        )
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(bin("redis-server"));
        if self.tls {
            cmd.args(["--port", "0", "--tls-port"]);
        } else {
            cmd.arg("--port");
        }
        cmd.arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start redis-server ({e}): install Debian's redis-server (scripts/test does, as root)")
        });
        self.child = Some(child);
        self.wait_for_ping();
    }

    fn wait_for_ping(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.cli(&["PING"]).trim() == "PONG" {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not answer PING", self.port);
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/0", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Stops the server (its data is gone: no persistence).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// `redis-cli` against this server.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut all: Vec<&str> = self.cli_opts.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        cli(self.port, &all)
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn freeze(&self) {
        signal(self.pid(), "-STOP");
    }

    pub fn thaw(&self) {
        signal(self.pid(), "-CONT");
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill {sig} {pid}");
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SIGKILL ends a frozen (stopped) server too; thawing first is harmless.
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .args(["-CONT", &c.id().to_string()])
                .status();
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new(bin("redis-cli"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A Cluster node's options: a 1 s node timeout (failovers in seconds), and
/// replicas that sync at once (not after the default 5 s: a replica that
/// never synced cannot be promoted).
pub const CLUSTER_NODE: &[&str] = &[
    "--cluster-enabled",
    "yes",
    "--cluster-node-timeout",
    "1000",
    "--cluster-config-file",
    "nodes.conf",
    "--repl-diskless-sync-delay",
    "0",
];

/// `redis-cli --cluster create` of `addrs` (host:port), a replica each.
pub fn cluster_create(addrs: &[String]) {
    let out = Command::new(bin("redis-cli"))
        .args(["--cluster", "create"])
        .args(addrs)
        .args(["--cluster-replicas", "1", "--cluster-yes"])
        .output()
        .expect("redis-cli --cluster create");
    assert!(
        out.status.success(),
        "cluster create failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `redis-cli --cluster reshard` through `seed` (host:port): `slots` slots
/// and their keys from node id `from` to node id `to`.
pub fn cluster_reshard(seed: &str, from: &str, to: &str, slots: u32) {
    let out = Command::new(bin("redis-cli"))
        .args(["--cluster", "reshard", seed])
        .args(["--cluster-from", from, "--cluster-to", to])
        .args(["--cluster-slots", &slots.to_string(), "--cluster-yes"])
        .output()
        .expect("redis-cli --cluster reshard");
    assert!(
        out.status.success(),
        "reshard failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Redis Cluster: 3 primaries, each with one replica.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..6)
            .map(|_| RedisServer::start_with(CLUSTER_NODE))
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        cluster_create(&addrs);
        let c = RedisCluster { nodes };
        c.wait_ok();
        c.wait_replicas_synced();
        c
    }

    /// Waits until every replica's link to its primary is up.
    pub fn wait_replicas_synced(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for n in self.nodes.iter().filter(|n| n.child.is_some()) {
            loop {
                let info = n.cli(&["INFO", "replication"]);
                if info.contains("role:master") || info.contains("master_link_status:up") {
                    break;
                }
                assert!(Instant::now() < deadline, "replica {} never synced", n.port);
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Seed URLs of every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// Waits until every live node says the cluster is ok, all slots are
    /// served, and no primary is marked failing.
    pub fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = self.nodes.iter().filter(|n| n.child.is_some()).all(|n| {
                let info = n.cli(&["CLUSTER", "INFO"]);
                info.contains("cluster_state:ok")
                    && info.contains("cluster_slots_ok:16384")
                    && !n
                        .cli(&["CLUSTER", "NODES"])
                        .lines()
                        .any(|l| l.contains("master,fail") && !l.ends_with("disconnected"))
            });
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster did not become ok");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The ports of the primaries, by `CLUSTER NODES`.
    pub fn primaries(&self) -> Vec<u16> {
        let live = self
            .nodes
            .iter()
            .find(|n| n.child.is_some())
            .expect("a live node");
        live.cli(&["CLUSTER", "NODES"])
            .lines()
            .filter(|l| l.contains("master") && !l.contains("fail") && !l.ends_with("connected"))
            .filter_map(|l| {
                let addr = l.split_whitespace().nth(1)?;
                addr.split('@').next()?.rsplit(':').next()?.parse().ok()
            })
            .collect()
    }

    /// Moves `slots` slots (and their keys) from the primary on `from` to
    /// the primary on `to`, as an operator's resharding does.
    pub fn reshard(&self, from: u16, to: u16, slots: u32) {
        let id = |port: u16| {
            self.nodes
                .iter()
                .find(|n| n.port == port)
                .expect("node")
                .cli(&["CLUSTER", "MYID"])
                .trim()
                .to_string()
        };
        cluster_reshard(&format!("127.0.0.1:{from}"), &id(from), &id(to), slots);
        self.wait_ok();
    }

    pub fn node(&mut self, port: u16) -> &mut RedisServer {
        self.nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node on that port")
    }
}
