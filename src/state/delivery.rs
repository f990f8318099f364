//! Delivery (`[delivery]`): what both backends take and answer when retryd
//! holds the jobs it retries — a report's payload, queue and lease; a due
//! job handed to a claimer; a queue's counts; a lease that ran out.
//!
//! A job with a payload is parked when its failure is decided `RETRY`: due
//! at `retry_at` on its queue. A claim leases due jobs, oldest due first,
//! each to one claimer; the claimer settles with the lease (a report, or a
//! release), and a lease that runs out unsettled makes the job due again —
//! or, at `max_deliveries` in a row, dead. Every check of a lease happens in
//! the same atomic step as the change it guards (fencing).

use std::sync::Arc;
use std::time::Duration;

use super::{Backend, State, current, redis};
use crate::engine::Engine;
use crate::engine::Timestamp;

use super::{StateError, StoredError};

/// What a report brings for delivery.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Carry<'a> {
    /// A payload to hold (`None`: keep the job's, if it has one).
    pub payload: Option<&'a [u8]>,
    /// Its queue (`None`: keep the job's, else the default).
    pub queue: Option<&'a str>,
    /// The lease the job was claimed under.
    pub lease: Option<&'a str>,
}

/// A job's queue when its reports never name one: its job type, else this.
pub const DEFAULT_QUEUE: &str = "default";

/// The queue of a job of `job_type` that names none.
pub fn default_queue(job_type: &str) -> &str {
    if job_type.is_empty() {
        DEFAULT_QUEUE
    } else {
        job_type
    }
}

/// A due job handed to one claimer.
#[derive(Clone, Debug, PartialEq)]
pub struct DueJob {
    pub id: String,
    pub job_type: String,
    pub queue: String,
    pub payload: Vec<u8>,
    /// The attempt number this run is.
    pub attempt: u32,
    pub last_error: StoredError,
    pub due_at: Timestamp,
    pub lease_id: String,
    pub lease_until: Timestamp,
    /// Every hand-out, this one included.
    pub deliveries: u32,
}

/// A job's delivery, as `GetJob` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryView {
    pub queue: String,
    pub payload_bytes: u32,
    pub deliveries: u32,
    /// Its current lease's end, while it is handed out and unsettled.
    pub lease_until: Option<Timestamp>,
}

/// One queue's counts (`ListQueues`, the metrics).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueRow {
    pub queue: String,
    /// Waiting on the queue, due or not yet (leased ones not counted).
    pub parked: u64,
    /// Of those, due now.
    pub due: u64,
    /// Handed out, unsettled, lease still running.
    pub leased: u64,
    /// Payload bytes of its parked and leased jobs.
    pub parked_bytes: u64,
    /// The oldest unclaimed due job's due time.
    pub oldest_due: Option<Timestamp>,
}

/// A lease that ran out unsettled.
#[derive(Clone, Debug, PartialEq)]
pub struct Expired {
    pub job_id: String,
    pub job_type: String,
    pub queue: String,
    /// The job died of it (the delivery limit): its label and decision.
    pub died: Option<(crate::labels::LabelId, crate::engine::Decision)>,
}

/// A lease id as a text: what memory hands out for lease number `n`.
pub fn lease_text(n: u64) -> String {
    format!("{n:016x}")
}

/// The lease number of a text `lease_text` made (`None`: not one).
pub fn lease_number(s: &str) -> Option<u64> {
    if s.len() != 16 {
        return None;
    }
    u64::from_str_radix(s, 16).ok().filter(|n| *n != 0)
}

/// The fencing refusal: `given` is not the job's current lease.
pub fn not_current(job_id: &str, given: Option<&str>, held: bool) -> StateError {
    StateError::Lease(match (given, held) {
        (None, _) => format!(
            "lease_id: job {job_id:?} is handed out under a lease; report it with that lease_id"
        ),
        (Some(l), true) => format!(
            "lease_id: {l:?} is not the current lease of job {job_id:?} (it was handed out again, or settled)"
        ),
        (Some(l), false) => format!(
            "lease_id: {l:?} is not the current lease of job {job_id:?}: the job is not handed out (it was settled, released, or never claimed)"
        ),
    })
}

/// Delivery through whichever backend holds the state.
impl State {
    /// Up to `max` jobs of `queue` due by `now`, oldest due first, each
    /// leased to this claimer alone until `now + lease`.
    pub async fn claim_due(
        &self,
        engine: &Engine,
        queue: &str,
        max: usize,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Vec<DueJob>, StateError> {
        match &self.backend {
            Backend::Memory(m) => current(m, engine, || Ok(m.store.claim(queue, max, lease, now))),
            Backend::Redis(f) => {
                Box::pin(f.and_ready(f.redis.claim_due(engine, queue, max, lease, now))).await
            }
        }
    }

    /// The job's current lease runs until `now + lease`: its end.
    pub async fn extend_lease(
        &self,
        job_id: &str,
        lease_id: &str,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Timestamp, StateError> {
        match &self.backend {
            Backend::Memory(m) => m.store.extend(job_id, lease_id, lease, now),
            Backend::Redis(f) => {
                Box::pin(f.one_job(f.redis.extend_lease(job_id, lease_id, lease, now))).await
            }
        }
    }

    /// A leased job handed back unprocessed: due again after `delay`.
    pub async fn release_job(
        &self,
        job_id: &str,
        lease_id: &str,
        delay: Duration,
        now: Timestamp,
    ) -> Result<(), StateError> {
        match &self.backend {
            Backend::Memory(m) => m.store.release(job_id, lease_id, delay, now),
            Backend::Redis(f) => {
                Box::pin(f.one_job(f.redis.release_job(job_id, lease_id, delay, now))).await
            }
        }
    }

    /// Each queue's counts, by queue.
    pub async fn queues(&self, now: Timestamp) -> Result<Vec<QueueRow>, StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.store.queues(now)),
            Backend::Redis(f) => Box::pin(f.and_ready(f.redis.queues(now))).await,
        }
    }

    /// When the first job parked on `queue` is due, as far as this sidecar
    /// knows (fleet mode: from the fleet's hints, at most `poll` late).
    pub async fn next_due(&self, queue: &str) -> Result<Option<Timestamp>, StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.store.next_due(queue)),
            Backend::Redis(f) => Box::pin(f.and_ready(f.redis.next_due(queue))).await,
        }
    }

    /// What wakes the waiters of `queue` when this sidecar parks a job on
    /// it sooner than the first one they knew of.
    pub fn due_signal(&self, queue: &str) -> Arc<tokio::sync::Notify> {
        match &self.backend {
            Backend::Memory(m) => m.store.due_signal(queue),
            Backend::Redis(f) => f.redis.due_signal(queue),
        }
    }

    /// When the first lease of a handed-out job runs out.
    pub async fn next_lease_expiry(&self) -> Result<Option<Timestamp>, StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.store.next_expiry()),
            Backend::Redis(f) => Box::pin(f.and_ready(f.redis.next_lease_expiry())).await,
        }
    }

    /// What wakes the lease reaper when a lease is granted that ends sooner
    /// than the ones it waits for.
    pub fn lease_signal(&self) -> Arc<tokio::sync::Notify> {
        match &self.backend {
            Backend::Memory(m) => m.store.lease_signal(),
            Backend::Redis(f) => f.redis.lease_signal(),
        }
    }

    /// The leases that ran out by `now`: each job due again, or dead at
    /// the delivery limit.
    pub(super) async fn expire_leases(
        &self,
        engine: &Engine,
        now: Timestamp,
    ) -> Result<Vec<Expired>, StateError> {
        match &self.backend {
            Backend::Memory(m) => {
                let mut all = Vec::new();
                loop {
                    let some = m.store.expire(now);
                    let more = !some.is_empty() && m.store.next_expiry().is_some_and(|t| t <= now);
                    all.extend(some);
                    if !more {
                        return Ok(all);
                    }
                }
            }
            Backend::Redis(f) => {
                let max = f.redis.max_deliveries();
                Box::pin(f.and_ready(f.redis.expire_leases(engine, max, now))).await
            }
        }
    }

    /// How often a waiter of a queue looks again by itself: never in memory
    /// (every park wakes it), at `poll` in fleet mode (other sidecars park
    /// too).
    pub fn due_poll(&self) -> Option<Duration> {
        match &self.backend {
            Backend::Memory(_) => None,
            Backend::Redis(_) => Some(redis::DUE_POLL),
        }
    }
}
