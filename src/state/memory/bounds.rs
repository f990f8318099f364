//! The bounds of `[state]`: idle and dead jobs expire, the dead-letter
//! queue and the table keep their sizes, oldest first; a bound passed wakes
//! the sweeper.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{MutexGuard, PoisonError};

use super::Store;
use crate::engine::{JobState, Timestamp};
use crate::state::Evictions;

impl Store {
    pub(super) fn check_pressure(&self) {
        if self.len.load(Relaxed) > self.limits.max_jobs
            || self.dead.load(Relaxed) > self.limits.max_dead_jobs
        {
            self.pressure.notify_one();
        }
    }

    pub(super) fn deaths(&self) -> MutexGuard<'_, VecDeque<(Timestamp, Box<str>)>> {
        // A queue of plain data: a panic elsewhere cannot leave it half-updated.
        self.deaths.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Never call with a shard lock held (lock order: deaths, then shards).
    pub(super) fn died(&self, job_id: &str, at: Timestamp) {
        self.deaths().push_back((at, job_id.into()));
        // The lock is released before the sweeper is woken.
        self.check_pressure();
    }

    /// Applies the bounds. A `full` sweep (the periodic one) also expires
    /// idle jobs, which takes a scan of every job; the sweeps that a passed
    /// bound triggers do not.
    pub fn sweep(&self, now: Timestamp, full: bool) -> Evictions {
        let mut ev = Evictions::default();
        let l = &self.limits;
        if full {
            self.table.retain(|r| {
                let state = r.state();
                if state != JobState::Dead && now.since(r.updated_at()) >= l.idle_ttl {
                    ev.idle_ttl += 1;
                    self.forget(r);
                    false
                } else {
                    true
                }
            });
        }
        (ev.dead_ttl, ev.dead_limit) = self.sweep_dead(now);
        let len = self.len.load(Relaxed);
        if len > l.max_jobs {
            // Down to 95 % of the bound: finding the oldest takes a scan of
            // every job, so under a flood of new ids it runs once per 5 % of
            // the bound, not once per job.
            let target = l.max_jobs - l.max_jobs / 20;
            ev.capacity = self.evict_oldest(len - target);
        }
        ev
    }

    /// Dead jobs past `dead_ttl`, then the oldest past `max_dead_jobs`, in the
    /// order they died. Returns (expired, over the limit).
    pub(super) fn sweep_dead(&self, now: Timestamp) -> (u64, u64) {
        let l = &self.limits;
        let (mut expired, mut over) = (0, 0);
        let mut deaths = self.deaths();
        while let Some((at, id)) = deaths.front() {
            let too_old = now.since(*at) >= l.dead_ttl;
            let too_many = self.dead.load(Relaxed) > l.max_dead_jobs;
            if !too_old && !too_many {
                break;
            }
            // Still dead since that death? (Else the entry is stale.)
            let at = *at;
            if let Some(rec) = self
                .table
                .remove_if(id, |r| r.state() == JobState::Dead && r.updated_at() == at)
            {
                self.forget(&rec);
                if too_old {
                    expired += 1;
                } else {
                    over += 1;
                }
            }
            deaths.pop_front();
        }
        // Stale entries (jobs retried, deleted or succeeded) pile up only as
        // fast as jobs die; drop them when they outnumber the dead.
        let dead = self.dead.load(Relaxed);
        if deaths.len() > 2 * dead + 1024 {
            deaths.retain(|(at, id)| {
                self.table
                    .get(id, |r| r.state() == JobState::Dead && r.updated_at() == *at)
                    .unwrap_or(false)
            });
        }
        (expired, over)
    }

    /// Removes about the `n` least recently updated jobs: one pass finds the
    /// cut-off time, a second removes the jobs before it. No per-job
    /// allocation; each shard is locked only while it is scanned.
    pub(super) fn evict_oldest(&self, n: usize) -> u64 {
        let mut times: Vec<u64> = Vec::with_capacity(self.len());
        self.table.for_each(|r| times.push(r.updated_at().0));
        if times.is_empty() || n == 0 {
            return 0;
        }
        let n = n.min(times.len());
        let (_, cutoff, _) = times.select_nth_unstable(n - 1);
        let cutoff = *cutoff;
        let below = times.iter().filter(|t| **t < cutoff).count();
        drop(times);
        // Jobs at exactly the cut-off time fill up to n.
        let mut ties = n - below;
        let mut removed = 0u64;
        self.table.retain(|r| {
            let t = r.updated_at().0;
            let evict = t < cutoff
                || (t == cutoff && ties > 0 && {
                    ties -= 1;
                    true
                });
            if evict {
                self.forget(r);
                removed += 1;
            }
            !evict
        });
        removed
    }

    // ---- snapshots (see `snapshot`) --------------------------------

    /// After a restore: the dead jobs in the order they died.
    pub fn rebuild_deaths(&self) {
        let mut dead: Vec<(Timestamp, Box<str>)> = Vec::new();
        self.table.for_each(|r| {
            if r.state() == JobState::Dead {
                dead.push((r.updated_at(), r.id().into()));
            }
        });
        dead.sort();
        *self.deaths() = dead.into();
        self.check_pressure();
    }

    /// Resolves when a bound has been passed since the last call.
    pub async fn pressured(&self) {
        self.pressure.notified().await;
    }
}
