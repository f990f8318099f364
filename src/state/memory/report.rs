//! Reports: a failure (decided and recorded in one step under the job's
//! shard lock), an explanation (decided, nothing changed) and a success.

use std::cell::Cell;

use hashbrown::hash_table::Entry;
use rand::Rng;

use super::Store;
use super::delivery::Place;
use super::record::{Carried, Head, Index, Parcel, Record, Texts, TypeRef};
use crate::engine::{Decision, Engine, ErrorReport, Gates, Job, Timestamp};
use crate::labels::LabelId;
use crate::state::delivery::{default_queue, lease_number, not_current};
use crate::state::step::{self, FailureStep};
use crate::state::{
    FailureCall, FailureOutcome, MESSAGE_PREFIX, StateError, StoredError, SuccessOutcome, prefix,
};

/// Fencing: a job handed out under lease `held` is settled only with that
/// lease; a lease given for a job not handed out is not its current one.
pub(super) fn check_lease(
    job_id: &str,
    held: Option<u64>,
    given: Option<&str>,
) -> Result<(), StateError> {
    let held = held.filter(|l| *l != 0);
    match (held, given) {
        (None, None) => Ok(()),
        (Some(h), Some(g)) if lease_number(g) == Some(h) => Ok(()),
        (h, g) => Err(not_current(job_id, g, h.is_some())),
    }
}

/// A parcel after a decided report: settled (no lease, no unsettled
/// hand-outs) and parked until `retry_at` if the job retries, out of the
/// indexes if it is dead or cancelled.
pub(super) fn settled(mut p: Parcel, job: &Job) -> Parcel {
    p.lease = 0;
    p.lease_until = Timestamp(0);
    p.unsettled = 0;
    match job.next_retry_at() {
        Some(at) => {
            p.index = Index::Due;
            p.due_at = at;
        }
        None => p.index = Index::None,
    }
    p
}

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
    ) -> Result<FailureOutcome, StateError> {
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
        let carry = &call.carry;
        // The bytes of a payload given, reserved before anything is decided
        // (a report past the bound changes nothing); what the job held is
        // given back once it is replaced.
        let out = self.table.entry(call.job_id, |entry| match entry {
            // Decided with an engine whose ids the records no longer hold.
            _ if !self.current(engine) => Ok::<_, StateError>(FailureOutcome::stale()),
            Entry::Occupied(mut o) => {
                let rec = o.get_mut();
                let head = rec.head();
                let label = head.label;
                let held = rec.carried();
                check_lease(call.job_id, held.map(|c| c.parcel.lease), carry.lease)?;
                let held_len = held.map_or(0, |c| c.payload.len());
                if let Some(p) = carry.payload {
                    self.delivery.reserve(p.len(), held_len)?;
                }
                let (job, decision, tally) =
                    match step::failure(engine, call, Some(&head.job), take, now, rng) {
                        FailureStep::Duplicate(decision) => {
                            if let Some(p) = carry.payload {
                                self.delivery.unreserve(p.len(), held_len);
                            }
                            return Ok(FailureOutcome::duplicate(
                                decision,
                                label,
                                Some(self.stored_error(rec)),
                            ));
                        }
                        FailureStep::Recorded { job, tally, shadow } => {
                            shadowed.set(shadow);
                            (job, job.last_decision, tally)
                        }
                    };
                count_refusal(&decision);
                let head = Self::head_of(job, label, e);
                if held.is_none() && carry.payload.is_none() {
                    // No delivery: as before there was any.
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
                            None,
                        );
                    }
                } else {
                    self.carry_on(rec, &head, call, type_name, message);
                }
                self.apply(label, &tally);
                Ok(FailureOutcome::recorded(decision, label, &tally))
            }
            Entry::Vacant(v) => {
                check_lease(call.job_id, None, carry.lease)?;
                if let Some(p) = carry.payload {
                    self.delivery.reserve(p.len(), 0)?;
                }
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
                let mut parcel = carry.payload.map(|_| settled(Parcel::default(), &job));
                let queue = carry.queue.unwrap_or_else(|| default_queue(call.job_type));
                let payload = carry.payload.unwrap_or_default();
                if let Some(p) = parcel.as_mut() {
                    let hash = self.table.hash(call.job_id);
                    self.delivery
                        .moved(hash, None, Some((queue, p, payload.len())));
                }
                v.insert(Record::encode_clamped(
                    &Self::head_of(job, label, e),
                    &Texts {
                        id: call.job_id,
                        type_name,
                        job_type: (!own_name).then_some(call.job_type),
                        message,
                    },
                    parcel
                        .map(|parcel| Carried {
                            parcel,
                            queue,
                            payload,
                        })
                        .as_ref(),
                ));
                self.apply(label, &tally);
                Ok(FailureOutcome::recorded(decision, label, &tally))
            }
        })?;
        if out.stale {
            return Ok(out);
        }
        if out.gave_up {
            // After the shard lock is released: the sweeper takes the death
            // queue's lock first and shard locks under it.
            self.died(call.job_id, now);
        }
        Ok(FailureOutcome {
            breaker: moved.get(),
            shadow: shadowed.get(),
            ..out
        })
    }

    /// A decided failure of a job held for delivery (or given a payload
    /// now): its record rewritten with the new head and its parcel settled
    /// — parked again on a retry, out of the indexes on a give-up — and its
    /// keys moved. The payload's bytes were reserved by the caller.
    fn carry_on(
        &self,
        rec: &mut Record,
        head: &Head,
        call: &FailureCall<'_>,
        type_name: TypeRef<'_>,
        message: &str,
    ) {
        let carry = &call.carry;
        let held = rec.carried();
        let queue = carry
            .queue
            .or(held.map(|c| c.queue))
            .unwrap_or_else(|| default_queue(call.job_type))
            .to_owned();
        let held_queue = held.map(|c| c.queue.to_owned());
        let old = held.map(|c| (c.parcel, c.payload.len()));
        let mut parcel = settled(old.map(|(p, _)| p).unwrap_or_default(), &head.job);
        let payload_len = carry.payload.map_or(old.map_or(0, |(_, n)| n), <[u8]>::len);
        let hash = self.table.hash(call.job_id);
        self.delivery.moved(
            hash,
            old.as_ref()
                .zip(held_queue.as_deref())
                .map(|((p, n), q)| Place {
                    queue: q,
                    parcel: p,
                    payload_len: *n,
                }),
            Some((&queue, &mut parcel, payload_len)),
        );
        let in_place = carry.payload.is_none()
            && held_queue.as_deref() == Some(queue.as_str())
            && rec.same_error(type_name, message);
        if in_place {
            rec.write_head(head);
            rec.write_parcel(&parcel);
            return;
        }
        let job_type = rec.job_type().map(str::to_owned);
        let payload = match carry.payload {
            Some(p) => p,
            None => held.map_or(&[][..], |c| c.payload),
        };
        let new = Record::encode_clamped(
            head,
            &Texts {
                id: call.job_id,
                type_name,
                job_type: job_type.as_deref(),
                message,
            },
            Some(&Carried {
                parcel,
                queue: &queue,
                payload,
            }),
        );
        *rec = new;
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
        lease: Option<&str>,
        now: Timestamp,
    ) -> Result<SuccessOutcome, StateError> {
        // Fencing: the lease checked and the job removed in one step.
        let removed = self.table.entry(job_id, |e| match e {
            Entry::Occupied(o) => {
                check_lease(job_id, o.get().parcel().map(|p| p.lease), lease)?;
                let rec = o.remove().0;
                self.drop_parcel(&rec);
                Ok(Some(rec))
            }
            Entry::Vacant(_) => check_lease(job_id, None, lease).map(|()| None),
        })?;
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
        Ok(SuccessOutcome {
            known: head.is_some(),
            failures_before_success: head.map_or(0, |h| h.job.failure_count),
            label,
            breaker,
        })
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
