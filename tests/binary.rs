//! The real `retryd` binary: start-up, configuration precedence,
//! `check-config`, structured logs, and graceful shutdown on SIGTERM.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::sidecar::*;
use common::*;
use retryd::pb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_stops_cleanly_and_exits_0() {
    let mut sidecar = Sidecar::spawn(command(&EPHEMERAL));
    let client = connect(sidecar.grpc_addr).await;
    let done = Arc::new(AtomicUsize::new(0));

    // Callers hammer the sidecar; SIGTERM lands while calls are in flight.
    let mut callers = Vec::new();
    for t in 0..16 {
        let mut c = client.clone();
        let done = done.clone();
        callers.push(tokio::spawn(async move {
            for i in 0.. {
                let r = c
                    .report_failure(failure(
                        &format!("inflight-{t}-{i}"),
                        error("Timeout", "", 0, 0),
                    ))
                    .await;
                match r {
                    Ok(r) => {
                        assert!(r.into_inner().decision.is_some());
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    while done.load(Ordering::Relaxed) < 500 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sidecar.sigterm();
    for caller in callers {
        // Calls after the signal fail as the client sees the drain (refused,
        // GOAWAY, connection closed); that no call the server took loses its
        // answer is shown in-process by tests/shutdown.rs, where the state can
        // be inspected afterwards.
        caller.await.expect("caller task");
    }
    let status = tokio::task::spawn_blocking(move || {
        sidecar.wait_for("stopped");
        sidecar.wait_exit()
    })
    .await
    .expect("wait");
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_also_shuts_down_cleanly_and_serve_subcommand_works() {
    let mut args = vec!["serve"];
    args.extend(EPHEMERAL);
    let mut sidecar = Sidecar::spawn(command(&args));
    let mut c = connect(sidecar.grpc_addr).await;
    report(&mut c, failure("x", error("Timeout", "", 0, 0))).await;
    let ok = Command::new("kill")
        .args(["-INT", &sidecar.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
    let status = tokio::task::spawn_blocking(move || {
        let line = sidecar.wait_for("shutting down: finishing in-flight calls");
        assert_eq!(line["signal"], "SIGINT");
        sidecar.wait_exit()
    })
    .await
    .expect("wait");
    assert_eq!(status.code(), Some(0));
    // The client's connection was closed by the server, not left hanging.
    let err = c
        .get_job(pb::GetJobRequest { job_id: "x".into() })
        .await
        .expect_err("server gone");
    assert_eq!(err.code(), tonic::Code::Unavailable);
}

#[tokio::test]
async fn one_info_line_per_give_up_with_job_id_and_reason() {
    let mut sidecar = Sidecar::spawn(command(&EPHEMERAL));
    let mut c = connect(sidecar.grpc_addr).await;
    report(
        &mut c,
        failure("poison-7", error("ValidationError", "bad input", 0, 0)),
    )
    .await;
    let line = sidecar.wait_for("gave up on job");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["job_id"], "poison-7");
    assert_eq!(line["reason"], "permanent_error");
    assert_eq!(line["failures"], 1);
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("retryd-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("retryd.toml");
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(text.as_bytes()).expect("write");
    path
}

#[test]
fn check_config_accepts_a_good_file_and_names_every_problem_of_a_bad_one() {
    let good = temp_file(
        "good",
        "[policies.extraction]\nmax_retries = 3\nbackoff = { kind = \"exponential\", base = \"30s\", multiplier = 4.0 }\n\n[job_types]\nextraction = \"extraction\"\n",
    );
    let out = command(&["check-config", good.to_str().expect("utf-8")])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("OK"), "{text}");
    assert!(
        text.contains("extraction     max_attempts 4, backoff exponential 30s x 4"),
        "{text}"
    );
    assert!(text.contains("extraction -> extraction"), "{text}");

    let bad = temp_file(
        "bad",
        "[policies.extraction]\nbackoff = { kind = \"exponential\", multiplier = 0.5 }\n",
    );
    let out = command(&["check-config", bad.to_str().expect("utf-8")])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("policies.extraction.backoff.multiplier: must be >= 1.0"),
        "{err}"
    );

    // Two typos and a bad value: all three, in the order of the file.
    let typos = temp_file(
        "typos",
        "[state]\nmax_job = 5\n\n[policies.fast]\nmax_retries = -1\njiter = { kind = \"full\" }\n",
    );
    let out = command(&["check-config", typos.to_str().expect("utf-8")])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines[0].ends_with("3 problems:"), "{err}");
    assert_eq!(
        lines[1..],
        [
            "  state.max_job: unknown key (did you mean `max_jobs`?)",
            "  policies.fast.max_retries: must be >= 0, got -1",
            "  policies.fast.jiter: unknown key (did you mean `jitter`?)",
        ],
        "{err}"
    );

    let out = command(&["check-config", "/nonexistent/retryd.toml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("cannot read config file /nonexistent/retryd.toml")
    );
}

#[test]
fn serve_refuses_to_start_with_an_invalid_config() {
    let bad = temp_file("typo", "[state]\nmax_job = 10\n");
    let out = command(&[
        "--config",
        bad.to_str().expect("utf-8"),
        "--grpc-addr",
        "127.0.0.1:0",
    ])
    .output()
    .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("state.max_job: unknown key"));
}

#[test]
fn flag_beats_variable_beats_file() {
    // Distinct loopback addresses tell which setting won.
    let file = temp_file(
        "precedence",
        "[server]\ngrpc_addr = \"127.0.0.2:0\"\nmetrics_addr = \"127.0.0.2:0\"\n",
    );
    let path = file.to_str().expect("utf-8");
    let json = ["--log-format", "json"];

    let mut cmd = command(&json);
    cmd.env("RETRYD_CONFIG", path);
    let s = Sidecar::spawn(cmd);
    assert_eq!(s.grpc_addr.ip().to_string(), "127.0.0.2");
    drop(s);

    let mut cmd = command(&json);
    cmd.env("RETRYD_CONFIG", path)
        .env("RETRYD_GRPC_ADDR", "127.0.0.3:0");
    let s = Sidecar::spawn(cmd);
    assert_eq!(s.grpc_addr.ip().to_string(), "127.0.0.3");
    drop(s);

    let mut cmd = command(&[
        "--grpc-addr",
        "127.0.0.4:0",
        "--config",
        path,
        "--log-format",
        "json",
    ]);
    cmd.env("RETRYD_GRPC_ADDR", "127.0.0.3:0");
    let s = Sidecar::spawn(cmd);
    assert_eq!(s.grpc_addr.ip().to_string(), "127.0.0.4");
}

#[tokio::test]
async fn the_binary_serves_builtin_policies_with_no_config() {
    let sidecar = Sidecar::spawn(command(&EPHEMERAL));
    let mut c = connect(sidecar.grpc_addr).await;
    let d = report(&mut c, failure("plain", error("TimeoutError", "", 0, 0))).await;
    assert_eq!((d.policy.as_str(), secs(&d)), ("default", 2.0));
    let job = c
        .get_job(pb::GetJobRequest {
            job_id: "plain".into(),
        })
        .await
        .expect("get")
        .into_inner();
    assert!(job.job.is_some());
}

#[test]
fn a_client_that_never_lets_go_does_not_hold_up_shutdown_past_the_grace_period() {
    let mut args = EPHEMERAL.to_vec();
    args.extend(["--shutdown-grace", "1s"]);
    let mut sidecar = Sidecar::spawn(command(&args));
    // This runtime is then starved by the blocking waits below, so its
    // connection never answers the server's graceful-close handshake.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let addr = sidecar.grpc_addr;
    let _client = rt.block_on(async move {
        let mut c = connect(addr).await;
        report(&mut c, failure("held", error("Timeout", "", 0, 0))).await;
        c
    });
    let start = Instant::now();
    sidecar.sigterm();
    let line = sidecar.wait_for("shutdown grace period over: closing the connections still open");
    assert_eq!(line["level"], "WARN");
    assert_eq!(sidecar.wait_exit().code(), Some(0));
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_addr_serves_only_the_health_service() {
    let mut args = EPHEMERAL.to_vec();
    args.extend(["--health-addr", "127.0.0.1:0"]);
    let mut cmd = command(&args);
    cmd.env("RETRYD_LOG", "info");
    let mut sidecar = Sidecar::spawn(cmd);
    // The serving line was consumed by spawn; its health field is in `seen`.
    let serving: serde_json::Value = serde_json::from_str(
        sidecar
            .seen
            .iter()
            .find(|l| l.contains("retryd serving"))
            .expect("serving line"),
    )
    .expect("json");
    let health_addr: SocketAddr = serving["health"]
        .as_str()
        .expect("health field")
        .parse()
        .expect("addr");
    let channel = channel(health_addr).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "retryd.v1.RetryCoordinator".into(),
        })
        .await
        .expect("check")
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    // The API is not reachable through the probe port.
    let mut api = pb::retry_coordinator_client::RetryCoordinatorClient::new(channel);
    let err = api
        .get_stats(pb::GetStatsRequest {})
        .await
        .expect_err("not served here");
    assert_eq!(err.code(), tonic::Code::Unimplemented);
    sidecar.sigterm();
    let status = tokio::task::spawn_blocking(move || sidecar.wait_exit())
        .await
        .expect("wait");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigterm_right_after_start_is_still_graceful() {
    // The signal handlers are installed before the servers start, so even a
    // SIGTERM sent the moment retryd says it serves is a graceful stop.
    for _ in 0..5 {
        let mut sidecar = Sidecar::spawn(command(&EPHEMERAL));
        sidecar.sigterm();
        let line = sidecar.wait_for("shutting down: finishing in-flight calls");
        assert_eq!(line["signal"], "SIGTERM");
        assert_eq!(sidecar.wait_exit().code(), Some(0));
    }
}

#[tokio::test]
async fn sighup_reloads_and_keeps_the_sidecar_and_its_state() {
    let mut sidecar = Sidecar::spawn(command(&EPHEMERAL));
    let mut c = connect(sidecar.grpc_addr).await;
    report(&mut c, failure("kept", error("Timeout", "", 0, 0))).await;
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &sidecar.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(ok.success());
    // Without a file: the built-in defaults again (and the flags over them).
    let line = sidecar.wait_for("configuration reloaded");
    assert_eq!(line["trigger"], "SIGHUP");
    assert!(
        sidecar.child.try_wait().expect("try_wait").is_none(),
        "still running"
    );
    let job = c
        .get_job(pb::GetJobRequest {
            job_id: "kept".into(),
        })
        .await
        .expect("the job is still there")
        .into_inner()
        .job
        .expect("job");
    assert_eq!(job.failure_count, 1);
    sidecar.sigterm();
    let status = tokio::task::spawn_blocking(move || sidecar.wait_exit())
        .await
        .expect("wait");
    assert_eq!(status.code(), Some(0));
}
