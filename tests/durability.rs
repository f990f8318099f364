//! Durable state (docs/operations.md, "Snapshots and what survives what"):
//! what a snapshot keeps, what a broken one does to a start, and crash tests
//! of the real binary (SIGTERM, `kill -9`, a restart under load).

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::sidecar::*;
use common::*;
use retryd::config::Config;
use retryd::pb::{self, Action, JobState};

/// A fresh directory for one test's snapshot.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("retryd-durability-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn config(path: &Path, extra: &str) -> Config {
    let text = format!(
        "{extra}\n[state]\nsnapshot_path = {:?}\nsnapshot_interval = \"1h\"\n",
        path.display().to_string()
    );
    Config::from_toml(&text).expect("test config")
}

const POLICIES: &str = r#"
[policies.extraction]
max_retries = 7

[job_types]
extraction = "extraction"

[budgets.s3]
max_tokens = 10
max_retrying = 50
"#;

/// Everything a client can see of the state.
#[derive(Debug, PartialEq)]
struct Seen {
    jobs: Vec<pb::Job>,
    stats: pb::GetStatsResponse,
    budgets: Vec<pb::Budget>,
    batch: pb::GetBatchResponse,
}

async fn seen(c: &mut Client) -> Seen {
    let mut jobs = Vec::new();
    let mut token = String::new();
    loop {
        let page = c
            .list_jobs(pb::ListJobsRequest {
                page_size: 1000,
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("ListJobs")
            .into_inner();
        jobs.extend(page.jobs);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    Seen {
        jobs,
        stats: c
            .get_stats(pb::GetStatsRequest {})
            .await
            .expect("GetStats")
            .into_inner(),
        budgets: c
            .list_budgets(pb::ListBudgetsRequest {})
            .await
            .expect("ListBudgets")
            .into_inner()
            .budgets,
        batch: c
            .get_batch(pb::GetBatchRequest {
                batch_id: "nightly".into(),
            })
            .await
            .expect("GetBatch")
            .into_inner(),
    }
}

async fn job(c: &mut Client, id: &str) -> Option<pb::Job> {
    match c.get_job(pb::GetJobRequest { job_id: id.into() }).await {
        Ok(r) => r.into_inner().job,
        Err(s) if s.code() == tonic::Code::NotFound => None,
        Err(s) => panic!("GetJob {id}: {s}"),
    }
}

/// Every kind of state: retrying jobs of several types and targets, dead
/// letters, a cancelled job, successes, a spent budget, a batch mid-pass.
async fn populate(c: &mut Client) {
    for i in 0..40 {
        let r = pb::ReportFailureRequest {
            job_type: if i % 2 == 0 {
                "extraction".into()
            } else {
                "mail".into()
            },
            target: if i % 4 == 0 {
                "s3".into()
            } else {
                String::new()
            },
            ..failure(
                &format!("job-{i}"),
                error("ConnectionError", &format!("reset {i}"), 0, 0),
            )
        };
        for _ in 0..(1 + i % 3) {
            report(c, r.clone()).await;
        }
    }
    for i in 0..5 {
        let d = report(
            c,
            failure(
                &format!("poison-{i}"),
                error("ValidationError", "bad row", 0, 0),
            ),
        )
        .await;
        assert_eq!(d.action(), Action::GiveUp);
    }
    report(c, failure("to-cancel", error("Timeout", "", 0, 0))).await;
    c.cancel_job(pb::CancelJobRequest {
        job_id: "to-cancel".into(),
    })
    .await
    .expect("cancel");
    for i in 0..3 {
        c.report_success(pb::ReportSuccessRequest {
            job_id: format!("ok-{i}"),
            job_type: "mail".into(),
            ..Default::default()
        })
        .await
        .expect("success");
    }
    c.start_pass(pb::StartPassRequest {
        batch_id: "nightly".into(),
        job_ids: vec!["b-1".into(), "b-2".into(), "b-3".into()],
        ..Default::default()
    })
    .await
    .expect("StartPass");
    report(c, failure("b-1", error("Timeout", "", 0, 0))).await;
    c.report_success(pb::ReportSuccessRequest {
        job_id: "b-2".into(),
        ..Default::default()
    })
    .await
    .expect("success");
}

#[tokio::test]
async fn a_restart_from_a_snapshot_sees_exactly_the_same_state() {
    let d = dir("same");
    let path = d.join("state.snap");
    let first = Harness::with_config(config(&path, POLICIES)).await;
    let c = &mut first.client.clone();
    populate(c).await;
    let before = seen(c).await;
    assert!(before.jobs.len() >= 47, "{}", before.jobs.len());
    first
        .running
        .stop()
        .await
        .expect("stop writes the final snapshot");

    let second = Harness::with_config(config(&path, POLICIES)).await;
    let c = &mut second.client.clone();
    let after = seen(c).await;
    assert_eq!(before, after);

    // Counts go on from where they were, and the batch's pass can end.
    let d1 = report(c, failure("job-2", error("ConnectionError", "x", 0, 0))).await;
    assert_eq!(d1.failure_count, 4);
    let dead = report(c, failure("poison-0", error("Timeout", "", 0, 0))).await;
    assert_eq!(dead.action(), Action::GiveUp, "a dead letter stays dead");
    let end = c
        .end_pass(pb::EndPassRequest {
            batch_id: "nightly".into(),
        })
        .await
        .expect("EndPass after restart")
        .into_inner();
    assert_eq!(end.retry_job_ids, vec!["b-1".to_string()]);
    second.running.stop().await.expect("stop");
}

#[tokio::test]
async fn a_changed_configuration_reads_the_snapshot_by_name() {
    let d = dir("changed");
    let path = d.join("state.snap");
    let first = Harness::with_config(config(&path, POLICIES)).await;
    let c = &mut first.client.clone();
    populate(c).await;
    first.running.stop().await.expect("stop");

    // The extraction policy is gone; a new policy sorts before every old one
    // (policy ids move), and the s3 budget is no longer configured.
    let changed = "[policies.aaa]\nmax_retries = 1\n";
    let second = Harness::with_config(config(&path, changed)).await;
    let c = &mut second.client.clone();
    let j = job(c, "job-0").await.expect("job-0 kept");
    assert_eq!(
        j.policy, "default",
        "a policy that is gone reads as default"
    );
    assert_eq!(j.failure_count, 1);
    let j = job(c, "job-1").await.expect("job-1 kept");
    assert_eq!(j.policy, "default");
    assert_eq!(j.failure_count, 2);
    assert_eq!(j.job_type, "mail");
    let p = job(c, "poison-1").await.expect("dead letter kept");
    assert_eq!(p.state(), JobState::Dead);
    assert_eq!(p.last_decision.expect("decision").category, "invalid_input");
    second.running.stop().await.expect("stop");
}

#[tokio::test]
async fn a_snapshot_larger_than_a_lowered_max_jobs_is_brought_to_the_bound() {
    let d = dir("lowered");
    let path = d.join("state.snap");
    let first = Harness::with_config(config(&path, POLICIES)).await;
    populate(&mut first.client.clone()).await;
    first.running.stop().await.expect("stop");

    let mut smaller = config(&path, POLICIES);
    smaller.limits.max_jobs = 20;
    let second = Harness::with_config(smaller).await;
    let app = second.running.app.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while held(&app) > 20 {
        assert!(
            Instant::now() < deadline,
            "{} jobs held, bound 20",
            held(&app)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every job is held or counted as evicted (counted when the sweep returns).
    loop {
        let text = second.scrape().await;
        let evicted =
            sample(&text, "retryd_evictions_total", &[("reason", "capacity")]).unwrap_or(0.0);
        if evicted as usize + held(&app) == 47 || Instant::now() > deadline {
            assert_eq!(evicted as usize + held(&app), 47);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    second.running.stop().await.expect("stop");
}

#[tokio::test]
async fn a_broken_snapshot_stops_the_start_names_the_problem_and_is_left_alone() {
    let d = dir("broken");
    let good = d.join("good.snap");
    let h = Harness::with_config(config(&good, POLICIES)).await;
    populate(&mut h.client.clone()).await;
    h.running.stop().await.expect("stop");
    let bytes = std::fs::read(&good).expect("read snapshot");
    assert_eq!(&bytes[..8], b"RETRYDSN");

    let mut flipped = bytes.clone();
    let mid = bytes.len() / 2;
    flipped[mid] ^= 0x40;
    let mut version = bytes.clone();
    version[8] = 9;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("flipped", flipped, "checksum mismatch"),
        ("truncated", bytes[..bytes.len() - 10].to_vec(), "truncated"),
        ("header-only", bytes[..20].to_vec(), "truncated"),
        ("empty", Vec::new(), "truncated"),
        (
            "not-ours",
            b"hello, this is not a snapshot at all......".repeat(3),
            "not a retryd snapshot",
        ),
        ("version", version, "format version 9"),
        (
            "trailing",
            [bytes.clone(), b"xx".to_vec()].concat(),
            "unexpected bytes",
        ),
    ];
    for (name, content, problem) in cases {
        let path = d.join(format!("{name}.snap"));
        std::fs::write(&path, &content).expect("write case");
        let err = start_err(config(&path, "")).await;
        assert!(err.contains(problem), "{name}: {err}");
        assert!(err.contains(&path.display().to_string()), "{name}: {err}");
        assert_eq!(
            std::fs::read(&path).expect("still there"),
            content,
            "{name}: a broken snapshot is never replaced"
        );
    }
}

#[tokio::test]
async fn a_missing_snapshot_starts_empty_and_an_unwritable_path_stops_the_start() {
    let d = dir("missing");
    let path = d.join("first-start.snap");
    let h = Harness::with_config(config(&path, "")).await;
    assert!(path.exists(), "a snapshot is written at start");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&path).expect("metadata").permissions(),
    );
    assert_eq!(
        mode & 0o777,
        0o600,
        "owner-only: it holds callers' job ids and errors"
    );
    assert_eq!(held(&h.running.app), 0);
    h.running.stop().await.expect("stop");

    let nowhere = d.join("no-such-dir").join("state.snap");
    let err = start_err(config(&nowhere, "")).await;
    assert!(err.contains(&nowhere.display().to_string()), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_sidecar_does_not_rewrite_its_snapshot_and_a_busy_one_does() {
    let d = dir("idle");
    let path = d.join("state.snap");
    let text = format!(
        "[state]\nsnapshot_path = {:?}\nsnapshot_interval = \"100ms\"\n",
        path.display().to_string()
    );
    let h = Harness::start(&text).await;
    let writes = |text: &str| {
        sample(text, "retryd_snapshot_writes_total", &[("result", "ok")]).unwrap_or(0.0)
    };
    let at_start = writes(&h.scrape().await);
    assert_eq!(at_start, 1.0, "one write at start");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        writes(&h.scrape().await),
        at_start,
        "idle: nothing rewritten"
    );

    report(
        &mut h.client.clone(),
        failure("wakes-it", error("Timeout", "", 0, 0)),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while writes(&h.scrape().await) == at_start {
        assert!(Instant::now() < deadline, "a change was never written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        writes(&h.scrape().await),
        at_start + 1.0,
        "one write per change, then idle again"
    );
    // The file on disk has the job (read it back into a fresh sidecar).
    let fresh = Harness::with_config(config(&path, "")).await;
    assert!(job(&mut fresh.client.clone(), "wakes-it").await.is_some());
    fresh.running.stop().await.expect("stop");
    h.running.stop().await.expect("stop");
}

// ---- the real binary ------------------------------------------------------

fn sidecar_args<'a>(path: &'a str, interval: &'a str, grpc: &'a str) -> Vec<&'a str> {
    vec![
        "--grpc-addr",
        grpc,
        "--metrics-addr",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--snapshot-path",
        path,
        "--snapshot-interval",
        interval,
    ]
}

/// A config file whose default policy never gives up on a transient error:
/// every report adds one to the count.
fn patient_config(d: &Path) -> PathBuf {
    let p = d.join("retryd.toml");
    std::fs::write(&p, "[policies.default]\nmax_retries = 10000\n").expect("config");
    p
}

fn spawn(path: &Path, interval: &str, grpc: &str, config: &Path) -> Sidecar {
    let path = path.to_str().expect("utf-8 path");
    let mut cmd = command(&sidecar_args(path, interval, grpc));
    cmd.env("RETRYD_CONFIG", config);
    Sidecar::spawn(cmd)
}

async fn counts(c: &mut Client, ids: &[String]) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    for id in ids {
        if let Some(j) = job(c, id).await {
            out.insert(id.clone(), j.failure_count);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_then_restart_keeps_every_count_and_dead_letter() {
    let d = dir("sigterm");
    let path = d.join("state.snap");
    let cfg = patient_config(&d);
    let mut first = spawn(&path, "1h", "127.0.0.1:0", &cfg);
    let c = &mut connect(first.grpc_addr).await;
    let ids: Vec<String> = (0..200).map(|i| format!("w-{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        for _ in 0..(1 + i % 4) {
            report(c, failure(id, error("Timeout", "", 0, 0))).await;
        }
    }
    for i in 0..20 {
        report(
            c,
            failure(&format!("dead-{i}"), error("ValidationError", "", 0, 0)),
        )
        .await;
    }
    let before = counts(c, &ids).await;
    assert_eq!(before.len(), 200);
    first.sigterm();
    let status = tokio::task::spawn_blocking(move || {
        first.wait_for("final snapshot written");
        first.wait_exit()
    })
    .await
    .expect("wait");
    assert_eq!(status.code(), Some(0));

    let second = spawn(&path, "1h", "127.0.0.1:0", &cfg);
    let c = &mut connect(second.grpc_addr).await;
    assert_eq!(counts(c, &ids).await, before);
    let dead = c
        .list_jobs(pb::ListJobsRequest {
            state: JobState::Dead as i32,
            ..Default::default()
        })
        .await
        .expect("ListJobs")
        .into_inner();
    assert_eq!(dead.total_size, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_after_a_snapshot_interval_loses_nothing_older_than_it() {
    let d = dir("kill9");
    let path = d.join("state.snap");
    let cfg = patient_config(&d);
    let mut first = spawn(&path, "200ms", "127.0.0.1:0", &cfg);
    let c = &mut connect(first.grpc_addr).await;
    let old: Vec<String> = (0..300).map(|i| format!("old-{i}")).collect();
    for (i, id) in old.iter().enumerate() {
        for _ in 0..(1 + i % 3) {
            report(c, failure(id, error("Timeout", "", 0, 0))).await;
        }
    }
    let before = counts(c, &old).await;
    // Wait until the snapshot count stands still for three intervals: a
    // sidecar rewrites only when something changed, so by then the last
    // write began after the last of these reports (and none failed).
    let writes = |text: &str, result: &str| {
        sample(text, "retryd_snapshot_writes_total", &[("result", result)]).unwrap_or(0.0)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let before = writes(&scrape(first.metrics_addr).await, "ok");
        tokio::time::sleep(Duration::from_millis(600)).await;
        let text = scrape(first.metrics_addr).await;
        assert_eq!(writes(&text, "error"), 0.0, "{text}");
        if writes(&text, "ok") == before && before >= 2.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "snapshots never settled:\n{text}"
        );
    }
    // Later reports may or may not make it; the old ones must.
    for i in 0..200 {
        report(c, failure(&format!("new-{i}"), error("Timeout", "", 0, 0))).await;
    }
    first.child.kill().expect("kill -9");
    let _ = first.child.wait();

    let second = spawn(&path, "200ms", "127.0.0.1:0", &cfg);
    let c = &mut connect(second.grpc_addr).await;
    assert_eq!(counts(c, &old).await, before);
}

#[test]
fn a_corrupt_snapshot_refuses_to_start_the_binary() {
    let d = dir("corrupt-binary");
    let path = d.join("state.snap");
    let junk = b"RETRYDSN\x01\0\0\0 and then nonsense".to_vec();
    std::fs::write(&path, &junk).expect("write");
    let out = command(&sidecar_args(
        path.to_str().expect("utf-8"),
        "5s",
        "127.0.0.1:0",
    ))
    .output()
    .expect("run retryd");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains("truncated"), "{stderr}");
    assert_eq!(std::fs::read(&path).expect("kept"), junk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_under_load_comes_back_serving_and_keeps_every_answered_report() {
    let d = dir("under-load");
    let path = d.join("state.snap");
    let cfg = patient_config(&d);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let grpc = format!("127.0.0.1:{port}");
    let mut first = spawn(&path, "200ms", &grpc, &cfg);
    let addr = first.grpc_addr;

    // Callers report round-robin over their own ids, and count per id the
    // reports answered and the reports whose fate they cannot know.
    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for t in 0..8 {
        let stop = stop.clone();
        callers.push(tokio::spawn(async move {
            let ids: Vec<String> = (0..25).map(|i| format!("load-{t}-{i}")).collect();
            let mut answered: HashMap<String, u32> = HashMap::new();
            let mut unknown: HashMap<String, u32> = HashMap::new();
            let mut after_restart = 0u32;
            let mut client: Option<Client> = None;
            let mut i = 0usize;
            let mut restarted = false;
            while !stop.load(Ordering::Relaxed) {
                let c = match &mut client {
                    Some(c) => c,
                    None => match pb::retry_coordinator_client::RetryCoordinatorClient::connect(
                        format!("http://{addr}"),
                    )
                    .await
                    {
                        Ok(c) => client.insert(c),
                        Err(_) => {
                            restarted = true;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    },
                };
                let id = &ids[i % ids.len()];
                match c
                    .report_failure(failure(id, error("Timeout", "", 0, 0)))
                    .await
                {
                    Ok(_) => {
                        *answered.entry(id.clone()).or_default() += 1;
                        if restarted {
                            after_restart += 1;
                        }
                        i += 1;
                    }
                    Err(_) => {
                        *unknown.entry(id.clone()).or_default() += 1;
                        restarted = true;
                        client = None;
                        i += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            (answered, unknown, after_restart)
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    first.sigterm();
    let status = tokio::task::spawn_blocking(move || first.wait_exit())
        .await
        .expect("wait");
    assert_eq!(status.code(), Some(0));
    let second = spawn(&path, "200ms", &grpc, &cfg);
    assert_eq!(second.grpc_addr, addr);
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, Ordering::Relaxed);

    let c = &mut connect(addr).await;
    for caller in callers {
        let (answered, unknown, after_restart) = caller.await.expect("caller");
        assert!(
            after_restart > 0,
            "a caller got no answer after the restart"
        );
        for (id, n) in &answered {
            let got = job(c, id).await.map_or(0, |j| j.failure_count);
            let maybe = unknown.get(id).copied().unwrap_or(0);
            assert!(
                got >= *n && got <= n + maybe,
                "{id}: {n} reports answered, {maybe} unknown, count {got}"
            );
        }
    }
}
