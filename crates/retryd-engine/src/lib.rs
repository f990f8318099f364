//! The decision engine: classification, policies, backoff and jitter, and the
//! per-job state machine.
//!
//! Everything here is pure. "Now" and the random source are arguments, nothing
//! reads a clock, touches the network or a global, so every rule of
//! docs/decisions.md is tested case by case without a server. It is a crate
//! of its own so that Cargo enforces this: its dependencies are regex, rand,
//! serde and a hasher, never a runtime, the network or the file system. The
//! sidecar (crate `retryd`) re-exports it as `retryd::engine`.

#![forbid(unsafe_code)]

pub mod backoff;
pub mod batch;
pub mod breaker;
pub mod budget;
pub mod classify;
pub mod decide;
pub mod explain;
pub mod job;
pub mod policy;
pub mod shadow;

use std::fmt;

use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use backoff::{Backoff, Jitter};
pub use breaker::{Breaker, BreakerConfig, BreakerState};
pub use budget::{
    BudgetConfig, BudgetConfigs, BudgetView, Exhausted, OnExhausted, PerTarget, TargetId,
};
pub use classify::{CategoryId, Classification, Classifier, MatchKind, Rule};
pub use decide::{Attempt, BreakerView, Engine, Gates, NewFailure, PauseView, Verdict};
pub use job::Job;
pub use policy::{
    CategoryOverride, HintMode, OnUnknown, Policy, PolicyId, PolicySet, PriorityBand, UNLIMITED,
};

/// Milliseconds since the Unix epoch.
///
/// Wall-clock, because decisions are returned as `retry_at` instants that
/// other processes compare with their own clocks; eight bytes, because every
/// tracked job stores several of them.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn from_system_time(t: SystemTime) -> Self {
        let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
        Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0)
    }

    pub fn saturating_add(self, d: Duration) -> Self {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// How an error is to be treated (docs/decisions.md, "Error classes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    Transient,
    Permanent,
    Unknown,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Retry,
    GiveUp,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Retry => "retry",
            Action::GiveUp => "give_up",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GiveUpReason {
    PermanentError,
    RetriesExhausted,
    DeadlineExceeded,
    Cancelled,
    BudgetExhausted,
    /// The server said not to retry (a negative gRPC pushback).
    Pushback,
    /// Delivery: the job's lease ran out unsettled `max_deliveries` times
    /// in a row (a poison job that kills its worker).
    DeliveryLimit,
}

impl GiveUpReason {
    pub fn as_str(self) -> &'static str {
        match self {
            GiveUpReason::PermanentError => "permanent_error",
            GiveUpReason::RetriesExhausted => "retries_exhausted",
            GiveUpReason::DeadlineExceeded => "deadline_exceeded",
            GiveUpReason::Cancelled => "cancelled",
            GiveUpReason::BudgetExhausted => "budget_exhausted",
            GiveUpReason::Pushback => "pushback",
            GiveUpReason::DeliveryLimit => "delivery_limit",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobState {
    Retrying,
    Dead,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 3] = [JobState::Retrying, JobState::Dead, JobState::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Retrying => "retrying",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
        }
    }
}

/// The error of one failed attempt, borrowed from the request: classifying it
/// copies nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct ErrorReport<'a> {
    pub type_name: &'a str,
    pub message: &'a str,
    /// 0 = none.
    pub http_status: u16,
    /// Numeric `google.rpc.Code`; 0 = none.
    pub grpc_code: u8,
    pub retryable: Option<bool>,
}

/// One validated `ReportFailure` (or `Explain`) as the engine sees it.
#[derive(Clone, Copy, Debug, Default)]
pub struct FailureReport<'a> {
    pub error: ErrorReport<'a>,
    /// The caller's attempt number, 1-based; 0 = not given.
    pub attempt: u32,
    /// The server's own delay (Retry-After seconds, gRPC pushback, RetryInfo):
    /// the longest the caller gave.
    pub retry_after_hint: Option<Duration>,
    /// A Retry-After HTTP-date or rate-limit reset: the instant the server
    /// named (the decision turns it into a delay from "now").
    pub retry_after_at: Option<Timestamp>,
    /// A negative gRPC pushback: the server says not to retry.
    pub pushback_stop: bool,
}

/// The answer to one failure report, or the decision a job holds.
///
/// Plain data, no text: names are ids into the engine's tables and the
/// explanation is rendered from `why` only when a caller asks for it
/// (`Engine::explanation`). Deciding allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    pub action: Action,
    pub reason: Option<GiveUpReason>,
    pub error_class: ErrorClass,
    pub category: CategoryId,
    /// The classification rule that matched (`None`: none did, or the caller's verdict).
    pub rule: Option<u16>,
    pub matched: MatchKind,
    pub policy: PolicyId,
    /// The budgeted target the failure was reported with, if it has a budget.
    pub target: Option<TargetId>,
    pub failure_count: u32,
    /// The delay computed (a whole number of milliseconds). On a retry, how
    /// long to wait; on a deadline give-up, the retry that was refused;
    /// otherwise zero.
    pub delay: Duration,
    /// When the next attempt is due; `None` on give-up.
    pub retry_at: Option<Timestamp>,
    pub why: Why,
}

impl Decision {
    /// What callers are told to wait: the delay on a retry, zero on give-up.
    pub fn retry_after(&self) -> Duration {
        match self.action {
            Action::Retry => self.delay,
            Action::GiveUp => Duration::ZERO,
        }
    }
}

/// Which rule and which limit decided, in a few bytes; `Engine::explanation`
/// turns it into the sentence callers see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// Retry after backoff; the flags say what else shaped the delay.
    Retry {
        jittered: bool,
        /// What the server's own delay did, if one was given.
        hint: HintUse,
        capped: bool,
    },
    /// The server said not to retry (a negative gRPC pushback).
    Pushback,
    /// The error is permanent.
    Permanent,
    /// No rule matched and the policy gives up on unknown errors.
    UnknownGivesUp,
    /// The failure count is past the limit (a category's own, or `max_retries`).
    Exhausted { by_category: bool },
    /// The retry would land this many seconds after the first failure, past
    /// `max_retry_duration`.
    Deadline { lands_s: u32 },
    /// The job was cancelled before this failure.
    Cancelled,
    /// The job had already given up.
    AlreadyDead,
    /// An operator's RetryJob.
    ManualRetry { reset: bool },
    /// An operator's CancelJob.
    OperatorCancel,
    /// Delivery: handed out this many times in a row and never settled.
    DeliveryLimit { max: u32 },
    /// The target's retry budget refused the retry: give up.
    BudgetExhausted { limit: Exhausted },
    /// The target's retry budget refused the retry: retry after `max_delay`.
    BudgetDeferred { limit: Exhausted },
    /// The target's circuit breaker is open: the retry waits for its close,
    /// as one of the probes at the close or after them.
    BreakerOpen { probe: bool },
    /// An operator paused the retries of the job's type or target: retry
    /// when the pause ends (open-ended: after `pause_recheck`); the failure
    /// was not counted.
    Paused { open_ended: bool, by_target: bool },
}

/// What a server hint did to a retry's delay; the hint in ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HintUse {
    /// No hint, or one below the backoff (`honor`).
    None,
    /// It raised the backoff (`honor`).
    Raised(u32),
    /// It was the delay (`exact`).
    Exact(u32),
    /// The policy ignores hints.
    Ignored(u32),
    /// Longer than `max_retry_after_hint`: disregarded.
    TooLong(u32),
}

/// Formats a duration the way the configuration spells it ("2s", "1m 30s").
pub struct Human(pub Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Millisecond precision: jittered delays would otherwise print nanoseconds.
        let ms = Duration::from_millis(u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX));
        if ms.is_zero() {
            return f.write_str("0s");
        }
        write!(f, "{}", humantime::format_duration(ms))
    }
}

impl Human {
    /// Appends what `Display` writes (humantime's format at millisecond
    /// precision), without the formatting machinery: explanations are built
    /// on every `ReportFailure`.
    pub fn push_to(&self, s: &mut String) {
        let ms = u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            s.push_str("0s");
            return;
        }
        let secs = ms / 1000;
        let millis = ms % 1000;
        // humantime's units: a year of 365.25 days, a month of 30.44 days.
        let years = secs / 31_557_600;
        let ydays = secs % 31_557_600;
        let months = ydays / 2_630_016;
        let mdays = ydays % 2_630_016;
        let days = mdays / 86400;
        let day_secs = mdays % 86400;
        let mut started = false;
        let mut item = |s: &mut String, value: u64, unit: &str, plural: bool| {
            if value > 0 {
                if started {
                    s.push(' ');
                }
                push_u64(s, value);
                s.push_str(unit);
                if plural && value > 1 {
                    s.push('s');
                }
                started = true;
            }
        };
        item(s, years, "year", true);
        item(s, months, "month", true);
        item(s, days, "day", true);
        item(s, day_secs / 3600, "h", false);
        item(s, day_secs % 3600 / 60, "m", false);
        item(s, day_secs % 60, "s", false);
        item(s, millis, "ms", false);
    }
}

/// Appends `n` in decimal (what `Display` writes, without a `Formatter`).
pub fn push_u64(s: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    s.push_str(std::str::from_utf8(&buf[i..]).unwrap_or_default());
}

/// Saturating milliseconds in a u32 (how a hint or a delay is kept).
pub fn ms_u32(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// `part` of `whole` in percent; 0 of nothing is 0 %.
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

#[cfg(test)]
mod human_tests {
    use super::*;

    /// `push_to` writes exactly what `Display` (humantime) writes.
    #[test]
    fn push_to_matches_display() {
        let mut samples: Vec<u64> = (0..3000).collect();
        let mut x: u64 = 1;
        while x < u64::MAX / 7 {
            samples.extend([x, x + 1, x - 1, x * 3 + 17]);
            x *= 7;
        }
        samples.extend([
            31_557_600_000,
            2_630_016_000,
            86_400_000,
            3_600_000,
            60_000,
            94_694_400_123,
            u64::MAX,
        ]);
        for ms in samples {
            for d in [Duration::from_millis(ms), Duration::from_micros(ms)] {
                let mut s = String::new();
                Human(d).push_to(&mut s);
                assert_eq!(s, Human(d).to_string(), "{d:?}");
            }
        }
        let mut s = String::new();
        push_u64(&mut s, u64::MAX);
        assert_eq!(s, u64::MAX.to_string());
    }
}
