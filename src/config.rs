//! Configuration: one TOML file, every key optional, validated at load.
//!
//! An error names the key and the problem
//! (`policies.extraction.backoff.multiplier: must be >= 1.0, got 0.5`), and an
//! unknown key is an error: a typo must not silently fall back to a default.
//! Flags and `RETRYD_*` variables for the server settings are merged in
//! `main.rs` (flag beats variable beats file).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use thiserror::Error;

use crate::engine::backoff::{Backoff, Jitter};
use crate::engine::classify::{Rule, grpc_code_from_name};
use crate::engine::policy::{HintMode, OnUnknown, Policy, PolicySet};
use crate::engine::{BudgetConfig, BudgetConfigs, Classifier, ErrorClass, Human, OnExhausted};
use crate::state::BatchLimits;
use crate::state::Limits;

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

fn problem(key: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem::Key {
        key: key.into(),
        message: message.into(),
    }
}

/// Validated configuration.
#[derive(Debug)]
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

/// `[state.redis]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisSettings {
    /// A standalone server: `redis://[user:password@]host:port/db`, or
    /// `rediss://` for TLS. Empty when `cluster_nodes` are given.
    pub url: String,
    /// Seed nodes of a Redis Cluster (each a URL as above).
    pub cluster_nodes: Vec<String>,
    /// Fleets sharing one Redis keep apart by prefix.
    pub key_prefix: String,
    /// Longest wait for one backend call.
    pub timeout: Duration,
    pub on_unavailable: OnUnavailable,
    /// `rediss://`: a CA (PEM) to trust instead of the system's roots, and
    /// a client certificate and key for mutual TLS.
    pub tls_ca: Option<std::path::PathBuf>,
    pub tls_cert: Option<std::path::PathBuf>,
    pub tls_key: Option<std::path::PathBuf>,
}

pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/0";
pub const DEFAULT_KEY_PREFIX: &str = "retryd";
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(250);

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            url: DEFAULT_REDIS_URL.to_string(),
            cluster_nodes: Vec::new(),
            key_prefix: DEFAULT_KEY_PREFIX.to_string(),
            timeout: DEFAULT_REDIS_TIMEOUT,
            on_unavailable: OnUnavailable::Reject,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl RedisSettings {
    /// Where the state is, for logs and errors: the URL(s) without passwords.
    pub fn describe(&self) -> String {
        if self.cluster_nodes.is_empty() {
            format!("redis {}", redacted(&self.url))
        } else {
            let nodes: Vec<String> = self.cluster_nodes.iter().map(|u| redacted(u)).collect();
            format!("redis cluster {}", nodes.join(","))
        }
    }
}

/// A Redis URL with its password (if any) replaced by `***`.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((auth, host)) => match auth.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => format!("{scheme}://***@{host}"),
        },
        None => url.to_string(),
    }
}

/// `host:port` of a Redis URL (no scheme, user, password or database).
pub fn redis_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    rest.split(['/', '?', '#'])
        .next()
        .unwrap_or(rest)
        .to_string()
}

/// What calls that need the shared state get while it cannot be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnUnavailable {
    /// `UNAVAILABLE`, and the coordinator's health turns `NOT_SERVING`.
    Reject,
    /// Decisions from in-process state, until the backend is back.
    Local,
}

/// Checks a `redis://` / `rediss://` URL; the error names `key`.
pub fn redis_url(key: &str, url: &str) -> Result<(), Problem> {
    let url = url.trim();
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err(problem(
            key,
            format!(
                "must be a redis:// or rediss:// URL, got {:?}",
                redacted(url)
            ),
        ));
    }
    redis::IntoConnectionInfo::into_connection_info(url)
        .map(|_| ())
        .map_err(|e| problem(key, format!("{}: {e}", redacted(url))))
}

/// `url` or `cluster_nodes`, not both; checked URLs; a key prefix that
/// cannot break the keys' hash tags.
pub fn redis_settings(
    url: Option<&str>,
    cluster_nodes: &[String],
    key_prefix: Option<&str>,
    timeout: Option<Duration>,
    on_unavailable: Option<&str>,
) -> Result<RedisSettings, Problem> {
    let mut r = RedisSettings::default();
    match (url, cluster_nodes.is_empty()) {
        (Some(_), false) => {
            return Err(problem(
                "state.redis.cluster_nodes",
                "set either state.redis.url (a standalone server) or cluster_nodes (a Redis Cluster), not both",
            ));
        }
        (Some(u), true) => {
            redis_url("state.redis.url", u)?;
            r.url = u.trim().to_string();
        }
        (None, false) => {
            for (i, n) in cluster_nodes.iter().enumerate() {
                redis_url(&format!("state.redis.cluster_nodes[{i}]"), n)?;
            }
            r.url = String::new();
            r.cluster_nodes = cluster_nodes.iter().map(|n| n.trim().to_string()).collect();
        }
        (None, true) => {}
    }
    if let Some(p) = key_prefix {
        let ok = !p.is_empty()
            && p.len() <= 64
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
        if !ok {
            return Err(problem(
                "state.redis.key_prefix",
                format!("{p:?} is not a valid prefix (1-64 of A-Z a-z 0-9 _ - . :)"),
            ));
        }
        r.key_prefix = p.to_string();
    }
    if let Some(t) = timeout {
        if t < Duration::from_millis(1) || t > Duration::from_secs(60) {
            return Err(problem(
                "state.redis.timeout",
                format!("must be between 1ms and 60s, got {}", Human(t)),
            ));
        }
        r.timeout = t;
    }
    if let Some(o) = on_unavailable {
        r.on_unavailable = one_of(
            "state.redis.on_unavailable",
            o,
            &[
                ("reject", OnUnavailable::Reject),
                ("local", OnUnavailable::Local),
            ],
        )?;
    }
    Ok(r)
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
        let raw = parse(text)?;
        validate(raw)
    }

    /// Compiles the configured and built-in rules.
    pub fn classifier(&self) -> Classifier {
        // Each pattern was compiled on its own during validation; the set of
        // them differs only in size, which the regex crate bounds generously.
        Classifier::new(self.rules.clone())
            .unwrap_or_else(|e| panic!("validated rules failed to compile: {e}"))
    }

    /// What `retryd check-config` prints.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let l = &self.limits;
        let _ = writeln!(
            s,
            "server: grpc {}, metrics {}",
            self.grpc_addr, self.metrics_addr
        );
        let _ = writeln!(
            s,
            "state: max_jobs {}, idle_ttl {}, max_dead_jobs {}, dead_ttl {}",
            l.max_jobs,
            Human(l.idle_ttl),
            l.max_dead_jobs,
            Human(l.dead_ttl)
        );
        let b = &self.batch_limits;
        let _ = writeln!(
            s,
            "batches: max_batches {}, batch_ttl {}",
            b.max_batches,
            Human(b.batch_ttl)
        );
        if let Some(tls) = &self.tls {
            let _ = writeln!(
                s,
                "tls: cert {}, key {}{}",
                tls.cert.display(),
                tls.key.display(),
                tls.client_ca.as_ref().map_or(String::new(), |ca| format!(
                    ", client certificates signed by {}",
                    ca.display()
                ))
            );
        }
        match &self.backend {
            BackendSettings::Memory => {
                let _ = writeln!(s, "backend: memory (this sidecar's own state)");
            }
            BackendSettings::Redis(r) => {
                let _ = writeln!(
                    s,
                    "backend: {} (fleet state), key_prefix {}, timeout {}, on_unavailable {}",
                    r.describe(),
                    r.key_prefix,
                    Human(r.timeout),
                    match r.on_unavailable {
                        OnUnavailable::Reject => "reject",
                        OnUnavailable::Local => "local",
                    }
                );
            }
        }
        if let Some(snap) = &self.snapshot {
            let _ = writeln!(
                s,
                "snapshot: {} every {}",
                snap.path.display(),
                Human(snap.interval)
            );
        }
        let _ = writeln!(s, "policies:");
        let policies = self.policies.policies();
        let width = policies.iter().map(|p| p.name.len()).max().unwrap_or(0);
        for p in policies {
            let _ = writeln!(s, "  {:width$}  {p}", p.name);
        }
        let mut job_types: Vec<_> = self.policies.job_types().collect();
        job_types.sort_by_key(|(t, _)| *t);
        if !job_types.is_empty() {
            let _ = writeln!(s, "job_types:");
            for (t, p) in job_types {
                let _ = writeln!(s, "  {t} -> {}", p.name);
            }
        }
        let _ = writeln!(s, "priority_bands:");
        for b in self.policies.bands() {
            let _ = writeln!(s, "  {}..={} -> {}", b.min, b.max, b.policy.name);
        }
        let mut budgets: Vec<(&str, &BudgetConfig)> = self
            .budgets
            .by_target
            .iter()
            .map(|(t, c)| (t.as_str(), c))
            .collect();
        budgets.sort_by_key(|(t, _)| *t);
        if let Some(d) = &self.budgets.default {
            budgets.push(("default", d));
        }
        if !budgets.is_empty() {
            let _ = writeln!(s, "budgets:");
            for (t, c) in budgets {
                let _ = writeln!(
                    s,
                    "  {t}: max_tokens {}, token_ratio {}, max_retrying {}, on_exhausted {}",
                    c.max_tokens,
                    c.token_ratio,
                    c.max_retrying,
                    if c.on_exhausted == OnExhausted::Defer {
                        "defer"
                    } else {
                        "give_up"
                    }
                );
            }
        }
        let names: Vec<&str> = self.rules.iter().map(|r| &*r.category).collect();
        let _ = writeln!(
            s,
            "rules: {} configured{}, then the caller's verdict and the built-in rules",
            names.len(),
            if names.is_empty() {
                String::new()
            } else {
                format!(" ({})", names.join(", "))
            }
        );
        s
    }
}

// ---- raw, as written -------------------------------------------------------

#[derive(Deserialize, Default)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    state: RawState,
    #[serde(default)]
    policies: BTreeMap<String, RawPolicy>,
    #[serde(default)]
    job_types: BTreeMap<String, String>,
    priority_bands: Option<Vec<RawBand>>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    budgets: BTreeMap<String, RawBudget>,
}

#[derive(Deserialize)]
struct RawBudget {
    max_tokens: Option<i64>,
    token_ratio: Option<f64>,
    max_retrying: Option<i64>,
    on_exhausted: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawServer {
    grpc_addr: Option<String>,
    metrics_addr: Option<String>,
    health_addr: Option<String>,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    tls_client_ca: Option<String>,
    shutdown_grace: Option<Dur>,
    max_in_flight: Option<i64>,
}

#[derive(Deserialize, Default)]
struct RawState {
    max_jobs: Option<i64>,
    idle_ttl: Option<Dur>,
    max_dead_jobs: Option<i64>,
    dead_ttl: Option<Dur>,
    max_batches: Option<i64>,
    batch_ttl: Option<Dur>,
    snapshot_path: Option<String>,
    snapshot_interval: Option<Dur>,
    backend: Option<String>,
    redis: Option<RawRedis>,
}

#[derive(Deserialize, Default)]
struct RawRedis {
    url: Option<String>,
    #[serde(default)]
    cluster_nodes: Vec<String>,
    key_prefix: Option<String>,
    timeout: Option<Dur>,
    on_unavailable: Option<String>,
    tls_ca: Option<String>,
    tls_cert: Option<String>,
    tls_key: Option<String>,
}

#[derive(Deserialize)]
struct RawPolicy {
    max_retries: Option<i64>,
    max_attempts: Option<i64>,
    backoff: Option<RawBackoff>,
    jitter: Option<RawJitter>,
    max_delay: Option<Dur>,
    max_retry_duration: Option<Dur>,
    on_unknown: Option<String>,
    retry_after_hint: Option<String>,
    #[serde(default)]
    category_limits: BTreeMap<String, i64>,
}

#[derive(Deserialize)]
struct RawBackoff {
    kind: String,
    base: Option<Dur>,
    multiplier: Option<f64>,
    delays: Option<Vec<Dur>>,
    delay: Option<Dur>,
}

#[derive(Deserialize)]
struct RawJitter {
    kind: String,
    fraction: Option<f64>,
}

#[derive(Deserialize)]
struct RawBand {
    min: Option<i64>,
    max: Option<i64>,
    policy: String,
}

#[derive(Deserialize)]
struct RawRule {
    category: String,
    class: String,
    #[serde(default)]
    types: Vec<String>,
    #[serde(default)]
    type_contains: Vec<String>,
    #[serde(default)]
    message_regex: Vec<String>,
    #[serde(default)]
    http_status: Vec<toml::Value>,
    #[serde(default)]
    grpc_codes: Vec<toml::Value>,
}

/// A duration written as `"30s"`, `"5m"`, `"1h30m"`, `"7d"`.
#[derive(Clone, Copy, Debug)]
struct Dur(Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"30s\", \"5m\" or \"1h30m\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Dur, E> {
                humantime::parse_duration(s.trim()).map(Dur).map_err(|e| {
                    E::custom(format!(
                        "invalid duration {s:?} ({e}); write e.g. \"30s\", \"5m\", \"1h30m\""
                    ))
                })
            }
        }
        d.deserialize_str(V)
    }
}

fn parse(text: &str) -> Result<RawConfig, Problem> {
    let de = toml::Deserializer::parse(text).map_err(|e| Problem::Syntax(located(&e, text)))?;
    let mut unknown: Vec<String> = Vec::new();
    let mut on_unknown = |p: serde_ignored::Path<'_>| unknown.push(key_of_ignored(&p));
    let raw: RawConfig =
        serde_path_to_error::deserialize(serde_ignored::Deserializer::new(de, &mut on_unknown))
            .map_err(|e| {
                let key = e.path().to_string();
                let message = located(e.inner(), text);
                if key == "." {
                    Problem::Syntax(message)
                } else {
                    problem(key, message)
                }
            })?;
    if let Some(key) = unknown.into_iter().next() {
        return Err(problem(key, "unknown key"));
    }
    Ok(raw)
}

/// A TOML error's message with its line number.
fn located(e: &toml::de::Error, text: &str) -> String {
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("{} (line {line})", e.message().trim_end())
        }
        None => e.message().trim_end().to_string(),
    }
}

/// `rules[0].typo` from serde_ignored's path.
fn key_of_ignored(p: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path as P;
    match p {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", key_of_ignored(parent)),
        P::Map { parent, key } => {
            let parent = key_of_ignored(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            key_of_ignored(parent)
        }
    }
}

// ---- validation ------------------------------------------------------------

fn int_in(key: &str, v: i64, lo: i64, hi: i64) -> Result<i64, Problem> {
    if v < lo {
        Err(problem(key, format!("must be >= {lo}, got {v}")))
    } else if v > hi {
        Err(problem(key, format!("must be <= {hi}, got {v}")))
    } else {
        Ok(v)
    }
}

fn to_u32(key: &str, v: i64, lo: i64, hi: i64) -> Result<u32, Problem> {
    let v = int_in(key, v, lo, hi)?;
    u32::try_from(v).map_err(|_| problem(key, format!("out of range: {v}")))
}

fn to_usize(key: &str, v: i64, lo: i64, hi: i64) -> Result<usize, Problem> {
    let v = int_in(key, v, lo, hi)?;
    usize::try_from(v).map_err(|_| problem(key, format!("out of range: {v}")))
}

fn positive(key: &str, d: Dur) -> Result<Duration, Problem> {
    if d.0.is_zero() {
        Err(problem(key, "must be greater than 0s"))
    } else {
        Ok(d.0)
    }
}

fn one_of<T: Copy>(key: &str, got: &str, choices: &[(&str, T)]) -> Result<T, Problem> {
    choices
        .iter()
        .find(|(n, _)| *n == got)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<String> = choices.iter().map(|(n, _)| format!("{n:?}")).collect();
            problem(
                key,
                format!("must be one of {}, got {got:?}", names.join(", ")),
            )
        })
}

/// Names that become metric label values and TOML keys.
fn check_name(key: &str, name: &str) -> Result<(), Problem> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(problem(
            key,
            format!("{name:?} is not a valid name (1-64 of A-Z a-z 0-9 _ - .)"),
        ))
    }
}

/// `cert` and `key` together or not at all; `client_ca` only with them.
pub fn tls_settings(
    cert: Option<&str>,
    key: Option<&str>,
    client_ca: Option<&str>,
) -> Result<Option<TlsSettings>, Problem> {
    let path = |k: &str, v: Option<&str>| match v {
        Some(p) if p.trim().is_empty() => Err(problem(k, "must not be empty")),
        v => Ok(v.map(std::path::PathBuf::from)),
    };
    let cert = path("server.tls_cert", cert)?;
    let key = path("server.tls_key", key)?;
    let client_ca = path("server.tls_client_ca", client_ca)?;
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(TlsSettings {
            cert,
            key,
            client_ca,
        })),
        (Some(_), None) => Err(problem(
            "server.tls_key",
            "is required with server.tls_cert",
        )),
        (None, Some(_)) => Err(problem(
            "server.tls_cert",
            "is required with server.tls_key",
        )),
        (None, None) if client_ca.is_some() => Err(problem(
            "server.tls_client_ca",
            "needs server.tls_cert and server.tls_key",
        )),
        (None, None) => Ok(None),
    }
}

fn parse_addr(key: &str, s: &str) -> Result<SocketAddr, Problem> {
    s.parse().map_err(|_| {
        problem(
            key,
            format!("must be an address like \"127.0.0.1:50051\", got {s:?}"),
        )
    })
}

fn validate(raw: RawConfig) -> Result<Config, Problem> {
    let grpc_addr = parse_addr(
        "server.grpc_addr",
        raw.server.grpc_addr.as_deref().unwrap_or(DEFAULT_GRPC_ADDR),
    )?;
    let metrics_addr = parse_addr(
        "server.metrics_addr",
        raw.server
            .metrics_addr
            .as_deref()
            .unwrap_or(DEFAULT_METRICS_ADDR),
    )?;

    let health_addr = raw
        .server
        .health_addr
        .as_deref()
        .map(|a| parse_addr("server.health_addr", a))
        .transpose()?;
    let tls = tls_settings(
        raw.server.tls_cert.as_deref(),
        raw.server.tls_key.as_deref(),
        raw.server.tls_client_ca.as_deref(),
    )?;
    let shutdown_grace = raw
        .server
        .shutdown_grace
        .map_or(DEFAULT_SHUTDOWN_GRACE, |d| d.0);

    let max_in_flight = match raw.server.max_in_flight {
        Some(v) => to_usize("server.max_in_flight", v, 1, 1_000_000)?,
        None => DEFAULT_MAX_IN_FLIGHT,
    };

    let mut limits = Limits::default();
    let st = raw.state;
    if let Some(v) = st.max_jobs {
        limits.max_jobs = to_usize("state.max_jobs", v, 1, 1_000_000_000)?;
    }
    if let Some(d) = st.idle_ttl {
        limits.idle_ttl = positive("state.idle_ttl", d)?;
    }
    if let Some(v) = st.max_dead_jobs {
        limits.max_dead_jobs = to_usize("state.max_dead_jobs", v, 0, 1_000_000_000)?;
    }
    if let Some(d) = st.dead_ttl {
        limits.dead_ttl = positive("state.dead_ttl", d)?;
    }
    let mut batch_limits = BatchLimits::default();
    if let Some(v) = st.max_batches {
        batch_limits.max_batches = to_usize("state.max_batches", v, 1, 1_000_000)?;
    }
    if let Some(d) = st.batch_ttl {
        batch_limits.batch_ttl = positive("state.batch_ttl", d)?;
    }

    let snapshot_interval = match st.snapshot_interval {
        Some(d) if d.0 < Duration::from_millis(100) => {
            return Err(problem(
                "state.snapshot_interval",
                format!("must be at least 100ms, got {}", Human(d.0)),
            ));
        }
        Some(d) => d.0,
        None => DEFAULT_SNAPSHOT_INTERVAL,
    };
    let snapshot = match st.snapshot_path {
        Some(p) if p.trim().is_empty() => {
            return Err(problem("state.snapshot_path", "must not be empty"));
        }
        Some(p) => Some(SnapshotSettings {
            path: p.into(),
            interval: snapshot_interval,
        }),
        None => None,
    };

    let backend = match st.backend.as_deref().unwrap_or("memory") {
        "memory" => BackendSettings::Memory,
        "redis" => {
            let r = st.redis.unwrap_or_default();
            let mut settings = redis_settings(
                r.url.as_deref(),
                &r.cluster_nodes,
                r.key_prefix.as_deref(),
                r.timeout.map(|d| d.0),
                r.on_unavailable.as_deref(),
            )?;
            let path = |key: &str, v: Option<String>| match v {
                Some(p) if p.trim().is_empty() => Err(problem(key, "must not be empty")),
                v => Ok(v.map(std::path::PathBuf::from)),
            };
            settings.tls_ca = path("state.redis.tls_ca", r.tls_ca)?;
            settings.tls_cert = path("state.redis.tls_cert", r.tls_cert)?;
            settings.tls_key = path("state.redis.tls_key", r.tls_key)?;
            if settings.tls_cert.is_some() != settings.tls_key.is_some() {
                return Err(problem(
                    "state.redis.tls_cert",
                    "state.redis.tls_cert and tls_key go together (a client certificate and its key)",
                ));
            }
            BackendSettings::Redis(settings)
        }
        other => {
            return Err(problem(
                "state.backend",
                format!("must be one of \"memory\", \"redis\", got {other:?}"),
            ));
        }
    };
    if let (BackendSettings::Redis(_), Some(_)) = (&backend, &snapshot) {
        return Err(problem(
            "state.snapshot_path",
            "is for the memory backend: with state.backend = \"redis\" the state lives in Redis",
        ));
    }

    let mut policies = Vec::new();
    for (name, p) in raw.policies {
        check_name(&format!("policies.{name}"), &name)?;
        policies.push(policy(&name, p)?);
    }
    let known: Vec<String> = {
        let mut k: Vec<String> = Policy::builtins()
            .iter()
            .map(|p| p.name.to_string())
            .collect();
        k.extend(policies.iter().map(|p| p.name.to_string()));
        k.sort();
        k.dedup();
        k
    };
    let must_exist = |key: String, name: &str| {
        if known.iter().any(|k| k == name) {
            Ok(())
        } else {
            Err(problem(
                key,
                format!("unknown policy {name:?} (known: {})", known.join(", ")),
            ))
        }
    };

    let mut job_types = Vec::new();
    for (t, p) in raw.job_types {
        must_exist(format!("job_types.{t}"), &p)?;
        job_types.push((t, p));
    }

    let bands = match raw.priority_bands {
        None => None,
        Some(list) => {
            let mut bands = Vec::new();
            for (i, b) in list.into_iter().enumerate() {
                let key = |k: &str| format!("priority_bands[{i}].{k}");
                if b.min.is_none() && b.max.is_none() {
                    return Err(problem(
                        format!("priority_bands[{i}]"),
                        "needs min, max or both",
                    ));
                }
                let min = to_u32(&key("min"), b.min.unwrap_or(0), 0, 100)?;
                let max = to_u32(&key("max"), b.max.unwrap_or(100), 0, 100)?;
                if min > max {
                    return Err(problem(
                        key("min"),
                        format!("must be <= max ({max}), got {min}"),
                    ));
                }
                must_exist(key("policy"), &b.policy)?;
                bands.push((min, max, b.policy));
            }
            Some(bands)
        }
    };

    let policies = PolicySet::new(policies, &job_types, bands.as_deref())
        .map_err(|e| problem("policies", e.to_string()))?;

    let rules = raw
        .rules
        .into_iter()
        .enumerate()
        .map(|(i, r)| rule(i, r))
        .collect::<Result<Vec<_>, _>>()?;
    // The rule set as a whole must compile too (it has a size limit).
    Classifier::new(rules.clone())
        .map_err(|e| problem("rules", format!("the rules do not compile together: {e}")))?;

    let mut budgets = BudgetConfigs::default();
    for (target, b) in raw.budgets {
        let key = format!("budgets.{target}");
        check_name(&key, &target)?;
        let config = budget(&key, b)?;
        if target == "default" {
            budgets.default = Some(config);
        } else {
            budgets.by_target.insert(target, config);
        }
    }

    Ok(Config {
        grpc_addr,
        metrics_addr,
        health_addr,
        tls,
        admin_token: None,
        max_in_flight,
        shutdown_grace,
        limits,
        batch_limits,
        snapshot,
        backend,
        policies,
        rules,
        budgets,
    })
}

/// A `[budgets.<target>]` table; missing keys take `[budgets.default]`'s
/// documented values (DESIGN.md section 8).
fn budget(key: &str, b: RawBudget) -> Result<BudgetConfig, Problem> {
    let k = |f: &str| format!("{key}.{f}");
    let mut c = BudgetConfig::default();
    if let Some(v) = b.max_tokens {
        c.max_tokens = to_u32(&k("max_tokens"), v, 1, 1_000_000)?;
    }
    if let Some(r) = b.token_ratio {
        if !(r > 0.0 && r <= 1000.0) {
            return Err(problem(
                k("token_ratio"),
                format!("must be > 0 and <= 1000, got {r}"),
            ));
        }
        c.token_ratio = r;
    }
    if let Some(v) = b.max_retrying {
        c.max_retrying = to_u32(&k("max_retrying"), v, 1, 100_000_000)?;
    }
    if let Some(s) = b.on_exhausted {
        c.on_exhausted = one_of(
            &k("on_exhausted"),
            &s,
            &[
                ("give_up", OnExhausted::GiveUp),
                ("defer", OnExhausted::Defer),
            ],
        )?;
    }
    Ok(c)
}

fn policy(name: &str, raw: RawPolicy) -> Result<Policy, Problem> {
    let key = |k: &str| format!("policies.{name}.{k}");
    let mut p = Policy::named(name);
    match (raw.max_retries, raw.max_attempts) {
        (Some(_), Some(_)) => {
            return Err(problem(
                key("max_attempts"),
                "set max_retries or max_attempts, not both",
            ));
        }
        (Some(r), None) => p.max_retries = to_u32(&key("max_retries"), r, 0, 10_000)?,
        (None, Some(a)) => p.max_retries = to_u32(&key("max_attempts"), a, 1, 10_001)? - 1,
        (None, None) => {}
    }
    if let Some(b) = raw.backoff {
        p.backoff = backoff(&key("backoff"), b)?;
    }
    if let Some(j) = raw.jitter {
        let k = key("jitter");
        let kind = one_of(
            &format!("{k}.kind"),
            &j.kind,
            &[
                ("none", 0),
                ("full", 1),
                ("equal", 2),
                ("proportional", 3),
                ("decorrelated", 4),
            ],
        )?;
        if kind != 3 && j.fraction.is_some() {
            return Err(problem(
                format!("{k}.fraction"),
                "only used with kind = \"proportional\"",
            ));
        }
        p.jitter = match kind {
            0 => Jitter::None,
            1 => Jitter::Full,
            2 => Jitter::Equal,
            3 => {
                let f = j.fraction.unwrap_or(0.25);
                if !(f > 0.0 && f <= 1.0) {
                    return Err(problem(
                        format!("{k}.fraction"),
                        format!("must be > 0.0 and <= 1.0, got {f}"),
                    ));
                }
                Jitter::Proportional(f)
            }
            _ => Jitter::Decorrelated,
        };
    }
    if let Some(d) = raw.max_delay {
        p.max_delay = positive(&key("max_delay"), d)?;
    }
    if let Some(d) = raw.max_retry_duration {
        p.max_retry_duration = Some(positive(&key("max_retry_duration"), d)?);
    }
    if let Some(s) = raw.on_unknown {
        p.on_unknown = one_of(
            &key("on_unknown"),
            &s,
            &[("retry", OnUnknown::Retry), ("give_up", OnUnknown::GiveUp)],
        )?;
    }
    if let Some(s) = raw.retry_after_hint {
        p.retry_after_hint = one_of(
            &key("retry_after_hint"),
            &s,
            &[("honor", HintMode::Honor), ("ignore", HintMode::Ignore)],
        )?;
    }
    for (category, limit) in raw.category_limits {
        let k = key(&format!("category_limits.{category}"));
        check_name(&k, &category)?;
        p.category_limits
            .insert(category, to_u32(&k, limit, 0, 10_000)?);
    }
    Ok(p)
}

fn backoff(k: &str, b: RawBackoff) -> Result<Backoff, Problem> {
    let kind = one_of(
        &format!("{k}.kind"),
        &b.kind,
        &[("exponential", 0), ("schedule", 1), ("constant", 2)],
    )?;
    let unused = |field: &str, present: bool, with: &str| {
        if present {
            Err(problem(
                format!("{k}.{field}"),
                format!("only used with kind = {with:?}"),
            ))
        } else {
            Ok(())
        }
    };
    match kind {
        0 => {
            unused("delays", b.delays.is_some(), "schedule")?;
            unused("delay", b.delay.is_some(), "constant")?;
            let base = match b.base {
                Some(d) => positive(&format!("{k}.base"), d)?,
                None => Duration::from_secs(1),
            };
            let multiplier = b.multiplier.unwrap_or(2.0);
            if !(1.0..=1000.0).contains(&multiplier) {
                return Err(problem(
                    format!("{k}.multiplier"),
                    format!("must be >= 1.0 (and <= 1000), got {multiplier}"),
                ));
            }
            Ok(Backoff::Exponential { base, multiplier })
        }
        1 => {
            unused("base", b.base.is_some(), "exponential")?;
            unused("multiplier", b.multiplier.is_some(), "exponential")?;
            unused("delay", b.delay.is_some(), "constant")?;
            let delays: Vec<Duration> = b
                .delays
                .unwrap_or_default()
                .into_iter()
                .map(|d| d.0)
                .collect();
            if delays.is_empty() {
                return Err(problem(
                    format!("{k}.delays"),
                    "a schedule needs at least one delay",
                ));
            }
            Ok(Backoff::Schedule(delays))
        }
        _ => {
            unused("base", b.base.is_some(), "exponential")?;
            unused("multiplier", b.multiplier.is_some(), "exponential")?;
            unused("delays", b.delays.is_some(), "schedule")?;
            let delay = b.delay.ok_or_else(|| {
                problem(format!("{k}.delay"), "required with kind = \"constant\"")
            })?;
            Ok(Backoff::Constant(delay.0))
        }
    }
}

fn rule(i: usize, r: RawRule) -> Result<Rule, Problem> {
    let key = |k: &str| format!("rules[{i}].{k}");
    check_name(&key("category"), &r.category)?;
    let class = one_of(
        &key("class"),
        &r.class,
        &[
            ("transient", ErrorClass::Transient),
            ("permanent", ErrorClass::Permanent),
        ],
    )?;
    let mut rule = Rule::new(&r.category, class);
    for (j, t) in r.types.iter().enumerate() {
        if t.trim().is_empty() {
            return Err(problem(
                format!("rules[{i}].types[{j}]"),
                "must not be empty",
            ));
        }
    }
    for (j, t) in r.type_contains.iter().enumerate() {
        if t.is_empty() {
            return Err(problem(
                format!("rules[{i}].type_contains[{j}]"),
                "must not be empty",
            ));
        }
    }
    for (j, p) in r.message_regex.iter().enumerate() {
        regex::RegexBuilder::new(p)
            .case_insensitive(true)
            .build()
            .map_err(|e| {
                problem(
                    format!("rules[{i}].message_regex[{j}]"),
                    format!("invalid regex: {e}"),
                )
            })?;
    }
    for (j, v) in r.http_status.iter().enumerate() {
        rule.http_status
            .push(http_range(&format!("rules[{i}].http_status[{j}]"), v)?);
    }
    for (j, v) in r.grpc_codes.iter().enumerate() {
        let k = format!("rules[{i}].grpc_codes[{j}]");
        let code = match v {
            toml::Value::Integer(n) => u8::try_from(*n).ok().filter(|c| (1..=16).contains(c)),
            toml::Value::String(s) => grpc_code_from_name(s).filter(|c| *c != 0),
            _ => None,
        };
        rule.grpc_codes.push(code.ok_or_else(|| {
            problem(
                k,
                format!("must be a gRPC code name like \"UNAVAILABLE\" or a number 1-16, got {v}"),
            )
        })?);
    }
    rule.types = r.types;
    rule.type_contains = r.type_contains;
    rule.message_regex = r.message_regex;
    if rule.types.is_empty()
        && rule.type_contains.is_empty()
        && rule.message_regex.is_empty()
        && rule.http_status.is_empty()
        && rule.grpc_codes.is_empty()
    {
        return Err(problem(
            format!("rules[{i}]"),
            "needs at least one of types, type_contains, message_regex, http_status, grpc_codes",
        ));
    }
    Ok(rule)
}

/// `503`, `"503"` or `"500-599"`.
fn http_range(key: &str, v: &toml::Value) -> Result<(u16, u16), Problem> {
    let status = |n: i64| u16::try_from(n).ok().filter(|s| (100..=599).contains(s));
    let range = match v {
        toml::Value::Integer(n) => status(*n).map(|s| (s, s)),
        toml::Value::String(s) => match s.split_once('-') {
            Some((a, b)) => {
                let a = a.trim().parse().ok().and_then(status);
                let b = b.trim().parse().ok().and_then(status);
                a.zip(b).filter(|(a, b)| a <= b)
            }
            None => s.trim().parse().ok().and_then(status).map(|s| (s, s)),
        },
        _ => None,
    };
    range.ok_or_else(|| {
        problem(
            key,
            format!("must be a status 100-599 like 503 or a range like \"500-599\", got {v}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Config::from_toml(text)
            .expect_err("should be rejected")
            .to_string()
    }

    const DESIGN_EXAMPLE: &str = r#"
[server]
grpc_addr = "127.0.0.1:50051"
metrics_addr = "0.0.0.0:9464"

[state]
max_jobs = 1_000_000
idle_ttl = "24h"
max_dead_jobs = 10_000
dead_ttl = "7d"

[policies.extraction]
max_retries = 3
backoff = { kind = "exponential", base = "30s", multiplier = 4.0 }
jitter = { kind = "proportional", fraction = 0.25 }
max_delay = "1h"
max_retry_duration = "2h"
on_unknown = "retry"
category_limits = { rate_limit = 10 }

[policies.pipeline]
max_retries = 3
backoff = { kind = "schedule", delays = ["60s", "300s", "900s"] }

[job_types]
extraction = "extraction"
chunking = "pipeline"

[[priority_bands]]
min = 80
policy = "high_priority"

[[rules]]
category = "docker"
class = "transient"
message_regex = ["connection.*refused"]
"#;

    #[test]
    fn design_example_loads() {
        let c = Config::from_toml(DESIGN_EXAMPLE).expect("valid");
        let p = c.policies.get("extraction").expect("extraction");
        assert_eq!(p.max_retries, 3);
        assert_eq!(
            p.backoff,
            Backoff::Exponential {
                base: Duration::from_secs(30),
                multiplier: 4.0
            }
        );
        assert_eq!(p.jitter, Jitter::Proportional(0.25));
        assert_eq!(p.max_retry_duration, Some(Duration::from_secs(7200)));
        assert_eq!(p.category_limits.get("rate_limit"), Some(&10));
        assert_eq!(
            c.policies
                .select("", "chunking", None)
                .map(|(p, _)| p.name.to_string()),
            Ok("pipeline".to_string())
        );
        assert_eq!(c.limits.dead_ttl, Duration::from_secs(7 * 86400));
        assert_eq!(c.rules.len(), 1);
        let summary = c.summary();
        assert!(summary.contains("extraction"), "{summary}");
        assert!(summary.contains("chunking -> pipeline"), "{summary}");
    }

    #[test]
    fn empty_config_is_builtins() {
        let c = Config::from_toml("").expect("valid");
        assert_eq!(c.policies.policies().len(), 4);
        assert_eq!(c.grpc_addr.to_string(), DEFAULT_GRPC_ADDR);
        assert_eq!(c.limits, Limits::default());
    }

    #[test]
    fn value_errors_name_the_key() {
        assert_eq!(
            err("[policies.extraction]\nbackoff = { kind = \"exponential\", multiplier = 0.5 }"),
            "policies.extraction.backoff.multiplier: must be >= 1.0 (and <= 1000), got 0.5"
        );
        assert_eq!(
            err("[policies.p]\nmax_retries = 2\nmax_attempts = 3"),
            "policies.p.max_attempts: set max_retries or max_attempts, not both"
        );
        assert_eq!(
            err("[policies.p]\nmax_retries = -1"),
            "policies.p.max_retries: must be >= 0, got -1"
        );
        assert_eq!(
            err("[policies.p]\nmax_attempts = 0"),
            "policies.p.max_attempts: must be >= 1, got 0"
        );
        assert_eq!(
            err("[state]\nmax_jobs = 0"),
            "state.max_jobs: must be >= 1, got 0"
        );
        assert_eq!(
            err("[state]\nidle_ttl = \"0s\""),
            "state.idle_ttl: must be greater than 0s"
        );
        assert_eq!(
            err("[policies.p]\non_unknown = \"maybe\""),
            "policies.p.on_unknown: must be one of \"retry\", \"give_up\", got \"maybe\""
        );
        assert_eq!(
            err("[policies.p]\njitter = { kind = \"proportional\", fraction = 2.0 }"),
            "policies.p.jitter.fraction: must be > 0.0 and <= 1.0, got 2"
        );
        assert_eq!(
            err("[policies.p]\njitter = { kind = \"full\", fraction = 0.2 }"),
            "policies.p.jitter.fraction: only used with kind = \"proportional\""
        );
        assert_eq!(
            err("[policies.p]\nbackoff = { kind = \"schedule\", delays = [] }"),
            "policies.p.backoff.delays: a schedule needs at least one delay"
        );
        assert_eq!(
            err("[policies.p]\nbackoff = { kind = \"constant\" }"),
            "policies.p.backoff.delay: required with kind = \"constant\""
        );
        assert_eq!(
            err(
                "[policies.p]\nbackoff = { kind = \"schedule\", delays = [\"1s\"], base = \"1s\" }"
            ),
            "policies.p.backoff.base: only used with kind = \"exponential\""
        );
        assert_eq!(
            err("[server]\ngrpc_addr = \"localhost\""),
            "server.grpc_addr: must be an address like \"127.0.0.1:50051\", got \"localhost\""
        );
    }

    #[test]
    fn durations_are_checked_where_written() {
        let e = err("[policies.p]\nmax_delay = \"5 parsecs\"");
        assert!(
            e.starts_with("policies.p.max_delay: invalid duration \"5 parsecs\""),
            "{e}"
        );
        assert!(e.contains("(line 2)"), "{e}");
        let e = err("[policies.p]\nmax_delay = 30");
        assert!(
            e.starts_with(
                "policies.p.max_delay: invalid type: integer `30`, expected a duration string"
            ),
            "{e}"
        );
        let c = Config::from_toml("[policies.p]\nmax_delay = \"1h30m\"").expect("valid");
        assert_eq!(
            c.policies.get("p").map(|p| p.max_delay),
            Some(Duration::from_secs(5400))
        );
    }

    #[test]
    fn unknown_keys_are_errors_with_their_path() {
        assert_eq!(
            err("[policies.extraction]\nbackoff = { kind = \"exponential\", multipler = 3.0 }"),
            "policies.extraction.backoff.multipler: unknown key"
        );
        assert_eq!(err("[state]\nmax_job = 5"), "state.max_job: unknown key");
        assert_eq!(err("[sever]\ngrpc_addr = \"x\""), "sever: unknown key");
        assert_eq!(
            err("[[rules]]\ncategory = \"x\"\nclass = \"transient\"\ntype = [\"A\"]"),
            "rules[0].type: unknown key"
        );
    }

    #[test]
    fn references_to_policies_must_exist() {
        let e = err("[job_types]\nextraction = \"nope\"");
        assert!(
            e.starts_with("job_types.extraction: unknown policy \"nope\" (known: aggressive"),
            "{e}"
        );
        let e = err("[[priority_bands]]\nmin = 10\npolicy = \"nope\"");
        assert!(
            e.starts_with("priority_bands[0].policy: unknown policy"),
            "{e}"
        );
        assert_eq!(
            err("[[priority_bands]]\nmin = 101\npolicy = \"default\""),
            "priority_bands[0].min: must be <= 100, got 101"
        );
        assert_eq!(
            err("[[priority_bands]]\npolicy = \"default\""),
            "priority_bands[0]: needs min, max or both"
        );
    }

    #[test]
    fn rules_are_checked_matcher_by_matcher() {
        let base = "[[rules]]\ncategory = \"c\"\nclass = \"transient\"\n";
        let e = err(&format!("{base}message_regex = [\"ok\", \"(unclosed\"]"));
        assert!(
            e.starts_with("rules[0].message_regex[1]: invalid regex"),
            "{e}"
        );
        assert_eq!(
            err(&format!("{base}http_status = [429, \"600-700\"]")),
            "rules[0].http_status[1]: must be a status 100-599 like 503 or a range like \"500-599\", got \"600-700\""
        );
        assert_eq!(
            err(&format!("{base}grpc_codes = [\"UNAVAILABLE\", \"NOPE\"]")),
            "rules[0].grpc_codes[1]: must be a gRPC code name like \"UNAVAILABLE\" or a number 1-16, got \"NOPE\""
        );
        assert_eq!(
            err(base),
            "rules[0]: needs at least one of types, type_contains, message_regex, http_status, grpc_codes"
        );
        assert_eq!(
            err("[[rules]]\ncategory = \"c\"\nclass = \"sometimes\"\ntypes = [\"X\"]"),
            "rules[0].class: must be one of \"transient\", \"permanent\", got \"sometimes\""
        );
        let e = err("[[rules]]\nclass = \"transient\"\ntypes = [\"X\"]");
        assert!(e.starts_with("rules[0]: missing field `category`"), "{e}");
        let c = Config::from_toml(&format!(
            "{base}http_status = [429, \"500-503\", \"418\"]\ngrpc_codes = [14, \"aborted\"]"
        ))
        .expect("valid");
        assert_eq!(
            c.rules[0].http_status,
            vec![(429, 429), (500, 503), (418, 418)]
        );
        assert_eq!(c.rules[0].grpc_codes, vec![14, 10]);
    }

    #[test]
    fn syntax_errors_give_a_line() {
        let e = err("[policies.p\nmax_retries = 1");
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn batch_bounds() {
        let c = Config::from_toml("[state]\nmax_batches = 5\nbatch_ttl = \"1h\"").expect("valid");
        assert_eq!(c.batch_limits.max_batches, 5);
        assert_eq!(c.batch_limits.batch_ttl, Duration::from_secs(3600));
        assert_eq!(
            err("[state]\nmax_batches = 0"),
            "state.max_batches: must be >= 1, got 0"
        );
        assert_eq!(
            err("[state]\nbatch_ttl = \"0s\""),
            "state.batch_ttl: must be greater than 0s"
        );
    }

    #[test]
    fn budgets_by_target_and_default() {
        let c = Config::from_toml(
            "[budgets.default]\nmax_tokens = 100\ntoken_ratio = 0.1\nmax_retrying = 1000\non_exhausted = \"give_up\"\n\n[budgets.s3]\nmax_tokens = 10\non_exhausted = \"defer\"",
        )
        .expect("valid");
        assert_eq!(c.budgets.for_target("db").map(|b| b.max_tokens), Some(100));
        let s3 = c.budgets.for_target("s3").expect("s3");
        assert_eq!(
            (s3.max_tokens, s3.on_exhausted, s3.max_retrying),
            (10, OnExhausted::Defer, 1000)
        );
        assert!(c.summary().contains("s3: max_tokens 10"));
        assert_eq!(
            err("[budgets.s3]\nmax_tokens = 0"),
            "budgets.s3.max_tokens: must be >= 1, got 0"
        );
        assert_eq!(
            err("[budgets.s3]\ntoken_ratio = -1.0"),
            "budgets.s3.token_ratio: must be > 0 and <= 1000, got -1"
        );
        assert_eq!(
            err("[budgets.s3]\non_exhausted = \"panic\""),
            "budgets.s3.on_exhausted: must be one of \"give_up\", \"defer\", got \"panic\""
        );
        assert_eq!(
            err("[budgets.s3]\nmax_token = 5"),
            "budgets.s3.max_token: unknown key"
        );
        assert!(Config::from_toml("").expect("valid").budgets.is_empty());
    }

    #[test]
    fn max_attempts_is_max_retries_plus_one() {
        let c = Config::from_toml("[policies.p]\nmax_attempts = 3").expect("valid");
        assert_eq!(c.policies.get("p").map(|p| p.max_retries), Some(2));
    }

    #[test]
    fn the_redis_backend_and_its_errors_name_the_key() {
        let c = Config::from_toml(
            "[state]\nbackend = \"redis\"\n[state.redis]\nurl = \"rediss://u:secret@cache:6380/2\"\nkey_prefix = \"jobs:a\"\ntimeout = \"1s\"\non_unavailable = \"local\"\n",
        )
        .expect("valid");
        let BackendSettings::Redis(r) = &c.backend else {
            panic!("redis backend");
        };
        assert_eq!(
            (
                r.url.as_str(),
                r.key_prefix.as_str(),
                r.timeout,
                r.on_unavailable
            ),
            (
                "rediss://u:secret@cache:6380/2",
                "jobs:a",
                Duration::from_secs(1),
                OnUnavailable::Local
            )
        );
        // The summary names the backend, never the password.
        let summary = c.summary();
        assert!(
            summary.contains("backend: redis rediss://u:***@cache:6380/2"),
            "{summary}"
        );
        assert!(!summary.contains("secret"));
        // No [state.redis]: the default standalone URL.
        let c = Config::from_toml("[state]\nbackend = \"redis\"").expect("valid");
        assert_eq!(c.backend, BackendSettings::Redis(RedisSettings::default()));
        let cluster = Config::from_toml(
            "[state]\nbackend = \"redis\"\n[state.redis]\ncluster_nodes = [\"redis://a:7000\", \"redis://b:7000\"]",
        )
        .expect("valid");
        let BackendSettings::Redis(r) = &cluster.backend else {
            panic!("redis backend");
        };
        assert_eq!((r.url.as_str(), r.cluster_nodes.len()), ("", 2));
        for (text, want) in [
            (
                "[state]\nbackend = \"etcd\"",
                "state.backend: must be one of \"memory\", \"redis\", got \"etcd\"",
            ),
            (
                "[state]\nbackend = \"redis\"\n[state.redis]\nurl = \"http://x\"",
                "state.redis.url: must be a redis:// or rediss:// URL, got \"http://x\"",
            ),
            (
                "[state]\nbackend = \"redis\"\n[state.redis]\nurl = \"redis://x\"\ncluster_nodes = [\"redis://y\"]",
                "state.redis.cluster_nodes: set either state.redis.url (a standalone server) or cluster_nodes (a Redis Cluster), not both",
            ),
            (
                "[state]\nbackend = \"redis\"\n[state.redis]\ncluster_nodes = [\"redis://y\", \"tcp://z\"]",
                "state.redis.cluster_nodes[1]: must be a redis:// or rediss:// URL, got \"tcp://z\"",
            ),
            (
                "[state]\nbackend = \"redis\"\n[state.redis]\nkey_prefix = \"a{b}\"",
                "state.redis.key_prefix: \"a{b}\" is not a valid prefix (1-64 of A-Z a-z 0-9 _ - . :)",
            ),
            (
                "[state]\nbackend = \"redis\"\n[state.redis]\ntimeout = \"2m\"",
                "state.redis.timeout: must be between 1ms and 60s, got 2m",
            ),
            (
                "[state]\nbackend = \"redis\"\n[state.redis]\non_unavailable = \"panic\"",
                "state.redis.on_unavailable: must be one of \"reject\", \"local\", got \"panic\"",
            ),
            (
                "[state]\nbackend = \"redis\"\n[state.redis]\ntls_cert = \"c.pem\"",
                "state.redis.tls_cert: state.redis.tls_cert and tls_key go together (a client certificate and its key)",
            ),
            (
                "[state]\nbackend = \"redis\"\nsnapshot_path = \"/tmp/s\"",
                "state.snapshot_path: is for the memory backend: with state.backend = \"redis\" the state lives in Redis",
            ),
            (
                "[state]\nbackend = \"redis\"\n[state.redis]\nurl = \"redis://x\"\nprefix = \"a\"",
                "state.redis.prefix: unknown key",
            ),
        ] {
            assert_eq!(err(text), want, "{text}");
        }
    }

    #[test]
    fn redis_hosts_and_redaction() {
        assert_eq!(
            redis_host("redis://u:p@cache.local:6379/0"),
            "cache.local:6379"
        );
        assert_eq!(redis_host("rediss://10.0.0.7:6380"), "10.0.0.7:6380");
        assert_eq!(redacted("redis://u:p@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redacted("redis://:p@h:1"), "redis://:***@h:1");
        assert_eq!(redacted("redis://h:1"), "redis://h:1");
    }
}
