//! A real retryd server on ephemeral 127.0.0.1 ports, and clients for it.
#![allow(dead_code)]

pub mod fleet;
pub mod history;
pub mod netns;
pub mod pki;
pub mod redis;
pub mod sentinel;
pub mod sidecar;

use std::net::SocketAddr;

use retryd::config::Config;
use retryd::pb;
use retryd::pb::retry_coordinator_client::RetryCoordinatorClient;
use retryd::server::{self, Running};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::Channel;

pub type Client = RetryCoordinatorClient<Channel>;

pub struct Harness {
    pub running: Running,
    pub client: Client,
}

impl Harness {
    pub async fn start(config_toml: &str) -> Harness {
        Harness::with_config(Config::from_toml(config_toml).expect("test config is valid")).await
    }

    pub async fn with_config(config: Config) -> Harness {
        let running = server::start(config, listeners().await)
            .await
            .expect("server starts");
        let client = connect(running.grpc_addr).await;
        Harness { running, client }
    }

    pub async fn builtin() -> Harness {
        Harness::start("").await
    }

    pub async fn scrape(&self) -> String {
        scrape(self.running.metrics_addr).await
    }
}

/// Jobs held by a server on the default (memory) backend.
pub fn held(app: &server::App) -> usize {
    app.state
        .jobs_held()
        .expect("the default backend is memory")
}

/// Whether a server holds job `id`.
pub async fn holds(app: &server::App, id: &str) -> bool {
    app.state
        .get(&app.engine.load(), id)
        .await
        .expect("get")
        .is_some()
}

/// gRPC and metrics listeners on ephemeral 127.0.0.1 ports.
pub async fn listeners() -> server::Listeners {
    server::Listeners {
        grpc: TcpListener::bind("127.0.0.1:0").await.expect("bind grpc"),
        metrics: TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind metrics"),
        health: None,
    }
}

/// The error a server refuses to start with.
pub async fn start_err(config: Config) -> String {
    match server::start(config, listeners().await).await {
        Ok(_) => panic!("the server started"),
        Err(e) => e.to_string(),
    }
}

/// Runs `tests/python/<script>` with `$RETRYD_PYTHON` (set by scripts/test)
/// and `env`; its output, once grpcio is known to be installed.
pub async fn run_python(script: &str, env: Vec<(&'static str, String)>) -> std::process::Output {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var("RETRYD_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = root.join("tests/python").join(script);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .arg(script)
            .envs(env)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {python}: {e}"))
    })
    .await
    .expect("python task");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'grpc"),
        "grpcio is not installed for this interpreter: run ./scripts/test, or pip install -r tests/python/requirements.txt\n{stderr}"
    );
    out
}

pub async fn connect(addr: SocketAddr) -> Client {
    RetryCoordinatorClient::connect(format!("http://{addr}"))
        .await
        .expect("connect to retryd")
}

/// `GET /metrics` over a plain HTTP/1.1 connection.
pub async fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect to metrics");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("send request");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read response");
    let (head, body) = out.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain"),
        "{head}"
    );
    body.to_string()
}

/// The value of the sample with exactly these labels (in any order), if
/// present. The `fleet` label, which every sample carries, is not compared.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (n, rest) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if n != name {
                return None;
            }
            let mut got: Vec<(String, String)> = if rest.is_empty() {
                Vec::new()
            } else {
                rest.split("\",")
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                        (k.to_string(), v.trim_matches('"').to_string())
                    })
                    .collect()
            };
            got.retain(|(k, _)| k != "fleet");
            let mut want: Vec<(String, String)> = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            got.sort();
            want.sort();
            (got == want).then(|| value.parse().ok()).flatten()
        })
}

pub fn error(type_name: &str, message: &str, http: u32, grpc: i32) -> pb::ErrorInfo {
    pb::ErrorInfo {
        r#type: type_name.into(),
        message: message.into(),
        http_status: http,
        grpc_code: grpc,
        retryable: None,
    }
}

pub fn failure(job_id: &str, e: pb::ErrorInfo) -> pb::ReportFailureRequest {
    pb::ReportFailureRequest {
        job_id: job_id.into(),
        error: Some(e),
        ..Default::default()
    }
}

pub async fn report(client: &mut Client, r: pb::ReportFailureRequest) -> pb::Decision {
    client
        .report_failure(r)
        .await
        .expect("ReportFailure succeeds")
        .into_inner()
        .decision
        .expect("a decision")
}

/// What ReportFailure would answer, recording nothing.
pub async fn explain(client: &mut Client, r: pb::ExplainRequest) -> pb::Decision {
    client
        .explain(r)
        .await
        .expect("Explain succeeds")
        .into_inner()
        .decision
        .expect("a decision")
}

/// A WatchEvents stream.
pub async fn watch(client: &mut Client, r: pb::WatchEventsRequest) -> tonic::Streaming<pb::Event> {
    client
        .watch_events(r)
        .await
        .expect("WatchEvents succeeds")
        .into_inner()
}

/// The pauses in force.
pub async fn pauses(client: &mut Client) -> Vec<pb::Pause> {
    client
        .list_pauses(pb::ListPausesRequest {})
        .await
        .expect("ListPauses succeeds")
        .into_inner()
        .pauses
}

pub fn secs(d: &pb::Decision) -> f64 {
    let r = d.retry_after.as_ref().expect("retry_after");
    r.seconds as f64 + f64::from(r.nanos) / 1e9
}

/// A plain channel, for the health and reflection clients.
pub async fn channel(addr: SocketAddr) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("valid uri")
        .connect()
        .await
        .expect("connect")
}

/// What one run of the `retryd` CLI printed.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `retryd` CLI against the harness's sidecar.
pub async fn retryd(h: &Harness, args: &[&str]) -> Out {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_retryd"))
        .args(args)
        .env("RETRYD_ADDR", h.running.grpc_addr.to_string())
        .output()
        .await
        .expect("run retryd");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `GetStats`' total.
pub async fn stats_total(c: &mut Client) -> pb::JobTypeStats {
    c.get_stats(pb::GetStatsRequest {})
        .await
        .expect("stats")
        .into_inner()
        .total
        .expect("total")
}

/// `ListBudgets`.
pub async fn budgets(c: &mut Client) -> Vec<pb::Budget> {
    c.list_budgets(pb::ListBudgetsRequest {})
        .await
        .expect("budgets")
        .into_inner()
        .budgets
}
