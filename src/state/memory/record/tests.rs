//! Records: every field and text round-trips, limits are refused or cut, times keep their precision.

use super::*;
use crate::engine::{ErrorClass, Exhausted, GiveUpReason, HintUse, MatchKind};

const T: Timestamp = Timestamp(1_800_000_000_123);

fn head(why: Why, action: Action) -> Head {
    Head {
        job: Job {
            state: JobState::Cancelled,
            failure_count: 7,
            last_attempt: 9,
            rebase_attempt: true,
            first_failure_at: Timestamp(T.0 - 3_600_000),
            last_failure_at: T,
            updated_at: T.saturating_add(Duration::from_secs(5)),
            last_decision: Decision {
                action,
                reason: if action == Action::GiveUp {
                    Some(GiveUpReason::DeadlineExceeded)
                } else {
                    None
                },
                error_class: ErrorClass::Unknown,
                category: CategoryId(17),
                rule: Some(12),
                matched: MatchKind::Message,
                policy: PolicyId(3),
                target: Some(TargetId(5)),
                failure_count: 7,
                delay: Duration::from_millis(1234),
                retry_at: match (action, why) {
                    (Action::GiveUp, _) => None,
                    (_, Why::ManualRetry { .. }) => Some(T.saturating_add(Duration::from_secs(5))),
                    _ => Some(T.saturating_add(Duration::from_millis(1234))),
                },
                why,
            },
        },
        label: LabelId(42),
        http_status: 503,
        grpc_code: 14,
        retryable: Some(false),
    }
}

#[test]
fn every_why_round_trips() {
    let whys = [
        (
            Why::Retry {
                jittered: true,
                hint: HintUse::Raised(40_000),
                capped: false,
            },
            Action::Retry,
        ),
        (
            Why::Retry {
                jittered: false,
                hint: HintUse::None,
                capped: true,
            },
            Action::Retry,
        ),
        (
            Why::Retry {
                jittered: false,
                hint: HintUse::Exact(7_000),
                capped: true,
            },
            Action::Retry,
        ),
        (
            Why::Retry {
                jittered: true,
                hint: HintUse::Ignored(1),
                capped: false,
            },
            Action::Retry,
        ),
        (
            Why::Retry {
                jittered: true,
                hint: HintUse::TooLong(u32::MAX),
                capped: true,
            },
            Action::Retry,
        ),
        (Why::Pushback, Action::GiveUp),
        (
            Why::Retry {
                jittered: false,
                hint: HintUse::None,
                capped: false,
            },
            Action::Retry,
        ),
        (Why::Permanent, Action::GiveUp),
        (Why::UnknownGivesUp, Action::GiveUp),
        (Why::Exhausted { by_category: true }, Action::GiveUp),
        (Why::Deadline { lands_s: 7200 }, Action::GiveUp),
        (Why::Cancelled, Action::GiveUp),
        (Why::AlreadyDead, Action::GiveUp),
        (Why::ManualRetry { reset: true }, Action::Retry),
        (Why::OperatorCancel, Action::GiveUp),
        (
            Why::BudgetExhausted {
                limit: Exhausted::Tokens(48),
            },
            Action::GiveUp,
        ),
        (
            Why::BudgetDeferred {
                limit: Exhausted::Retrying(1000),
            },
            Action::Retry,
        ),
    ];
    let texts = Texts {
        id: "job-0000000001-é",
        type_name: TypeRef::Inline("requests.exceptions.ConnectionError"),
        job_type: Some("a-job-type-past-the-label-bound"),
        message: "connection reset by peer ✓",
    };
    for (why, action) in whys {
        let h = head(why, action);
        let r = Record::encode(&h, &texts, None).expect("fits");
        assert_eq!(r.head(), h, "{why:?}");
        assert_eq!(r.texts(), texts);
        assert_eq!(r.id(), texts.id);
        assert_eq!(
            (r.state(), r.label(), r.updated_at()),
            (JobState::Cancelled, LabelId(42), h.job.updated_at)
        );
    }
}

#[test]
fn interned_type_and_label_job_type_cost_no_bytes() {
    let h = head(Why::Permanent, Action::GiveUp);
    let texts = Texts {
        id: "job-0000000001-5f0c2b9e-7d41-4e8a-b3c6",
        type_name: TypeRef::Interned(5),
        job_type: None,
        message: "HTTPSConnectionPool(host='api.example.com', port=443): timeout",
    };
    let r = Record::encode(&h, &texts, None).expect("fits");
    assert_eq!(
        r.heap_bytes(),
        HEADER + texts.id.len() + texts.message.len()
    );
    assert_eq!(r.texts(), texts);
    assert!(r.same_error(TypeRef::Interned(5), texts.message));
    assert!(!r.same_error(TypeRef::Interned(6), texts.message));
}

#[test]
fn rewriting_the_head_keeps_the_texts() {
    let texts = Texts {
        id: "a",
        type_name: TypeRef::Inline("T"),
        job_type: Some("jt"),
        message: "m",
    };
    let mut r = Record::encode(&head(Why::Permanent, Action::GiveUp), &texts, None).expect("fits");
    let h2 = head(
        Why::Retry {
            jittered: false,
            hint: HintUse::None,
            capped: false,
        },
        Action::Retry,
    );
    r.write_head(&h2);
    assert_eq!(r.head(), h2);
    assert_eq!(r.texts(), texts);
}

#[test]
fn a_dead_job_may_have_failed_after_its_last_update() {
    let mut h = head(Why::AlreadyDead, Action::GiveUp);
    h.job.updated_at = Timestamp(T.0 - 86_400_000);
    let r = Record::encode(
        &h,
        &Texts {
            id: "a",
            type_name: TypeRef::Interned(0),
            job_type: None,
            message: "",
        },
        None,
    )
    .expect("fits");
    assert_eq!(r.head(), h);
    assert_eq!(r.updated_at(), h.job.updated_at);
}

#[test]
fn times_keep_whole_seconds_relative_to_the_last_failure() {
    let mut h = head(Why::Permanent, Action::GiveUp);
    h.job.first_failure_at = Timestamp(T.0 - 1500);
    let r = Record::encode(
        &h,
        &Texts {
            id: "a",
            type_name: TypeRef::Interned(0),
            job_type: None,
            message: "",
        },
        None,
    )
    .expect("fits");
    assert_eq!(r.head().job.first_failure_at, Timestamp(T.0 - 1000));
    assert_eq!(r.head().job.last_failure_at, T);
}

#[test]
fn texts_a_header_cannot_describe_are_refused_with_the_field_named() {
    let h = head(Why::Permanent, Action::GiveUp);
    let long = "x".repeat(70_000);
    let type_at_limit = "T".repeat(0x7FFF);
    let ok = Texts {
        id: "j",
        type_name: TypeRef::Inline(&type_at_limit),
        job_type: Some(&long[..255]),
        message: &long[..65_535],
    };
    let r = Record::encode(&h, &ok, None).expect("at every limit");
    assert_eq!(r.texts(), ok);
    for (texts, field) in [
        (Texts { id: &long, ..ok }, "id"),
        (
            Texts {
                type_name: TypeRef::Inline(&long[..0x8000]),
                ..ok
            },
            "error type",
        ),
        (
            Texts {
                job_type: Some(&long[..256]),
                ..ok
            },
            "job type",
        ),
        (
            Texts {
                message: &long[..65_536],
                ..ok
            },
            "message",
        ),
    ] {
        let e = Record::encode(&h, &texts, None).expect_err(field);
        assert_eq!(e.field, field);
        assert!(e.to_string().contains(field), "{e}");
    }
}

#[test]
fn a_live_report_past_the_limits_is_cut_on_a_char_boundary() {
    let h = head(Why::Permanent, Action::GiveUp);
    // 'é' is two bytes: 40,000 of them cut at 65,535 bytes would split one.
    let message = "é".repeat(40_000);
    let job_type = "é".repeat(200);
    let r = Record::encode_clamped(
        &h,
        &Texts {
            id: "j",
            type_name: TypeRef::Interned(3),
            job_type: Some(&job_type),
            message: &message,
        },
        None,
    );
    let t = r.texts();
    assert_eq!(t.message.len(), 65_534);
    assert!(message.starts_with(t.message));
    assert_eq!(t.job_type.map(str::len), Some(254));
    assert_eq!(r.head(), h);
}
