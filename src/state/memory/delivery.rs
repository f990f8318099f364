//! The memory backend's side of delivery: each queue's due index and the
//! lease index, beside the records that carry the parcels.
//!
//! A parked job's record carries its payload and where it stands
//! (`record::Parcel`); the indexes hold only keys — `(due_at, seq)` per
//! queue, `(lease_until, seq)` for leases — each naming its job by the id's
//! hash, so a due job is found without scanning and a parked job costs one
//! index entry. The sequence number, kept in the parcel too, tells the live
//! key of a job from one that a later change replaced.
//!
//! Every change of a parcel goes through `Delivery::moved`, under the job's
//! shard lock: it takes the old key out, puts the new one in, and keeps the
//! queue's counts. Lock order: a job's shard, then an index. A claim (and
//! the reaper) take keys out of an index first, under that index's lock
//! alone, and then lock each job's shard and check that the key is still
//! the job's; one that is not (the job was reported, deleted or claimed in
//! between) is dropped, as `moved` already took it out.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use tokio::sync::Notify;

use crate::config::DeliverySettings;
use crate::engine::Timestamp;
use crate::state::StateError;
use crate::state::delivery::QueueRow;

use super::record::{Index, Parcel};

/// An index key: a time (ms) and a sequence number.
type Key = (u64, u64);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain maps whose every change is one call: a panic elsewhere cannot
    // leave one half-updated.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One queue: its parked jobs by due time, and its counts.
#[derive(Default)]
pub struct Queue {
    due: Mutex<BTreeMap<Key, u64>>,
    /// Wakes the queue's waiters (`WatchDue`) when a job becomes due sooner
    /// than every job they knew of.
    pub woken: Arc<Notify>,
    leased: AtomicU64,
    /// Payload bytes of its parked and leased jobs.
    bytes: AtomicU64,
}

impl Queue {
    /// When its first parked job is due.
    pub fn next_due(&self) -> Option<Timestamp> {
        lock(&self.due).keys().next().map(|k| Timestamp(k.0))
    }
}

/// A parcel's place before or after a change, for `Delivery::moved`.
#[derive(Clone, Copy, Debug)]
pub struct Place<'a> {
    pub queue: &'a str,
    pub parcel: &'a Parcel,
    pub payload_len: usize,
}

/// The indexes, the counters and the bounds of delivery.
pub struct Delivery {
    pub settings: DeliverySettings,
    queues: RwLock<HashMap<Box<str>, Arc<Queue>>>,
    leases: Mutex<BTreeMap<Key, u64>>,
    /// Wakes the reaper when a lease ends sooner than the ones it waits for.
    pub reaper: Arc<Notify>,
    /// Payload bytes held: parked, leased and dead jobs'.
    held: AtomicU64,
    /// Sequence numbers of index keys, and lease numbers.
    next: AtomicU64,
}

impl Delivery {
    pub fn new(settings: DeliverySettings) -> Delivery {
        Delivery {
            settings,
            queues: RwLock::default(),
            leases: Mutex::default(),
            reaper: Arc::new(Notify::new()),
            held: AtomicU64::new(0),
            // Lease numbers from another start of the process are not taken
            // again by chance: a worker that kept one cannot settle a job
            // it was never given.
            next: AtomicU64::new(u64::from(rand::random::<u32>()) << 24 | 1),
        }
    }

    /// A fresh sequence or lease number (never 0).
    pub fn number(&self) -> u64 {
        self.next.fetch_add(1, Relaxed).max(1)
    }

    /// After a restore: numbers above every one the snapshot held.
    pub fn numbers_above(&self, n: u64) {
        self.next.fetch_max(n.saturating_add(1), Relaxed);
    }

    /// The queue of that name, if any job was ever parked on it.
    pub fn queue(&self, name: &str) -> Option<Arc<Queue>> {
        self.queues
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// The queue of that name, made if it is new.
    pub fn queue_or_new(&self, name: &str) -> Arc<Queue> {
        if let Some(q) = self.queue(name) {
            return q;
        }
        self.queues
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.into())
            .or_default()
            .clone()
    }

    pub fn held(&self) -> u64 {
        self.held.load(Relaxed)
    }

    /// Takes `add` more payload bytes (and gives back `free`) if the total
    /// stays within `max_parked_bytes`; else nothing changes.
    pub fn reserve(&self, add: usize, free: usize) -> Result<(), StateError> {
        let (add, free) = (add as u64, free as u64);
        let max = self.settings.max_parked_bytes;
        self.held
            .fetch_update(Relaxed, Relaxed, |h| {
                let after = h.saturating_sub(free).saturating_add(add);
                (add <= free || after <= max).then_some(after)
            })
            .map(drop)
            .map_err(|held| {
                StateError::Full(format!(
                    "payload: {add} more bytes would pass [delivery] max_parked_bytes ({max} bytes; {held} held)"
                ))
            })
    }

    /// Counts `n` payload bytes held whatever the bound (a restore: they
    /// are held already).
    pub fn hold(&self, n: usize) {
        self.held.fetch_add(n as u64, Relaxed);
    }

    /// Undoes `reserve(add, free)`.
    pub fn unreserve(&self, add: usize, free: usize) {
        let (add, free) = (add as u64, free as u64);
        let _ = self.held.fetch_update(Relaxed, Relaxed, |h| {
            Some(h.saturating_sub(add).saturating_add(free))
        });
    }

    /// Gives back `n` payload bytes.
    pub fn release(&self, n: usize) {
        let n = n as u64;
        let _ = self
            .held
            .fetch_update(Relaxed, Relaxed, |h| Some(h.saturating_sub(n)));
    }

    /// A parcel moved from `old` to `new` (each `None` when the job had or
    /// has none): its old key out of its index, its new key in (with a fresh
    /// sequence number, written into `new`), and the queues' counts moved.
    /// Called under the job's shard lock; `hash` names the job.
    pub fn moved(
        &self,
        hash: u64,
        old: Option<Place<'_>>,
        new: Option<(&str, &mut Parcel, usize)>,
    ) {
        if let Some(o) = old {
            self.take_out(o);
        }
        let Some((queue, parcel, payload_len)) = new else {
            return;
        };
        let q = match parcel.index {
            Index::None => return,
            _ => self.queue_or_new(queue),
        };
        parcel.seq = self.number();
        q.bytes.fetch_add(payload_len as u64, Relaxed);
        match parcel.index {
            Index::Due => {
                let key = (parcel.due_at.0, parcel.seq);
                let mut due = lock(&q.due);
                let first = due.keys().next().is_none_or(|k| key < *k);
                due.insert(key, hash);
                drop(due);
                if first {
                    q.woken.notify_waiters();
                }
            }
            Index::Lease => {
                q.leased.fetch_add(1, Relaxed);
                let key = (parcel.lease_until.0, parcel.seq);
                let mut leases = lock(&self.leases);
                let first = leases.keys().next().is_none_or(|k| key < *k);
                leases.insert(key, hash);
                drop(leases);
                if first {
                    self.reaper.notify_one();
                }
            }
            Index::None => {}
        }
    }

    fn take_out(&self, o: Place<'_>) {
        let p = o.parcel;
        if p.index == Index::None {
            return;
        }
        let Some(q) = self.queue(o.queue) else {
            return;
        };
        let _ = q.bytes.fetch_update(Relaxed, Relaxed, |b| {
            Some(b.saturating_sub(o.payload_len as u64))
        });
        match p.index {
            Index::Due => {
                let _ = lock(&q.due).remove(&(p.due_at.0, p.seq));
            }
            Index::Lease => {
                let _ = q
                    .leased
                    .fetch_update(Relaxed, Relaxed, |n| Some(n.saturating_sub(1)));
                let _ = lock(&self.leases).remove(&(p.lease_until.0, p.seq));
            }
            Index::None => {}
        }
    }

    /// Takes out up to `n` keys of `queue` due by `now`, earliest first.
    pub fn pop_due(&self, q: &Queue, now: Timestamp, n: usize) -> Vec<(Key, u64)> {
        let mut due = lock(&q.due);
        let mut out = Vec::new();
        while out.len() < n {
            match due.first_key_value() {
                Some((k, _)) if k.0 <= now.0 => {
                    if let Some(e) = due.pop_first() {
                        out.push(e);
                    }
                }
                _ => break,
            }
        }
        out
    }

    /// Takes out up to `n` leases that ended by `now`, earliest first.
    pub fn pop_expired(&self, now: Timestamp, n: usize) -> Vec<(Key, u64)> {
        let mut leases = lock(&self.leases);
        let mut out = Vec::new();
        while out.len() < n {
            match leases.first_key_value() {
                Some((k, _)) if k.0 <= now.0 => {
                    if let Some(e) = leases.pop_first() {
                        out.push(e);
                    }
                }
                _ => break,
            }
        }
        out
    }

    /// When the first lease ends.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        lock(&self.leases).keys().next().map(|k| Timestamp(k.0))
    }

    /// Every queue that holds a parked or leased job, by name.
    pub fn rows(&self, now: Timestamp) -> Vec<QueueRow> {
        let queues: Vec<(Box<str>, Arc<Queue>)> = self
            .queues
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(n, q)| (n.clone(), q.clone()))
            .collect();
        let mut rows: Vec<QueueRow> = queues
            .into_iter()
            .map(|(name, q)| {
                let due = lock(&q.due);
                let oldest_due = due
                    .keys()
                    .next()
                    .filter(|k| k.0 <= now.0)
                    .map(|k| Timestamp(k.0));
                let due_now = due.range(..=(now.0, u64::MAX)).count() as u64;
                let parked = due.len() as u64;
                drop(due);
                QueueRow {
                    queue: name.to_string(),
                    parked,
                    due: due_now,
                    leased: q.leased.load(Relaxed),
                    parked_bytes: q.bytes.load(Relaxed),
                    oldest_due,
                }
            })
            .filter(|r| r.parked + r.leased > 0)
            .collect();
        rows.sort_by(|a, b| a.queue.cmp(&b.queue));
        rows
    }

    /// Each queue's parked and leased jobs and its oldest due time, for the
    /// metrics (no count of what is due: that would walk the index).
    pub fn gauges(&self, now: Timestamp) -> Vec<QueueRow> {
        let queues = self.queues.read().unwrap_or_else(PoisonError::into_inner);
        let mut rows: Vec<QueueRow> = queues
            .iter()
            .map(|(name, q)| {
                let due = lock(&q.due);
                QueueRow {
                    queue: name.to_string(),
                    parked: due.len() as u64,
                    due: 0,
                    leased: q.leased.load(Relaxed),
                    parked_bytes: q.bytes.load(Relaxed),
                    oldest_due: due
                        .keys()
                        .next()
                        .filter(|k| k.0 <= now.0)
                        .map(|k| Timestamp(k.0)),
                }
            })
            .collect();
        rows.sort_by(|a, b| a.queue.cmp(&b.queue));
        rows
    }
}
