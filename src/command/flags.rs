//! The sidecar's flags and variables merged over its configuration file
//! (flag beats variable beats file); errors name the flag.

use super::args::ServeArgs;
use crate::config::Config;

/// `--tls-*` flags over `[server] tls_*`, checked together; errors name the flags.
pub(super) fn tls_flags(args: &ServeArgs, config: &mut Config) -> Result<(), String> {
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
    config.tls = crate::config::tls_settings(cert.as_deref(), key.as_deref(), ca.as_deref())
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
pub(super) fn backend_flags(args: &ServeArgs, config: &mut Config) -> Result<(), String> {
    use crate::config::{BackendSettings, RedisSettings, redis_settings};
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
            if args
                .redis_password
                .as_deref()
                .is_some_and(|p| !p.is_empty())
            {
                return Err("--redis-password needs [state] backend = \"redis\" with [state.redis] sentinels".into());
            }
            return Ok(());
        }
    };
    let flagged = |e: crate::config::Problem| {
        e.to_string()
            .replace("state.redis.cluster_nodes", "--redis-cluster-nodes")
            .replace("state.redis.url", "--redis-url")
    };
    if let Some(u) = url {
        let r = redis_settings(Some(u), &[], None, None, None).map_err(flagged)?;
        redis.url = r.url;
        redis.cluster_nodes.clear();
        redis.sentinel = None;
    } else if !nodes.is_empty() {
        let r = redis_settings(None, &nodes, None, None, None).map_err(flagged)?;
        redis.url = String::new();
        redis.cluster_nodes = r.cluster_nodes;
        redis.sentinel = None;
    }
    if let Some(p) = args.redis_password.as_deref().filter(|p| !p.is_empty()) {
        match &mut redis.sentinel {
            Some(s) => s.password = Some(p.to_string()),
            None => return Err("--redis-password is the password of a primary found through Sentinel ([state.redis] sentinels); with a URL, the password goes in the URL".into()),
        }
    }
    if config.snapshot.is_some() {
        return Err("--snapshot-path / [state] snapshot_path is for the memory backend: with the redis backend the state lives in Redis".into());
    }
    config.backend = BackendSettings::Redis(redis);
    Ok(())
}

pub(super) fn snapshot_interval(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d < std::time::Duration::from_millis(100) {
        return Err("must be at least 100ms".into());
    }
    Ok(d)
}

/// The configuration: the file (or the built-in defaults), then the flags
/// and variables over it. A reload reads it the same way.
pub(super) fn config_of(args: &ServeArgs) -> Result<Config, String> {
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
            .map_or(crate::config::DEFAULT_SNAPSHOT_INTERVAL, |s| s.interval);
        config.snapshot = Some(crate::config::SnapshotSettings { path, interval });
    }
    if let (Some(s), Some(interval)) = (config.snapshot.as_mut(), args.snapshot_interval) {
        s.interval = interval;
    }
    backend_flags(args, &mut config)?;
    Ok(config)
}
