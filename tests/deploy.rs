//! The Grafana dashboard and the Prometheus alert rules, checked with the
//! real tools (promtool) and against what a live retryd really exports.
//!
//! promtool is `$RETRYD_PROMTOOL`, else `promtool` on the PATH (Debian's
//! `prometheus` package; `scripts/test` and `.ci/run` install it).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::redis::RedisServer;
use common::*;
use retryd::pb;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn promtool(args: &[&str], stdin: Option<&str>) -> Output {
    let bin = std::env::var("RETRYD_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let mut child = Command::new(&bin)
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {bin} ({e}): install Debian's `prometheus` package (apt-get install prometheus)"));
    if let Some(text) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("promtool output")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A server that has done everything once, so every metric has a series.
async fn exercised() -> Harness {
    // A breaker on s3 that its one failure opens: its metrics are exported.
    let mut h = exercised_with("[state]\nmax_jobs = 2\n[breakers.s3]\nmin_calls = 1\n").await;
    // Delivery: a job parked, claimed under a short lease that runs out.
    let c = &mut h.client;
    let mut parked = failure("parcel", error("Timeout", "", 0, 0));
    parked.payload = b"job".to_vec();
    parked.queue = "mail".into();
    report(c, parked).await;
    c.retry_job(pb::RetryJobRequest {
        job_id: "parcel".into(),
        reset_failures: None,
    })
    .await
    .expect("due now");
    let claimed = c
        .claim_due(pb::ClaimDueRequest {
            queue: "mail".into(),
            max_jobs: 1,
            lease: Some(prost_types::Duration {
                seconds: 0,
                nanos: 50_000_000,
            }),
        })
        .await
        .expect("claim")
        .into_inner()
        .jobs;
    assert_eq!(claimed.len(), 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while sample(
        &h.scrape().await,
        "retryd_delivery_lease_expired_total",
        &[("queue", "mail")],
    )
    .is_none()
    {
        assert!(std::time::Instant::now() < deadline, "the lease ran out");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    h
}

/// The same in fleet mode, on a real Redis (for the backend's metrics).
async fn exercised_fleet(redis: &RedisServer) -> Harness {
    exercised_with(&format!(
        "[state]\nmax_jobs = 2\nbackend = \"redis\"\n[state.redis]\nurl = \"{}\"\n",
        redis.url()
    ))
    .await
}

/// Every sample name a memory-mode and a fleet-mode sidecar export.
async fn every_exported_name() -> BTreeSet<String> {
    let redis = RedisServer::start();
    let mut names = exported(&exercised().await.scrape().await);
    names.extend(exported(&exercised_fleet(&redis).await.scrape().await));
    names
}

async fn exercised_with(state: &str) -> Harness {
    // The built-in default policy, with a shadow: its comparisons are exported.
    let shadowed = "[policies.default]\nmax_attempts = 3\nbackoff = { kind = \"exponential\", base = \"2s\" }\nmax_delay = \"60s\"\nshadow = \"aggressive\"\n";
    let mut h = Harness::start(&format!(
        "{state}\n{shadowed}[budgets.default]\nmax_tokens = 2"
    ))
    .await;
    let c = &mut h.client;
    report(c, failure("retry", error("Timeout", "", 0, 0))).await;
    let mut throttled = failure("budgeted", error("Timeout", "", 0, 0));
    throttled.target = "s3".into();
    report(c, throttled).await;
    report(c, failure("dead", error("ValidationError", "", 0, 0))).await;
    report(c, failure("third", error("Timeout", "", 0, 0))).await;
    c.report_success(pb::ReportSuccessRequest {
        job_id: "retry".into(),
        ..Default::default()
    })
    .await
    .expect("ok");
    c.get_job(pb::GetJobRequest {
        job_id: String::new(),
    })
    .await
    .expect_err("invalid");
    h
}

/// Sample names in an exposition (`retryd_rpc_duration_seconds_bucket`, ...).
fn exported(scrape: &str) -> BTreeSet<String> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// retryd metric names a PromQL expression uses (recorded `a:b:c` names excepted).
fn metric_names(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|t| t.starts_with("retryd_") && !t.contains(':'))
        .map(str::to_string)
        .collect()
}

fn dashboard() -> Value {
    let path = root().join("deploy/grafana/retryd-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("read dashboard");
    serde_json::from_str(&text).expect("the dashboard is valid JSON")
}

fn panels(v: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in v["panels"].as_array().into_iter().flatten() {
        out.push(p);
        out.extend(p["panels"].as_array().into_iter().flatten());
    }
    out
}

/// Every PromQL expression of the dashboard, with Grafana's variables filled in.
fn dashboard_exprs(v: &Value) -> Vec<(String, String)> {
    let mut exprs = Vec::new();
    for p in panels(v) {
        for t in p["targets"].as_array().into_iter().flatten() {
            let e = t["expr"].as_str().expect("every target has an expr");
            exprs.push((
                p["title"].as_str().unwrap_or("?").to_string(),
                grafana_vars(e),
            ));
        }
    }
    for var in v["templating"]["list"].as_array().into_iter().flatten() {
        if let Some(q) = var["query"]["query"].as_str() {
            // label_values(metric, label) is Grafana's, not PromQL: check its metric.
            let metric = q
                .trim_start_matches("label_values(")
                .split(',')
                .next()
                .unwrap_or(q);
            exprs.push((format!("variable {}", var["name"]), metric.to_string()));
        }
    }
    exprs
}

fn grafana_vars(e: &str) -> String {
    e.replace("$__rate_interval", "5m")
        .replace("$job_type", ".*")
}

#[tokio::test]
async fn dashboard_queries_only_metrics_retryd_exports() {
    let names = every_exported_name().await;
    let v = dashboard();
    let exprs = dashboard_exprs(&v);
    assert!(exprs.len() >= 10, "{exprs:?}");
    for (panel, e) in &exprs {
        let used = metric_names(e);
        assert!(!used.is_empty(), "{panel}: no retryd metric in {e}");
        for m in used {
            assert!(
                names.contains(&m),
                "{panel}: {m} is not exported; exported: {names:?}"
            );
        }
    }
}

#[test]
fn dashboard_is_provisionable_and_has_the_promised_panels() {
    let v = dashboard();
    assert_eq!(v["uid"], "retryd");
    let vars = v["templating"]["list"].as_array().expect("templating");
    assert!(vars.iter().any(|t| t["name"] == "datasource"
        && t["type"] == "datasource"
        && t["query"] == "prometheus"));
    let titles: Vec<&str> = panels(&v)
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    for want in [
        "Decisions/s by action",
        "Give-ups/s by reason",
        "Retry success rate by job type",
        "Jobs by state",
        "Dead-letter growth",
        "Retry-delay distribution",
        "RPC latency p50 / p99 by method",
        "Evictions/s by reason",
        "Budget tokens by target",
        "Retries refused by budget/s by target",
        "Circuit breakers by target",
        "Shadow policy decisions/s by outcome",
        "Seconds since the last snapshot",
        "Calls shed/s",
        "Backend calls/s by operation and result",
        "Backend latency p50 / p99 by operation",
        "Pods reaching their fleet state",
        "Parked jobs by queue",
        "Oldest due job by queue",
        "Deliveries/s and leases expired/s by queue",
        "Delivery lag p50 / p99 by queue",
    ] {
        assert!(titles.contains(&want), "no panel {want:?} in {titles:?}");
    }
    let mut ids = BTreeSet::new();
    for p in panels(&v) {
        assert!(
            ids.insert(p["id"].as_i64().expect("panel id")),
            "duplicate id"
        );
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
            for t in p["targets"].as_array().into_iter().flatten() {
                assert_eq!(t["datasource"]["uid"], "${datasource}", "{}", p["title"]);
            }
        }
    }
}

#[test]
fn dashboard_queries_are_valid_promql() {
    // promtool parses each query as the expression of a recording rule.
    let v = dashboard();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, e)) in dashboard_exprs(&v).iter().enumerate() {
        let quoted = serde_json::to_string(e).expect("quote");
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {quoted}\n"
        ));
    }
    let path =
        std::env::temp_dir().join(format!("retryd-dashboard-rules-{}.yml", std::process::id()));
    std::fs::write(&path, rules).expect("write rules");
    let out = promtool(&["check", "rules", path.to_str().expect("utf-8")], None);
    assert!(out.status.success(), "{}", text(&out));
}

fn alert_rules() -> PathBuf {
    root().join("deploy/prometheus/retryd-alerts.yml")
}

#[test]
fn alert_rules_pass_promtool_check_and_unit_tests() {
    let out = promtool(
        &["check", "rules", "deploy/prometheus/retryd-alerts.yml"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = promtool(
        &["test", "rules", "deploy/prometheus/retryd-alerts.test.yml"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("SUCCESS"), "{}", text(&out));
}

#[test]
fn every_alert_is_tested_firing_and_not_firing() {
    let rules = std::fs::read_to_string(alert_rules()).expect("rules");
    let tests = std::fs::read_to_string(root().join("deploy/prometheus/retryd-alerts.test.yml"))
        .expect("tests");
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    for want in [
        "RetrydDown",
        "RetrydGiveUpRateHigh",
        "RetrydDeadLettersGrowing",
        "RetrydRetryStorm",
        "RetrydEvictions",
        "RetrydRpcLatencyHigh",
        "RetrydBudgetExhausted",
        "RetrydFleetStateUnavailable",
        "RetrydPodCannotReachFleetState",
    ] {
        assert!(alerts.contains(&want), "no alert {want}");
    }
    for alert in alerts {
        // Each test case of an alert: its `alertname:` line and the next `exp_alerts`.
        let mut firing = false;
        let mut quiet = false;
        let lines: Vec<&str> = tests.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if l.trim() == format!("alertname: {alert}") {
                match lines.get(i + 1).map(|n| n.trim()) {
                    Some("exp_alerts: []") => quiet = true,
                    Some("exp_alerts:") => firing = true,
                    _ => {}
                }
            }
        }
        assert!(
            firing && quiet,
            "{alert}: firing tested {firing}, not firing tested {quiet}"
        );
    }
}

#[tokio::test]
async fn alert_rules_use_only_metrics_retryd_exports() {
    let names = every_exported_name().await;
    let rules = std::fs::read_to_string(alert_rules()).expect("rules");
    let used: BTreeSet<String> = metric_names(&rules).into_iter().collect();
    assert!(used.len() >= 5, "{used:?}");
    for m in used {
        assert!(
            names.contains(&m),
            "{m} is used by an alert but not exported"
        );
    }
}

#[tokio::test]
async fn live_scrape_passes_promtool_check_metrics() {
    let redis = RedisServer::start();
    for h in [exercised().await, exercised_fleet(&redis).await] {
        let scrape = h.scrape().await;
        assert!(scrape.contains("fleet=\""), "every sample has its fleet");
        let out =
            tokio::task::spawn_blocking(move || promtool(&["check", "metrics"], Some(&scrape)))
                .await
                .expect("promtool task");
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(text(&out).trim(), "", "promtool found problems");
    }
}
