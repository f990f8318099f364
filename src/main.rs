//! `retryd`: serve the sidecar (the default), check a configuration file, or
//! act as an operator's client of a running sidecar.

#![deny(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use retryd::config::Config;
use retryd::{cli, server};

/// mimalloc: see BENCHMARKS.md for the measurement that chose it.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "retryd",
    version,
    about = "A retry-coordinator sidecar: services in any language ask it over gRPC whether and when to retry a failed job."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
    /// The client commands' options, accepted before the command as well
    /// as after it (`retryd --addr H:P jobs get ID`).
    #[command(
        flatten,
        next_help_heading = "Client options (jobs, batches, stats, explain, ...)"
    )]
    client: cli::ClientArgs,
}

#[derive(Subcommand)]
enum Command {
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
struct ServeArgs {
    /// TOML configuration file; built-in defaults without one.
    #[arg(long, env = "RETRYD_CONFIG")]
    config: Option<PathBuf>,
    /// Reload the configuration whenever the file changes (a Kubernetes
    /// ConfigMap's symlink swap included), not only on SIGHUP.
    #[arg(long, env = "RETRYD_WATCH_CONFIG")]
    watch_config: bool,
    /// gRPC listen address [default: 127.0.0.1:50051, or [server] grpc_addr].
    #[arg(long, env = "RETRYD_GRPC_ADDR")]
    grpc_addr: Option<SocketAddr>,
    /// Prometheus /metrics listen address [default: 0.0.0.0:9464, or [server] metrics_addr].
    #[arg(long, env = "RETRYD_METRICS_ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// Also serve only grpc.health.v1 here, e.g. 0.0.0.0:50052 for kubelet probes [default: off].
    #[arg(long, env = "RETRYD_HEALTH_ADDR")]
    health_addr: Option<SocketAddr>,
    /// Require `authorization: Bearer <token>` on RetryJob, CancelJob, DeleteJob, PauseRetries and ResumeRetries.
    #[arg(long, env = "RETRYD_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// After SIGTERM, how long open calls and connections may take to finish [default: 10s].
    #[arg(long, env = "RETRYD_SHUTDOWN_GRACE", value_parser = humantime::parse_duration)]
    shutdown_grace: Option<std::time::Duration>,
    /// TLS on the gRPC port: PEM certificate chain [default: plaintext, or [server] tls_cert].
    #[arg(long, env = "RETRYD_TLS_CERT")]
    tls_cert: Option<String>,
    /// TLS private key (PEM) [or [server] tls_key].
    #[arg(long, env = "RETRYD_TLS_KEY")]
    tls_key: Option<String>,
    /// Require client certificates signed by this CA (PEM) [or [server] tls_client_ca].
    #[arg(long, env = "RETRYD_TLS_CLIENT_CA")]
    tls_client_ca: Option<String>,
    /// Keep the state in this file across restarts [default: off, or [state] snapshot_path].
    #[arg(long, env = "RETRYD_SNAPSHOT_PATH")]
    snapshot_path: Option<PathBuf>,
    /// How often the snapshot is written [default: 5s, or [state] snapshot_interval].
    #[arg(long, env = "RETRYD_SNAPSHOT_INTERVAL", value_parser = snapshot_interval)]
    snapshot_interval: Option<std::time::Duration>,
    /// Where the state lives: `memory` (this sidecar's own) or `redis` (one
    /// state for a whole fleet) [default: memory, or [state] backend].
    #[arg(long, env = "RETRYD_STATE_BACKEND", value_parser = ["memory", "redis"])]
    state_backend: Option<String>,
    /// The fleet's Redis / Valkey: redis://[user:password@]host:port/db, or rediss:// [or [state.redis] url].
    #[arg(long, env = "RETRYD_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// Seed nodes of a Redis Cluster, comma-separated URLs [or [state.redis] cluster_nodes].
    #[arg(
        long,
        env = "RETRYD_REDIS_CLUSTER_NODES",
        value_delimiter = ',',
        hide_env_values = true
    )]
    redis_cluster_nodes: Vec<String>,
    /// Log line format.
    #[arg(long, env = "RETRYD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Log filter, e.g. `info`, `debug`, `retryd=debug,tower=warn`.
    #[arg(long, env = "RETRYD_LOG", default_value = "info")]
    log: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let (Some((name, _)), Some(id)) = (matches.subcommand(), given(&matches, &serve_ids())) {
        // Without this, `retryd --grpc-addr X jobs list` would drop the flag unseen.
        eprintln!(
            "retryd: --{} is an option of the sidecar itself; give it without a command \
             or after `serve`, not before `{name}`",
            id.replace('_', "-")
        );
        return ExitCode::from(2);
    }
    let client = cli.client;
    match cli.command {
        Some(Command::CheckConfig { path }) => {
            client_option_refused(&matches).unwrap_or_else(|| check_config(&path))
        }
        Some(Command::Serve(args)) => {
            client_option_refused(&matches).unwrap_or_else(|| serve(args))
        }
        Some(Command::Jobs { command }) => {
            client_command(async { cli::jobs(&client, command).await })
        }
        Some(Command::Batches { command }) => {
            client_command(async { cli::batches(&client, command).await })
        }
        Some(Command::Budgets) => client_command(async { cli::budgets(&client).await }),
        Some(Command::Stats) => client_command(async { cli::stats(&client).await }),
        Some(Command::Due { queue }) => client_command(async { cli::due(&client, queue).await }),
        Some(Command::Explain { explain }) => {
            client_command(async { cli::explain(&client, explain).await })
        }
        Some(Command::Pause { pause }) => {
            client_command(async { cli::pause(&client, pause).await })
        }
        Some(Command::Resume { scope }) => {
            client_command(async { cli::resume(&client, scope).await })
        }
        Some(Command::Pauses) => client_command(async { cli::pauses(&client).await }),
        Some(Command::Events { events }) => {
            client_command(async { cli::events(&client, events).await })
        }
        None => client_option_refused(&matches).unwrap_or_else(|| serve(cli.serve)),
    }
}

/// Exit code 2 if a client command's option was given on the command line
/// to `serve` or `check-config`: `retryd --addr H:P` alone most likely
/// meant `--grpc-addr`, and silently listening elsewhere would hide that.
fn client_option_refused(matches: &clap::ArgMatches) -> Option<ExitCode> {
    let ids = arg_ids(cli::ClientArgs::augment_args(clap::Command::new("client")));
    let found = given(matches, &ids).or_else(|| {
        let (_, sub) = matches.subcommand()?;
        given(sub, &ids)
    })?;
    eprintln!(
        "retryd: --{} is an option of the client commands (jobs, stats, ...); \
         the sidecar itself listens on --grpc-addr (see retryd --help)",
        found.replace('_', "-")
    );
    Some(ExitCode::from(2))
}

fn arg_ids(command: clap::Command) -> Vec<String> {
    command
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect()
}

fn serve_ids() -> Vec<String> {
    arg_ids(ServeArgs::augment_args(clap::Command::new("serve")))
}

/// The first of `ids` typed on the command line (not from the environment
/// or a default).
fn given(matches: &clap::ArgMatches, ids: &[String]) -> Option<String> {
    ids.iter()
        .find(|id| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
        .cloned()
}

/// Runs one client command: its output on stdout, or one line on stderr and exit 1.
fn client_command(f: impl std::future::Future<Output = Result<String, cli::CliError>>) -> ExitCode {
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| cli::CliError::Usage(format!("cannot start the runtime: {e}")))
        .and_then(|rt| rt.block_on(f));
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("retryd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(path: &std::path::Path) -> ExitCode {
    match Config::load(path) {
        Ok(config) => {
            println!("{}: OK", path.display());
            print!("{}", config.summary());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("retryd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--tls-*` flags over `[server] tls_*`, checked together; errors name the flags.
fn tls_flags(args: &ServeArgs, config: &mut Config) -> Result<(), String> {
    if args.tls_cert.is_none() && args.tls_key.is_none() && args.tls_client_ca.is_none() {
        return Ok(());
    }
    let file = config.tls.take();
    let shown = |p: &std::path::Path| p.display().to_string();
    let cert = args
        .tls_cert
        .clone()
        .or_else(|| file.as_ref().map(|t| shown(&t.cert)));
    let key = args
        .tls_key
        .clone()
        .or_else(|| file.as_ref().map(|t| shown(&t.key)));
    let ca = args.tls_client_ca.clone().or_else(|| {
        file.as_ref()
            .and_then(|t| t.client_ca.as_deref())
            .map(shown)
    });
    config.tls = retryd::config::tls_settings(cert.as_deref(), key.as_deref(), ca.as_deref())
        .map_err(|e| {
            e.to_string()
                .replace("server.tls_client_ca", "--tls-client-ca")
                .replace("server.tls_cert", "--tls-cert")
                .replace("server.tls_key", "--tls-key")
        })?;
    Ok(())
}

/// `--state-backend`, `--redis-url`, `--redis-cluster-nodes` over `[state]`;
/// errors name the flag.
fn backend_flags(args: &ServeArgs, config: &mut Config) -> Result<(), String> {
    use retryd::config::{BackendSettings, RedisSettings, redis_settings};
    let url = args.redis_url.as_deref().filter(|u| !u.trim().is_empty());
    let nodes: Vec<String> = args
        .redis_cluster_nodes
        .iter()
        .filter(|n| !n.trim().is_empty())
        .cloned()
        .collect();
    if url.is_some() && !nodes.is_empty() {
        return Err("--redis-url and --redis-cluster-nodes: give one (a standalone server or a Cluster), not both".into());
    }
    let wanted = args.state_backend.as_deref();
    let mut redis = match (&config.backend, wanted) {
        (_, Some("memory")) => {
            config.backend = BackendSettings::Memory;
            return Ok(());
        }
        (BackendSettings::Redis(r), _) => r.clone(),
        (BackendSettings::Memory, Some("redis")) => RedisSettings::default(),
        (BackendSettings::Memory, _) => {
            if url.is_some() || !nodes.is_empty() {
                return Err("--redis-url / --redis-cluster-nodes need --state-backend redis (or [state] backend = \"redis\")".into());
            }
            return Ok(());
        }
    };
    let flagged = |e: retryd::config::Problem| {
        e.to_string()
            .replace("state.redis.cluster_nodes", "--redis-cluster-nodes")
            .replace("state.redis.url", "--redis-url")
    };
    if let Some(u) = url {
        let r = redis_settings(Some(u), &[], None, None, None).map_err(flagged)?;
        redis.url = r.url;
        redis.cluster_nodes.clear();
    } else if !nodes.is_empty() {
        let r = redis_settings(None, &nodes, None, None, None).map_err(flagged)?;
        redis.url = String::new();
        redis.cluster_nodes = r.cluster_nodes;
    }
    if config.snapshot.is_some() {
        return Err("--snapshot-path / [state] snapshot_path is for the memory backend: with the redis backend the state lives in Redis".into());
    }
    config.backend = BackendSettings::Redis(redis);
    Ok(())
}

fn snapshot_interval(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d < std::time::Duration::from_millis(100) {
        return Err("must be at least 100ms".into());
    }
    Ok(d)
}

fn init_logging(args: &ServeArgs) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .map_err(|e| format!("--log {:?}: {e}", args.log))?;
    // Colours only on a terminal: container log collectors keep escape codes verbatim.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    Ok(())
}

fn serve(args: ServeArgs) -> ExitCode {
    if let Err(e) = init_logging(&args) {
        eprintln!("retryd: {e}");
        return ExitCode::FAILURE;
    }
    if args.watch_config && args.config.is_none() {
        eprintln!("retryd: --watch-config needs --config (or RETRYD_CONFIG): a file to watch");
        return ExitCode::FAILURE;
    }
    let config = match config_of(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("retryd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("retryd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config, args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("retryd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration: the file (or the built-in defaults), then the flags
/// and variables over it. A reload reads it the same way.
fn config_of(args: &ServeArgs) -> Result<Config, String> {
    let mut config = match &args.config {
        Some(path) => Config::load(path).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    // Flag beats variable (clap) beats file.
    config.grpc_addr = args.grpc_addr.unwrap_or(config.grpc_addr);
    config.metrics_addr = args.metrics_addr.unwrap_or(config.metrics_addr);
    config.shutdown_grace = args.shutdown_grace.unwrap_or(config.shutdown_grace);
    config.health_addr = args.health_addr.or(config.health_addr);
    config.admin_token = args.admin_token.clone().filter(|t| !t.is_empty());
    tls_flags(args, &mut config)?;
    if let Some(path) = args
        .snapshot_path
        .clone()
        .filter(|p| !p.as_os_str().is_empty())
    {
        let interval = config
            .snapshot
            .as_ref()
            .map_or(retryd::config::DEFAULT_SNAPSHOT_INTERVAL, |s| s.interval);
        config.snapshot = Some(retryd::config::SnapshotSettings { path, interval });
    }
    if let (Some(s), Some(interval)) = (config.snapshot.as_mut(), args.snapshot_interval) {
        s.interval = interval;
    }
    backend_flags(args, &mut config)?;
    Ok(config)
}

async fn run(config: Config, args: ServeArgs) -> Result<(), String> {
    // Handlers first: a SIGTERM that arrives while the servers start must
    // shut them down gracefully, not kill the process; a SIGHUP must not
    // end it either (its default action) before reload is wired.
    let signals = Signals::install().map_err(|e| format!("cannot handle signals: {e}"))?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| format!("cannot handle signals: {e}"))?;
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let started = config.clone();
    let listeners = server::Listeners::bind(&config).await?;
    let running = server::start(config, listeners)
        .await
        .map_err(|e| e.to_string())?;
    let watched = args.config.clone().filter(|_| args.watch_config);
    let reloader = std::sync::Arc::new(server::reload::Reloader::new(
        running.app.clone(),
        started,
        Box::new(move || config_of(&args)),
    ));
    {
        let reloader = reloader.clone();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                reload(&reloader, "SIGHUP").await;
            }
        });
    }
    if let Some(path) = watched {
        watch::spawn(path, reloader, running.shutdown_token())
            .map_err(|e| format!("--watch-config: {e}"))?;
    }
    let token = running.shutdown_token();
    tokio::spawn(async move {
        let signal = signals.recv().await;
        tracing::info!(signal, "shutting down: finishing in-flight calls");
        token.cancel();
    });
    running.wait().await.map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
}

/// One reload, off the threads that serve calls (it walks every job).
async fn reload(reloader: &std::sync::Arc<server::reload::Reloader>, why: &'static str) {
    let r = reloader.clone();
    // The outcome is logged and counted by the reloader.
    let _ = tokio::task::spawn_blocking(move || r.reload(why)).await;
}

/// `--watch-config`: reloads when the file's content changes.
mod watch {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::time::Duration;

    use notify::{RecursiveMode, Watcher};
    use retryd::server::reload::Reloader;
    use tokio_util::sync::CancellationToken;

    /// Changes come in bursts (an editor's write, a ConfigMap's swap of
    /// several links): the file is read once they settle.
    const SETTLE: Duration = Duration::from_millis(300);

    /// Watches the file's directory, not the file: a ConfigMap replaces the
    /// file by swapping the `..data` link beside it, and an editor may
    /// replace it by a rename; either way the directory sees it.
    pub fn spawn(
        path: PathBuf,
        reloader: Arc<Reloader>,
        stop: CancellationToken,
    ) -> Result<(), String> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
            if e.is_ok() {
                let _ = tx.send(());
            }
        })
        .map_err(|e| e.to_string())?;
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut seen = content(&path);
        tracing::info!(path = %path.display(), "watching the configuration file");
        tokio::spawn(async move {
            // Owned by the task: watching ends with it.
            let _watcher = watcher;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    got = rx.recv() => if got.is_none() { return },
                }
                tokio::time::sleep(SETTLE).await;
                while rx.try_recv().is_ok() {}
                let now = content(&path);
                if now == seen {
                    continue;
                }
                seen = now;
                super::reload(&reloader, "file changed").await;
            }
        });
        Ok(())
    }

    fn content(path: &Path) -> Option<Vec<u8>> {
        std::fs::read(path).ok()
    }
}

/// SIGTERM (Kubernetes) and SIGINT (Ctrl-C).
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn recv(mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
