//! Checks every field a caller controls before anything else runs.
//!
//! Bad input is `INVALID_ARGUMENT` with one `google.rpc.BadRequest` field
//! violation per bad field, and changes no state.

use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use super::retry_after::{self, RetryAfter};
use crate::engine::{ErrorReport, FailureReport};
use crate::pb;
use crate::state::Carry;

pub const MAX_JOB_ID: usize = 512;
pub const MAX_JOB_TYPE: usize = 128;
pub const MAX_TARGET: usize = 256;
pub const MAX_POLICY: usize = 128;
pub const MAX_ERROR_TYPE: usize = 1024;
/// A queue's name: as long as a job type (a job's default queue).
pub const MAX_QUEUE: usize = 128;
pub const MAX_LEASE_ID: usize = 128;
/// Most jobs one claim takes.
pub const MAX_CLAIM: u32 = 1000;
pub const MAX_MESSAGE: usize = 64 * 1024;
/// A retry-after hint longer than this is a mistake, not advice.
pub const MAX_HINT: Duration = Duration::from_secs(366 * 24 * 3600);
/// The largest attempt number taken: a job tried once a second for 115
/// days. Anything larger is a client bug (an unset or negative number cast
/// to unsigned) and would dead-letter the job at once.
pub const MAX_ATTEMPT: u32 = 10_000_000;
pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 1000;

/// Collects field violations; `finish` turns them into one status.
#[derive(Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn add(&mut self, field: &str, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    pub fn finish(self) -> Result<(), Status> {
        if self.0.is_empty() {
            return Ok(());
        }
        let message = self
            .0
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect::<Vec<_>>()
            .join("; ");
        Err(Status::with_error_details(
            Code::InvalidArgument,
            message,
            ErrorDetails::with_bad_request(self.0),
        ))
    }
}

/// One bad field.
pub fn invalid(field: &str, description: impl Into<String>) -> Status {
    let mut v = Violations::default();
    v.add(field, description);
    v.finish()
        .err()
        .unwrap_or_else(|| Status::invalid_argument(field.to_string()))
}

/// Free text that ends up in state or labels: bounded, no control characters.
fn text(v: &mut Violations, field: &str, s: &str, max: usize, required: bool) {
    if s.is_empty() {
        if required {
            v.add(field, "must not be empty");
        }
    } else if s.len() > max {
        v.add(
            field,
            format!("must be at most {max} bytes, got {}", s.len()),
        );
    } else if has_control(s) {
        v.add(field, "must not contain control characters");
    }
}

/// Whether `s` holds a control character (`char::is_control`): ASCII ones
/// found byte by byte; the chars decoded only when a byte is not ASCII
/// (C1 controls, U+0080 to U+009F).
fn has_control(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 || b == 0x7f) || (!s.is_ascii() && s.chars().any(char::is_control))
}

pub fn job_id(field: &str, s: &str) -> Result<(), Status> {
    let mut v = Violations::default();
    text(&mut v, field, s, MAX_JOB_ID, true);
    v.finish()
}

/// A validated `ReportFailure` / `Explain`, borrowing the request.
pub struct Failure<'a> {
    pub job_id: &'a str,
    pub job_type: &'a str,
    pub policy: &'a str,
    pub priority: Option<u32>,
    pub target: &'a str,
    pub report: FailureReport<'a>,
    /// Delivery's fields, each `None` when empty.
    pub carry: Carry<'a>,
}

/// A `ReportFailure` / `Explain` request's fields as validation reads them:
/// borrowed from a decoded message or from the hot path's buffer
/// (`server::wire`), so each form is checked by the same code.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FailureRequest<'a> {
    pub job_id: &'a str,
    pub job_type: &'a str,
    pub policy: &'a str,
    pub priority: Option<u32>,
    pub error: Option<ErrorFields<'a>>,
    /// `retry_after_hint` as (seconds, nanos).
    pub retry_after_hint: Option<(i64, i32)>,
    pub attempt: u32,
    pub target: &'a str,
    pub retry_after_header: &'a str,
    pub retry_pushback_ms: Option<i64>,
    /// Delivery (`ReportFailure` only).
    pub payload: &'a [u8],
    pub queue: &'a str,
    pub lease_id: &'a str,
}

/// `ErrorInfo`'s fields, borrowed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ErrorFields<'a> {
    pub r#type: &'a str,
    pub message: &'a str,
    pub http_status: u32,
    pub grpc_code: i32,
    pub retryable: Option<bool>,
}

pub fn failure<'a>(r: FailureRequest<'a>) -> Result<Failure<'a>, Status> {
    let mut v = Violations::default();
    text(&mut v, "job_id", r.job_id, MAX_JOB_ID, true);
    text(&mut v, "job_type", r.job_type, MAX_JOB_TYPE, false);
    text(&mut v, "policy", r.policy, MAX_POLICY, false);
    text(&mut v, "target", r.target, MAX_TARGET, false);
    if let Some(p) = r.priority
        && p > 100
    {
        v.add("priority", format!("must be between 0 and 100, got {p}"));
    }
    if r.attempt > MAX_ATTEMPT {
        v.add(
            "attempt",
            format!(
                "must be 0 (not given) or 1-{MAX_ATTEMPT}, got {}: a larger number is a \
                 client bug (an unset or negative count cast to unsigned)",
                r.attempt
            ),
        );
    }
    let mut error = ErrorReport::default();
    if let Some(e) = r.error {
        text(&mut v, "error.type", e.r#type, MAX_ERROR_TYPE, false);
        if e.message.len() > MAX_MESSAGE {
            v.add(
                "error.message",
                format!(
                    "must be at most {MAX_MESSAGE} bytes, got {}",
                    e.message.len()
                ),
            );
        }
        let http = u16::try_from(e.http_status)
            .ok()
            .filter(|s| *s == 0 || (100..=599).contains(s));
        if http.is_none() {
            v.add(
                "error.http_status",
                format!("must be 0 (none) or 100-599, got {}", e.http_status),
            );
        }
        let grpc = u8::try_from(e.grpc_code).ok().filter(|c| *c <= 16);
        if grpc.is_none() {
            v.add(
                "error.grpc_code",
                format!(
                    "must be 0 (none) or a google.rpc.Code 1-16, got {}",
                    e.grpc_code
                ),
            );
        }
        error = ErrorReport {
            type_name: e.r#type.trim(),
            message: e.message,
            http_status: http.unwrap_or(0),
            grpc_code: grpc.unwrap_or(0),
            retryable: e.retryable,
        };
    }
    let mut hint = r.retry_after_hint.and_then(|d| match duration_of(d) {
        Ok(d) => Some(d),
        Err(why) => {
            v.add("retry_after_hint", why);
            None
        }
    });
    let mut retry_after_at = None;
    if !r.retry_after_header.is_empty() {
        match retry_after::parse(r.retry_after_header) {
            Ok(RetryAfter::After(d)) if d > MAX_HINT => v.add(
                "retry_after_header",
                format!("must be at most 366 days, got {}s", d.as_secs()),
            ),
            Ok(RetryAfter::After(d)) => hint = hint.max(Some(d)),
            Ok(RetryAfter::At(t)) => retry_after_at = Some(t),
            Err(why) => v.add("retry_after_header", why),
        }
    }
    let mut pushback_stop = false;
    match r.retry_pushback_ms {
        Some(ms) if ms < 0 => pushback_stop = true,
        Some(ms) if ms.unsigned_abs() > MAX_HINT.as_millis() as u64 => v.add(
            "retry_pushback_ms",
            format!("must be at most 366 days, got {ms} ms"),
        ),
        Some(ms) => hint = hint.max(Some(Duration::from_millis(ms.unsigned_abs()))),
        None => {}
    }
    text(&mut v, "queue", r.queue, MAX_QUEUE, false);
    text(&mut v, "lease_id", r.lease_id, MAX_LEASE_ID, false);
    v.finish()?;
    let some = |s: &'a str| (!s.is_empty()).then_some(s);
    Ok(Failure {
        carry: Carry {
            payload: (!r.payload.is_empty()).then_some(r.payload),
            queue: some(r.queue),
            lease: some(r.lease_id),
        },
        job_id: r.job_id,
        job_type: r.job_type,
        policy: r.policy,
        priority: r.priority,
        target: r.target,
        report: FailureReport {
            error,
            attempt: r.attempt,
            retry_after_hint: hint,
            retry_after_at,
            pushback_stop,
        },
    })
}

fn duration(d: &prost_types::Duration) -> Result<Duration, String> {
    duration_of((d.seconds, d.nanos))
}

fn duration_of((seconds, nanos): (i64, i32)) -> Result<Duration, String> {
    if seconds < 0 || nanos < 0 {
        return Err("must not be negative".into());
    }
    let nanos = u32::try_from(nanos).ok().filter(|n| *n < 1_000_000_000);
    let secs = u64::try_from(seconds).ok();
    match (secs, nanos) {
        (Some(s), Some(n)) => {
            let d = Duration::new(s, n);
            if d > MAX_HINT {
                Err(format!("must be at most 366 days, got {}s", d.as_secs()))
            } else {
                Ok(d)
            }
        }
        _ => Err("nanos must be between 0 and 999999999".into()),
    }
}

pub fn report_success(r: &pb::ReportSuccessRequest) -> Result<(), Status> {
    let mut v = Violations::default();
    text(&mut v, "job_id", &r.job_id, MAX_JOB_ID, true);
    text(&mut v, "job_type", &r.job_type, MAX_JOB_TYPE, false);
    text(&mut v, "target", &r.target, MAX_TARGET, false);
    text(&mut v, "lease_id", &r.lease_id, MAX_LEASE_ID, false);
    v.finish()
}

/// A lease asked for: `None` for the default; at most 12 h, more than 0.
fn lease(v: &mut Violations, field: &str, d: Option<&prost_types::Duration>) -> Option<Duration> {
    let d = d?;
    match duration_of((d.seconds, d.nanos)) {
        Ok(d) if d.is_zero() => {
            v.add(
                field,
                "must be more than 0s (leave it unset for the default)",
            );
            None
        }
        Ok(d) if d > crate::config::MAX_LEASE => {
            v.add(
                field,
                format!("must be at most 12h, got {}", crate::engine::Human(d)),
            );
            None
        }
        Ok(d) => Some(d),
        Err(why) => {
            v.add(field, why);
            None
        }
    }
}

/// A claim (`ClaimDue`, `WatchDue`): its queue, how many jobs, its lease.
pub fn claim(
    queue: &str,
    count_field: &str,
    count: u32,
    lease_d: Option<&prost_types::Duration>,
) -> Result<(usize, Option<Duration>), Status> {
    let mut v = Violations::default();
    text(&mut v, "queue", queue, MAX_QUEUE, true);
    if count == 0 {
        v.add(count_field, format!("must be 1-{MAX_CLAIM}, got 0"));
    }
    let lease = lease(&mut v, "lease", lease_d);
    v.finish()?;
    Ok((count.min(MAX_CLAIM) as usize, lease))
}

/// `ExtendLease` / `ReleaseJob`: the job, its lease, and a duration.
pub fn leased(
    job_id: &str,
    lease_id: &str,
    field: &str,
    d: Option<&prost_types::Duration>,
) -> Result<Option<Duration>, Status> {
    let mut v = Violations::default();
    text(&mut v, "job_id", job_id, MAX_JOB_ID, true);
    text(&mut v, "lease_id", lease_id, MAX_LEASE_ID, true);
    let d = if field == "lease" {
        lease(&mut v, field, d)
    } else {
        d.and_then(|d| match duration_of((d.seconds, d.nanos)) {
            Ok(d) => Some(d),
            Err(why) => {
                v.add(field, why);
                None
            }
        })
    };
    v.finish()?;
    Ok(d)
}

/// `page_size` as the number of jobs to return.
pub fn page_size(n: i32) -> Result<usize, Status> {
    match usize::try_from(n) {
        Err(_) => Err(invalid(
            "page_size",
            format!("must not be negative, got {n}"),
        )),
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(n) => Ok(n.min(MAX_PAGE_SIZE)),
    }
}

pub fn list_filter_job_type(s: &str) -> Result<(), Status> {
    let mut v = Violations::default();
    text(&mut v, "job_type", s, MAX_JOB_TYPE, false);
    v.finish()
}

/// The optional settings of a valid `StartPass`.
pub struct StartPass {
    pub max_passes: Option<u32>,
    pub pass_delay: Option<Duration>,
}

pub const MAX_PASSES: u32 = 1000;

pub fn start_pass(r: &pb::StartPassRequest) -> Result<StartPass, Status> {
    let mut v = Violations::default();
    text(&mut v, "batch_id", &r.batch_id, MAX_JOB_ID, true);
    if r.job_ids.len() > crate::state::batch_rules::MAX_BATCH_JOBS {
        v.add(
            "job_ids",
            format!(
                "at most {} per batch, got {}",
                crate::state::batch_rules::MAX_BATCH_JOBS,
                r.job_ids.len()
            ),
        );
    } else {
        for (i, id) in r.job_ids.iter().enumerate() {
            text(&mut v, &format!("job_ids[{i}]"), id, MAX_JOB_ID, true);
        }
    }
    if let Some(m) = r.max_passes
        && !(1..=MAX_PASSES).contains(&m)
    {
        v.add(
            "max_passes",
            format!("must be between 1 and {MAX_PASSES}, got {m}"),
        );
    }
    let pass_delay = r.pass_delay.as_ref().and_then(|d| match duration(d) {
        Ok(d) => Some(d),
        Err(why) => {
            v.add("pass_delay", why);
            None
        }
    });
    v.finish()?;
    Ok(StartPass {
        max_passes: r.max_passes,
        pass_delay,
    })
}

/// The longest pause: a year (a longer one is a mistake; 0 = until resumed).
pub const MAX_PAUSE: Duration = Duration::from_secs(366 * 24 * 3600);

/// What a `PauseRetries` / `ResumeRetries` names: exactly one of its job
/// type and target.
pub fn pause_scope(job_type: &str, target: &str) -> Result<crate::state::pauses::Scope, Status> {
    use crate::state::pauses::Scope;
    let mut v = Violations::default();
    text(&mut v, "job_type", job_type, MAX_JOB_TYPE, false);
    text(&mut v, "target", target, MAX_TARGET, false);
    v.finish()?;
    match (job_type.is_empty(), target.is_empty()) {
        (false, true) => Ok(Scope::JobType(job_type.to_string())),
        (true, false) => Ok(Scope::Target(target.to_string())),
        (true, true) => Err(invalid(
            "job_type",
            "exactly one of job_type and target must be set, got neither",
        )),
        (false, false) => Err(invalid(
            "target",
            "exactly one of job_type and target must be set, got both",
        )),
    }
}

/// A pause's length: `None` until resumed (unset or zero).
pub fn pause_duration(d: Option<&prost_types::Duration>) -> Result<Option<Duration>, Status> {
    let Some(d) = d else { return Ok(None) };
    let d = duration(d).map_err(|e| invalid("duration", e))?;
    if d > MAX_PAUSE {
        return Err(invalid("duration", "must be at most 366 days"));
    }
    Ok((!d.is_zero()).then_some(d))
}

/// `WatchEvents` filters.
pub fn watch(r: &pb::WatchEventsRequest) -> Result<(), Status> {
    let mut v = Violations::default();
    text(&mut v, "job_type", &r.job_type, MAX_JOB_TYPE, false);
    text(&mut v, "target", &r.target, MAX_TARGET, false);
    for k in &r.kinds {
        match pb::EventKind::try_from(*k) {
            Ok(pb::EventKind::Unspecified) | Err(_) => {
                v.add("kinds", format!("unknown EventKind value {k}"));
            }
            Ok(_) => {}
        }
    }
    v.finish()
}
