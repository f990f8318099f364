//! Configuration: one TOML file, every key optional, validated at load.
//!
//! A problem names the key and what is wrong
//! (`policies.extraction.backoff.multiplier: must be >= 1.0, got 0.5`); an
//! unknown key is one too, with the known key it most resembles: a typo must
//! not silently fall back to a default. Every problem of a file is reported
//! at once, in the order of the file. Flags and `RETRYD_*` variables for the
//! server settings are merged in `command/flags.rs` (flag beats variable beats file).
//!
//! `raw` parses the text table by table, `validate` turns it into `Config`,
//! `summary` is what `check-config` prints, `redis_settings` holds `[state.redis]`.

mod delivery_settings;
mod engine_settings;
mod limits;
mod raw;
mod redis_settings;
mod summary;
mod validate;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use thiserror::Error;

use crate::engine::Classifier;
use crate::engine::classify::Rule;
use crate::engine::policy::PolicySet;
use crate::engine::{BreakerConfig, BudgetConfigs, Engine, PerTarget};
pub use delivery_settings::{DeliverySettings, MAX_LEASE, MAX_PAYLOAD_LIMIT};
pub use limits::{BatchLimits, Limits};
pub use redis_settings::*;
pub use validate::tls_settings;

pub const DEFAULT_GRPC_ADDR: &str = "127.0.0.1:50051";
pub const DEFAULT_METRICS_ADDR: &str = "0.0.0.0:9464";
/// Far above what two cores handle at once (each call takes microseconds),
/// far below what would exhaust memory.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;
/// How often the state is written when `[state] snapshot_path` is set.
pub const DEFAULT_SNAPSHOT_INTERVAL: Duration = Duration::from_secs(5);

/// Well inside Kubernetes' default 30 s termination grace period.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What is wrong with a configuration text.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Problem {
    #[error("{key}: {message}")]
    Key { key: String, message: String },
    #[error("{0}")]
    Syntax(String),
    /// Several, in the order of the file: a count, then one a line.
    #[error("{} problems:{}", .0.len(), .0.iter().map(|p| format!("\n  {p}")).collect::<String>())]
    Many(Vec<Problem>),
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {problem}")]
    Invalid { path: String, problem: Problem },
}

/// One problem, or several sorted by where their keys are written.
fn in_file_order(text: &str, mut problems: Vec<Problem>) -> Problem {
    let line = |p: &Problem| match p {
        Problem::Key { key, .. } => raw::line_of(text, key).unwrap_or(usize::MAX),
        _ => 0,
    };
    problems.sort_by_key(line);
    problems.dedup();
    if problems.len() == 1 {
        problems.swap_remove(0)
    } else {
        Problem::Many(problems)
    }
}

fn problem(key: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem::Key {
        key: key.into(),
        message: message.into(),
    }
}

/// Validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub grpc_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    /// A listener serving only the health service, for kubelet probes.
    pub health_addr: Option<SocketAddr>,
    /// TLS on the gRPC port (`[server] tls_cert`, `tls_key`, `tls_client_ca`).
    pub tls: Option<TlsSettings>,
    /// Token the admin RPCs require (from `--admin-token` / `RETRYD_ADMIN_TOKEN`,
    /// never from the file: a ConfigMap is not a secret).
    pub admin_token: Option<String>,
    /// Calls handled at once before new ones are shed with RESOURCE_EXHAUSTED.
    pub max_in_flight: usize,
    /// How long SIGTERM waits for open calls and connections before closing them.
    pub shutdown_grace: Duration,
    pub limits: Limits,
    pub batch_limits: BatchLimits,
    /// Durable state (`[state] snapshot_path`, `snapshot_interval`).
    pub snapshot: Option<SnapshotSettings>,
    /// Where the state lives (`[state] backend`, `[state.redis]`).
    pub backend: BackendSettings,
    pub policies: PolicySet,
    /// Configured classification rules (checked before the built-ins).
    pub rules: Vec<Rule>,
    /// Retry budgets by target (`[budgets.<target>]`, `[budgets.default]`).
    pub budgets: BudgetConfigs,
    /// Circuit breakers by target (`[breakers.<target>]`, `[breakers.default]`).
    pub breakers: PerTarget<BreakerConfig>,
    /// How long a retry waits under a pause with no end (`pause_recheck`).
    pub pause_recheck: Duration,
    /// Payloads, due queues and leases (`[delivery]`).
    pub delivery: DeliverySettings,
}

/// PEM files for TLS on the gRPC port; with `client_ca`, clients must
/// present a certificate it signed (mutual TLS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    pub client_ca: Option<std::path::PathBuf>,
}

/// Where and how often the state is written (see `crate::state::memory::snapshot`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotSettings {
    pub path: std::path::PathBuf,
    pub interval: Duration,
}

/// `[state] backend`: in-process (the default) or one Redis / Valkey a
/// whole fleet of sidecars shares.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum BackendSettings {
    #[default]
    Memory,
    Redis(RedisSettings),
}

impl Default for Config {
    fn default() -> Self {
        Config::from_toml("").expect("the empty configuration is valid")
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Config::from_toml(&text).map_err(|problem| ConfigError::Invalid {
            path: shown,
            problem,
        })
    }

    pub fn from_toml(text: &str) -> Result<Config, Problem> {
        let raw::Parsed {
            raw,
            broken_policies,
            mut problems,
        } = raw::parse(text)?;
        match validate::validate(raw, broken_policies) {
            Ok(config) if problems.is_empty() => return Ok(config),
            Ok(_) => {}
            Err(more) => problems.extend(more),
        }
        Err(in_file_order(text, problems))
    }

    /// The engine this configuration describes: rules, policies, budgets
    /// and breakers.
    pub fn engine(&self) -> Engine {
        Engine {
            budgets: self.budgets.clone(),
            breakers: self.breakers.clone(),
            pause_recheck: self.pause_recheck,
            ..Engine::new(self.classifier(), self.policies.clone())
        }
    }

    /// Compiles the configured and built-in rules.
    pub fn classifier(&self) -> Classifier {
        // Each pattern was compiled on its own during validation; the set of
        // them differs only in size, which the regex crate bounds generously.
        Classifier::new(self.rules.clone())
            .unwrap_or_else(|e| panic!("validated rules failed to compile: {e}"))
    }
}

#[cfg(test)]
mod tests;
