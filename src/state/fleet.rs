//! Fleet mode behind the front: reports go to Redis, or to this sidecar's
//! own state while Redis cannot be reached (`on_unavailable = "local"`),
//! and a report's batch outcome follows it.

use super::{FailureCall, FailureOutcome, Fleet, StateError, SuccessOutcome};
use crate::engine::batch::Outcome;
use crate::engine::{Decision, Engine, Timestamp};

impl Fleet {
    pub(super) async fn report_failure(
        &self,
        engine: &Engine,
        call: &FailureCall<'_>,
        now: Timestamp,
    ) -> Result<FailureOutcome, StateError> {
        match self
            .and_ready(self.redis.report_failure(engine, call, now))
            .await
        {
            Ok((out, batch)) => {
                if let Some(batch) = batch
                    && !out.duplicate
                {
                    let outcome = match out.decision.action {
                        crate::engine::Action::Retry => Outcome::FailedRetryable,
                        crate::engine::Action::GiveUp => Outcome::FailedNonRetryable,
                    };
                    self.record_in_batch(&batch, call.job_id, outcome, now)
                        .await;
                }
                Ok(out)
            }
            Err(StateError::Unavailable(why)) => match &self.local {
                Some(local) => {
                    tracing::debug!(error = %why, "fleet state unavailable: deciding locally");
                    let mut out =
                        super::fresh(local.report_failure(engine, call, now, &mut rand::rng()))?;
                    out.local = true;
                    Ok(out)
                }
                None => Err(StateError::Unavailable(why)),
            },
            Err(e) => Err(e),
        }
    }

    pub(super) async fn explain(
        &self,
        engine: &Engine,
        call: &FailureCall<'_>,
        now: Timestamp,
    ) -> Result<(Decision, bool), StateError> {
        match self.and_ready(self.redis.explain(engine, call, now)).await {
            Ok(d) => Ok((d, false)),
            Err(StateError::Unavailable(why)) => match &self.local {
                Some(local) => Ok((
                    local.store.explain(engine, call, now, &mut rand::rng()),
                    true,
                )),
                None => Err(StateError::Unavailable(why)),
            },
            Err(e) => Err(e),
        }
    }

    pub(super) async fn report_success(
        &self,
        engine: &Engine,
        job_id: &str,
        job_type: &str,
        target: &str,
        now: Timestamp,
    ) -> Result<SuccessOutcome, StateError> {
        let done = self
            .and_ready(
                self.redis
                    .report_success(engine, job_id, job_type, target, now),
            )
            .await;
        match done {
            Ok((out, batch)) => {
                if let Some(batch) = batch {
                    self.record_in_batch(&batch, job_id, Outcome::Succeeded, now)
                        .await;
                }
                Ok(out)
            }
            Err(StateError::Unavailable(why)) => match &self.local {
                Some(local) => Ok(local.report_success(job_id, job_type, target, now)),
                None => Err(StateError::Unavailable(why)),
            },
            Err(e) => Err(e),
        }
    }

    /// Whether the fleet's keys can be used (see `Redis::ready`).
    pub async fn ready(&self) -> Result<(), StateError> {
        self.redis.ready().await
    }

    pub(super) async fn and_ready<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, StateError>>,
    ) -> Result<T, StateError> {
        self.ready().await?;
        call.await
    }

    /// A job's report counted into its open batch. Failing to count it is
    /// logged, not an error of the report: the decision stands.
    pub(super) async fn record_in_batch(
        &self,
        batch: &str,
        job_id: &str,
        outcome: Outcome,
        now: Timestamp,
    ) {
        if let Err(e) = self
            .redis
            .record_in_batch(batch, job_id, outcome, now)
            .await
        {
            tracing::warn!(batch, job_id, error = %e, "a report could not be counted into its batch");
        }
    }

    /// Whether calls fail (rather than decide locally) while Redis is down.
    pub fn rejects_when_down(&self) -> bool {
        self.local.is_none()
    }
}
