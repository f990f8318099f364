//! The per-job state machine: what a job keeps between failures, and how a
//! verdict, a manual retry or a cancel changes it. A `Job` is the
//! fixed-size part of a job's state, everything a decision needs; the texts
//! (id, error type and message) are kept by the state layer.

use std::time::Duration;

use super::decide::Verdict;
use super::{Action, Decision, GiveUpReason, JobState, Timestamp, Why};

/// The fixed-size state retryd holds for a job that has failed and not yet succeeded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Job {
    pub state: JobState,
    pub failure_count: u32,
    /// The attempt number of the latest recorded failure (the caller's, or
    /// counted by retryd when the caller gives none).
    pub last_attempt: u32,
    /// After a manual retry the caller's next attempt number is accepted as
    /// the next failure whatever it is: the caller may restart its count.
    pub rebase_attempt: bool,
    pub first_failure_at: Timestamp,
    pub last_failure_at: Timestamp,
    /// Latest change of any kind, but for a dead job when it died: idle,
    /// capacity and dead-letter eviction go by it, and a dead job's `dead_ttl`
    /// counts from its death however often it is reported again.
    pub updated_at: Timestamp,
    pub last_decision: Decision,
}

impl Job {
    /// A job's first recorded failure.
    pub fn first(verdict: &Verdict, now: Timestamp) -> Job {
        let decision = verdict.decision;
        Job {
            state: state_after(None, decision.action),
            failure_count: decision.failure_count,
            last_attempt: verdict.attempt,
            rebase_attempt: false,
            first_failure_at: now,
            last_failure_at: now,
            updated_at: now,
            last_decision: decision,
        }
    }

    /// Applies a non-duplicate verdict.
    pub fn record(&mut self, verdict: &Verdict, now: Timestamp) {
        let decision = verdict.decision;
        if self.failure_count == 0 {
            // First failure since creation or since a manual retry that reset the count.
            self.first_failure_at = now;
        }
        let was_dead = self.state == JobState::Dead;
        self.state = state_after(Some(self.state), decision.action);
        self.failure_count = decision.failure_count;
        self.last_attempt = verdict.attempt;
        self.rebase_attempt = false;
        self.last_failure_at = now;
        if !(was_dead && self.state == JobState::Dead) {
            self.updated_at = now;
        }
        self.last_decision = decision;
    }

    /// When the next attempt is due, if the job is waiting for one.
    pub fn next_retry_at(&self) -> Option<Timestamp> {
        match self.state {
            JobState::Retrying => self.last_decision.retry_at,
            _ => None,
        }
    }

    /// An operator's manual retry: due now, optionally with a fresh count.
    pub fn manual_retry(&mut self, reset_failures: bool, now: Timestamp) {
        if reset_failures {
            self.failure_count = 0;
        }
        self.state = JobState::Retrying;
        self.rebase_attempt = true;
        self.updated_at = now;
        let d = &mut self.last_decision;
        d.action = Action::Retry;
        d.reason = None;
        d.delay = Duration::ZERO;
        d.retry_at = Some(now);
        d.failure_count = self.failure_count;
        d.why = Why::ManualRetry {
            reset: reset_failures,
        };
    }

    /// Delivery: the lease of its `max`-th unsettled hand-out ran out. The
    /// job is dead; its failure count stays what its reports made it.
    pub fn delivery_limit(&mut self, max: u32, now: Timestamp) {
        self.state = JobState::Dead;
        self.updated_at = now;
        let d = &mut self.last_decision;
        d.action = Action::GiveUp;
        d.reason = Some(GiveUpReason::DeliveryLimit);
        d.delay = Duration::ZERO;
        d.retry_at = None;
        d.why = Why::DeliveryLimit { max };
    }

    /// The attempt number of the job's next run (what a delivery hands out).
    pub fn next_attempt(&self) -> u32 {
        self.last_attempt.max(self.failure_count).saturating_add(1)
    }

    /// An operator's cancel: later failures give up with `CANCELLED`, and so
    /// does a re-sent report of the latest attempt.
    pub fn cancel(&mut self, now: Timestamp) {
        self.state = JobState::Cancelled;
        self.updated_at = now;
        let d = &mut self.last_decision;
        d.action = Action::GiveUp;
        d.reason = Some(GiveUpReason::Cancelled);
        d.delay = Duration::ZERO;
        d.retry_at = None;
        d.why = Why::OperatorCancel;
    }
}

fn state_after(before: Option<JobState>, action: Action) -> JobState {
    match (before, action) {
        (Some(JobState::Cancelled), _) => JobState::Cancelled,
        (_, Action::Retry) => JobState::Retrying,
        (_, Action::GiveUp) => JobState::Dead,
    }
}
