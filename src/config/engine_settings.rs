//! Validation of the tables the engine runs on: policies (with their
//! backoff and jitter), classification rules and retry budgets.

use std::time::Duration;

use super::raw::{Count, Dur, RawBackoff, RawBreaker, RawBudget, RawJitter, RawPolicy, RawRule};
use super::validate::{check_name, one_of, positive, to_u32};
use super::{Problem, problem};
use crate::engine::backoff::{Backoff, Jitter};
use crate::engine::classify::{Rule, grpc_code_from_name};
use crate::engine::policy::{HintMode, OnUnknown, Policy, UNLIMITED};
use crate::engine::{BreakerConfig, BudgetConfig, ErrorClass, OnExhausted};

/// A `[budgets.<target>]` table; missing keys take `[budgets.default]`'s
/// documented values (the defaults of `BudgetConfig`).
pub(super) fn budget(key: &str, b: RawBudget) -> Result<BudgetConfig, Problem> {
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

/// A `[breakers.<target>]` table; missing keys take the documented values
/// (the defaults of `BreakerConfig`).
pub(super) fn breaker(key: &str, b: RawBreaker) -> Result<BreakerConfig, Problem> {
    let k = |f: &str| format!("{key}.{f}");
    let mut c = BreakerConfig::default();
    if let Some(r) = b.failure_ratio {
        if !(r > 0.0 && r <= 1.0) {
            return Err(problem(
                k("failure_ratio"),
                format!("must be > 0 and <= 1, got {r}"),
            ));
        }
        c.failure_ratio = r;
    }
    if let Some(n) = b.min_calls {
        c.min_calls = to_u32(&k("min_calls"), n, 1, 1_000_000)?;
    }
    if let Some(d) = b.window {
        c.window = at_least(&k("window"), d, Duration::from_secs(1))?;
    }
    if let Some(d) = b.open_for {
        c.open_for = at_least(&k("open_for"), d, Duration::from_secs(1))?;
    }
    if let Some(n) = b.half_open_probes {
        c.half_open_probes = to_u32(&k("half_open_probes"), n, 1, 10_000)?;
    }
    Ok(c)
}

fn at_least(key: &str, d: Dur, min: Duration) -> Result<Duration, Problem> {
    if d.0 < min {
        Err(problem(
            key,
            format!("must be at least {}", crate::engine::Human(min)),
        ))
    } else {
        Ok(d.0)
    }
}

pub(super) fn policy(name: &str, raw: RawPolicy) -> Result<Policy, Problem> {
    let key = |k: &str| format!("policies.{name}.{k}");
    let mut p = Policy::named(name);
    match (raw.max_retries, raw.max_attempts) {
        (Some(_), Some(_)) => {
            return Err(problem(
                key("max_attempts"),
                "set max_retries or max_attempts, not both",
            ));
        }
        (Some(r), None) => p.max_retries = count(&key("max_retries"), r, 0)?,
        (None, Some(a)) => {
            p.max_retries = match count(&key("max_attempts"), a, 1)? {
                UNLIMITED => UNLIMITED,
                a => a - 1,
            }
        }
        (None, None) => {}
    }
    if let Some(b) = raw.backoff {
        p.backoff = backoff(&key("backoff"), b)?;
    }
    if let Some(j) = raw.jitter {
        p.jitter = jitter(&key("jitter"), j)?;
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
            &[
                ("honor", HintMode::Honor),
                ("exact", HintMode::Exact),
                ("ignore", HintMode::Ignore),
            ],
        )?;
    }
    if let Some(d) = raw.max_retry_after_hint {
        p.max_retry_after_hint = Some(positive(&key("max_retry_after_hint"), d)?);
    }
    p.shadow = raw.shadow.map(|q| std::sync::Arc::from(q.as_str()));
    for (category, limit) in raw.category_limits {
        let k = key(&format!("category_limits.{category}"));
        check_name(&k, &category)?;
        let o = p.categories.entry(category).or_default();
        o.max_retries = Some(count(&k, limit, 0)?);
    }
    for (category, c) in raw.categories {
        let k = |f: &str| key(&format!("categories.{category}.{f}"));
        check_name(&key(&format!("categories.{category}")), &category)?;
        let o = p.categories.entry(category.clone()).or_default();
        if let Some(r) = c.max_retries {
            if o.max_retries.is_some() {
                return Err(problem(
                    k("max_retries"),
                    format!("also set by category_limits.{category}: set one"),
                ));
            }
            o.max_retries = Some(count(&k("max_retries"), r, 0)?);
        }
        if let Some(b) = c.backoff {
            o.backoff = Some(backoff(&k("backoff"), b)?);
        }
        if let Some(j) = c.jitter {
            o.jitter = Some(jitter(&k("jitter"), j)?);
        }
        if let Some(d) = c.max_delay {
            o.max_delay = Some(positive(&k("max_delay"), d)?);
        }
    }
    Ok(p)
}

/// The largest count written as a number; above it, a count is a typo.
const MAX_COUNT: i64 = 1_000_000_000;

/// `max_retries` / `max_attempts`: `lo..=1e9` or `"unlimited"`.
fn count(key: &str, c: Count, lo: i64) -> Result<u32, Problem> {
    match c {
        Count::Number(n) => to_u32(key, n, lo, MAX_COUNT),
        Count::Word(w) if w == "unlimited" => Ok(UNLIMITED),
        Count::Word(w) => Err(problem(
            key,
            format!("must be a whole number or \"unlimited\", got {w:?}"),
        )),
    }
}

fn jitter(k: &str, j: RawJitter) -> Result<Jitter, Problem> {
    let kind = one_of(
        &format!("{k}.kind"),
        &j.kind,
        &[
            ("none", 0),
            ("full", 1),
            ("equal", 2),
            ("proportional", 3),
            ("decorrelated", 4),
            ("symmetric", 5),
        ],
    )?;
    if !matches!(kind, 3 | 5) && j.fraction.is_some() {
        return Err(problem(
            format!("{k}.fraction"),
            "only used with kind = \"proportional\" or \"symmetric\"",
        ));
    }
    let fraction = |default: f64| {
        let f = j.fraction.unwrap_or(default);
        if f > 0.0 && f <= 1.0 {
            Ok(f)
        } else {
            Err(problem(
                format!("{k}.fraction"),
                format!("must be > 0.0 and <= 1.0, got {f}"),
            ))
        }
    };
    Ok(match kind {
        0 => Jitter::None,
        1 => Jitter::Full,
        2 => Jitter::Equal,
        3 => Jitter::Proportional(fraction(0.25)?),
        5 => Jitter::Symmetric(fraction(0.5)?),
        _ => Jitter::Decorrelated,
    })
}

fn backoff(k: &str, b: RawBackoff) -> Result<Backoff, Problem> {
    let kind = one_of(
        &format!("{k}.kind"),
        &b.kind,
        &[
            ("exponential", 0),
            ("schedule", 1),
            ("constant", 2),
            ("linear", 3),
            ("polynomial", 4),
        ],
    )?;
    let kinds = [
        "exponential",
        "schedule",
        "constant",
        "linear",
        "polynomial",
    ];
    // Which kinds use each key.
    let fields: [(&str, bool, &[usize]); 8] = [
        ("base", b.base.is_some(), &[0, 3]),
        ("multiplier", b.multiplier.is_some(), &[0]),
        ("max_doublings", b.max_doublings.is_some(), &[0]),
        ("delays", b.delays.is_some(), &[1]),
        ("delay", b.delay.is_some(), &[2]),
        ("step", b.step.is_some(), &[3]),
        ("exponent", b.exponent.is_some(), &[4]),
        ("offset", b.offset.is_some(), &[4]),
    ];
    for (field, present, used_by) in fields {
        if present && !used_by.contains(&kind) {
            let with: Vec<String> = used_by.iter().map(|i| format!("{:?}", kinds[*i])).collect();
            return Err(problem(
                format!("{k}.{field}"),
                format!("only used with kind = {}", with.join(" or ")),
            ));
        }
    }
    let base = || match b.base {
        Some(d) => positive(&format!("{k}.base"), d),
        None => Ok(Duration::from_secs(1)),
    };
    match kind {
        0 => {
            let multiplier = b.multiplier.unwrap_or(2.0);
            if !(1.0..=1000.0).contains(&multiplier) {
                return Err(problem(
                    format!("{k}.multiplier"),
                    format!("must be >= 1.0 (and <= 1000), got {multiplier}"),
                ));
            }
            let max_doublings = match b.max_doublings {
                Some(d) => Some(to_u32(&format!("{k}.max_doublings"), d, 0, 1000)?),
                None => None,
            };
            Ok(Backoff::Exponential {
                base: base()?,
                multiplier,
                max_doublings,
            })
        }
        1 => {
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
        2 => {
            let delay = b.delay.ok_or_else(|| {
                problem(format!("{k}.delay"), "required with kind = \"constant\"")
            })?;
            Ok(Backoff::Constant(delay.0))
        }
        3 => {
            let step = b
                .step
                .ok_or_else(|| problem(format!("{k}.step"), "required with kind = \"linear\""))?;
            Ok(Backoff::Linear {
                base: base()?,
                step: step.0,
            })
        }
        _ => {
            let exponent = b.exponent.unwrap_or(4.0);
            if !(exponent > 0.0 && exponent <= 10.0) {
                return Err(problem(
                    format!("{k}.exponent"),
                    format!("must be > 0 and <= 10, got {exponent}"),
                ));
            }
            Ok(Backoff::Polynomial {
                exponent,
                offset: b.offset.map_or(Duration::ZERO, |d| d.0),
            })
        }
    }
}

pub(super) fn rule(i: usize, r: RawRule) -> Result<Rule, Problem> {
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
