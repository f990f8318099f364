//! The operator CLI (`retryd jobs|stats|explain`) against a real server.

mod common;

use common::*;
use retryd::pb;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_retryd");

async fn json(h: &Harness, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let out = retryd(h, &all).await;
    assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", out.stdout))
}

async fn seed(h: &mut Harness) {
    for (id, t) in [
        ("j1", "Timeout"),
        ("j2", "ValidationError"),
        ("j3", "Timeout"),
        ("j4", "ValidationError"),
        ("j5", "Timeout"),
    ] {
        let mut r = failure(id, error(t, "it broke", 0, 0));
        r.job_type = "mail".into();
        report(&mut h.client, r).await;
    }
}

#[tokio::test]
async fn jobs_list_table_json_filters_and_limit() {
    let mut h = Harness::builtin().await;
    seed(&mut h).await;

    let out = retryd(&h, &["jobs", "list"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("JOB ID  TYPE  STATE"),
        "{}",
        out.stdout
    );
    assert!(
        lines[1].starts_with("j1      mail  retrying"),
        "{}",
        out.stdout
    );
    assert_eq!(lines.last().copied(), Some("5 of 5 jobs"));

    let v = json(&h, &["jobs", "list", "--state", "dead"]).await;
    assert_eq!(v["total_size"], 2);
    let ids: Vec<&str> = v["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["job_id"].as_str())
        .collect();
    assert_eq!(ids, ["j2", "j4"]);
    assert_eq!(v["jobs"][0]["state"], "JOB_STATE_DEAD");
    assert_eq!(
        v["jobs"][0]["last_decision"]["reason"],
        "GIVE_UP_REASON_PERMANENT_ERROR"
    );

    let v = json(&h, &["jobs", "list", "--limit", "3"]).await;
    assert_eq!(
        (v["jobs"].as_array().map(Vec::len), v["total_size"].as_i64()),
        (Some(3), Some(5))
    );
    let v = json(&h, &["jobs", "list", "--job-type", "other"]).await;
    assert_eq!(v["total_size"], 0);
}

#[tokio::test]
async fn jobs_get_retry_cancel_delete() {
    let mut h = Harness::builtin().await;
    seed(&mut h).await;

    let out = retryd(&h, &["jobs", "get", "j2"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("state          dead"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("last decision  give up (permanent_error)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("last error     ValidationError: it broke"),
        "{}",
        out.stdout
    );

    // A dead job cannot be cancelled: one line, exit 1.
    let out = retryd(&h, &["jobs", "cancel", "j2"]).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .starts_with("retryd: FAILED_PRECONDITION: job \"j2\" is dead"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1);

    let v = json(&h, &["jobs", "retry", "j2"]).await;
    assert_eq!(
        (v["state"].as_str(), v["failure_count"].as_u64()),
        (Some("JOB_STATE_RETRYING"), Some(0))
    );
    let v = json(&h, &["jobs", "retry", "j1", "--keep-failures"]).await;
    assert_eq!(v["failure_count"], 1);

    let v = json(&h, &["jobs", "cancel", "j1"]).await;
    assert_eq!(v["state"], "JOB_STATE_CANCELLED");
    let d = report(&mut h.client, failure("j1", error("Timeout", "", 0, 0))).await;
    assert_eq!(d.reason, pb::GiveUpReason::Cancelled as i32);

    let out = retryd(&h, &["jobs", "delete", "j1"]).await;
    assert_eq!((out.code, out.stdout.as_str()), (0, "deleted j1\n"));
    let out = retryd(&h, &["jobs", "delete", "j1"]).await;
    assert_eq!(out.code, 1);
    assert_eq!(out.stderr, "retryd: NOT_FOUND: no job \"j1\"\n");
    let out = retryd(&h, &["jobs", "get", ""]).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("INVALID_ARGUMENT: job_id: must not be empty"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn stats_table_and_json() {
    let mut h = Harness::builtin().await;
    seed(&mut h).await;
    h.client
        .report_success(pb::ReportSuccessRequest {
            job_id: "j1".into(),
            job_type: "mail".into(),
            ..Default::default()
        })
        .await
        .expect("success");
    let out = retryd(&h, &["stats"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mail = out
        .stdout
        .lines()
        .find(|l| l.starts_with("mail"))
        .expect("mail row");
    let cells: Vec<&str> = mail.split_whitespace().collect();
    assert_eq!(cells, ["mail", "2", "2", "0", "0", "1", "2", "33.3%"]);
    assert!(out.stdout.lines().any(|l| l.starts_with("TOTAL")));
    let v = json(&h, &["stats"]).await;
    assert_eq!(v["total"]["give_ups"], 2);
    assert_eq!(v["job_types"][0]["job_type"], "mail");
}

#[tokio::test]
async fn explain_takes_every_flag_and_changes_nothing() {
    let mut h = Harness::builtin().await;
    report(&mut h.client, failure("known", error("Timeout", "", 0, 0))).await;
    let v = json(
        &h,
        &[
            "explain",
            "--job-id",
            "known",
            "--error-type",
            "requests.exceptions.ReadTimeout",
        ],
    )
    .await;
    assert_eq!(
        (v["failure_count"].as_u64(), v["retry_after"].as_str()),
        (Some(2), Some("4s"))
    );
    assert_eq!(v["category"], "timeout");

    let v = json(
        &h,
        &[
            "explain",
            "--message",
            "x",
            "--http-status",
            "503",
            "--grpc-code",
            "UNAVAILABLE",
            "--policy",
            "aggressive",
            "--job-type",
            "mail",
            "--attempt",
            "2",
            "--hint",
            "10s",
            "--target",
            "s3",
            "--retryable",
            "true",
        ],
    )
    .await;
    assert_eq!(
        (
            v["action"].as_str(),
            v["policy"].as_str(),
            v["category"].as_str()
        ),
        (Some("ACTION_RETRY"), Some("aggressive"), Some("caller"))
    );
    assert_eq!(v["retry_after"], "10s");
    let v = json(&h, &["explain", "--priority", "95", "--grpc-code", "3"]).await;
    assert_eq!(
        (v["action"].as_str(), v["policy"].as_str()),
        (Some("ACTION_GIVE_UP"), Some("high_priority"))
    );

    let out = retryd(&h, &["explain", "--error-type", "ValidationError"]).await;
    assert!(
        out.stdout
            .starts_with("decision     give up (permanent_error)\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("category     invalid_input"),
        "{}",
        out.stdout
    );

    let job = h
        .client
        .get_job(pb::GetJobRequest {
            job_id: "known".into(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(job.job.map(|j| j.failure_count), Some(1));
}

#[tokio::test]
async fn unreachable_sidecar_is_one_line_and_exit_1() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let addr = format!("127.0.0.1:{port}");
    for args in [
        vec!["jobs", "list"],
        vec!["stats"],
        vec!["explain", "--error-type", "X"],
    ] {
        let mut all = args.clone();
        all.extend(["--addr", &addr]);
        let out = tokio::process::Command::new(BIN)
            .args(&all)
            .output()
            .await
            .expect("run");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with(&format!("retryd: cannot reach retryd at http://{addr}")),
            "{stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[tokio::test]
async fn batches_get_shows_passes_and_totals() {
    let mut h = Harness::builtin().await;
    h.client
        .start_pass(pb::StartPassRequest {
            batch_id: "nightly".into(),
            job_ids: vec!["a".into(), "b".into()],
            ..Default::default()
        })
        .await
        .expect("start");
    h.client
        .report_success(pb::ReportSuccessRequest {
            job_id: "a".into(),
            ..Default::default()
        })
        .await
        .expect("ok");
    report(&mut h.client, failure("b", error("Timeout", "", 0, 0))).await;
    h.client
        .end_pass(pb::EndPassRequest {
            batch_id: "nightly".into(),
        })
        .await
        .expect("end");
    h.client
        .start_pass(pb::StartPassRequest {
            batch_id: "nightly".into(),
            ..Default::default()
        })
        .await
        .expect("start 2");

    let out = retryd(&h, &["batches", "get", "nightly"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("attempted     2 (1 succeeded, 1 failed retryable, 0 failed for good)"),
        "{}",
        out.stdout
    );
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("PASS"))
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{}", out.stdout);
    assert_eq!(
        (rows[0][0], rows[0][3], rows[0][4], rows[0][5], rows[0][8]),
        ("1", "1", "2", "1", "50.0%")
    );
    assert_eq!((rows[1][0], rows[1][2]), ("2", "open"));

    let v = json(&h, &["batches", "get", "nightly"]).await;
    assert_eq!(v["total_succeeded"], 1);
    assert_eq!(v["passes"][1]["duration"], Value::Null);
    let out = retryd(&h, &["batches", "get", "missing"]).await;
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (1, "retryd: NOT_FOUND: no batch \"missing\"\n")
    );
}

#[tokio::test]
async fn budgets_table_and_json() {
    let mut h = Harness::start("[budgets.default]\nmax_tokens = 4\n").await;
    for i in 0..3 {
        let mut r = failure(&format!("b{i}"), error("Timeout", "", 0, 0));
        r.target = "s3".into();
        report(&mut h.client, r).await;
    }
    let out = retryd(&h, &["budgets"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("TARGET  TOKENS  MAX  RETRYING"),
        "{}",
        out.stdout
    );
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    // 4 tokens, 3 failures: 1 left, at or below half.
    assert_eq!(
        cells,
        ["s3", "1.0", "4", "1", "1000", "2", "throttled", "-", "-"]
    );
    let v = json(&h, &["budgets"]).await;
    assert_eq!(v["budgets"][0]["tokens"], 1.0);
    assert_eq!(v["budgets"][0]["exhausted_total"], 2);

    let none = Harness::builtin().await;
    let out = retryd(&none, &["budgets"]).await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (
            0,
            "no retry budgets or breakers (configure [budgets.<target>] or [breakers.<target>], or their default)\n"
        )
    );
}

#[tokio::test]
async fn explain_shows_the_server_hints_and_the_shadow() {
    let h =
        Harness::start("[policies.live]\nretry_after_hint = \"exact\"\nshadow = \"aggressive\"\n")
            .await;
    let v = json(
        &h,
        &[
            "explain",
            "--policy",
            "live",
            "--http-status",
            "503",
            "--retry-after-header",
            "45",
        ],
    )
    .await;
    assert_eq!(v["retry_after"], "45s");
    assert_eq!(v["shadow"]["policy"], "aggressive");
    assert_eq!(
        v["shadow"]["retry_after"], "30s",
        "aggressive honors the hint as a floor, capped at its max_delay 30s"
    );
    let v = json(&h, &["explain", "--policy", "live", "--pushback-ms", "-1"]).await;
    assert_eq!(v["reason"], "GIVE_UP_REASON_PUSHBACK");
    let out = retryd(
        &h,
        &["explain", "--policy", "live", "--error-type", "Timeout"],
    )
    .await;
    assert!(
        out.stdout
            .contains("\nshadow policy `aggressive` would decide (nothing applied):\n"),
        "{}",
        out.stdout
    );
}

/// Runs the CLI with exactly `args` (no RETRYD_ADDR from the harness).
async fn bare(args: &[&str]) -> Out {
    let out = tokio::process::Command::new(BIN)
        .args(args)
        .env_remove("RETRYD_ADDR")
        .output()
        .await
        .expect("run");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn client_options_work_before_the_command_as_well_as_after() {
    let mut h = Harness::builtin().await;
    seed(&mut h).await;
    let addr = h.running.grpc_addr.to_string();
    let before = bare(&["--addr", &addr, "-o", "json", "jobs", "get", "j1"]).await;
    let after = bare(&["jobs", "get", "j1", "--addr", &addr, "-o", "json"]).await;
    let between = bare(&["jobs", "--addr", &addr, "--output", "json", "get", "j1"]).await;
    for out in [&before, &after, &between] {
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let v: Value = serde_json::from_str(&before.stdout).expect("json");
    assert_eq!(v["job_id"], "j1");
    assert_eq!(before.stdout, after.stdout);
    assert_eq!(before.stdout, between.stdout);
    let stats = bare(&["-o", "json", "--addr", &addr, "stats"]).await;
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    let v: Value = serde_json::from_str(&stats.stdout).expect("json");
    assert_eq!(v["total"]["give_ups"], 2);
}

#[tokio::test]
async fn the_top_level_help_lists_the_client_options() {
    let out = bare(&["--help"]).await;
    assert_eq!(out.code, 0);
    let heading = out
        .stdout
        .find("Client options")
        .unwrap_or_else(|| panic!("no client options heading: {}", out.stdout));
    let client_part = &out.stdout[heading..];
    for flag in [
        "--addr",
        "--output",
        "-o",
        "--token",
        "--tls-ca",
        "--timeout",
    ] {
        assert!(client_part.contains(flag), "{flag} missing: {client_part}");
    }
}

#[tokio::test]
async fn a_client_option_without_a_client_command_is_refused_not_ignored() {
    for args in [
        &["--addr", "127.0.0.1:1"][..],
        &["serve", "-o", "json"][..],
        &["check-config", "retryd.toml", "--addr", "127.0.0.1:1"][..],
    ] {
        let out = bare(args).await;
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("client commands"), "{}", out.stderr);
        assert!(out.stderr.contains("--grpc-addr"), "{}", out.stderr);
    }
}

#[tokio::test]
async fn a_sidecar_option_before_a_client_command_is_refused_not_ignored() {
    let out = bare(&["--grpc-addr", "127.0.0.1:1", "jobs", "list"]).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--grpc-addr"), "{}", out.stderr);
    assert!(out.stderr.contains("`jobs`"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn explain_without_a_failure_says_what_to_give() {
    let h = Harness::builtin().await;
    let out = retryd(&h, &["explain", "--job-id", "x"]).await;
    assert_eq!(out.code, 2, "{}", out.stdout);
    for flag in ["--error-type", "--message", "--http-status", "--grpc-code"] {
        assert!(out.stderr.contains(flag), "{flag}: {}", out.stderr);
    }
    assert!(out.stdout.is_empty());
}
