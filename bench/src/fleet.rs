//! `retryd-bench fleet`: fleet mode measured side by side in one run.
//!
//! A redis-server and the sidecars are started here on 127.0.0.1; rounds
//! alternate the same load through the memory backend, through the Redis
//! backend (the calls spread over every sidecar), and redis-benchmark
//! running one EVALSHA that does what a decision asks of Redis (find the
//! job's member, replace it, bump a counter) — the floor a Redis-backed
//! decision cannot beat. Backend calls per decision come from the
//! sidecars' own metrics; Redis memory per job from `INFO memory`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::load::{Target, run_load};
use crate::memory::preload;
use crate::servers::{ChildGuard, free_port, sibling, wait_ready};
use crate::{Error, LoadOpts, SpawnOpts};

pub struct Opts {
    pub sidecars: usize,
    pub rounds: usize,
    pub memory_jobs: usize,
    pub redis_server: PathBuf,
    pub redis_benchmark: PathBuf,
    pub pin: bool,
    pub replicas_ack: u32,
}

/// Restricts process `pid` (and the threads it makes later) to `cores`.
pub fn pin(pid: u32, cores: &str) -> Result<(), Error> {
    let ok = Command::new("taskset")
        .args(["-a", "-p", "-c", cores, &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("--pin needs taskset (util-linux): {e}"))?
        .success();
    if ok {
        Ok(())
    } else {
        Err(format!("taskset -c {cores} {pid} failed").into())
    }
}

/// The last online core's number, for Redis when pinning (read from the
/// system: this process is pinned to core 0 by then).
fn last_core() -> Result<String, Error> {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online")?;
    let last = online
        .trim()
        .rsplit([',', '-'])
        .next()
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or("cannot read /sys/devices/system/cpu/online")?;
    if last == 0 {
        return Err("--pin needs at least 2 cores".into());
    }
    Ok(last.to_string())
}

/// The work of one decision in one script, for redis-benchmark: the same
/// commands a read and a commit run, on a member of the same size.
const EQUIVALENT: &str = r"
local m = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[1] .. '\0', '(' .. ARGV[1] .. '\1', 'LIMIT', 0, 1)
if m[1] then redis.call('ZREM', KEYS[1], m[1]) end
redis.call('ZADD', KEYS[1], 0, ARGV[1] .. '\0' .. ARGV[2])
redis.call('HINCRBY', KEYS[2], 'invoice\0r', 1)
return 1";

/// A sidecar started here, with its metrics endpoint.
struct Sidecar {
    _child: ChildGuard,
    grpc: SocketAddr,
    metrics: SocketAddr,
}

fn spawn_sidecar(
    spawn: &SpawnOpts,
    config: &std::path::Path,
    pinned: bool,
) -> Result<Sidecar, Error> {
    let bin = match &spawn.retryd_bin {
        Some(b) => b.clone(),
        None => sibling("retryd")?,
    };
    let (grpc, metrics) = (free_port()?, free_port()?);
    let child = Command::new(&bin)
        .args(["--grpc-addr", &grpc.to_string()])
        .args(["--metrics-addr", &metrics.to_string()])
        .args(["--log", "warn", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    if pinned {
        pin(child.id(), "0")?;
    }
    Ok(Sidecar {
        _child: ChildGuard(child),
        grpc,
        metrics,
    })
}

/// `GET /metrics` of a sidecar.
async fn scrape(addr: SocketAddr) -> Result<String, Error> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    Ok(out)
}

/// The sum of the samples of `name` whose labels contain every `with`.
fn sum(text: &str, name: &str, with: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
        .filter(|l| with.iter().all(|w| l.contains(w)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Backend calls (any op, any result), the commits among them that lost to
/// another sidecar (each one more round trip), and decisions, summed over
/// sidecars.
async fn counts(sidecars: &[Sidecar]) -> Result<(f64, f64, f64), Error> {
    let (mut calls, mut conflicts, mut decisions) = (0.0, 0.0, 0.0);
    for s in sidecars {
        let text = scrape(s.metrics).await?;
        calls += sum(&text, "retryd_backend_requests_total", &[]);
        calls -= sum(&text, "retryd_backend_requests_total", &["op=\"ping\""]);
        calls -= sum(&text, "retryd_backend_requests_total", &["op=\"sweep\""]);
        calls -= sum(&text, "retryd_backend_requests_total", &["op=\"stats\""]);
        conflicts += sum(
            &text,
            "retryd_backend_requests_total",
            &["result=\"conflict\""],
        );
        decisions += sum(
            &text,
            "retryd_rpc_duration_seconds_count",
            &["method=\"ReportFailure\""],
        );
    }
    Ok((calls, conflicts, decisions))
}

fn redis_cli(port: u16, args: &[&str]) -> Result<String, Error> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run redis-cli: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn used_memory(port: u16) -> Result<u64, Error> {
    let info = redis_cli(port, &["INFO", "memory"])?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "no used_memory in INFO memory".into())
}

/// redis-benchmark's rate for `n` EVALSHA calls, `c` at a time.
fn redis_benchmark(bin: &PathBuf, port: u16, sha: &str, c: usize, n: u64) -> Result<f64, Error> {
    let payload = "x".repeat(150);
    let out = Command::new(bin)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args([
            "-c",
            &c.to_string(),
            "-n",
            &n.to_string(),
            "-r",
            "10000",
            "--csv",
        ])
        .args([
            "EVALSHA",
            sha,
            "2",
            "bench:{p0}:r",
            "bench:{p0}:g",
            "job-__rand_int__",
            &payload,
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "test","rps",...  then  "EVALSHA ...","81234.00",...
    text.lines()
        .filter(|l| !l.starts_with("\"test\""))
        .find_map(|l| l.split("\",\"").nth(1)?.trim_matches('"').parse().ok())
        .ok_or_else(|| format!("no rate in redis-benchmark's output: {text}").into())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

pub async fn run(load: LoadOpts, spawn: SpawnOpts, o: Opts) -> Result<(), Error> {
    let port = free_port()?.port();
    let redis = Command::new(&o.redis_server)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", o.redis_server.display()))?;
    let redis_pid = redis.id();
    let _redis = ChildGuard(redis);
    if o.pin {
        pin(redis_pid, &last_core()?)?;
    }
    wait_ready(SocketAddr::from(([127, 0, 0, 1], port))).await?;

    let dir = std::env::temp_dir();
    let policies = "[policies.default]\nmax_retries = 10_000\n";
    let memory_conf = dir.join(format!("retryd-bench-mem-{}.toml", std::process::id()));
    std::fs::write(
        &memory_conf,
        format!("{policies}[state]\nmax_jobs = 100_000_000\n"),
    )?;
    let fleet_conf = dir.join(format!("retryd-bench-fleet-{}.toml", std::process::id()));
    std::fs::write(
        &fleet_conf,
        format!(
            "{policies}[state]\nmax_jobs = 100_000_000\nbackend = \"redis\"\n[state.redis]\nurl = \"redis://127.0.0.1:{port}/0\"\ntimeout = \"2s\"\n"
        ),
    )?;
    // With --replicas-ack: a replica of the Redis, and a fleet that waits
    // for it on every commit.
    let mut _replica = None;
    let mut acked: Vec<Sidecar> = Vec::new();
    if o.replicas_ack > 0 {
        let replica_port = free_port()?.port();
        let child = Command::new(&o.redis_server)
            .args(["--port", &replica_port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--replicaof", "127.0.0.1", &port.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", o.redis_server.display()))?;
        if o.pin {
            pin(child.id(), &last_core()?)?;
        }
        _replica = Some(ChildGuard(child));
        let deadline = Instant::now() + Duration::from_secs(20);
        while !redis_cli(port, &["INFO", "replication"])?.contains("state=online") {
            if Instant::now() > deadline {
                return Err("the replica never came online".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Its first acknowledgements come with its once-a-second tick.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let acked_conf = dir.join(format!("retryd-bench-acked-{}.toml", std::process::id()));
        std::fs::write(
            &acked_conf,
            format!(
                "{policies}[state]\nmax_jobs = 100_000_000\nbackend = \"redis\"\n[state.redis]\nurl = \"redis://127.0.0.1:{port}/0\"\ntimeout = \"2s\"\nreplicas_ack = {}\nkey_prefix = \"acked\"\n",
                o.replicas_ack
            ),
        )?;
        acked = (0..o.sidecars.max(1))
            .map(|_| spawn_sidecar(&spawn, &acked_conf, o.pin))
            .collect::<Result<_, _>>()?;
        for s in &acked {
            wait_ready(s.grpc).await?;
        }
    }
    let acked_addrs: Vec<SocketAddr> = acked.iter().map(|s| s.grpc).collect();
    let memory = spawn_sidecar(&spawn, &memory_conf, o.pin)?;
    let fleet: Vec<Sidecar> = (0..o.sidecars.max(1))
        .map(|_| spawn_sidecar(&spawn, &fleet_conf, o.pin))
        .collect::<Result<_, _>>()?;
    for s in std::iter::once(&memory).chain(&fleet) {
        wait_ready(s.grpc).await?;
    }
    let fleet_addrs: Vec<SocketAddr> = fleet.iter().map(|s| s.grpc).collect();

    let sha = {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/0"))?;
        let mut c = client.get_multiplexed_async_connection().await?;
        redis::Script::new(EQUIVALENT)
            .prepare_invoke()
            .load_async(&mut c)
            .await?
    };
    if !load.json {
        println!(
            "{} in flight over {} channels, {} jobs, {:?} per run after {:?} warm-up, {} rounds; \
             fleet: {} sidecars on one redis-server (127.0.0.1:{port}){}",
            load.concurrency,
            load.channels,
            load.jobs,
            load.duration,
            load.warmup,
            o.rounds,
            fleet.len(),
            if o.pin {
                "; Redis on a core of its own, the sidecars and the client on core 0"
            } else {
                ""
            }
        );
    }
    let (mut mem_rates, mut redis_rates, mut bench_rates) = (Vec::new(), Vec::new(), Vec::new());
    let (mut redis_p50, mut redis_p99) = (Vec::new(), Vec::new());
    let (mut ack_rates, mut ack_p99) = (Vec::new(), Vec::new());
    let (mut calls_per_decision, mut uncontended) = (Vec::new(), Vec::new());
    for _ in 0..o.rounds.max(1) {
        let m = run_load(&[memory.grpc], Target::Retryd, &load).await?;
        m.print("memory", load.json);
        mem_rates.push(m.rate());

        let (calls0, conflicts0, decisions0) = counts(&fleet).await?;
        let r = run_load(&fleet_addrs, Target::Retryd, &load).await?;
        r.print("redis", load.json);
        let (calls1, conflicts1, decisions1) = counts(&fleet).await?;
        redis_rates.push(r.rate());
        redis_p50.push(r.micros(0.5) as f64);
        redis_p99.push(r.micros(0.99) as f64);
        let decisions = (decisions1 - decisions0).max(1.0);
        calls_per_decision.push((calls1 - calls0) / decisions);
        uncontended.push(((calls1 - calls0) - (conflicts1 - conflicts0)) / decisions);

        if !acked.is_empty() {
            let a = run_load(&acked_addrs, Target::Retryd, &load).await?;
            a.print(&format!("ack={}", o.replicas_ack), load.json);
            ack_rates.push(a.rate());
            ack_p99.push(a.micros(0.99) as f64);
        }

        let n = ((r.rate().max(10_000.0)) * load.duration.as_secs_f64()) as u64;
        let bench = o.redis_benchmark.clone();
        let (c, sha) = (load.concurrency, sha.clone());
        let b = tokio::task::spawn_blocking(move || redis_benchmark(&bench, port, &sha, c, n))
            .await??;
        if load.json {
            println!(
                "{}",
                serde_json::json!({"target": "redis-benchmark", "requests_per_second": b.round()})
            );
        } else {
            println!("evalsha  {b:>9.0} req/s  (redis-benchmark -c {c}, one script per call)");
        }
        bench_rates.push(b);
    }
    let (mem, red, bench) = (
        median(&mut mem_rates),
        median(&mut redis_rates),
        median(&mut bench_rates),
    );
    let cpd = median(&mut calls_per_decision);
    let uncontended = median(&mut uncontended);
    let summary = serde_json::json!({
        "memory_rps": mem.round(), "redis_rps": red.round(), "redis_benchmark_evalsha_rps": bench.round(),
        "redis_vs_memory": red / mem, "redis_vs_evalsha": red / bench,
        "redis_p50_us": median(&mut redis_p50), "redis_p99_us": median(&mut redis_p99),
        "backend_calls_per_decision": cpd, "backend_calls_per_decision_without_conflicts": uncontended,
    });
    if !acked.is_empty() {
        let (rate, p99) = (median(&mut ack_rates), median(&mut ack_p99));
        if load.json {
            println!(
                "{}",
                serde_json::json!({"replicas_ack": o.replicas_ack, "acked_rps": rate.round(), "acked_p99_us": p99, "acked_vs_redis": rate / red})
            );
        } else {
            println!(
                "replicas_ack = {}: {rate:.0} req/s ({:.2} x without), p99 {p99:.0} µs (without: {:.0} µs)",
                o.replicas_ack,
                rate / red,
                median(&mut redis_p99)
            );
        }
    }
    if load.json {
        println!("{summary}");
    } else {
        println!(
            "medians: memory {mem:.0} req/s, redis {red:.0} req/s ({:.2} x memory), redis-benchmark EVALSHA {bench:.0} req/s (retryd on redis = {:.2} x); \
             redis p50 {:.0} µs p99 {:.0} µs; backend calls per decision {cpd:.2} ({uncontended:.2} less the commits that lost to another sidecar)",
            red / mem,
            red / bench,
            median(&mut redis_p50),
            median(&mut redis_p99)
        );
    }

    if o.memory_jobs > 0 {
        // Start from an empty keyspace: only the jobs loaded now are counted.
        redis_cli(port, &["FLUSHALL"])?;
        let before = used_memory(port)?;
        let t0 = Instant::now();
        preload(&fleet_addrs, o.memory_jobs, &load).await?;
        let took = t0.elapsed();
        let after = used_memory(port)?;
        let per_job = after.saturating_sub(before) as f64 / o.memory_jobs as f64;
        // What an operator's calls cost at that size.
        let mut c = retryd::pb::retry_coordinator_client::RetryCoordinatorClient::connect(format!(
            "http://{}",
            fleet_addrs[0]
        ))
        .await?;
        let t = Instant::now();
        let stats = c
            .get_stats(retryd::pb::GetStatsRequest {})
            .await?
            .into_inner();
        let stats_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let page = c
            .list_jobs(retryd::pb::ListJobsRequest {
                page_size: 50,
                ..Default::default()
            })
            .await?
            .into_inner();
        let list_ms = t.elapsed().as_secs_f64() * 1e3;
        let held = stats.total.map_or(0, |t| t.retrying);
        if load.json {
            println!(
                "{}",
                serde_json::json!({
                    "jobs": o.memory_jobs, "held": held, "redis_used_memory_bytes": after,
                    "redis_bytes_per_job": per_job.round(),
                    "preload_per_second": (o.memory_jobs as f64 / took.as_secs_f64()).round(),
                    "get_stats_ms": stats_ms, "list_jobs_first_page_ms": list_ms,
                    "list_total_size": page.total_size,
                })
            );
        } else {
            println!(
                "{} jobs ({held} held) in Redis: {per_job:.0} B/job (used_memory {:.0} MiB), preloaded at {:.0}/s; \
                 GetStats {stats_ms:.1} ms, ListJobs first page {list_ms:.1} ms (total_size {})",
                o.memory_jobs,
                after as f64 / (1 << 20) as f64,
                o.memory_jobs as f64 / took.as_secs_f64(),
                page.total_size
            );
        }
    }
    let _ = std::fs::remove_file(&memory_conf);
    let _ = std::fs::remove_file(&fleet_conf);
    Ok(())
}
