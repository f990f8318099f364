//! Fleet mode behind the front: reports go to Redis, or to this sidecar's
//! own state while Redis cannot be reached (`on_unavailable = "local"`),
//! and a report's batch outcome follows it.

use super::memory::Memory;
use super::pauses::{Pause, Scope};
use super::redis::{self, Redis};
use super::{Evictions, FailureCall, FailureOutcome, StateError, SuccessOutcome};
use crate::engine::batch::Outcome;
use crate::engine::{Decision, Engine, Timestamp};

/// Fleet mode: the Redis backend, and this sidecar's own state to decide
/// from while Redis cannot be reached, if `on_unavailable = "local"`.
pub(super) struct Fleet {
    pub(super) redis: Redis,
    pub(super) local: Option<Memory>,
    /// This sidecar's name in the fleet (the sweeper's lease).
    me: String,
    /// What marks this sidecar's own events in the fleet's stream (its
    /// name and a random tag: unique even for two in one process).
    origin: String,
}

/// The fleet's event stream, as `events::fleet` uses it.
pub struct FleetEvents<'a> {
    redis: &'a Redis,
    /// This sidecar's mark on its own events.
    pub origin: &'a str,
}

impl FleetEvents<'_> {
    /// Appends this sidecar's encoded events, in one pipeline.
    pub async fn append(&self, events: &[Vec<u8>]) -> Result<(), StateError> {
        self.redis.append_events(self.origin, events).await
    }

    /// Whether some sidecar of the fleet has a watcher.
    pub async fn watched(&self) -> Result<bool, StateError> {
        self.redis.events_watched().await
    }

    /// Says that this sidecar has a watcher (for a few seconds).
    pub async fn mark_watched(&self) -> Result<(), StateError> {
        self.redis.mark_watched().await
    }

    /// The id of the stream's newest entry (where a new reader starts).
    pub async fn last_id(&self) -> Result<String, StateError> {
        self.redis.last_event_id().await
    }

    /// Up to `count` entries after `after`: id, origin, encoded event.
    pub async fn read(
        &self,
        after: &str,
        count: usize,
    ) -> Result<Vec<redis::events::Entry>, StateError> {
        self.redis.read_events(after, count).await
    }
}

impl Fleet {
    pub(super) fn new(redis: Redis, local: Option<Memory>, me: String) -> Fleet {
        Fleet {
            redis,
            local,
            origin: format!("{me}#{:08x}", rand::random::<u32>()),
            me,
        }
    }

    pub(super) fn events(&self) -> FleetEvents<'_> {
        FleetEvents {
            redis: &self.redis,
            origin: &self.origin,
        }
    }

    pub(super) fn is_up(&self) -> bool {
        self.redis.link().is_up()
    }

    pub(super) fn health(&self) -> tokio::sync::watch::Receiver<bool> {
        self.redis.link().health()
    }

    /// One round of the fleet's bounds (by whichever sidecar holds the
    /// sweeper's lease), and with `full` its batches' TTLs.
    pub(super) async fn sweep(
        &self,
        engine: &Engine,
        now: Timestamp,
        full: bool,
    ) -> Result<(Evictions, usize), StateError> {
        self.ready().await?;
        let ev = self.redis.sweep(engine, &self.me, now).await?;
        let batches = if full {
            self.redis.sweep_batches(now).await?
        } else {
            0
        };
        Ok((ev, batches))
    }

    /// The bounds of the local fallback, if there is one (synchronous).
    pub(super) fn sweep_local(&self, now: Timestamp, full: bool) -> (Evictions, usize) {
        match &self.local {
            Some(local) => local.sweep(now, full),
            None => (Evictions::default(), 0),
        }
    }

    pub(super) async fn pause_set(&self, pause: &Pause) -> Result<(), StateError> {
        self.redis.pause_set(pause).await
    }

    /// Ends the fleet's pause of `scope`; whether one was in force.
    pub(super) async fn pause_remove(
        &self,
        scope: &Scope,
        now: Timestamp,
    ) -> Result<bool, StateError> {
        let was = self
            .redis
            .pauses()
            .await?
            .iter()
            .any(|p| &p.scope == scope && p.live(now));
        self.redis.pause_remove(scope).await?;
        Ok(was)
    }

    pub(super) async fn pauses(&self) -> Result<Vec<Pause>, StateError> {
        self.redis.pauses().await
    }

    pub(super) async fn report_failure(
        &self,
        engine: &Engine,
        call: &FailureCall<'_>,
        now: Timestamp,
    ) -> Result<FailureOutcome, StateError> {
        // The report's whole time in Redis, lock waits included, within
        // `timeout`.
        let decided = self.redis.link().bounded(async {
            let (out, batch) = self
                .and_ready(self.redis.report_failure(engine, call, now))
                .await?;
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
        });
        match decided.await {
            Ok(out) => Ok(out),
            // A job held for delivery lives in the fleet's state: its
            // report waits for it (no local decision could park it there).
            Err(StateError::Unavailable(why)) => match &self.local {
                Some(local) if call.carry == super::Carry::default() => {
                    tracing::debug!(error = %why, "fleet state unavailable: deciding locally");
                    let mut out =
                        super::fresh(local.report_failure(engine, call, now, &mut rand::rng())?)?;
                    out.local = true;
                    Ok(out)
                }
                _ => Err(StateError::Unavailable(why)),
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
        let decided = self
            .redis
            .link()
            .bounded(self.and_ready(self.redis.explain(engine, call, now)));
        match decided.await {
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
        lease: Option<&str>,
        now: Timestamp,
    ) -> Result<SuccessOutcome, StateError> {
        let done = self.redis.link().bounded(async {
            let (out, batch) = self
                .and_ready(
                    self.redis
                        .report_success(engine, job_id, job_type, target, lease, now),
                )
                .await?;
            if let Some(batch) = batch {
                self.record_in_batch(&batch, job_id, Outcome::Succeeded, now)
                    .await;
            }
            Ok(out)
        });
        match done.await {
            Ok(out) => Ok(out),
            Err(StateError::Unavailable(why)) => match &self.local {
                Some(local) if lease.is_none() => {
                    local.report_success(job_id, job_type, target, None, now)
                }
                _ => Err(StateError::Unavailable(why)),
            },
            Err(e) => Err(e),
        }
    }

    /// Whether the fleet's keys can be used (see `Redis::ready`).
    pub(super) async fn ready(&self) -> Result<(), StateError> {
        self.redis.ready().await
    }

    /// A call on one job (an operator's, a lease's): like a decision, its
    /// whole time in Redis, lock waits included, within `timeout`.
    pub(super) async fn one_job<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, StateError>>,
    ) -> Result<T, StateError> {
        self.redis.link().bounded(self.and_ready(call)).await
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
    pub(super) fn rejects_when_down(&self) -> bool {
        self.local.is_none()
    }
}
