//! The real `retryd` binary as a child process, its JSON log lines collected.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel as mpsc_channel};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_retryd");

/// A running `retryd` child whose JSON log lines are collected.
pub struct Sidecar {
    pub child: Child,
    lines: Receiver<String>,
    pub seen: Vec<String>,
    pub grpc_addr: SocketAddr,
    /// The metrics endpoint's host:port.
    pub metrics_addr: SocketAddr,
}

pub fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("RETRYD_CONFIG")
        .env_remove("RETRYD_GRPC_ADDR")
        .env_remove("RETRYD_METRICS_ADDR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

impl Sidecar {
    pub fn spawn(mut cmd: Command) -> Sidecar {
        let mut child = cmd.spawn().expect("spawn retryd");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut s = Sidecar {
            child,
            lines: rx,
            seen: Vec::new(),
            grpc_addr: "0.0.0.0:0".parse().expect("addr"),
            metrics_addr: "0.0.0.0:0".parse().expect("addr"),
        };
        let serving = s.wait_for("retryd serving");
        let grpc = serving["grpc"].as_str().expect("grpc field");
        s.grpc_addr = grpc.parse().expect("grpc address");
        let metrics = serving["metrics"].as_str().expect("metrics field");
        s.metrics_addr = metrics
            .trim_start_matches("http://")
            .trim_end_matches("/metrics")
            .parse()
            .expect("metrics address");
        s
    }

    /// The next JSON log line whose message is `message`.
    pub fn wait_for(&mut self, message: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("no {message:?} log line; saw:\n{}", self.seen.join("\n"));
                }
            };
            self.seen.push(line.clone());
            let v: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            if v["message"] == message {
                return v;
            }
        }
    }

    pub fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(ok.success());
    }

    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("retryd did not exit");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const EPHEMERAL: [&str; 6] = [
    "--grpc-addr",
    "127.0.0.1:0",
    "--metrics-addr",
    "127.0.0.1:0",
    "--log-format",
    "json",
];
