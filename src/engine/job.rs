//! The per-job state machine and the decision for one failure (DESIGN.md section 3).
//!
//! `Engine::decide` reads a job (or its absence) and returns a verdict;
//! `Job::record` applies it. Splitting the two lets `Explain` run the very
//! same code without changing anything. A `Job` is the fixed-size part of a
//! job's state, everything a decision needs; the texts (id, error type and
//! message) are kept by the store.

use std::fmt::Write as _;
use std::time::Duration;

use rand::Rng;

use super::budget::{BudgetConfigs, BudgetView, Exhausted, OnExhausted};
use super::classify::Classifier;
use super::policy::{HintMode, OnUnknown, Policy, PolicySet};
use super::{
    Action, Decision, ErrorClass, ErrorReport, FailureReport, GiveUpReason, Human, JobState,
    Timestamp, Why,
};

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

/// Classification rules and policies: everything a decision needs besides
/// the job, "now" and a random source.
#[derive(Debug)]
pub struct Engine {
    pub classifier: Classifier,
    pub policies: PolicySet,
    /// Retry budgets by target (none unless configured).
    pub budgets: BudgetConfigs,
}

/// Rounds to whole milliseconds: what a job keeps of a delay.
fn whole_ms(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Saturating milliseconds in a u32.
pub fn ms_u32(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

impl Engine {
    pub fn new(classifier: Classifier, policies: PolicySet) -> Self {
        Engine {
            classifier,
            policies,
            budgets: BudgetConfigs::default(),
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
        match self.attempt(job, report) {
            Attempt::Duplicate(v) => v,
            Attempt::New(a) => self.decide_new(job, policy, report, a, budget, now, rng),
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
        budget: Option<&BudgetView>,
        now: Timestamp,
        rng: &mut R,
    ) -> Verdict {
        let NewFailure { n, attempt } = failure;
        let cls = self.classifier.classify(&report.error);
        let mut d = Decision {
            action: Action::GiveUp,
            reason: None,
            error_class: cls.class,
            category: cls.category,
            rule: cls.rule,
            matched: cls.matched.kind(),
            policy: policy.id,
            target: budget.map(|b| b.target),
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

        let (limit, by_category) = policy.limit_for(self.classifier.category_name(cls.category));
        if n > limit {
            return give_up(
                d,
                GiveUpReason::RetriesExhausted,
                Why::Exhausted { by_category },
            );
        }

        let (mut delay, mut why) = self.delay(job, policy, report, n, rng);
        if let Some(limit) = budget.and_then(BudgetView::exhausted) {
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

    /// Backoff, jitter, the caller's hint, the cap — in that order.
    fn delay<R: Rng + ?Sized>(
        &self,
        job: Option<&Job>,
        policy: &Policy,
        report: &FailureReport<'_>,
        n: u32,
        rng: &mut R,
    ) -> (Duration, Why) {
        let base = policy.backoff.base();
        let previous = match job {
            Some(j)
                if j.last_decision.action == Action::Retry && !j.last_decision.delay.is_zero() =>
            {
                j.last_decision.delay
            }
            _ => base,
        };
        let backoff = policy.backoff.delay(n);
        let mut delay = policy
            .jitter
            .apply(backoff, base, previous, policy.max_delay, rng);
        let jittered = delay != backoff;
        let mut hint_ms = None;
        if let (Some(hint), HintMode::Honor) = (report.retry_after_hint, policy.retry_after_hint)
            && hint > delay
        {
            delay = hint;
            hint_ms = Some(ms_u32(hint));
        }
        let capped = delay > policy.max_delay;
        if capped {
            delay = policy.max_delay;
        }
        (
            whole_ms(delay),
            Why::Retry {
                jittered,
                hint_ms,
                capped,
            },
        )
    }

    /// The applied retry limit + 1, as callers see it in `max_attempts`.
    pub fn max_attempts(&self, d: &Decision) -> u32 {
        let policy = self.policies.by_id(d.policy);
        let (limit, _) = policy.limit_for(self.classifier.category_name(d.category));
        limit.saturating_add(1)
    }

    pub fn policy_name(&self, d: &Decision) -> &str {
        &self.policies.by_id(d.policy).name
    }

    pub fn category_name(&self, d: &Decision) -> &str {
        self.classifier.category_name(d.category)
    }

    /// "target s3: 48/100 tokens, at or below half".
    fn budget_state(&self, limit: Exhausted, target: &str) -> String {
        let c = self.budgets.for_target(target).copied().unwrap_or_default();
        match limit {
            Exhausted::Tokens(t) => format!(
                "target {target}: {t}/{} tokens, at or below half",
                c.max_tokens
            ),
            Exhausted::Retrying(n) => format!(
                "target {target}: {n}/{} jobs already waiting in backoff (max_retrying)",
                c.max_retrying
            ),
        }
    }

    /// One human sentence: which rule and which limit decided. `error` is
    /// the error the decision was about (the report, or the job's kept
    /// error); `target` the name of the decision's target, if it has one.
    pub fn explanation(
        &self,
        d: &Decision,
        error: &ErrorReport<'_>,
        target: Option<&str>,
    ) -> String {
        let policy = self.policies.by_id(d.policy);
        let p = &policy.name;
        let cls = self.classifier.describe_stored(d.rule, d.matched, error);
        let class = d.error_class.as_str();
        let mut s = String::with_capacity(160);
        // Writing to a String cannot fail.
        let _ = match d.why {
            Why::Retry {
                jittered,
                hint_ms,
                capped,
            } => {
                let unknown = if d.error_class == ErrorClass::Unknown {
                    ", retried as on_unknown = retry"
                } else {
                    ""
                };
                let limit = self.max_attempts(d).saturating_sub(1);
                let mut how = policy.backoff.describe();
                if jittered {
                    let _ = write!(how, ", {} jitter", policy.jitter.describe());
                }
                if let Some(h) = hint_ms {
                    let hint = Duration::from_millis(u64::from(h));
                    let _ = write!(how, ", raised to the retry-after hint {}", Human(hint));
                }
                if capped {
                    let _ = write!(how, ", capped at max_delay {}", Human(policy.max_delay));
                }
                write!(
                    s,
                    "{class} error ({cls}){unknown}: retry {} of {limit} after {} ({how}) under policy `{p}`",
                    d.failure_count,
                    Human(d.delay)
                )
            }
            Why::Permanent => write!(s, "permanent error ({cls}): policy `{p}` never retries it"),
            Why::UnknownGivesUp => write!(
                s,
                "unknown error ({cls}) and policy `{p}` has on_unknown = give_up"
            ),
            Why::Exhausted { by_category } => {
                let limit = self.max_attempts(d).saturating_sub(1);
                let which = if by_category {
                    format!(
                        "the `{}` category limit of {limit} retries",
                        self.category_name(d)
                    )
                } else {
                    format!("max_retries {limit}")
                };
                write!(
                    s,
                    "{class} error ({cls}), but failure {} is past {which} of policy `{p}`",
                    d.failure_count
                )
            }
            Why::Deadline { lands_s } => write!(
                s,
                "{class} error ({cls}), but a retry after {} would land {} after the first failure, \
                 past max_retry_duration {} of policy `{p}`",
                Human(d.delay),
                Human(Duration::from_secs(u64::from(lands_s))),
                Human(policy.max_retry_duration.unwrap_or_default())
            ),
            Why::Cancelled => write!(
                s,
                "the job was cancelled; it gets no retries until RetryJob"
            ),
            Why::AlreadyDead => write!(
                s,
                "the job already gave up ({}); it gets no retries until RetryJob",
                d.reason.unwrap_or(GiveUpReason::RetriesExhausted).as_str()
            ),
            Why::ManualRetry { reset: true } => {
                write!(s, "manual retry: due now, failure count reset to 0")
            }
            Why::ManualRetry { reset: false } => {
                write!(
                    s,
                    "manual retry: due now, failure count kept at {}",
                    d.failure_count
                )
            }
            Why::OperatorCancel => write!(s, "the job was cancelled by an operator"),
            Why::BudgetExhausted { limit } => write!(
                s,
                "{class} error ({cls}), but retries are throttled: {}; policy `{p}` gives up",
                self.budget_state(limit, target.unwrap_or("?"))
            ),
            Why::BudgetDeferred { limit } => write!(
                s,
                "{class} error ({cls}): retries are throttled: {}; retry {} deferred to max_delay {} under policy `{p}`",
                self.budget_state(limit, target.unwrap_or("?")),
                d.failure_count,
                Human(d.delay)
            ),
        };
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::backoff::{Backoff, Jitter};
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::sync::Arc;

    const T0: Timestamp = Timestamp(1_700_000_000_000);

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn engine(policies: Vec<Policy>) -> Engine {
        Engine::new(
            Classifier::new(Vec::new()).expect("rules"),
            PolicySet::new(policies, &[], None).expect("policies"),
        )
    }

    fn transient(attempt: u32) -> FailureReport<'static> {
        FailureReport {
            error: ErrorReport {
                type_name: "TimeoutError",
                ..ErrorReport::default()
            },
            attempt,
            retry_after_hint: None,
        }
    }

    /// Drives one job through reports, storing each verdict as the server does.
    struct Run {
        engine: Engine,
        policy: Arc<Policy>,
        job: Option<Job>,
        rng: StdRng,
    }

    /// A decision as callers see it: with its explanation and max_attempts.
    struct Seen {
        d: Decision,
        explanation: String,
        max_attempts: u32,
    }

    impl Run {
        fn new(policy: Policy) -> Run {
            let name = policy.name.to_string();
            let engine = engine(vec![policy]);
            let policy = engine.policies.get(&name).expect("policy").clone();
            Run {
                engine,
                policy,
                job: None,
                rng: StdRng::seed_from_u64(1),
            }
        }

        fn report(&mut self, r: FailureReport<'_>, now: Timestamp) -> Verdict {
            let v = self.engine.decide(
                self.job.as_ref(),
                &self.policy,
                &r,
                None,
                now,
                &mut self.rng,
            );
            if !v.duplicate {
                match self.job.as_mut() {
                    Some(j) => j.record(&v, now),
                    None => self.job = Some(Job::first(&v, now)),
                }
            }
            v
        }

        fn seen(&mut self, r: FailureReport<'_>, now: Timestamp) -> Seen {
            let d = self.report(r, now).decision;
            Seen {
                d,
                explanation: self.engine.explanation(&d, &r.error, None),
                max_attempts: self.engine.max_attempts(&d),
            }
        }

        fn fail(&mut self) -> Decision {
            self.report(transient(0), T0).decision
        }
    }

    fn pipeline() -> Policy {
        Policy {
            max_retries: 3,
            backoff: Backoff::Schedule(vec![s(60), s(300), s(900)]),
            ..Policy::named("pipeline")
        }
    }

    fn extraction(jitter: Jitter) -> Policy {
        Policy {
            max_retries: 3,
            backoff: Backoff::Exponential {
                base: s(30),
                multiplier: 4.0,
            },
            jitter,
            ..Policy::named("extraction")
        }
    }

    #[test]
    fn worked_example_schedule() {
        let mut run = Run::new(pipeline());
        for want in [60, 300, 900] {
            let d = run.fail();
            assert_eq!((d.action, d.delay), (Action::Retry, s(want)));
        }
        let seen = run.seen(transient(0), T0);
        assert_eq!(seen.d.action, Action::GiveUp);
        assert_eq!(seen.d.reason, Some(GiveUpReason::RetriesExhausted));
        assert_eq!(seen.d.failure_count, 4);
        assert_eq!(seen.max_attempts, 4);
        assert_eq!(run.job.as_ref().map(|j| j.state), Some(JobState::Dead));
    }

    #[test]
    fn worked_example_exponential() {
        let mut run = Run::new(extraction(Jitter::None));
        for want in [30, 120, 480] {
            assert_eq!(run.fail().delay, s(want));
        }
        assert_eq!(run.fail().reason, Some(GiveUpReason::RetriesExhausted));
    }

    #[test]
    fn worked_example_proportional_jitter_stays_in_d_to_1_25d() {
        let mut run = Run::new(extraction(Jitter::Proportional(0.25)));
        for seed in 0..200 {
            run.job = None;
            run.rng = StdRng::seed_from_u64(seed);
            for base in [30.0, 120.0, 480.0] {
                let got = run.fail().delay.as_secs_f64();
                assert!(
                    got >= base && got <= base * 1.25,
                    "seed {seed}: {got} not in [{base}, {}]",
                    base * 1.25
                );
            }
        }
    }

    #[test]
    fn worked_example_max_attempts_3_equals_max_retries_2() {
        // max_attempts = 3 is stored as max_retries = 2 by the configuration.
        let mut run = Run::new(Policy {
            max_retries: 2,
            ..Policy::named("p")
        });
        assert_eq!(run.fail().action, Action::Retry);
        assert_eq!(run.fail().action, Action::Retry);
        let seen = run.seen(transient(0), T0);
        assert_eq!(
            (seen.d.action, seen.max_attempts, seen.d.failure_count),
            (Action::GiveUp, 3, 3)
        );
    }

    #[test]
    fn builtin_default_policy_gives_2s_4s_then_up() {
        let e = engine(Vec::new());
        let p = e.policies.get("default").expect("default").clone();
        let mut run = Run {
            engine: e,
            policy: p,
            job: None,
            rng: StdRng::seed_from_u64(0),
        };
        assert_eq!(run.fail().delay, s(2));
        assert_eq!(run.fail().delay, s(4));
        let seen = run.seen(transient(0), T0);
        assert_eq!(
            (seen.d.action, seen.d.reason, seen.max_attempts),
            (Action::GiveUp, Some(GiveUpReason::RetriesExhausted), 3)
        );
    }

    #[test]
    fn permanent_error_gives_up_at_once() {
        let mut run = Run::new(pipeline());
        let mut r = transient(0);
        r.error.type_name = "ValidationError";
        let seen = run.seen(r, T0);
        let d = seen.d;
        assert_eq!(
            (d.action, d.reason, d.error_class),
            (
                Action::GiveUp,
                Some(GiveUpReason::PermanentError),
                ErrorClass::Permanent
            )
        );
        assert_eq!(run.engine.category_name(&d), "invalid_input");
        assert!(
            seen.explanation
                .contains("permanent error (built-in rule `invalid_input`: type ValidationError)"),
            "{}",
            seen.explanation
        );
    }

    #[test]
    fn unknown_errors_follow_on_unknown() {
        let unknown = FailureReport {
            error: ErrorReport {
                type_name: "Mystery",
                ..ErrorReport::default()
            },
            ..FailureReport::default()
        };
        let mut run = Run::new(Policy::named("p"));
        let seen = run.seen(unknown, T0);
        assert_eq!(
            (seen.d.action, seen.d.error_class),
            (Action::Retry, ErrorClass::Unknown)
        );
        assert!(seen.explanation.contains("on_unknown = retry"));

        let mut run = Run::new(Policy {
            on_unknown: OnUnknown::GiveUp,
            ..Policy::named("p")
        });
        let seen = run.seen(unknown, T0);
        assert_eq!(
            (seen.d.action, seen.d.reason),
            (Action::GiveUp, Some(GiveUpReason::PermanentError))
        );
        assert_eq!(
            seen.explanation,
            "unknown error (no rule matched) and policy `p` has on_unknown = give_up"
        );
    }

    #[test]
    fn max_delay_caps_backoff_and_hint() {
        let mut run = Run::new(Policy {
            max_retries: 10,
            max_delay: s(5),
            ..Policy::named("p")
        });
        assert_eq!(run.fail().delay, s(1));
        assert_eq!(run.fail().delay, s(2));
        assert_eq!(run.fail().delay, s(4));
        let seen = run.seen(transient(0), T0);
        assert_eq!(seen.d.delay, s(5));
        assert!(
            seen.explanation.contains("capped at max_delay 5s"),
            "{}",
            seen.explanation
        );
        let mut r = transient(0);
        r.retry_after_hint = Some(s(3600));
        let seen = run.seen(r, T0);
        assert_eq!(seen.d.delay, s(5));
        assert!(
            seen.explanation
                .contains("raised to the retry-after hint 1h, capped at max_delay 5s"),
            "{}",
            seen.explanation
        );
    }

    #[test]
    fn retry_after_hint_raises_the_delay_unless_ignored() {
        let mut r = transient(0);
        r.retry_after_hint = Some(s(40));
        let mut run = Run::new(Policy::named("p"));
        let seen = run.seen(r, T0);
        assert_eq!(seen.d.delay, s(40));
        assert!(seen.explanation.contains("retry-after hint 40s"));
        // A hint below the backoff changes nothing.
        r.retry_after_hint = Some(Duration::from_millis(100));
        assert_eq!(run.report(r, T0).decision.delay, s(2));

        let mut run = Run::new(Policy {
            retry_after_hint: HintMode::Ignore,
            ..Policy::named("p")
        });
        r.retry_after_hint = Some(s(40));
        assert_eq!(run.report(r, T0).decision.delay, s(1));
    }

    #[test]
    fn retry_that_would_land_past_max_retry_duration_is_refused_now() {
        let mut run = Run::new(Policy {
            max_retries: 10,
            backoff: Backoff::Constant(s(600)),
            max_retry_duration: Some(s(1800)),
            ..Policy::named("p")
        });
        // t=0: lands at 600 s. t=600: 1200 s. t=1200: 1800 s, not past. t=1800: 2400 s, past.
        for (i, at) in [0u64, 600, 1200].into_iter().enumerate() {
            let d = run.report(transient(0), T0.saturating_add(s(at))).decision;
            assert_eq!(d.action, Action::Retry, "report {i}");
        }
        let seen = run.seen(transient(0), T0.saturating_add(s(1800)));
        assert_eq!(
            (seen.d.action, seen.d.reason),
            (Action::GiveUp, Some(GiveUpReason::DeadlineExceeded))
        );
        assert_eq!(seen.d.retry_after(), Duration::ZERO);
        assert!(
            seen.explanation.contains("a retry after 10m would land 40m after the first failure, past max_retry_duration 30m"),
            "{}",
            seen.explanation
        );
    }

    #[test]
    fn retries_limit_wins_when_it_comes_before_the_deadline() {
        let mut run = Run::new(Policy {
            max_retries: 1,
            max_retry_duration: Some(s(1)),
            backoff: Backoff::Constant(s(10)),
            ..Policy::named("p")
        });
        // The deadline already refuses the first retry.
        assert_eq!(run.fail().reason, Some(GiveUpReason::DeadlineExceeded));
        let mut run = Run::new(Policy {
            max_retries: 0,
            max_retry_duration: Some(s(1)),
            ..Policy::named("p")
        });
        assert_eq!(run.fail().reason, Some(GiveUpReason::RetriesExhausted));
    }

    #[test]
    fn category_limit_replaces_max_retries_for_its_category() {
        let mut p = Policy {
            max_retries: 1,
            ..Policy::named("p")
        };
        p.category_limits.insert("rate_limit".into(), 3);
        let mut run = Run::new(p);
        let limited = FailureReport {
            error: ErrorReport {
                http_status: 429,
                ..ErrorReport::default()
            },
            ..FailureReport::default()
        };
        for _ in 0..3 {
            let seen = run.seen(limited, T0);
            assert_eq!((seen.d.action, seen.max_attempts), (Action::Retry, 4));
        }
        let seen = run.seen(limited, T0);
        assert_eq!(seen.d.reason, Some(GiveUpReason::RetriesExhausted));
        assert!(
            seen.explanation
                .contains("`rate_limit` category limit of 3"),
            "{}",
            seen.explanation
        );
    }

    #[test]
    fn same_or_older_attempt_returns_stored_decision_and_changes_nothing() {
        let mut run = Run::new(pipeline());
        let first = run.report(transient(1), T0);
        let before = run.job;
        let again = run.report(transient(1), T0.saturating_add(s(5)));
        assert!(again.duplicate);
        assert_eq!(again.decision, first.decision);
        assert_eq!(run.job, before);

        let second = run.report(transient(2), T0);
        assert_eq!(second.decision.delay, s(300));
        let before = run.job;
        let old = run.report(transient(1), T0);
        assert!(old.duplicate);
        assert_eq!(old.decision, second.decision);
        assert_eq!(run.job, before);
    }

    #[test]
    fn attempt_ahead_of_the_count_is_adopted() {
        // A fresh job (e.g. after a sidecar restart) reporting attempt 3 is at failure 3.
        let mut run = Run::new(pipeline());
        let d = run.report(transient(3), T0).decision;
        assert_eq!((d.failure_count, d.delay), (3, s(900)));
        // A gap in the caller's numbering counts the missed failures.
        let mut run = Run::new(Policy {
            max_retries: 10,
            ..Policy::named("p")
        });
        run.report(transient(1), T0);
        let d = run.report(transient(4), T0).decision;
        assert_eq!(d.failure_count, 4);
    }

    #[test]
    fn reports_without_attempt_always_count() {
        let mut run = Run::new(Policy {
            max_retries: 10,
            ..Policy::named("p")
        });
        for want in 1..=4 {
            assert_eq!(run.fail().failure_count, want);
        }
        // Mixed with numbered reports: retryd's own count continues.
        assert_eq!(run.report(transient(5), T0).decision.failure_count, 5);
        assert!(run.report(transient(5), T0).duplicate);
        assert_eq!(run.fail().failure_count, 6);
    }

    #[test]
    fn dead_job_stays_dead_until_manual_retry() {
        let mut run = Run::new(Policy {
            max_retries: 0,
            ..Policy::named("p")
        });
        assert_eq!(run.fail().reason, Some(GiveUpReason::RetriesExhausted));
        let seen = run.seen(transient(0), T0);
        assert_eq!(
            (seen.d.action, seen.d.reason),
            (Action::GiveUp, Some(GiveUpReason::RetriesExhausted))
        );
        assert!(seen.explanation.contains("already gave up"));
        // Reports to a dead job do not extend its life.
        let later = T0.saturating_add(s(3600));
        run.report(transient(0), later);
        let job = run.job.as_ref().expect("job");
        assert_eq!((job.updated_at, job.last_failure_at), (T0, later));

        let job = run.job.as_mut().expect("job");
        job.manual_retry(true, T0);
        assert_eq!(
            (job.state, job.failure_count, job.next_retry_at()),
            (JobState::Retrying, 0, Some(T0))
        );
        assert_eq!(
            run.engine
                .explanation(&job.last_decision, &ErrorReport::default(), None),
            "manual retry: due now, failure count reset to 0"
        );
        // The caller restarts its numbering at 1: accepted as failure 1 after the reset.
        let d = run.report(transient(1), T0).decision;
        assert_eq!((d.failure_count, d.action), (1, Action::GiveUp));
    }

    #[test]
    fn manual_retry_accepts_the_callers_next_attempt_whatever_it_is() {
        let mut run = Run::new(pipeline());
        run.report(transient(1), T0);
        run.report(transient(2), T0);
        run.job.as_mut().expect("job").manual_retry(true, T0);
        // The caller keeps counting (attempt 3): still failure 1 after a reset.
        let d = run.report(transient(3), T0).decision;
        assert_eq!((d.failure_count, d.delay), (1, s(60)));
        assert!(run.report(transient(3), T0).duplicate);

        run.job.as_mut().expect("job").manual_retry(false, T0);
        let d = run.report(transient(9), T0).decision;
        assert_eq!(d.failure_count, 2);
    }

    #[test]
    fn cancelled_job_gives_up_with_cancelled() {
        let mut run = Run::new(pipeline());
        run.report(transient(1), T0);
        run.job.as_mut().expect("job").cancel(T0);
        // A re-sent report of the latest attempt learns of the cancel too.
        let seen = run.seen(transient(1), T0);
        assert_eq!(seen.d.reason, Some(GiveUpReason::Cancelled));
        assert_eq!(seen.explanation, "the job was cancelled by an operator");
        let seen = run.seen(transient(2), T0);
        assert_eq!(
            (seen.d.action, seen.d.reason),
            (Action::GiveUp, Some(GiveUpReason::Cancelled))
        );
        assert_eq!(
            seen.explanation,
            "the job was cancelled; it gets no retries until RetryJob"
        );
        assert_eq!(run.job.as_ref().map(|j| j.state), Some(JobState::Cancelled));
    }

    #[test]
    fn decorrelated_jitter_grows_from_the_previous_delay() {
        let mut run = Run::new(Policy {
            max_retries: 50,
            backoff: Backoff::Constant(s(1)),
            jitter: Jitter::Decorrelated,
            max_delay: s(100),
            ..Policy::named("p")
        });
        let mut prev = s(1);
        for _ in 0..50 {
            let d = run.fail().delay;
            // Whole milliseconds: allow the rounding.
            assert!(
                d >= s(1) && d <= (prev * 3).min(s(100)) + Duration::from_millis(1),
                "{d:?} after {prev:?}"
            );
            prev = d;
        }
    }

    #[test]
    fn explanation_of_a_retry_names_rule_count_delay_and_policy() {
        let mut run = Run::new(pipeline());
        let seen = run.seen(transient(0), T0);
        assert_eq!(
            seen.explanation,
            "transient error (built-in rule `timeout`: type TimeoutError): retry 1 of 3 after 1m \
             (schedule [1m, 5m, 15m]) under policy `pipeline`"
        );
    }

    fn budget(tokens: i64, on_exhausted: OnExhausted) -> BudgetView {
        BudgetView {
            target: crate::engine::TargetId(3),
            config: crate::engine::BudgetConfig {
                on_exhausted,
                ..Default::default()
            },
            tokens,
            retrying: 0,
            job_counted: false,
        }
    }

    #[test]
    fn an_exhausted_budget_gives_up_or_defers() {
        let mut run = Run::new(pipeline());
        run.engine.budgets.default = Some(Default::default());
        let r = transient(0);
        let v = run.engine.decide(
            None,
            &run.policy,
            &r,
            Some(&budget(49_000, OnExhausted::GiveUp)),
            T0,
            &mut run.rng,
        );
        let d = v.decision;
        assert_eq!(
            (d.action, d.reason),
            (Action::GiveUp, Some(GiveUpReason::BudgetExhausted))
        );
        assert_eq!(d.target, Some(crate::engine::TargetId(3)));
        assert_eq!(
            run.engine.explanation(&d, &r.error, Some("s3")),
            "transient error (built-in rule `timeout`: type TimeoutError), but retries are throttled: \
             target s3: 48/100 tokens, at or below half; policy `pipeline` gives up"
        );
        let v = run.engine.decide(
            None,
            &run.policy,
            &r,
            Some(&budget(49_000, OnExhausted::Defer)),
            T0,
            &mut run.rng,
        );
        let d = v.decision;
        assert_eq!((d.action, d.delay), (Action::Retry, s(3600)));
        assert!(
            run.engine
                .explanation(&d, &r.error, Some("s3"))
                .contains("deferred to max_delay 1h"),
            "{}",
            run.engine.explanation(&d, &r.error, Some("s3"))
        );
        // Plenty of tokens: the normal retry.
        let v = run.engine.decide(
            None,
            &run.policy,
            &r,
            Some(&budget(100_000, OnExhausted::GiveUp)),
            T0,
            &mut run.rng,
        );
        assert_eq!(
            (v.decision.action, v.decision.delay),
            (Action::Retry, s(60))
        );
        // A permanent error is a permanent error, budget or not.
        let mut p = r;
        p.error.type_name = "ValidationError";
        let v = run.engine.decide(
            None,
            &run.policy,
            &p,
            Some(&budget(0, OnExhausted::GiveUp)),
            T0,
            &mut run.rng,
        );
        assert_eq!(v.decision.reason, Some(GiveUpReason::PermanentError));
    }

    #[test]
    fn retry_at_is_now_plus_delay_and_delays_are_whole_milliseconds() {
        let mut run = Run::new(pipeline());
        let d = run.report(transient(0), T0).decision;
        assert_eq!(d.retry_at, Some(T0.saturating_add(s(60))));
        let mut run = Run::new(extraction(Jitter::Full));
        for _ in 0..3 {
            let d = run.fail().delay;
            assert_eq!(d.subsec_nanos() % 1_000_000, 0, "{d:?}");
        }
    }
}
