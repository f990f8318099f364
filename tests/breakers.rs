//! Circuit breakers per target over gRPC (docs/decisions.md, "Circuit
//! breakers"): a retry storm against a dead target is held off until the
//! breaker's open period ends, probes go first, and a success closes it.

mod common;

use common::*;
use retryd::pb::{self, Action, BreakerState};

const CONFIG: &str = r#"
[policies.p]
max_retries = 20
backoff = { kind = "constant", delay = "100ms" }
max_delay = "10m"

[breakers.db]
failure_ratio = 0.5
min_calls = 10
window = "30s"
open_for = "60s"
half_open_probes = 2
"#;

fn at(job: &str, target: &str) -> pb::ReportFailureRequest {
    pb::ReportFailureRequest {
        target: target.into(),
        policy: "p".into(),
        ..failure(job, error("ConnectionError", "connection refused", 0, 0))
    }
}

async fn breaker(c: &mut Client, target: &str) -> Option<pb::Budget> {
    c.list_budgets(pb::ListBudgetsRequest {})
        .await
        .expect("ListBudgets")
        .into_inner()
        .budgets
        .into_iter()
        .find(|b| b.target == target)
}

#[tokio::test]
async fn a_storm_against_a_dead_target_is_held_off_by_its_breaker() {
    let mut h = Harness::start(CONFIG).await;
    let c = &mut h.client;
    let listed = breaker(c, "db")
        .await
        .expect("configured breakers are listed");
    assert_eq!(listed.breaker_state, BreakerState::Closed as i32);
    assert_eq!(listed.max_tokens, 0, "db has a breaker, no budget");

    // 200 jobs fail against db: the first 9 retry after their plain
    // backoff, the 10th failure opens the breaker.
    let mut plain = 0;
    let mut held = Vec::new();
    for i in 0..200 {
        let d = report(c, at(&format!("job-{i}"), "db")).await;
        assert_eq!(Action::try_from(d.action), Ok(Action::Retry));
        if secs(&d) < 1.0 {
            plain += 1;
        } else {
            held.push(d);
        }
    }
    assert_eq!(plain, 9);
    assert_eq!(held.len(), 191);
    // Two probes at the close (60 s, within a second), the rest after it.
    let probes: Vec<f64> = held.iter().map(secs).filter(|s| *s <= 61.0).collect();
    assert_eq!(probes.len(), 2, "{probes:?}");
    assert!(probes.iter().all(|s| *s >= 58.0), "{probes:?}");
    assert!(
        held.iter()
            .map(secs)
            .filter(|s| *s > 61.0)
            .all(|s| (89.0..=121.0).contains(&s)),
        "the rest from half of open_for after the close to open_for after it"
    );
    assert!(
        held[0]
            .explanation
            .contains("target db's circuit breaker is open; retry 1 after"),
        "{}",
        held[0].explanation
    );
    assert!(held[0].explanation.contains("one of the probes"));
    assert!(
        held[5]
            .explanation
            .contains("once the probes at its close have answered")
    );

    let open = breaker(c, "db").await.expect("db");
    assert_eq!(open.breaker_state, BreakerState::Open as i32);
    assert!(open.breaker_open_until.is_some());
    // Another target is not affected.
    let other = report(c, at("elsewhere", "s3")).await;
    assert!(secs(&other) < 1.0);

    // Explain says the same without counting anything.
    let e = explain(
        c,
        pb::ExplainRequest {
            job_id: "new".into(),
            policy: "p".into(),
            target: "db".into(),
            error: Some(error("ConnectionError", "", 0, 0)),
            ..Default::default()
        },
    )
    .await;
    assert!(
        e.explanation.contains("circuit breaker is open"),
        "{}",
        e.explanation
    );

    // A permanent error still gives up at once.
    let d = report(
        c,
        pb::ReportFailureRequest {
            error: Some(error("ValidationError", "", 422, 0)),
            ..at("bad", "db")
        },
    )
    .await;
    assert_eq!(Action::try_from(d.action), Ok(Action::GiveUp));

    let metrics = h.scrape().await;
    assert_eq!(
        sample(&metrics, "retryd_breaker_state", &[("target", "db")]),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "retryd_breaker_transitions_total",
            &[("target", "db"), ("to", "open")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_success_in_half_open_closes_it() {
    // open_for 1 s so that the test can wait for the close.
    let mut h = Harness::start(
        "[policies.p]\n[breakers.db]\nmin_calls = 2\nfailure_ratio = 1.0\nopen_for = \"1s\"\nwindow = \"10s\"\n",
    )
    .await;
    let c = &mut h.client;
    report(c, at("a", "db")).await;
    report(c, at("b", "db")).await;
    assert_eq!(
        breaker(c, "db").await.map(|b| b.breaker_state),
        Some(BreakerState::Open as i32)
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        breaker(c, "db").await.map(|b| b.breaker_state),
        Some(BreakerState::HalfOpen as i32)
    );
    c.report_success(pb::ReportSuccessRequest {
        job_id: "a".into(),
        ..Default::default()
    })
    .await
    .expect("success");
    assert_eq!(
        breaker(c, "db").await.map(|b| b.breaker_state),
        Some(BreakerState::Closed as i32),
        "the success of a job that failed against db closes db's breaker"
    );
    let metrics = h.scrape().await;
    for to in ["open", "half_open", "closed"] {
        assert_eq!(
            sample(
                &metrics,
                "retryd_breaker_transitions_total",
                &[("target", "db"), ("to", to)]
            ),
            Some(1.0),
            "{to}: {metrics}"
        );
    }
}
