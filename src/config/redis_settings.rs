//! `[state.redis]`: where a fleet keeps its state.

use std::time::Duration;

use super::{Problem, problem};
use crate::engine::Human;

/// `[state.redis]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisSettings {
    /// A standalone server: `redis://[user:password@]host:port/db`, or
    /// `rediss://` for TLS. Empty when `cluster_nodes` are given.
    pub url: String,
    /// Seed nodes of a Redis Cluster (each a URL as above).
    pub cluster_nodes: Vec<String>,
    /// A primary found through Redis Sentinel (instead of `url`).
    pub sentinel: Option<Box<SentinelSettings>>,
    /// Fleets sharing one Redis keep apart by prefix.
    pub key_prefix: String,
    /// Longest wait for one backend call.
    pub timeout: Duration,
    /// Replicas each commit must reach (`WAIT`) before it is answered.
    pub replicas_ack: u32,
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
            sentinel: None,
            key_prefix: DEFAULT_KEY_PREFIX.to_string(),
            timeout: DEFAULT_REDIS_TIMEOUT,
            replicas_ack: 0,
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
        if let Some(s) = &self.sentinel {
            let nodes: Vec<String> = s.sentinels.iter().map(|u| redis_host(u)).collect();
            format!("redis sentinel {:?} via {}", s.master, nodes.join(","))
        } else if self.cluster_nodes.is_empty() {
            format!("redis {}", redacted(&self.url))
        } else {
            let nodes: Vec<String> = self.cluster_nodes.iter().map(|u| redacted(u)).collect();
            format!("redis cluster {}", nodes.join(","))
        }
    }
}

/// `sentinels` and `sentinel_master`: the primary of `master`, as the
/// Sentinels say, followed across failovers.
#[derive(Clone, PartialEq, Eq)]
pub struct SentinelSettings {
    /// The Sentinels' URLs: their own user and password, `rediss://` for TLS
    /// (to the Sentinels and to the primary).
    pub sentinels: Vec<String>,
    /// The name the Sentinels monitor the primary under.
    pub master: String,
    /// The primary's own user, password and database.
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: i64,
}

impl std::fmt::Debug for SentinelSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sentinels: Vec<String> = self.sentinels.iter().map(|u| redacted(u)).collect();
        f.debug_struct("SentinelSettings")
            .field("sentinels", &sentinels)
            .field("master", &self.master)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("db", &self.db)
            .finish()
    }
}

/// Checks `[state.redis]`'s Sentinel keys: the Sentinels' URLs (one user
/// and password for all of them, one scheme), a master name, the primary's
/// database.
pub fn sentinel_settings(
    sentinels: &[String],
    master: Option<&str>,
    username: Option<String>,
    password: Option<String>,
    db: Option<i64>,
) -> Result<SentinelSettings, Problem> {
    let mut first: Option<redis::ConnectionInfo> = None;
    for (i, u) in sentinels.iter().enumerate() {
        let key = format!("state.redis.sentinels[{i}]");
        redis_url(&key, u)?;
        let info = redis::IntoConnectionInfo::into_connection_info(u.trim())
            .map_err(|e| problem(&key, format!("{}: {e}", redacted(u))))?;
        if info.redis_settings().db() != 0 {
            return Err(problem(
                &key,
                format!(
                    "{}: a Sentinel has no database; the primary's is state.redis.db",
                    redacted(u)
                ),
            ));
        }
        if let Some(f) = &first {
            let tls = |i: &redis::ConnectionInfo| {
                matches!(i.addr(), redis::ConnectionAddr::TcpTls { .. })
            };
            let (a, b) = (f.redis_settings(), info.redis_settings());
            if a.username() != b.username() || a.password() != b.password() || tls(f) != tls(&info)
            {
                return Err(problem(
                    &key,
                    "every Sentinel URL must have the same scheme, user and password as the first",
                ));
            }
        } else {
            first = Some(info);
        }
    }
    if first.is_none() {
        return Err(problem(
            "state.redis.sentinels",
            "must list at least one Sentinel URL",
        ));
    }
    let master = master.map(str::trim).unwrap_or_default();
    let ok = !master.is_empty()
        && master.len() <= 128
        && master
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        return Err(problem(
            "state.redis.sentinel_master",
            format!(
                "the name the Sentinels monitor the primary under is needed with sentinels (1-128 of A-Z a-z 0-9 _ - .), got {master:?}"
            ),
        ));
    }
    let db = db.unwrap_or(0);
    if !(0..=1_000_000).contains(&db) {
        return Err(problem(
            "state.redis.db",
            format!("must be between 0 and 1000000, got {db}"),
        ));
    }
    Ok(SentinelSettings {
        sentinels: sentinels.iter().map(|u| u.trim().to_string()).collect(),
        master: master.to_string(),
        username: username.filter(|u| !u.is_empty()),
        password: password.filter(|p| !p.is_empty()),
        db,
    })
}

/// A Redis URL with its password (if any) replaced by `***`.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // Not a URL; a password may still be in it (`user:pw@host`).
        return match url.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => url.to_string(),
        };
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
        r.on_unavailable = super::validate::one_of(
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
