//! Admin protection: with an admin token, the mutating admin RPCs need it;
//! reports and reads stay open to the pod.

mod common;

use common::*;
use retryd::config::Config;
use retryd::pb;
use tonic::Request;

fn with_token<T>(msg: T, token: &str) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    r
}

async fn guarded() -> Harness {
    Harness::with_config(Config {
        admin_token: Some("s3cret-token".into()),
        ..Config::default()
    })
    .await
}

#[tokio::test]
async fn admin_rpcs_need_the_token_and_reports_and_reads_do_not() {
    let mut h = guarded().await;
    let c = &mut h.client;
    report(c, failure("j", error("ValidationError", "", 0, 0))).await;
    c.get_job(pb::GetJobRequest { job_id: "j".into() })
        .await
        .expect("reads are open");
    c.list_jobs(pb::ListJobsRequest::default())
        .await
        .expect("reads are open");
    c.get_stats(pb::GetStatsRequest {})
        .await
        .expect("reads are open");

    let retry = || pb::RetryJobRequest {
        job_id: "j".into(),
        reset_failures: None,
    };
    for (req, why) in [
        (Request::new(retry()), "no token"),
        (with_token(retry(), "s3cret-tokeX"), "wrong token"),
        (with_token(retry(), "s3cret"), "a prefix of the token"),
        (with_token(retry(), ""), "an empty token"),
    ] {
        let e = c.retry_job(req).await.expect_err(why);
        assert_eq!(e.code(), tonic::Code::Unauthenticated, "{why}");
    }
    let e = c
        .cancel_job(pb::CancelJobRequest { job_id: "j".into() })
        .await
        .expect_err("no token");
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
    let e = c
        .delete_job(pb::DeleteJobRequest { job_id: "j".into() })
        .await
        .expect_err("no token");
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
    // Refused calls changed nothing.
    let job = c
        .get_job(pb::GetJobRequest { job_id: "j".into() })
        .await
        .expect("get")
        .into_inner()
        .job
        .expect("job");
    assert_eq!(job.state, pb::JobState::Dead as i32);

    c.retry_job(with_token(retry(), "s3cret-token"))
        .await
        .expect("with the token");
    c.cancel_job(with_token(
        pb::CancelJobRequest { job_id: "j".into() },
        "s3cret-token",
    ))
    .await
    .expect("with the token");
    c.delete_job(with_token(
        pb::DeleteJobRequest { job_id: "j".into() },
        "s3cret-token",
    ))
    .await
    .expect("with the token");
}

#[tokio::test]
async fn without_a_token_configured_admin_rpcs_are_open() {
    let mut h = Harness::builtin().await;
    report(
        &mut h.client,
        failure("j", error("ValidationError", "", 0, 0)),
    )
    .await;
    h.client
        .delete_job(pb::DeleteJobRequest { job_id: "j".into() })
        .await
        .expect("open");
}

#[tokio::test]
async fn the_cli_sends_the_token() {
    let mut h = guarded().await;
    report(
        &mut h.client,
        failure("j", error("ValidationError", "", 0, 0)),
    )
    .await;
    let bin = env!("CARGO_BIN_EXE_retryd");
    let addr = h.running.grpc_addr.to_string();
    let out = tokio::process::Command::new(bin)
        .args(["jobs", "delete", "j", "--addr", &addr])
        .env_remove("RETRYD_ADMIN_TOKEN")
        .output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("retryd: UNAUTHENTICATED"));
    let out = tokio::process::Command::new(bin)
        .args(["jobs", "delete", "j", "--addr", &addr])
        .env("RETRYD_ADMIN_TOKEN", "s3cret-token")
        .output()
        .await
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
