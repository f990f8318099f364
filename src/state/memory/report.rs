//! Reports: a failure (decided and recorded in one step under the job's
//! shard lock), an explanation (decided, nothing changed) and a success.

use std::cell::Cell;

use hashbrown::hash_table::Entry;
use rand::Rng;

use super::Store;
use super::record::{Head, Record, Texts};
use crate::engine::{Decision, Engine, ErrorReport, Gates, Job, Timestamp};
use crate::labels::LabelId;
use crate::state::step::{self, FailureStep};
use crate::state::{
    FailureCall, FailureOutcome, MESSAGE_PREFIX, StoredError, SuccessOutcome, prefix,
};

impl Store {
    pub(super) fn head_of(job: Job, label: LabelId, e: &ErrorReport<'_>) -> Head {
        Head {
            job,
            label,
            http_status: e.http_status,
            grpc_code: e.grpc_code,
            retryable: e.retryable,
        }
    }

    /// Records one failure and returns the engine's decision.
    pub fn report_failure<R: Rng + ?Sized>(
        &self,
        engine: &Engine,
        call: &FailureCall<'_>,
        now: Timestamp,
        rng: &mut R,
    ) -> FailureOutcome {
        let e = &call.report.error;
        let type_name = self.names.intern(e.type_name);
        let message = prefix(e.message, MESSAGE_PREFIX);
        let targets = self.targets.load();
        let budget = targets.budgets.target(call.target);
        let moved = Cell::new(None);
        let shadowed = Cell::new(None);
        // The budget's take and the breaker's count, only for a failure
        // that counts (a re-sent report costs nothing).
        let take = |stored: Option<&Job>| {
            // Drawn only for a target with a breaker (the generator is busy
            // with the decision): the job and the time spread the probes.
            let unit = || {
                let h = crc32fast::hash(call.job_id.as_bytes()) ^ (now.0 as u32);
                f64::from(h) / f64::from(u32::MAX)
            };
            let breaker = targets
                .breakers
                .failure(call.target, now, unit)
                .map(|(view, m)| {
                    moved.set(m);
                    view
                });
            Gates {
                budget: budget.map(|(t, b)| b.take(t, step::counted_for(stored, t))),
                breaker,
                pause: None,
            }
        };
        let count_refusal = |d: &Decision| {
            if let Some((_, b)) = budget
                && step::budget_refused(d)
            {
                b.count_exhausted();
            }
        };
        let out = self.table.entry(call.job_id, |entry| match entry {
            // Decided with an engine whose ids the records no longer hold.
            _ if !self.current(engine) => FailureOutcome::stale(),
            Entry::Occupied(mut o) => {
                let rec = o.get_mut();
                let head = rec.head();
                let label = head.label;
                let (job, decision, tally) =
                    match step::failure(engine, call, Some(&head.job), take, now, rng) {
                        FailureStep::Duplicate(decision) => {
                            return FailureOutcome::duplicate(
                                decision,
                                label,
                                Some(self.stored_error(rec)),
                            );
                        }
                        FailureStep::Recorded { job, tally, shadow } => {
                            shadowed.set(shadow);
                            (job, job.last_decision, tally)
                        }
                    };
                count_refusal(&decision);
                let head = Self::head_of(job, label, e);
                if rec.same_error(type_name, message) {
                    // The same error again (the common case): no new allocation.
                    rec.write_head(&head);
                } else {
                    let job_type = rec.job_type().map(str::to_owned);
                    *rec = Record::encode_clamped(
                        &head,
                        &Texts {
                            id: call.job_id,
                            type_name,
                            job_type: job_type.as_deref(),
                            message,
                        },
                    );
                }
                self.apply(label, &tally);
                FailureOutcome::recorded(decision, label, &tally)
            }
            Entry::Vacant(v) => {
                let label = self.labels.job_types.get(call.job_type);
                let FailureStep::Recorded { job, tally, shadow } =
                    step::failure(engine, call, None, take, now, rng)
                else {
                    unreachable!("a job's first failure is never a duplicate")
                };
                shadowed.set(shadow);
                let decision = job.last_decision;
                count_refusal(&decision);
                let own_name =
                    call.job_type.is_empty() || self.labels.job_types.name(label) == call.job_type;
                v.insert(Record::encode_clamped(
                    &Self::head_of(job, label, e),
                    &Texts {
                        id: call.job_id,
                        type_name,
                        job_type: (!own_name).then_some(call.job_type),
                        message,
                    },
                ));
                self.apply(label, &tally);
                FailureOutcome::recorded(decision, label, &tally)
            }
        });
        if out.stale {
            return out;
        }
        if out.gave_up {
            // After the shard lock is released: the sweeper takes the death
            // queue's lock first and shard locks under it.
            self.died(call.job_id, now);
        }
        FailureOutcome {
            breaker: moved.get(),
            shadow: shadowed.get(),
            ..out
        }
    }

    /// The decision a report would get, changing nothing.
    pub fn explain<R: Rng + ?Sized>(
        &self,
        engine: &Engine,
        call: &FailureCall<'_>,
        now: Timestamp,
        rng: &mut R,
    ) -> Decision {
        let job = self.table.get(call.job_id, |r| r.head().job);
        let targets = self.targets.load();
        let gates = Gates {
            pause: None,
            budget: targets
                .budgets
                .target(call.target)
                .map(|(t, b)| b.view(t, step::counted_for(job.as_ref(), t))),
            breaker: targets
                .breakers
                .peek(call.target, now, crate::engine::backoff::unit(rng)),
        };
        step::explain(engine, call, job.as_ref(), gates, now, rng)
    }

    /// The job succeeded: forget it, and refill the budget of `target` (or,
    /// without one, of the target its failures were reported with).
    pub fn report_success(
        &self,
        job_id: &str,
        job_type: &str,
        target: &str,
        now: Timestamp,
    ) -> SuccessOutcome {
        let removed = self.table.remove(job_id);
        let targets = self.targets.load();
        // The breaker of the target named, or of the one the job's failures
        // were reported with.
        let breaker_target = match (target, &removed) {
            ("", Some(rec)) => rec.head().job.last_decision.target,
            _ => targets.breakers.id(target),
        };
        let breaker = breaker_target.and_then(|t| targets.breakers.success(t, now));
        let refill = match (target, &removed) {
            ("", Some(rec)) => rec
                .head()
                .job
                .last_decision
                .target
                .and_then(|t| targets.budgets.get(t)),
            _ => targets.budgets.target(target).map(|(_, b)| b),
        };
        if let Some(b) = refill {
            b.refill();
        }
        let head = removed.as_ref().map(Record::head);
        let label = match &head {
            Some(h) => h.label,
            None => self.labels.job_types.get(job_type),
        };
        self.apply(label, &step::success(head.as_ref().map(|h| &h.job)));
        SuccessOutcome {
            known: head.is_some(),
            failures_before_success: head.map_or(0, |h| h.job.failure_count),
            label,
            breaker,
        }
    }

    pub(super) fn stored_error(&self, rec: &Record) -> StoredError {
        let head = rec.head();
        let t = rec.texts();
        StoredError {
            type_name: self.names.resolve(t.type_name),
            message: t.message.to_string(),
            http_status: head.http_status,
            grpc_code: head.grpc_code,
            retryable: head.retryable,
        }
    }
}
