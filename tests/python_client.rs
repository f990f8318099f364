//! A Python grpcio client, with stubs generated from `proto/`, gets the
//! worked examples of docs/decisions.md from a live server configured with
//! `examples/retryd.toml`.
//!
//! The interpreter is `$RETRYD_PYTHON` (set by `scripts/test`, which installs
//! `tests/python/requirements.txt` in a virtualenv), else `python3`.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Harness, error, failure, report, run_python, sample};
use retryd::config::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpcio_client_gets_the_worked_examples() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        Config::load(&root.join("examples/retryd.toml")).expect("examples/retryd.toml is valid");
    let h = Harness::with_config(config).await;
    let out = run_python(
        "test_worked_examples.py",
        vec![("RETRYD_ADDR", h.running.grpc_addr.to_string())],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python client failed:\n{stderr}");
    assert!(stderr.contains("Ran 7 tests"), "{stderr}");
}

/// Runs `script args` from examples/python/ against the harness, with the
/// Python client package (`clients/python`) importable from its source;
/// returns its JSON lines.
async fn run_example(h: &Harness, script: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var("RETRYD_PYTHON").unwrap_or_else(|_| "python3".into());
    let package = root.join("clients/python/src");
    let example = root.join("examples/python");
    let mut run_args: Vec<String> = vec![
        script.into(),
        "--addr".into(),
        h.running.grpc_addr.to_string(),
    ];
    run_args.extend(args.iter().map(|a| a.to_string()));
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .current_dir(&example)
            .args(&run_args)
            .env("PYTHONPATH", &package)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {python}: {e}"))
    })
    .await
    .expect("python task");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// `examples/python/worker.py`, on the Python client, driven by a live sidecar.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_worker_example_follows_the_decisions() {
    let h = Harness::builtin().await;
    let events = run_example(&h, "worker.py", &["--demo", "--time-scale", "0"]).await;
    let of = |job: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["job_id"] == job)
            .map(|e| match e["event"].as_str() {
                Some("retry") => format!("retry {}", e["delay"]),
                Some("give_up") => format!("give_up {}", e["reason"].as_str().unwrap_or("?")),
                Some("success") => format!("success after {}", e["failures_before_success"]),
                other => format!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(of("invoice-1"), ["success after 0"]);
    assert_eq!(
        of("invoice-2"),
        ["retry 2.0", "retry 4.0", "success after 2"]
    );
    assert_eq!(of("invoice-3"), ["give_up permanent_error"]);
    assert_eq!(
        of("invoice-4"),
        ["retry 2.0", "retry 4.0", "give_up retries_exhausted"]
    );
    assert_eq!(of("invoice-5"), ["retry 7.0", "success after 1"]);
    let done = events.last().expect("a done line");
    assert_eq!(done["dead"], serde_json::json!(["invoice-3", "invoice-4"]));

    // retryd holds exactly the dead letters; the succeeded jobs are forgotten.
    let mut c = h.client.clone();
    let dead = c
        .list_jobs(retryd::pb::ListJobsRequest::default())
        .await
        .expect("list")
        .into_inner();
    let ids: Vec<_> = dead.jobs.iter().map(|j| j.job_id.as_str()).collect();
    assert_eq!(ids, ["invoice-3", "invoice-4"]);
}

/// `examples/python/batch_runner.py`: a pass loop driven by retryd.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_batch_runner_example_runs_three_passes() {
    let h = Harness::builtin().await;
    let events = run_example(
        &h,
        "batch_runner.py",
        &["--demo", "--time-scale", "0", "--batch-id", "py-batch"],
    )
    .await;
    let passes: Vec<(u64, &str, u64, u64, Vec<&str>)> = events
        .iter()
        .filter(|e| e["event"] == "pass")
        .map(|e| {
            (
                e["pass_number"].as_u64().unwrap_or(0),
                e["result"].as_str().unwrap_or("?"),
                e["attempted"].as_u64().unwrap_or(0),
                e["succeeded"].as_u64().unwrap_or(0),
                e["retry_job_ids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        passes,
        [
            (
                1,
                "PASS_RESULT_RETRYABLE_REMAINING",
                5,
                1,
                vec!["post-2", "post-4", "post-5"]
            ),
            (
                2,
                "PASS_RESULT_RETRYABLE_REMAINING",
                3,
                1,
                vec!["post-4", "post-5"]
            ),
            (3, "PASS_RESULT_MAX_PASSES_REACHED", 2, 1, vec![]),
        ]
    );
    let summary = events.last().expect("summary");
    assert_eq!(
        (summary["attempted"].as_u64(), summary["succeeded"].as_u64()),
        (Some(10), Some(3))
    );
}

/// `examples/python/give_up_alerts.py`: hears each give-up of its job type
/// as it happens, and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_give_up_watcher_hears_each_give_up() {
    let mut h = Harness::builtin().await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var("RETRYD_PYTHON").unwrap_or_else(|_| "python3".into());
    let child = tokio::process::Command::new(&python)
        .current_dir(root.join("examples/python"))
        .args([
            "give_up_alerts.py",
            "--addr",
            &h.running.grpc_addr.to_string(),
            "--job-type",
            "invoice",
            "--count",
            "2",
        ])
        .env("PYTHONPATH", root.join("clients/python/src"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    // Once the watcher is attached (a watcher is counted in the metrics).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while sample(&h.scrape().await, "retryd_event_watchers", &[]) != Some(1.0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the watcher never attached"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let fail = |id: &str, job_type: &str, t: &str| retryd::pb::ReportFailureRequest {
        job_type: job_type.into(),
        ..failure(id, error(t, "bad input", 0, 0))
    };
    report(&mut h.client, fail("i1", "invoice", "TimeoutError")).await;
    report(&mut h.client, fail("m1", "mail", "ValidationError")).await;
    report(&mut h.client, fail("i2", "invoice", "ValidationError")).await;
    report(&mut h.client, fail("i3", "invoice", "ValidationError")).await;
    let out = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("the watcher stops after 2 give-ups")
        .expect("output");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let ids: Vec<&str> = lines.iter().filter_map(|l| l["job_id"].as_str()).collect();
    assert_eq!(ids, ["i2", "i3"]);
    assert_eq!(lines[0]["reason"], "permanent_error");
    assert_eq!(lines[0]["missed_before"], 0);
}
