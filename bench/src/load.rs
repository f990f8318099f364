//! The load: report traffic over gRPC, its rate and latency, against
//! retryd or the echo service (`load`, `baseline`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use prost::Message;
use prost::bytes::{Buf, BufMut, Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use retryd::pb;
use retryd::pb::retry_coordinator_client::RetryCoordinatorClient;
use serde_json::json;
use tonic::client::Grpc;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
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

/// A request encoded once; `id_at` is where the job id's bytes start.
struct Template {
    bytes: Vec<u8>,
    id_at: Option<usize>,
}

impl Template {
    fn new(bytes: Vec<u8>) -> Template {
        let needle = job_id(0);
        let id_at = bytes.windows(ID_LEN).position(|w| w == needle.as_bytes());
        Template { bytes, id_at }
    }

    /// The request for job `job`: a copy of the template with the job id's
    /// digits written in.
    fn with_job(&self, job: usize) -> Bytes {
        let mut b = BytesMut::from(&self.bytes[..]);
        if let Some(at) = self.id_at {
            write_digits(&mut b[at..at + ID_LEN], job);
        }
        b.freeze()
    }
}

/// The digits of `job_id(i)` (bytes 4..14) written into `id`.
fn write_digits(id: &mut [u8], i: usize) {
    let mut n = i;
    for d in (4..14).rev() {
        id[d] = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Every call a run can make, encoded before it starts. Call `k` of a
/// worker is index `i = (start + k * stride) % n` over
/// `n = jobs × ERRORS.len()`, `stride` prime to `n`: each worker walks every
/// (job, error) pair once before repeating, with no RNG per call. As in
/// the generated client, index `i` is job `i % jobs`, error
/// `i % ERRORS.len()`, target `i % targets`.
pub(crate) struct Calls {
    failure: Vec<Template>,
    success: Vec<Template>,
    echo: Template,
    jobs: usize,
    targets: usize,
    n: usize,
    stride: usize,
    success_ratio: f64,
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Calls {
    pub(crate) fn new(target: Target, o: &LoadOpts) -> Calls {
        let jobs = o.jobs.max(1);
        let targets = o.targets;
        let e = ERRORS.len();
        let mut failure = Vec::new();
        for err in 0..e {
            for t in 0..targets.max(1) {
                let mut r = failure_request(err, 1);
                r.target = target_of(t, targets);
                failure.push(Template::new(r.encode_to_vec()));
            }
        }
        let success = (0..targets.max(1))
            .map(|t| {
                Template::new(
                    pb::ReportSuccessRequest {
                        job_id: job_id(0),
                        job_type: "invoice".into(),
                        target: target_of(t, targets),
                    }
                    .encode_to_vec(),
                )
            })
            .collect();
        let echo = match target {
            Target::Echo { request, response } => EchoRequest {
                payload: vec![b'x'; request.saturating_sub(5)],
                response_size: response as u32,
            },
            Target::Retryd => EchoRequest::default(),
        };
        let n = jobs.saturating_mul(e);
        // About n × 0.618, moved up to the first value prime to n.
        let mut stride = (n as f64 * 0.618) as usize | 1;
        while gcd(stride, n) != 1 {
            stride += 1;
        }
        Calls {
            failure,
            success,
            echo: Template::new(echo.encode_to_vec()),
            jobs,
            targets,
            n,
            stride,
            success_ratio: o.success_ratio,
        }
    }

    /// Where worker `w` starts its walk.
    fn start(&self, w: usize) -> usize {
        (w.wrapping_mul(7919)) % self.n
    }

    fn next(&self, i: usize) -> usize {
        (i + self.stride) % self.n
    }

    fn failure(&self, i: usize) -> Bytes {
        let t = if self.targets == 0 {
            0
        } else {
            i % self.targets
        };
        self.failure[(i % ERRORS.len()) * self.targets.max(1) + t].with_job(i % self.jobs)
    }

    fn success(&self, i: usize) -> Bytes {
        let t = if self.targets == 0 {
            0
        } else {
            i % self.targets
        };
        self.success[t].with_job(i % self.jobs)
    }

    fn echo(&self) -> Bytes {
        // Copied like a retryd request, so both cost the client the same.
        self.echo.with_job(0)
    }
}

/// Sends bytes encoded beforehand and counts the answer's bytes.
#[derive(Clone, Copy, Default)]
pub(crate) struct RawCodec;

pub(crate) struct RawEncoder;
pub(crate) struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = usize;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = usize;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<usize>, tonic::Status> {
        let n = src.remaining();
        src.advance(n);
        Ok(Some(n))
    }
}

pub(crate) const REPORT_FAILURE: &str = "/retryd.v1.RetryCoordinator/ReportFailure";
pub(crate) const REPORT_SUCCESS: &str = "/retryd.v1.RetryCoordinator/ReportSuccess";
pub(crate) const ECHO: &str = "/bench.v1.Echo/Echo";

/// One lean caller: a channel, the calls, and where it is in its walk.
pub(crate) struct Lean {
    grpc: Grpc<Channel>,
    calls: Arc<Calls>,
    target: Target,
    i: usize,
    credit: f64,
}

impl Lean {
    pub(crate) fn new(ch: Channel, calls: Arc<Calls>, target: Target, w: usize) -> Lean {
        let i = calls.start(w);
        Lean {
            grpc: Grpc::new(ch),
            calls,
            target,
            i,
            credit: 0.0,
        }
    }

    /// One call; true if it was answered OK.
    pub(crate) async fn call(&mut self) -> bool {
        let (path, body) = match self.target {
            Target::Echo { .. } => (ECHO, self.calls.echo()),
            Target::Retryd => {
                let i = self.i;
                self.i = self.calls.next(i);
                // A deterministic share of successes: no RNG per call.
                self.credit += self.calls.success_ratio;
                if self.credit >= 1.0 {
                    self.credit -= 1.0;
                    (REPORT_SUCCESS, self.calls.success(i))
                } else {
                    (REPORT_FAILURE, self.calls.failure(i))
                }
            }
        };
        if self.grpc.ready().await.is_err() {
            return false;
        }
        self.grpc
            .unary(
                tonic::Request::new(body),
                PathAndQuery::from_static(path),
                RawCodec,
            )
            .await
            .is_ok()
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

/// CPU time a process has used, all its threads: the sum of the first
/// field (ns on CPU) of /proc/PID/task/*/schedstat.
pub(crate) fn process_cpu(pid: u32) -> Result<Duration, Error> {
    let mut ns = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path().join("schedstat");
        // A thread that ended since the listing has no file: not an error.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        ns += text
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .ok_or_else(|| format!("{}: unexpected contents {text:?}", path.display()))?;
    }
    Ok(Duration::from_nanos(ns))
}

fn cpu_of(pids: &[u32]) -> Result<Duration, Error> {
    pids.iter().map(|&p| process_cpu(p)).sum()
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
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
                .expect("valid histogram bounds");
            let (mut n, mut errors) = (0u64, 0u64);
            match o.client {
                Client::Lean => {
                    let mut lean = Lean::new(ch, calls, target, w);
                    loop {
                        let t0 = Instant::now();
                        if t0 >= stop {
                            break;
                        }
                        let ok = lean.call().await;
                        if t0 >= measure_from {
                            let us = t0.elapsed().as_micros().max(1) as u64;
                            n += 1;
                            errors += u64::from(!ok);
                            let _ = hist.record(us.min(60_000_000));
                        }
                    }
                }
                Client::Generated => {
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
                        if t0 >= measure_from {
                            let us = t0.elapsed().as_micros().max(1) as u64;
                            n += 1;
                            errors += u64::from(!ok);
                            let _ = hist.record(us.min(60_000_000));
                        }
                    }
                }
            }
            (n, errors, hist)
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

pub(crate) async fn baseline_cmd(
    o: LoadOpts,
    spawn: SpawnOpts,
    rounds: usize,
    concurrencies: &[usize],
) -> Result<(), Error> {
    let (retryd_child, retryd_addr) = spawn_retryd(&spawn)?;
    let (echo_child, echo_addr) = spawn_echo()?;
    let (retryd_pid, echo_pid) = (retryd_child.0.id(), echo_child.0.id());
    wait_ready(retryd_addr).await?;
    wait_ready(echo_addr).await?;
    let (request, response) = message_sizes(retryd_addr).await?;
    let levels: Vec<usize> = if concurrencies.is_empty() {
        vec![o.concurrency]
    } else {
        concurrencies.to_vec()
    };
    let mut summary = Vec::new();
    for &c in &levels {
        let o = LoadOpts {
            concurrency: c,
            ..o.clone()
        };
        if !o.json {
            println!(
                "{c} in flight over {} channels ({:?} client), {:?} per run after {:?} warm-up, {rounds} rounds; echo mimics {request} B requests, {response} B responses",
                o.channels.min(c.max(1)),
                o.client,
                o.duration,
                o.warmup
            );
        }
        let mut m = Medians::default();
        for _ in 0..rounds.max(1) {
            let echo = run_load_measured(
                &[echo_addr],
                Target::Echo { request, response },
                &o,
                &[echo_pid],
            )
            .await?;
            echo.print("echo", o.json);
            let retryd =
                run_load_measured(&[retryd_addr], Target::Retryd, &o, &[retryd_pid]).await?;
            retryd.print("retryd", o.json);
            m.push(&echo, &retryd);
        }
        let s = m.summary(c);
        if o.json {
            println!("{}", s.json());
        } else {
            println!("{}", s.text(rounds));
        }
        summary.push(s);
    }
    if !o.json && summary.len() > 1 {
        println!("medians of {rounds} alternating rounds:");
        for s in &summary {
            println!("{}", s.text(rounds));
        }
    }
    Ok(())
}

/// Per-round figures of a baseline, echo then retryd.
#[derive(Default)]
struct Medians {
    rate: [Vec<f64>; 2],
    p50: [Vec<f64>; 2],
    p99: [Vec<f64>; 2],
    cpu: [Vec<f64>; 2],
    rate_ratio: Vec<f64>,
    p99_ratio: Vec<f64>,
    cpu_ratio: Vec<f64>,
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

impl Medians {
    fn push(&mut self, echo: &Run, retryd: &Run) {
        for (k, r) in [echo, retryd].into_iter().enumerate() {
            self.rate[k].push(r.rate());
            self.p50[k].push(r.micros(0.5) as f64);
            self.p99[k].push(r.micros(0.99) as f64);
            self.cpu[k].push(r.cpu_per_call().unwrap_or(f64::NAN));
        }
        self.rate_ratio.push(retryd.rate() / echo.rate());
        self.p99_ratio
            .push(retryd.micros(0.99) as f64 / echo.micros(0.99).max(1) as f64);
        if let (Some(r), Some(e)) = (retryd.cpu_per_call(), echo.cpu_per_call()) {
            self.cpu_ratio.push(r / e);
        }
    }

    fn summary(&self, concurrency: usize) -> Summary {
        let m = |v: &[Vec<f64>; 2]| [median(&v[0]), median(&v[1])];
        Summary {
            concurrency,
            rate: m(&self.rate),
            p50: m(&self.p50),
            p99: m(&self.p99),
            cpu: m(&self.cpu),
            rate_ratio: median(&self.rate_ratio),
            p99_ratio: median(&self.p99_ratio),
            cpu_ratio: median(&self.cpu_ratio),
        }
    }
}

/// Medians of a baseline at one concurrency: `[echo, retryd]`, and the
/// medians of the per-round ratios retryd/echo.
struct Summary {
    concurrency: usize,
    rate: [f64; 2],
    p50: [f64; 2],
    p99: [f64; 2],
    cpu: [f64; 2],
    rate_ratio: f64,
    p99_ratio: f64,
    cpu_ratio: f64,
}

impl Summary {
    fn json(&self) -> serde_json::Value {
        json!({
            "concurrency": self.concurrency,
            "echo": {
                "requests_per_second": self.rate[0].round(),
                "p50_us": self.p50[0],
                "p99_us": self.p99[0],
                "server_cpu_us_per_call": self.cpu[0],
            },
            "retryd": {
                "requests_per_second": self.rate[1].round(),
                "p50_us": self.p50[1],
                "p99_us": self.p99[1],
                "server_cpu_us_per_call": self.cpu[1],
            },
            "throughput_ratio": self.rate_ratio,
            "p99_ratio": self.p99_ratio,
            "server_cpu_ratio": self.cpu_ratio,
        })
    }

    fn text(&self, rounds: usize) -> String {
        format!(
            "c={:<3} echo {:>7.0} req/s p50 {:>4.0} µs CPU {:>5.1} µs/call | retryd {:>7.0} req/s p50 {:>4.0} µs CPU {:>5.1} µs/call | retryd/echo (median of {rounds}): throughput {:.3}, p99 {:.3}, server CPU/call {:.3}",
            self.concurrency,
            self.rate[0],
            self.p50[0],
            self.cpu[0],
            self.rate[1],
            self.p50[1],
            self.cpu[1],
            self.rate_ratio,
            self.p99_ratio,
            self.cpu_ratio
        )
    }
}
