//! The decision for one failure: `Engine::decide` reads a job (or its
//! absence) and returns a verdict; `Job::record` applies it. Splitting the
//! two lets `Explain` run the very same code without changing anything.

use std::time::Duration;

use rand::Rng;

use super::breaker::{BreakerConfig, Deferral};
use super::budget::{BudgetConfigs, BudgetView, OnExhausted, PerTarget, TargetId};
use super::classify::Classifier;
use super::job::Job;
use super::policy::{Curve, HintMode, OnUnknown, Policy, PolicySet, UNLIMITED};
use super::{
    Action, Decision, ErrorClass, FailureReport, GiveUpReason, HintUse, JobState, Timestamp, Why,
    ms_u32,
};

/// The engine's answer to one report.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Verdict {
    pub decision: Decision,
    /// The report repeats (or predates) the latest recorded attempt: the
    /// decision is the stored one and nothing is to change.
    pub duplicate: bool,
    /// The attempt number to record.
    pub attempt: u32,
}

/// A report, de-duplicated (`Engine::attempt`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Attempt {
    /// It repeats (or predates) the latest recorded attempt: this is the
    /// stored decision, and nothing is to change.
    Duplicate(Verdict),
    New(NewFailure),
}

/// A failure that counts: its number and the attempt number to record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewFailure {
    pub n: u32,
    pub attempt: u32,
}

/// A target's circuit breaker as one decision sees it, after this failure
/// was counted: what it means for the retry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerView {
    pub target: TargetId,
    /// While it is open: where this failure's retry lands, claimed in the
    /// same step as the count (so that a fleet has exactly
    /// `half_open_probes` probes).
    pub deferral: Option<Deferral>,
}

/// An operator's pause that covers a failure (the job's type or target is
/// paused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PauseView {
    /// When the pause ends; `None` until resumed.
    pub until: Option<Timestamp>,
    /// How long an open-ended pause defers a retry (`pause_recheck`).
    pub recheck: Duration,
    /// The target is paused (else the job type).
    pub by_target: bool,
}

impl PauseView {
    /// When a retry paused at `now` is due.
    pub fn retry_at(&self, now: Timestamp) -> Timestamp {
        match self.until {
            Some(t) => t.max(now),
            None => now.saturating_add(self.recheck),
        }
    }
}

/// What stands between a failure and its retry, besides the policy: an
/// operator's pause, the target's budget and breaker.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Gates {
    pub budget: Option<BudgetView>,
    pub breaker: Option<BreakerView>,
    pub pause: Option<PauseView>,
}

/// Classification rules and policies: everything a decision needs besides
/// the job, "now" and a random source.
#[derive(Debug)]
pub struct Engine {
    pub classifier: Classifier,
    pub policies: PolicySet,
    /// Retry budgets by target (none unless configured).
    pub budgets: BudgetConfigs,
    /// Circuit breakers by target (none unless configured).
    pub breakers: PerTarget<BreakerConfig>,
    /// How long a retry waits under a pause with no end.
    pub pause_recheck: Duration,
    /// Which configuration this is: 0 at start, one more at each reload.
    /// Policy, category and rule ids are only meaningful within one.
    pub generation: u64,
    /// The fixed parts of retry explanations, by policy and category: built
    /// from `classifier` and `policies` on first use.
    pub curve_texts: std::sync::OnceLock<super::explain::CurveTexts>,
}

/// `pause_recheck` unless configured.
pub const DEFAULT_PAUSE_RECHECK: Duration = Duration::from_secs(60);

/// Rounds to whole milliseconds: what a job keeps of a delay.
fn whole_ms(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Engine {
    pub fn new(classifier: Classifier, policies: PolicySet) -> Self {
        Engine {
            classifier,
            policies,
            budgets: BudgetConfigs::default(),
            breakers: PerTarget::default(),
            pause_recheck: DEFAULT_PAUSE_RECHECK,
            generation: 0,
            curve_texts: std::sync::OnceLock::new(),
        }
    }

    /// Decides what failure `report` of `job` (absent: its first) gets under
    /// `policy`, with `budget` the state of its target's retry budget, if any.
    pub fn decide<R: Rng + ?Sized>(
        &self,
        job: Option<&Job>,
        policy: &Policy,
        report: &FailureReport<'_>,
        budget: Option<&BudgetView>,
        now: Timestamp,
        rng: &mut R,
    ) -> Verdict {
        let gates = Gates {
            budget: budget.copied(),
            ..Gates::default()
        };
        self.decide_gated(job, policy, report, &gates, now, rng)
    }

    /// `decide` with the target's breaker too.
    pub fn decide_gated<R: Rng + ?Sized>(
        &self,
        job: Option<&Job>,
        policy: &Policy,
        report: &FailureReport<'_>,
        gates: &Gates,
        now: Timestamp,
        rng: &mut R,
    ) -> Verdict {
        match self.attempt(job, report) {
            Attempt::Duplicate(v) => v,
            Attempt::New(a) => self.decide_new(job, policy, report, a, gates, now, rng),
        }
    }

    /// De-duplication and adoption of the caller's attempt number: whether
    /// `report` is a new failure of `job`, and which.
    ///
    /// Apart from `decide_new` so that a caller can spend from a retry
    /// budget only for a failure that counts (a re-sent report costs nothing).
    pub fn attempt(&self, job: Option<&Job>, report: &FailureReport<'_>) -> Attempt {
        let (n, attempt) = match job {
            None => {
                let a = report.attempt.max(1);
                (a, a)
            }
            Some(j) if j.rebase_attempt || report.attempt == 0 => {
                let a = if report.attempt == 0 {
                    j.last_attempt.saturating_add(1)
                } else {
                    report.attempt
                };
                (j.failure_count.saturating_add(1), a)
            }
            Some(j) if report.attempt <= j.last_attempt => {
                return Attempt::Duplicate(Verdict {
                    decision: j.last_decision,
                    duplicate: true,
                    attempt: j.last_attempt,
                });
            }
            Some(j) => (
                j.failure_count
                    .saturating_add(report.attempt - j.last_attempt),
                report.attempt,
            ),
        };
        Attempt::New(NewFailure { n, attempt })
    }

    /// The decision for a new failure (`attempt` said which).
    #[allow(clippy::too_many_arguments)]
    pub fn decide_new<R: Rng + ?Sized>(
        &self,
        job: Option<&Job>,
        policy: &Policy,
        report: &FailureReport<'_>,
        failure: NewFailure,
        gates: &Gates,
        now: Timestamp,
        rng: &mut R,
    ) -> Verdict {
        let NewFailure { n, attempt } = failure;
        let budget = gates.budget.as_ref();
        let cls = self.classifier.classify(&report.error);
        let mut d = Decision {
            action: Action::GiveUp,
            reason: None,
            error_class: cls.class,
            category: cls.category,
            rule: cls.rule,
            matched: cls.matched.kind(),
            policy: policy.id,
            target: budget
                .map(|b| b.target)
                .or(gates.breaker.as_ref().map(|b| b.target)),
            failure_count: n,
            delay: Duration::ZERO,
            retry_at: None,
            why: Why::Permanent,
        };
        let verdict = |d: Decision| Verdict {
            decision: d,
            duplicate: false,
            attempt,
        };
        let give_up = |mut d: Decision, reason, why| {
            d.reason = Some(reason);
            d.why = why;
            verdict(d)
        };

        match job.map(|j| j.state) {
            Some(JobState::Cancelled) => {
                return give_up(d, GiveUpReason::Cancelled, Why::Cancelled);
            }
            Some(JobState::Dead) => {
                let earlier = job
                    .and_then(|j| j.last_decision.reason)
                    .unwrap_or(GiveUpReason::RetriesExhausted);
                return give_up(d, earlier, Why::AlreadyDead);
            }
            _ => {}
        }

        match cls.class {
            ErrorClass::Permanent => {
                return give_up(d, GiveUpReason::PermanentError, Why::Permanent);
            }
            ErrorClass::Unknown if policy.on_unknown == OnUnknown::GiveUp => {
                return give_up(d, GiveUpReason::PermanentError, Why::UnknownGivesUp);
            }
            _ => {}
        }
        if report.pushback_stop && policy.retry_after_hint != HintMode::Ignore {
            return give_up(d, GiveUpReason::Pushback, Why::Pushback);
        }
        if let Some(p) = gates.pause {
            // An operator's pause: retry when it ends, and this failure
            // uses up none of the job's retries.
            let at = p.retry_at(now);
            d.failure_count = job.map_or(0, |j| j.failure_count);
            d.delay = whole_ms(at.since(now));
            d.action = Action::Retry;
            d.retry_at = Some(now.saturating_add(d.delay));
            d.why = Why::Paused {
                open_ended: p.until.is_none(),
                by_target: p.by_target,
            };
            return verdict(d);
        }

        let category = self.classifier.category_name(cls.category);
        let (limit, by_category) = policy.limit_for(category);
        if n > limit {
            return give_up(
                d,
                GiveUpReason::RetriesExhausted,
                Why::Exhausted { by_category },
            );
        }

        let (mut delay, mut why) = self.delay(job, policy, category, report, n, now, rng);
        if let Some(deferral) = gates.breaker.as_ref().and_then(|b| b.deferral) {
            // The breaker decides, not the budget: the retry waits for the
            // close, whatever tokens are left.
            let max_delay = policy.curve_for(category).max_delay;
            delay = whole_ms(deferral.retry_at.since(now).min(max_delay));
            why = Why::BreakerOpen {
                probe: deferral.probe,
            };
        } else if let Some(limit) = budget.and_then(BudgetView::exhausted) {
            match budget.map(|b| b.config.on_exhausted) {
                Some(OnExhausted::Defer) => {
                    delay = whole_ms(policy.max_delay);
                    why = Why::BudgetDeferred { limit };
                }
                _ => {
                    return give_up(
                        d,
                        GiveUpReason::BudgetExhausted,
                        Why::BudgetExhausted { limit },
                    );
                }
            }
        }
        d.delay = delay;

        if let Some(limit) = policy.max_retry_duration {
            let first = match job {
                Some(j) if j.failure_count > 0 => j.first_failure_at,
                _ => now,
            };
            let lands = now.since(first) + delay;
            if lands > limit {
                let lands_s = u32::try_from(lands.as_secs()).unwrap_or(u32::MAX);
                return give_up(d, GiveUpReason::DeadlineExceeded, Why::Deadline { lands_s });
            }
        }

        d.action = Action::Retry;
        d.retry_at = Some(now.saturating_add(delay));
        d.why = why;
        verdict(d)
    }

    /// Backoff, jitter, the server's hint, the cap — in that order (with
    /// `retry_after_hint = "exact"` a hint replaces backoff and jitter).
    #[allow(clippy::too_many_arguments)]
    fn delay<R: Rng + ?Sized>(
        &self,
        job: Option<&Job>,
        policy: &Policy,
        category: &str,
        report: &FailureReport<'_>,
        n: u32,
        now: Timestamp,
        rng: &mut R,
    ) -> (Duration, Why) {
        let curve = policy.curve_for(category);
        let hint = server_hint(report, now);
        let use_of = match hint {
            None => HintUse::None,
            Some(h) => {
                let ms = ms_u32(h);
                match policy.retry_after_hint {
                    HintMode::Ignore => HintUse::Ignored(ms),
                    _ if policy.max_retry_after_hint.is_some_and(|m| h > m) => HintUse::TooLong(ms),
                    HintMode::Exact => HintUse::Exact(ms),
                    HintMode::Honor => HintUse::Raised(ms),
                }
            }
        };
        let (mut delay, jittered, hint) = match (use_of, hint) {
            (HintUse::Exact(_), Some(h)) => (h, false, use_of),
            (HintUse::Raised(_), Some(h)) => {
                let (d, jittered) = jittered(job, &curve, n, rng);
                if h > d {
                    (h, jittered, use_of)
                } else {
                    // Honored, but below the backoff: it changed nothing.
                    (d, jittered, HintUse::None)
                }
            }
            _ => {
                let (d, jittered) = jittered(job, &curve, n, rng);
                (d, jittered, use_of)
            }
        };
        let capped = delay > curve.max_delay;
        if capped {
            delay = curve.max_delay;
        }
        (
            whole_ms(delay),
            Why::Retry {
                jittered,
                hint,
                capped,
            },
        )
    }

    /// The applied retry limit + 1, as callers see it in `max_attempts`;
    /// 0 for an unlimited policy.
    pub fn max_attempts(&self, d: &Decision) -> u32 {
        match self.retry_limit(d) {
            UNLIMITED => 0,
            limit => limit.saturating_add(1),
        }
    }

    /// The retry limit applied to `d` (`UNLIMITED` for none).
    pub fn retry_limit(&self, d: &Decision) -> u32 {
        let policy = self.policies.by_id(d.policy);
        policy
            .limit_for(self.classifier.category_name(d.category))
            .0
    }

    pub fn policy_name(&self, d: &Decision) -> &str {
        &self.policies.by_id(d.policy).name
    }

    pub fn category_name(&self, d: &Decision) -> &str {
        self.classifier.category_name(d.category)
    }
}

/// Backoff(n) on `curve`, then its jitter; whether the jitter changed it.
fn jittered<R: Rng + ?Sized>(
    job: Option<&Job>,
    curve: &Curve<'_>,
    n: u32,
    rng: &mut R,
) -> (Duration, bool) {
    let base = curve.backoff.base();
    let previous = match job {
        Some(j) if j.last_decision.action == Action::Retry && !j.last_decision.delay.is_zero() => {
            j.last_decision.delay
        }
        _ => base,
    };
    let backoff = curve.backoff.delay(n);
    let delay = curve
        .jitter
        .apply(backoff, base, previous, curve.max_delay, rng);
    (delay, delay != backoff)
}

/// The server's delay: the longest of the hints given, an instant turned
/// into the time left until it (zero once past).
fn server_hint(report: &FailureReport<'_>, now: Timestamp) -> Option<Duration> {
    let at = report.retry_after_at.map(|t| t.since(now));
    report.retry_after_hint.max(at)
}

#[cfg(test)]
mod tests;
