//! Live operations against a real server: pausing retries (gRPC and the
//! CLI, the admin token, expiry), and watching events (filters, the CLI's
//! lines and JSON lines, a watcher that falls behind).

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use retryd::pb;
use tonic::Request;

const BIN: &str = env!("CARGO_BIN_EXE_retryd");

fn failure_of(job: &str, job_type: &str, target: &str, t: &str) -> pb::ReportFailureRequest {
    pb::ReportFailureRequest {
        job_id: job.into(),
        job_type: job_type.into(),
        target: target.into(),
        error: Some(error(t, "it broke", 0, 0)),
        ..Default::default()
    }
}

fn with_token<T>(m: T, token: &str) -> Request<T> {
    let mut r = Request::new(m);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    r
}

async fn resume_invoices(c: &mut Client) -> Result<(), tonic::Status> {
    c.resume_retries(with_token(
        pb::ResumeRetriesRequest {
            job_type: "invoice".into(),
            ..Default::default()
        },
        "s3cret",
    ))
    .await
    .map(drop)
}

const CONFIG: &str = "pause_recheck = \"45s\"\n[policies.default]\nmax_retries = 2\nbackoff = { kind = \"constant\", delay = \"1s\" }\n";

#[tokio::test]
async fn a_paused_job_type_retries_after_the_pause_and_keeps_its_retries() {
    let mut cfg = retryd::config::Config::from_toml(CONFIG).expect("config");
    cfg.admin_token = Some("s3cret".into());
    let mut h = Harness::with_config(cfg).await;
    let c = &mut h.client;
    report(c, failure_of("j1", "invoice", "", "TimeoutError")).await;

    // The admin token is required.
    let pause = pb::PauseRetriesRequest {
        job_type: "invoice".into(),
        duration: Some(prost_types::Duration {
            seconds: 1800,
            nanos: 0,
        }),
        ..Default::default()
    };
    let denied = c.pause_retries(pause.clone()).await.expect_err("no token");
    assert_eq!(denied.code(), tonic::Code::Unauthenticated);
    // Exactly one of job_type and target.
    let both = c
        .pause_retries(with_token(
            pb::PauseRetriesRequest {
                job_type: "a".into(),
                target: "b".into(),
                ..Default::default()
            },
            "s3cret",
        ))
        .await
        .expect_err("both");
    assert_eq!(both.code(), tonic::Code::InvalidArgument);
    assert!(both.message().contains("target"), "{}", both.message());

    let p = c
        .pause_retries(with_token(pause, "s3cret"))
        .await
        .expect("paused")
        .into_inner()
        .pause
        .expect("pause");
    assert_eq!(p.job_type, "invoice");
    let until = p.until.expect("timed").seconds;
    let created = p.created_at.expect("created").seconds;
    assert!((until - created - 1800).abs() <= 1);

    // Four failures while paused: each retries at the pause's end, none counts.
    for _ in 0..4 {
        let d = report(c, failure_of("j1", "invoice", "", "TimeoutError")).await;
        assert_eq!(d.action, pb::Action::Retry as i32);
        assert_eq!(d.failure_count, 1);
        assert_eq!(d.retry_at.as_ref().map(|t| t.seconds), Some(until));
        assert!(
            d.explanation.contains("paused by an operator"),
            "{}",
            d.explanation
        );
    }
    // Another job type is not paused; a permanent error still gives up.
    let d = report(c, failure_of("m1", "mail", "", "TimeoutError")).await;
    assert_eq!((d.failure_count, secs(&d)), (1, 1.0));
    let d = report(c, failure_of("j2", "invoice", "", "ValidationError")).await;
    assert_eq!(d.action, pb::Action::GiveUp as i32);
    // Explain says a pause decides.
    let e = explain(
        c,
        pb::ExplainRequest {
            job_id: "j1".into(),
            job_type: "invoice".into(),
            error: Some(error("TimeoutError", "x", 0, 0)),
            ..Default::default()
        },
    )
    .await;
    assert!(e.explanation.contains("paused"), "{}", e.explanation);

    let listed = pauses(c).await;
    assert_eq!(listed.len(), 1);
    let text = h.scrape().await;
    assert_eq!(sample(&text, "retryd_pauses", &[]), Some(1.0));

    // Resumed: the job has both of its retries left.
    resume_invoices(&mut h.client).await.expect("resumed");
    let c = &mut h.client;
    let d = report(c, failure_of("j1", "invoice", "", "TimeoutError")).await;
    assert_eq!((d.action, d.failure_count), (pb::Action::Retry as i32, 2));
    let d = report(c, failure_of("j1", "invoice", "", "TimeoutError")).await;
    assert_eq!((d.action, d.failure_count), (pb::Action::GiveUp as i32, 3));
    // Resuming what is not paused: NOT_FOUND.
    let again = resume_invoices(c).await.expect_err("not paused");
    assert_eq!(again.code(), tonic::Code::NotFound);
    h.running.stop().await.expect("stops");
}

#[tokio::test]
async fn the_cli_pauses_a_target_lists_it_and_a_timed_pause_runs_out() {
    let mut h = Harness::start(CONFIG).await;
    // Open-ended: retries are asked again after pause_recheck (45 s here).
    let o = retryd(&h, &["pause", "--target", "s3"]).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "paused retries of target s3 until resumed\n");
    let d = report(&mut h.client, failure_of("a", "mail", "s3", "TimeoutError")).await;
    assert_eq!((secs(&d), d.failure_count), (45.0, 0));
    let o = retryd(&h, &["pauses", "--output", "json"]).await;
    assert_eq!(o.code, 0);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).expect("json");
    assert_eq!(v["pauses"][0]["target"], "s3");
    assert!(v["pauses"][0]["until"].is_null());
    let o = retryd(&h, &["resume", "--target", "s3"]).await;
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "resumed retries of target s3\n")
    );
    // Neither or both: a usage error before any call.
    let o = retryd(&h, &["pause"]).await;
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("--job-type"), "{}", o.stderr);

    // A 2-second pause ends by itself.
    let o = retryd(&h, &["pause", "--job-type", "mail", "--for", "2s"]).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let d = report(&mut h.client, failure_of("b", "mail", "", "TimeoutError")).await;
    assert!(secs(&d) > 0.5 && secs(&d) <= 2.0, "{}", secs(&d));
    assert_eq!(d.failure_count, 0);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let d = report(&mut h.client, failure_of("b", "mail", "", "TimeoutError")).await;
    assert_eq!((secs(&d), d.failure_count), (1.0, 1));
    assert_eq!(retryd(&h, &["pauses"]).await.stdout, "no pauses in force\n");
    h.running.stop().await.expect("stops");
}

async fn next(s: &mut tonic::Streaming<pb::Event>) -> pb::Event {
    tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .expect("an event in time")
        .expect("the stream goes on")
        .expect("an event")
}

#[tokio::test]
async fn watchers_see_the_events_they_filter_for() {
    let mut h = Harness::start(CONFIG).await;
    let addr = h.running.grpc_addr;
    let mut all = watch(&mut connect(addr).await, pb::WatchEventsRequest::default()).await;
    let mut gave_up = watch(
        &mut connect(addr).await,
        pb::WatchEventsRequest {
            job_type: "invoice".into(),
            kinds: vec![pb::EventKind::GaveUp as i32],
            ..Default::default()
        },
    )
    .await;
    let bad = connect(h.running.grpc_addr)
        .await
        .watch_events(pb::WatchEventsRequest {
            kinds: vec![99],
            ..Default::default()
        })
        .await
        .expect_err("unknown kind");
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);

    let c = &mut h.client;
    report(c, failure_of("i1", "invoice", "", "TimeoutError")).await;
    report(c, failure_of("m1", "mail", "", "ValidationError")).await;
    report(c, failure_of("i2", "invoice", "", "ValidationError")).await;
    c.report_success(pb::ReportSuccessRequest {
        job_id: "i1".into(),
        job_type: "invoice".into(),
        ..Default::default()
    })
    .await
    .expect("success");
    c.pause_retries(pb::PauseRetriesRequest {
        target: "s3".into(),
        ..Default::default()
    })
    .await
    .expect("pause");

    let kinds: Vec<(i32, String)> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            let e = next(&mut all).await;
            v.push((e.kind, e.job_id.clone()));
        }
        v
    };
    use pb::EventKind as K;
    assert_eq!(
        kinds,
        vec![
            (K::RetryScheduled as i32, "i1".into()),
            (K::GaveUp as i32, "m1".into()),
            (K::GaveUp as i32, "i2".into()),
            (K::SucceededAfterRetry as i32, "i1".into()),
            (K::Paused as i32, String::new()),
        ]
    );
    let e = next(&mut gave_up).await;
    assert_eq!((e.kind, e.job_id.as_str()), (K::GaveUp as i32, "i2"));
    let d = e.decision.expect("a decision");
    assert_eq!(d.reason, pb::GiveUpReason::PermanentError as i32);
    assert!(e.at.is_some());
    assert_eq!(e.dropped, 0);
    let text = h.scrape().await;
    assert!(text.contains("retryd_event_watchers"), "{text}");
    h.running
        .stop()
        .await
        .expect("watch streams end at shutdown");
}

#[tokio::test]
async fn the_cli_prints_events_as_lines_and_json_lines() {
    let mut h = Harness::start(CONFIG).await;
    let addr = h.running.grpc_addr.to_string();
    let spawn = |args: &[&str]| {
        tokio::process::Command::new(BIN)
            .args(args)
            .env("RETRYD_ADDR", &addr)
            .output()
    };
    let lines = spawn(&["events", "--kind", "gave_up", "--count", "1"]);
    let json = spawn(&[
        "events",
        "--job-type",
        "mail",
        "--count",
        "2",
        "--output",
        "json",
    ]);
    let reports = async {
        // Let both watchers subscribe first.
        tokio::time::sleep(Duration::from_millis(800)).await;
        report(&mut h.client, failure_of("a", "mail", "", "TimeoutError")).await;
        report(
            &mut h.client,
            failure_of("a", "mail", "", "ValidationError"),
        )
        .await;
    };
    let (lines, json, ()) = tokio::join!(lines, json, reports);
    let lines = lines.expect("run");
    let text = String::from_utf8_lossy(&lines.stdout);
    assert!(
        lines.status.success(),
        "{}",
        String::from_utf8_lossy(&lines.stderr)
    );
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains(" gave_up job=a type=mail: permanent error"),
        "{text}"
    );
    let json = json.expect("run");
    let out = String::from_utf8_lossy(&json.stdout);
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(events.len(), 2, "{out}");
    assert_eq!(events[0]["kind"], "retry_scheduled");
    assert_eq!(events[0]["decision"]["action"], "retry");
    assert_eq!(events[1]["kind"], "gave_up");
    assert_eq!(events[1]["decision"]["reason"], "permanent_error");
    h.running.stop().await.expect("stops");
}

/// A watcher that reads nothing falls behind without slowing reports: the
/// reports all complete, and once it reads, the next event says how many
/// it missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_falls_behind_is_told_what_it_missed() {
    let h = Harness::start(CONFIG).await;
    // Small HTTP/2 windows: what the watcher does not read stays in the
    // sidecar's ring, not in megabytes of transport buffers.
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", h.running.grpc_addr))
            .expect("endpoint")
            .initial_stream_window_size(Some(16 * 1024))
            .initial_connection_window_size(Some(16 * 1024))
            .connect()
            .await
            .expect("connect");
    let mut slow = watch(
        &mut pb::retry_coordinator_client::RetryCoordinatorClient::new(channel),
        pb::WatchEventsRequest {
            kinds: vec![pb::EventKind::GaveUp as i32],
            ..Default::default()
        },
    )
    .await;
    let addr = h.running.grpc_addr;
    let mut tasks = Vec::new();
    for w in 0..8 {
        tasks.push(tokio::spawn(async move {
            let mut c = connect(addr).await;
            for i in 0..1000 {
                report(
                    &mut c,
                    failure_of(&format!("w{w}-{i}"), "mail", "", "ValidationError"),
                )
                .await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("reporter");
    }
    let mut seen = 0u64;
    let mut dropped = 0u64;
    while seen + dropped < 8000 {
        let e = next(&mut slow).await;
        seen += 1;
        dropped += e.dropped;
    }
    assert_eq!(seen + dropped, 8000);
    assert!(
        dropped > 0,
        "8000 events into a ring of 4096: some were skipped"
    );
    let text = h.scrape().await;
    let counted = sample(&text, "retryd_events_dropped_total", &[]).unwrap_or(0.0);
    // The metric is refreshed every second.
    assert!(counted <= dropped as f64);
    h.running.stop().await.expect("stops");
}
