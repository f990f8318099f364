//! `retryd-bench`: load-tests a retryd sidecar, measures it against a bare
//! tonic echo service, and measures memory per tracked job.
//!
//! ```text
//! retryd-bench load --addr 127.0.0.1:50051 --concurrency 64 --channels 4 --duration 10s
//! retryd-bench baseline --concurrencies 1,64 --channels 4 --duration 10s --rounds 3
//! retryd-bench callgrind --calls 2000,4000                      # instructions per call
//! retryd-bench memory --sizes 10000,1000000,5000000            # in-process store
//! retryd-bench memory --server --sizes 10000,1000000,5000000   # a real retryd over gRPC
//! retryd-bench fleet --sidecars 3 --rounds 3 --memory-jobs 1000000  # fleet mode on Redis
//! retryd-bench delivery --rounds 3 --parked 1000000             # delivery, and BullMQ beside it
//! ```
//!
//! Load goes only to the address given or to servers this tool starts on
//! 127.0.0.1, and for a fixed duration.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

mod callgrind;
mod delivery;
mod fleet;
mod load;
mod memory;
mod servers;
mod snapshot;

/// The echo service of the baseline mode (not retryd's API).
mod bench_pb {
    tonic::include_proto!("bench.v1");
}

use load::{baseline_cmd, load_cmd};
use memory::{memory_cmd, memory_server};
use servers::echo_server;
use snapshot::snapshot_one;

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
        /// Run the rounds at each of these numbers of calls in flight, in
        /// turn (e.g. `1,64`) [default: --concurrency].
        #[arg(long, value_delimiter = ',')]
        concurrencies: Vec<usize>,
    },
    /// Instructions per call, retryd's and the echo's, counted by valgrind's
    /// callgrind: each server runs under it twice, answering a warm-up then
    /// N1 and N2 sequential calls; (Ir(N2) - Ir(N1)) / (N2 - N1) is
    /// repeatable and cancels the start and the shutdown.
    Callgrind {
        #[command(flatten)]
        opts: callgrind::Opts,
        #[command(flatten)]
        load: LoadOpts,
        #[command(flatten)]
        spawn: SpawnOpts,
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
        /// Also a fleet with `replicas_ack = N` (0: none), on the same Redis
        /// given a replica, in every round beside the one without.
        #[arg(long, default_value_t = 0)]
        replicas_ack: u32,
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
    /// Delivery side by side: the park → due → claim → success cycle
    /// through WatchDue (memory, a fleet on a redis-server started here,
    /// and BullMQ's delayed jobs on the same Redis, rounds alternating);
    /// then lag and bytes per parked job with `--parked` jobs in the index.
    /// Run from the repository root (BullMQ comes from clients/node).
    Delivery {
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        #[arg(long, value_parser = humantime::parse_duration, default_value = "8s")]
        duration: Duration,
        #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
        warmup: Duration,
        /// Producers (ReportFailure calls in flight), and the jobs in flight to consumers.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// WatchDue streams the consumers share the in-flight jobs over.
        #[arg(long, default_value_t = 4)]
        streams: usize,
        /// Payload bytes per job.
        #[arg(long, default_value_t = 1024)]
        payload: usize,
        /// Most jobs parked and not yet completed (the producers wait beyond it).
        #[arg(long, default_value_t = 10_000)]
        backlog: u64,
        /// Sidecars of the fleet.
        #[arg(long, default_value_t = 1)]
        sidecars: usize,
        /// Jobs parked an hour ahead for the lag and bytes-per-job figures (0: skip).
        #[arg(long, default_value_t = 0)]
        parked: usize,
        /// Only the lag and bytes figures.
        #[arg(long)]
        skip_cycle: bool,
        #[arg(long, default_value = "redis-server")]
        redis_server: PathBuf,
        #[arg(long, default_value = "node")]
        node: PathBuf,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        spawn: SpawnOpts,
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
    /// How the calls are made (`lean`: encoded before the run, the same
    /// per-call work for retryd and the echo).
    #[arg(long, value_enum, default_value_t = load::Client::Lean)]
    client: load::Client,
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
                replicas_ack,
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
                        replicas_ack,
                    },
                )
                .await
            }
            Cmd::Baseline {
                load,
                spawn,
                rounds,
                concurrencies,
            } => baseline_cmd(load, spawn, rounds, &concurrencies).await,
            Cmd::Callgrind { opts, load, spawn } => callgrind::run(opts, load, spawn).await,
            Cmd::EchoServer { addr } => echo_server(addr).await,
            Cmd::Delivery {
                rounds,
                duration,
                warmup,
                concurrency,
                streams,
                payload,
                backlog,
                sidecars,
                parked,
                skip_cycle,
                redis_server,
                node,
                json,
                spawn,
            } => {
                delivery::run(
                    spawn,
                    delivery::Opts {
                        rounds,
                        duration,
                        warmup,
                        concurrency,
                        streams,
                        payload,
                        backlog,
                        sidecars,
                        parked,
                        skip_cycle,
                        redis_server,
                        node,
                        json,
                    },
                )
                .await
            }
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
