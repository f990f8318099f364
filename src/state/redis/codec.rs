//! A job's record as it is kept in Redis: every name spelled out.
//!
//! In memory a record holds this process's ids (label, policy, category,
//! rule, target); a record that other sidecars read — perhaps running
//! another configuration during a rolling deploy — holds names, and each
//! reader maps them to its own ids (a policy that is gone reads as
//! `default`, a category as `unknown`, a rule only if the same rule is
//! still configured).
//!
//! A member of a partition's sorted set is
//!
//! ```text
//! <job id> \0 <updated_at: 13 decimal digits, ms> <job type> \0 <body>
//! ```
//!
//! Ids and job types have no control characters, so the members sort by job
//! id, and the scripts read `updated_at` (idle expiry) and the job type
//! (`ListJobs` filters) without decoding the body. The body is postcard of
//! `Wire`, with a version byte first: 1, or 2 for a job that carries a
//! delivery parcel (its payload and lease live beside it, in the
//! partition's `dv` hash: `super::parcel`).

use std::borrow::Cow;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::engine::{Action, Decision, Engine, Job, TargetId, Timestamp};
use crate::labels::{LabelId, Labels};
use crate::state::stored_codes::{
    class_code, class_of, kind_code, kind_of, reason_code, reason_of, state_code, state_of, why_of,
    why_parts,
};
use crate::state::{JobView, StoredError};

const VERSION: u8 = 1;
/// The version byte of a job that carries a parcel.
const WITH_PARCEL: u8 = 2;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("malformed job record in Redis: {0}")]
pub struct CodecError(pub &'static str);

/// A job as a backend keeps it: the fixed part, its texts, and the label it
/// is counted under.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub id: String,
    pub job_type: String,
    /// The job-type label its counters are kept under (fixed for its life).
    pub label: String,
    pub job: Job,
    pub error: StoredError,
    /// Retryd holds a delivery parcel for it (`P:{pNN}:dv`).
    pub parcel: bool,
}

impl Stored {
    pub fn view(&self) -> JobView {
        JobView {
            id: self.id.clone(),
            job_type: self.job_type.clone(),
            job: self.job,
            last_error: self.error.clone(),
            delivery: None,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    label: Cow<'a, str>,
    state: u8,
    failure_count: u32,
    last_attempt: u32,
    rebase_attempt: bool,
    /// ms from `updated_at` to the last failure (a dead job's last failure
    /// may come after its death, which `updated_at` keeps).
    last_failure: i64,
    /// ms from the first failure to the last.
    first_failure: u64,
    decision: WireDecision<'a>,
    #[serde(borrow)]
    type_name: Cow<'a, str>,
    #[serde(borrow)]
    message: Cow<'a, str>,
    http_status: u16,
    grpc_code: u8,
    retryable: u8,
}

#[derive(Serialize, Deserialize)]
struct WireDecision<'a> {
    retry: bool,
    reason: u8,
    class: u8,
    matched: u8,
    why: (u8, bool, bool, bool, u32),
    #[serde(borrow)]
    policy: Cow<'a, str>,
    #[serde(borrow)]
    category: Cow<'a, str>,
    #[serde(borrow)]
    rule: Option<Cow<'a, str>>,
    #[serde(borrow)]
    target: Option<Cow<'a, str>>,
    failure_count: u32,
    delay_ms: u64,
    /// ms from `updated_at`.
    retry_at: Option<i64>,
}

fn delta(t: Timestamp, base: Timestamp) -> i64 {
    (i128::from(t.0) - i128::from(base.0)).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

fn plus(base: Timestamp, d: i64) -> Timestamp {
    Timestamp(base.0.saturating_add_signed(d))
}

/// Encodes `s` as a sorted-set member. Names of the record's ids come from
/// `engine` (policy, category, rule) and `labels` (target).
pub fn encode(s: &Stored, engine: &Engine, labels: &Labels) -> Vec<u8> {
    let j = &s.job;
    let d = &j.last_decision;
    let retryable = match s.error.retryable {
        None => 0,
        Some(false) => 1,
        Some(true) => 2,
    };
    let wire = Wire {
        label: Cow::Borrowed(&s.label),
        state: state_code(j.state),
        failure_count: j.failure_count,
        last_attempt: j.last_attempt,
        rebase_attempt: j.rebase_attempt,
        last_failure: delta(j.last_failure_at, j.updated_at),
        first_failure: j.last_failure_at.0.saturating_sub(j.first_failure_at.0),
        decision: WireDecision {
            retry: d.action == Action::Retry,
            reason: reason_code(d.reason),
            class: class_code(d.error_class),
            matched: kind_code(d.matched),
            why: why_parts(d.why),
            policy: Cow::Borrowed(engine.policy_name(d)),
            category: Cow::Borrowed(engine.category_name(d)),
            rule: d
                .rule
                .map(|r| Cow::Owned(engine.classifier.rule_key(usize::from(r)))),
            target: d
                .target
                .map(|t| Cow::Borrowed(labels.targets.name(LabelId(t.0)))),
            failure_count: d.failure_count,
            delay_ms: u64::try_from(d.delay.as_millis()).unwrap_or(u64::MAX),
            retry_at: d.retry_at.map(|t| delta(t, j.updated_at)),
        },
        type_name: Cow::Borrowed(&s.error.type_name),
        message: Cow::Borrowed(&s.error.message),
        http_status: s.error.http_status,
        grpc_code: s.error.grpc_code,
        retryable,
    };
    let mut out = Vec::with_capacity(s.id.len() + s.job_type.len() + 64 + s.error.message.len());
    out.extend_from_slice(s.id.as_bytes());
    out.push(0);
    out.extend_from_slice(format!("{:013}", j.updated_at.0.min(9_999_999_999_999)).as_bytes());
    out.extend_from_slice(s.job_type.as_bytes());
    out.push(0);
    out.push(if s.parcel { WITH_PARCEL } else { VERSION });
    // Serialising plain fields into a Vec cannot fail.
    if let Ok(body) = postcard::to_stdvec(&wire) {
        out.extend_from_slice(&body);
    }
    out
}

/// The job id a member starts with.
pub fn id_of(member: &[u8]) -> Option<&str> {
    let end = member.iter().position(|b| *b == 0)?;
    std::str::from_utf8(&member[..end]).ok()
}

/// Decodes a member; ids it names are mapped to this process's (`labels`
/// gives targets their local label).
pub fn decode(member: &[u8], engine: &Engine, labels: &Labels) -> Result<Stored, CodecError> {
    let id_end = member
        .iter()
        .position(|b| *b == 0)
        .ok_or(CodecError("no id"))?;
    let id = std::str::from_utf8(&member[..id_end]).map_err(|_| CodecError("id"))?;
    let rest = &member[id_end + 1..];
    if rest.len() < 13 {
        return Err(CodecError("truncated"));
    }
    let updated = std::str::from_utf8(&rest[..13])
        .ok()
        .and_then(|t| t.parse::<u64>().ok())
        .ok_or(CodecError("updated_at"))?;
    let rest = &rest[13..];
    let jt_end = rest
        .iter()
        .position(|b| *b == 0)
        .ok_or(CodecError("no job type"))?;
    let job_type = std::str::from_utf8(&rest[..jt_end]).map_err(|_| CodecError("job type"))?;
    let body = &rest[jt_end + 1..];
    let parcel = match body.first() {
        Some(&VERSION) => false,
        Some(&WITH_PARCEL) => true,
        _ => return Err(CodecError("unknown record version")),
    };
    let w: Wire<'_> = postcard::from_bytes(&body[1..]).map_err(|_| CodecError("body"))?;
    let updated_at = Timestamp(updated);
    let last_failure_at = plus(updated_at, w.last_failure);
    let wd = &w.decision;
    let policy = engine
        .policies
        .get(&wd.policy)
        .unwrap_or_else(|| engine.policies.default_policy());
    let (why_kind, a, b, c, payload) = wd.why;
    let decision = Decision {
        action: if wd.retry {
            Action::Retry
        } else {
            Action::GiveUp
        },
        reason: reason_of(wd.reason),
        error_class: class_of(wd.class),
        category: engine.classifier.category_id(&wd.category),
        rule: wd
            .rule
            .as_deref()
            .and_then(|k| engine.classifier.rule_by_key(k)),
        matched: kind_of(wd.matched),
        policy: policy.id,
        target: wd
            .target
            .as_deref()
            .map(|t| TargetId(labels.targets.get(t).0)),
        failure_count: wd.failure_count,
        delay: Duration::from_millis(wd.delay_ms),
        retry_at: wd.retry_at.map(|d| plus(updated_at, d)),
        why: why_of(why_kind, a, b, c, payload),
    };
    let job = Job {
        state: state_of(w.state),
        failure_count: w.failure_count,
        last_attempt: w.last_attempt,
        rebase_attempt: w.rebase_attempt,
        first_failure_at: Timestamp(last_failure_at.0.saturating_sub(w.first_failure)),
        last_failure_at,
        updated_at,
        last_decision: decision,
    };
    Ok(Stored {
        id: id.to_string(),
        job_type: job_type.to_string(),
        label: w.label.into_owned(),
        job,
        error: StoredError {
            type_name: w.type_name.into_owned(),
            message: w.message.into_owned(),
            http_status: w.http_status,
            grpc_code: w.grpc_code,
            retryable: match w.retryable {
                1 => Some(false),
                2 => Some(true),
                _ => None,
            },
        },
        parcel,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{
        Classifier, ErrorClass, ErrorReport, Exhausted, FailureReport, GiveUpReason, JobState,
        Policy, PolicySet, Why,
    };
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn engine() -> Engine {
        Engine::new(
            Classifier::new(Vec::new()).expect("rules"),
            PolicySet::new(vec![Policy::named("mail")], &[], None).expect("policies"),
        )
    }

    fn stored(engine: &Engine) -> Stored {
        let policy = engine.policies.get("mail").expect("mail").clone();
        let r = FailureReport {
            error: ErrorReport {
                type_name: "requests.exceptions.ConnectionError",
                message: "reset by peer",
                http_status: 502,
                grpc_code: 14,
                retryable: Some(true),
            },
            attempt: 3,
            retry_after_hint: Some(Duration::from_millis(1500)),
            retry_after_at: None,
            pushback_stop: false,
        };
        let v = engine.decide(
            None,
            &policy,
            &r,
            None,
            Timestamp(1_763_900_000_123),
            &mut StdRng::seed_from_u64(1),
        );
        let mut job = Job::first(&v, Timestamp(1_763_900_000_123));
        job.first_failure_at = Timestamp(1_763_800_000_000);
        Stored {
            id: "job-é-1".into(),
            job_type: "invoice".into(),
            label: "invoice".into(),
            job,
            error: StoredError::of(&r.error),
            parcel: false,
        }
    }

    #[test]
    fn a_parcel_is_flagged_in_the_version_byte() {
        let e = engine();
        let labels = Labels::new([], []);
        let mut s = stored(&e);
        let plain = encode(&s, &e, &labels);
        assert!(!decode(&plain, &e, &labels).expect("decodes").parcel);
        s.parcel = true;
        let m = encode(&s, &e, &labels);
        assert_ne!(m, plain);
        assert_eq!(decode(&m, &e, &labels).expect("decodes"), s);
    }

    #[test]
    fn a_record_round_trips_by_name() {
        let e = engine();
        let labels = Labels::new([], ["s3"]);
        let mut s = stored(&e);
        s.job.last_decision.target = Some(TargetId(labels.targets.get("s3").0));
        let m = encode(&s, &e, &labels);
        assert_eq!(id_of(&m), Some("job-é-1"));
        assert_eq!(&m[s.id.len() + 1..s.id.len() + 14], b"1763900000123");
        assert_eq!(decode(&m, &e, &labels), Ok(s.clone()));

        // Another sidecar's ids for the same names: the names decide.
        let other_labels = Labels::new([], ["a", "b", "s3"]);
        let back = decode(&m, &e, &other_labels).expect("decodes");
        assert_eq!(
            back.job
                .last_decision
                .target
                .map(|t| other_labels.targets.name(LabelId(t.0))),
            Some("s3")
        );
    }

    #[test]
    fn every_why_and_state_round_trips() {
        let e = engine();
        let labels = Labels::new([], []);
        let mut s = stored(&e);
        for (state, why, reason) in [
            (
                JobState::Dead,
                Why::Deadline { lands_s: 77 },
                Some(GiveUpReason::DeadlineExceeded),
            ),
            (
                JobState::Cancelled,
                Why::OperatorCancel,
                Some(GiveUpReason::Cancelled),
            ),
            (
                JobState::Dead,
                Why::DeliveryLimit { max: 5 },
                Some(GiveUpReason::DeliveryLimit),
            ),
            (
                JobState::Retrying,
                Why::BudgetDeferred {
                    limit: Exhausted::Retrying(9),
                },
                None,
            ),
            (JobState::Retrying, Why::ManualRetry { reset: true }, None),
        ] {
            s.job.state = state;
            s.job.last_decision.why = why;
            s.job.last_decision.reason = reason;
            s.job.last_decision.error_class = ErrorClass::Unknown;
            s.job.last_decision.retry_at = None;
            let m = encode(&s, &e, &labels);
            assert_eq!(decode(&m, &e, &labels), Ok(s.clone()));
        }
    }

    #[test]
    fn a_policy_gone_reads_as_default_and_garbage_is_an_error() {
        let e = engine();
        let labels = Labels::new([], []);
        let m = encode(&stored(&e), &e, &labels);
        let without = Engine::new(
            Classifier::new(Vec::new()).expect("rules"),
            PolicySet::default(),
        );
        let back = decode(&m, &without, &labels).expect("decodes");
        assert_eq!(without.policy_name(&back.job.last_decision), "default");
        for bad in [
            &b""[..],
            b"id",
            b"id\x00123",
            b"id\x0017639000001230\x00\x09",
            b"id\x001763900000123t\x00\x01\xff",
        ] {
            assert!(decode(bad, &e, &labels).is_err(), "{bad:?}");
        }
        // Every prefix of a real record is refused, never a panic.
        for n in 0..m.len() {
            let _ = decode(&m[..n], &e, &labels);
        }
    }
}
