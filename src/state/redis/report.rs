//! Reports: a failure (read, decide, compare-and-set, again on a
//! conflict), an explanation and a success.

use super::cas::{Tried, until_applied};
use super::codec::Stored;
use super::commit::{Change, Committed};
use super::{Op, Redis};
use crate::engine::{Decision, Engine, Gates, Job, Timestamp};
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
        let stripe = self.stripe(id).lock().await;
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
        // stays (one more failure seen in the window).
        let (found, taken, counted) = tokio::join!(
            self.recalled(engine, &stripe, id),
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
                        if let (Some(b), Some(before)) = (budget, taken) {
                            // Spent for nothing: give back what the take spent.
                            let spent = before.clamp(0, crate::engine::budget::MILLI);
                            self.budget_op(b, false, spent).await?;
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
                let new = match &found {
                    Some(f) => Stored {
                        job,
                        error: StoredError::of(&call.report.error),
                        ..f.stored.clone()
                    },
                    None => Stored {
                        id: id.to_string(),
                        job_type: call.job_type.to_string(),
                        label: self.labels.job_types.name(label).to_string(),
                        job,
                        error: StoredError::of(&call.report.error),
                    },
                };
                let old = found.as_ref().map(|f| (f.set, f.member.as_slice()));
                let (committed, set, member) =
                    self.commit_stored(engine, old, &new, &tally, now).await?;
                match committed {
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
        now: Timestamp,
    ) -> Result<(SuccessOutcome, Option<String>), StateError> {
        let stripe = self.stripe(job_id).lock().await;
        let found = self.recalled(engine, &stripe, job_id).await?;
        // The job forgotten, with its counts: what it was, its label, its batch.
        let (job, label, batch) = until_applied(
            || format!("job {job_id:?}"),
            (stripe, found),
            move |(mut stripe, found)| async move {
                let job = found.as_ref().map(|f| f.stored.job);
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
                        },
                        now,
                    )
                    .await?;
                Ok(match committed {
                    Committed::Applied(batch) => {
                        stripe.set(job_id, None);
                        Tried::Applied((job, label, batch))
                    }
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
