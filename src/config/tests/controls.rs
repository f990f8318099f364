//! The keys of the decision controls: server hints, per-category curves,
//! the backoff kinds of the peers, unlimited retries.

use super::*;
use crate::engine::policy::{HintMode, UNLIMITED};

#[test]
fn every_control_loads() {
    let c = Config::from_toml(
        r#"
[policies.p]
max_retries = "unlimited"
max_retry_duration = "1d"
retry_after_hint = "exact"
max_retry_after_hint = "10m"
backoff = { kind = "exponential", base = "10s", max_doublings = 3 }
jitter = { kind = "symmetric", fraction = 0.5 }
category_limits = { network = 7 }

[policies.p.categories.rate_limit]
max_retries = 20
backoff = { kind = "linear", base = "30s", step = "15s" }
jitter = { kind = "symmetric" }
max_delay = "10m"

[policies.q]
max_attempts = "unlimited"
max_retry_duration = "1h"
backoff = { kind = "polynomial", exponent = 4, offset = "15s" }
"#,
    )
    .expect("valid");
    let p = c.policies.get("p").expect("p");
    assert_eq!(p.max_retries, UNLIMITED);
    assert_eq!(p.retry_after_hint, HintMode::Exact);
    assert_eq!(p.max_retry_after_hint, Some(Duration::from_secs(600)));
    assert_eq!(
        p.backoff,
        Backoff::Exponential {
            base: Duration::from_secs(10),
            multiplier: 2.0,
            max_doublings: Some(3),
        }
    );
    assert_eq!(p.jitter, Jitter::Symmetric(0.5));
    assert_eq!(p.limit_for("network"), (7, true));
    assert_eq!(p.limit_for("rate_limit"), (20, true));
    let curve = p.curve_for("rate_limit");
    assert_eq!(
        curve.backoff,
        &Backoff::Linear {
            base: Duration::from_secs(30),
            step: Duration::from_secs(15),
        }
    );
    assert_eq!(curve.jitter, Jitter::Symmetric(0.5));
    assert_eq!(curve.max_delay, Duration::from_secs(600));
    let q = c.policies.get("q").expect("q");
    assert_eq!(q.max_retries, UNLIMITED);
    assert_eq!(
        q.backoff,
        Backoff::Polynomial {
            exponent: 4.0,
            offset: Duration::from_secs(15),
        }
    );
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    let summary = c.summary();
    assert!(summary.contains("max_attempts unlimited"), "{summary}");
    assert!(
        summary.contains("category rate_limit: max_retries 20 backoff linear 30s + 15s per retry"),
        "{summary}"
    );
}

#[test]
fn unlimited_without_a_deadline_is_a_warning() {
    let c = Config::from_toml(
        r#"
[policies.p]
max_retries = "unlimited"

[policies.q.categories.rate_limit]
max_retries = "unlimited"
"#,
    )
    .expect("valid: a warning, not an error");
    let w = c.warnings();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].starts_with("policies.p.max_retries: unlimited with no max_retry_duration"));
    assert!(w[1].starts_with("policies.q.categories.rate_limit.max_retries: unlimited"));
    assert!(c.summary().contains("warning: policies.p.max_retries"));
}

/// One problem a policy (a policy's validation stops at its first), every
/// policy's reported.
#[test]
fn each_new_key_is_named_in_its_errors() {
    let e = err(r#"
[policies.a]
max_retries = "lots"

[policies.b]
retry_after_hint = "always"

[policies.c]
max_retry_after_hint = "0s"

[policies.d.backoff]
kind = "linear"
base = "1s"

[policies.e.categories.rate_limit]
backoff = { kind = "polynomial", exponent = 0 }

[policies.f.categories.rate_limit]
jitter = { kind = "symmetric", fraction = 1.5 }

[policies.g.categories.rate_limit]
max_dealy = "1m"

[policies.h.backoff]
kind = "constant"
delay = "1s"
max_doublings = 2
"#);
    let want = [
        "8 problems:",
        r#"policies.a.max_retries: must be a whole number or "unlimited", got "lots""#,
        r#"policies.b.retry_after_hint: must be one of "honor", "exact", "ignore", got "always""#,
        "policies.c.max_retry_after_hint: must be greater than 0s",
        r#"policies.d.backoff.step: required with kind = "linear""#,
        "policies.e.categories.rate_limit.backoff.exponent: must be > 0 and <= 10, got 0",
        "policies.f.categories.rate_limit.jitter.fraction: must be > 0.0 and <= 1.0, got 1.5",
        "policies.g.categories.rate_limit.max_dealy: unknown key (did you mean `max_delay`?)",
        r#"policies.h.backoff.max_doublings: only used with kind = "exponential""#,
    ];
    let mut got = e.lines().map(str::trim);
    for w in want {
        assert_eq!(got.next(), Some(w), "in:\n{e}");
    }
}

#[test]
fn category_limits_and_a_category_max_retries_conflict() {
    let e = err(r#"
[policies.p]
category_limits = { rate_limit = 3 }
categories.rate_limit.max_retries = 5
"#);
    assert!(
        e.contains(
            "policies.p.categories.rate_limit.max_retries: also set by category_limits.rate_limit"
        ),
        "{e}"
    );
}

#[test]
fn counts_have_a_documented_bound_not_a_hidden_one() {
    let c = Config::from_toml("[policies.p]\nmax_retries = 50000\n").expect("valid");
    assert_eq!(c.policies.get("p").map(|p| p.max_retries), Some(50_000));
    let e = err("[policies.p]\nmax_retries = 2000000000\n");
    assert!(e.contains("policies.p.max_retries"), "{e}");
}

#[test]
fn breakers_load_and_name_their_keys() {
    let c = Config::from_toml(
        r#"
[breakers.default]
min_calls = 50

[breakers.db]
failure_ratio = 0.25
window = "1m"
open_for = "2m"
half_open_probes = 1
"#,
    )
    .expect("valid");
    let db = c.breakers.for_target("db").expect("db");
    assert_eq!(
        (
            db.failure_ratio,
            db.min_calls,
            db.window,
            db.open_for,
            db.half_open_probes
        ),
        (
            0.25,
            20,
            Duration::from_secs(60),
            Duration::from_secs(120),
            1
        )
    );
    assert_eq!(c.breakers.for_target("s3").map(|b| b.min_calls), Some(50));
    assert_eq!(c.engine().breakers, c.breakers);
    let summary = c.summary();
    assert!(
        summary.contains("  db: failure_ratio 0.25, min_calls 20, window 1m, open_for 2m, half_open_probes 1\n  default: failure_ratio 0.5, min_calls 50"),
        "{summary}"
    );
    let e = err(r#"
[breakers.a]
failure_ratio = 0

[breakers.b]
open_for = "10ms"

[breakers.c]
half_open_probs = 2
"#);
    let want = [
        "3 problems:",
        "breakers.a.failure_ratio: must be > 0 and <= 1, got 0",
        "breakers.b.open_for: must be at least 1s",
        "breakers.c.half_open_probs: unknown key (did you mean `half_open_probes`?)",
    ];
    let mut got = e.lines().map(str::trim);
    for w in want {
        assert_eq!(got.next(), Some(w), "in:\n{e}");
    }
}

#[test]
fn a_shadow_must_name_another_known_policy() {
    let c = Config::from_toml("[policies.p]\nshadow = \"aggressive\"\n").expect("valid");
    let p = c.policies.get("p").expect("p");
    assert_eq!(
        c.policies.shadow_of(p).map(|q| q.name.to_string()),
        Some("aggressive".to_string())
    );
    assert!(c.summary().contains("shadow aggressive"), "{}", c.summary());
    let e = err("[policies.p]\nshadow = \"p\"\n\n[policies.q]\nshadow = \"nope\"\n");
    let want = [
        "2 problems:",
        "policies.p.shadow: must name another policy",
        r#"policies.q.shadow: unknown policy "nope" (known: aggressive, conservative, default, high_priority, p, q)"#,
    ];
    let mut got = e.lines().map(str::trim);
    for w in want {
        assert_eq!(got.next(), Some(w), "in:\n{e}");
    }
}
