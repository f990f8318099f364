//! Validation: the raw configuration to `Config`, every key checked, every
//! problem named by its key.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use super::engine_settings::{breaker, budget, policy, rule};
use super::raw::{Dur, RawConfig, RawRedis};
use super::*;
use super::{BatchLimits, Limits};
use crate::engine::classify::Rule;
use crate::engine::decide::DEFAULT_PAUSE_RECHECK;
use crate::engine::policy::{Policy, PolicySet};
use crate::engine::{Classifier, Human};

fn int_in(key: &str, v: i64, lo: i64, hi: i64) -> Result<i64, Problem> {
    if v < lo {
        Err(problem(key, format!("must be >= {lo}, got {v}")))
    } else if v > hi {
        Err(problem(key, format!("must be <= {hi}, got {v}")))
    } else {
        Ok(v)
    }
}

pub(super) fn to_u32(key: &str, v: i64, lo: i64, hi: i64) -> Result<u32, Problem> {
    let v = int_in(key, v, lo, hi)?;
    u32::try_from(v).map_err(|_| problem(key, format!("out of range: {v}")))
}

fn to_usize(key: &str, v: i64, lo: i64, hi: i64) -> Result<usize, Problem> {
    let v = int_in(key, v, lo, hi)?;
    usize::try_from(v).map_err(|_| problem(key, format!("out of range: {v}")))
}

pub(super) fn positive(key: &str, d: Dur) -> Result<Duration, Problem> {
    if d.0.is_zero() {
        Err(problem(key, "must be greater than 0s"))
    } else {
        Ok(d.0)
    }
}

pub(super) fn one_of<T: Copy>(key: &str, got: &str, choices: &[(&str, T)]) -> Result<T, Problem> {
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
pub(super) fn check_name(key: &str, name: &str) -> Result<(), Problem> {
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

/// Collects the problems of a configuration; each check that fails leaves
/// its default in place, so that every other key is still checked.
#[derive(Default)]
pub(super) struct Problems(pub Vec<Problem>);

impl Problems {
    fn ok<T>(&mut self, r: Result<T, Problem>) -> Option<T> {
        r.map_err(|e| self.0.push(e)).ok()
    }
}

/// The validated configuration, or every problem in it.
/// `broken`: policies written but left out for a problem already reported.
pub(super) fn validate(
    raw: RawConfig,
    mut broken: BTreeSet<String>,
) -> Result<Config, Vec<Problem>> {
    let mut p = Problems::default();
    let srv = &raw.server;
    let addr = |p: &mut Problems, key: &str, v: Option<&str>, default: &str| {
        p.ok(parse_addr(key, v.unwrap_or(default)))
            .or_else(|| parse_addr(key, default).ok())
    };
    let grpc_addr = addr(
        &mut p,
        "server.grpc_addr",
        srv.grpc_addr.as_deref(),
        DEFAULT_GRPC_ADDR,
    );
    let metrics_addr = addr(
        &mut p,
        "server.metrics_addr",
        srv.metrics_addr.as_deref(),
        DEFAULT_METRICS_ADDR,
    );
    let health_addr = srv
        .health_addr
        .as_deref()
        .and_then(|a| p.ok(parse_addr("server.health_addr", a)));
    let tls = p
        .ok(tls_settings(
            srv.tls_cert.as_deref(),
            srv.tls_key.as_deref(),
            srv.tls_client_ca.as_deref(),
        ))
        .flatten();
    let shutdown_grace = srv.shutdown_grace.map_or(DEFAULT_SHUTDOWN_GRACE, |d| d.0);
    let max_in_flight = srv
        .max_in_flight
        .and_then(|v| p.ok(to_usize("server.max_in_flight", v, 1, 1_000_000)))
        .unwrap_or(DEFAULT_MAX_IN_FLIGHT);

    let mut limits = Limits::default();
    let st = raw.state;
    if let Some(v) = st
        .max_jobs
        .and_then(|v| p.ok(to_usize("state.max_jobs", v, 1, 1_000_000_000)))
    {
        limits.max_jobs = v;
    }
    if let Some(d) = st
        .idle_ttl
        .and_then(|d| p.ok(positive("state.idle_ttl", d)))
    {
        limits.idle_ttl = d;
    }
    if let Some(v) = st
        .max_dead_jobs
        .and_then(|v| p.ok(to_usize("state.max_dead_jobs", v, 0, 1_000_000_000)))
    {
        limits.max_dead_jobs = v;
    }
    if let Some(d) = st
        .dead_ttl
        .and_then(|d| p.ok(positive("state.dead_ttl", d)))
    {
        limits.dead_ttl = d;
    }
    let mut batch_limits = BatchLimits::default();
    if let Some(v) = st
        .max_batches
        .and_then(|v| p.ok(to_usize("state.max_batches", v, 1, 1_000_000)))
    {
        batch_limits.max_batches = v;
    }
    if let Some(d) = st
        .batch_ttl
        .and_then(|d| p.ok(positive("state.batch_ttl", d)))
    {
        batch_limits.batch_ttl = d;
    }

    let delivery = delivery(&mut p, raw.delivery);

    let snapshot_interval = match st.snapshot_interval {
        Some(d) if d.0 < Duration::from_millis(100) => {
            p.0.push(problem(
                "state.snapshot_interval",
                format!("must be at least 100ms, got {}", Human(d.0)),
            ));
            DEFAULT_SNAPSHOT_INTERVAL
        }
        Some(d) => d.0,
        None => DEFAULT_SNAPSHOT_INTERVAL,
    };
    let snapshot = match st.snapshot_path {
        Some(path) if path.trim().is_empty() => {
            p.0.push(problem("state.snapshot_path", "must not be empty"));
            None
        }
        Some(path) => Some(SnapshotSettings {
            path: path.into(),
            interval: snapshot_interval,
        }),
        None => None,
    };

    let backend = match st.backend.as_deref().unwrap_or("memory") {
        "memory" => BackendSettings::Memory,
        "redis" => BackendSettings::Redis(
            p.ok(redis_backend(st.redis.unwrap_or_default()))
                .unwrap_or_default(),
        ),
        other => {
            p.0.push(problem(
                "state.backend",
                format!("must be one of \"memory\", \"redis\", got {other:?}"),
            ));
            BackendSettings::Memory
        }
    };
    if let (BackendSettings::Redis(_), Some(_)) = (&backend, &snapshot) {
        p.0.push(problem(
            "state.snapshot_path",
            "is for the memory backend: with state.backend = \"redis\" the state lives in Redis",
        ));
    }

    let mut policies = Vec::new();
    for (name, raw_policy) in raw.policies {
        let key = format!("policies.{name}");
        if p.ok(check_name(&key, &name)).is_some()
            && let Some(policy) = p.ok(policy(&name, raw_policy))
        {
            policies.push(policy);
        } else {
            broken.insert(name);
        }
    }
    let known: Vec<String> = {
        let mut k: Vec<String> = Policy::builtins()
            .iter()
            .map(|p| p.name.to_string())
            .collect();
        k.extend(policies.iter().map(|p| p.name.to_string()));
        // A policy with a problem of its own is still one the file defines.
        k.extend(broken.iter().cloned());
        k.sort();
        k.dedup();
        k
    };
    // Ok(false): the policy is written but has a problem of its own, already
    // reported; whatever names it is left out without a second problem.
    let must_exist = |key: String, name: &str| {
        if broken.contains(name) {
            Ok(false)
        } else if known.iter().any(|k| k == name) {
            Ok(true)
        } else {
            let hint = super::raw::closest(name, known.iter().map(String::as_str))
                .map(|k| format!("did you mean {k:?}? "))
                .unwrap_or_default();
            Err(problem(
                key,
                format!(
                    "unknown policy {name:?} ({hint}known: {})",
                    known.join(", ")
                ),
            ))
        }
    };

    for policy in &mut policies {
        let Some(q) = policy.shadow.clone() else {
            continue;
        };
        let key = format!("policies.{}.shadow", policy.name);
        if *q == *policy.name {
            p.0.push(problem(key, "must name another policy"));
            policy.shadow = None;
        } else if p.ok(must_exist(key, &q)) != Some(true) {
            policy.shadow = None;
        }
    }

    let mut job_types = Vec::new();
    for (t, policy_name) in raw.job_types {
        if p.ok(must_exist(format!("job_types.{t}"), &policy_name)) == Some(true) {
            job_types.push((t, policy_name));
        }
    }

    let bands = raw.priority_bands.map(|list| {
        let mut bands = Vec::new();
        for (i, b) in list.into_iter().enumerate() {
            let key = |k: &str| format!("priority_bands[{i}].{k}");
            if b.min.is_none() && b.max.is_none() {
                p.0.push(problem(
                    format!("priority_bands[{i}]"),
                    "needs min, max or both",
                ));
                continue;
            }
            let min = p.ok(to_u32(&key("min"), b.min.unwrap_or(0), 0, 100));
            let max = p.ok(to_u32(&key("max"), b.max.unwrap_or(100), 0, 100));
            let exists = p.ok(must_exist(key("policy"), &b.policy));
            let (Some(min), Some(max), Some(true)) = (min, max, exists) else {
                continue;
            };
            if min > max {
                p.0.push(problem(
                    key("min"),
                    format!("must be <= max ({max}), got {min}"),
                ));
                continue;
            }
            bands.push((min, max, b.policy));
        }
        bands
    });

    let policies = p
        .ok(PolicySet::new(policies, &job_types, bands.as_deref())
            .map_err(|e| problem("policies", e.to_string())))
        .unwrap_or_default();

    let rules: Vec<Rule> = raw
        .rules
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| p.ok(rule(i, r)))
        .collect();
    // The rule set as a whole must compile too (it has a size limit).
    p.ok(Classifier::new(rules.clone())
        .map_err(|e| problem("rules", format!("the rules do not compile together: {e}"))));

    let pause_recheck = p
        .ok(match raw.pause_recheck.map(|d| d.0) {
            None => Ok(DEFAULT_PAUSE_RECHECK),
            Some(d) if d < Duration::from_secs(1) || d > Duration::from_secs(24 * 3600) => {
                Err(problem("pause_recheck", "must be between 1s and 24h"))
            }
            Some(d) => Ok(d),
        })
        .unwrap_or(DEFAULT_PAUSE_RECHECK);
    let budgets = per_target(&mut p, "budgets", raw.budgets, budget);
    let breakers = per_target(&mut p, "breakers", raw.breakers, breaker);

    match (grpc_addr, metrics_addr) {
        (Some(grpc_addr), Some(metrics_addr)) if p.0.is_empty() => Ok(Config {
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
            breakers,
            pause_recheck,
            delivery,
        }),
        _ => Err(p.0),
    }
}

/// `[delivery]`: every bound within what the edge and the records can hold.
fn delivery(p: &mut Problems, raw: super::raw::RawDelivery) -> DeliverySettings {
    let mut d = DeliverySettings::default();
    if let Some(on) = raw.enabled {
        d.enabled = on;
    }
    if let Some(v) = raw.max_payload_bytes.and_then(|v| {
        p.ok(to_usize(
            "delivery.max_payload_bytes",
            v,
            1,
            MAX_PAYLOAD_LIMIT as i64,
        ))
    }) {
        d.max_payload_bytes = v;
    }
    if let Some(v) = raw
        .max_parked_bytes
        .and_then(|v| p.ok(int_in("delivery.max_parked_bytes", v, 1, 1 << 40)))
    {
        d.max_parked_bytes = u64::try_from(v).unwrap_or(u64::MAX);
    }
    if let Some(lease) = raw.default_lease {
        if lease.0 < Duration::from_secs(1) || lease.0 > MAX_LEASE {
            p.0.push(problem(
                "delivery.default_lease",
                format!(
                    "must be between 1s and {}, got {}",
                    Human(MAX_LEASE),
                    Human(lease.0)
                ),
            ));
        } else {
            d.default_lease = lease.0;
        }
    }
    if let Some(v) = raw
        .max_deliveries
        .and_then(|v| p.ok(int_in("delivery.max_deliveries", v, 1, 100)))
    {
        d.max_deliveries = u32::try_from(v).unwrap_or(5);
    }
    d
}

/// `[<table>.<target>]` tables (budgets, breakers), each validated by `check`;
/// one that has a problem is left out.
fn per_target<R, C>(
    p: &mut Problems,
    table: &str,
    raw: std::collections::BTreeMap<String, R>,
    check: fn(&str, R) -> Result<C, Problem>,
) -> PerTarget<C> {
    let mut out = PerTarget::default();
    for (target, r) in raw {
        let key = format!("{table}.{target}");
        if p.ok(check_name(&key, &target)).is_some()
            && let Some(c) = p.ok(check(&key, r))
        {
            out.insert(target, c);
        }
    }
    out
}

/// `[state.redis]`, with `backend = "redis"`.
fn redis_backend(r: RawRedis) -> Result<RedisSettings, Problem> {
    let mut settings = redis_settings(
        r.url.as_deref(),
        &r.cluster_nodes,
        r.key_prefix.as_deref(),
        r.timeout.map(|d| d.0),
        r.on_unavailable.as_deref(),
    )?;
    if let Some(n) = r.replicas_ack {
        settings.replicas_ack = u32::try_from(n).ok().filter(|n| *n <= 16).ok_or_else(|| {
            problem(
                "state.redis.replicas_ack",
                format!("must be between 0 and 16, got {n}"),
            )
        })?;
    }
    let primary_keys = [
        ("sentinel_master", r.sentinel_master.is_some()),
        ("username", r.username.is_some()),
        ("password", r.password.is_some()),
        ("db", r.db.is_some()),
    ];
    if r.sentinels.is_empty() {
        if let Some((key, _)) = primary_keys.iter().find(|(_, set)| *set) {
            return Err(problem(
                format!("state.redis.{key}"),
                "is for a primary found through Sentinel (with state.redis.sentinels); with url, the user, password and database go in the URL",
            ));
        }
    } else {
        if r.url.is_some() || !r.cluster_nodes.is_empty() {
            return Err(problem(
                "state.redis.sentinels",
                "set one of state.redis.url (a standalone server), cluster_nodes (a Redis Cluster) or sentinels (a primary found through Sentinel)",
            ));
        }
        settings.url = String::new();
        settings.sentinel = Some(Box::new(sentinel_settings(
            &r.sentinels,
            r.sentinel_master.as_deref(),
            r.username,
            r.password,
            r.db,
        )?));
    }
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
    Ok(settings)
}
