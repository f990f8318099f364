//! The command line's shape: the commands, the sidecar's flags and the
//! client commands' options (clap derives the parsing and the help).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::cli;

#[derive(Parser)]
#[command(
    name = "retryd",
    version,
    about = "A retry-coordinator sidecar: services in any language ask it over gRPC whether and when to retry a failed job."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    #[command(flatten)]
    pub(crate) serve: ServeArgs,
    /// The client commands' options, accepted before the command as well
    /// as after it (`retryd --addr H:P jobs get ID`).
    #[command(
        flatten,
        next_help_heading = "Client options (jobs, batches, stats, explain, ...)"
    )]
    pub(crate) client: cli::ClientArgs,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Run the sidecar (what plain `retryd` does).
    Serve(ServeArgs),
    /// Check a configuration file: print every problem and exit 1, or a summary and exit 0.
    CheckConfig {
        /// The TOML file to check.
        path: PathBuf,
    },
    /// Inspect and act on the jobs of a running sidecar.
    Jobs {
        #[command(subcommand)]
        command: cli::JobsCommand,
    },
    /// Inspect the batches of a running sidecar.
    Batches {
        #[command(subcommand)]
        command: cli::BatchesCommand,
    },
    /// The retry budgets of a running sidecar, per target.
    Budgets,
    /// Delivery: each queue's parked, due and handed-out jobs, and its
    /// oldest due job.
    Due {
        /// Only this queue.
        #[arg(long)]
        queue: Option<String>,
    },
    /// Counts per job type of a running sidecar.
    Stats,
    /// The decision a failure would get from a running sidecar, changing nothing.
    Explain {
        #[command(flatten)]
        explain: cli::ExplainArgs,
    },
    /// Pause the retries of a job type or a target (failures then retry
    /// after the pause, and use up none of their retries).
    Pause {
        #[command(flatten)]
        pause: cli::PauseArgs,
    },
    /// End a pause.
    Resume {
        #[command(flatten)]
        scope: cli::ScopeArgs,
    },
    /// The pauses in force.
    Pauses,
    /// Watch decisions and operators' actions as they happen (one line per
    /// event; `--output json` for JSON lines).
    Events {
        #[command(flatten)]
        events: cli::EventsArgs,
    },
}

#[derive(Args, Clone)]
pub(crate) struct ServeArgs {
    /// TOML configuration file; built-in defaults without one.
    #[arg(long, env = "RETRYD_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Reload the configuration whenever the file changes (a Kubernetes
    /// ConfigMap's symlink swap included), not only on SIGHUP.
    #[arg(long, env = "RETRYD_WATCH_CONFIG")]
    pub(crate) watch_config: bool,
    /// gRPC listen address [default: 127.0.0.1:50051, or [server] grpc_addr].
    #[arg(long, env = "RETRYD_GRPC_ADDR")]
    pub(crate) grpc_addr: Option<SocketAddr>,
    /// Prometheus /metrics listen address [default: 0.0.0.0:9464, or [server] metrics_addr].
    #[arg(long, env = "RETRYD_METRICS_ADDR")]
    pub(crate) metrics_addr: Option<SocketAddr>,
    /// Also serve only grpc.health.v1 here, e.g. 0.0.0.0:50052 for kubelet probes [default: off].
    #[arg(long, env = "RETRYD_HEALTH_ADDR")]
    pub(crate) health_addr: Option<SocketAddr>,
    /// Require `authorization: Bearer <token>` on RetryJob, CancelJob, DeleteJob, PauseRetries and ResumeRetries.
    #[arg(long, env = "RETRYD_ADMIN_TOKEN", hide_env_values = true)]
    pub(crate) admin_token: Option<String>,
    /// After SIGTERM, how long open calls and connections may take to finish [default: 10s].
    #[arg(long, env = "RETRYD_SHUTDOWN_GRACE", value_parser = humantime::parse_duration)]
    pub(crate) shutdown_grace: Option<std::time::Duration>,
    /// TLS on the gRPC port: PEM certificate chain [default: plaintext, or [server] tls_cert].
    #[arg(long, env = "RETRYD_TLS_CERT")]
    pub(crate) tls_cert: Option<String>,
    /// TLS private key (PEM) [or [server] tls_key].
    #[arg(long, env = "RETRYD_TLS_KEY")]
    pub(crate) tls_key: Option<String>,
    /// Require client certificates signed by this CA (PEM) [or [server] tls_client_ca].
    #[arg(long, env = "RETRYD_TLS_CLIENT_CA")]
    pub(crate) tls_client_ca: Option<String>,
    /// Keep the state in this file across restarts [default: off, or [state] snapshot_path].
    #[arg(long, env = "RETRYD_SNAPSHOT_PATH")]
    pub(crate) snapshot_path: Option<PathBuf>,
    /// How often the snapshot is written [default: 5s, or [state] snapshot_interval].
    #[arg(long, env = "RETRYD_SNAPSHOT_INTERVAL", value_parser = super::flags::snapshot_interval)]
    pub(crate) snapshot_interval: Option<std::time::Duration>,
    /// Where the state lives: `memory` (this sidecar's own) or `redis` (one
    /// state for a whole fleet) [default: memory, or [state] backend].
    #[arg(long, env = "RETRYD_STATE_BACKEND", value_parser = ["memory", "redis"])]
    pub(crate) state_backend: Option<String>,
    /// The fleet's Redis / Valkey: redis://[user:password@]host:port/db, or rediss:// [or [state.redis] url].
    #[arg(long, env = "RETRYD_REDIS_URL", hide_env_values = true)]
    pub(crate) redis_url: Option<String>,
    /// Seed nodes of a Redis Cluster, comma-separated URLs [or [state.redis] cluster_nodes].
    #[arg(
        long,
        env = "RETRYD_REDIS_CLUSTER_NODES",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub(crate) redis_cluster_nodes: Vec<String>,
    /// The password of the primary found through Sentinel [or [state.redis] password].
    #[arg(long, env = "RETRYD_REDIS_PASSWORD", hide_env_values = true)]
    pub(crate) redis_password: Option<String>,
    /// Log line format.
    #[arg(long, env = "RETRYD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    /// Log filter, e.g. `info`, `debug`, `retryd=debug,tower=warn`.
    #[arg(long, env = "RETRYD_LOG", default_value = "info")]
    pub(crate) log: String,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}
