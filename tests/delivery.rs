//! Delivery against a real server (memory backend): a report with a
//! payload parks the job; due, it is claimed (`ClaimDue`, `WatchDue`) by
//! one claimer under a lease; settled with the lease, extended, released,
//! or run out; fencing refuses a lease that is not the current one; the
//! delivery limit kills a poison job; an operator's retry replays a dead
//! one; bounds and bad input are refused and change nothing; a restart
//! from a snapshot keeps payloads and leases.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use retryd::pb;
use tonic::Code;

/// Retries after 300 ms, three of them.
const CONFIG: &str =
    "[policies.default]\nmax_retries = 3\nbackoff = { kind = \"constant\", delay = \"300ms\" }\n";

fn parked(job: &str, payload: &[u8], attempt: u32) -> pb::ReportFailureRequest {
    pb::ReportFailureRequest {
        job_id: job.into(),
        job_type: "mail".into(),
        error: Some(error("TimeoutError", "smtp timed out", 0, 0)),
        payload: payload.to_vec(),
        attempt,
        ..Default::default()
    }
}

fn ms(n: u64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration {
        seconds: (n / 1000) as i64,
        nanos: ((n % 1000) * 1_000_000) as i32,
    })
}

async fn claim(c: &mut Client, queue: &str, max: u32, lease_ms: u64) -> Vec<pb::DueJob> {
    c.claim_due(pb::ClaimDueRequest {
        queue: queue.into(),
        max_jobs: max,
        lease: ms(lease_ms),
    })
    .await
    .expect("claim")
    .into_inner()
    .jobs
}

/// Claims until `n` jobs came (or 5 s passed).
async fn claim_when_due(c: &mut Client, queue: &str, n: usize, lease_ms: u64) -> Vec<pb::DueJob> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < deadline {
        got.extend(claim(c, queue, (n - got.len()) as u32, lease_ms).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    got
}

async fn job(c: &mut Client, id: &str) -> pb::Job {
    c.get_job(pb::GetJobRequest { job_id: id.into() })
        .await
        .expect("get")
        .into_inner()
        .job
        .expect("job")
}

fn code<T>(r: Result<T, tonic::Status>) -> (Code, String) {
    match r {
        Ok(_) => (Code::Ok, String::new()),
        Err(s) => (s.code(), s.message().to_string()),
    }
}

#[tokio::test]
async fn a_parked_job_is_handed_to_one_claimer_when_due_and_settled_by_its_lease() {
    let mut h = Harness::start(CONFIG).await;
    let c = &mut h.client;
    let d = report(c, parked("m1", b"{\"to\":\"a@b\"}", 1)).await;
    assert_eq!(d.action(), pb::Action::Retry);
    let j = job(c, "m1").await;
    assert_eq!(
        (j.queue.as_str(), j.payload_bytes, j.deliveries),
        ("mail", 12, 0)
    );
    assert!(j.lease_until.is_none());

    // Not due yet: nothing to claim.
    assert!(claim(c, "mail", 10, 30_000).await.is_empty());
    let got = claim_when_due(c, "mail", 1, 30_000).await;
    assert_eq!(got.len(), 1, "the job came due");
    let due = &got[0];
    assert_eq!(due.job_id, "m1");
    assert_eq!(due.payload, b"{\"to\":\"a@b\"}");
    assert_eq!((due.attempt, due.deliveries), (2, 1));
    assert_eq!(due.job_type, "mail");
    assert_eq!(
        due.last_error.as_ref().map(|e| e.message.as_str()),
        Some("smtp timed out")
    );
    assert!(!due.lease_id.is_empty());
    // Handed to this claimer alone.
    assert!(claim(c, "mail", 10, 30_000).await.is_empty());
    let j = job(c, "m1").await;
    assert_eq!(j.deliveries, 1);
    assert!(j.lease_until.is_some());

    // Fencing: no lease, or another one, is refused and changes nothing.
    let (code_, msg) = code(
        c.report_success(pb::ReportSuccessRequest {
            job_id: "m1".into(),
            ..Default::default()
        })
        .await,
    );
    assert_eq!(code_, Code::FailedPrecondition);
    assert!(msg.contains("lease_id"), "{msg}");
    let (code_, msg) = code(
        c.report_success(pb::ReportSuccessRequest {
            job_id: "m1".into(),
            lease_id: "00000000deadbeef".into(),
            ..Default::default()
        })
        .await,
    );
    assert_eq!(code_, Code::FailedPrecondition);
    assert!(
        msg.contains("lease_id") && msg.contains("not the current lease"),
        "{msg}"
    );
    assert_eq!(job(c, "m1").await.deliveries, 1);

    let done = c
        .report_success(pb::ReportSuccessRequest {
            job_id: "m1".into(),
            job_type: "mail".into(),
            lease_id: due.lease_id.clone(),
            ..Default::default()
        })
        .await
        .expect("success")
        .into_inner();
    assert!(done.known);
    assert_eq!(done.failures_before_success, 1);
    let gone = c
        .get_job(pb::GetJobRequest {
            job_id: "m1".into(),
        })
        .await;
    assert_eq!(gone.err().map(|s| s.code()), Some(Code::NotFound));
}

#[tokio::test]
async fn a_report_without_payload_is_not_held_for_delivery() {
    let mut h = Harness::start(CONFIG).await;
    let c = &mut h.client;
    report(c, failure("plain", error("TimeoutError", "x", 0, 0))).await;
    let j = job(c, "plain").await;
    assert_eq!((j.queue.as_str(), j.payload_bytes), ("", 0));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(claim(c, "default", 10, 1000).await.is_empty());
    let queues = c
        .list_queues(pb::ListQueuesRequest {})
        .await
        .expect("queues")
        .into_inner()
        .queues;
    assert!(queues.is_empty(), "{queues:?}");
}

#[tokio::test]
async fn a_failure_reported_with_the_lease_parks_the_job_again_and_a_stale_lease_is_refused() {
    let mut h = Harness::start(CONFIG).await;
    let c = &mut h.client;
    report(c, parked("m2", b"p", 1)).await;
    let first = claim_when_due(c, "mail", 1, 30_000).await.remove(0);
    let d = report(
        c,
        pb::ReportFailureRequest {
            lease_id: first.lease_id.clone(),
            payload: Vec::new(),
            ..parked("m2", b"", first.attempt)
        },
    )
    .await;
    assert_eq!((d.action(), d.failure_count), (pb::Action::Retry, 2));
    // The payload is kept, the lease is over.
    let j = job(c, "m2").await;
    assert_eq!((j.payload_bytes, j.lease_until), (1, None));
    let second = claim_when_due(c, "mail", 1, 30_000).await.remove(0);
    assert_eq!((second.attempt, second.deliveries), (3, 2));
    assert_ne!(second.lease_id, first.lease_id);
    // The first worker comes back with its old lease: refused, nothing changed.
    let r = c
        .report_failure(pb::ReportFailureRequest {
            lease_id: first.lease_id.clone(),
            ..parked("m2", b"", 3)
        })
        .await;
    assert_eq!(r.err().map(|s| s.code()), Some(Code::FailedPrecondition));
    assert_eq!(job(c, "m2").await.failure_count, 2);
}

#[tokio::test]
async fn a_lease_that_runs_out_redelivers_and_the_delivery_limit_kills_a_poison_job() {
    let mut h = Harness::start(&format!("{CONFIG}[delivery]\nmax_deliveries = 2\n")).await;
    let c = &mut h.client;
    report(c, parked("poison", b"crash me", 1)).await;
    let a = claim_when_due(c, "mail", 1, 200).await.remove(0);
    // Its worker died: the lease runs out and the job is due again.
    let b = claim_when_due(c, "mail", 1, 200).await;
    assert_eq!(b.len(), 1, "redelivered after the lease ran out");
    assert_eq!(b[0].deliveries, 2);
    assert_ne!(b[0].lease_id, a.lease_id);
    // The second unsettled hand-out's lease runs out too: dead.
    let deadline = Instant::now() + Duration::from_secs(5);
    let j = loop {
        let j = job(c, "poison").await;
        if j.state() == pb::JobState::Dead || Instant::now() > deadline {
            break j;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(j.state(), pb::JobState::Dead);
    let d = j.last_decision.expect("decision");
    assert_eq!(d.reason(), pb::GiveUpReason::DeliveryLimit);
    assert!(
        d.explanation.contains("max_deliveries 2"),
        "{}",
        d.explanation
    );
    assert_eq!(j.payload_bytes, 8, "a dead job keeps its payload");
    let text = h.scrape().await;
    assert_eq!(
        sample(
            &text,
            "retryd_delivery_lease_expired_total",
            &[("queue", "mail")]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "retryd_deliveries_total", &[("queue", "mail")]),
        Some(2.0)
    );
    assert!(claim(&mut h.client, "mail", 10, 1000).await.is_empty());

    // Replay: an operator's retry makes the dead job due now, and it runs again.
    let c = &mut h.client;
    let revived = c
        .retry_job(pb::RetryJobRequest {
            job_id: "poison".into(),
            reset_failures: None,
        })
        .await
        .expect("retry")
        .into_inner()
        .job
        .expect("job");
    assert_eq!(revived.state(), pb::JobState::Retrying);
    let again = claim(c, "mail", 10, 30_000).await;
    assert_eq!(again.len(), 1, "replayed at once");
    assert_eq!(again[0].payload, b"crash me");
    c.report_success(pb::ReportSuccessRequest {
        job_id: "poison".into(),
        lease_id: again[0].lease_id.clone(),
        ..Default::default()
    })
    .await
    .expect("settled");
}

#[tokio::test]
async fn extend_keeps_a_long_run_and_release_hands_the_job_back_uncounted() {
    let mut h = Harness::start(CONFIG).await;
    let c = &mut h.client;
    report(c, parked("long", b"x", 1)).await;
    // A 1 s lease, extended every 150 ms by 10 s: the extensions have
    // most of a second of slack on a slow machine, and the wait past the
    // first lease's end is the test's own.
    let j = claim_when_due(c, "mail", 1, 1000).await.remove(0);
    let first_end = j.lease_until.expect("lease_until");
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let until = c
            .extend_lease(pb::ExtendLeaseRequest {
                job_id: "long".into(),
                lease_id: j.lease_id.clone(),
                lease: ms(10_000),
            })
            .await
            .expect("extend")
            .into_inner()
            .lease_until
            .expect("lease_until");
        assert!(
            until.seconds >= first_end.seconds + 8,
            "{until:?} after {first_end:?}"
        );
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    // Extended past its first lease's end: never handed out again.
    assert!(claim(c, "mail", 10, 1000).await.is_empty());
    c.release_job(pb::ReleaseJobRequest {
        job_id: "long".into(),
        lease_id: j.lease_id.clone(),
        delay: None,
    })
    .await
    .expect("release");
    let after = job(c, "long").await;
    assert_eq!(after.failure_count, 1, "a release counts no failure");
    let back = claim(c, "mail", 10, 1000).await;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].attempt, j.attempt, "the same attempt again");
    // The released lease settles nothing any more.
    let r = c
        .extend_lease(pb::ExtendLeaseRequest {
            job_id: "long".into(),
            lease_id: j.lease_id.clone(),
            lease: None,
        })
        .await;
    assert_eq!(r.err().map(|s| s.code()), Some(Code::FailedPrecondition));
}

#[tokio::test]
async fn watch_due_streams_due_jobs_never_more_than_max_in_flight_unsettled() {
    let mut h = Harness::start(CONFIG).await;
    let c = &mut h.client;
    for i in 0..5 {
        report(c, parked(&format!("w{i}"), b"w", 1)).await;
    }
    let mut stream = c
        .watch_due(pb::WatchDueRequest {
            queue: "mail".into(),
            max_in_flight: 2,
            lease: ms(30_000),
        })
        .await
        .expect("watch")
        .into_inner();
    let next = async |s: &mut tonic::Streaming<pb::DueJob>| {
        tokio::time::timeout(Duration::from_secs(5), s.next())
            .await
            .expect("a due job in time")
            .expect("stream open")
            .expect("a job")
    };
    let a = next(&mut stream).await;
    let b = next(&mut stream).await;
    // Two unsettled: the third waits.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), stream.next())
            .await
            .is_err(),
        "a third job came while two were unsettled"
    );
    let mut c2 = connect(h.running.grpc_addr).await;
    c2.report_success(pb::ReportSuccessRequest {
        job_id: a.job_id.clone(),
        lease_id: a.lease_id.clone(),
        ..Default::default()
    })
    .await
    .expect("settle");
    let third = next(&mut stream).await;
    assert!(![&a.job_id, &b.job_id].contains(&&third.job_id));
    // A job parked now, due soon, comes through the same stream.
    drop(stream);
    let mut ids: Vec<String> = vec![a.job_id, b.job_id, third.job_id];
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3);
}

#[tokio::test]
async fn a_watcher_is_woken_when_a_job_falls_due() {
    let mut h = Harness::start(CONFIG).await;
    let mut stream = h
        .client
        .watch_due(pb::WatchDueRequest {
            queue: "orders".into(),
            max_in_flight: 10,
            lease: None,
        })
        .await
        .expect("watch")
        .into_inner();
    // Nothing parked yet: the watcher waits; then a job is parked.
    let mut c = connect(h.running.grpc_addr).await;
    let started = Instant::now();
    report(
        &mut c,
        pb::ReportFailureRequest {
            queue: "orders".into(),
            ..parked("o1", b"order", 1)
        },
    )
    .await;
    let got = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("in time")
        .expect("open")
        .expect("job");
    assert_eq!((got.job_id.as_str(), got.queue.as_str()), ("o1", "orders"));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "handed out before due: {waited:?}"
    );
}

#[tokio::test]
async fn bounds_and_bad_input_are_refused_and_change_nothing() {
    let mut h = Harness::start(&format!(
        "{CONFIG}[delivery]\nmax_payload_bytes = 1000\nmax_parked_bytes = 1500\n"
    ))
    .await;
    let c = &mut h.client;
    let (code_, msg) = code(c.report_failure(parked("big", &[7; 1001], 1)).await);
    assert_eq!(code_, Code::ResourceExhausted);
    assert!(
        msg.contains("payload") && msg.contains("max_payload_bytes"),
        "{msg}"
    );
    report(c, parked("a", &[1; 1000], 1)).await;
    let (code_, msg) = code(c.report_failure(parked("b", &[2; 600], 1)).await);
    assert_eq!(code_, Code::ResourceExhausted);
    assert!(msg.contains("max_parked_bytes"), "{msg}");
    for id in ["big", "b"] {
        let r = c.get_job(pb::GetJobRequest { job_id: id.into() }).await;
        assert_eq!(r.err().map(|s| s.code()), Some(Code::NotFound), "{id}");
    }
    // Replacing a's payload with a smaller one fits.
    report(c, parked("a", &[3; 500], 2)).await;
    assert_eq!(job(c, "a").await.payload_bytes, 500);
    report(c, parked("b", &[2; 600], 1)).await;

    for (req, field) in [
        (
            pb::ClaimDueRequest {
                queue: "mail".into(),
                max_jobs: 0,
                lease: None,
            },
            "max_jobs",
        ),
        (
            pb::ClaimDueRequest {
                queue: String::new(),
                max_jobs: 1,
                lease: None,
            },
            "queue",
        ),
        (
            pb::ClaimDueRequest {
                queue: "bad\u{7}queue".into(),
                max_jobs: 1,
                lease: None,
            },
            "queue",
        ),
        (
            pb::ClaimDueRequest {
                queue: "mail".into(),
                max_jobs: 1,
                lease: ms(13 * 3600 * 1000),
            },
            "lease",
        ),
    ] {
        let (code_, msg) = code(c.claim_due(req).await);
        assert_eq!(code_, Code::InvalidArgument, "{field}: {msg}");
        assert!(msg.starts_with(field), "{field}: {msg}");
    }
    let (code_, msg) = code(
        c.report_failure(pb::ReportFailureRequest {
            queue: "x".repeat(129),
            ..parked("q", b"p", 1)
        })
        .await,
    );
    assert_eq!(code_, Code::InvalidArgument);
    assert!(msg.starts_with("queue"), "{msg}");
    // Above 1000 is lowered, not refused.
    let r = c
        .claim_due(pb::ClaimDueRequest {
            queue: "mail".into(),
            max_jobs: 5000,
            lease: None,
        })
        .await;
    assert!(r.is_ok());
}

#[tokio::test]
async fn with_delivery_off_payloads_and_claims_are_refused() {
    let mut h = Harness::start(&format!("{CONFIG}[delivery]\nenabled = false\n")).await;
    let c = &mut h.client;
    let (code_, msg) = code(c.report_failure(parked("off", b"p", 1)).await);
    assert_eq!(code_, Code::FailedPrecondition);
    assert!(msg.contains("enabled = false"), "{msg}");
    let r = c
        .claim_due(pb::ClaimDueRequest {
            queue: "mail".into(),
            max_jobs: 1,
            lease: None,
        })
        .await;
    assert_eq!(r.err().map(|s| s.code()), Some(Code::FailedPrecondition));
    // Plain reports work as ever.
    report(c, failure("plain", error("TimeoutError", "x", 0, 0))).await;
}

#[tokio::test]
async fn a_restart_from_a_snapshot_keeps_payloads_queues_and_leases() {
    let dir = std::env::temp_dir().join(format!("retryd-delivery-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("state.snap");
    let _ = std::fs::remove_file(&path);
    let config = format!("{CONFIG}[state]\nsnapshot_path = \"{}\"\n", path.display());
    let mut first = Harness::start(&config).await;
    let c = &mut first.client;
    report(c, parked("keep", b"leased one", 1)).await;
    report(
        c,
        pb::ReportFailureRequest {
            queue: "later".into(),
            error: Some(error("TimeoutError", "x", 0, 0)),
            ..parked("wait", b"parked one", 1)
        },
    )
    .await;
    let leased = claim_when_due(c, "mail", 1, 60_000).await.remove(0);
    first.running.stop().await.expect("stop");

    let mut second = Harness::start(&config).await;
    let c = &mut second.client;
    let j = job(c, "keep").await;
    assert_eq!((j.payload_bytes, j.deliveries), (10, 1));
    assert!(j.lease_until.is_some(), "still leased");
    // The lease from before the restart still settles the job.
    assert!(claim(c, "mail", 10, 1000).await.is_empty());
    let later = claim_when_due(c, "later", 1, 1000).await;
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].payload, b"parked one");
    c.report_success(pb::ReportSuccessRequest {
        job_id: "keep".into(),
        lease_id: leased.lease_id,
        ..Default::default()
    })
    .await
    .expect("the old lease settles");
    second.running.stop().await.expect("stop");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_cli_lists_the_queues() {
    let mut h = Harness::start(CONFIG).await;
    report(&mut h.client, parked("c1", b"12345", 1)).await;
    report(
        &mut h.client,
        pb::ReportFailureRequest {
            queue: "orders".into(),
            ..parked("c2", b"1234567", 1)
        },
    )
    .await;
    let out = retryd(&h, &["due"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    assert!(lines[0].starts_with("QUEUE"), "{}", out.stdout);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("mail") && l.contains(" 5 ")),
        "{}",
        out.stdout
    );
    let json = retryd(&h, &["due", "--queue", "orders", "-o", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    let queues = v["queues"].as_array().expect("queues");
    assert_eq!(queues.len(), 1);
    assert_eq!(queues[0]["queue"], "orders");
    assert_eq!(queues[0]["parked"], 1);
    assert_eq!(queues[0]["parked_bytes"], 7);
    let get = retryd(&h, &["jobs", "get", "c1"]).await;
    assert!(
        get.stdout.contains("queue mail, payload 5 bytes"),
        "{}",
        get.stdout
    );
}
