//! Retry budgets per target over gRPC (docs/decisions.md, "Retry budgets per
//! target"): a storm on one downstream is throttled while another keeps
//! retrying, and successes refill it.

mod common;

use common::*;
use retryd::pb::{self, Action, GiveUpReason};

const CONFIG: &str = r#"
[budgets.default]
max_tokens = 10
token_ratio = 1.0

[budgets.fragile]
max_retrying = 3

[budgets.slow]
max_tokens = 2
on_exhausted = "defer"

[budgets.big]
max_tokens = 1000
"#;

fn at(job: &str, target: &str) -> pb::ReportFailureRequest {
    pb::ReportFailureRequest {
        target: target.into(),
        ..failure(job, error("ConnectionError", "connection reset", 0, 0))
    }
}

async fn budgets(c: &mut Client) -> Vec<pb::Budget> {
    c.list_budgets(pb::ListBudgetsRequest {})
        .await
        .expect("ListBudgets")
        .into_inner()
        .budgets
}

fn row<'a>(b: &'a [pb::Budget], target: &str) -> &'a pb::Budget {
    b.iter()
        .find(|b| b.target == target)
        .unwrap_or_else(|| panic!("no budget for {target}: {b:?}"))
}

async fn succeed(c: &mut Client, job: &str, target: &str) {
    c.report_success(pb::ReportSuccessRequest {
        job_id: job.into(),
        target: target.into(),
        ..Default::default()
    })
    .await
    .expect("success");
}

#[tokio::test]
async fn a_storm_on_one_target_is_throttled_others_keep_retrying_and_successes_refill() {
    let h = Harness::start(CONFIG).await;
    let c = &mut h.client.clone();
    // 20 jobs fail against s3: 10 tokens, each failure costs 1, retries stop at half.
    let mut actions = Vec::new();
    let mut last = pb::Decision::default();
    for i in 0..20 {
        last = report(c, at(&format!("s3-{i}"), "s3")).await;
        actions.push(Action::try_from(last.action).expect("action"));
    }
    assert_eq!(
        actions.iter().filter(|a| **a == Action::Retry).count(),
        4,
        "{actions:?}"
    );
    assert!(actions[4..].iter().all(|a| *a == Action::GiveUp));
    assert_eq!(last.reason, GiveUpReason::BudgetExhausted as i32);
    assert!(
        last.explanation
            .contains("retries are throttled: target s3: 0/10 tokens, at or below half"),
        "{}",
        last.explanation
    );
    let fifth = c
        .get_job(pb::GetJobRequest {
            job_id: "s3-4".into(),
        })
        .await
        .expect("job")
        .into_inner()
        .job
        .expect("job");
    let d = fifth.last_decision.expect("decision");
    assert!(
        d.explanation.contains("target s3: 5/10 tokens"),
        "{}",
        d.explanation
    );

    // Another downstream is unaffected.
    let d = report(c, at("db-1", "db")).await;
    assert_eq!((d.action, d.reason), (Action::Retry as i32, 0));
    // No target, no budget.
    let d = report(c, failure("untargeted", error("ConnectionError", "", 0, 0))).await;
    assert_eq!(d.action, Action::Retry as i32);

    let b = budgets(c).await;
    assert_eq!(
        (
            row(&b, "s3").tokens,
            row(&b, "s3").exhausted_total,
            row(&b, "s3").retrying
        ),
        (0.0, 16, 4)
    );
    assert_eq!(
        (
            row(&b, "db").tokens,
            row(&b, "db").retrying,
            row(&b, "db").max_tokens
        ),
        (9.0, 1, 10)
    );
    let text = h.scrape().await;
    assert_eq!(
        sample(&text, "retryd_budget_tokens", &[("target", "s3")]),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "retryd_budget_exhausted_total", &[("target", "s3")]),
        Some(16.0)
    );
    assert_eq!(
        sample(&text, "retryd_budget_tokens", &[("target", "db")]),
        Some(9.0)
    );

    // Recovery: successes against s3 give back a token each (token_ratio 1).
    // The four jobs that were retrying succeed, and three more calls do.
    for i in 0..4 {
        succeed(c, &format!("s3-{i}"), "").await;
    }
    for i in 0..3 {
        succeed(c, &format!("fresh-{i}"), "s3").await;
    }
    let b = budgets(c).await;
    assert_eq!((row(&b, "s3").tokens, row(&b, "s3").retrying), (7.0, 0));
    // 7 → 6 after the next failure's charge: above half, retried again.
    let d = report(c, at("s3-new", "s3")).await;
    assert_eq!(d.action, Action::Retry as i32, "{}", d.explanation);
}

#[tokio::test]
async fn max_retrying_caps_jobs_waiting_in_backoff() {
    let mut h = Harness::start(CONFIG).await;
    let c = &mut h.client;
    for i in 0..3 {
        assert_eq!(
            report(c, at(&format!("f{i}"), "fragile")).await.action,
            Action::Retry as i32
        );
    }
    let d = report(c, at("f3", "fragile")).await;
    assert_eq!(
        (d.action, d.reason),
        (Action::GiveUp as i32, GiveUpReason::BudgetExhausted as i32)
    );
    assert!(
        d.explanation
            .contains("target fragile: 3/3 jobs already waiting in backoff (max_retrying)"),
        "{}",
        d.explanation
    );
    // A job already waiting may retry again: the retries scheduled are counted once.
    assert_eq!(
        report(c, at("f0", "fragile")).await.action,
        Action::Retry as i32
    );
    // One of them succeeds: room for another.
    succeed(c, "f1", "fragile").await;
    assert_eq!(
        report(c, at("f4", "fragile")).await.action,
        Action::Retry as i32
    );
    assert_eq!(row(&budgets(c).await, "fragile").retrying, 3);
    // Cancelling, deleting and giving up also free a place.
    c.cancel_job(pb::CancelJobRequest {
        job_id: "f2".into(),
    })
    .await
    .expect("cancel");
    c.delete_job(pb::DeleteJobRequest {
        job_id: "f4".into(),
    })
    .await
    .expect("delete");
    assert_eq!(row(&budgets(c).await, "fragile").retrying, 1);
}

#[tokio::test]
async fn defer_retries_after_max_delay_instead_of_giving_up() {
    let mut h = Harness::start(CONFIG).await;
    let c = &mut h.client;
    let d = report(c, at("slow-1", "slow")).await;
    assert_eq!(
        (d.action, d.reason, secs(&d)),
        (Action::Retry as i32, 0, 60.0)
    );
    assert!(
        d.explanation.contains(
            "target slow: 1/2 tokens, at or below half; retry 1 deferred to max_delay 1m"
        ),
        "{}",
        d.explanation
    );
    assert_eq!(row(&budgets(c).await, "slow").exhausted_total, 1);
}

#[tokio::test]
async fn concurrent_reports_on_one_target_lose_no_token() {
    let h = Harness::start(CONFIG).await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let mut c = h.client.clone();
        tasks.push(tokio::spawn(async move {
            report(&mut c, at(&format!("big-{i}"), "big")).await
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let mut c = h.client.clone();
    let b = budgets(&mut c).await;
    assert_eq!(
        (row(&b, "big").tokens, row(&b, "big").retrying),
        (936.0, 64)
    );
}

#[tokio::test]
async fn without_budget_tables_there_are_no_budgets() {
    let mut h = Harness::builtin().await;
    let d = report(&mut h.client, at("x", "s3")).await;
    assert_eq!(d.action, Action::Retry as i32);
    assert!(budgets(&mut h.client).await.is_empty());
}
