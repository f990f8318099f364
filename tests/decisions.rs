//! Decision paths over gRPC, against a real server on 127.0.0.1.

mod common;

use common::*;
use retryd::pb::{self, Action, ErrorClass, GiveUpReason, JobState};

const EXAMPLES_CONFIG: &str = r#"
[policies.extraction]
max_retries = 3
backoff = { kind = "exponential", base = "30s", multiplier = 4.0 }
jitter = { kind = "proportional", fraction = 0.25 }
max_delay = "1h"
category_limits = { rate_limit = 10 }

[policies.extraction_exact]
max_retries = 3
backoff = { kind = "exponential", base = "30s", multiplier = 4.0 }

[policies.pipeline]
max_retries = 3
backoff = { kind = "schedule", delays = ["60s", "300s", "900s"] }

[policies.three_attempts]
max_attempts = 3

[job_types]
extraction = "extraction"
chunking = "pipeline"

[[rules]]
category = "docker"
class = "transient"
message_regex = ["connection.*refused"]
"#;

fn action(d: &pb::Decision) -> Action {
    Action::try_from(d.action).expect("known action")
}

fn reason(d: &pb::Decision) -> GiveUpReason {
    GiveUpReason::try_from(d.reason).expect("known reason")
}

#[tokio::test]
async fn worked_example_schedule_by_job_type() {
    let mut h = Harness::start(EXAMPLES_CONFIG).await;
    for want in [60.0, 300.0, 900.0] {
        let mut r = failure("doc-1", error("ConnectionError", "", 0, 0));
        r.job_type = "chunking".into();
        let d = report(&mut h.client, r).await;
        assert_eq!(
            (action(&d), secs(&d), d.policy.as_str()),
            (Action::Retry, want, "pipeline")
        );
    }
    let mut r = failure("doc-1", error("ConnectionError", "", 0, 0));
    r.job_type = "chunking".into();
    let d = report(&mut h.client, r).await;
    assert_eq!(
        (action(&d), reason(&d)),
        (Action::GiveUp, GiveUpReason::RetriesExhausted)
    );
    assert_eq!((d.failure_count, d.max_attempts), (4, 4));
}

#[tokio::test]
async fn worked_example_exponential_and_its_jitter() {
    let mut h = Harness::start(EXAMPLES_CONFIG).await;
    for want in [30.0, 120.0, 480.0] {
        let mut r = failure("x-1", error("TimeoutError", "", 0, 0));
        r.policy = "extraction_exact".into();
        assert_eq!(secs(&report(&mut h.client, r).await), want);
    }
    let mut r = failure("x-1", error("TimeoutError", "", 0, 0));
    r.policy = "extraction_exact".into();
    assert_eq!(
        reason(&report(&mut h.client, r).await),
        GiveUpReason::RetriesExhausted
    );

    // Proportional jitter 0.25: each delay in [d, 1.25 d].
    for job in 0..20 {
        let id = format!("jittered-{job}");
        for base in [30.0, 120.0, 480.0] {
            let mut r = failure(&id, error("TimeoutError", "", 0, 0));
            r.job_type = "extraction".into();
            let got = secs(&report(&mut h.client, r).await);
            assert!(
                got >= base && got <= base * 1.25,
                "{got} not in [{base}, {}]",
                base * 1.25
            );
        }
    }
}

#[tokio::test]
async fn worked_example_max_attempts() {
    let mut h = Harness::start(EXAMPLES_CONFIG).await;
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let mut r = failure("m-1", error("Timeout", "", 0, 0));
        r.policy = "three_attempts".into();
        let d = report(&mut h.client, r).await;
        outcomes.push((action(&d), d.max_attempts));
    }
    assert_eq!(
        outcomes,
        [(Action::Retry, 3), (Action::Retry, 3), (Action::GiveUp, 3)]
    );
}

#[tokio::test]
async fn builtin_policies_without_config() {
    let mut h = Harness::builtin().await;
    let d1 = report(
        &mut h.client,
        failure(
            "b-1",
            error("requests.exceptions.ConnectionError", "", 0, 0),
        ),
    )
    .await;
    let d2 = report(
        &mut h.client,
        failure("b-1", error("ConnectionError", "", 0, 0)),
    )
    .await;
    let d3 = report(
        &mut h.client,
        failure("b-1", error("ConnectionError", "", 0, 0)),
    )
    .await;
    assert_eq!((secs(&d1), secs(&d2)), (2.0, 4.0));
    assert_eq!(
        (action(&d3), reason(&d3), d3.policy.as_str()),
        (Action::GiveUp, GiveUpReason::RetriesExhausted, "default")
    );
    assert_eq!(d1.category, "network");
    assert_eq!(
        ErrorClass::try_from(d1.error_class),
        Ok(ErrorClass::Transient)
    );
    assert!(d1.retry_at.is_some() && d3.retry_at.is_none());

    // Priority bands: >= 80 high_priority (0.5 s base), <= 20 conservative (5 s base).
    let mut r = failure("hp", error("Timeout", "", 0, 0));
    r.priority = Some(90);
    let d = report(&mut h.client, r).await;
    assert_eq!(
        (d.policy.as_str(), secs(&d), d.max_attempts),
        ("high_priority", 0.5, 5)
    );
    let mut r = failure("lp", error("Timeout", "", 0, 0));
    r.priority = Some(5);
    let d = report(&mut h.client, r).await;
    assert_eq!((d.policy.as_str(), secs(&d)), ("conservative", 5.0));
    let mut r = failure("ag", error("Timeout", "", 0, 0));
    r.policy = "aggressive".into();
    assert_eq!(secs(&report(&mut h.client, r).await), 1.0);
}

#[tokio::test]
async fn classification_paths_over_grpc() {
    let mut h = Harness::start(EXAMPLES_CONFIG).await;
    let cases = [
        (
            error("ValidationError", "", 0, 0),
            Action::GiveUp,
            "invalid_input",
        ),
        (error("", "", 404, 0), Action::GiveUp, "client_error"),
        (error("", "", 429, 0), Action::Retry, "rate_limit"),
        (error("", "", 503, 0), Action::Retry, "server_error"),
        (error("", "", 0, 14), Action::Retry, "unavailable"),
        (error("", "", 0, 3), Action::GiveUp, "client_error"),
        // The configured rule comes before the built-in `network` pattern.
        (
            error("", "dial tcp: connection refused", 0, 0),
            Action::Retry,
            "docker",
        ),
        (
            error("", "open x: permission denied", 0, 0),
            Action::GiveUp,
            "auth",
        ),
        (error("Strange", "", 0, 0), Action::Retry, "unknown"),
    ];
    for (i, (e, want_action, want_category)) in cases.into_iter().enumerate() {
        let d = report(&mut h.client, failure(&format!("c-{i}"), e)).await;
        assert_eq!(
            (action(&d), d.category.as_str()),
            (want_action, want_category),
            "case {i}: {}",
            d.explanation
        );
        if want_action == Action::GiveUp {
            assert_eq!(reason(&d), GiveUpReason::PermanentError, "case {i}");
        }
    }
    // The caller's verdict comes before the built-in rules.
    let mut e = error("ValidationError", "", 0, 0);
    e.retryable = Some(true);
    let d = report(&mut h.client, failure("verdict", e)).await;
    assert_eq!((action(&d), d.category.as_str()), (Action::Retry, "caller"));
}

#[tokio::test]
async fn retry_after_hint_and_category_limits() {
    let mut h = Harness::start(EXAMPLES_CONFIG).await;
    let mut r = failure("hint", error("", "", 503, 0));
    r.retry_after_hint = Some(prost_types::Duration {
        seconds: 42,
        nanos: 0,
    });
    let d = report(&mut h.client, r).await;
    assert_eq!(secs(&d), 42.0);
    assert!(
        d.explanation.contains("retry-after hint 42s"),
        "{}",
        d.explanation
    );

    // rate_limit may retry 10 times under `extraction`.
    for n in 1..=11u32 {
        let mut r = failure("limited", error("", "", 429, 0));
        r.policy = "extraction".into();
        let d = report(&mut h.client, r).await;
        assert_eq!(d.max_attempts, 11);
        assert_eq!(
            action(&d),
            if n <= 10 {
                Action::Retry
            } else {
                Action::GiveUp
            },
            "failure {n}"
        );
    }
}

#[tokio::test]
async fn duplicate_attempts_are_not_double_counted() {
    let mut h = Harness::builtin().await;
    let mut r = failure("dup", error("Timeout", "", 0, 0));
    r.attempt = 1;
    let first = report(&mut h.client, r.clone()).await;
    let again = report(&mut h.client, r.clone()).await;
    assert_eq!(first, again);
    r.attempt = 2;
    let second = report(&mut h.client, r.clone()).await;
    assert_eq!(second.failure_count, 2);
    r.attempt = 1;
    assert_eq!(report(&mut h.client, r.clone()).await, second);
    let job = h
        .client
        .get_job(pb::GetJobRequest {
            job_id: "dup".into(),
        })
        .await
        .expect("job")
        .into_inner()
        .job
        .expect("job");
    assert_eq!(job.failure_count, 2);

    // An attempt ahead of the count is adopted.
    let mut r = failure("ahead", error("Timeout", "", 0, 0));
    r.attempt = 3;
    let d = report(&mut h.client, r).await;
    assert_eq!((d.failure_count, action(&d)), (3, Action::GiveUp));
}

#[tokio::test]
async fn job_lifecycle_get_list_retry_cancel_delete_success() {
    let mut h = Harness::builtin().await;
    let c = &mut h.client;
    report(
        c,
        failure("life-dead", error("ValidationError", "bad field x", 422, 0)),
    )
    .await;
    report(c, failure("life-retrying", error("Timeout", "slow", 0, 0))).await;

    let job = c
        .get_job(pb::GetJobRequest {
            job_id: "life-dead".into(),
        })
        .await
        .expect("get")
        .into_inner()
        .job
        .expect("job");
    assert_eq!(JobState::try_from(job.state), Ok(JobState::Dead));
    assert_eq!(
        job.last_error.as_ref().map(|e| e.message.as_str()),
        Some("bad field x")
    );
    assert!(job.next_retry_at.is_none());
    assert_eq!(
        job.last_decision.as_ref().map(|d| d.reason),
        Some(GiveUpReason::PermanentError as i32)
    );

    let dead = c
        .list_jobs(pb::ListJobsRequest {
            state: JobState::Dead as i32,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!((dead.total_size, dead.jobs.len()), (1, 1));
    assert_eq!(dead.jobs[0].job_id, "life-dead");

    // Cancel a dead job: FAILED_PRECONDITION. Retry it: due now, count reset.
    let err = c
        .cancel_job(pb::CancelJobRequest {
            job_id: "life-dead".into(),
        })
        .await
        .expect_err("dead");
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    let job = c
        .retry_job(pb::RetryJobRequest {
            job_id: "life-dead".into(),
            reset_failures: None,
        })
        .await
        .expect("retry")
        .into_inner()
        .job
        .expect("job");
    assert_eq!(
        (JobState::try_from(job.state), job.failure_count),
        (Ok(JobState::Retrying), 0)
    );
    assert!(job.next_retry_at.is_some());
    let kept = c
        .retry_job(pb::RetryJobRequest {
            job_id: "life-retrying".into(),
            reset_failures: Some(false),
        })
        .await
        .expect("retry")
        .into_inner()
        .job
        .expect("job");
    assert_eq!(kept.failure_count, 1);

    // Cancel a retrying job: later failures give up with CANCELLED.
    let job = c
        .cancel_job(pb::CancelJobRequest {
            job_id: "life-retrying".into(),
        })
        .await
        .expect("cancel")
        .into_inner()
        .job
        .expect("job");
    assert_eq!(JobState::try_from(job.state), Ok(JobState::Cancelled));
    let d = report(c, failure("life-retrying", error("Timeout", "", 0, 0))).await;
    assert_eq!(
        (action(&d), reason(&d)),
        (Action::GiveUp, GiveUpReason::Cancelled)
    );

    // Success forgets the job and says how many failures preceded it.
    let s = c
        .report_success(pb::ReportSuccessRequest {
            job_id: "life-retrying".into(),
            ..Default::default()
        })
        .await
        .expect("success")
        .into_inner();
    assert_eq!((s.known, s.failures_before_success), (true, 2));
    let err = c
        .get_job(pb::GetJobRequest {
            job_id: "life-retrying".into(),
        })
        .await
        .expect_err("gone");
    assert_eq!(err.code(), tonic::Code::NotFound);
    let s = c
        .report_success(pb::ReportSuccessRequest {
            job_id: "never-failed".into(),
            ..Default::default()
        })
        .await
        .expect("success")
        .into_inner();
    assert_eq!((s.known, s.failures_before_success), (false, 0));

    c.delete_job(pb::DeleteJobRequest {
        job_id: "life-dead".into(),
    })
    .await
    .expect("delete");
    let err = c
        .delete_job(pb::DeleteJobRequest {
            job_id: "life-dead".into(),
        })
        .await
        .expect_err("gone");
    assert_eq!(err.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn not_found_for_unknown_jobs() {
    let mut h = Harness::builtin().await;
    let c = &mut h.client;
    let id = || "nobody".to_string();
    assert_eq!(
        c.get_job(pb::GetJobRequest { job_id: id() })
            .await
            .expect_err("x")
            .code(),
        tonic::Code::NotFound
    );
    assert_eq!(
        c.retry_job(pb::RetryJobRequest {
            job_id: id(),
            reset_failures: None
        })
        .await
        .expect_err("x")
        .code(),
        tonic::Code::NotFound
    );
    assert_eq!(
        c.cancel_job(pb::CancelJobRequest { job_id: id() })
            .await
            .expect_err("x")
            .code(),
        tonic::Code::NotFound
    );
    assert_eq!(
        c.delete_job(pb::DeleteJobRequest { job_id: id() })
            .await
            .expect_err("x")
            .code(),
        tonic::Code::NotFound
    );
}

#[tokio::test]
async fn list_jobs_paginates_with_real_total() {
    let mut h = Harness::builtin().await;
    for i in 0..7 {
        let mut r = failure(&format!("p-{i}"), error("Timeout", "", 0, 0));
        r.job_type = if i < 5 { "alpha" } else { "beta" }.into();
        report(&mut h.client, r).await;
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = h
            .client
            .list_jobs(pb::ListJobsRequest {
                job_type: "alpha".into(),
                page_size: 2,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner();
        assert_eq!(page.total_size, 5);
        seen.extend(page.jobs.into_iter().map(|j| j.job_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ["p-0", "p-1", "p-2", "p-3", "p-4"]);
    let all = h
        .client
        .list_jobs(pb::ListJobsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        (all.total_size, all.jobs.len(), all.next_page_token.as_str()),
        (7, 7, "")
    );
}

#[tokio::test]
async fn explain_changes_nothing() {
    let mut h = Harness::builtin().await;
    report(&mut h.client, failure("ex", error("Timeout", "", 0, 0))).await;
    let req = pb::ExplainRequest {
        job_id: "ex".into(),
        error: Some(error("Timeout", "", 0, 0)),
        ..Default::default()
    };
    for _ in 0..3 {
        let d = h
            .client
            .explain(req.clone())
            .await
            .expect("explain")
            .into_inner()
            .decision
            .expect("decision");
        assert_eq!((d.failure_count, secs(&d)), (2, 4.0));
        assert!(d.explanation.contains("retry 2 of 2"), "{}", d.explanation);
    }
    let job = h
        .client
        .get_job(pb::GetJobRequest {
            job_id: "ex".into(),
        })
        .await
        .expect("get")
        .into_inner()
        .job
        .expect("job");
    assert_eq!(job.failure_count, 1);
    // Explain for a job retryd has never seen creates nothing.
    let mut unseen = req.clone();
    unseen.job_id = "unseen".into();
    h.client.explain(unseen).await.expect("explain");
    assert_eq!(
        h.client
            .get_job(pb::GetJobRequest {
                job_id: "unseen".into()
            })
            .await
            .expect_err("none")
            .code(),
        tonic::Code::NotFound
    );
}

#[tokio::test]
async fn stats_per_job_type() {
    let mut h = Harness::builtin().await;
    let c = &mut h.client;
    let typed = |id: &str, t: &str| {
        let mut r = failure(id, error("Timeout", "", 0, 0));
        r.job_type = "mail".into();
        r.error.as_mut().expect("error").r#type = t.into();
        r
    };
    report(c, typed("s1", "Timeout")).await;
    report(c, typed("s2", "ValidationError")).await;
    report(c, typed("s3", "Timeout")).await;
    c.report_success(pb::ReportSuccessRequest {
        job_id: "s1".into(),
        job_type: "mail".into(),
        ..Default::default()
    })
    .await
    .expect("ok");
    c.report_success(pb::ReportSuccessRequest {
        job_id: "s9".into(),
        job_type: "mail".into(),
        ..Default::default()
    })
    .await
    .expect("ok");
    let stats = c
        .get_stats(pb::GetStatsRequest {})
        .await
        .expect("stats")
        .into_inner();
    let mail = stats
        .job_types
        .iter()
        .find(|s| s.job_type == "mail")
        .expect("mail row");
    assert_eq!(
        (
            mail.retrying,
            mail.dead,
            mail.cancelled,
            mail.first_try_successes,
            mail.successes_after_retry,
            mail.give_ups
        ),
        (1, 1, 0, 1, 1, 1)
    );
    assert_eq!(mail.retry_success_rate, 50.0);
    let total = stats.total.expect("total");
    assert_eq!((total.retrying, total.dead), (1, 1));
}

#[tokio::test]
async fn concurrent_reports_of_one_job_lose_nothing() {
    let h = Harness::start("[policies.many]\nmax_retries = 1000").await;
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let mut c = h.client.clone();
        tasks.push(tokio::spawn(async move {
            let mut r = failure("hot", error("Timeout", "", 0, 0));
            r.policy = "many".into();
            report(&mut c, r).await.failure_count
        }));
    }
    let mut counts = Vec::new();
    for t in tasks {
        counts.push(t.await.expect("task"));
    }
    counts.sort();
    assert_eq!(
        counts,
        (1..=64).collect::<Vec<u32>>(),
        "each report saw a distinct count"
    );
    let mut c = h.client.clone();
    let job = c
        .get_job(pb::GetJobRequest {
            job_id: "hot".into(),
        })
        .await
        .expect("get")
        .into_inner()
        .job
        .expect("job");
    assert_eq!(job.failure_count, 64);
}

#[tokio::test]
async fn bounds_evict_and_are_counted() {
    // No idle_ttl racing the bounds: however slow the machine, past
    // max_jobs and max_dead_jobs the overflow is evicted by capacity and
    // dead_limit (idle_ttl is the test below).
    let h = Harness::start("[state]\nmax_jobs = 100\nmax_dead_jobs = 5").await;
    let mut c = h.client.clone();
    for i in 0..150 {
        report(
            &mut c,
            failure(&format!("cap-{i:03}"), error("Timeout", "", 0, 0)),
        )
        .await;
    }
    for i in 0..10 {
        report(
            &mut c,
            failure(&format!("dead-{i}"), error("ValidationError", "", 0, 0)),
        )
        .await;
    }
    // A sweep's evictions are counted just after it ends: wait until every
    // one of the 160 jobs is either still held or counted as evicted.
    let ev =
        |text: &str, r| sample(text, "retryd_evictions_total", &[("reason", r)]).unwrap_or(0.0);
    let held = |text: &str, state| sample(text, "retryd_jobs", &[("state", state)]).unwrap_or(0.0);
    let mut text = String::new();
    for _ in 0..200 {
        text = h.scrape().await;
        let accounted = ev(&text, "capacity")
            + ev(&text, "dead_limit")
            + held(&text, "retrying")
            + held(&text, "dead");
        if accounted == 160.0 && held(&text, "dead") <= 5.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (capacity, dead_limit) = (ev(&text, "capacity"), ev(&text, "dead_limit"));
    assert!(capacity >= 50.0, "capacity evictions {capacity}\n{text}");
    assert!(dead_limit >= 5.0, "dead_limit evictions {dead_limit}");
    assert_eq!(ev(&text, "idle_ttl"), 0.0);
    assert_eq!(
        capacity + dead_limit,
        160.0 - held(&text, "retrying") - held(&text, "dead")
    );
    assert!(held(&text, "retrying") + held(&text, "dead") <= 100.0);
    assert!(held(&text, "dead") <= 5.0);
}

#[tokio::test]
async fn idle_jobs_expire_and_are_counted() {
    let h = Harness::start("[state]\nidle_ttl = \"300ms\"").await;
    let mut c = h.client.clone();
    for i in 0..20 {
        report(
            &mut c,
            failure(&format!("idle-{i}"), error("Timeout", "", 0, 0)),
        )
        .await;
    }
    let mut text = String::new();
    for _ in 0..200 {
        text = h.scrape().await;
        if sample(&text, "retryd_evictions_total", &[("reason", "idle_ttl")]) == Some(20.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        sample(&text, "retryd_evictions_total", &[("reason", "idle_ttl")]),
        Some(20.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "retryd_jobs", &[("state", "retrying")]),
        Some(0.0)
    );
}
