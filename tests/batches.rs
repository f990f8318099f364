//! Batch runs in passes over gRPC (docs/decisions.md, "Batches run in passes").

mod common;

use common::*;
use retryd::pb::{self, PassResult};
use tonic_types::StatusExt;

fn start(batch: &str, jobs: &[&str]) -> pb::StartPassRequest {
    pb::StartPassRequest {
        batch_id: batch.into(),
        job_ids: jobs.iter().map(|s| s.to_string()).collect(),
        max_passes: None,
        pass_delay: None,
    }
}

async fn end(c: &mut Client, batch: &str) -> pb::EndPassResponse {
    c.end_pass(pb::EndPassRequest {
        batch_id: batch.into(),
    })
    .await
    .expect("EndPass")
    .into_inner()
}

async fn succeed(c: &mut Client, job: &str) {
    c.report_success(pb::ReportSuccessRequest {
        job_id: job.into(),
        ..Default::default()
    })
    .await
    .expect("success");
}

fn counts(s: &pb::PassStats) -> (u32, u32, u32, u32, u32) {
    (
        s.jobs_attempted,
        s.jobs_succeeded,
        s.jobs_failed_retryable,
        s.jobs_failed_non_retryable,
        s.jobs_pending,
    )
}

#[tokio::test]
async fn a_three_pass_batch() {
    let mut h = Harness::builtin().await;
    let c = &mut h.client;
    let mut req = start("nightly", &["a", "b", "c", "d", "e"]);
    req.pass_delay = Some(prost_types::Duration {
        seconds: 2,
        nanos: 0,
    });
    let s1 = c
        .start_pass(req)
        .await
        .expect("StartPass")
        .into_inner()
        .stats
        .expect("stats");
    assert_eq!((s1.pass_number, s1.jobs_pending), (1, 5));
    assert!(s1.started_at.is_some() && s1.ended_at.is_none() && s1.duration.is_none());

    // Pass 1: a succeeds, c fails for good, b, d and e fail transiently.
    succeed(c, "a").await;
    for id in ["b", "d", "e"] {
        report(c, failure(id, error("ConnectionError", "", 0, 0))).await;
    }
    report(c, failure("c", error("ValidationError", "", 0, 0))).await;
    let e1 = end(c, "nightly").await;
    assert_eq!(
        PassResult::try_from(e1.result),
        Ok(PassResult::RetryableRemaining)
    );
    let st = e1.stats.expect("stats");
    assert_eq!(counts(&st), (5, 1, 3, 1, 3));
    assert_eq!(st.success_rate, 20.0);
    assert!(st.duration.is_some() && st.ended_at.is_some());
    assert_eq!(e1.retry_job_ids, ["b", "d", "e"]);
    assert_eq!(
        e1.next_pass_delay,
        Some(prost_types::Duration {
            seconds: 2,
            nanos: 0
        })
    );

    // a's own state is gone (it succeeded), but the batch remembers it.
    assert_eq!(
        c.get_job(pb::GetJobRequest { job_id: "a".into() })
            .await
            .expect_err("forgotten")
            .code(),
        tonic::Code::NotFound
    );

    // Pass 2: b and e succeed, d fails again.
    let s2 = c
        .start_pass(start("nightly", &[]))
        .await
        .expect("StartPass")
        .into_inner()
        .stats
        .expect("stats");
    assert_eq!((s2.pass_number, s2.jobs_pending), (2, 3));
    succeed(c, "b").await;
    succeed(c, "e").await;
    report(c, failure("d", error("ConnectionError", "", 0, 0))).await;
    let e2 = end(c, "nightly").await;
    assert_eq!(
        PassResult::try_from(e2.result),
        Ok(PassResult::RetryableRemaining)
    );
    assert_eq!(counts(e2.stats.as_ref().expect("stats")), (3, 2, 1, 0, 1));
    assert_eq!(e2.retry_job_ids, ["d"]);

    // Pass 3: d's third failure exhausts the default policy; the pass limit is reached too.
    c.start_pass(start("nightly", &[]))
        .await
        .expect("StartPass");
    let d = report(c, failure("d", error("ConnectionError", "", 0, 0))).await;
    assert_eq!(d.action, pb::Action::GiveUp as i32);
    let e3 = end(c, "nightly").await;
    assert_eq!(
        PassResult::try_from(e3.result),
        Ok(PassResult::MaxPassesReached)
    );
    assert_eq!(counts(e3.stats.as_ref().expect("stats")), (1, 0, 0, 1, 0));
    assert!(e3.retry_job_ids.is_empty());
    assert_eq!(
        e3.next_pass_delay,
        Some(prost_types::Duration {
            seconds: 0,
            nanos: 0
        })
    );

    let b = c
        .get_batch(pb::GetBatchRequest {
            batch_id: "nightly".into(),
        })
        .await
        .expect("GetBatch")
        .into_inner();
    assert_eq!(b.batch_id, "nightly");
    assert_eq!(
        b.passes.iter().map(|p| p.pass_number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        (
            b.total_attempted,
            b.total_succeeded,
            b.total_failed_retryable,
            b.total_failed_non_retryable
        ),
        (9, 3, 4, 2)
    );
    assert!(
        (b.success_rate - 100.0 / 3.0).abs() < 1e-9,
        "{}",
        b.success_rate
    );

    // The batch is finished: no fourth pass.
    let err = c
        .start_pass(start("nightly", &[]))
        .await
        .expect_err("finished");
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);

    let text = h.scrape().await;
    assert_eq!(
        sample(
            &text,
            "retryd_passes_total",
            &[("result", "retryable_remaining")]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            "retryd_passes_total",
            &[("result", "max_passes_reached")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "retryd_passes_total", &[("result", "all_complete")]),
        Some(0.0)
    );
}

#[tokio::test]
async fn all_complete_and_only_non_retryable() {
    let mut h = Harness::builtin().await;
    let c = &mut h.client;
    c.start_pass(start("good", &["g1", "g2"]))
        .await
        .expect("start");
    succeed(c, "g1").await;
    succeed(c, "g2").await;
    assert_eq!(
        PassResult::try_from(end(c, "good").await.result),
        Ok(PassResult::AllComplete)
    );

    c.start_pass(start("bad", &["b1", "b2"]))
        .await
        .expect("start");
    succeed(c, "b1").await;
    report(c, failure("b2", error("", "", 404, 0))).await;
    assert_eq!(
        PassResult::try_from(end(c, "bad").await.result),
        Ok(PassResult::OnlyNonRetryable)
    );
}

#[tokio::test]
async fn pass_errors_have_the_right_codes() {
    let mut h = Harness::builtin().await;
    let c = &mut h.client;
    let e = c
        .end_pass(pb::EndPassRequest {
            batch_id: "nope".into(),
        })
        .await
        .expect_err("unknown");
    assert_eq!(e.code(), tonic::Code::NotFound);
    let e = c
        .get_batch(pb::GetBatchRequest {
            batch_id: "nope".into(),
        })
        .await
        .expect_err("unknown");
    assert_eq!(e.code(), tonic::Code::NotFound);

    c.start_pass(start("one", &["shared"]))
        .await
        .expect("start");
    let e = c.start_pass(start("one", &[])).await.expect_err("open");
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    let e = c
        .start_pass(start("two", &["x", "shared"]))
        .await
        .expect_err("taken");
    assert_eq!(e.code(), tonic::Code::AlreadyExists);
    assert!(
        e.message().contains("\"shared\"") && e.message().contains("\"one\""),
        "{}",
        e.message()
    );
    // The refused batch was not created.
    assert_eq!(
        c.get_batch(pb::GetBatchRequest {
            batch_id: "two".into()
        })
        .await
        .expect_err("none")
        .code(),
        tonic::Code::NotFound
    );
    end(c, "one").await;
    let e = c
        .end_pass(pb::EndPassRequest {
            batch_id: "one".into(),
        })
        .await
        .expect_err("no open pass");
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);

    let bad = |field: &str, s: tonic::Status| {
        assert_eq!(s.code(), tonic::Code::InvalidArgument, "{s:?}");
        let fields: Vec<String> = s
            .get_error_details()
            .bad_request()
            .expect("BadRequest")
            .field_violations
            .iter()
            .map(|v| v.field.clone())
            .collect();
        assert_eq!(fields, [field]);
    };
    let mut r = start("three", &[]);
    r.max_passes = Some(0);
    bad("max_passes", c.start_pass(r).await.expect_err("invalid"));
    let mut r = start("three", &[]);
    r.pass_delay = Some(prost_types::Duration {
        seconds: -5,
        nanos: 0,
    });
    bad("pass_delay", c.start_pass(r).await.expect_err("invalid"));
    bad(
        "batch_id",
        c.start_pass(start("", &[])).await.expect_err("invalid"),
    );
    bad(
        "job_ids[1]",
        c.start_pass(start("three", &["ok", ""]))
            .await
            .expect_err("invalid"),
    );
    bad(
        "batch_id",
        c.end_pass(pb::EndPassRequest {
            batch_id: String::new(),
        })
        .await
        .expect_err("invalid"),
    );
}

#[tokio::test]
async fn jobs_can_be_added_by_later_passes() {
    let mut h = Harness::builtin().await;
    let c = &mut h.client;
    c.start_pass(start("grow", &["a"])).await.expect("start");
    report(c, failure("a", error("Timeout", "", 0, 0))).await;
    end(c, "grow").await;
    let s = c
        .start_pass(start("grow", &["b", "c"]))
        .await
        .expect("start")
        .into_inner()
        .stats
        .expect("stats");
    assert_eq!(s.jobs_pending, 3);
}
