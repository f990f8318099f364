//! The report step, written once for every backend: the job as stored → the
//! engine decides → the job to store, and what the change does to the
//! counters.
//!
//! A backend runs these functions between its read and its write (the
//! memory backend under the job's shard lock, the Redis backend between a
//! read and a compare-and-set it retries on conflict); the functions
//! themselves touch nothing. The counters kept per job type (jobs by state,
//! give-ups, successes) and per target (jobs waiting in backoff) are derived
//! from the `Tally` of each change, so every backend counts the same way.

use rand::Rng;

use super::FailureCall;
use crate::engine::{Attempt, Decision, Engine, Gates, Job, JobState, TargetId, Timestamp, Why};

/// How a job is counted: in its state's gauge and, while it waits in
/// backoff for a budgeted target, in that target's `retrying`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    pub state: JobState,
    pub target: Option<TargetId>,
}

impl Counted {
    pub fn of(job: &Job) -> Counted {
        Counted {
            state: job.state,
            target: job.last_decision.target,
        }
    }

    /// The target whose `retrying` counts this job, if one does.
    pub fn retrying_target(&self) -> Option<TargetId> {
        match self.state {
            JobState::Retrying => self.target,
            _ => None,
        }
    }
}

/// A counter that only grows, moved by a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    GaveUp,
    SucceededAfterRetry,
    FirstTrySuccess,
}

/// What one change to one job does to the counters of its job type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// How the job was counted before (`None`: it was not held).
    pub from: Option<Counted>,
    /// How it is counted after (`None`: it is no longer held).
    pub to: Option<Counted>,
    pub event: Option<Event>,
}

impl Tally {
    pub fn of(before: Option<&Job>, after: Option<&Job>, event: Option<Event>) -> Tally {
        Tally {
            from: before.map(Counted::of),
            to: after.map(Counted::of),
            event,
        }
    }

    /// Whether any gauge moves.
    pub fn moves(&self) -> bool {
        self.from != self.to
    }
}

/// What a failure report does to a job.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FailureStep {
    /// The report repeats (or predates) the latest recorded attempt: the
    /// stored decision, and nothing changes.
    Duplicate(Decision),
    /// The job after the report; its `last_decision` is the decision.
    /// `shadow`: what the policy's shadow decided (it changed nothing).
    Recorded {
        job: Job,
        tally: Tally,
        shadow: Option<Decision>,
    },
}

#[cfg(test)]
impl FailureStep {
    /// The job became dead with this report.
    pub fn gave_up(&self) -> bool {
        matches!(
            self,
            FailureStep::Recorded {
                tally: Tally {
                    event: Some(Event::GaveUp),
                    ..
                },
                ..
            }
        )
    }
}

/// Whether a target's budget refused the retry a decision would otherwise be.
pub fn budget_refused(d: &Decision) -> bool {
    matches!(
        d.why,
        Why::BudgetExhausted { .. } | Why::BudgetDeferred { .. }
    )
}

/// Whether `job` already waits in backoff for `target` (another retry of it
/// adds no one to the target's `retrying`).
pub fn counted_for(job: Option<&Job>, target: TargetId) -> bool {
    job.is_some_and(|j| Counted::of(j).retrying_target() == Some(target))
}

/// One failure of `stored` (absent: the job's first). `gates` is asked for
/// the target's budget and breaker only when the failure counts and no
/// pause covers it: a backend spends from the budget and counts the failure
/// in the breaker there, so a re-sent or paused report costs nothing.
pub fn failure<R: Rng + ?Sized>(
    engine: &Engine,
    call: &FailureCall<'_>,
    stored: Option<&Job>,
    gates: impl FnOnce(Option<&Job>) -> Gates,
    now: Timestamp,
    rng: &mut R,
) -> FailureStep {
    let (policy, report) = (call.policy, &call.report);
    let new = match engine.attempt(stored, report) {
        Attempt::Duplicate(v) => return FailureStep::Duplicate(v.decision),
        Attempt::New(new) => new,
    };
    let gates = match call.pause {
        Some(p) => Gates {
            pause: Some(p),
            ..Gates::default()
        },
        None => gates(stored),
    };
    let verdict = engine.decide_new(stored, policy, report, new, &gates, now, rng);
    // The shadow decides from the same job, report and gates; its verdict
    // is only compared.
    let shadow = engine.policies.shadow_of(policy).map(|q| {
        engine
            .decide_new(stored, q, report, new, &gates, now, rng)
            .decision
    });
    let job = match stored {
        Some(j) => {
            let mut j = *j;
            j.record(&verdict, now);
            j
        }
        None => Job::first(&verdict, now),
    };
    let gave_up = stored.is_none_or(|j| j.state != JobState::Dead) && job.state == JobState::Dead;
    FailureStep::Recorded {
        job,
        tally: Tally::of(stored, Some(&job), gave_up.then_some(Event::GaveUp)),
        shadow,
    }
}

/// The decision `Explain` shows: the step without its write.
pub fn explain<R: Rng + ?Sized>(
    engine: &Engine,
    call: &FailureCall<'_>,
    stored: Option<&Job>,
    gates: Gates,
    now: Timestamp,
    rng: &mut R,
) -> Decision {
    let gates = Gates {
        pause: call.pause,
        ..gates
    };
    engine
        .decide_gated(stored, call.policy, &call.report, &gates, now, rng)
        .decision
}

/// A success: the job is forgotten.
pub fn success(stored: Option<&Job>) -> Tally {
    let event = match stored {
        Some(_) => Event::SucceededAfterRetry,
        None => Event::FirstTrySuccess,
    };
    Tally::of(stored, None, Some(event))
}

/// An operator's manual retry: due now.
pub fn manual_retry(stored: &Job, reset_failures: bool, now: Timestamp) -> (Job, Tally) {
    let mut job = *stored;
    job.manual_retry(reset_failures, now);
    (job, Tally::of(Some(stored), Some(&job), None))
}

/// An operator's cancel: `None` for a dead job, which cannot be cancelled (a
/// cancelled one stays as it is).
pub fn cancel(stored: &Job, now: Timestamp) -> Option<(Job, Tally)> {
    let mut job = *stored;
    match job.state {
        JobState::Dead => return None,
        JobState::Cancelled => {}
        JobState::Retrying => job.cancel(now),
    }
    Some((job, Tally::of(Some(stored), Some(&job), None)))
}

/// A job forgotten (deleted, or evicted by a bound).
pub fn removal(stored: &Job) -> Tally {
    Tally::of(Some(stored), None, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Classifier, ErrorReport, FailureReport, Policy, PolicySet};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn engine() -> Engine {
        Engine::new(
            Classifier::new(Vec::new()).expect("rules"),
            PolicySet::default(),
        )
    }

    fn call<'a>(policy: &'a Policy, report: FailureReport<'a>) -> FailureCall<'a> {
        FailureCall {
            job_id: "j",
            job_type: "",
            target: "",
            policy,
            report,
            pause: None,
            carry: Default::default(),
        }
    }

    fn report(type_name: &str, attempt: u32) -> FailureReport<'_> {
        FailureReport {
            error: ErrorReport {
                type_name,
                ..ErrorReport::default()
            },
            attempt,
            ..FailureReport::default()
        }
    }

    #[test]
    fn a_failure_counts_the_job_in_and_a_give_up_once() {
        let e = engine();
        let p = e.policies.get("default").expect("default").clone();
        let mut rng = StdRng::seed_from_u64(1);
        let t = Timestamp(1_000);
        let first = failure(
            &e,
            &call(&p, report("Timeout", 1)),
            None,
            |_| Gates::default(),
            t,
            &mut rng,
        );
        let FailureStep::Recorded { job, tally, .. } = first else {
            panic!("a first failure is recorded");
        };
        assert_eq!(tally.from, None);
        assert_eq!(tally.to.map(|c| c.state), Some(JobState::Retrying));
        assert_eq!(tally.event, None);
        // The same attempt again: nothing changes, and no budget is asked.
        let again = failure(
            &e,
            &call(&p, report("Timeout", 1)),
            Some(&job),
            |_| -> Gates { panic!("a duplicate must not spend from a budget") },
            t,
            &mut rng,
        );
        assert!(matches!(again, FailureStep::Duplicate(_)));
        let dead = failure(
            &e,
            &call(&p, report("ValidationError", 2)),
            Some(&job),
            |_| Gates::default(),
            t,
            &mut rng,
        );
        assert!(dead.gave_up());
        let FailureStep::Recorded { job, .. } = dead else {
            panic!("recorded");
        };
        // Dead already: another failure is no second give-up.
        let later = failure(
            &e,
            &call(&p, report("ValidationError", 3)),
            Some(&job),
            |_| Gates::default(),
            t,
            &mut rng,
        );
        assert!(!later.gave_up());
        let FailureStep::Recorded { tally, .. } = later else {
            panic!("recorded");
        };
        assert!(!tally.moves());
    }

    #[test]
    fn success_cancel_and_removal_tallies() {
        assert_eq!(success(None).event, Some(Event::FirstTrySuccess));
        let e = engine();
        let p = e.policies.get("default").expect("default").clone();
        let mut rng = StdRng::seed_from_u64(1);
        let FailureStep::Recorded { job, .. } = failure(
            &e,
            &call(&p, report("Timeout", 0)),
            None,
            |_| Gates::default(),
            Timestamp(5),
            &mut rng,
        ) else {
            panic!("recorded");
        };
        let s = success(Some(&job));
        assert_eq!((s.event, s.to), (Some(Event::SucceededAfterRetry), None));
        let (cancelled, t) = cancel(&job, Timestamp(6)).expect("a retrying job cancels");
        assert_eq!(t.to.map(|c| c.state), Some(JobState::Cancelled));
        let (again, t) = cancel(&cancelled, Timestamp(7)).expect("stays cancelled");
        assert_eq!(again, cancelled);
        assert!(!t.moves());
        assert_eq!(removal(&job).to, None);
    }
}
