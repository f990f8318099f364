//! The load: report traffic over gRPC, its rate and latency, against
//! retryd or the echo service (`load`, `baseline`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use prost::Message;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use retryd::pb;
use retryd::pb::retry_coordinator_client::RetryCoordinatorClient;
use serde_json::json;
use tonic::transport::{Channel, Endpoint};

use crate::bench_pb::EchoRequest;
use crate::bench_pb::echo_client::EchoClient;
use crate::servers::{spawn_echo, spawn_retryd, wait_ready};
use crate::{Error, LoadOpts, SpawnOpts};

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
    let mut n = i;
    for d in (4..14).rev() {
        buf[d] = b'0' + (n % 10) as u8;
        n /= 10;
    }
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

pub(crate) struct Run {
    requests: u64,
    errors: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
}

impl Run {
    pub(crate) fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub(crate) fn micros(&self, q: f64) -> u64 {
        self.latency.value_at_quantile(q)
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

pub(crate) async fn baseline_cmd(
    o: LoadOpts,
    spawn: SpawnOpts,
    rounds: usize,
) -> Result<(), Error> {
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
