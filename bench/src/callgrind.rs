//! Instructions per call under valgrind's callgrind (`callgrind`): a count
//! that noise does not move, for retryd's ReportFailure and for the echo.
//!
//! Each server runs under callgrind once per N in `--calls`: it answers
//! `--warmup-calls` calls, then N calls, one at a time from the lean
//! client, and is stopped with SIGTERM (both exit normally on it, so
//! callgrind writes its file). The difference between two runs divided by
//! the difference in calls is the cost of one call; the start, the
//! warm-up and the shutdown cancel out. The files stay in `--out-dir` for
//! `callgrind_annotate`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use serde_json::json;

use crate::load::{Calls, Lean, Target, channels, failure_request, message_sizes};
use crate::servers::{ChildGuard, spawn_echo_under, spawn_retryd_under};
use crate::{Error, LoadOpts, SpawnOpts};

#[derive(clap::Args, Clone, Debug)]
pub(crate) struct Opts {
    /// Calls counted in each run; the first and last give the per-call cost.
    #[arg(long, value_delimiter = ',', default_value = "2000,4000")]
    calls: Vec<usize>,
    /// Calls before those counted, in every run.
    #[arg(long, default_value_t = 200)]
    warmup_calls: usize,
    /// Where the callgrind files go [default: the system's temp dir].
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// The valgrind binary.
    #[arg(long, default_value = "valgrind")]
    valgrind: PathBuf,
    /// Which servers to count.
    #[arg(long, value_enum, default_value_t = Which::Both)]
    only: Which,
    /// A label for the files' names (e.g. the variant being measured).
    #[arg(long, default_value = "run")]
    tag: String,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Both,
    Retryd,
    Echo,
}

/// The response size the echo mimics when no retryd was asked (a
/// ReportFailure's Decision is about this size).
const DEFAULT_RESPONSE: usize = 180;

pub(crate) async fn run(opts: Opts, load: LoadOpts, spawn: SpawnOpts) -> Result<(), Error> {
    let (lo, hi) = match (opts.calls.iter().min(), opts.calls.iter().max()) {
        (Some(&lo), Some(&hi)) if hi > lo => (lo, hi),
        _ => return Err("--calls needs two different numbers, e.g. 2000,4000".into()),
    };
    let dir = opts
        .out_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("retryd-callgrind"));
    std::fs::create_dir_all(&dir)?;
    let mut sizes = (failure_request(1, 1).encoded_len(), DEFAULT_RESPONSE);
    let mut results = Vec::new();
    for target_name in ["retryd", "echo"] {
        let wanted = match opts.only {
            Which::Both => true,
            Which::Retryd => target_name == "retryd",
            Which::Echo => target_name == "echo",
        };
        if !wanted {
            continue;
        }
        let mut ir = Vec::new();
        for n in [lo, hi] {
            let file = dir.join(format!("callgrind.{}.{target_name}.{n}.out", opts.tag));
            let wrapper = vec![
                opts.valgrind.display().to_string(),
                "--tool=callgrind".to_string(),
                "--quiet".to_string(),
                format!("--callgrind-out-file={}", file.display()),
            ];
            let (mut child, addr) = if target_name == "retryd" {
                spawn_retryd_under(&spawn, spawn.config.as_deref(), &wrapper)?
            } else {
                spawn_echo_under(&wrapper)?
            };
            wait_listening(addr, Duration::from_secs(300)).await?;
            let target = if target_name == "retryd" {
                // Asked in every run, so it cancels out like the warm-up.
                sizes = message_sizes(addr).await?;
                Target::Retryd
            } else {
                Target::Echo {
                    request: sizes.0,
                    response: sizes.1,
                }
            };
            let errors = calls(addr, target, &load, opts.warmup_calls + n).await?;
            stop(&mut child, Duration::from_secs(300))?;
            let total = instructions(&file)?;
            if !load.json {
                println!(
                    "{target_name:<6} {n:>6} calls (+{} warm-up): {total:>14} Ir, {errors} errors  ({})",
                    opts.warmup_calls,
                    file.display()
                );
            }
            ir.push(total);
        }
        let per_call = (ir[1] as f64 - ir[0] as f64) / (hi - lo) as f64;
        results.push((target_name, per_call));
    }
    let per = |name: &str| results.iter().find(|(n, _)| *n == name).map(|r| r.1);
    if load.json {
        println!(
            "{}",
            json!({
                "retryd_ir_per_call": per("retryd"),
                "echo_ir_per_call": per("echo"),
                "calls": [lo, hi],
                "warmup_calls": opts.warmup_calls,
            })
        );
    } else {
        for (name, v) in &results {
            println!("{name:<6} {v:>10.0} Ir per call");
        }
        if let (Some(r), Some(e)) = (per("retryd"), per("echo")) {
            println!("retryd/echo {:.3} ({:.0} Ir more per call)", r / e, r - e);
        }
    }
    Ok(())
}

/// Like `wait_ready`, with the patience a server under valgrind needs.
async fn wait_listening(addr: SocketAddr, patience: Duration) -> Result<(), Error> {
    let deadline = Instant::now() + patience;
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if Instant::now() > deadline {
            return Err(format!("nothing listens on {addr} after {patience:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// `n` calls, one at a time, over one connection; the number that failed.
async fn calls(addr: SocketAddr, target: Target, o: &LoadOpts, n: usize) -> Result<u64, Error> {
    let ch = channels(&[addr], 1).await?.remove(0);
    let mut lean = Lean::new(ch, Arc::new(Calls::new(target, o)), target, 0);
    let mut errors = 0u64;
    for _ in 0..n {
        errors += u64::from(!lean.call().await);
    }
    Ok(errors)
}

/// SIGTERM, then wait for the exit (callgrind writes its file on it).
fn stop(child: &mut ChildGuard, patience: Duration) -> Result<(), Error> {
    let pid = child.0.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status()?;
    if !status.success() {
        return Err(format!("kill -TERM {pid} failed: {status}").into());
    }
    let deadline = Instant::now() + patience;
    loop {
        if child.0.try_wait()?.is_some() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{pid} still running {patience:?} after SIGTERM").into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The instructions a callgrind file counts (its `totals:` or `summary:` line).
fn instructions(file: &Path) -> Result<u64, Error> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("{}: {e} (did the server exit cleanly?)", file.display()))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("{}: no totals line", file.display()).into())
}
