//! The options of the client commands (clap).

use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use crate::pb;

pub const DEFAULT_ADDR: &str = "127.0.0.1:50051";

/// Options every client command takes.
#[derive(Args, Clone, Debug)]
pub struct ClientArgs {
    /// The sidecar's gRPC address.
    #[arg(long, env = "RETRYD_ADDR", default_value = DEFAULT_ADDR, global = true)]
    pub addr: String,
    /// `table` for people, `json` for scripts.
    #[arg(long, short, value_enum, default_value_t = Output::Table, global = true)]
    pub output: Output,
    /// The admin token for `jobs retry|cancel|delete`, `pause` and `resume`, if the sidecar requires one.
    #[arg(
        long,
        env = "RETRYD_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,
    /// Connect with TLS, trusting this CA certificate (PEM); implied by an `https://` address.
    #[arg(long, env = "RETRYD_TLS_CA", global = true)]
    pub tls_ca: Option<std::path::PathBuf>,
    /// The name the sidecar's certificate must carry [default: the address's host].
    #[arg(long, global = true)]
    pub tls_domain: Option<String>,
    /// A client certificate (PEM), for a sidecar that requires one.
    #[arg(
        long,
        env = "RETRYD_TLS_CLIENT_CERT",
        global = true,
        requires = "tls_client_key"
    )]
    pub tls_client_cert: Option<std::path::PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(
        long,
        env = "RETRYD_TLS_CLIENT_KEY",
        global = true,
        requires = "tls_client_cert"
    )]
    pub tls_client_key: Option<std::path::PathBuf>,
    /// How long to wait for the sidecar.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s", global = true)]
    pub timeout: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum JobsCommand {
    /// Jobs retryd holds, ordered by id.
    List {
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        #[arg(long)]
        job_type: Option<String>,
        /// At most this many jobs.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One job's state.
    Get { job_id: String },
    /// Manual retry: the job is due now, its failure count reset.
    Retry {
        job_id: String,
        /// Keep the failure count instead of resetting it.
        #[arg(long)]
        keep_failures: bool,
    },
    /// Cancel a retrying job: its later failures give up.
    Cancel { job_id: String },
    /// Forget a job (e.g. purge a dead one).
    Delete { job_id: String },
}

#[derive(Subcommand, Debug)]
pub enum BatchesCommand {
    /// A batch's passes and totals.
    Get { batch_id: String },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StateArg {
    Retrying,
    Dead,
    Cancelled,
}

impl StateArg {
    pub(super) fn pb(self) -> pb::JobState {
        match self {
            StateArg::Retrying => pb::JobState::Retrying,
            StateArg::Dead => pb::JobState::Dead,
            StateArg::Cancelled => pb::JobState::Cancelled,
        }
    }
}

/// The decision a failure would get, changing nothing. The failure needs
/// at least one of its descriptions: explaining an empty error would only
/// show what an unclassifiable one gets.
#[derive(Args, Debug)]
#[command(group(
    clap::ArgGroup::new("failure")
        .required(true)
        .multiple(true)
        .args([
            "error_type",
            "message",
            "http_status",
            "grpc_code",
            "retryable",
            "hint",
            "retry_after_header",
            "pushback_ms",
        ])
))]
pub struct ExplainArgs {
    /// The job (its recorded failures count toward the decision).
    #[arg(long, default_value = "explain")]
    pub job_id: String,
    /// Exception or error type name, e.g. `requests.exceptions.ConnectionError`.
    #[arg(long)]
    pub error_type: Option<String>,
    #[arg(long)]
    pub message: Option<String>,
    #[arg(long)]
    pub http_status: Option<u32>,
    /// gRPC code, by name (`UNAVAILABLE`) or number (14).
    #[arg(long)]
    pub grpc_code: Option<String>,
    /// The caller's own verdict.
    #[arg(long)]
    pub retryable: Option<bool>,
    #[arg(long)]
    pub policy: Option<String>,
    #[arg(long)]
    pub job_type: Option<String>,
    #[arg(long)]
    pub priority: Option<u32>,
    /// The caller's attempt number (1-based).
    #[arg(long)]
    pub attempt: Option<u32>,
    /// A Retry-After hint, e.g. `30s`.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub hint: Option<Duration>,
    /// A raw Retry-After header (`120`, an HTTP-date) or a rate-limit reset
    /// (epoch seconds), parsed by retryd.
    #[arg(long)]
    pub retry_after_header: Option<String>,
    /// gRPC's grpc-retry-pushback-ms (negative: do not retry).
    #[arg(long, allow_hyphen_values = true)]
    pub pushback_ms: Option<i64>,
    #[arg(long)]
    pub target: Option<String>,
}
