//! Rendering, checked on answers built by hand.

use serde_json::Value;

use super::*;

fn job(id: &str) -> pb::Job {
    pb::Job {
        job_id: id.into(),
        job_type: "mail".into(),
        policy: "default".into(),
        state: pb::JobState::Dead as i32,
        failure_count: 3,
        first_failure_at: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
        last_failure_at: Some(prost_types::Timestamp {
            seconds: 1_700_000_060,
            nanos: 0,
        }),
        next_retry_at: None,
        last_error: Some(pb::ErrorInfo {
            r#type: "TimeoutError".into(),
            message: "upstream timed out\nsecond line".into(),
            http_status: 504,
            grpc_code: 0,
            retryable: None,
        }),
        last_decision: Some(pb::Decision {
            action: pb::Action::GiveUp as i32,
            reason: pb::GiveUpReason::RetriesExhausted as i32,
            retry_after: Some(prost_types::Duration {
                seconds: 0,
                nanos: 0,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn job_list_table_is_aligned_and_counted() {
    let text = render_job_list(&[job("a"), job("longer-id")], 7, Output::Table);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("JOB ID     TYPE  STATE"), "{text}");
    assert!(
        lines[1].starts_with("a          mail  dead          3  default  -"),
        "{text}"
    );
    assert!(
        lines[1].ends_with("TimeoutError HTTP 504: upstream timed out"),
        "{text}"
    );
    assert_eq!(lines[3], "2 of 7 jobs");
    let type_col = lines[0].find("TYPE").expect("TYPE");
    assert_eq!(lines[2].find("mail"), Some(type_col));
}

#[test]
fn json_uses_proto_field_and_enum_names() {
    let v: Value = serde_json::from_str(&render_job(Some(&job("a")), Output::Json)).expect("json");
    assert_eq!(v["state"], "JOB_STATE_DEAD");
    assert_eq!(v["first_failure_at"], "2023-11-14T22:13:20.000Z");
    assert_eq!(v["next_retry_at"], Value::Null);
    assert_eq!(
        v["last_decision"]["reason"],
        "GIVE_UP_REASON_RETRIES_EXHAUSTED"
    );
    assert_eq!(v["last_error"]["http_status"], 504);
    let d = pb::Decision {
        retry_after: Some(prost_types::Duration {
            seconds: 0,
            nanos: 500_000_000,
        }),
        ..Default::default()
    };
    assert_eq!(decision_json(&d)["retry_after"], "0.500s");
}

#[test]
fn long_errors_are_cut() {
    let e = pb::ErrorInfo {
        message: "x".repeat(500),
        ..Default::default()
    };
    assert_eq!(error_text(Some(&e), 10).chars().count(), 10);
}
