//! Delivery in fleet mode: not built yet. Every delivery call is refused
//! with a clear error, and a report with a payload or a lease changes
//! nothing.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::Redis;
use crate::engine::{Engine, Timestamp};
use crate::state::{DueJob, QueueRow, StateError};

/// How often a queue's waiter looks at the fleet's due jobs by itself.
pub const DUE_POLL: Duration = Duration::from_millis(50);

pub fn not_built() -> StateError {
    StateError::DeliveryOff(
        "delivery (payloads, ClaimDue, WatchDue, leases) is not available with state.backend = \"redis\" in this version"
            .into(),
    )
}

impl Redis {
    pub async fn claim_due(
        &self,
        _engine: &Engine,
        _queue: &str,
        _max: usize,
        _lease: Duration,
        _now: Timestamp,
    ) -> Result<Vec<DueJob>, StateError> {
        Err(not_built())
    }

    pub async fn extend_lease(
        &self,
        _job_id: &str,
        _lease_id: &str,
        _lease: Duration,
        _now: Timestamp,
    ) -> Result<Timestamp, StateError> {
        Err(not_built())
    }

    pub async fn release_job(
        &self,
        _job_id: &str,
        _lease_id: &str,
        _delay: Duration,
        _now: Timestamp,
    ) -> Result<(), StateError> {
        Err(not_built())
    }

    pub async fn queues(&self, _now: Timestamp) -> Result<Vec<QueueRow>, StateError> {
        Ok(Vec::new())
    }

    pub async fn next_due(&self, _queue: &str) -> Result<Option<Timestamp>, StateError> {
        Err(not_built())
    }

    pub fn due_signal(&self, _queue: &str) -> Arc<Notify> {
        Arc::new(Notify::new())
    }
}
