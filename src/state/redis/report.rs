//! Reports: a failure (read, decide, compare-and-set, again on a
//! conflict), an explanation and a success.

use super::cas::{Tried, until_applied};
use super::codec::Stored;
use super::commit::{Change, Committed, Fence, ParcelOp};
use super::{Op, Redis};
use crate::engine::{Decision, Engine, Gates, Job, Timestamp};
use crate::state::delivery::{default_queue, not_current};
use crate::state::step::{self, FailureStep};
use crate::state::{FailureCall, FailureOutcome, StateError, StoredError, SuccessOutcome};

/// A uniform draw from [0, 1] (the thread's generator is not held across
/// an await).
fn draw() -> f64 {
    crate::engine::backoff::unit(&mut rand::rng())
}

impl Redis {
    pub async fn report_failure(
        &self,
        engine: &Engine,
        call: &FailureCall<'_>,
        now: Timestamp,
    ) -> Result<(FailureOutcome, Option<String>), StateError> {
        let id = call.job_id;
        let carry = &call.carry;
        // The fleet's payload bytes, as of the last look: a report past the
        // bound changes nothing.
        if let Some(p) = carry.payload {
            let (held, max) = (self.held_bytes(), self.delivery_settings.max_parked_bytes);
            if held.saturating_add(p.len() as u64) > max {
                return Err(StateError::Full(format!(
                    "payload: {} more bytes would pass [delivery] max_parked_bytes ({max} bytes; the fleet holds {held})",
                    p.len()
                )));
            }
        }
        let stripe = self.link.wait(self.stripe(id).lock()).await?;
        let label = self.job_type_label(call.job_type).await?;
        // A paused failure spends nothing and counts in no breaker.
        let (budget, breaker) = match call.pause {
            Some(_) => (None, None),
            None => (
                self.budgeted(call.target).await?,
                self.breakered(call.target).await?,
            ),
        };
        // The job (unless the stripe remembers it), the budget's take and
        // the breaker's count beside it: one round trip. What a duplicate
        // took from the budget is given back; its count in the breaker
        // stays (one more failure seen in the window). A first attempt the
        // stripe does not know is taken for a new job without reading: its
        // commit expects no record, and if one is there after all, the
        // commit refuses and returns it, and the step runs again on that.
        let first = call.report.attempt == 1 && stripe.get(id).is_none();
        let (found, taken, counted) = tokio::join!(
            async {
                if first {
                    Ok(None)
                } else {
                    self.recalled(engine, &stripe, id).await
                }
            },
            async {
                match &budget {
                    Some(b) => self
                        .budget_op(b, true, crate::engine::budget::MILLI)
                        .await
                        .map(Some),
                    None => Ok(None),
                }
            },
            async {
                match &breaker {
                    Some(b) => self.breaker_failure(b, now, draw()).await.map(Some),
                    None => Ok(None),
                }
            }
        );
        let found = found?;
        let taken = taken?;
        let (breaker_view, moved) = counted?.unzip();
        let moved = moved.flatten();
        // Whether `found` was read from Redis by this call (not recalled).
        let fresh = stripe.get(id).is_none();
        let budget = &budget;
        until_applied(
            || format!("job {id:?}"),
            (stripe, found, fresh),
            move |(mut stripe, found, fresh)| async move {
                let stored = found.as_ref().map(|f| &f.stored.job);
                let take = |j: Option<&Job>| Gates {
                    budget: budget
                        .as_ref()
                        .zip(taken)
                        .map(|(b, tokens)| self.view(b, tokens, j)),
                    breaker: breaker_view,
                    pause: None,
                };
                let step = step::failure(engine, call, stored, take, now, &mut rand::rng());
                let (job, decision, tally, shadow) = match step {
                    // A duplicate only of what Redis holds now: a remembered
                    // record may be stale.
                    FailureStep::Duplicate(_) if !fresh => {
                        let found = self.read(engine, self.keys.of_job(id), id).await?;
                        stripe.set(id, found.as_ref().map(|f| (f.set, f.member.as_slice())));
                        return Ok(Tried::Conflict((stripe, found, true)));
                    }
                    FailureStep::Duplicate(decision) => {
                        self.give_back(budget, taken).await?;
                        // Fencing first, as for any report: a duplicate
                        // under a lost lease is refused too.
                        let has = found.as_ref().is_some_and(|f| f.stored.parcel);
                        if has || carry.lease.is_some() {
                            let held = self.lease_of(id).await?;
                            if held.as_deref() != carry.lease {
                                return Err(not_current(id, carry.lease, held.is_some()));
                            }
                        }
                        let f = found.as_ref();
                        let out = FailureOutcome::duplicate(
                            decision,
                            f.map_or(label, |f| self.labels.job_types.get(&f.stored.label)),
                            f.map(|f| f.stored.error.clone()),
                        );
                        return Ok(Tried::Applied((
                            FailureOutcome {
                                breaker: moved,
                                ..out
                            },
                            None,
                        )));
                    }
                    FailureStep::Recorded { job, tally, shadow } => {
                        (job, job.last_decision, tally, shadow)
                    }
                };
                // Delivery: the parcel settled, under its lease's fence.
                let has = found.as_ref().is_some_and(|f| f.stored.parcel);
                if !has && carry.lease.is_some() {
                    self.give_back(budget, taken).await?;
                    return Err(not_current(id, carry.lease, false));
                }
                let carrying = has || carry.payload.is_some();
                let parcel = if carrying {
                    ParcelOp::Settle {
                        due: job.next_retry_at(),
                        queue: carry
                            .queue
                            .or_else(|| (!has).then(|| default_queue(call.job_type))),
                        payload: carry.payload,
                    }
                } else {
                    ParcelOp::None
                };
                let fence = match (has, carry.lease) {
                    (false, _) => Fence::Unchecked,
                    (true, Some(l)) => Fence::Lease(l),
                    (true, None) => Fence::Free,
                };
                let new = match &found {
                    Some(f) => Stored {
                        job,
                        error: StoredError::of(&call.report.error),
                        parcel: carrying,
                        ..f.stored.clone()
                    },
                    None => Stored {
                        id: id.to_string(),
                        job_type: call.job_type.to_string(),
                        label: self.labels.job_types.name(label).to_string(),
                        job,
                        error: StoredError::of(&call.report.error),
                        parcel: carrying,
                    },
                };
                let old = found.as_ref().map(|f| (f.set, f.member.as_slice()));
                let (committed, set, member) = self
                    .commit_stored(engine, old, &new, &tally, (parcel, fence), now)
                    .await?;
                match committed {
                    Committed::Fenced { held } => {
                        self.give_back(budget, taken).await?;
                        Err(not_current(id, carry.lease, held))
                    }
                    Committed::Applied(batch) => {
                        stripe.set(id, Some((set, &member)));
                        if let Some(b) = budget
                            && step::budget_refused(&decision)
                        {
                            self.count_refusal(b).await;
                        }
                        let out = FailureOutcome::recorded(
                            decision,
                            self.labels.job_types.get(&new.label),
                            &tally,
                        );
                        Ok(Tried::Applied((
                            FailureOutcome {
                                breaker: moved,
                                shadow,
                                ..out
                            },
                            batch,
                        )))
                    }
                    Committed::Conflict(now_there) => {
                        stripe.saw(id, &now_there);
                        let found = self.current(engine, id, now_there)?;
                        Ok(Tried::Conflict((stripe, found, true)))
                    }
                }
            },
        )
        .await
    }

    /// What a report's budget take spent, given back: the report changed
    /// nothing (a duplicate, or a refusal).
    async fn give_back(
        &self,
        budget: &Option<super::budget::Budgeted>,
        taken: Option<i64>,
    ) -> Result<(), StateError> {
        if let (Some(b), Some(before)) = (budget, taken) {
            let spent = before.clamp(0, crate::engine::budget::MILLI);
            self.budget_op(b, false, spent).await?;
        }
        Ok(())
    }

    pub async fn explain(
        &self,
        engine: &Engine,
        call: &FailureCall<'_>,
        now: Timestamp,
    ) -> Result<Decision, StateError> {
        let budget = self.budgeted(call.target).await?;
        let pk = self.keys.of_job(call.job_id);
        let (found, tokens) = tokio::join!(self.read(engine, pk, call.job_id), async {
            match &budget {
                Some(b) => self
                    .link
                    .query::<Option<i64>>(
                        Op::Budget,
                        redis::cmd("HGET")
                            .arg(self.keys.budget(&b.name))
                            .arg("tokens"),
                    )
                    .await
                    .map(|t| Some(t.unwrap_or(b.config.full()).min(b.config.full()))),
                None => Ok(None),
            }
        });
        let found = found?;
        let job = found.as_ref().map(|f| &f.stored.job);
        let view = budget
            .as_ref()
            .zip(tokens?)
            .map(|(b, t)| self.view(b, t, job));
        let breaker = match self.breakered(call.target).await? {
            Some(b) => Some(self.breaker_peek(&b, now, draw()).await?),
            None => None,
        };
        Ok(step::explain(
            engine,
            call,
            job,
            Gates {
                budget: view,
                breaker,
                pause: None,
            },
            now,
            &mut rand::rng(),
        ))
    }

    pub async fn report_success(
        &self,
        engine: &Engine,
        job_id: &str,
        job_type: &str,
        target: &str,
        lease: Option<&str>,
        now: Timestamp,
    ) -> Result<(SuccessOutcome, Option<String>), StateError> {
        let stripe = self.link.wait(self.stripe(job_id).lock()).await?;
        let found = self.recalled(engine, &stripe, job_id).await?;
        // The job forgotten, with its counts: what it was, its label, its batch.
        let (job, label, batch) = until_applied(
            || format!("job {job_id:?}"),
            (stripe, found),
            move |(mut stripe, found)| async move {
                let job = found.as_ref().map(|f| f.stored.job);
                // Delivery: removed only under its current lease.
                let has = found.as_ref().is_some_and(|f| f.stored.parcel);
                if !has && lease.is_some() {
                    return Err(not_current(job_id, lease, false));
                }
                let (parcel, fence) = match (has, lease) {
                    (false, _) => (ParcelOp::None, Fence::Unchecked),
                    (true, Some(l)) => (ParcelOp::Remove, Fence::Lease(l)),
                    (true, None) => (ParcelOp::Remove, Fence::Free),
                };
                let tally = step::success(job.as_ref());
                let label = match &found {
                    Some(f) => f.stored.label.clone(),
                    None => {
                        let l = self.job_type_label(job_type).await?;
                        self.labels.job_types.name(l).to_string()
                    }
                };
                let committed = self
                    .commit(
                        job_id,
                        found.as_ref().map(|f| (f.set, f.member.as_slice())),
                        None,
                        Change {
                            label: &label,
                            tally: &tally,
                            job: None,
                            parcel,
                            fence,
                        },
                        now,
                    )
                    .await?;
                Ok(match committed {
                    Committed::Applied(batch) => {
                        stripe.set(job_id, None);
                        Tried::Applied((job, label, batch))
                    }
                    Committed::Fenced { held } => return Err(not_current(job_id, lease, held)),
                    Committed::Conflict(now_there) => {
                        stripe.saw(job_id, &now_there);
                        let found = self.current(engine, job_id, now_there)?;
                        Tried::Conflict((stripe, found))
                    }
                })
            },
        )
        .await?;
        // The budget refilled: the target named, or the one the job's
        // failures were reported with.
        let refill = match (target, job.and_then(|j| j.last_decision.target)) {
            ("", Some(t)) => self.budgeted(self.target_name(t)).await?,
            ("", None) => None,
            _ => self.budgeted(target).await?,
        };
        if let Some(b) = &refill {
            let ratio = (b.config.token_ratio * crate::engine::budget::MILLI as f64).round() as i64;
            self.budget_op(b, false, ratio).await?;
        }
        // The breaker too, of the same target.
        let breaker = match (target, job.and_then(|j| j.last_decision.target)) {
            ("", Some(t)) => self.breakered(self.target_name(t)).await?,
            ("", None) => None,
            _ => self.breakered(target).await?,
        };
        let moved = match &breaker {
            Some(b) => {
                self.breaker_change(b, |br| (br.success(&b.config, now), ()))
                    .await?
                    .1
            }
            None => None,
        };
        Ok((
            SuccessOutcome {
                known: job.is_some(),
                failures_before_success: job.map_or(0, |j| j.failure_count),
                label: self.labels.job_types.get(&label),
                breaker: moved,
            },
            batch,
        ))
    }
}
