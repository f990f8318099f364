//! The configuration as written: TOML parsed table by table into plain
//! structs, collecting every problem (a type error in one policy does not
//! hide an unknown key in another), each located at its line.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::{Problem, problem};

/// What `parse` made of a file.
pub(super) struct Parsed {
    pub raw: RawConfig,
    /// Policies written but left out for a problem: naming one is not an
    /// unknown-policy problem too.
    pub broken_policies: BTreeSet<String>,
    pub problems: Vec<Problem>,
}

#[derive(Default)]
pub(super) struct RawConfig {
    pub server: RawServer,
    pub state: RawState,
    pub policies: BTreeMap<String, RawPolicy>,
    pub job_types: BTreeMap<String, String>,
    pub priority_bands: Option<Vec<RawBand>>,
    pub rules: Vec<RawRule>,
    pub budgets: BTreeMap<String, RawBudget>,
    pub breakers: BTreeMap<String, RawBreaker>,
    pub pause_recheck: Option<Dur>,
    pub delivery: RawDelivery,
}

#[derive(Deserialize, Default)]
pub(super) struct RawDelivery {
    pub enabled: Option<bool>,
    pub max_payload_bytes: Option<i64>,
    pub max_parked_bytes: Option<i64>,
    pub default_lease: Option<Dur>,
    pub max_deliveries: Option<i64>,
}

#[derive(Deserialize)]
pub(super) struct RawBreaker {
    pub failure_ratio: Option<f64>,
    pub min_calls: Option<i64>,
    pub window: Option<Dur>,
    pub open_for: Option<Dur>,
    pub half_open_probes: Option<i64>,
}

#[derive(Deserialize)]
pub(super) struct RawBudget {
    pub max_tokens: Option<i64>,
    pub token_ratio: Option<f64>,
    pub max_retrying: Option<i64>,
    pub on_exhausted: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct RawServer {
    pub grpc_addr: Option<String>,
    pub metrics_addr: Option<String>,
    pub health_addr: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub tls_client_ca: Option<String>,
    pub shutdown_grace: Option<Dur>,
    pub max_in_flight: Option<i64>,
}

#[derive(Deserialize, Default)]
pub(super) struct RawState {
    pub max_jobs: Option<i64>,
    pub idle_ttl: Option<Dur>,
    pub max_dead_jobs: Option<i64>,
    pub dead_ttl: Option<Dur>,
    pub max_batches: Option<i64>,
    pub batch_ttl: Option<Dur>,
    pub snapshot_path: Option<String>,
    pub snapshot_interval: Option<Dur>,
    pub backend: Option<String>,
    pub redis: Option<RawRedis>,
}

#[derive(Deserialize, Default)]
pub(super) struct RawRedis {
    pub url: Option<String>,
    #[serde(default)]
    pub cluster_nodes: Vec<String>,
    #[serde(default)]
    pub sentinels: Vec<String>,
    pub sentinel_master: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: Option<i64>,
    pub key_prefix: Option<String>,
    pub timeout: Option<Dur>,
    pub replicas_ack: Option<i64>,
    pub on_unavailable: Option<String>,
    pub tls_ca: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct RawPolicy {
    pub max_retries: Option<Count>,
    pub max_attempts: Option<Count>,
    pub backoff: Option<RawBackoff>,
    pub jitter: Option<RawJitter>,
    pub max_delay: Option<Dur>,
    pub max_retry_duration: Option<Dur>,
    pub on_unknown: Option<String>,
    pub retry_after_hint: Option<String>,
    pub max_retry_after_hint: Option<Dur>,
    #[serde(default)]
    pub category_limits: BTreeMap<String, Count>,
    #[serde(default)]
    pub categories: BTreeMap<String, RawCategory>,
    pub shadow: Option<String>,
}

/// `[policies.P.categories.C]`.
#[derive(Deserialize)]
pub(super) struct RawCategory {
    pub max_retries: Option<Count>,
    pub backoff: Option<RawBackoff>,
    pub jitter: Option<RawJitter>,
    pub max_delay: Option<Dur>,
}

#[derive(Deserialize)]
pub(super) struct RawBackoff {
    pub kind: String,
    pub base: Option<Dur>,
    pub multiplier: Option<f64>,
    pub max_doublings: Option<i64>,
    pub delays: Option<Vec<Dur>>,
    pub delay: Option<Dur>,
    pub step: Option<Dur>,
    pub exponent: Option<f64>,
    pub offset: Option<Dur>,
}

/// A count written as a number or as a word (`"unlimited"`).
#[derive(Clone, Debug)]
pub(super) enum Count {
    Number(i64),
    Word(String),
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number or \"unlimited\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                Ok(Count::Number(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count::Number(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Count, E> {
                Ok(Count::Word(s.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
pub(super) struct RawJitter {
    pub kind: String,
    pub fraction: Option<f64>,
}

#[derive(Deserialize)]
pub(super) struct RawBand {
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub policy: String,
}

#[derive(Deserialize)]
pub(super) struct RawRule {
    pub category: String,
    pub class: String,
    #[serde(default)]
    pub types: Vec<String>,
    #[serde(default)]
    pub type_contains: Vec<String>,
    #[serde(default)]
    pub message_regex: Vec<String>,
    #[serde(default)]
    pub http_status: Vec<toml::Value>,
    #[serde(default)]
    pub grpc_codes: Vec<toml::Value>,
}

/// A duration written as `"30s"`, `"5m"`, `"1h30m"`, `"7d"`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Dur(pub Duration);

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

/// The keys each table accepts: for "did you mean" (a test checks that each
/// is accepted).
pub(super) const TOP_KEYS: &[&str] = &[
    "server",
    "state",
    "policies",
    "job_types",
    "priority_bands",
    "rules",
    "budgets",
    "breakers",
    "pause_recheck",
    "delivery",
];
pub(super) const DELIVERY_KEYS: &[&str] = &[
    "enabled",
    "max_payload_bytes",
    "max_parked_bytes",
    "default_lease",
    "max_deliveries",
];
pub(super) const SERVER_KEYS: &[&str] = &[
    "grpc_addr",
    "metrics_addr",
    "health_addr",
    "tls_cert",
    "tls_key",
    "tls_client_ca",
    "shutdown_grace",
    "max_in_flight",
];
pub(super) const STATE_KEYS: &[&str] = &[
    "max_jobs",
    "idle_ttl",
    "max_dead_jobs",
    "dead_ttl",
    "max_batches",
    "batch_ttl",
    "snapshot_path",
    "snapshot_interval",
    "backend",
    "redis",
];
pub(super) const REDIS_KEYS: &[&str] = &[
    "url",
    "cluster_nodes",
    "sentinels",
    "sentinel_master",
    "username",
    "password",
    "db",
    "key_prefix",
    "timeout",
    "replicas_ack",
    "on_unavailable",
    "tls_ca",
    "tls_cert",
    "tls_key",
];
pub(super) const POLICY_KEYS: &[&str] = &[
    "max_retries",
    "max_attempts",
    "backoff",
    "jitter",
    "max_delay",
    "max_retry_duration",
    "on_unknown",
    "retry_after_hint",
    "max_retry_after_hint",
    "category_limits",
    "categories",
    "shadow",
];
pub(super) const CATEGORY_KEYS: &[&str] = &["max_retries", "backoff", "jitter", "max_delay"];
pub(super) const BACKOFF_KEYS: &[&str] = &[
    "kind",
    "base",
    "multiplier",
    "max_doublings",
    "delays",
    "delay",
    "step",
    "exponent",
    "offset",
];
pub(super) const JITTER_KEYS: &[&str] = &["kind", "fraction"];
pub(super) const BAND_KEYS: &[&str] = &["min", "max", "policy"];
pub(super) const RULE_KEYS: &[&str] = &[
    "category",
    "class",
    "types",
    "type_contains",
    "message_regex",
    "http_status",
    "grpc_codes",
];
pub(super) const BUDGET_KEYS: &[&str] =
    &["max_tokens", "token_ratio", "max_retrying", "on_exhausted"];
pub(super) const BREAKER_KEYS: &[&str] = &[
    "failure_ratio",
    "min_calls",
    "window",
    "open_for",
    "half_open_probes",
];

/// The keys that may follow `key`'s table (for "did you mean").
fn known_after(parent: &str) -> &'static [&'static str] {
    let last = |s: &str| s.rsplit('.').next().unwrap_or(s).to_string();
    let segments: Vec<&str> = parent.split('.').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        [] => TOP_KEYS,
        ["server"] => SERVER_KEYS,
        ["state"] => STATE_KEYS,
        ["state", "redis"] => REDIS_KEYS,
        ["delivery"] => DELIVERY_KEYS,
        ["policies", _] => POLICY_KEYS,
        ["policies", _, "backoff"] | ["policies", _, "categories", _, "backoff"] => BACKOFF_KEYS,
        ["policies", _, "jitter"] | ["policies", _, "categories", _, "jitter"] => JITTER_KEYS,
        ["policies", _, "categories", _] => CATEGORY_KEYS,
        ["budgets", _] => BUDGET_KEYS,
        ["breakers", _] => BREAKER_KEYS,
        [one] if last(one).starts_with("priority_bands[") => BAND_KEYS,
        [one] if last(one).starts_with("rules[") => RULE_KEYS,
        _ => &[],
    }
}

/// The known key closest to `key`'s last segment, if one is close.
pub(super) fn did_you_mean(key: &str) -> Option<&'static str> {
    let (parent, name) = key.rsplit_once('.').unwrap_or(("", key));
    closest(
        &name.to_lowercase().replace('-', "_"),
        known_after(parent).iter().copied(),
    )
}

/// The name in `known` closest to `name`, if one is close: a few edits
/// away (about one in three letters: `max_retry` for `max_retries`), or
/// at least half of it written from its start (`max_dead`).
pub(super) fn closest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .filter_map(|k| {
            let d = strsim::damerau_levenshtein(name, k);
            let near = d <= 2.max(k.len() / 3) && d < k.len();
            let (short, long) = (name.len().min(k.len()), name.len().max(k.len()));
            let prefix =
                (k.starts_with(name) || name.starts_with(k)) && short >= 4 && 2 * short >= long;
            // Of equals, more written alike from the start wins a tie:
            // `max_retry` is `max_retries`, not `max_delay`.
            let same = name
                .bytes()
                .zip(k.bytes())
                .take_while(|(a, b)| a == b)
                .count();
            (near || prefix).then_some((d, std::cmp::Reverse(same), k))
        })
        .min()
        .map(|(_, _, k)| k)
}

fn unknown(key: String) -> Problem {
    let message = match did_you_mean(&key) {
        Some(k) => format!("unknown key (did you mean `{k}`?)"),
        None => "unknown key".to_string(),
    };
    problem(key, message)
}

/// `rules[0].typo` from serde_ignored's path, under `base`.
fn key_of_ignored(base: &str, p: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path as P;
    let join = |a: String, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            format!("{a}.{b}")
        }
    };
    match p {
        P::Root => base.to_string(),
        P::Seq { parent, index } => format!("{}[{index}]", key_of_ignored(base, parent)),
        P::Map { parent, key } => join(key_of_ignored(base, parent), key),
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            key_of_ignored(base, parent)
        }
    }
}

/// Deserializes one value found at `key`; a type error or an unknown key
/// inside it is a problem of `problems`, named by its full key. Every type
/// error is reported, not only the first: the offending key is taken out
/// and the rest tried again, and the section counts as broken (`None`).
fn section<T: for<'de> Deserialize<'de>>(
    text: &str,
    key: &str,
    mut value: toml::Value,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let mut removed: Vec<String> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    // Each round takes one key out, so a section has at most as many
    // rounds as it has keys; the bound only guards against a bug.
    for _ in 0..256 {
        let mut ignored = Vec::new();
        let result: Result<T, _> = serde_path_to_error::deserialize(
            serde_ignored::Deserializer::new(value.clone(), &mut |p: serde_ignored::Path<'_>| {
                ignored.push(key_of_ignored(key, &p))
            }),
        );
        // A type error stops the walk, so keys after it are first seen in a
        // later round; each is reported once.
        for k in ignored {
            if !seen.contains(&k) {
                seen.push(k.clone());
                problems.push(unknown(k));
            }
        }
        let e = match result {
            Ok(v) => return removed.is_empty().then_some(v),
            Err(e) => e,
        };
        let segments: Vec<serde_path_to_error::Segment> = e.path().iter().cloned().collect();
        let inner = e.path().to_string();
        let full = if inner == "." {
            key.to_string()
        } else if inner.starts_with('[') {
            format!("{key}{inner}")
        } else {
            format!("{key}.{inner}")
        };
        let message = e.inner().message().trim_end().to_string();
        // A field required by a table whose bad key was taken out: that
        // key's problem is the one to report.
        let follows =
            message.starts_with("missing field") && removed.iter().any(|r| r.starts_with(&full));
        if !follows {
            let mut message = message;
            if let Some(line) = line_of(text, &full) {
                message.push_str(&format!(" (line {line})"));
            }
            problems.push(problem(full.clone(), message));
        }
        if follows || !take_out(&mut value, &segments) {
            return None;
        }
        removed.push(full);
    }
    None
}

/// Removes the key at `path` from its table in `value`; false if there is
/// none to remove (the path is the root, an array's element, or leads
/// nowhere).
fn take_out(value: &mut toml::Value, path: &[serde_path_to_error::Segment]) -> bool {
    use serde_path_to_error::Segment;
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut v = value;
    for s in parents {
        let next = match (s, v) {
            (Segment::Map { key }, toml::Value::Table(t)) => t.get_mut(key),
            (Segment::Seq { index }, toml::Value::Array(a)) => a.get_mut(*index),
            _ => None,
        };
        match next {
            Some(n) => v = n,
            None => return false,
        }
    }
    match (last, v) {
        (Segment::Map { key }, toml::Value::Table(t)) => t.remove(key).is_some(),
        // Not an array's element: the ones after it would be misnamed.
        _ => false,
    }
}

/// Whatever parsed, and the problems met: the caller validates the rest so
/// that one run reports every problem.
pub(super) fn parse(text: &str) -> Result<Parsed, Problem> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| Problem::Syntax(located(&e, text)))?;
    let mut out = Parsed {
        raw: RawConfig::default(),
        broken_policies: BTreeSet::new(),
        problems: Vec::new(),
    };
    for (key, value) in table {
        let (raw, p) = (&mut out.raw, &mut out.problems);
        match key.as_str() {
            "server" => raw.server = section(text, "server", value, p).unwrap_or_default(),
            "state" => raw.state = section(text, "state", value, p).unwrap_or_default(),
            "delivery" => {
                raw.delivery = section(text, "delivery", value, p).unwrap_or_default();
            }
            "job_types" => {
                raw.job_types = section(text, "job_types", value, p).unwrap_or_default();
            }
            "pause_recheck" => raw.pause_recheck = section(text, "pause_recheck", value, p),
            "policies" | "budgets" | "breakers" | "rules" | "priority_bands" => {
                parse_collection(text, &key, value, &mut out);
            }
            _ => p.push(unknown(key)),
        }
    }
    Ok(out)
}

/// The tables of `policies`, `budgets` and `breakers`, and the arrays `rules` and
/// `priority_bands`, one element at a time.
fn parse_collection(text: &str, key: &str, value: toml::Value, out: &mut Parsed) {
    let (raw, p, broken) = (&mut out.raw, &mut out.problems, &mut out.broken_policies);
    match (key, value) {
        ("policies", toml::Value::Table(t)) => {
            for (name, v) in t {
                match section(text, &format!("policies.{name}"), v, p) {
                    Some(policy) => drop(raw.policies.insert(name, policy)),
                    None => drop(broken.insert(name)),
                }
            }
        }
        ("budgets", toml::Value::Table(t)) => {
            for (name, v) in t {
                if let Some(budget) = section(text, &format!("budgets.{name}"), v, p) {
                    raw.budgets.insert(name, budget);
                }
            }
        }
        ("breakers", toml::Value::Table(t)) => {
            for (name, v) in t {
                if let Some(breaker) = section(text, &format!("breakers.{name}"), v, p) {
                    raw.breakers.insert(name, breaker);
                }
            }
        }
        ("rules", toml::Value::Array(a)) => {
            for (i, v) in a.into_iter().enumerate() {
                // A rule with a misspelt key is left out: what it would
                // match is anyone's guess, and its other problems would
                // only follow from the typo.
                let before = p.len();
                if let Some(rule) = section(text, &format!("rules[{i}]"), v, p)
                    && p.len() == before
                {
                    raw.rules.push(rule);
                }
            }
        }
        ("priority_bands", toml::Value::Array(a)) => {
            let mut bands = Vec::new();
            for (i, v) in a.into_iter().enumerate() {
                if let Some(band) = section(text, &format!("priority_bands[{i}]"), v, p) {
                    bands.push(band);
                }
            }
            raw.priority_bands = Some(bands);
        }
        (key, v) => {
            let want = if matches!(key, "rules" | "priority_bands") {
                "an array of tables ([[".to_string() + key + "]])"
            } else {
                "a table ([".to_string() + key + ".<name>])"
            };
            p.push(problem(
                key,
                format!("must be {want}, got {}", v.type_str()),
            ));
        }
    }
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

/// The line (1-based) where `key` (`policies.p.backoff.multiplier`,
/// `rules[2].class`) or, failing that, its nearest enclosing table is
/// written: problems are reported in the order of the file.
pub(super) fn line_of(text: &str, key: &str) -> Option<usize> {
    let want = normalize(key);
    let mut best: Option<(usize, usize)> = None;
    let mut table = String::new();
    let mut arrays: BTreeMap<String, usize> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let l = line.trim();
        let seen: Vec<String> =
            if let Some(h) = l.strip_prefix("[[").and_then(|h| h.split("]]").next()) {
                let name = h.trim().to_string();
                let i = arrays
                    .entry(name.clone())
                    .and_modify(|i| *i += 1)
                    .or_insert(0);
                table = format!("{name}[{i}]");
                vec![table.clone()]
            } else if let Some(h) = l.strip_prefix('[').and_then(|h| h.split(']').next()) {
                table = h.trim().replace(['"', '\''], "");
                vec![table.clone()]
            } else if let Some((k, rest)) = l.split_once('=') {
                let k = k.trim().replace(['"', '\''], "");
                let at = if table.is_empty() {
                    k.clone()
                } else {
                    format!("{table}.{k}")
                };
                // Keys of an inline table on the same line.
                let mut keys = vec![at.clone()];
                for part in rest.split([',', '{']) {
                    if let Some((inner, _)) = part.split_once('=') {
                        keys.push(format!("{at}.{}", inner.trim()));
                    }
                }
                keys
            } else {
                continue;
            };
        for k in seen {
            let k = normalize(&k);
            if want == k || want.starts_with(&format!("{k}.")) || want.starts_with(&format!("{k}["))
            {
                let depth = k.len();
                if best.is_none_or(|(d, _)| depth > d) {
                    best = Some((depth, n + 1));
                }
            }
        }
    }
    best.map(|(_, line)| line)
}

fn normalize(key: &str) -> String {
    key.replace(['"', '\''], "").replace(' ', "")
}
