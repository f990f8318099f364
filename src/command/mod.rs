//! `retryd`: serve the sidecar (the default), check a configuration file, or
//! act as an operator's client of a running sidecar.

mod args;
mod flags;
mod serve;
mod watch;

use std::process::ExitCode;

use clap::{Args as _, CommandFactory, FromArgMatches};

use crate::cli;
use crate::config::Config;
use args::{Cli, Command, ServeArgs};
use serve::serve;

/// The `retryd` binary: parse the command line and run what it names.
/// Here in the library, not in `main.rs`, so that the server is compiled
/// once: a binary calling into it re-instantiated most of its generic code.
pub fn main() -> ExitCode {
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
