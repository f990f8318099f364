//! The load: report traffic over gRPC, its rate and latency, against
//! retryd or the echo service (`load`, `baseline`).
//!
//! `lean` is the default client, `generated` the former one; `cpu` reads a
//! server's CPU time; `baseline` alternates retryd and the echo.

mod baseline;
mod cpu;
mod generated;
mod lean;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use prost::Message;
use retryd::pb;
use retryd::pb::retry_coordinator_client::RetryCoordinatorClient;
use serde_json::json;
use tonic::transport::{Channel, Endpoint};

use crate::servers::{spawn_retryd, wait_ready};
use crate::{Error, LoadOpts, SpawnOpts};

pub(crate) use baseline::baseline_cmd;
use cpu::cpu_of;
pub(crate) use lean::{Calls, Lean};

pub(crate) const ERRORS: &[(&str, &str, u32, i32)] = &[
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
pub(crate) fn job_id(i: usize) -> String {
    let mut buf = [0u8; ID_LEN];
    String::from(job_id_in(i, &mut buf))
}

pub(crate) const ID_LEN: usize = 40;

/// `job_id(i)` written into `buf`, without touching the heap (the memory
/// benchmark must cost the same per call whatever the number of jobs).
pub(crate) fn job_id_in(i: usize, buf: &mut [u8; ID_LEN]) -> &str {
    buf.copy_from_slice(b"job-0000000000-5f0c2b9e-7d41-4e8a-b3c6d2");
    write_digits(buf, i);
    std::str::from_utf8(buf).unwrap_or("job")
}

pub(crate) fn failure_request(i: usize, jobs: usize) -> pb::ReportFailureRequest {
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

pub(crate) fn target_of(i: usize, targets: usize) -> String {
    if targets == 0 {
        String::new()
    } else {
        format!("t{}", i % targets)
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Target {
    Retryd,
    /// Request and response sizes to mimic.
    Echo {
        request: usize,
        response: usize,
    },
}

/// How the load loop makes its calls.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Client {
    /// Requests encoded before the run and copied per call (one small
    /// allocation and a 10-digit patch for the job id), sent through
    /// `tonic::client::Grpc` with a pass-through codec; the answer's bytes
    /// are counted, not decoded. The same per-call work for retryd and the
    /// echo: what remains is the server's.
    Lean,
    /// The generated clients, each request built per call (an RNG draw,
    /// the job id formatted, five `String`s) and each answer decoded:
    /// what `retryd-bench` did before, kept to measure what it costs.
    Generated,
}

/// The digits of `job_id(i)` (bytes 4..14) written into `id`.
fn write_digits(id: &mut [u8], i: usize) {
    let mut n = i;
    for d in (4..14).rev() {
        id[d] = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// What one worker counted over the measured window.
pub(crate) struct Counted {
    n: u64,
    errors: u64,
    hist: Histogram<u64>,
    measure_from: Instant,
    stop: Instant,
}

impl Counted {
    fn new(measure_from: Instant, stop: Instant) -> Counted {
        Counted {
            n: 0,
            errors: 0,
            hist: Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
                .expect("valid histogram bounds"),
            measure_from,
            stop,
        }
    }

    /// A call that started at `t0` ended (`ok`: without an error); counted
    /// if it started in the measured window.
    fn done(&mut self, t0: Instant, ok: bool) {
        if t0 >= self.measure_from {
            let us = t0.elapsed().as_micros().max(1) as u64;
            self.n += 1;
            self.errors += u64::from(!ok);
            let _ = self.hist.record(us.min(60_000_000));
        }
    }
}

pub(crate) struct Run {
    requests: u64,
    errors: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
    /// The servers' CPU (all threads) over the measured window, if known.
    server_cpu: Option<Duration>,
}

impl Run {
    pub(crate) fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub(crate) fn micros(&self, q: f64) -> u64 {
        self.latency.value_at_quantile(q)
    }

    /// µs of server CPU per call.
    pub(crate) fn cpu_per_call(&self) -> Option<f64> {
        self.server_cpu
            .map(|c| c.as_secs_f64() * 1e6 / self.requests.max(1) as f64)
    }

    pub(crate) fn print(&self, label: &str, json: bool) {
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
                    "server_cpu_us_per_call": self.cpu_per_call(),
                })
            );
        } else {
            let cpu = self
                .cpu_per_call()
                .map(|c| format!("  server CPU {c:>6.1} µs/call"))
                .unwrap_or_default();
            println!(
                "{label:<8} {:>9.0} req/s  p50 {:>6} µs  p99 {:>6} µs  p999 {:>6} µs  errors {}{cpu}",
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
pub(crate) async fn channels(addrs: &[SocketAddr], n: usize) -> Result<Vec<Channel>, Error> {
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

pub(crate) async fn run_load(
    addrs: &[SocketAddr],
    target: Target,
    o: &LoadOpts,
) -> Result<Run, Error> {
    run_load_measured(addrs, target, o, &[]).await
}

/// `run_load`, with the CPU the processes `servers` use over the measured
/// window.
pub(crate) async fn run_load_measured(
    addrs: &[SocketAddr],
    target: Target,
    o: &LoadOpts,
    servers: &[u32],
) -> Result<Run, Error> {
    let chans = channels(addrs, o.channels).await?;
    let calls = Arc::new(Calls::new(target, o));
    let start = Instant::now();
    let measure_from = start + o.warmup;
    let stop = measure_from + o.duration;
    let mut tasks = Vec::new();
    for w in 0..o.concurrency.max(1) {
        let ch = chans[w % chans.len()].clone();
        let o = o.clone();
        let calls = calls.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Counted::new(measure_from, stop);
            match o.client {
                Client::Lean => lean::worker(ch, calls, target, w, &mut c).await,
                Client::Generated => generated::worker(ch, target, &o, w, &mut c).await,
            }
            (c.n, c.errors, c.hist)
        }));
    }
    // The servers' CPU over the measured window: read at its two ends.
    let server_cpu = if servers.is_empty() {
        None
    } else {
        tokio::time::sleep_until(measure_from.into()).await;
        let before = cpu_of(servers)?;
        tokio::time::sleep_until(stop.into()).await;
        Some(cpu_of(servers)?.saturating_sub(before))
    };
    let mut run = Run {
        requests: 0,
        errors: 0,
        elapsed: o.duration,
        latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        server_cpu,
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
pub(crate) async fn message_sizes(addr: SocketAddr) -> Result<(usize, usize), Error> {
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

pub(crate) async fn load_cmd(
    addrs: Vec<String>,
    o: LoadOpts,
    spawn: SpawnOpts,
) -> Result<(), Error> {
    let (child, addrs) = if addrs.is_empty() {
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
    // The server's CPU per call, when it is ours to watch.
    let pids: Vec<u32> = child.iter().map(|c| c.0.id()).collect();
    run_load_measured(&addrs, Target::Retryd, &o, &pids)
        .await?
        .print("retryd", o.json);
    Ok(())
}
