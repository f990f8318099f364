//! Small numeric codes for the engine's enums, shared by the records that
//! leave the process (the memory backend's packed record and snapshot, the
//! Redis backend's record). A code, once given, keeps its meaning: stored
//! records depend on it. Unknown codes decode to a safe value.

use crate::engine::classify::MatchKind;
use crate::engine::{ErrorClass, Exhausted, GiveUpReason, HintUse, JobState, Why};

pub fn state_code(s: JobState) -> u8 {
    match s {
        JobState::Retrying => 0,
        JobState::Dead => 1,
        JobState::Cancelled => 2,
    }
}

pub fn state_of(code: u8) -> JobState {
    match code & 3 {
        1 => JobState::Dead,
        2 => JobState::Cancelled,
        _ => JobState::Retrying,
    }
}

pub fn reason_code(r: Option<GiveUpReason>) -> u8 {
    match r {
        None => 0,
        Some(GiveUpReason::PermanentError) => 1,
        Some(GiveUpReason::RetriesExhausted) => 2,
        Some(GiveUpReason::DeadlineExceeded) => 3,
        Some(GiveUpReason::Cancelled) => 4,
        Some(GiveUpReason::BudgetExhausted) => 5,
        Some(GiveUpReason::Pushback) => 6,
        Some(GiveUpReason::DeliveryLimit) => 7,
    }
}

pub fn reason_of(code: u8) -> Option<GiveUpReason> {
    match code {
        1 => Some(GiveUpReason::PermanentError),
        2 => Some(GiveUpReason::RetriesExhausted),
        3 => Some(GiveUpReason::DeadlineExceeded),
        4 => Some(GiveUpReason::Cancelled),
        5 => Some(GiveUpReason::BudgetExhausted),
        6 => Some(GiveUpReason::Pushback),
        7 => Some(GiveUpReason::DeliveryLimit),
        _ => None,
    }
}

pub fn class_code(c: ErrorClass) -> u8 {
    match c {
        ErrorClass::Transient => 0,
        ErrorClass::Permanent => 1,
        ErrorClass::Unknown => 2,
    }
}

pub fn class_of(code: u8) -> ErrorClass {
    match code {
        0 => ErrorClass::Transient,
        1 => ErrorClass::Permanent,
        _ => ErrorClass::Unknown,
    }
}

pub fn kind_code(k: MatchKind) -> u8 {
    match k {
        MatchKind::Caller => 0,
        MatchKind::Type => 1,
        MatchKind::TypeContains => 2,
        MatchKind::Message => 3,
        MatchKind::Http => 4,
        MatchKind::Grpc => 5,
        MatchKind::Nothing => 6,
    }
}

pub fn kind_of(code: u8) -> MatchKind {
    match code {
        0 => MatchKind::Caller,
        1 => MatchKind::Type,
        2 => MatchKind::TypeContains,
        3 => MatchKind::Message,
        4 => MatchKind::Http,
        5 => MatchKind::Grpc,
        _ => MatchKind::Nothing,
    }
}

/// (kind, a, b, c, payload) of a `Why`.
pub fn why_parts(w: Why) -> (u8, bool, bool, bool, u32) {
    match w {
        Why::Retry {
            jittered,
            hint,
            capped,
        } => match hint {
            HintUse::None => (0, jittered, capped, false, 0),
            HintUse::Raised(h) => (0, jittered, capped, true, h),
            HintUse::Exact(h) => (11, jittered, capped, true, h),
            HintUse::Ignored(h) => (12, jittered, capped, true, h),
            HintUse::TooLong(h) => (13, jittered, capped, true, h),
        },
        Why::Pushback => (15, false, false, false, 0),
        // Kinds are four bits in a memory record, all taken: a pause is a
        // pushback's kind with the third flag set.
        Why::Paused {
            open_ended,
            by_target,
        } => (15, open_ended, by_target, true, 0),
        Why::BreakerOpen { probe } => (14, probe, false, false, 0),
        Why::Permanent => (1, false, false, false, 0),
        Why::UnknownGivesUp => (2, false, false, false, 0),
        Why::Exhausted { by_category } => (3, by_category, false, false, 0),
        Why::Deadline { lands_s } => (4, false, false, false, lands_s),
        Why::Cancelled => (5, false, false, false, 0),
        Why::AlreadyDead => (6, false, false, false, 0),
        Why::ManualRetry { reset } => (7, reset, false, false, 0),
        Why::OperatorCancel => (8, false, false, false, 0),
        // Kind 8 with the first flag: the delivery limit.
        Why::DeliveryLimit { max } => (8, true, false, false, max),
        Why::BudgetExhausted { limit } => {
            let (r, n) = limit_parts(limit);
            (9, r, false, false, n)
        }
        Why::BudgetDeferred { limit } => {
            let (r, n) = limit_parts(limit);
            (10, r, false, false, n)
        }
    }
}

/// (is it the max_retrying limit, the number) of an exhausted budget.
pub fn limit_parts(l: Exhausted) -> (bool, u32) {
    match l {
        Exhausted::Tokens(t) => (false, t),
        Exhausted::Retrying(n) => (true, n),
    }
}

pub fn limit_of(retrying: bool, n: u32) -> Exhausted {
    if retrying {
        Exhausted::Retrying(n)
    } else {
        Exhausted::Tokens(n)
    }
}

pub fn why_of(kind: u8, a: bool, b: bool, c: bool, payload: u32) -> Why {
    match kind {
        0 | 11..=13 => Why::Retry {
            jittered: a,
            capped: b,
            hint: match (kind, c) {
                (0, false) => HintUse::None,
                (0, true) => HintUse::Raised(payload),
                (11, _) => HintUse::Exact(payload),
                (12, _) => HintUse::Ignored(payload),
                _ => HintUse::TooLong(payload),
            },
        },
        14 => Why::BreakerOpen { probe: a },
        15 if c => Why::Paused {
            open_ended: a,
            by_target: b,
        },
        15 => Why::Pushback,
        1 => Why::Permanent,
        2 => Why::UnknownGivesUp,
        3 => Why::Exhausted { by_category: a },
        4 => Why::Deadline { lands_s: payload },
        5 => Why::Cancelled,
        6 => Why::AlreadyDead,
        7 => Why::ManualRetry { reset: a },
        9 => Why::BudgetExhausted {
            limit: limit_of(a, payload),
        },
        10 => Why::BudgetDeferred {
            limit: limit_of(a, payload),
        },
        8 if a => Why::DeliveryLimit { max: payload },
        _ => Why::OperatorCancel,
    }
}
