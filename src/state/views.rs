//! What the state layer answers: job views, outcomes of reports, counters,
//! pages, evictions and gauges.

use super::step::{Event, Tally};
use super::{MESSAGE_PREFIX, prefix};
use crate::engine::breaker::Moves;
use crate::engine::{BreakerState, Decision, ErrorReport, Job, JobState, TargetId, Timestamp};
use crate::labels::LabelId;

/// One job type's counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatsRow {
    pub job_type: String,
    pub retrying: u64,
    pub dead: u64,
    pub cancelled: u64,
    pub first_try_successes: u64,
    pub successes_after_retry: u64,
    pub give_ups: u64,
}

impl StatsRow {
    /// Successes after retry / (successes after retry + give-ups), in percent.
    pub fn retry_success_rate(&self) -> f64 {
        crate::engine::percent(
            self.successes_after_retry,
            self.successes_after_retry + self.give_ups,
        )
    }

    pub fn add(&mut self, o: &StatsRow) {
        self.retrying += o.retrying;
        self.dead += o.dead;
        self.cancelled += o.cancelled;
        self.first_try_successes += o.first_try_successes;
        self.successes_after_retry += o.successes_after_retry;
        self.give_ups += o.give_ups;
    }

    pub fn is_zero(&self) -> bool {
        [
            self.retrying,
            self.dead,
            self.cancelled,
            self.first_try_successes,
            self.successes_after_retry,
            self.give_ups,
        ]
        .iter()
        .all(|n| *n == 0)
    }
}

/// Rows (those with any count, sorted by job type) and their sum.
pub fn stats_with_total(mut rows: Vec<StatsRow>) -> (Vec<StatsRow>, StatsRow) {
    rows.retain(|r| !r.is_zero());
    rows.sort_by(|a, b| a.job_type.cmp(&b.job_type));
    let mut total = StatsRow::default();
    for r in &rows {
        total.add(r);
    }
    (rows, total)
}

/// The latest error of a job as callers see it, its message cut to `MESSAGE_PREFIX` bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredError {
    pub type_name: String,
    pub message: String,
    pub http_status: u16,
    pub grpc_code: u8,
    pub retryable: Option<bool>,
}

impl StoredError {
    pub fn report(&self) -> ErrorReport<'_> {
        ErrorReport {
            type_name: &self.type_name,
            message: &self.message,
            http_status: self.http_status,
            grpc_code: self.grpc_code,
            retryable: self.retryable,
        }
    }

    pub fn of(e: &ErrorReport<'_>) -> StoredError {
        StoredError {
            type_name: e.type_name.to_string(),
            message: prefix(e.message, MESSAGE_PREFIX).to_string(),
            http_status: e.http_status,
            grpc_code: e.grpc_code,
            retryable: e.retryable,
        }
    }
}

/// A job, decoded for callers.
#[derive(Clone, Debug, PartialEq)]
pub struct JobView {
    pub id: String,
    pub job_type: String,
    pub job: Job,
    pub last_error: StoredError,
    /// Its payload's queue and hand-outs, if retryd holds it for delivery.
    pub delivery: Option<super::DeliveryView>,
}

/// What a `ReportFailure` did.
#[derive(Clone, Debug)]
pub struct FailureOutcome {
    pub decision: Decision,
    pub duplicate: bool,
    /// The job-type label (bounded).
    pub label: LabelId,
    /// The job became dead with this report.
    pub gave_up: bool,
    /// For a duplicate: the error the job kept, which its decision was about.
    pub kept_error: Option<StoredError>,
    /// Decided from this sidecar's own state: the fleet's could not be
    /// reached (`on_unavailable = "local"`).
    pub local: bool,
    /// The target's breaker moved to another state with this report.
    pub breaker: Option<Moved>,
    /// What the policy's shadow decided (it changed nothing).
    pub shadow: Option<Decision>,
    /// Nothing was done: the decision was made with an engine a reload has
    /// replaced (the state answers `StateError::Reloaded`; the caller asks
    /// again with the new one). `decision` is then meaningless.
    pub stale: bool,
}

impl FailureOutcome {
    /// A report refused, unrecorded: see `stale`.
    pub(crate) fn stale() -> FailureOutcome {
        use crate::engine::{Action, CategoryId, ErrorClass, MatchKind, PolicyId, Why};
        FailureOutcome {
            stale: true,
            ..FailureOutcome::duplicate(
                Decision {
                    action: Action::GiveUp,
                    reason: None,
                    error_class: ErrorClass::Unknown,
                    category: CategoryId::default(),
                    rule: None,
                    matched: MatchKind::Nothing,
                    policy: PolicyId::default(),
                    target: None,
                    failure_count: 0,
                    delay: std::time::Duration::ZERO,
                    retry_at: None,
                    why: Why::Permanent,
                },
                LabelId::default(),
                None,
            )
        }
    }

    /// A report recorded; `tally` says whether the job died with it.
    pub(crate) fn recorded(decision: Decision, label: LabelId, tally: &Tally) -> FailureOutcome {
        FailureOutcome {
            decision,
            duplicate: false,
            label,
            gave_up: tally.event == Some(Event::GaveUp),
            kept_error: None,
            local: false,
            breaker: None,
            shadow: None,
            stale: false,
        }
    }

    /// A report already counted: the decision the job kept, about `kept_error`.
    pub(crate) fn duplicate(
        decision: Decision,
        label: LabelId,
        kept_error: Option<StoredError>,
    ) -> FailureOutcome {
        FailureOutcome {
            decision,
            duplicate: true,
            label,
            gave_up: false,
            kept_error,
            local: false,
            breaker: None,
            shadow: None,
            stale: false,
        }
    }
}

/// What a `ReportSuccess` did.
#[derive(Clone, Copy, Debug)]
pub struct SuccessOutcome {
    pub known: bool,
    pub failures_before_success: u32,
    pub label: LabelId,
    /// The target's breaker moved to another state with this success.
    pub breaker: Option<Moved>,
}

/// Jobs removed by one sweep, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Evictions {
    pub idle_ttl: u64,
    pub dead_ttl: u64,
    pub capacity: u64,
    pub dead_limit: u64,
}

impl Evictions {
    pub fn by_reason(&self) -> [(&'static str, u64); 4] {
        [
            ("idle_ttl", self.idle_ttl),
            ("dead_ttl", self.dead_ttl),
            ("capacity", self.capacity),
            ("dead_limit", self.dead_limit),
        ]
    }

    pub fn any(&self) -> bool {
        self.by_reason().iter().any(|(_, n)| *n > 0)
    }

    pub fn add(&mut self, o: &Evictions) {
        self.idle_ttl += o.idle_ttl;
        self.dead_ttl += o.dead_ttl;
        self.capacity += o.capacity;
        self.dead_limit += o.dead_limit;
    }
}

pub struct Page {
    pub jobs: Vec<JobView>,
    pub total: usize,
    /// The last job id of this page when more follow.
    pub next_after: Option<String>,
}

/// What the metrics endpoint renders of the state: gauges.
#[derive(Clone, Debug)]
pub struct Gauges {
    pub jobs: [(JobState, u64); 3],
    pub budgets: Vec<BudgetRow>,
    pub breakers: Vec<BreakerRow>,
    /// Delivery: each queue's parked and leased jobs and oldest due time.
    pub queues: Vec<super::QueueRow>,
    pub parked_bytes: u64,
}

/// One target's budget, for `ListBudgets` and the metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetRow {
    pub target_id: TargetId,
    pub target: String,
    pub tokens: f64,
    pub max_tokens: u32,
    pub retrying: u64,
    pub max_retrying: u32,
    pub exhausted_total: u64,
}

/// The states a breaker moved through with one call, for the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moved {
    pub target: TargetId,
    pub moves: Moves,
}

/// One target's breaker, for `ListBudgets` and the metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerRow {
    pub target_id: TargetId,
    pub target: String,
    pub state: BreakerState,
    /// While open: when it closes.
    pub open_until: Option<Timestamp>,
}
