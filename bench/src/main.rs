//! `retryd-bench`: load-tests a retryd sidecar, measures it against a bare
//! tonic echo service, and measures memory per tracked job.
//!
//! ```text
//! retryd-bench load --addr 127.0.0.1:50051 --concurrency 64 --channels 4 --duration 10s
//! retryd-bench baseline --concurrency 64 --channels 4 --duration 10s --rounds 3
//! retryd-bench memory --sizes 10000,1000000,5000000            # in-process store
//! retryd-bench memory --server --sizes 10000,1000000,5000000   # a real retryd over gRPC
//! retryd-bench fleet --sidecars 3 --rounds 3 --memory-jobs 1000000  # fleet mode on Redis
//! ```
//!
//! Load goes only to the address given or to servers this tool starts on
//! 127.0.0.1, and for a fixed duration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use clap::{Args, Parser, Subcommand};
use hdrhistogram::Histogram;
use prost::Message;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use tonic::transport::{Channel, Endpoint, Server};

mod fleet;

/// The echo service of the baseline mode (not retryd's API).
mod bench_pb {
    tonic::include_proto!("bench.v1");
}

use crate::bench_pb::echo_client::EchoClient;
use crate::bench_pb::echo_server::{Echo, EchoServer};
use crate::bench_pb::{EchoRequest, EchoResponse};
use retryd::pb;
use retryd::pb::retry_coordinator_client::RetryCoordinatorClient;

/// mimalloc: see BENCHMARKS.md for the measurement that chose it.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "retryd-bench",
    version,
    about = "Load-test retryd, compare it with a bare tonic echo service, measure memory per job."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Drive a sidecar (the one at --addr, or one started here) and print rate and latency.
    Load {
        /// Running sidecars (a fleet: comma-separated, the calls spread over
        /// them); without it, retryd is started here on 127.0.0.1.
        #[arg(long, value_delimiter = ',')]
        addr: Vec<String>,
        #[command(flatten)]
        load: LoadOpts,
        #[command(flatten)]
        spawn: SpawnOpts,
    },
    /// Alternate runs against a bare tonic echo service and against retryd
    /// (each started here as a separate process) and print retryd/baseline.
    Baseline {
        #[command(flatten)]
        load: LoadOpts,
        #[command(flatten)]
        spawn: SpawnOpts,
        /// Pairs of runs (echo, retryd).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Fleet mode side by side, on a redis-server started here: the same
    /// load through the memory backend, through the Redis backend (spread
    /// over `--sidecars` sidecars), and redis-benchmark running an
    /// equivalent EVALSHA; backend calls per decision; then Redis memory per
    /// tracked job at `--memory-jobs` jobs.
    Fleet {
        #[command(flatten)]
        load: LoadOpts,
        #[command(flatten)]
        spawn: SpawnOpts,
        /// Sidecars sharing the Redis.
        #[arg(long, default_value_t = 3)]
        sidecars: usize,
        /// Rounds of (memory, redis, redis-benchmark).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Jobs to load for the memory-per-job figure (0: skip it).
        #[arg(long, default_value_t = 0)]
        memory_jobs: usize,
        /// The redis-server binary [default: from PATH].
        #[arg(long, default_value = "redis-server")]
        redis_server: PathBuf,
        /// The redis-benchmark binary [default: from PATH].
        #[arg(long, default_value = "redis-benchmark")]
        redis_benchmark: PathBuf,
        /// Run Redis on a core of its own (the last), and the sidecars and
        /// this client on core 0, in every mode: the sidecar's own throughput,
        /// with Redis elsewhere as in a real deployment (needs `taskset`).
        #[arg(long)]
        pin: bool,
    },
    /// Serve the echo service (used by `baseline`).
    EchoServer {
        #[arg(long)]
        addr: SocketAddr,
    },
    /// Snapshot cost at N jobs: write time, longest shard lock, the latency a
    /// report sees meanwhile, file size, and the time to load it back.
    Snapshot {
        /// Numbers of tracked jobs.
        #[arg(long, value_delimiter = ',', default_value = "1000000")]
        sizes: Vec<usize>,
        /// Directory for the snapshot file [default: the system's temp dir].
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Print one JSON object per N instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Memory per tracked job and store throughput at each N, each N in a fresh process.
    Memory {
        /// Numbers of tracked jobs to measure at.
        #[arg(long, value_delimiter = ',', default_value = "10000,1000000")]
        sizes: Vec<usize>,
        /// Measure one N in this process (used by `memory` itself).
        #[arg(long, hide = true)]
        one: bool,
        /// Measure a real retryd instead: preload N jobs over gRPC, read its
        /// RSS, then drive it with `load`'s options over those N jobs.
        #[arg(long)]
        server: bool,
        #[command(flatten)]
        load: LoadOpts,
        #[command(flatten)]
        spawn: SpawnOpts,
    },
}

#[derive(Args, Clone, Debug)]
struct LoadOpts {
    /// Calls in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// HTTP/2 connections the calls share.
    #[arg(long, default_value_t = 4)]
    channels: usize,
    /// How long to measure.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    duration: Duration,
    /// How long to run before measuring.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    warmup: Duration,
    /// Distinct job ids the calls draw from.
    #[arg(long, default_value_t = 10_000)]
    jobs: usize,
    /// Share of calls that are ReportSuccess (the rest are ReportFailure).
    #[arg(long, default_value_t = 0.0)]
    success_ratio: f64,
    /// Report with this many distinct targets (`t0`, `t1`, ...); 0 = none.
    #[arg(long, default_value_t = 0)]
    targets: usize,
    /// Print one JSON object per run instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Clone, Debug)]
struct SpawnOpts {
    /// The retryd binary to start [default: `retryd` next to this tool].
    #[arg(long)]
    retryd_bin: Option<PathBuf>,
    /// A config file for the retryd started here.
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Cmd::Fleet { pin: true, .. } = &cli.command {
        // Before the runtime's threads exist: they inherit the affinity.
        if let Err(e) = fleet::pin(std::process::id(), "0") {
            eprintln!("retryd-bench: {e}");
            return ExitCode::FAILURE;
        }
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("retryd-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Cmd::Load { addr, load, spawn } => load_cmd(addr, load, spawn).await,
            Cmd::Fleet {
                load,
                spawn,
                sidecars,
                rounds,
                memory_jobs,
                redis_server,
                redis_benchmark,
                pin,
            } => {
                fleet::run(
                    load,
                    spawn,
                    fleet::Opts {
                        sidecars,
                        rounds,
                        memory_jobs,
                        redis_server,
                        redis_benchmark,
                        pin,
                    },
                )
                .await
            }
            Cmd::Baseline {
                load,
                spawn,
                rounds,
            } => baseline_cmd(load, spawn, rounds).await,
            Cmd::EchoServer { addr } => echo_server(addr).await,
            Cmd::Snapshot { sizes, dir, json } => sizes
                .iter()
                .try_for_each(|&n| snapshot_one(n, dir.clone(), json)),
            Cmd::Memory {
                sizes: jobs,
                one,
                server,
                load,
                spawn,
            } => {
                if server {
                    memory_server(&jobs, load, spawn).await
                } else {
                    memory_cmd(&jobs, load.duration, one, load.json)
                }
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("retryd-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

// ---- servers started here --------------------------------------------------

/// A child process killed when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<SocketAddr, Error> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

fn sibling(name: &str) -> Result<PathBuf, Error> {
    Ok(std::env::current_exe()?.with_file_name(name))
}

fn spawn_retryd(opts: &SpawnOpts) -> Result<(ChildGuard, SocketAddr), Error> {
    spawn_retryd_with(opts, opts.config.as_deref())
}

fn spawn_retryd_with(
    opts: &SpawnOpts,
    config: Option<&std::path::Path>,
) -> Result<(ChildGuard, SocketAddr), Error> {
    let bin = match &opts.retryd_bin {
        Some(b) => b.clone(),
        None => sibling("retryd")?,
    };
    let addr = free_port()?;
    let mut cmd = Command::new(&bin);
    cmd.args([
        "--grpc-addr",
        &addr.to_string(),
        "--metrics-addr",
        "127.0.0.1:0",
        "--log",
        "warn",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::inherit());
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    Ok((ChildGuard(child), addr))
}

fn spawn_echo() -> Result<(ChildGuard, SocketAddr), Error> {
    let addr = free_port()?;
    let child = Command::new(std::env::current_exe()?)
        .args(["echo-server", "--addr", &addr.to_string()])
        .stdout(Stdio::null())
        .spawn()?;
    Ok((ChildGuard(child), addr))
}

async fn wait_ready(addr: SocketAddr) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("nothing listens on {addr} after 20s").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct EchoService;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn echo(
        &self,
        r: tonic::Request<EchoRequest>,
    ) -> Result<tonic::Response<EchoResponse>, tonic::Status> {
        let n = r.into_inner().response_size as usize;
        Ok(tonic::Response::new(EchoResponse {
            payload: vec![b'x'; n],
        }))
    }
}

async fn echo_server(addr: SocketAddr) -> Result<(), Error> {
    Server::builder()
        .add_service(EchoServer::new(EchoService))
        .serve(addr)
        .await?;
    Ok(())
}

// ---- the load --------------------------------------------------------------

const ERRORS: &[(&str, &str, u32, i32)] = &[
    (
        "requests.exceptions.ConnectionError",
        "HTTPSConnectionPool(host='api.example.com', port=443): reset",
        0,
        0,
    ),
    (
        "TimeoutError",
        "timed out after 30s waiting for the upstream to answer the request",
        0,
        0,
    ),
    (
        "urllib3.exceptions.HTTPError",
        "HTTP 503 Service Unavailable from upstream billing service",
        503,
        0,
    ),
    (
        "grpc.RpcError",
        "StatusCode.UNAVAILABLE: failed to connect to all addresses; last",
        0,
        14,
    ),
    (
        "ValidationError",
        "field 'amount' must be positive, got -12.50 in invoice payload",
        0,
        0,
    ),
    (
        "RuntimeError",
        "dial tcp 10.0.3.7:5432: connect: connection refused by the peer",
        0,
        0,
    ),
    (
        "RateLimitError",
        "429 Too Many Requests: quota of 100 requests per minute exceeded",
        429,
        0,
    ),
    (
        "KeyError",
        "'customer_id' missing from the payload of the message at offset 1",
        0,
        0,
    ),
];

/// A job id of 40 bytes.
fn job_id(i: usize) -> String {
    let mut buf = [0u8; ID_LEN];
    String::from(job_id_in(i, &mut buf))
}

const ID_LEN: usize = 40;

/// `job_id(i)` written into `buf`, without touching the heap (the memory
/// benchmark must cost the same per call whatever the number of jobs).
fn job_id_in(i: usize, buf: &mut [u8; ID_LEN]) -> &str {
    buf.copy_from_slice(b"job-0000000000-5f0c2b9e-7d41-4e8a-b3c6d2");
    let mut n = i;
    for d in (4..14).rev() {
        buf[d] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    std::str::from_utf8(buf).unwrap_or("job")
}

fn failure_request(i: usize, jobs: usize) -> pb::ReportFailureRequest {
    let (t, m, http, grpc) = ERRORS[i % ERRORS.len()];
    pb::ReportFailureRequest {
        job_id: job_id(i % jobs.max(1)),
        job_type: "invoice".into(),
        error: Some(pb::ErrorInfo {
            r#type: t.into(),
            message: m.into(),
            http_status: http,
            grpc_code: grpc,
            retryable: None,
        }),
        ..Default::default()
    }
}

fn target_of(i: usize, targets: usize) -> String {
    if targets == 0 {
        String::new()
    } else {
        format!("t{}", i % targets)
    }
}

#[derive(Clone, Copy)]
enum Target {
    Retryd,
    /// Request and response sizes to mimic.
    Echo {
        request: usize,
        response: usize,
    },
}

struct Run {
    requests: u64,
    errors: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn micros(&self, q: f64) -> u64 {
        self.latency.value_at_quantile(q)
    }

    fn print(&self, label: &str, json: bool) {
        if json {
            println!(
                "{}",
                json!({
                    "target": label,
                    "requests_per_second": self.rate().round(),
                    "requests": self.requests,
                    "errors": self.errors,
                    "p50_us": self.micros(0.5),
                    "p99_us": self.micros(0.99),
                    "p999_us": self.micros(0.999),
                })
            );
        } else {
            println!(
                "{label:<8} {:>9.0} req/s  p50 {:>6} µs  p99 {:>6} µs  p999 {:>6} µs  errors {}",
                self.rate(),
                self.micros(0.5),
                self.micros(0.99),
                self.micros(0.999),
                self.errors
            );
        }
    }
}

/// `n` channels (at least one per address), spread over `addrs`.
async fn channels(addrs: &[SocketAddr], n: usize) -> Result<Vec<Channel>, Error> {
    let mut out = Vec::new();
    for i in 0..n.max(addrs.len()).max(1) {
        let addr = addrs[i % addrs.len()];
        // One Endpoint::connect per channel: one HTTP/2 connection each.
        out.push(
            Endpoint::from_shared(format!("http://{addr}"))?
                .connect()
                .await?,
        );
    }
    Ok(out)
}

async fn run_load(addrs: &[SocketAddr], target: Target, o: &LoadOpts) -> Result<Run, Error> {
    let chans = channels(addrs, o.channels).await?;
    let start = Instant::now();
    let measure_from = start + o.warmup;
    let stop = measure_from + o.duration;
    let mut tasks = Vec::new();
    for w in 0..o.concurrency.max(1) {
        let ch = chans[w % chans.len()].clone();
        let o = o.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
                .expect("valid histogram bounds");
            let (mut n, mut errors) = (0u64, 0u64);
            let mut rng = StdRng::seed_from_u64(w as u64);
            let mut retryd = RetryCoordinatorClient::new(ch.clone());
            let mut echo = EchoClient::new(ch);
            let payload = match target {
                Target::Echo { request, .. } => vec![b'x'; request.saturating_sub(5)],
                Target::Retryd => Vec::new(),
            };
            loop {
                let t0 = Instant::now();
                if t0 >= stop {
                    break;
                }
                let i: usize = rng.random_range(0..o.jobs.max(1) * ERRORS.len());
                let ok = match target {
                    Target::Retryd if rng.random::<f64>() < o.success_ratio => retryd
                        .report_success(pb::ReportSuccessRequest {
                            job_id: job_id(i % o.jobs.max(1)),
                            job_type: "invoice".into(),
                            target: target_of(i, o.targets),
                        })
                        .await
                        .is_ok(),
                    Target::Retryd => {
                        let mut r = failure_request(i, o.jobs);
                        r.target = target_of(i, o.targets);
                        retryd.report_failure(r).await.is_ok()
                    }
                    Target::Echo { response, .. } => echo
                        .echo(EchoRequest {
                            payload: payload.clone(),
                            response_size: response as u32,
                        })
                        .await
                        .is_ok(),
                };
                let t1 = Instant::now();
                if t0 >= measure_from {
                    n += 1;
                    if !ok {
                        errors += 1;
                    }
                    let us = t1.duration_since(t0).as_micros().max(1) as u64;
                    let _ = hist.record(us.min(60_000_000));
                }
            }
            (n, errors, hist)
        }));
    }
    let mut run = Run {
        requests: 0,
        errors: 0,
        elapsed: o.duration,
        latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
    };
    for t in tasks {
        let (n, e, h) = t.await?;
        run.requests += n;
        run.errors += e;
        run.latency.add(&h)?;
    }
    Ok(run)
}

/// The encoded sizes of a typical ReportFailure request and response.
async fn message_sizes(addr: SocketAddr) -> Result<(usize, usize), Error> {
    let mut c = RetryCoordinatorClient::connect(format!("http://{addr}")).await?;
    let req = failure_request(1, 1);
    let size = req.encoded_len();
    let resp = c.explain(pb::ExplainRequest {
        job_id: req.job_id.clone(),
        job_type: req.job_type.clone(),
        error: req.error.clone(),
        ..Default::default()
    });
    let resp = resp.await?.into_inner();
    Ok((size, resp.encoded_len()))
}

async fn load_cmd(addrs: Vec<String>, o: LoadOpts, spawn: SpawnOpts) -> Result<(), Error> {
    let (_child, addrs) = if addrs.is_empty() {
        let (c, a) = spawn_retryd(&spawn)?;
        (Some(c), vec![a])
    } else {
        let parsed = addrs
            .iter()
            .map(|a| a.trim_start_matches("http://").parse())
            .collect::<Result<Vec<SocketAddr>, _>>()?;
        (None, parsed)
    };
    for a in &addrs {
        wait_ready(*a).await?;
    }
    if !o.json {
        let shown: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
        println!(
            "retryd at {}: {} in flight over {} channels, {} jobs, {} targets, {:.0}% successes, {:?} after {:?} warm-up",
            shown.join(","),
            o.concurrency,
            o.channels,
            o.jobs,
            o.targets,
            o.success_ratio * 100.0,
            o.duration,
            o.warmup
        );
    }
    run_load(&addrs, Target::Retryd, &o)
        .await?
        .print("retryd", o.json);
    Ok(())
}

async fn baseline_cmd(o: LoadOpts, spawn: SpawnOpts, rounds: usize) -> Result<(), Error> {
    let (_retryd, retryd_addr) = spawn_retryd(&spawn)?;
    let (_echo, echo_addr) = spawn_echo()?;
    wait_ready(retryd_addr).await?;
    wait_ready(echo_addr).await?;
    let (request, response) = message_sizes(retryd_addr).await?;
    if !o.json {
        println!(
            "{} in flight over {} channels, {:?} per run after {:?} warm-up, {rounds} rounds; echo mimics {request} B requests, {response} B responses",
            o.concurrency, o.channels, o.duration, o.warmup
        );
    }
    let (mut rate_ratios, mut p99_ratios) = (Vec::new(), Vec::new());
    for _ in 0..rounds.max(1) {
        let echo = run_load(&[echo_addr], Target::Echo { request, response }, &o).await?;
        echo.print("echo", o.json);
        let retryd = run_load(&[retryd_addr], Target::Retryd, &o).await?;
        retryd.print("retryd", o.json);
        rate_ratios.push(retryd.rate() / echo.rate());
        p99_ratios.push(retryd.micros(0.99) as f64 / echo.micros(0.99).max(1) as f64);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (rate, p99) = (median(&mut rate_ratios), median(&mut p99_ratios));
    if o.json {
        println!(
            "{}",
            json!({ "throughput_ratio": rate, "p99_ratio": p99, "rounds": rounds })
        );
    } else {
        println!("retryd/echo (median of {rounds}): throughput {rate:.3}, p99 {p99:.3}");
    }
    Ok(())
}

// ---- memory per tracked job -----------------------------------------------

fn rss_bytes() -> Result<u64, Error> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or("no VmRSS in /proc/self/status")?;
    Ok(kb * 1024)
}

fn memory_cmd(ns: &[usize], duration: Duration, one: bool, json: bool) -> Result<(), Error> {
    if one {
        let n = *ns.first().ok_or("--one needs one --sizes value")?;
        return memory_one(n, duration, json);
    }
    for &n in ns {
        // A fresh process per N: freed memory does not reliably leave RSS.
        let status = Command::new(std::env::current_exe()?)
            .args(["memory", "--one", "--sizes", &n.to_string(), "--duration"])
            .arg(humantime::format_duration(duration).to_string())
            .args(if json { &["--json"][..] } else { &[] })
            .status()?;
        if !status.success() {
            return Err(format!("the run for {n} jobs failed").into());
        }
    }
    Ok(())
}

/// The store, engine and policy the in-process measurements use.
struct Bench {
    engine: retryd::engine::Engine,
    policy: Arc<retryd::engine::Policy>,
    store: Arc<retryd::state::memory::Store>,
}

/// A typical failure of job `i`: 60-byte message, one of four error types.
fn bench_report(i: usize) -> retryd::engine::FailureReport<'static> {
    use retryd::engine::{ErrorReport, FailureReport};
    // 60 bytes, as the issue's benchmark asks.
    let message = "HTTPSConnectionPool(host='api.example.com', port=443): timed";
    FailureReport {
        error: ErrorReport {
            type_name: ERRORS[i % 4].0,
            message,
            http_status: 0,
            grpc_code: 0,
            retryable: None,
        },
        attempt: 0,
        retry_after_hint: None,
    }
}

fn bench() -> Result<Bench, Error> {
    use retryd::engine::{Classifier, Engine, Policy, PolicySet};
    use retryd::state::{Limits, store_for};

    let engine = Engine::new(
        Classifier::new(Vec::new())?,
        PolicySet::new(
            vec![Policy {
                max_retries: 1_000_000,
                ..Policy::named("bench")
            }],
            &[],
            None,
        )?,
    );
    let policy = engine
        .policies
        .get("bench")
        .ok_or("no bench policy")?
        .clone();
    let store = Arc::new(store_for(
        Limits {
            max_jobs: usize::MAX / 2,
            ..Limits::default()
        },
        &engine,
    ));
    Ok(Bench {
        engine,
        policy,
        store,
    })
}

impl Bench {
    /// Reports one failure of job `i`.
    fn report(&self, i: usize, now: retryd::engine::Timestamp, rng: &mut impl rand::Rng) {
        let mut buf = [0u8; ID_LEN];
        let id = job_id_in(i, &mut buf);
        let call = retryd::state::FailureCall {
            job_id: id,
            job_type: "invoice",
            target: "",
            policy: &self.policy,
            report: bench_report(i),
        };
        self.store.report_failure(&self.engine, &call, now, rng);
    }
}

fn snapshot_one(n: usize, dir: Option<PathBuf>, json: bool) -> Result<(), Error> {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

    use retryd::engine::Timestamp;
    use retryd::state::memory::batches::{BatchLimits, Batches};
    use retryd::state::memory::snapshot;

    let now = Timestamp::from_system_time(SystemTime::now());
    let b = Arc::new(bench()?);
    let mut rng = rand::rng();
    for i in 0..n {
        b.report(i, now, &mut rng);
    }
    let batches = Batches::new(BatchLimits::default());
    let path = dir
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("retryd-bench-{}.snap", std::process::id()));

    // One thread keeps reporting while the snapshot is written: what it sees
    // is the pause the hot path pays.
    let writing = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let reporter = {
        let (b, writing, stop) = (b.clone(), writing.clone(), stop.clone());
        std::thread::spawn(move || -> Result<[Histogram<u64>; 2], Error> {
            let mut hists = [
                Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?,
                Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?,
            ];
            let mut rng = rand::rng();
            while !stop.load(Relaxed) {
                let i = rng.random_range(0..n.max(1));
                let during = usize::from(writing.load(Relaxed));
                let t = Instant::now();
                b.report(i, now, &mut rng);
                let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
                hists[during].saturating_record(ns.max(1));
            }
            Ok(hists)
        })
    };
    std::thread::sleep(Duration::from_secs(1));
    writing.store(true, Relaxed);
    let wrote = snapshot::write(&path, &b.engine, &b.store, &batches, now)?;
    writing.store(false, Relaxed);
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Relaxed);
    let [quiet, during] = reporter.join().map_err(|_| "reporter panicked")??;

    let fresh = bench()?;
    let loaded = snapshot::load(&path, &fresh.engine, &fresh.store, &Batches::default())?
        .ok_or("the snapshot just written is missing")?;
    let _ = std::fs::remove_file(&path);
    if loaded.jobs != wrote.jobs || fresh.store.len() != b.store.len() {
        return Err(format!(
            "wrote {} jobs, loaded {} ({} held)",
            wrote.jobs,
            loaded.jobs,
            fresh.store.len()
        )
        .into());
    }
    let us = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1e3;
    if json {
        println!(
            "{}",
            json!({
                "jobs": n,
                "bytes": wrote.bytes,
                "write_seconds": wrote.took.as_secs_f64(),
                "longest_shard_lock_seconds": wrote.longest_lock.as_secs_f64(),
                "report_p99_us": {"quiet": us(&quiet, 0.99), "writing": us(&during, 0.99)},
                "report_p999_us": {"quiet": us(&quiet, 0.999), "writing": us(&during, 0.999)},
                "report_max_us": {"quiet": quiet.max() as f64 / 1e3, "writing": during.max() as f64 / 1e3},
                "load_seconds": loaded.took.as_secs_f64(),
            })
        );
    } else {
        println!(
            "{n:>9} jobs: {:.1} MiB written in {:.0} ms (longest shard lock {:.2} ms), loaded in {:.0} ms",
            wrote.bytes as f64 / (1 << 20) as f64,
            wrote.took.as_secs_f64() * 1e3,
            wrote.longest_lock.as_secs_f64() * 1e3,
            loaded.took.as_secs_f64() * 1e3,
        );
        println!(
            "           one report's latency, quiet / while writing: p99 {:.1} / {:.1} us, p99.9 {:.1} / {:.1} us, max {:.0} / {:.0} us ({} / {} reports)",
            us(&quiet, 0.99),
            us(&during, 0.99),
            us(&quiet, 0.999),
            us(&during, 0.999),
            quiet.max() as f64 / 1e3,
            during.max() as f64 / 1e3,
            quiet.len(),
            during.len(),
        );
    }
    Ok(())
}

fn memory_one(n: usize, duration: Duration, json: bool) -> Result<(), Error> {
    use retryd::engine::Timestamp;

    let b = Arc::new(bench()?);
    let now = Timestamp::from_system_time(SystemTime::now());
    let before = rss_bytes()?;
    let mut rng = rand::rng();
    let load_start = Instant::now();
    for i in 0..n {
        b.report(i, now, &mut rng);
    }
    let load_rate = n as f64 / load_start.elapsed().as_secs_f64();
    let after = rss_bytes()?;
    let per_job = after.saturating_sub(before) as f64 / n as f64;

    // Updates of random existing jobs on two threads, as the server's two workers would.
    let deadline = Instant::now() + duration;
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || {
                let mut rng = rand::rng();
                let mut ops = 0u64;
                while Instant::now() < deadline {
                    for _ in 0..1000 {
                        b.report(rng.random_range(0..n), now, &mut rng);
                    }
                    ops += 1000;
                }
                ops
            })
        })
        .collect();
    let mut ops = 0;
    for t in threads {
        ops += t.join().map_err(|_| "update thread panicked")?;
    }
    let update_rate = ops as f64 / duration.as_secs_f64();
    if json {
        println!(
            "{}",
            json!({
                "jobs": n,
                "rss_bytes": after,
                "bytes_per_job": per_job.round(),
                "insert_per_second": load_rate.round(),
                "update_per_second": update_rate.round(),
            })
        );
    } else {
        println!(
            "{n:>9} jobs: {per_job:>6.0} B/job resident ({:.0} MiB RSS), {load_rate:>9.0} inserts/s, {update_rate:>9.0} updates/s (2 threads)",
            after as f64 / (1 << 20) as f64
        );
    }
    Ok(())
}

fn rss_of(pid: u32) -> Result<u64, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or("no VmRSS")?;
    Ok(kb * 1024)
}

/// Sends one ReportFailure for each of jobs 0..n, `concurrency` at a time.
async fn preload(addrs: &[SocketAddr], n: usize, o: &LoadOpts) -> Result<(), Error> {
    let chans = channels(addrs, o.channels).await?;
    let workers = o.concurrency.max(1);
    let mut tasks = Vec::new();
    for w in 0..workers {
        let mut c = RetryCoordinatorClient::new(chans[w % chans.len()].clone());
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < n {
                let mut r = failure_request(i, n);
                // Transient errors only: every preloaded job stays tracked.
                r.error = Some(pb::ErrorInfo {
                    r#type: "TimeoutError".into(),
                    message: "HTTPSConnectionPool(host='api.example.com', port=443): timed".into(),
                    ..Default::default()
                });
                c.report_failure(r).await?;
                i += workers;
            }
            Ok::<(), tonic::Status>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

async fn memory_server(ns: &[usize], o: LoadOpts, spawn: SpawnOpts) -> Result<(), Error> {
    // Enough room and retries that every job stays tracked while measured.
    let config = std::env::temp_dir().join(format!("retryd-bench-{}.toml", std::process::id()));
    std::fs::write(
        &config,
        "[state]\nmax_jobs = 100_000_000\n[policies.default]\nmax_retries = 10000\n",
    )?;
    let mut first_rate = None;
    for &n in ns {
        let (child, addr) = spawn_retryd_with(&spawn, Some(&config))?;
        wait_ready(addr).await?;
        let idle = rss_of(child.0.id())?;
        let t0 = Instant::now();
        preload(&[addr], n, &o).await?;
        let load_secs = t0.elapsed().as_secs_f64();
        let rss = rss_of(child.0.id())?;
        let mut opts = o.clone();
        opts.jobs = n;
        let run = run_load(&[addr], Target::Retryd, &opts).await?;
        let per_job = rss.saturating_sub(idle) as f64 / n as f64;
        let ratio = run.rate() / *first_rate.get_or_insert(run.rate());
        if o.json {
            println!(
                "{}",
                json!({
                    "jobs": n, "server_rss_bytes": rss, "bytes_per_job": per_job.round(),
                    "preload_per_second": (n as f64 / load_secs).round(),
                    "requests_per_second": run.rate().round(), "p99_us": run.micros(0.99),
                    "throughput_vs_first": ratio,
                })
            );
        } else {
            println!(
                "{n:>9} jobs in retryd: {per_job:>6.0} B/job ({:.0} MiB RSS), preload {:>7.0}/s, then {:>7.0} req/s p99 {} µs ({ratio:.2} x the first N)",
                rss as f64 / (1 << 20) as f64,
                n as f64 / load_secs,
                run.rate(),
                run.micros(0.99)
            );
        }
    }
    let _ = std::fs::remove_file(&config);
    Ok(())
}
