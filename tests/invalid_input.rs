//! Bad input: INVALID_ARGUMENT naming the field in a google.rpc.BadRequest,
//! no panic, no state change.

mod common;

use common::*;
use retryd::pb;
use tonic_types::StatusExt;

/// The fields named by the status's BadRequest violations.
fn fields(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    let bad = details
        .bad_request()
        .expect("a google.rpc.BadRequest detail");
    bad.field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect()
}

async fn rejected(c: &mut Client, r: pb::ReportFailureRequest) -> Vec<String> {
    let status = c.report_failure(r.clone()).await.expect_err("rejected");
    // Explain validates exactly like ReportFailure.
    let explain = pb::ExplainRequest {
        job_id: r.job_id,
        job_type: r.job_type,
        policy: r.policy,
        priority: r.priority,
        error: r.error,
        retry_after_hint: r.retry_after_hint,
        attempt: r.attempt,
        target: r.target,
        retry_after_header: r.retry_after_header,
        retry_pushback_ms: r.retry_pushback_ms,
    };
    let explained = c.explain(explain).await.expect_err("rejected");
    assert_eq!(fields(&explained), fields(&status));
    fields(&status)
}

#[tokio::test]
async fn every_bad_report_field_is_named() {
    let mut h = Harness::builtin().await;
    let c = &mut h.client;
    let ok = || failure("job", error("Timeout", "", 0, 0));
    let cases: Vec<(pb::ReportFailureRequest, &str)> = vec![
        (
            pb::ReportFailureRequest {
                job_id: String::new(),
                ..ok()
            },
            "job_id",
        ),
        (
            pb::ReportFailureRequest {
                job_id: "x".repeat(513),
                ..ok()
            },
            "job_id",
        ),
        (
            pb::ReportFailureRequest {
                job_id: "a\u{7}b".into(),
                ..ok()
            },
            "job_id",
        ),
        (
            pb::ReportFailureRequest {
                priority: Some(101),
                ..ok()
            },
            "priority",
        ),
        (
            pb::ReportFailureRequest {
                policy: "no-such-policy".into(),
                ..ok()
            },
            "policy",
        ),
        (
            pb::ReportFailureRequest {
                job_type: "t".repeat(129),
                ..ok()
            },
            "job_type",
        ),
        (
            pb::ReportFailureRequest {
                target: "\n".into(),
                ..ok()
            },
            "target",
        ),
        (
            failure("job", error("Timeout", &"m".repeat(64 * 1024 + 1), 0, 0)),
            "error.message",
        ),
        (
            failure("job", error(&"T".repeat(1025), "", 0, 0)),
            "error.type",
        ),
        (failure("job", error("", "", 700, 0)), "error.http_status"),
        (failure("job", error("", "", 42, 0)), "error.http_status"),
        (failure("job", error("", "", 0, 17)), "error.grpc_code"),
        (failure("job", error("", "", 0, -1)), "error.grpc_code"),
        (
            pb::ReportFailureRequest {
                retry_after_hint: Some(prost_types::Duration {
                    seconds: -1,
                    nanos: 0,
                }),
                ..ok()
            },
            "retry_after_hint",
        ),
        (
            pb::ReportFailureRequest {
                retry_after_hint: Some(prost_types::Duration {
                    seconds: 1,
                    nanos: 1_000_000_000,
                }),
                ..ok()
            },
            "retry_after_hint",
        ),
        (
            pb::ReportFailureRequest {
                retry_after_hint: Some(prost_types::Duration {
                    seconds: i64::MAX,
                    nanos: 0,
                }),
                ..ok()
            },
            "retry_after_hint",
        ),
        (
            pb::ReportFailureRequest {
                retry_after_header: "soon".into(),
                ..ok()
            },
            "retry_after_header",
        ),
        (
            pb::ReportFailureRequest {
                retry_after_header: "-30".into(),
                ..ok()
            },
            "retry_after_header",
        ),
        (
            pb::ReportFailureRequest {
                retry_after_header: "99999999".into(),
                ..ok()
            },
            "retry_after_header",
        ),
        (
            pb::ReportFailureRequest {
                retry_pushback_ms: Some(i64::MAX),
                ..ok()
            },
            "retry_pushback_ms",
        ),
        (
            pb::ReportFailureRequest {
                attempt: 4_000_000_000,
                ..ok()
            },
            "attempt",
        ),
    ];
    for (i, (r, field)) in cases.into_iter().enumerate() {
        assert_eq!(rejected(c, r).await, [field], "case {i}");
    }
    // Several bad fields: each is named.
    let r = pb::ReportFailureRequest {
        job_id: String::new(),
        priority: Some(200),
        ..failure("", error("", "", 1, 99))
    };
    assert_eq!(
        rejected(c, r).await,
        ["job_id", "priority", "error.http_status", "error.grpc_code"]
    );
    // The message says which field and why.
    let status = c
        .report_failure(pb::ReportFailureRequest {
            priority: Some(101),
            ..ok()
        })
        .await
        .expect_err("bad");
    assert_eq!(
        status.message(),
        "priority: must be between 0 and 100, got 101"
    );
    let status = c
        .report_failure(pb::ReportFailureRequest {
            policy: "nope".into(),
            ..ok()
        })
        .await
        .expect_err("bad");
    assert!(
        status
            .message()
            .starts_with("policy: unknown policy \"nope\" (known: aggressive"),
        "{}",
        status.message()
    );

    // Nothing was recorded by any of the rejected calls.
    let all = c
        .list_jobs(pb::ListJobsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(all.total_size, 0);
    let stats = c
        .get_stats(pb::GetStatsRequest {})
        .await
        .expect("stats")
        .into_inner();
    assert_eq!(
        stats.total.map(|t| t.give_ups + t.retrying + t.dead),
        Some(0)
    );
}

#[tokio::test]
async fn rejected_report_leaves_existing_job_untouched() {
    let mut h = Harness::builtin().await;
    let c = &mut h.client;
    report(c, failure("keep", error("Timeout", "first", 0, 0))).await;
    let before = c
        .get_job(pb::GetJobRequest {
            job_id: "keep".into(),
        })
        .await
        .expect("get")
        .into_inner();
    let bad = failure("keep", error("Timeout", &"m".repeat(70_000), 0, 0));
    c.report_failure(bad).await.expect_err("too long");
    let after = c
        .get_job(pb::GetJobRequest {
            job_id: "keep".into(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(before, after);
}

#[tokio::test]
async fn a_message_of_exactly_64_kib_is_accepted_and_stored_as_a_prefix() {
    let mut h = Harness::builtin().await;
    let c = &mut h.client;
    let long = format!("{} connection reset", "x".repeat(64 * 1024 - 17));
    assert_eq!(long.len(), 64 * 1024);
    let d = report(c, failure("long", error("", &long, 0, 0))).await;
    // Classified on the whole message...
    assert_eq!(d.category, "network");
    // ...but only a bounded prefix is kept.
    let job = c
        .get_job(pb::GetJobRequest {
            job_id: "long".into(),
        })
        .await
        .expect("get")
        .into_inner()
        .job
        .expect("job");
    let kept = job.last_error.expect("error").message;
    assert!(
        kept.len() <= 1024 && long.starts_with(&kept),
        "kept {} bytes",
        kept.len()
    );
}

#[tokio::test]
async fn other_rpcs_name_their_bad_fields() {
    let mut h = Harness::builtin().await;
    let c = &mut h.client;
    let s = c
        .get_job(pb::GetJobRequest {
            job_id: String::new(),
        })
        .await
        .expect_err("bad");
    assert_eq!(fields(&s), ["job_id"]);
    let s = c
        .retry_job(pb::RetryJobRequest {
            job_id: "\0".into(),
            reset_failures: None,
        })
        .await
        .expect_err("bad");
    assert_eq!(fields(&s), ["job_id"]);
    let s = c
        .cancel_job(pb::CancelJobRequest {
            job_id: String::new(),
        })
        .await
        .expect_err("bad");
    assert_eq!(fields(&s), ["job_id"]);
    let s = c
        .delete_job(pb::DeleteJobRequest {
            job_id: "y".repeat(600),
        })
        .await
        .expect_err("bad");
    assert_eq!(fields(&s), ["job_id"]);
    let s = c
        .report_success(pb::ReportSuccessRequest {
            job_id: String::new(),
            ..Default::default()
        })
        .await
        .expect_err("bad");
    assert_eq!(fields(&s), ["job_id"]);
    let s = c
        .list_jobs(pb::ListJobsRequest {
            page_size: -1,
            ..Default::default()
        })
        .await
        .expect_err("bad");
    assert_eq!(fields(&s), ["page_size"]);
    let s = c
        .list_jobs(pb::ListJobsRequest {
            state: 9,
            ..Default::default()
        })
        .await
        .expect_err("bad");
    assert_eq!(fields(&s), ["state"]);
    let s = c
        .list_jobs(pb::ListJobsRequest {
            page_token: "garbage!".into(),
            ..Default::default()
        })
        .await
        .expect_err("bad");
    assert_eq!(fields(&s), ["page_token"]);

    // A token made for one filter cannot be replayed against another.
    for i in 0..3 {
        report(c, failure(&format!("t{i}"), error("Timeout", "", 0, 0))).await;
    }
    let page = c
        .list_jobs(pb::ListJobsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert!(!page.next_page_token.is_empty());
    let s = c
        .list_jobs(pb::ListJobsRequest {
            page_size: 1,
            page_token: page.next_page_token,
            state: 2,
            ..Default::default()
        })
        .await
        .expect_err("bad");
    assert_eq!(fields(&s), ["page_token"]);
    // page_size above the maximum is lowered, not refused.
    let page = c
        .list_jobs(pb::ListJobsRequest {
            page_size: 5000,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(page.jobs.len(), 3);
}

/// A client that sends a method the bytes it is given, as a broken or
/// hostile peer could, and returns the answer's bytes.
mod raw {
    use tonic::Status;
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
    use tonic::transport::Channel;

    #[derive(Default)]
    pub struct Bytes;

    impl Codec for Bytes {
        type Encode = Vec<u8>;
        type Decode = Vec<u8>;
        type Encoder = Bytes;
        type Decoder = Bytes;
        fn encoder(&mut self) -> Bytes {
            Bytes
        }
        fn decoder(&mut self) -> Bytes {
            Bytes
        }
    }

    impl Encoder for Bytes {
        type Item = Vec<u8>;
        type Error = Status;
        fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
            prost::bytes::BufMut::put_slice(buf, &item);
            Ok(())
        }
    }

    impl Decoder for Bytes {
        type Item = Vec<u8>;
        type Error = Status;
        fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
            let n = prost::bytes::Buf::remaining(buf);
            Ok(Some(prost::bytes::Buf::copy_to_bytes(buf, n).to_vec()))
        }
    }

    pub async fn call(
        channel: Channel,
        method: &'static str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, Status> {
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let path = http::uri::PathAndQuery::from_static(method);
        grpc.unary(tonic::Request::new(body), path, Bytes)
            .await
            .map(|r| r.into_inner())
    }
}

const REPORT: &str = "/retryd.v1.RetryCoordinator/ReportFailure";
const EXPLAIN: &str = "/retryd.v1.RetryCoordinator/Explain";

/// `ReportFailure` is answered before the router, reading its request in
/// place; `Explain` takes the same fields through the generated service.
/// Whatever the bytes, both answer alike, and a refused report changes nothing.
#[tokio::test]
async fn report_failure_reads_raw_bytes_as_the_generated_service_does() {
    use prost::Message;
    let mut h = Harness::builtin().await;
    let ch = channel(h.running.grpc_addr).await;
    let good = failure("raw-1", error("TimeoutError", "read timed out", 0, 0)).encode_to_vec();
    use tonic::Code::{Internal, OutOfRange};
    let cases: Vec<(&str, Vec<u8>, tonic::Code)> = vec![
        ("job_id not UTF-8", vec![0x0a, 0x02, 0xc3, 0x28], Internal),
        (
            "error.message not UTF-8",
            [
                &[0x0a, 0x01, b'j'][..],
                &[0x2a, 0x04, 0x12, 0x02, 0xff, 0xfe],
            ]
            .concat(),
            Internal,
        ),
        ("truncated", good[..good.len() - 3].to_vec(), Internal),
        ("wrong wire type", vec![0x08, 0x01], Internal),
        (
            "over the 1 MiB limit",
            failure("big", error("", &"x".repeat(1_100_000), 0, 0)).encode_to_vec(),
            OutOfRange,
        ),
    ];
    for (what, body, code) in cases {
        let report = raw::call(ch.clone(), REPORT, body.clone()).await;
        let explain = raw::call(ch.clone(), EXPLAIN, body).await;
        let (r, e) = (report.expect_err(what), explain.expect_err(what));
        assert_eq!((r.code(), e.code()), (code, code), "{what}: {r:?} / {e:?}");
    }
    let t = stats_total(&mut h.client).await;
    assert_eq!(
        (t.retrying, t.dead),
        (0, 0),
        "no refused report was recorded"
    );

    // The good bytes are decided, and the answer is the generated message.
    let answer = raw::call(ch.clone(), REPORT, good)
        .await
        .expect("a good report");
    let d = pb::ReportFailureResponse::decode(&answer[..])
        .expect("a ReportFailureResponse")
        .decision
        .expect("a decision");
    assert_eq!(d.category, "timeout");
    assert_eq!(d.failure_count, 1);
    assert_eq!(stats_total(&mut h.client).await.retrying, 1);
}
