//! Claims and leases in the memory backend: due jobs handed out, leases
//! extended, released and run out, each under the job's shard lock.

use std::time::Duration;

use hashbrown::hash_table::Entry;

use super::Store;
use super::delivery::Place;
use super::record::{Index, Parcel, Record};
use super::report::check_lease;
use crate::engine::{JobState, Timestamp};
use crate::state::delivery::{DueJob, Expired, QueueRow, lease_text, not_current};
use crate::state::step::{Event, Tally};
use crate::state::{DeliveryView, StateError};

/// Leases the reaper takes per round (a round per `Notify` or due time).
const EXPIRE_CHUNK: usize = 1024;

impl Store {
    /// A record's parcel out of the indexes and its bytes given back (the
    /// record is gone, or going).
    pub(super) fn drop_parcel(&self, rec: &Record) {
        if let Some(c) = rec.carried() {
            self.delivery.moved(
                self.table.hash(rec.id()),
                Some(Place {
                    queue: c.queue,
                    parcel: &c.parcel,
                    payload_len: c.payload.len(),
                }),
                None,
            );
            self.delivery.release(c.payload.len());
        }
    }

    /// A record's parcel changed by `f` (nothing for a record without one),
    /// its keys moved: under the job's shard lock.
    pub(super) fn change_parcel(&self, rec: &mut Record, f: impl FnOnce(&mut Parcel)) {
        let Some(c) = rec.carried() else {
            return;
        };
        let old = c.parcel;
        let mut p = old;
        f(&mut p);
        let len = c.payload.len();
        self.delivery.moved(
            self.table.hash(rec.id()),
            Some(Place {
                queue: c.queue,
                parcel: &old,
                payload_len: len,
            }),
            Some((c.queue, &mut p, len)),
        );
        rec.write_parcel(&p);
    }

    /// How `GetJob` shows a record's delivery.
    pub(super) fn delivery_view(rec: &Record) -> Option<DeliveryView> {
        rec.carried().map(|c| DeliveryView {
            queue: c.queue.to_string(),
            payload_bytes: u32::try_from(c.payload.len()).unwrap_or(u32::MAX),
            deliveries: c.parcel.deliveries,
            lease_until: (c.parcel.index == Index::Lease).then_some(c.parcel.lease_until),
        })
    }

    /// Up to `max` jobs of `queue` due by `now`, oldest due first, each
    /// leased until `now + lease`.
    pub fn claim(&self, queue: &str, max: usize, lease: Duration, now: Timestamp) -> Vec<DueJob> {
        let Some(q) = self.delivery.queue(queue) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        while out.len() < max {
            let keys = self.delivery.pop_due(&q, now, max - out.len());
            if keys.is_empty() {
                break;
            }
            for ((due, seq), hash) in keys {
                let live = |r: &Record| {
                    r.parcel()
                        .is_some_and(|p| p.index == Index::Due && p.seq == seq && p.due_at.0 == due)
                };
                if let Some(job) = self
                    .table
                    .entry_by_hash(hash, live, |rec| self.hand_out(rec, lease, now))
                {
                    out.push(job);
                }
            }
        }
        out
    }

    fn hand_out(&self, rec: &mut Record, lease: Duration, now: Timestamp) -> DueJob {
        let head = rec.head();
        let view = self.view(rec);
        let lease_until = now.saturating_add(lease);
        let mut handed = Parcel::default();
        let mut payload = Vec::new();
        let mut queue = String::new();
        self.change_parcel(rec, |p| {
            handed = *p;
            p.lease = self.delivery.number();
            p.lease_until = lease_until;
            p.deliveries = p.deliveries.saturating_add(1);
            p.unsettled = p.unsettled.saturating_add(1);
            p.index = Index::Lease;
        });
        let after = rec.carried();
        if let Some(c) = after {
            payload = c.payload.to_vec();
            queue = c.queue.to_string();
        }
        let p = after.map(|c| c.parcel).unwrap_or_default();
        DueJob {
            id: view.id,
            job_type: view.job_type,
            queue,
            payload,
            attempt: head.job.next_attempt(),
            last_error: view.last_error,
            due_at: handed.due_at,
            lease_id: lease_text(p.lease),
            lease_until,
            deliveries: p.deliveries,
        }
    }

    /// The job's current lease runs until `now + lease`.
    pub fn extend(
        &self,
        job_id: &str,
        lease_id: &str,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Timestamp, StateError> {
        let until = now.saturating_add(lease);
        self.table.entry(job_id, |e| match e {
            Entry::Occupied(mut o) => {
                let rec = o.get_mut();
                check_lease(job_id, rec.parcel().map(|p| p.lease), Some(lease_id))?;
                let retrying = rec.state() == JobState::Retrying;
                self.change_parcel(rec, |p| {
                    p.lease_until = until;
                    // A cancelled job's lease may run on; it is not due again.
                    if retrying {
                        p.index = Index::Lease;
                    }
                });
                Ok(until)
            }
            Entry::Vacant(_) => Err(not_current(job_id, Some(lease_id), false)),
        })
    }

    /// The job handed back unprocessed: due again at `now + delay`, its
    /// lease over, no failure counted.
    pub fn release(
        &self,
        job_id: &str,
        lease_id: &str,
        delay: Duration,
        now: Timestamp,
    ) -> Result<(), StateError> {
        self.table.entry(job_id, |e| match e {
            Entry::Occupied(mut o) => {
                let rec = o.get_mut();
                check_lease(job_id, rec.parcel().map(|p| p.lease), Some(lease_id))?;
                let retrying = rec.state() == JobState::Retrying;
                self.change_parcel(rec, |p| {
                    p.lease = 0;
                    p.lease_until = Timestamp(0);
                    p.unsettled = 0;
                    if retrying {
                        p.index = Index::Due;
                        p.due_at = now.saturating_add(delay);
                    }
                });
                Ok(())
            }
            Entry::Vacant(_) => Err(not_current(job_id, Some(lease_id), false)),
        })
    }

    /// Leases that ran out by `now`: each job due again from its lease's
    /// end, or dead at the delivery limit. At most one chunk per call; the
    /// caller calls again while `next_expiry` is past.
    pub fn expire(&self, now: Timestamp) -> Vec<Expired> {
        let max = self.delivery.settings.max_deliveries;
        let mut out = Vec::new();
        for ((until, seq), hash) in self.delivery.pop_expired(now, EXPIRE_CHUNK) {
            let live = |r: &Record| {
                r.parcel().is_some_and(|p| {
                    p.index == Index::Lease && p.seq == seq && p.lease_until.0 == until
                })
            };
            let Some(e) = self.table.entry_by_hash(hash, live, |rec| {
                let head = rec.head();
                let view = self.view(rec);
                let queue = rec
                    .carried()
                    .map(|c| c.queue.to_string())
                    .unwrap_or_default();
                let unsettled = rec.parcel().map_or(0, |p| u32::from(p.unsettled));
                let died = (head.job.state == JobState::Retrying && unsettled >= max).then(|| {
                    let mut job = head.job;
                    job.delivery_limit(max, now);
                    let mut h = head;
                    h.job = job;
                    rec.write_head(&h);
                    self.apply(
                        head.label,
                        &Tally::of(Some(&head.job), Some(&job), Some(Event::GaveUp)),
                    );
                    (head.label, job.last_decision)
                });
                let retrying = died.is_none() && head.job.state == JobState::Retrying;
                self.change_parcel(rec, |p| {
                    if retrying {
                        // Due again since its lease ended; the lease stays
                        // good until the job is handed out again.
                        p.index = Index::Due;
                        p.due_at = Timestamp(until);
                    } else {
                        p.index = Index::None;
                        p.lease = 0;
                    }
                });
                Expired {
                    job_id: view.id,
                    job_type: view.job_type,
                    queue,
                    died,
                }
            }) else {
                continue;
            };
            if e.died.is_some() {
                // After the shard lock (lock order: deaths, then shards).
                self.died(&e.job_id, now);
            }
            out.push(e);
        }
        out
    }

    /// What wakes the lease reaper.
    pub fn lease_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.delivery.reaper.clone()
    }

    /// When the first lease runs out.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.delivery.next_expiry()
    }

    /// When the first job parked on `queue` is due.
    pub fn next_due(&self, queue: &str) -> Option<Timestamp> {
        self.delivery.queue(queue).and_then(|q| q.next_due())
    }

    /// What wakes the waiters of `queue` (made with the queue if it is new).
    pub fn due_signal(&self, queue: &str) -> std::sync::Arc<tokio::sync::Notify> {
        self.delivery.queue_or_new(queue).woken.clone()
    }

    /// Each queue's counts.
    pub fn queues(&self, now: Timestamp) -> Vec<QueueRow> {
        self.delivery.rows(now)
    }

    /// Each queue's parked and leased jobs and oldest due time (no count of
    /// what is due).
    pub fn queue_gauges(&self, now: Timestamp) -> Vec<QueueRow> {
        self.delivery.gauges(now)
    }

    /// Payload bytes held in all.
    pub fn parked_bytes(&self) -> u64 {
        self.delivery.held()
    }
}
