//! Property tests of records: every job state packs into a record and comes
//! back unchanged.

use std::time::Duration;

use proptest::prelude::*;

use crate::engine::classify::{CategoryId, MatchKind};
use crate::engine::{
    Action, Decision, ErrorClass, Exhausted, GiveUpReason, HintUse, Job, JobState, PolicyId,
    TargetId, Timestamp, Why,
};
use crate::labels::LabelId;
use crate::state::memory::record::{Head, Record, Texts, TypeRef};

fn why() -> impl Strategy<Value = Why> {
    prop_oneof![
        (any::<bool>(), 0u8..5, any::<u32>(), any::<bool>()).prop_map(
            |(jittered, h, ms, capped)| Why::Retry {
                jittered,
                hint: match h {
                    0 => HintUse::None,
                    1 => HintUse::Raised(ms),
                    2 => HintUse::Exact(ms),
                    3 => HintUse::Ignored(ms),
                    _ => HintUse::TooLong(ms),
                },
                capped
            }
        ),
        Just(Why::Pushback),
        Just(Why::Permanent),
        Just(Why::UnknownGivesUp),
        any::<bool>().prop_map(|by_category| Why::Exhausted { by_category }),
        any::<u32>().prop_map(|lands_s| Why::Deadline { lands_s }),
        Just(Why::Cancelled),
        Just(Why::AlreadyDead),
        any::<bool>().prop_map(|reset| Why::ManualRetry { reset }),
        Just(Why::OperatorCancel),
        any::<u32>().prop_map(|max| Why::DeliveryLimit { max }),
        (any::<bool>(), any::<u32>()).prop_map(|(r, n)| Why::BudgetExhausted {
            limit: if r {
                Exhausted::Retrying(n)
            } else {
                Exhausted::Tokens(n)
            }
        }),
        (any::<bool>(), any::<u32>()).prop_map(|(r, n)| Why::BudgetDeferred {
            limit: if r {
                Exhausted::Retrying(n)
            } else {
                Exhausted::Tokens(n)
            }
        }),
    ]
}

prop_compose! {
    fn head()(
        state in prop_oneof![Just(JobState::Retrying), Just(JobState::Dead), Just(JobState::Cancelled)],
        counts in (any::<u32>(), any::<u32>()),
        rebase in any::<bool>(),
        updated in 0u64..4_000_000_000_000,
        last_offset in -2_000_000_000i64..2_000_000_000,
        first_back_s in 0u64..4_000_000,
        retry in any::<bool>(),
        reason in prop::option::of(prop_oneof![Just(GiveUpReason::PermanentError), Just(GiveUpReason::RetriesExhausted), Just(GiveUpReason::DeadlineExceeded), Just(GiveUpReason::Cancelled), Just(GiveUpReason::BudgetExhausted), Just(GiveUpReason::Pushback), Just(GiveUpReason::DeliveryLimit)]),
        class in prop_oneof![Just(ErrorClass::Transient), Just(ErrorClass::Permanent), Just(ErrorClass::Unknown)],
        ids in (any::<u16>(), prop::option::of(0u16..u16::MAX), any::<u16>(), prop::option::of(0u16..u16::MAX), any::<u16>()),
        matched in prop_oneof![Just(MatchKind::Caller), Just(MatchKind::Type), Just(MatchKind::TypeContains), Just(MatchKind::Message), Just(MatchKind::Http), Just(MatchKind::Grpc), Just(MatchKind::Nothing)],
        delay_ms in any::<u32>(),
        why in why(),
        http in any::<u16>(),
        grpc in any::<u8>(),
        retryable in prop::option::of(any::<bool>()),
    ) -> Head {
        let updated_at = Timestamp(updated);
        let last = Timestamp(updated.saturating_add_signed(last_offset));
        let first = Timestamp(last.0.saturating_sub(first_back_s * 1000));
        let action = if retry { Action::Retry } else { Action::GiveUp };
        let delay = Duration::from_millis(u64::from(delay_ms));
        let retry_at = match (action, why) {
            (Action::GiveUp, _) => None,
            (_, Why::ManualRetry { .. }) => Some(updated_at),
            _ => Some(last.saturating_add(delay)),
        };
        Head {
            job: Job {
                state,
                failure_count: counts.0,
                last_attempt: counts.1,
                rebase_attempt: rebase,
                first_failure_at: first,
                last_failure_at: last,
                updated_at,
                last_decision: Decision {
                    action,
                    reason,
                    error_class: class,
                    category: CategoryId(ids.0),
                    rule: ids.1,
                    matched,
                    policy: PolicyId(ids.2),
                    target: ids.3.map(TargetId),
                    failure_count: counts.0,
                    delay,
                    retry_at,
                    why,
                },
            },
            label: LabelId(ids.4),
            http_status: http,
            grpc_code: grpc,
            retryable,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Every job state packs into a record and comes back unchanged.
    #[test]
    fn records_round_trip(
        h in head(),
        id in "\\PC{1,60}",
        type_name in prop_oneof![(0u16..0x8000).prop_map(Some), Just(None)],
        inline in "\\PC{0,40}",
        job_type in prop::option::of("\\PC{0,40}"),
        message in "\\PC{0,300}",
    ) {
        let type_ref = match type_name { Some(i) => TypeRef::Interned(i), None => TypeRef::Inline(&inline) };
        let texts = Texts { id: &id, type_name: type_ref, job_type: job_type.as_deref(), message: &message };
        let r = Record::encode(&h, &texts, None).expect("fits");
        // Times keep whole seconds for the first failure (relative to the last).
        let mut want = h;
        want.job.first_failure_at = r.head().job.first_failure_at;
        prop_assert!(h.job.first_failure_at.0.abs_diff(want.job.first_failure_at.0) < 1000);
        prop_assert_eq!(r.head(), want);
        prop_assert_eq!(r.texts(), texts);
        prop_assert_eq!(r.id(), id.as_str());
    }
}
