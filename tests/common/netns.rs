//! Network namespaces this test makes itself, so that a Redis node can be
//! cut off with its sockets still open: every node in a namespace of its
//! own, all joined by a bridge in a hub namespace, and this process (in
//! the root namespace) on the same bridge. A partition is an `nftables`
//! table in the node's namespace that drops every packet in and out
//! (`tc netem` is not in this kernel). Everything is removed on drop.
//!
//! Needs root (`ip netns`, `nft`); the subnet is 10.A.B.0/24 with A and B
//! taken from the process id, so that two test processes do not meet.

use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (Debian's iproute2 and nftables)", args.join(" ")));
    assert!(
        out.status.success(),
        "{}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether this machine lets a test make namespaces (root, `ip`, `nft`).
pub fn available() -> bool {
    static PROBES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let k = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = format!("rdprobe{}-{k}", std::process::id() % 100_000);
    let ok = Command::new("ip")
        .args(["netns", "add", &probe])
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        let _ = Command::new("ip").args(["netns", "del", &probe]).status();
    }
    ok && Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

pub struct Net {
    tag: String,
    /// The subnet's second and third octets.
    a: u8,
    b: u8,
    hub: String,
    nodes: Vec<String>,
}

impl Net {
    pub fn new() -> Net {
        static MADE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);
        let k = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 10;
        let pid = std::process::id();
        let tag = format!("rd{}{k}", pid % 10_000);
        // 10.A.B.0/24: A and B from the process id and k, so that two
        // test processes (or two nets of one) do not share a subnet.
        let (a, b) = (100 + (pid % 150) as u8, k + 10 * ((pid / 150) % 25) as u8);
        let hub = format!("{tag}hub");
        let net = Net {
            tag,
            a,
            b,
            hub,
            nodes: Vec::new(),
        };
        // Leftovers of a killed run with the same tag go first.
        net.remove();
        run(&["ip", "netns", "add", &net.hub]);
        net.in_hub(&["ip", "link", "add", "br0", "type", "bridge"]);
        net.in_hub(&["ip", "link", "set", "br0", "up"]);
        let root = format!("{}r", net.tag);
        let peer = format!("{}rp", net.tag);
        run(&[
            "ip", "link", "add", &root, "type", "veth", "peer", "name", &peer,
        ]);
        run(&["ip", "link", "set", &peer, "netns", &net.hub]);
        net.in_hub(&["ip", "link", "set", &peer, "master", "br0", "up"]);
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{}/24", net.root_ip()),
            "dev",
            &root,
        ]);
        run(&["ip", "link", "set", &root, "up"]);
        net
    }

    fn in_hub(&self, args: &[&str]) {
        let mut all = vec!["ip", "netns", "exec", &self.hub];
        all.extend_from_slice(args);
        run(&all);
    }

    /// This process's address on the bridge.
    pub fn root_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.a, self.b, 1)
    }

    /// A namespace for node `i` (its address 10.X.0.(10+i)); its name.
    pub fn add_node(&mut self) -> (String, Ipv4Addr) {
        let i = self.nodes.len();
        let ns = format!("{}n{i}", self.tag);
        let ip = Ipv4Addr::new(10, self.a, self.b, 10 + i as u8);
        let (inner, outer) = (format!("{}n{i}a", self.tag), format!("{}n{i}b", self.tag));
        run(&["ip", "netns", "add", &ns]);
        self.nodes.push(ns.clone());
        run(&[
            "ip", "link", "add", &inner, "type", "veth", "peer", "name", &outer,
        ]);
        run(&["ip", "link", "set", &inner, "netns", &ns]);
        run(&["ip", "link", "set", &outer, "netns", &self.hub]);
        self.in_hub(&["ip", "link", "set", &outer, "master", "br0", "up"]);
        let exec = |args: &[&str]| {
            let mut all = vec!["ip", "netns", "exec", ns.as_str()];
            all.extend_from_slice(args);
            run(&all);
        };
        exec(&["ip", "addr", "add", &format!("{ip}/24"), "dev", &inner]);
        exec(&["ip", "link", "set", &inner, "up"]);
        exec(&["ip", "link", "set", "lo", "up"]);
        (ns, ip)
    }

    /// Drops every packet in and out of `ns` (loopback aside): its sockets
    /// stay open and nothing answers.
    pub fn cut(&self, ns: &str) {
        let rules = "table inet partition {\n\
             chain input { type filter hook input priority -100; policy drop; iif lo accept; }\n\
             chain output { type filter hook output priority -100; policy drop; oif lo accept; }\n\
             }\n";
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("nft");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(rules.as_bytes())
            .expect("nft rules");
        assert!(child.wait().expect("nft").success(), "nft -f in {ns}");
    }

    /// Lets `ns`'s packets through again.
    pub fn heal(&self, ns: &str) {
        run(&[
            "ip",
            "netns",
            "exec",
            ns,
            "nft",
            "delete",
            "table",
            "inet",
            "partition",
        ]);
    }

    fn remove(&self) {
        let quiet = |args: &[&str]| {
            let _ = Command::new(args[0])
                .args(&args[1..])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        quiet(&["ip", "link", "del", &format!("{}r", self.tag)]);
        for i in 0..8 {
            quiet(&["ip", "netns", "del", &format!("{}n{i}", self.tag)]);
        }
        quiet(&["ip", "netns", "del", &self.hub]);
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A `redis-server` in a namespace, on its address there.
pub struct NsRedis {
    pub ns: String,
    pub ip: Ipv4Addr,
    pub port: u16,
    child: Option<Child>,
    args: Vec<String>,
    dir: std::path::PathBuf,
}

impl NsRedis {
    pub fn start(ns: &str, ip: Ipv4Addr, port: u16, extra: &[&str]) -> NsRedis {
        let dir =
            std::env::temp_dir().join(format!("retryd-nsredis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("redis dir");
        let mut r = NsRedis {
            ns: ns.to_string(),
            ip,
            port,
            child: None,
            args: extra.iter().map(|s| s.to_string()).collect(),
            dir,
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "redis-server"])
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                &self.ip.to_string(),
            ])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server in a namespace");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.cli(&["PING"]).trim() != "PONG" {
            assert!(
                Instant::now() < deadline,
                "redis-server in {} did not answer",
                self.ns
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis-cli` from the root namespace (at most 2 s: a cut-off node
    /// never answers).
    pub fn cli(&self, args: &[&str]) -> String {
        ns_cli(self.ip, self.port, args)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Starts it again (a pod restarted): same namespace, port and files.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {}", self.pid());
    }
}

/// `redis-cli` to `ip:port`, bounded by 2 s.
pub fn ns_cli(ip: Ipv4Addr, port: u16, args: &[&str]) -> String {
    let out = Command::new("timeout")
        .args([
            "2",
            "redis-cli",
            "-h",
            &ip.to_string(),
            "-p",
            &port.to_string(),
        ])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Drop for NsRedis {
    fn drop(&mut self) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .args(["-CONT", &c.id().to_string()])
                .status();
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
