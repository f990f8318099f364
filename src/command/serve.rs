//! Running the sidecar: logging, the runtime, the servers, reload on
//! SIGHUP (and on file changes with `--watch-config`), and shutdown on
//! SIGTERM or SIGINT.

use std::process::ExitCode;

use super::args::{LogFormat, ServeArgs};
use super::flags::config_of;
use crate::config::Config;
use crate::server;

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

pub(super) fn serve(args: ServeArgs) -> ExitCode {
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
        super::watch::spawn(path, reloader, running.shutdown_token())
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
pub(super) async fn reload(reloader: &std::sync::Arc<server::reload::Reloader>, why: &'static str) {
    let r = reloader.clone();
    // The outcome is logged and counted by the reloader.
    let _ = tokio::task::spawn_blocking(move || r.reload(why)).await;
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
