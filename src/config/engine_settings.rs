//! Validation of the tables the engine runs on: policies (with their
//! backoff and jitter), classification rules and retry budgets.

use std::time::Duration;

use super::raw::{RawBackoff, RawBudget, RawPolicy, RawRule};
use super::validate::{check_name, one_of, positive, to_u32};
use super::{Problem, problem};
use crate::engine::backoff::{Backoff, Jitter};
use crate::engine::classify::{Rule, grpc_code_from_name};
use crate::engine::policy::{HintMode, OnUnknown, Policy};
use crate::engine::{BudgetConfig, ErrorClass, OnExhausted};

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
