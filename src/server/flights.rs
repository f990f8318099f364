//! The hand-outs of this sidecar's `WatchDue` streams not yet settled, by
//! lease: a settle through this sidecar (a report with the lease, a
//! release) frees its stream's slot at once; a lease that runs out frees it
//! at its end.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use dashmap::DashMap;
use tokio::sync::Notify;

use crate::engine::Timestamp;

/// The hand-outs of one `WatchDue` stream not yet settled, by lease id,
/// with each lease's end.
#[derive(Default)]
pub struct Flight {
    leases: Mutex<HashMap<String, Timestamp>>,
    pub(super) settled: Notify,
}

impl Flight {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Timestamp>> {
        self.leases.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Unsettled hand-outs, the ones whose lease ran out by `now` dropped;
    /// and when the first of the others runs out.
    pub(super) fn count(&self, now: Timestamp) -> (usize, Option<Timestamp>) {
        let mut l = self.lock();
        l.retain(|_, until| *until > now);
        (l.len(), l.values().min().copied())
    }
}

/// Every `WatchDue` stream's unsettled hand-outs, by lease id.
#[derive(Default)]
pub struct Flights(pub(super) DashMap<String, Arc<Flight>>);

impl Flights {
    /// A lease was settled through this sidecar: its stream's slot is free.
    pub fn settled(&self, lease: &str) {
        if let Some((_, f)) = self.0.remove(lease) {
            f.lock().remove(lease);
            f.settled.notify_one();
        }
    }

    /// A lease was extended through this sidecar.
    pub fn extended(&self, lease: &str, until: Timestamp) {
        if let Some(f) = self.0.get(lease)
            && let Some(u) = f.lock().get_mut(lease)
        {
            *u = until;
        }
    }
}
