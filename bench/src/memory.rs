//! Memory per tracked job: in-process (the store alone) or a running
//! retryd, each size in a fresh process.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rand::RngExt;
use retryd::pb;
use retryd::pb::retry_coordinator_client::RetryCoordinatorClient;
use serde_json::json;

use crate::load::{ERRORS, ID_LEN, Target, channels, failure_request, job_id_in, run_load};
use crate::servers::{spawn_retryd_with, wait_ready};
use crate::{Error, LoadOpts, SpawnOpts};

pub(crate) fn rss_bytes() -> Result<u64, Error> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or("no VmRSS in /proc/self/status")?;
    Ok(kb * 1024)
}

pub(crate) fn memory_cmd(
    ns: &[usize],
    duration: Duration,
    one: bool,
    json: bool,
) -> Result<(), Error> {
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
pub(crate) struct Bench {
    pub(crate) engine: retryd::engine::Engine,
    pub(crate) policy: Arc<retryd::engine::Policy>,
    pub(crate) store: Arc<retryd::state::Store>,
}

/// A typical failure of job `i`: 60-byte message, one of four error types.
pub(crate) fn bench_report(i: usize) -> retryd::engine::FailureReport<'static> {
    use retryd::engine::{ErrorReport, FailureReport};
    // 60 bytes, as the benchmark asks.
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
        retry_after_at: None,
        pushback_stop: false,
    }
}

pub(crate) fn bench() -> Result<Bench, Error> {
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
    pub(crate) fn report(
        &self,
        i: usize,
        now: retryd::engine::Timestamp,
        rng: &mut impl rand::Rng,
    ) {
        let mut buf = [0u8; ID_LEN];
        let id = job_id_in(i, &mut buf);
        let call = retryd::state::FailureCall {
            job_id: id,
            job_type: "invoice",
            target: "",
            policy: &self.policy,
            report: bench_report(i),
            pause: None,
            carry: Default::default(),
        };
        let _ = self.store.report_failure(&self.engine, &call, now, rng);
    }
}

pub(crate) fn memory_one(n: usize, duration: Duration, json: bool) -> Result<(), Error> {
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

pub(crate) fn rss_of(pid: u32) -> Result<u64, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or("no VmRSS")?;
    Ok(kb * 1024)
}

/// Sends one ReportFailure for each of jobs 0..n, `concurrency` at a time.
pub(crate) async fn preload(addrs: &[SocketAddr], n: usize, o: &LoadOpts) -> Result<(), Error> {
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

pub(crate) async fn memory_server(
    ns: &[usize],
    o: LoadOpts,
    spawn: SpawnOpts,
) -> Result<(), Error> {
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
