//! Property tests of the engine: invariants that must hold for any policy,
//! any error and any sequence of reports.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

use retryd::engine::policy::HintMode;
use retryd::engine::{
    Action, Backoff, Classifier, Engine, ErrorReport, FailureReport, Jitter, Job, JobState,
    OnUnknown, Policy, PolicySet, Timestamp,
};

const T0: Timestamp = Timestamp(1_800_000_000_000);

fn backoff() -> impl Strategy<Value = Backoff> {
    prop_oneof![
        (1u64..100_000, 1.0f64..10.0, prop::option::of(0u32..8)).prop_map(|(ms, m, d)| {
            Backoff::Exponential {
                base: Duration::from_millis(ms),
                multiplier: m,
                max_doublings: d,
            }
        }),
        (0u64..100_000, 0u64..100_000).prop_map(|(b, s)| Backoff::Linear {
            base: Duration::from_millis(b),
            step: Duration::from_millis(s),
        }),
        (0.1f64..6.0, 0u64..100_000).prop_map(|(e, o)| Backoff::Polynomial {
            exponent: e,
            offset: Duration::from_millis(o),
        }),
        prop::collection::vec(0u64..10_000_000, 1..6)
            .prop_map(|v| Backoff::Schedule(v.into_iter().map(Duration::from_millis).collect())),
        (0u64..10_000_000).prop_map(|ms| Backoff::Constant(Duration::from_millis(ms))),
    ]
}

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        (0.001f64..1.0).prop_map(Jitter::Proportional),
        (0.001f64..1.0).prop_map(Jitter::Symmetric),
        Just(Jitter::Decorrelated),
    ]
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        0u32..20,
        backoff(),
        jitter(),
        1u64..100_000_000,
        prop::option::of(1u64..1_000_000_000),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(max_retries, backoff, jitter, max_delay_ms, mrd, give_up_unknown, ignore_hint)| {
                Policy {
                    max_retries,
                    backoff,
                    jitter,
                    max_delay: Duration::from_millis(max_delay_ms),
                    max_retry_duration: mrd.map(Duration::from_millis),
                    on_unknown: if give_up_unknown {
                        OnUnknown::GiveUp
                    } else {
                        OnUnknown::Retry
                    },
                    retry_after_hint: if ignore_hint {
                        HintMode::Ignore
                    } else {
                        HintMode::Honor
                    },
                    ..Policy::named("p")
                }
            },
        )
}

/// An error the classifier sees one way or another.
fn error() -> impl Strategy<Value = (String, String, u16, u8, Option<bool>)> {
    (
        prop_oneof![
            Just(String::new()),
            Just("TimeoutError".to_string()),
            Just("ValidationError".to_string()),
            "[A-Za-z.]{0,30}"
        ],
        prop_oneof![
            Just(String::new()),
            Just("connection reset by peer".to_string()),
            Just("permission denied".to_string()),
            ".{0,40}"
        ],
        prop_oneof![Just(0u16), 100u16..600],
        0u8..17,
        prop::option::of(any::<bool>()),
    )
}

/// One step of a job's life: a failure report (attempt, error, hint, ms later) or an operator's act.
#[derive(Clone, Debug)]
enum Step {
    Fail {
        attempt: u32,
        error: (String, String, u16, u8, Option<bool>),
        hint_ms: Option<u64>,
        after_ms: u64,
    },
    Retry {
        reset: bool,
    },
    Cancel,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0u32..12, error(), prop::option::of(0u64..100_000_000), 0u64..10_000_000)
            .prop_map(|(attempt, error, hint_ms, after_ms)| Step::Fail { attempt, error, hint_ms, after_ms }),
        1 => any::<bool>().prop_map(|reset| Step::Retry { reset }),
        1 => Just(Step::Cancel),
    ]
}

/// Compiled once: building the rules' regexes for every case would dominate the run.
fn classifier() -> Classifier {
    static RULES: std::sync::OnceLock<Classifier> = std::sync::OnceLock::new();
    RULES
        .get_or_init(|| Classifier::new(Vec::new()).expect("rules"))
        .clone()
}

fn engine(p: Policy) -> (Engine, Arc<Policy>) {
    let e = Engine::new(
        classifier(),
        PolicySet::new(vec![p], &[], None).expect("policies"),
    );
    let p = e.policies.get("p").expect("p").clone();
    (e, p)
}

fn report(
    e: &(String, String, u16, u8, Option<bool>),
    attempt: u32,
    hint_ms: Option<u64>,
) -> FailureReport<'_> {
    FailureReport {
        error: ErrorReport {
            type_name: &e.0,
            message: &e.1,
            http_status: e.2,
            grpc_code: e.3,
            retryable: e.4,
        },
        attempt,
        retry_after_hint: hint_ms.map(Duration::from_millis),
        retry_after_at: None,
        pushback_stop: false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Whatever the policy, error and history, a retry waits between 0 and max_delay.
    #[test]
    fn delay_is_always_within_zero_and_max_delay(p in policy(), steps in prop::collection::vec(step(), 1..30), seed in any::<u64>()) {
        let max_delay = p.max_delay;
        let (engine, policy) = engine(p);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut job: Option<Job> = None;
        let mut now = T0;
        for s in &steps {
            match s {
                Step::Fail { attempt, error, hint_ms, after_ms } => {
                    now = now.saturating_add(Duration::from_millis(*after_ms));
                    let r = report(error, *attempt, *hint_ms);
                    let v = engine.decide(job.as_ref(), &policy, &r, None, now, &mut rng);
                    if v.decision.action == Action::Retry {
                        prop_assert!(v.decision.retry_after() <= max_delay, "{:?} > {:?}", v.decision.delay, max_delay);
                        if !v.duplicate {
                            prop_assert_eq!(v.decision.retry_at, Some(now.saturating_add(v.decision.delay)));
                        }
                    } else {
                        prop_assert_eq!(v.decision.retry_after(), Duration::ZERO);
                    }
                    if !v.duplicate {
                        match job.as_mut() { Some(j) => j.record(&v, now), None => job = Some(Job::first(&v, now)) }
                    }
                }
                Step::Retry { reset } => if let Some(j) = job.as_mut() { j.manual_retry(*reset, now) },
                Step::Cancel => if let Some(j) = job.as_mut() && j.state == JobState::Retrying { j.cancel(now) },
            }
        }
    }

    /// Without jitter, exponential delays never shrink as failures add up.
    #[test]
    fn exponential_without_jitter_never_decreases(base_ms in 1u64..100_000, m in 1.0f64..8.0, max_ms in 1u64..100_000_000) {
        let (engine, policy) = engine(Policy {
            max_retries: 60,
            backoff: Backoff::Exponential { base: Duration::from_millis(base_ms), multiplier: m, max_doublings: None },
            jitter: Jitter::None,
            max_delay: Duration::from_millis(max_ms),
            ..Policy::named("p")
        });
        let mut rng = StdRng::seed_from_u64(0);
        let e = ("TimeoutError".to_string(), String::new(), 0, 0, None);
        let mut job: Option<Job> = None;
        let mut last = Duration::ZERO;
        for _ in 0..60 {
            let v = engine.decide(job.as_ref(), &policy, &report(&e, 0, None), None, T0, &mut rng);
            prop_assert_eq!(v.decision.action, Action::Retry);
            prop_assert!(v.decision.delay >= last, "{:?} after {:?}", v.decision.delay, last);
            last = v.decision.delay;
            match job.as_mut() { Some(j) => j.record(&v, T0), None => job = Some(Job::first(&v, T0)) }
        }
    }

    /// Once a job gives up, it stays given up until an operator retries it;
    /// a report repeating the latest attempt changes nothing; counts never go
    /// backwards except by a manual retry that resets them.
    #[test]
    fn give_ups_stick_repeats_change_nothing_counts_only_grow(p in policy(), steps in prop::collection::vec(step(), 1..40), seed in any::<u64>()) {
        let (engine, policy) = engine(p);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut job: Option<Job> = None;
        let mut now = T0;
        for s in &steps {
            match s {
                Step::Fail { attempt, error, hint_ms, after_ms } => {
                    now = now.saturating_add(Duration::from_millis(*after_ms));
                    let r = report(error, *attempt, *hint_ms);
                    let before = job;
                    let v = engine.decide(job.as_ref(), &policy, &r, None, now, &mut rng);
                    if let Some(b) = before {
                        if b.state == JobState::Dead || b.state == JobState::Cancelled {
                            prop_assert_eq!(v.decision.action, Action::GiveUp, "a {:?} job got a retry", b.state);
                        }
                        if !v.duplicate {
                            prop_assert!(v.decision.failure_count > b.failure_count);
                        }
                    }
                    if v.duplicate {
                        let b = before.expect("a duplicate needs a job");
                        prop_assert_eq!(v.decision, b.last_decision);
                        // Deciding again on the unchanged job gives the same answer.
                        let again = engine.decide(Some(&b), &policy, &r, None, now, &mut rng);
                        prop_assert!(again.duplicate);
                        prop_assert_eq!(again.decision, b.last_decision);
                    } else {
                        match job.as_mut() { Some(j) => j.record(&v, now), None => job = Some(Job::first(&v, now)) }
                    }
                    if v.decision.action == Action::GiveUp {
                        prop_assert_ne!(job.map(|j| j.state), Some(JobState::Retrying));
                    }
                }
                Step::Retry { reset } => if let Some(j) = job.as_mut() {
                    let count = j.failure_count;
                    j.manual_retry(*reset, now);
                    prop_assert_eq!(j.state, JobState::Retrying);
                    prop_assert_eq!(j.failure_count, if *reset { 0 } else { count });
                },
                Step::Cancel => if let Some(j) = job.as_mut() && j.state == JobState::Retrying { j.cancel(now) },
            }
        }
    }
}
