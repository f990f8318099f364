//! `retryd-bench delivery`: delivery measured side by side in one run.
//!
//! - **The cycle**: producers report failures with a payload (the policy's
//!   delay is 1 ms), `WatchDue` streams take the jobs as they fall due and
//!   settle each with `ReportSuccess` under its lease: park → due → claim →
//!   success, per second, through one memory-backed sidecar, through a
//!   fleet on a redis-server started here, and BullMQ's delayed jobs on the
//!   same Redis (`bench/scripts/bullmq_cycle.js`) — rounds alternating.
//!   The producers keep at most `--backlog` jobs outstanding.
//! - **Lag at N parked**: N jobs parked an hour ahead (the index's size),
//!   then jobs due 100 ms ahead at a steady rate on the same queue, and the
//!   time from each one's due time to its hand-out; with the bytes each
//!   parked job costs beyond its payload (the sidecar's RSS, Redis's
//!   `used_memory`), against N jobs without a payload.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use hdrhistogram::Histogram;
use retryd::pb;
use retryd::pb::retry_coordinator_client::RetryCoordinatorClient;
use serde_json::json;
use tonic::transport::Channel;

use crate::load::channels;
use crate::memory::rss_of;
use crate::servers::{ChildGuard, free_port, sibling, wait_ready};
use crate::{Error, SpawnOpts};

pub struct Opts {
    pub rounds: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub concurrency: usize,
    pub streams: usize,
    pub payload: usize,
    pub backlog: u64,
    pub sidecars: usize,
    pub parked: usize,
    pub skip_cycle: bool,
    pub redis_server: PathBuf,
    pub node: PathBuf,
    pub json: bool,
}

const POLICIES: &str = "[policies.default]\nmax_retries = 100_000\nbackoff = { kind = \"constant\", delay = \"1ms\" }\n\
[policies.far]\nmax_retries = 100_000\nbackoff = { kind = \"constant\", delay = \"1h\" }\n\
[policies.near]\nmax_retries = 100_000\nbackoff = { kind = \"constant\", delay = \"100ms\" }\n\
[job_types]\nfar = \"far\"\nnear = \"near\"\n\
[delivery]\nmax_parked_bytes = 68_719_476_736\ndefault_lease = \"1m\"\n";

struct Sidecar {
    child: ChildGuard,
    grpc: SocketAddr,
}

fn spawn(spawn: &SpawnOpts, config: &str) -> Result<Sidecar, Error> {
    let bin = match &spawn.retryd_bin {
        Some(b) => b.clone(),
        None => sibling("retryd")?,
    };
    let path = std::env::temp_dir().join(format!(
        "retryd-bench-delivery-{}-{}.toml",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::write(&path, config)?;
    let grpc = free_port()?;
    let child = Command::new(&bin)
        .args(["--grpc-addr", &grpc.to_string()])
        .args(["--metrics-addr", "127.0.0.1:0", "--log", "warn", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    Ok(Sidecar {
        child: ChildGuard(child),
        grpc,
    })
}

struct Redis {
    _child: ChildGuard,
    port: u16,
}

async fn redis(o: &Opts) -> Result<Redis, Error> {
    let port = free_port()?.port();
    let child = Command::new(&o.redis_server)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", o.redis_server.display()))?;
    let r = Redis {
        _child: ChildGuard(child),
        port,
    };
    wait_ready(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    Ok(r)
}

fn used_memory(port: u16) -> Result<u64, Error> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "INFO", "memory"])
        .output()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "no used_memory in INFO memory".into())
}

fn fleet_config(port: u16, prefix: &str) -> String {
    format!(
        "{POLICIES}[state]\nmax_jobs = 100_000_000\nbackend = \"redis\"\n[state.redis]\nurl = \"redis://127.0.0.1:{port}/0\"\ntimeout = \"5s\"\nkey_prefix = \"{prefix}\"\n"
    )
}

fn memory_config() -> String {
    format!("{POLICIES}[state]\nmax_jobs = 100_000_000\n")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn ts_ms(t: &Option<prost_types::Timestamp>) -> u64 {
    t.as_ref().map_or(0, |t| {
        t.seconds as u64 * 1000 + (t.nanos as u64) / 1_000_000
    })
}

/// One cycle run's result.
struct Cycle {
    rate: f64,
    lag: Histogram<u64>,
}

/// What producers and consumers share: completions (all, and while
/// measuring), and the two switches.
#[derive(Clone, Default)]
struct Shared {
    done: Arc<AtomicU64>,
    counted: Arc<AtomicU64>,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

/// Consumers: `streams` WatchDue streams spread over the channels, each
/// settling every job it gets; counts completions while `measuring`.
fn consumers(
    chans: &[Channel],
    queue: &str,
    streams: usize,
    in_flight: u32,
    shared: &Shared,
) -> Vec<tokio::task::JoinHandle<Result<Histogram<u64>, Error>>> {
    (0..streams)
        .map(|s| {
            let ch = chans[s % chans.len()].clone();
            let Shared {
                done,
                counted,
                measuring,
                stop,
            } = shared.clone();
            let queue = queue.to_string();
            tokio::spawn(async move {
                let mut lag = Histogram::<u64>::new_with_bounds(1, 3_600_000, 3)?;
                let mut watch = RetryCoordinatorClient::new(ch.clone());
                let settle = RetryCoordinatorClient::new(ch);
                let mut stream = watch
                    .watch_due(pb::WatchDueRequest {
                        queue,
                        max_in_flight: in_flight,
                        lease: None,
                    })
                    .await?
                    .into_inner();
                let mut pending = futures_util::stream::FuturesUnordered::new();
                loop {
                    tokio::select! {
                        job = stream.next() => {
                            let Some(job) = job else { break };
                            let job = job?;
                            if measuring.load(Relaxed) {
                                lag.saturating_record(now_ms().saturating_sub(ts_ms(&job.due_at)).max(1));
                            }
                            let mut c = settle.clone();
                            pending.push(async move {
                                c.report_success(pb::ReportSuccessRequest {
                                    job_id: job.job_id,
                                    lease_id: job.lease_id,
                                    ..Default::default()
                                })
                                .await
                            });
                        }
                        Some(r) = pending.next(), if !pending.is_empty() => {
                            r?;
                            done.fetch_add(1, Relaxed);
                            if measuring.load(Relaxed) {
                                counted.fetch_add(1, Relaxed);
                            }
                        }
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {
                            if stop.load(Relaxed) && pending.is_empty() {
                                break;
                            }
                        }
                    }
                }
                Ok(lag)
            })
        })
        .collect()
}

/// The park → due → claim → success cycle against `addrs`.
async fn cycle(addrs: &[SocketAddr], o: &Opts, run: u64) -> Result<Cycle, Error> {
    let chans = channels(addrs, 4).await?;
    let queue = format!("cycle{run}");
    let shared = Shared::default();
    let Shared {
        done,
        counted,
        measuring,
        stop,
    } = shared.clone();
    let produced = Arc::new(AtomicU64::new(0));
    let in_flight = (o.concurrency / o.streams.max(1)).max(1) as u32;
    let cons = consumers(&chans, &queue, o.streams.max(1), in_flight, &shared);
    let payload = vec![b'x'; o.payload];
    let producers: Vec<_> = (0..o.concurrency.max(1))
        .map(|w| {
            let mut c = RetryCoordinatorClient::new(chans[w % chans.len()].clone());
            let (done, produced, stop, queue, payload) = (
                done.clone(),
                produced.clone(),
                stop.clone(),
                queue.clone(),
                payload.clone(),
            );
            let backlog = o.backlog;
            tokio::spawn(async move {
                while !stop.load(Relaxed) {
                    if produced.load(Relaxed).saturating_sub(done.load(Relaxed)) > backlog {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        continue;
                    }
                    let i = produced.fetch_add(1, Relaxed);
                    c.report_failure(pb::ReportFailureRequest {
                        job_id: format!("c{run}-{i}"),
                        queue: queue.clone(),
                        payload: payload.clone(),
                        attempt: 1,
                        error: Some(pb::ErrorInfo {
                            r#type: "TimeoutError".into(),
                            message: "timed out".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                    .await?;
                }
                Ok::<(), tonic::Status>(())
            })
        })
        .collect();
    tokio::time::sleep(o.warmup).await;
    measuring.store(true, Relaxed);
    let started = Instant::now();
    tokio::time::sleep(o.duration).await;
    measuring.store(false, Relaxed);
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, Relaxed);
    for p in producers {
        p.await??;
    }
    let mut lag = Histogram::<u64>::new_with_bounds(1, 3_600_000, 3)?;
    for c in cons {
        // A stream ends when the test stops it; what it counted stands.
        if let Ok(Ok(h)) = tokio::time::timeout(Duration::from_secs(10), c)
            .await
            .map(|r| r.map_err(Error::from).and_then(|x| x))
        {
            lag.add(&h)?;
        }
    }
    Ok(Cycle {
        rate: counted.load(Relaxed) as f64 / secs,
        lag,
    })
}

fn bullmq(o: &Opts, port: u16) -> Result<(f64, u64, u64), Error> {
    let root = std::env::current_dir()?;
    let out = Command::new(&o.node)
        .env("NODE_PATH", root.join("clients/node/node_modules"))
        .arg(root.join("bench/scripts/bullmq_cycle.js"))
        .args(["--port", &port.to_string()])
        .args(["--concurrency", &o.concurrency.to_string()])
        .args(["--payload", &o.payload.to_string()])
        .args(["--duration", &o.duration.as_secs().to_string()])
        .args(["--warmup", &o.warmup.as_secs().to_string()])
        .args(["--backlog", &o.backlog.to_string()])
        .output()
        .map_err(|e| format!("cannot run node: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = text
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| {
            format!(
                "no result from bench/scripts/bullmq_cycle.js (run from the repository root, after `npm ci` in clients/node): {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    Ok((
        v["cycles_per_second"].as_f64().unwrap_or(0.0),
        v["lag_p50_ms"].as_u64().unwrap_or(0),
        v["lag_p99_ms"].as_u64().unwrap_or(0),
    ))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn print(o: &Opts, what: &str, rate: f64, p50: u64, p99: u64) {
    if o.json {
        println!(
            "{}",
            json!({"target": what, "cycles_per_second": rate.round(), "lag_p50_ms": p50, "lag_p99_ms": p99})
        );
    } else {
        println!("{what:<8} {rate:>9.0} cycles/s  lag p50 {p50} ms, p99 {p99} ms");
    }
}

/// Parks `n` jobs an hour ahead on `queue` (with `payload` bytes each, or none).
async fn park_far(addrs: &[SocketAddr], n: usize, payload: usize, tag: &str) -> Result<(), Error> {
    let chans = channels(addrs, 4).await?;
    let workers = 64;
    let payload = vec![b'y'; payload];
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let mut c = RetryCoordinatorClient::new(chans[w % chans.len()].clone());
            let payload = payload.clone();
            let tag = tag.to_string();
            tokio::spawn(async move {
                let mut i = w;
                while i < n {
                    c.report_failure(pb::ReportFailureRequest {
                        job_id: format!("{tag}-{i:09}-5f0c2b9e-7d41-4e8a"),
                        job_type: "far".into(),
                        queue: "lag".into(),
                        payload: payload.clone(),
                        attempt: 1,
                        error: Some(pb::ErrorInfo {
                            r#type: "TimeoutError".into(),
                            message: "HTTPSConnectionPool(host='api.example.com', port=443): timed"
                                .into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                    .await?;
                    i += workers;
                }
                Ok::<(), tonic::Status>(())
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// With the index holding `parked` jobs: jobs due 100 ms ahead at `rate`/s
/// on the same queue, and their lag from due time to hand-out.
async fn lag(addrs: &[SocketAddr], o: &Opts, rate: u64) -> Result<Histogram<u64>, Error> {
    let chans = channels(addrs, 2).await?;
    let shared = Shared::default();
    shared.measuring.store(true, Relaxed);
    let stop = shared.stop.clone();
    let cons = consumers(&chans, "lag", 2, 64, &shared);
    let mut c = RetryCoordinatorClient::new(chans[0].clone());
    let n = rate * o.duration.as_secs().max(1);
    let gap = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    for i in 0..n {
        c.report_failure(pb::ReportFailureRequest {
            job_id: format!("near-{i}"),
            job_type: "near".into(),
            queue: "lag".into(),
            payload: vec![b'z'; o.payload],
            attempt: 1,
            error: Some(pb::ErrorInfo {
                r#type: "TimeoutError".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?;
        let next = gap * (i as u32 + 1);
        if let Some(w) = next.checked_sub(started.elapsed()) {
            tokio::time::sleep(w).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Relaxed);
    let mut lag = Histogram::<u64>::new_with_bounds(1, 3_600_000, 3)?;
    for h in cons {
        match tokio::time::timeout(Duration::from_secs(10), h).await {
            Ok(Ok(Ok(h))) => lag.add(&h)?,
            Ok(Ok(Err(e))) => return Err(format!("a consumer failed: {e}").into()),
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => return Err("a consumer did not stop".into()),
        }
    }
    Ok(lag)
}

pub async fn run(spawn_opts: SpawnOpts, o: Opts) -> Result<(), Error> {
    let redis_server = redis(&o).await?;
    let port = redis_server.port;
    if !o.skip_cycle {
        let memory = spawn(&spawn_opts, &memory_config())?;
        let fleet: Vec<Sidecar> = (0..o.sidecars.max(1))
            .map(|_| spawn(&spawn_opts, &fleet_config(port, "cycle")))
            .collect::<Result<_, _>>()?;
        for s in std::iter::once(&memory).chain(&fleet) {
            wait_ready(s.grpc).await?;
        }
        let fleet_addrs: Vec<SocketAddr> = fleet.iter().map(|s| s.grpc).collect();
        if !o.json {
            println!(
                "cycle: {} producers, {} WatchDue streams, {} B payloads, {:?} per run after {:?} warm-up, {} rounds; fleet: {} sidecars on one redis-server; BullMQ on the same redis-server",
                o.concurrency,
                o.streams,
                o.payload,
                o.duration,
                o.warmup,
                o.rounds,
                fleet.len()
            );
        }
        let (mut mem, mut flt, mut bmq) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..o.rounds.max(1) as u64 {
            let m = cycle(&[memory.grpc], &o, round).await?;
            print(
                &o,
                "memory",
                m.rate,
                m.lag.value_at_quantile(0.5),
                m.lag.value_at_quantile(0.99),
            );
            mem.push(m.rate);
            let f = cycle(&fleet_addrs, &o, round).await?;
            print(
                &o,
                "fleet",
                f.rate,
                f.lag.value_at_quantile(0.5),
                f.lag.value_at_quantile(0.99),
            );
            flt.push(f.rate);
            let (b, b50, b99) = bullmq(&o, port)?;
            print(&o, "bullmq", b, b50, b99);
            bmq.push(b);
        }
        let (m, f, b) = (median(&mut mem), median(&mut flt), median(&mut bmq));
        if o.json {
            println!(
                "{}",
                json!({"medians": {"memory": m.round(), "fleet": f.round(), "bullmq": b.round(), "fleet_over_bullmq": f / b.max(1.0)}})
            );
        } else {
            println!(
                "medians: memory {m:.0}/s, fleet {f:.0}/s, BullMQ {b:.0}/s; fleet / BullMQ {:.2}",
                f / b.max(1.0)
            );
        }
    }
    if o.parked > 0 {
        for fleet_mode in [false, true] {
            let label = if fleet_mode { "fleet" } else { "memory" };
            let mut per_job = Vec::new();
            for (with, tag) in [(0usize, "plain"), (o.payload, "parcel")] {
                let config = if fleet_mode {
                    fleet_config(port, tag)
                } else {
                    memory_config()
                };
                let s = spawn(&spawn_opts, &config)?;
                wait_ready(s.grpc).await?;
                let before = if fleet_mode {
                    used_memory(port)?
                } else {
                    rss_of(s.child.0.id())?
                };
                let started = Instant::now();
                park_far(&[s.grpc], o.parked, with, tag).await?;
                let after = if fleet_mode {
                    used_memory(port)?
                } else {
                    rss_of(s.child.0.id())?
                };
                let bytes = after.saturating_sub(before) as f64 / o.parked as f64;
                per_job.push(bytes);
                if !o.json {
                    println!(
                        "{label}: {} jobs parked {} in {:.1?}: {bytes:.0} B per job ({} B payload each)",
                        o.parked,
                        if with > 0 {
                            "with a payload"
                        } else {
                            "without one"
                        },
                        started.elapsed(),
                        with
                    );
                }
                if with > 0 {
                    let h = lag(&[s.grpc], &o, 1000).await?;
                    let (p50, p99) = (h.value_at_quantile(0.5), h.value_at_quantile(0.99));
                    if o.json {
                        println!(
                            "{}",
                            json!({"target": label, "parked": o.parked, "bytes_per_job": bytes.round(), "beyond_payload": (bytes - with as f64).round(), "lag_p50_ms": p50, "lag_p99_ms": p99, "jobs": h.len()})
                        );
                    } else {
                        println!(
                            "{label}: {} B per parked job beyond its payload; lag of jobs falling due among them: p50 {p50} ms, p99 {p99} ms ({} jobs)",
                            (bytes - with as f64).round(),
                            h.len()
                        );
                    }
                }
                if fleet_mode {
                    let _ = Command::new("redis-cli")
                        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "FLUSHALL"])
                        .output();
                }
            }
            if !o.json {
                println!(
                    "{label}: a parked job costs {:.0} B more than a job without delivery, beyond its payload",
                    per_job[1] - per_job[0] - o.payload as f64
                );
            }
        }
    }
    Ok(())
}
