//! Domain values to protobuf messages and back.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::validate::{ErrorFields, FailureRequest};
use crate::engine::batch::{PassResult, PassStats};
use crate::engine::{
    Action, BreakerState, Decision, Engine, ErrorClass, ErrorReport, GiveUpReason, JobState,
    Timestamp,
};
use crate::pb;
use crate::state::{BreakerRow, BudgetRow, JobView, State, StatsRow, StoredError};

pub fn timestamp(t: Timestamp) -> prost_types::Timestamp {
    let secs = i64::try_from(t.0 / 1000).unwrap_or(i64::MAX);
    let nanos = i32::try_from((t.0 % 1000) * 1_000_000).unwrap_or(0);
    prost_types::Timestamp {
        seconds: secs,
        nanos,
    }
}

pub fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

pub fn action(a: Action) -> pb::Action {
    match a {
        Action::Retry => pb::Action::Retry,
        Action::GiveUp => pb::Action::GiveUp,
    }
}

pub fn reason(r: Option<GiveUpReason>) -> pb::GiveUpReason {
    match r {
        None => pb::GiveUpReason::Unspecified,
        Some(GiveUpReason::PermanentError) => pb::GiveUpReason::PermanentError,
        Some(GiveUpReason::RetriesExhausted) => pb::GiveUpReason::RetriesExhausted,
        Some(GiveUpReason::DeadlineExceeded) => pb::GiveUpReason::DeadlineExceeded,
        Some(GiveUpReason::Cancelled) => pb::GiveUpReason::Cancelled,
        Some(GiveUpReason::BudgetExhausted) => pb::GiveUpReason::BudgetExhausted,
        Some(GiveUpReason::Pushback) => pb::GiveUpReason::Pushback,
        Some(GiveUpReason::DeliveryLimit) => pb::GiveUpReason::DeliveryLimit,
    }
}

pub fn error_class(c: ErrorClass) -> pb::ErrorClass {
    match c {
        ErrorClass::Transient => pb::ErrorClass::Transient,
        ErrorClass::Permanent => pb::ErrorClass::Permanent,
        ErrorClass::Unknown => pb::ErrorClass::Unknown,
    }
}

pub fn job_state(s: JobState) -> pb::JobState {
    match s {
        JobState::Retrying => pb::JobState::Retrying,
        JobState::Dead => pb::JobState::Dead,
        JobState::Cancelled => pb::JobState::Cancelled,
    }
}

/// `None` for `JOB_STATE_UNSPECIFIED` (every state); `Err` for a value the enum lacks.
pub fn state_filter(v: i32) -> Result<Option<JobState>, i32> {
    match pb::JobState::try_from(v) {
        Ok(pb::JobState::Unspecified) => Ok(None),
        Ok(pb::JobState::Retrying) => Ok(Some(JobState::Retrying)),
        Ok(pb::JobState::Dead) => Ok(Some(JobState::Dead)),
        Ok(pb::JobState::Cancelled) => Ok(Some(JobState::Cancelled)),
        Err(_) => Err(v),
    }
}

/// A decision as callers see it; `error` is the error it was about (for the explanation).
/// `target`: the name of the decision's target, if it has one.
pub fn decision(
    engine: &Engine,
    d: &Decision,
    error: &ErrorReport<'_>,
    target: Option<&str>,
) -> pb::Decision {
    pb::Decision {
        action: action(d.action) as i32,
        retry_after: Some(duration(d.retry_after())),
        retry_at: d.retry_at.map(timestamp),
        failure_count: d.failure_count,
        max_attempts: engine.max_attempts(d),
        reason: reason(d.reason) as i32,
        error_class: error_class(d.error_class) as i32,
        category: engine.category_name(d).to_string(),
        policy: engine.policy_name(d).to_string(),
        explanation: engine.explanation(d, error, target),
    }
}

fn error(e: &StoredError) -> pb::ErrorInfo {
    pb::ErrorInfo {
        r#type: e.type_name.clone(),
        message: e.message.clone(),
        http_status: u32::from(e.http_status),
        grpc_code: i32::from(e.grpc_code),
        retryable: e.retryable,
    }
}

pub fn job(engine: &Engine, state: &State, v: &JobView) -> pb::Job {
    let j = &v.job;
    pb::Job {
        job_id: v.id.clone(),
        job_type: v.job_type.clone(),
        policy: engine.policy_name(&j.last_decision).to_string(),
        state: job_state(j.state) as i32,
        failure_count: j.failure_count,
        first_failure_at: Some(timestamp(j.first_failure_at)),
        last_failure_at: Some(timestamp(j.last_failure_at)),
        next_retry_at: j.next_retry_at().map(timestamp),
        last_error: Some(error(&v.last_error)),
        last_decision: Some(decision(
            engine,
            &j.last_decision,
            &v.last_error.report(),
            j.last_decision.target.map(|t| state.target_name(t)),
        )),
        queue: v
            .delivery
            .as_ref()
            .map(|d| d.queue.clone())
            .unwrap_or_default(),
        payload_bytes: v.delivery.as_ref().map_or(0, |d| d.payload_bytes),
        deliveries: v.delivery.as_ref().map_or(0, |d| d.deliveries),
        lease_until: v
            .delivery
            .as_ref()
            .and_then(|d| d.lease_until)
            .map(timestamp),
    }
}

/// A due job, as `ClaimDue` and `WatchDue` hand it out.
pub fn due_job(j: crate::state::DueJob) -> pb::DueJob {
    pb::DueJob {
        last_error: Some(error(&j.last_error)),
        job_id: j.id,
        job_type: j.job_type,
        queue: j.queue,
        payload: j.payload,
        attempt: j.attempt,
        due_at: Some(timestamp(j.due_at)),
        lease_id: j.lease_id,
        lease_until: Some(timestamp(j.lease_until)),
        deliveries: j.deliveries,
    }
}

pub fn queue_stats(q: &crate::state::QueueRow) -> pb::QueueStats {
    pb::QueueStats {
        queue: q.queue.clone(),
        parked: q.parked,
        due: q.due,
        leased: q.leased,
        parked_bytes: q.parked_bytes,
        oldest_due_at: q.oldest_due.map(timestamp),
    }
}

pub fn pass_result(r: PassResult) -> pb::PassResult {
    match r {
        PassResult::AllComplete => pb::PassResult::AllComplete,
        PassResult::OnlyNonRetryable => pb::PassResult::OnlyNonRetryable,
        PassResult::MaxPassesReached => pb::PassResult::MaxPassesReached,
        PassResult::RetryableRemaining => pb::PassResult::RetryableRemaining,
    }
}

pub fn pass_stats(s: &PassStats) -> pb::PassStats {
    pb::PassStats {
        pass_number: s.pass_number,
        started_at: Some(timestamp(s.started_at)),
        jobs_pending: s.jobs_pending,
        jobs_attempted: s.jobs_attempted,
        jobs_succeeded: s.jobs_succeeded,
        jobs_failed_retryable: s.jobs_failed_retryable,
        jobs_failed_non_retryable: s.jobs_failed_non_retryable,
        success_rate: s.success_rate(),
        duration: s.duration().map(duration),
        ended_at: s.ended_at.map(timestamp),
    }
}

/// The budgets and breakers by target, one `Budget` per target that has
/// either.
pub fn budgets(budgets: &[BudgetRow], breakers: &[BreakerRow]) -> Vec<pb::Budget> {
    let mut out: Vec<pb::Budget> = budgets
        .iter()
        .map(|b| pb::Budget {
            target: b.target.clone(),
            tokens: b.tokens,
            max_tokens: b.max_tokens,
            retrying: b.retrying,
            exhausted_total: b.exhausted_total,
            max_retrying: b.max_retrying,
            ..Default::default()
        })
        .collect();
    for r in breakers {
        let i = match out.iter().position(|b| b.target == r.target) {
            Some(i) => i,
            None => {
                out.push(pb::Budget {
                    target: r.target.clone(),
                    ..Default::default()
                });
                out.len() - 1
            }
        };
        out[i].breaker_state = breaker_state(r.state) as i32;
        out[i].breaker_open_until = r.open_until.map(timestamp);
    }
    out.sort_by(|a, b| a.target.cmp(&b.target));
    out
}

pub fn breaker_state(s: BreakerState) -> pb::BreakerState {
    match s {
        BreakerState::Closed => pb::BreakerState::Closed,
        BreakerState::Open => pb::BreakerState::Open,
        BreakerState::HalfOpen => pb::BreakerState::HalfOpen,
    }
}

pub fn stats(r: &StatsRow) -> pb::JobTypeStats {
    pb::JobTypeStats {
        job_type: r.job_type.to_string(),
        retrying: r.retrying,
        dead: r.dead,
        cancelled: r.cancelled,
        first_try_successes: r.first_try_successes,
        successes_after_retry: r.successes_after_retry,
        give_ups: r.give_ups,
        retry_success_rate: r.retry_success_rate(),
    }
}

impl<'a> From<&'a pb::ErrorInfo> for ErrorFields<'a> {
    fn from(e: &'a pb::ErrorInfo) -> Self {
        ErrorFields {
            r#type: &e.r#type,
            message: &e.message,
            http_status: e.http_status,
            grpc_code: e.grpc_code,
            retryable: e.retryable,
        }
    }
}

/// `ReportFailure` and `Explain` carry the same fields of the failure
/// (`Explain` none of delivery's).
macro_rules! failure_fields {
    ($r:expr) => {
        FailureRequest {
            job_id: &$r.job_id,
            job_type: &$r.job_type,
            policy: &$r.policy,
            priority: $r.priority,
            error: $r.error.as_ref().map(ErrorFields::from),
            retry_after_hint: $r.retry_after_hint.as_ref().map(|d| (d.seconds, d.nanos)),
            attempt: $r.attempt,
            target: &$r.target,
            retry_after_header: &$r.retry_after_header,
            retry_pushback_ms: $r.retry_pushback_ms,
            ..FailureRequest::default()
        }
    };
}

impl<'a> From<&'a pb::ReportFailureRequest> for FailureRequest<'a> {
    fn from(r: &'a pb::ReportFailureRequest) -> Self {
        FailureRequest {
            payload: &r.payload,
            queue: &r.queue,
            lease_id: &r.lease_id,
            ..failure_fields!(r)
        }
    }
}

impl<'a> From<&'a pb::ExplainRequest> for FailureRequest<'a> {
    fn from(r: &'a pb::ExplainRequest) -> Self {
        failure_fields!(r)
    }
}

/// A page token: the filter it was made for and the last job id returned,
/// so a token cannot be replayed against another filter.
pub struct PageToken {
    pub state: i32,
    pub job_type: String,
    pub after: String,
}

const TOKEN_VERSION: &str = "1";

impl PageToken {
    pub fn encode(&self) -> String {
        let raw = format!(
            "{TOKEN_VERSION}\n{}\n{}\n{}",
            self.state, self.job_type, self.after
        );
        URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn decode(s: &str) -> Option<PageToken> {
        let bytes = URL_SAFE_NO_PAD.decode(s).ok()?;
        let raw = String::from_utf8(bytes).ok()?;
        let mut parts = raw.splitn(4, '\n');
        if parts.next()? != TOKEN_VERSION {
            return None;
        }
        Some(PageToken {
            state: parts.next()?.parse().ok()?,
            job_type: parts.next()?.to_string(),
            after: parts.next()?.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_token_round_trips_and_rejects_garbage() {
        let t = PageToken {
            state: 2,
            job_type: "a b".into(),
            after: "job\nwith newline? no: ids have no control chars".into(),
        };
        let back = PageToken::decode(&t.encode()).expect("decodes");
        assert_eq!((back.state, back.job_type.as_str()), (2, "a b"));
        assert!(PageToken::decode("!!!").is_none());
        assert!(PageToken::decode(&URL_SAFE_NO_PAD.encode("2\n1\nx\ny")).is_none());
    }

    #[test]
    fn timestamps_keep_milliseconds() {
        let t = timestamp(Timestamp(1_700_000_000_123));
        assert_eq!((t.seconds, t.nanos), (1_700_000_000, 123_000_000));
    }

    /// The engine's table of gRPC code names agrees with tonic's codes, number by number.
    #[test]
    fn names_are_tonics_codes_in_screaming_snake_case() {
        for n in 0..17u8 {
            let debug = format!("{:?}", tonic::Code::from(i32::from(n)));
            let mut want = String::new();
            for (i, c) in debug.chars().enumerate() {
                if c.is_uppercase() && i > 0 {
                    want.push('_');
                }
                want.push(c.to_ascii_uppercase());
            }
            assert_eq!(crate::engine::classify::grpc_code_name(n), want);
            assert_eq!(
                crate::engine::classify::grpc_code_from_name(&want.to_lowercase()),
                Some(n)
            );
        }
        assert_eq!(crate::engine::classify::grpc_code_name(17), "INVALID");
        assert_eq!(crate::engine::classify::grpc_code_from_name("17"), None);
    }
}
