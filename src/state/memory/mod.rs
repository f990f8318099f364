//! The in-process backend: a sharded table of packed job records, the
//! counters per job type, the retry budgets, the open batches, and the
//! bounds of `[state]`, applied by a background sweeper.
//!
//! Every change to a job happens while its shard is write-locked, and the
//! report step (`super::step`) runs inside that lock: 64 concurrent reports
//! of one job are 64 serialised read-decide-write steps, none lost. The
//! engine does no I/O and allocates nothing, so the lock is held for well
//! under a microsecond.

pub mod batches;
mod bounds;
pub mod breakers;
pub mod budgets;
mod claims;
mod delivery;
mod little_endian;
mod names;
pub mod record;
mod report;
mod restore;
pub mod snapshot;
mod table;
mod targets;

use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use hashbrown::hash_table::Entry;
use rand::Rng;
use tokio::sync::Notify;

use super::step::{self, Counted, Event, Tally};
use super::{
    BatchLimits, BreakerRow, BudgetRow, Evictions, FailureCall, FailureOutcome, Filter, JobView,
    Limits, Page, StateError, StatsRow, SuccessOutcome,
};
use crate::config::DeliverySettings;
use crate::engine::batch::Outcome;
use crate::engine::{Action, Engine, Job, JobState, TargetId, Timestamp};
use crate::labels::{LabelId, Labels};
use batches::Batches;
use breakers::Breakers;
use budgets::Budgets;
use names::Names;
use record::Record;
pub use restore::{Dictionary, Remap};
pub use table::SHARDS;
use table::Table;

/// Each target's budget and breaker.
pub struct Targets {
    pub budgets: Budgets,
    pub breakers: Breakers,
}

impl Targets {
    fn new(labels: Arc<Labels>, engine: &Engine) -> Targets {
        Targets {
            budgets: Budgets::new(labels.clone(), &engine.budgets),
            breakers: Breakers::new(labels, &engine.breakers),
        }
    }

    /// What each target had in `old`, kept (see `Budgets::carry_from`).
    fn carry_from(&self, old: &Targets) {
        self.budgets.carry_from(&old.budgets);
        self.breakers.carry_from(&old.breakers);
    }
}

/// The memory backend: jobs (with their budgets) and batches.
pub struct Memory {
    pub store: Store,
    pub batches: Batches,
}

impl Memory {
    pub fn new(
        limits: Limits,
        batch_limits: BatchLimits,
        delivery: DeliverySettings,
        labels: Arc<Labels>,
        engine: &Engine,
    ) -> Memory {
        Memory {
            store: Store::new(limits, delivery, labels, engine),
            batches: Batches::new(batch_limits),
        }
    }

    pub fn report_failure<R: Rng + ?Sized>(
        &self,
        engine: &Engine,
        call: &FailureCall<'_>,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<FailureOutcome, StateError> {
        let out = self.store.report_failure(engine, call, now, rng)?;
        if !out.duplicate && !out.stale {
            let outcome = match out.decision.action {
                Action::Retry => Outcome::FailedRetryable,
                Action::GiveUp => Outcome::FailedNonRetryable,
            };
            self.batches.record(call.job_id, outcome, now);
        }
        Ok(out)
    }

    pub fn report_success(
        &self,
        job_id: &str,
        job_type: &str,
        target: &str,
        lease: Option<&str>,
        now: Timestamp,
    ) -> Result<SuccessOutcome, StateError> {
        let out = self
            .store
            .report_success(job_id, job_type, target, lease, now)?;
        self.batches.record(job_id, Outcome::Succeeded, now);
        Ok(out)
    }

    /// Jobs and batches removed.
    pub fn sweep(&self, now: Timestamp, full: bool) -> (Evictions, usize) {
        let batches = if full { self.batches.sweep(now) } else { 0 };
        (self.store.sweep(now, full), batches)
    }
}

/// Counters kept per job-type label.
#[derive(Debug, Default)]
pub struct TypeStats {
    retrying: AtomicI64,
    dead: AtomicI64,
    cancelled: AtomicI64,
    first_try_successes: AtomicU64,
    successes_after_retry: AtomicU64,
    give_ups: AtomicU64,
}

impl TypeStats {
    fn gauge(&self, state: JobState) -> &AtomicI64 {
        match state {
            JobState::Retrying => &self.retrying,
            JobState::Dead => &self.dead,
            JobState::Cancelled => &self.cancelled,
        }
    }

    fn event(&self, e: Event) -> &AtomicU64 {
        match e {
            Event::GaveUp => &self.give_ups,
            Event::SucceededAfterRetry => &self.successes_after_retry,
            Event::FirstTrySuccess => &self.first_try_successes,
        }
    }
}

pub struct Store {
    table: Table,
    labels: Arc<Labels>,
    /// Indexed by job-type label id.
    types: Box<[TypeStats]>,
    /// Budgets and breakers, replaced whole by a reload.
    targets: arc_swap::ArcSwap<Targets>,
    /// The configuration generation the records' ids are in: a call that
    /// decided with another engine is refused (`StateError::Reloaded`).
    generation: std::sync::atomic::AtomicU64,
    names: Names,
    limits: Limits,
    len: AtomicUsize,
    dead: AtomicUsize,
    /// Jobs in the order they died, so that the dead-letter bound and
    /// `dead_ttl` drop the oldest without scanning every job. An entry whose
    /// job has since left the dead state (or died again later) is stale and
    /// skipped; stale entries are compacted away when they pile up.
    deaths: Mutex<VecDeque<(Timestamp, Box<str>)>>,
    /// Wakes the sweeper when a bound is passed.
    pressure: Notify,
    /// Due queues, leases and payload bytes (`[delivery]`).
    delivery: delivery::Delivery,
}

impl Store {
    /// The budgets and breakers `engine` configures, over `labels`.
    pub fn new(
        limits: Limits,
        delivery: DeliverySettings,
        labels: Arc<Labels>,
        engine: &Engine,
    ) -> Store {
        Store {
            delivery: delivery::Delivery::new(delivery),
            table: Table::default(),
            types: (0..labels.job_types.capacity())
                .map(|_| TypeStats::default())
                .collect(),
            targets: arc_swap::ArcSwap::from_pointee(Targets::new(labels.clone(), engine)),
            generation: std::sync::atomic::AtomicU64::new(engine.generation),
            labels,
            names: Names::default(),
            limits,
            len: AtomicUsize::new(0),
            dead: AtomicUsize::new(0),
            deaths: Mutex::new(VecDeque::new()),
            pressure: Notify::new(),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn len(&self) -> usize {
        self.len.load(Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn stats_of(&self, label: LabelId) -> &TypeStats {
        // Ids are below the table's capacity; `other` (0) is a safe answer.
        self.types
            .get(usize::from(label.0))
            .unwrap_or(&self.types[0])
    }

    /// The name of a job-type label.
    pub fn label_name(&self, label: LabelId) -> &str {
        self.labels.job_types.name(label)
    }

    fn view(&self, rec: &Record) -> JobView {
        let head = rec.head();
        let t = rec.texts();
        JobView {
            id: t.id.to_string(),
            job_type: match t.job_type {
                Some(jt) => jt.to_string(),
                None => {
                    let name = self.label_name(head.label);
                    if name == crate::labels::NONE {
                        String::new()
                    } else {
                        name.to_string()
                    }
                }
            },
            job: head.job,
            last_error: self.stored_error(rec),
            delivery: Self::delivery_view(rec),
        }
    }

    pub fn get(&self, job_id: &str) -> Option<JobView> {
        self.table.get(job_id, |r| self.view(r))
    }

    /// Jobs matching `filter` with ids after `after`, in id order, at most `page_size`.
    pub fn list(&self, filter: Filter<'_>, page_size: usize, after: Option<&str>) -> Page {
        let page_size = page_size.max(1);
        let mut total = 0;
        // The page_size + 1 smallest ids after the cursor: one more tells whether a next page exists.
        let mut heap: BinaryHeap<Box<str>> = BinaryHeap::with_capacity(page_size.min(1024) + 1);
        self.table.for_each(|r| {
            if filter.state.is_some_and(|s| s != r.state()) {
                return;
            }
            if let Some(jt) = filter.job_type {
                let name = r
                    .texts()
                    .job_type
                    .unwrap_or_else(|| self.label_name(r.label()));
                if name != jt {
                    return;
                }
            }
            total += 1;
            let id = r.id();
            if after.is_some_and(|a| id <= a) {
                return;
            }
            if heap.len() <= page_size {
                heap.push(id.into());
            } else if heap.peek().is_some_and(|max| id < &**max) {
                heap.pop();
                heap.push(id.into());
            }
        });
        let mut ids = heap.into_sorted_vec();
        let more = ids.len() > page_size;
        ids.truncate(page_size);
        let next_after = if more {
            ids.last().map(|s| s.to_string())
        } else {
            None
        };
        let jobs = ids.iter().filter_map(|id| self.get(id)).collect();
        Page {
            jobs,
            total,
            next_after,
        }
    }

    /// Applies `change` to an existing job's fixed part and returns the job.
    fn modify(
        &self,
        job_id: &str,
        change: impl FnOnce(&Job) -> Result<(Job, Tally), StateError>,
        parcel: impl FnOnce(&mut record::Parcel, &Job),
    ) -> Result<JobView, StateError> {
        self.table.entry(job_id, |entry| match entry {
            Entry::Vacant(_) => Err(StateError::NotFound(job_id.to_string())),
            Entry::Occupied(mut o) => {
                let rec = o.get_mut();
                let mut head = rec.head();
                let (job, tally) = change(&head.job)?;
                head.job = job;
                rec.write_head(&head);
                self.change_parcel(rec, |p| parcel(p, &job));
                self.apply(head.label, &tally);
                Ok(self.view(rec))
            }
        })
    }

    /// Manual retry: the job is due now (a job with a payload on its
    /// queue: replay, its lease over).
    pub fn retry(
        &self,
        job_id: &str,
        reset_failures: bool,
        now: Timestamp,
    ) -> Result<JobView, StateError> {
        self.modify(
            job_id,
            |job| Ok(step::manual_retry(job, reset_failures, now)),
            |p, job| *p = report::settled(*p, job),
        )
    }

    /// Cancel a retrying job (a cancelled one stays cancelled); a parked
    /// one is due no more.
    pub fn cancel(&self, job_id: &str, now: Timestamp) -> Result<JobView, StateError> {
        self.modify(
            job_id,
            |job| step::cancel(job, now).ok_or_else(|| StateError::Dead(job_id.to_string())),
            |p, _| p.index = record::Index::None,
        )
    }

    pub fn delete(&self, job_id: &str) -> Result<(), StateError> {
        let rec = self
            .table
            .entry(job_id, |e| match e {
                Entry::Occupied(o) => {
                    let rec = o.remove().0;
                    self.forget(&rec);
                    Some(rec)
                }
                Entry::Vacant(_) => None,
            })
            .ok_or_else(|| StateError::NotFound(job_id.to_string()))?;
        drop(rec);
        Ok(())
    }

    /// Counters per job-type label that has any, sorted by label, and their sum.
    pub fn stats(&self) -> (Vec<StatsRow>, StatsRow) {
        let rows = self
            .labels
            .job_types
            .all()
            .into_iter()
            .map(|(id, e)| {
                let v = self.stats_of(id);
                let gauge = |a: &AtomicI64| u64::try_from(a.load(Relaxed)).unwrap_or(0);
                StatsRow {
                    job_type: e.label.to_string(),
                    retrying: gauge(&v.retrying),
                    dead: gauge(&v.dead),
                    cancelled: gauge(&v.cancelled),
                    first_try_successes: v.first_try_successes.load(Relaxed),
                    successes_after_retry: v.successes_after_retry.load(Relaxed),
                    give_ups: v.give_ups.load(Relaxed),
                }
            })
            .collect();
        super::stats_with_total(rows)
    }

    /// Jobs per state, over every job type.
    pub fn counts(&self) -> [(JobState, u64); 3] {
        let (_, total) = self.stats();
        [
            (JobState::Retrying, total.retrying),
            (JobState::Dead, total.dead),
            (JobState::Cancelled, total.cancelled),
        ]
    }

    fn enter(&self, label: LabelId, c: Counted) {
        self.stats_of(label).gauge(c.state).fetch_add(1, Relaxed);
        if c.state == JobState::Dead {
            self.dead.fetch_add(1, Relaxed);
        }
        if let Some(t) = c.retrying_target()
            && let Some(b) = self.targets.load().budgets.get(t)
        {
            b.retrying_add(1);
        }
    }

    fn leave(&self, label: LabelId, c: Counted) {
        self.stats_of(label).gauge(c.state).fetch_sub(1, Relaxed);
        if c.state == JobState::Dead {
            self.dead.fetch_sub(1, Relaxed);
        }
        if let Some(t) = c.retrying_target()
            && let Some(b) = self.targets.load().budgets.get(t)
        {
            b.retrying_add(-1);
        }
    }

    /// Moves the counters of `label` as `tally` says.
    fn apply(&self, label: LabelId, tally: &Tally) {
        if tally.moves() {
            if let Some(to) = tally.to {
                self.enter(label, to);
            }
            if let Some(from) = tally.from {
                self.leave(label, from);
            }
            match (tally.from, tally.to) {
                (None, Some(_)) => {
                    self.len.fetch_add(1, Relaxed);
                    self.check_pressure();
                }
                (Some(_), None) => {
                    self.len.fetch_sub(1, Relaxed);
                }
                (Some(a), Some(b)) if a.state != b.state => self.check_pressure(),
                _ => {}
            }
        }
        if let Some(e) = tally.event {
            self.stats_of(label).event(e).fetch_add(1, Relaxed);
        }
    }

    /// A removed record's counts, and its parcel out of the indexes.
    fn forget(&self, rec: &Record) {
        let head = rec.head();
        self.apply(head.label, &step::removal(&head.job));
        self.drop_parcel(rec);
    }

    /// Every breaker configured or used, by target, as of `now`.
    pub fn breakers(&self, now: Timestamp) -> Vec<BreakerRow> {
        self.targets.load().breakers.rows(now)
    }

    /// Every target budget configured or used, by target.
    pub fn budgets(&self) -> Vec<BudgetRow> {
        self.targets.load().budgets.rows()
    }

    /// Whether the records' ids are `engine`'s.
    pub fn current(&self, engine: &Engine) -> bool {
        self.generation.load(std::sync::atomic::Ordering::Acquire) == engine.generation
    }

    pub fn target_name(&self, id: TargetId) -> &str {
        self.labels.targets.name(LabelId(id.0))
    }
}

#[cfg(test)]
mod tests;
