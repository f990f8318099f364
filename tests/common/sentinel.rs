//! A primary with two replicas under three real Redis Sentinels
//! (`redis-server --sentinel`), on free 127.0.0.1 ports; all stopped (and
//! their files removed) when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::redis::{RedisServer, cli, free_port};

/// The name the Sentinels monitor the primary under.
pub const MASTER: &str = "mymaster";

pub struct SentinelGroup {
    /// The primary first, then the replicas (roles change with failovers).
    pub servers: Vec<RedisServer>,
    pub sentinel_ports: Vec<u16>,
    /// The Sentinels' own password and the servers', when they have them.
    auth: Option<(String, String)>,
    /// redis-cli's options for the Sentinels (TLS).
    sentinel_cli: Vec<String>,
    /// `tls_ca` for `[state.redis]`, with TLS.
    ca: Option<String>,
    sentinels: Vec<Child>,
    dir: PathBuf,
}

impl SentinelGroup {
    pub fn start() -> SentinelGroup {
        SentinelGroup::start_with(None)
    }

    /// With `auth`: Sentinels that want the password `auth.0`, servers that
    /// want `auth.1`.
    pub fn start_with(auth: Option<(&str, &str)>) -> SentinelGroup {
        SentinelGroup::start_full(auth, None)
    }

    /// Everything on TLS only (servers, replication, Sentinels), with the
    /// certificates of `pki`.
    pub fn start_tls(pki: &super::pki::Pki) -> SentinelGroup {
        SentinelGroup::start_full(None, Some(pki))
    }

    fn start_full(auth: Option<(&str, &str)>, pki: Option<&super::pki::Pki>) -> SentinelGroup {
        let p = |f: &str| {
            pki.map(|k| k.path(f).display().to_string())
                .unwrap_or_default()
        };
        let (cert, key, ca) = (p("server.pem"), p("server.key"), p("ca.pem"));
        let mut server_args = vec!["--repl-diskless-sync-delay", "0"];
        let mut cli_opts = vec![];
        if let Some((_, server)) = auth {
            server_args.extend(["--requirepass", server, "--masterauth", server]);
            cli_opts.extend(["--no-auth-warning", "-a", server]);
        }
        let tls_lines = if pki.is_some() {
            server_args.extend([
                "--tls-cert-file",
                &cert,
                "--tls-key-file",
                &key,
                "--tls-ca-cert-file",
                &ca,
                "--tls-auth-clients",
                "no",
                "--tls-replication",
                "yes",
            ]);
            cli_opts.extend(["--tls", "--cacert", &ca]);
            format!(
                "port 0\ntls-port {{port}}\ntls-cert-file {cert}\ntls-key-file {key}\n\
                 tls-ca-cert-file {ca}\ntls-auth-clients no\ntls-replication yes\n"
            )
        } else {
            String::new()
        };
        let tls = pki.is_some();
        let primary = RedisServer::start_on(free_port(), &server_args, &cli_opts, tls);
        let p = primary.port.to_string();
        let mut servers = vec![primary];
        for _ in 0..2 {
            let mut args = vec!["--replicaof", "127.0.0.1", &p];
            args.extend(&server_args);
            servers.push(RedisServer::start_on(free_port(), &args, &cli_opts, tls));
        }
        let dir = std::env::temp_dir().join(format!(
            "retryd-sentinels-{}-{}",
            std::process::id(),
            servers[0].port
        ));
        std::fs::create_dir_all(&dir).expect("sentinel dir");
        let mut g = SentinelGroup {
            servers,
            sentinel_ports: Vec::new(),
            auth: auth.map(|(s, r)| (s.to_string(), r.to_string())),
            sentinel_cli: if tls {
                vec!["--tls".into(), "--cacert".into(), ca.clone()]
            } else {
                Vec::new()
            },
            ca: tls.then(|| ca.clone()),
            sentinels: Vec::new(),
            dir,
        };
        let extra = auth
            .map(|(sentinel, server)| {
                format!(
                    "requirepass {sentinel}\nsentinel sentinel-pass {sentinel}\nsentinel auth-pass {MASTER} {server}\n"
                )
            })
            .unwrap_or_default()
            + &tls_lines;
        for _ in 0..3 {
            let (child, port) = spawn_sentinel(&g.dir, "127.0.0.1", "127.0.0.1", &p, &extra);
            g.sentinels.push(child);
            g.sentinel_ports.push(port);
        }
        g.wait_settled(&p);
        g
    }

    /// `sentinels = [...]` and `sentinel_master` (and the passwords) for
    /// `[state.redis]`.
    pub fn toml(&self) -> String {
        let userinfo = match &self.auth {
            Some((sentinel, _)) => format!(":{sentinel}@"),
            None => String::new(),
        };
        let scheme = if self.ca.is_some() { "rediss" } else { "redis" };
        let urls: Vec<String> = self
            .sentinel_ports
            .iter()
            .map(|p| format!("\"{scheme}://{userinfo}127.0.0.1:{p}\""))
            .collect();
        let mut t = format!(
            "sentinels = [{}]\nsentinel_master = \"{MASTER}\"",
            urls.join(", ")
        );
        if let Some((_, server)) = &self.auth {
            t += &format!("\npassword = \"{server}\"");
        }
        if let Some(ca) = &self.ca {
            t += &format!("\ntls_ca = {ca:?}");
        }
        t
    }

    /// `redis-cli` against the first Sentinel.
    pub fn ask(&self, args: &[&str]) -> String {
        self.ask_at(self.sentinel_ports[0], args)
    }

    fn ask_at(&self, port: u16, args: &[&str]) -> String {
        let mut all: Vec<&str> = self.sentinel_cli.iter().map(String::as_str).collect();
        if let Some((sentinel, _)) = &self.auth {
            all.extend(["--no-auth-warning", "-a", sentinel.as_str()]);
        }
        all.extend_from_slice(args);
        cli(port, &all)
    }

    /// The primary's port, as the Sentinels say.
    pub fn primary_port(&self) -> u16 {
        self.ask(&["SENTINEL", "get-master-addr-by-name", MASTER])
            .lines()
            .nth(1)
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn server(&mut self, port: u16) -> &mut RedisServer {
        self.servers
            .iter_mut()
            .find(|s| s.port == port)
            .expect("a server of the group")
    }

    /// Waits until every Sentinel knows the primary `p`, both replicas and
    /// the two other Sentinels (a failover needs them), and the replicas
    /// are in sync.
    fn wait_settled(&self, p: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let settled = self.sentinel_ports.iter().all(|&s| {
                let addr = self.ask_at(s, &["SENTINEL", "get-master-addr-by-name", MASTER]);
                let replicas = self.ask_at(s, &["SENTINEL", "replicas", MASTER]);
                let others = self.ask_at(s, &["SENTINEL", "sentinels", MASTER]);
                addr.lines().nth(1).map(str::trim) == Some(p)
                    && entries(&replicas) >= 2
                    && entries(&others) >= 2
            }) && self.servers[1..].iter().all(|r| {
                r.cli(&["INFO", "replication"])
                    .contains("master_link_status:up")
            });
            if settled {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the Sentinels did not settle: {}",
                self.ask(&["SENTINEL", "replicas", MASTER])
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the Sentinels name a primary other than `old` that says
    /// it is one; its port.
    pub fn wait_new_primary(&self, old: u16) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = self.primary_port();
            let role = self
                .servers
                .iter()
                .find(|s| s.port == now)
                .map(|s| s.cli(&["ROLE"]));
            if now != old && role.is_some_and(|r| r.starts_with("master")) {
                return now;
            }
            assert!(Instant::now() < deadline, "no failover from {old}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One Sentinel on a free port, bound to `bind` (addresses separated by
/// spaces), monitoring the primary at `ip`:`port` as `MASTER` (quorum 2,
/// down after 1 s: failovers in a test take seconds, not the default 30);
/// `extra` lines after, `{port}` in them its port.
pub fn spawn_sentinel(
    dir: &std::path::Path,
    bind: &str,
    ip: &str,
    port: &str,
    extra: &str,
) -> (Child, u16) {
    let own = free_port();
    let conf = dir.join(format!("sentinel-{own}.conf"));
    let text = format!(
        "port {own}\nbind {bind}\ndir {}\n\
         sentinel monitor {MASTER} {ip} {port} 2\n\
         sentinel down-after-milliseconds {MASTER} 1000\n\
         sentinel failover-timeout {MASTER} 5000\n\
         sentinel parallel-syncs {MASTER} 2\n{}",
        dir.display(),
        extra.replace("{port}", &own.to_string())
    );
    std::fs::write(&conf, text).expect("sentinel config");
    let child = Command::new("redis-server")
        .arg(&conf)
        .arg("--sentinel")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server --sentinel (Debian's redis-server)");
    (child, own)
}

/// How many entries a `SENTINEL replicas` / `sentinels` answer lists
/// (redis-cli prints each field on a line of its own).
pub fn entries(answer: &str) -> usize {
    answer.lines().filter(|l| l.trim() == "name").count()
}

impl Drop for SentinelGroup {
    fn drop(&mut self) {
        for c in &mut self.sentinels {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
