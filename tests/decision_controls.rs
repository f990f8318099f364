//! Server-named delays, per-category curves, new backoff kinds and
//! unlimited retries, through a real server on 127.0.0.1.

mod common;

use common::*;
use retryd::pb::{self, Action, GiveUpReason};

const CONFIG: &str = r#"
[policies.exact]
retry_after_hint = "exact"
max_retry_after_hint = "10m"
backoff = { kind = "constant", delay = "5s" }

[policies.tasks]
max_retries = 8
backoff = { kind = "exponential", base = "10s", multiplier = 2.0, max_doublings = 3 }
max_delay = "300s"

[policies.sidekiq]
max_retries = 25
backoff = { kind = "polynomial", exponent = 4, offset = "15s" }
max_delay = "30d"

[policies.api]
max_retries = 5
backoff = { kind = "exponential", base = "200ms" }
max_delay = "10s"

[policies.api.categories.rate_limit]
max_retries = 20
backoff = { kind = "linear", base = "30s", step = "30s" }
max_delay = "10m"

[policies.forever]
max_retries = "unlimited"
max_retry_duration = "1h"
backoff = { kind = "constant", delay = "1s" }
"#;

fn with_policy(id: &str, policy: &str, e: pb::ErrorInfo) -> pb::ReportFailureRequest {
    pb::ReportFailureRequest {
        policy: policy.into(),
        ..failure(id, e)
    }
}

fn reason(d: &pb::Decision) -> GiveUpReason {
    GiveUpReason::try_from(d.reason).expect("known reason")
}

#[tokio::test]
async fn retry_after_header_is_parsed_by_retryd() {
    let mut h = Harness::start(CONFIG).await;
    // delta-seconds, exactly as the server sent it.
    let mut r = with_policy("a", "exact", error("", "", 503, 0));
    r.retry_after_header = "120".into();
    let d = report(&mut h.client, r).await;
    assert_eq!(secs(&d), 120.0);
    assert!(
        d.explanation
            .contains("the server's retry-after 2m exactly"),
        "{}",
        d.explanation
    );
    // An HTTP-date 90 s from now (second precision: 89-90 s left).
    let at = std::time::SystemTime::now() + std::time::Duration::from_secs(90);
    let mut r = with_policy("b", "exact", error("", "", 503, 0));
    r.retry_after_header = httpdate::fmt_http_date(at);
    let d = report(&mut h.client, r).await;
    assert!((88.0..=90.0).contains(&secs(&d)), "{}", secs(&d));
    // A rate-limit reset in epoch seconds.
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 30;
    let mut r = with_policy("c", "exact", error("", "", 429, 0));
    r.retry_after_header = reset.to_string();
    let d = report(&mut h.client, r).await;
    assert!((28.0..=30.0).contains(&secs(&d)), "{}", secs(&d));
    // Over max_retry_after_hint: disregarded, the backoff applies.
    let mut r = with_policy("d", "exact", error("", "", 503, 0));
    r.retry_after_header = "3600".into();
    let d = report(&mut h.client, r).await;
    assert_eq!(secs(&d), 5.0);
    assert!(d.explanation.contains("disregarded"), "{}", d.explanation);
    let metrics = h.scrape().await;
    assert_eq!(
        sample(
            &metrics,
            "retryd_retry_after_hints_disregarded_total",
            &[("policy", "exact")]
        ),
        Some(1.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn grpc_pushback_delays_or_stops() {
    let mut h = Harness::start(CONFIG).await;
    let mut r = with_policy("p1", "exact", error("", "", 0, 14));
    r.retry_pushback_ms = Some(2500);
    assert_eq!(secs(&report(&mut h.client, r).await), 2.5);
    let mut r = with_policy("p2", "exact", error("", "", 0, 14));
    r.retry_pushback_ms = Some(-1);
    let d = report(&mut h.client, r).await;
    assert_eq!(
        (Action::try_from(d.action), reason(&d)),
        (Ok(Action::GiveUp), GiveUpReason::Pushback)
    );
    // Explain tells the same without recording anything.
    let e = explain(
        &mut h.client,
        pb::ExplainRequest {
            job_id: "p3".into(),
            policy: "exact".into(),
            error: Some(error("", "", 0, 14)),
            retry_pushback_ms: Some(-1),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(reason(&e), GiveUpReason::Pushback);
    assert!(e.explanation.contains("not to retry"), "{}", e.explanation);
}

#[tokio::test]
async fn backoff_kinds_of_the_peers() {
    let mut h = Harness::start(CONFIG).await;
    let mut got = Vec::new();
    for _ in 0..8 {
        let r = with_policy("ct", "tasks", error("Timeout", "", 0, 0));
        got.push(secs(&report(&mut h.client, r).await));
    }
    // Cloud Tasks' documented example.
    assert_eq!(got, [10.0, 20.0, 40.0, 80.0, 160.0, 240.0, 300.0, 300.0]);
    let mut got = Vec::new();
    for _ in 0..4 {
        let r = with_policy("sk", "sidekiq", error("Timeout", "", 0, 0));
        got.push(secs(&report(&mut h.client, r).await));
    }
    assert_eq!(got, [16.0, 31.0, 96.0, 271.0]);
}

#[tokio::test]
async fn a_category_has_its_own_curve_and_limit() {
    let mut h = Harness::start(CONFIG).await;
    let r = with_policy("net", "api", error("Timeout", "", 0, 0));
    let d = report(&mut h.client, r).await;
    assert_eq!((secs(&d), d.max_attempts), (0.2, 6));
    for want in [30.0, 60.0, 90.0] {
        let r = with_policy("thr", "api", error("", "", 429, 0));
        let d = report(&mut h.client, r).await;
        assert_eq!((secs(&d), d.max_attempts), (want, 21));
    }
}

#[tokio::test]
async fn unlimited_retries_and_the_attempt_range() {
    let mut h = Harness::start(CONFIG).await;
    let mut r = with_policy("u", "forever", error("Timeout", "", 0, 0));
    r.attempt = 500_000;
    let d = report(&mut h.client, r).await;
    assert_eq!(Action::try_from(d.action), Ok(Action::Retry));
    assert_eq!(d.max_attempts, 0);
    assert!(d.explanation.contains("of unlimited"), "{}", d.explanation);
    // A garbage attempt number is refused and the job is untouched.
    let mut r = with_policy("u", "forever", error("Timeout", "", 0, 0));
    r.attempt = 4_000_000_000;
    let status = h.client.report_failure(r).await.expect_err("refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("attempt"), "{}", status.message());
    let job = h
        .client
        .get_job(pb::GetJobRequest { job_id: "u".into() })
        .await
        .expect("job")
        .into_inner()
        .job
        .expect("job");
    assert_eq!(job.failure_count, 500_000);
}

const SHADOWED: &str = r#"
[policies.live]
max_retries = 2
backoff = { kind = "constant", delay = "10s" }

[policies.candidate]
max_retries = 4
backoff = { kind = "constant", delay = "5s" }
"#;

/// The same reports through a sidecar whose `live` policy has a shadow and
/// one whose has none: every answer and count is the same, and only the
/// comparison metric (and Explain) show the shadow.
#[tokio::test]
async fn a_shadow_policy_is_compared_and_changes_nothing() {
    let with = SHADOWED.replace(
        "[policies.live]\n",
        "[policies.live]\nshadow = \"candidate\"\n",
    );
    let mut shadowed = Harness::start(&with).await;
    let mut plain = Harness::start(SHADOWED).await;
    let reports = [
        ("j1", error("Timeout", "", 0, 0)),
        ("j1", error("Timeout", "", 0, 0)),
        ("j1", error("Timeout", "", 0, 0)),
        ("j1", error("Timeout", "", 0, 0)),
        ("j2", error("ValidationError", "", 422, 0)),
    ];
    for (id, e) in reports {
        let a = report(&mut shadowed.client, with_policy(id, "live", e.clone())).await;
        let b = report(&mut plain.client, with_policy(id, "live", e)).await;
        let strip = |mut d: pb::Decision| {
            d.retry_at = None;
            d
        };
        assert_eq!(strip(a), strip(b), "{id}");
    }
    let stats = |h: &mut Harness| {
        let mut c = h.client.clone();
        async move {
            c.get_stats(pb::GetStatsRequest {})
                .await
                .expect("stats")
                .into_inner()
        }
    };
    assert_eq!(stats(&mut shadowed).await, stats(&mut plain).await);
    let metrics = shadowed.scrape().await;
    for (outcome, n) in [
        ("delay_shorter", 2.0),
        ("give_up_vs_retry", 1.0),
        ("same", 2.0),
    ] {
        assert_eq!(
            sample(
                &metrics,
                "retryd_shadow_decisions_total",
                &[
                    ("policy", "live"),
                    ("shadow", "candidate"),
                    ("outcome", outcome)
                ]
            ),
            Some(n),
            "{outcome}: {metrics}"
        );
    }
    assert!(
        !plain
            .scrape()
            .await
            .contains("retryd_shadow_decisions_total{")
    );
    // Explain shows both, from the same job state.
    let e = shadowed
        .client
        .explain(pb::ExplainRequest {
            job_id: "j3".into(),
            policy: "live".into(),
            error: Some(error("Timeout", "", 0, 0)),
            attempt: 3,
            ..Default::default()
        })
        .await
        .expect("explain")
        .into_inner();
    let (live, shadow) = (e.decision.expect("live"), e.shadow.expect("shadow"));
    assert_eq!(Action::try_from(live.action), Ok(Action::GiveUp));
    assert_eq!(
        (
            Action::try_from(shadow.action),
            shadow.policy.as_str(),
            secs(&shadow)
        ),
        (Ok(Action::Retry), "candidate", 5.0)
    );
}
