//! The decision for one failure, case by case: worked examples, limits,
//! de-duplication, job states, budgets and explanations.

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::ErrorReport;
use crate::backoff::{Backoff, Jitter};
use crate::policy::CategoryOverride;

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
        ..FailureReport::default()
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
            max_doublings: None,
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
        seen.explanation.contains(
            "a retry after 10m would land 40m after the first failure, past max_retry_duration 30m"
        ),
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
    p.categories.insert(
        "rate_limit".into(),
        CategoryOverride {
            max_retries: Some(3),
            ..CategoryOverride::default()
        },
    );
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
        target: crate::TargetId(3),
        config: crate::BudgetConfig {
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
    assert_eq!(d.target, Some(crate::TargetId(3)));
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

mod controls;
