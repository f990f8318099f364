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
pub mod budgets;
mod le;
mod names;
pub mod record;
pub mod snapshot;
mod table;

use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hashbrown::hash_table::Entry;
use rand::Rng;
use tokio::sync::Notify;

use super::step::{self, Counted, Event, FailureStep, Tally};
use super::{
    BatchLimits, Evictions, FailureCall, FailureOutcome, Filter, JobView, Limits, MESSAGE_PREFIX,
    Page, StateError, StatsRow, StoredError, SuccessOutcome, prefix,
};
use crate::engine::passes::Outcome;
use crate::engine::{
    Action, BudgetConfigs, Decision, Engine, ErrorReport, Job, JobState, TargetId, Timestamp,
};
use crate::labels::{LabelId, Labels};
use batches::Batches;
use budgets::{BudgetRow, Budgets};
use names::Names;
use record::{Head, Record, Texts, TypeRef};
pub use table::SHARDS;
use table::Table;

/// The memory backend: jobs (with their budgets) and batches.
pub struct Memory {
    pub store: Store,
    pub batches: Batches,
}

impl Memory {
    pub fn new(
        limits: Limits,
        batch_limits: BatchLimits,
        labels: Arc<Labels>,
        budgets: &BudgetConfigs,
    ) -> Memory {
        Memory {
            store: Store::new(limits, labels, budgets),
            batches: Batches::new(batch_limits),
        }
    }

    pub fn report_failure<R: Rng + ?Sized>(
        &self,
        engine: &Engine,
        call: &FailureCall<'_>,
        now: Timestamp,
        rng: &mut R,
    ) -> FailureOutcome {
        let out = self.store.report_failure(engine, call, now, rng);
        if !out.duplicate {
            let outcome = match out.decision.action {
                Action::Retry => Outcome::FailedRetryable,
                Action::GiveUp => Outcome::FailedNonRetryable,
            };
            self.batches.record(call.job_id, outcome, now);
        }
        out
    }

    pub fn report_success(
        &self,
        job_id: &str,
        job_type: &str,
        target: &str,
        now: Timestamp,
    ) -> SuccessOutcome {
        let out = self.store.report_success(job_id, job_type, target);
        self.batches.record(job_id, Outcome::Succeeded, now);
        out
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

/// The names behind a store's ids, indexed by id.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dictionary {
    pub job_types: Vec<String>,
    pub type_names: Vec<String>,
    pub targets: Vec<String>,
}

/// How a snapshot's ids map to this process's.
pub struct Remap {
    pub dictionary: Dictionary,
    pub policies: Vec<crate::engine::PolicyId>,
    pub default_policy: crate::engine::PolicyId,
    pub categories: Vec<crate::engine::CategoryId>,
    pub unknown_category: crate::engine::CategoryId,
    /// Old rule index → the same rule now (same index, same category), if it still is.
    pub rules: Vec<Option<u16>>,
}

pub struct Store {
    table: Table,
    labels: Arc<Labels>,
    /// Indexed by job-type label id.
    types: Box<[TypeStats]>,
    budgets: Budgets,
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
}

impl Store {
    pub fn new(limits: Limits, labels: Arc<Labels>, budgets: &BudgetConfigs) -> Store {
        Store {
            table: Table::default(),
            types: (0..labels.job_types.capacity())
                .map(|_| TypeStats::default())
                .collect(),
            budgets: Budgets::new(labels.clone(), budgets),
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

    fn head_of(job: Job, label: LabelId, e: &ErrorReport<'_>) -> Head {
        Head {
            job,
            label,
            http_status: e.http_status,
            grpc_code: e.grpc_code,
            retryable: e.retryable,
        }
    }

    /// Records one failure and returns the engine's decision.
    pub fn report_failure<R: Rng + ?Sized>(
        &self,
        engine: &Engine,
        call: &FailureCall<'_>,
        now: Timestamp,
        rng: &mut R,
    ) -> FailureOutcome {
        let e = &call.report.error;
        let type_name = self.names.intern(e.type_name);
        let message = prefix(e.message, MESSAGE_PREFIX);
        let budget = self.budgets.target(call.target);
        // The budget's take: read and spent in one step, only for a failure
        // that counts (a re-sent report costs nothing).
        let take =
            |stored: Option<&Job>| budget.map(|(t, b)| b.take(t, step::counted_for(stored, t)));
        let count_refusal = |d: &Decision| {
            if let Some((_, b)) = budget
                && step::budget_refused(d)
            {
                b.count_exhausted();
            }
        };
        let out = self.table.entry(call.job_id, |entry| match entry {
            Entry::Occupied(mut o) => {
                let rec = o.get_mut();
                let head = rec.head();
                let label = head.label;
                let (job, decision, tally) = match step::failure(
                    engine,
                    call.policy,
                    &call.report,
                    Some(&head.job),
                    take,
                    now,
                    rng,
                ) {
                    FailureStep::Duplicate(decision) => {
                        return FailureOutcome {
                            decision,
                            duplicate: true,
                            label,
                            gave_up: false,
                            kept_error: Some(self.stored_error(rec)),
                            local: false,
                        };
                    }
                    FailureStep::Recorded { job, tally } => (job, job.last_decision, tally),
                };
                count_refusal(&decision);
                let head = Self::head_of(job, label, e);
                if rec.same_error(type_name, message) {
                    // The same error again (the common case): no new allocation.
                    rec.write_head(&head);
                } else {
                    let job_type = rec.texts().job_type.map(str::to_owned);
                    *rec = Record::encode_clamped(
                        &head,
                        &Texts {
                            id: call.job_id,
                            type_name,
                            job_type: job_type.as_deref(),
                            message,
                        },
                    );
                }
                self.apply(label, &tally);
                FailureOutcome {
                    decision,
                    duplicate: false,
                    label,
                    gave_up: tally.event == Some(Event::GaveUp),
                    kept_error: None,
                    local: false,
                }
            }
            Entry::Vacant(v) => {
                let label = self.labels.job_types.get(call.job_type);
                let FailureStep::Recorded { job, tally } =
                    step::failure(engine, call.policy, &call.report, None, take, now, rng)
                else {
                    unreachable!("a job's first failure is never a duplicate")
                };
                let decision = job.last_decision;
                count_refusal(&decision);
                let own_name =
                    call.job_type.is_empty() || self.labels.job_types.name(label) == call.job_type;
                v.insert(Record::encode_clamped(
                    &Self::head_of(job, label, e),
                    &Texts {
                        id: call.job_id,
                        type_name,
                        job_type: (!own_name).then_some(call.job_type),
                        message,
                    },
                ));
                self.apply(label, &tally);
                FailureOutcome {
                    decision,
                    duplicate: false,
                    label,
                    gave_up: tally.event == Some(Event::GaveUp),
                    kept_error: None,
                    local: false,
                }
            }
        });
        if out.gave_up {
            // After the shard lock is released: the sweeper takes the death
            // queue's lock first and shard locks under it.
            self.died(call.job_id, now);
        }
        out
    }

    /// The decision a report would get, changing nothing.
    pub fn explain<R: Rng + ?Sized>(
        &self,
        engine: &Engine,
        call: &FailureCall<'_>,
        now: Timestamp,
        rng: &mut R,
    ) -> Decision {
        let job = self.table.get(call.job_id, |r| r.head().job);
        let view = self
            .budgets
            .target(call.target)
            .map(|(t, b)| b.view(t, step::counted_for(job.as_ref(), t)));
        step::explain(
            engine,
            call.policy,
            &call.report,
            job.as_ref(),
            view.as_ref(),
            now,
            rng,
        )
    }

    /// The job succeeded: forget it, and refill the budget of `target` (or,
    /// without one, of the target its failures were reported with).
    pub fn report_success(&self, job_id: &str, job_type: &str, target: &str) -> SuccessOutcome {
        let removed = self.table.remove(job_id);
        let refill = match (target, &removed) {
            ("", Some(rec)) => rec
                .head()
                .job
                .last_decision
                .target
                .and_then(|t| self.budgets.get(t)),
            _ => self.budgets.target(target).map(|(_, b)| b),
        };
        if let Some(b) = refill {
            b.refill();
        }
        let head = removed.as_ref().map(Record::head);
        let label = match &head {
            Some(h) => h.label,
            None => self.labels.job_types.get(job_type),
        };
        self.apply(label, &step::success(head.as_ref().map(|h| &h.job)));
        SuccessOutcome {
            known: head.is_some(),
            failures_before_success: head.map_or(0, |h| h.job.failure_count),
            label,
        }
    }

    fn stored_error(&self, rec: &Record) -> StoredError {
        let head = rec.head();
        let t = rec.texts();
        StoredError {
            type_name: self.names.resolve(t.type_name),
            message: t.message.to_string(),
            http_status: head.http_status,
            grpc_code: head.grpc_code,
            retryable: head.retryable,
        }
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
    ) -> Result<JobView, StateError> {
        self.table.entry(job_id, |entry| match entry {
            Entry::Vacant(_) => Err(StateError::NotFound(job_id.to_string())),
            Entry::Occupied(mut o) => {
                let rec = o.get_mut();
                let mut head = rec.head();
                let (job, tally) = change(&head.job)?;
                head.job = job;
                rec.write_head(&head);
                self.apply(head.label, &tally);
                Ok(self.view(rec))
            }
        })
    }

    /// Manual retry: the job is due now.
    pub fn retry(
        &self,
        job_id: &str,
        reset_failures: bool,
        now: Timestamp,
    ) -> Result<JobView, StateError> {
        self.modify(job_id, |job| {
            Ok(step::manual_retry(job, reset_failures, now))
        })
    }

    /// Cancel a retrying job (a cancelled one stays cancelled).
    pub fn cancel(&self, job_id: &str, now: Timestamp) -> Result<JobView, StateError> {
        self.modify(job_id, |job| {
            step::cancel(job, now).ok_or_else(|| StateError::Dead(job_id.to_string()))
        })
    }

    pub fn delete(&self, job_id: &str) -> Result<(), StateError> {
        let rec = self
            .table
            .remove(job_id)
            .ok_or_else(|| StateError::NotFound(job_id.to_string()))?;
        self.forget(&rec);
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
        if let Some(b) = c.retrying_target().and_then(|t| self.budgets.get(t)) {
            b.retrying_add(1);
        }
    }

    fn leave(&self, label: LabelId, c: Counted) {
        self.stats_of(label).gauge(c.state).fetch_sub(1, Relaxed);
        if c.state == JobState::Dead {
            self.dead.fetch_sub(1, Relaxed);
        }
        if let Some(b) = c.retrying_target().and_then(|t| self.budgets.get(t)) {
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

    /// A removed record's counts.
    fn forget(&self, rec: &Record) {
        let head = rec.head();
        self.apply(head.label, &step::removal(&head.job));
    }

    /// Every target budget configured or used, by target.
    pub fn budgets(&self) -> Vec<BudgetRow> {
        self.budgets.rows()
    }

    pub fn target_name(&self, id: TargetId) -> &str {
        self.labels.targets.name(LabelId(id.0))
    }

    fn check_pressure(&self) {
        if self.len.load(Relaxed) > self.limits.max_jobs
            || self.dead.load(Relaxed) > self.limits.max_dead_jobs
        {
            self.pressure.notify_one();
        }
    }

    fn deaths(&self) -> MutexGuard<'_, VecDeque<(Timestamp, Box<str>)>> {
        // A queue of plain data: a panic elsewhere cannot leave it half-updated.
        self.deaths.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Never call with a shard lock held (lock order: deaths, then shards).
    fn died(&self, job_id: &str, at: Timestamp) {
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
    fn sweep_dead(&self, now: Timestamp) -> (u64, u64) {
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
    fn evict_oldest(&self, n: usize) -> u64 {
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

    /// Appends shard `i`'s records to `out` (see `Table::copy_shard`).
    pub fn copy_shard(&self, i: usize, out: &mut Vec<u8>) -> u64 {
        self.table.copy_shard(i, out)
    }

    /// The names behind the ids records hold: job-type labels, interned
    /// error types, targets.
    pub fn dictionary(&self) -> Dictionary {
        Dictionary {
            job_types: budgets::by_id(
                self.labels
                    .job_types
                    .all()
                    .into_iter()
                    .map(|(id, e)| (id, e.label.to_string())),
            ),
            type_names: self.names.all(),
            targets: budgets::by_id(
                self.labels
                    .targets
                    .all()
                    .into_iter()
                    .map(|(id, e)| (id, e.label.to_string())),
            ),
        }
    }

    /// Per job type: first-try successes, successes after retry, give-ups.
    pub fn type_counters(&self) -> Vec<(String, [u64; 3])> {
        self.labels
            .job_types
            .all()
            .into_iter()
            .map(|(id, e)| {
                let v = self.stats_of(id);
                (
                    e.label.to_string(),
                    [
                        v.first_try_successes.load(Relaxed),
                        v.successes_after_retry.load(Relaxed),
                        v.give_ups.load(Relaxed),
                    ],
                )
            })
            .filter(|(_, c)| c.iter().any(|n| *n > 0))
            .collect()
    }

    pub fn restore_type_counters(&self, counters: &[(String, [u64; 3])]) {
        for (name, [first, after, give_ups]) in counters {
            let v = self.stats_of(self.labels.job_types.get(name));
            v.first_try_successes.store(*first, Relaxed);
            v.successes_after_retry.store(*after, Relaxed);
            v.give_ups.store(*give_ups, Relaxed);
        }
    }

    pub fn budget_states(&self) -> Vec<(String, i64, u64)> {
        self.budgets.states()
    }

    pub fn restore_budgets(&self, states: &[(String, i64, u64)]) {
        for (target, tokens, exhausted) in states {
            if let Some((_, b)) = self.budgets.target(target) {
                b.restore(*tokens, *exhausted);
            }
        }
    }

    /// One record from a snapshot, its ids translated by `remap` into this
    /// process's. `false` if the bytes are not a record or the id is taken.
    pub fn restore(&self, bytes: Box<[u8]>, remap: &Remap) -> bool {
        let Some(old) = Record::try_from_bytes(bytes) else {
            return false;
        };
        let mut head = old.head();
        let t = old.texts();
        let name = |v: &[String], i: u16| v.get(usize::from(i)).cloned().unwrap_or_default();
        let job_type = match t.job_type {
            Some(jt) => jt.to_string(),
            None => name(&remap.dictionary.job_types, head.label.0),
        };
        let job_type = if job_type == crate::labels::NONE {
            String::new()
        } else {
            job_type
        };
        head.label = self.labels.job_types.get(&job_type);
        let d = &mut head.job.last_decision;
        d.policy = remap
            .policies
            .get(usize::from(d.policy.0))
            .copied()
            .unwrap_or(remap.default_policy);
        d.category = remap
            .categories
            .get(usize::from(d.category.0))
            .copied()
            .unwrap_or(remap.unknown_category);
        d.rule = d
            .rule
            .and_then(|r| remap.rules.get(usize::from(r)).copied().flatten());
        d.target = d.target.and_then(|t| {
            self.budgets
                .target(&name(&remap.dictionary.targets, t.0))
                .map(|(id, _)| id)
        });
        let type_name = match t.type_name {
            TypeRef::Interned(i) => name(&remap.dictionary.type_names, i),
            TypeRef::Inline(s) => s.to_string(),
        };
        let own_name = job_type.is_empty() || self.label_name(head.label) == job_type;
        // Refused, not cut: a text the header cannot hold (an error type of
        // 32 KiB from the dictionary, say) is not a record this process wrote.
        let Ok(rec) = Record::encode(
            &head,
            &Texts {
                id: t.id,
                type_name: self.names.intern(&type_name),
                job_type: (!own_name).then_some(job_type.as_str()),
                message: t.message,
            },
        ) else {
            return false;
        };
        if !self.table.insert_new(rec) {
            return false;
        }
        self.apply(head.label, &Tally::of(None, Some(&head.job), None));
        true
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Classifier, ErrorReport, FailureReport, Policy, PolicySet};
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::sync::Arc;
    use std::time::Duration;

    fn engine() -> Engine {
        Engine::new(
            Classifier::new(Vec::new()).expect("rules"),
            PolicySet::default(),
        )
    }

    fn at(ms: u64) -> Timestamp {
        Timestamp(1_000_000 + ms)
    }

    struct Fixture {
        engine: Engine,
        store: Store,
        policy: Arc<Policy>,
        rng: StdRng,
    }

    impl Fixture {
        fn new(limits: Limits) -> Self {
            let engine = engine();
            let policy = engine.policies.get("default").expect("default").clone();
            Fixture {
                engine,
                store: Store::new(
                    limits,
                    Arc::new(Labels::new(["configured"], [])),
                    &Default::default(),
                ),
                policy,
                rng: StdRng::seed_from_u64(3),
            }
        }

        fn fail(&mut self, id: &str, type_name: &str, now: Timestamp) -> FailureOutcome {
            let r = FailureReport {
                error: ErrorReport {
                    type_name,
                    ..ErrorReport::default()
                },
                ..FailureReport::default()
            };
            self.store.report_failure(
                &self.engine,
                &call(id, "jt", &self.policy, r),
                now,
                &mut self.rng,
            )
        }
    }

    fn call<'a>(
        id: &'a str,
        job_type: &'a str,
        policy: &'a Policy,
        report: FailureReport<'a>,
    ) -> FailureCall<'a> {
        FailureCall {
            job_id: id,
            job_type,
            target: "",
            policy,
            report,
        }
    }

    fn state_counts(s: &Store) -> [u64; 3] {
        s.counts().map(|(_, n)| n)
    }

    #[test]
    fn counts_follow_every_transition() {
        let mut f = Fixture::new(Limits::default());
        f.fail("a", "Timeout", at(0));
        f.fail("b", "ValidationError", at(0));
        assert_eq!(state_counts(&f.store), [1, 1, 0]);
        f.store.cancel("a", at(1)).expect("cancel");
        assert_eq!(state_counts(&f.store), [0, 1, 1]);
        assert_eq!(
            f.store.cancel("b", at(1)),
            Err(StateError::Dead("b".into()))
        );
        f.store.retry("b", true, at(2)).expect("retry");
        assert_eq!(state_counts(&f.store), [1, 0, 1]);
        let s = f.store.report_success("b", "jt", "");
        assert!(s.known);
        f.store.delete("a").expect("delete");
        assert_eq!(state_counts(&f.store), [0, 0, 0]);
        assert_eq!(f.store.len(), 0);
        assert_eq!(
            f.store.delete("a").err(),
            Some(StateError::NotFound("a".into()))
        );
    }

    #[test]
    fn stats_per_job_type() {
        let mut f = Fixture::new(Limits::default());
        f.fail("a", "Timeout", at(0));
        f.fail("b", "ValidationError", at(0));
        f.store.report_success("a", "jt", "");
        f.store.report_success("c", "jt", "");
        let (rows, total) = f.store.stats();
        let jt = rows.iter().find(|r| r.job_type == "jt").expect("row");
        assert_eq!(
            (
                jt.dead,
                jt.give_ups,
                jt.successes_after_retry,
                jt.first_try_successes
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(jt.retry_success_rate(), 50.0);
        assert_eq!(total.dead, 1);
    }

    #[test]
    fn a_job_view_has_its_texts() {
        let mut f = Fixture::new(Limits::default());
        let r = FailureReport {
            error: ErrorReport {
                type_name: "requests.exceptions.ConnectionError",
                message: "reset",
                http_status: 502,
                grpc_code: 0,
                retryable: Some(true),
            },
            ..FailureReport::default()
        };
        f.store.report_failure(
            &f.engine,
            &call("v", "mail", &f.policy, r),
            at(0),
            &mut f.rng,
        );
        let v = f.store.get("v").expect("job");
        assert_eq!((v.id.as_str(), v.job_type.as_str()), ("v", "mail"));
        assert_eq!(
            v.last_error.type_name,
            "requests.exceptions.ConnectionError"
        );
        assert_eq!(
            (
                v.last_error.message.as_str(),
                v.last_error.http_status,
                v.last_error.retryable
            ),
            ("reset", 502, Some(true))
        );
        // A new error replaces the texts; the same error again rewrites in place.
        f.fail("v", "TimeoutError", at(1));
        let v = f.store.get("v").expect("job");
        assert_eq!(
            (
                v.last_error.type_name.as_str(),
                v.last_error.message.as_str(),
                v.job.failure_count
            ),
            ("TimeoutError", "", 2)
        );
        assert_eq!(v.job_type, "mail");
    }

    #[test]
    fn job_types_past_the_label_bound_keep_their_own_name() {
        let mut f = Fixture::new(Limits::default());
        let r = FailureReport::default();
        for i in 0..150 {
            let jt = format!("type-{i}");
            f.store.report_failure(
                &f.engine,
                &call(&format!("j{i}"), &jt, &f.policy, r),
                at(0),
                &mut f.rng,
            );
        }
        let v = f.store.get("j149").expect("job");
        assert_eq!(v.job_type, "type-149");
        let page = f.store.list(
            Filter {
                state: None,
                job_type: Some("type-149"),
            },
            10,
            None,
        );
        assert_eq!(page.total, 1);
    }

    #[test]
    fn long_messages_are_kept_as_a_prefix_on_a_char_boundary() {
        let mut f = Fixture::new(Limits::default());
        let msg = "é".repeat(MESSAGE_PREFIX);
        let r = FailureReport {
            error: ErrorReport {
                message: &msg,
                ..ErrorReport::default()
            },
            ..FailureReport::default()
        };
        f.store.report_failure(
            &f.engine,
            &call("long", "", &f.policy, r),
            at(0),
            &mut f.rng,
        );
        let kept = f.store.get("long").expect("job").last_error.message;
        assert!(kept.len() <= MESSAGE_PREFIX && kept.len() >= MESSAGE_PREFIX - 1);
        assert!(msg.starts_with(&kept));
    }

    #[test]
    fn ttl_sweeps_idle_and_dead_jobs_separately() {
        let mut f = Fixture::new(Limits {
            idle_ttl: Duration::from_secs(10),
            dead_ttl: Duration::from_secs(100),
            ..Limits::default()
        });
        f.fail("retrying", "Timeout", at(0));
        f.fail("dead", "ValidationError", at(0));
        assert_eq!(f.store.sweep(at(9_999), true), Evictions::default());
        let ev = f.store.sweep(at(10_000), true);
        assert_eq!((ev.idle_ttl, ev.dead_ttl), (1, 0));
        assert!(f.store.get("retrying").is_none());
        let ev = f.store.sweep(at(100_000), true);
        assert_eq!(ev.dead_ttl, 1);
        assert!(f.store.is_empty());
    }

    #[test]
    fn capacity_evicts_least_recently_updated_first() {
        let mut f = Fixture::new(Limits {
            max_jobs: 100,
            ..Limits::default()
        });
        for i in 0..150u64 {
            f.fail(&format!("job-{i:03}"), "Timeout", at(i * 1000));
        }
        // Touch an old one: it becomes the most recent.
        f.fail("job-000", "Timeout", at(1_000_000));
        let ev = f.store.sweep(at(1_000_001), false);
        // Down to 95 % of the bound.
        assert_eq!(ev.capacity, 55);
        assert_eq!(f.store.len(), 95);
        assert!(f.store.get("job-000").is_some());
        assert!(f.store.get("job-001").is_none());
        assert!(f.store.get("job-055").is_none());
        assert!(f.store.get("job-056").is_some());
        assert_eq!(state_counts(&f.store)[0], 95);
    }

    #[test]
    fn dead_limit_drops_oldest_dead_only() {
        let mut f = Fixture::new(Limits {
            max_dead_jobs: 3,
            ..Limits::default()
        });
        f.fail("alive", "Timeout", at(0));
        for i in 0..5u64 {
            f.fail(&format!("dead-{i}"), "ValidationError", at((i + 1) * 1000));
        }
        // dead-0 is revived: its entry in the death order goes stale.
        f.store.retry("dead-0", true, at(9_000)).expect("retry");
        let ev = f.store.sweep(at(10_000), false);
        assert_eq!(ev.dead_limit, 1);
        assert!(f.store.get("alive").is_some() && f.store.get("dead-0").is_some());
        assert!(f.store.get("dead-1").is_none());
        assert!(f.store.get("dead-2").is_some());
        assert_eq!(state_counts(&f.store)[1], 3);
    }

    #[test]
    fn dead_ttl_counts_from_the_death_and_goes_in_death_order() {
        let mut f = Fixture::new(Limits {
            dead_ttl: Duration::from_secs(10),
            ..Limits::default()
        });
        f.fail("early", "ValidationError", at(0));
        f.fail("late", "ValidationError", at(5_000));
        // Reported again after its death: it still expires 10 s after dying.
        f.fail("early", "ValidationError", at(9_000));
        let ev = f.store.sweep(at(10_000), false);
        assert_eq!((ev.dead_ttl, ev.dead_limit), (1, 0));
        assert!(f.store.get("early").is_none() && f.store.get("late").is_some());
        assert_eq!(f.store.sweep(at(15_000), false).dead_ttl, 1);
        assert!(f.store.is_empty());
    }

    #[test]
    fn reports_and_sweeps_run_together_without_deadlock() {
        let f = Arc::new(Fixture::new(Limits {
            max_dead_jobs: 10,
            max_jobs: 200,
            ..Limits::default()
        }));
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        for t in 0..4u64 {
            let (f, done) = (f.clone(), done_tx.clone());
            std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(t);
                for i in 0..5_000 {
                    let kind = if i % 2 == 0 {
                        "ValidationError"
                    } else {
                        "Timeout"
                    };
                    let r = FailureReport {
                        error: ErrorReport {
                            type_name: kind,
                            ..ErrorReport::default()
                        },
                        ..FailureReport::default()
                    };
                    let id = format!("t{t}-{}", i % 300);
                    f.store.report_failure(
                        &f.engine,
                        &call(&id, "jt", &f.policy, r),
                        at(i),
                        &mut rng,
                    );
                    if i % 7 == 0 {
                        let _ = f.store.retry(&id, true, at(i));
                    }
                }
                let _ = done.send(());
            });
        }
        let sweeper = {
            let f = f.clone();
            std::thread::spawn(move || {
                for i in 0..2_000 {
                    f.store.sweep(at(i), i % 10 == 0);
                }
            })
        };
        for _ in 0..4 {
            done_rx
                .recv_timeout(Duration::from_secs(60))
                .expect("a reporting thread is stuck: lock-order deadlock");
        }
        sweeper.join().expect("sweeper");
        f.store.sweep(at(10_000), false);
        assert!(f.store.counts()[1].1 <= 10);
        assert!(f.store.len() <= 200);
    }

    #[test]
    fn stale_death_entries_are_compacted() {
        let mut f = Fixture::new(Limits::default());
        for i in 0..3000 {
            let id = format!("d{i}");
            f.fail(&id, "ValidationError", at(0));
            f.store.delete(&id).expect("delete");
        }
        f.store.sweep(at(1), false);
        assert!(f.store.deaths().len() <= 1024, "{}", f.store.deaths().len());
    }

    #[test]
    fn list_pages_in_id_order_with_total() {
        let mut f = Fixture::new(Limits::default());
        for i in (0..25).rev() {
            f.fail(
                &format!("j{i:02}"),
                if i % 2 == 0 {
                    "Timeout"
                } else {
                    "ValidationError"
                },
                at(0),
            );
        }
        let dead = Filter {
            state: Some(JobState::Dead),
            job_type: None,
        };
        let p1 = f.store.list(dead, 5, None);
        assert_eq!(p1.total, 12);
        let ids: Vec<_> = p1.jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["j01", "j03", "j05", "j07", "j09"]);
        let p2 = f.store.list(dead, 5, p1.next_after.as_deref());
        assert_eq!(p2.jobs[0].id, "j11");
        let p3 = f.store.list(dead, 5, Some("j19"));
        assert_eq!(p3.jobs.len(), 2);
        assert!(p3.next_after.is_none());
        let by_type = f.store.list(
            Filter {
                state: None,
                job_type: Some("nope"),
            },
            5,
            None,
        );
        assert_eq!(by_type.total, 0);
    }

    #[test]
    fn concurrent_reports_of_one_job_are_all_counted() {
        let f = Arc::new(Fixture::new(Limits::default()));
        let engine = Engine::new(
            Classifier::new(Vec::new()).expect("rules"),
            PolicySet::new(
                vec![Policy {
                    max_retries: 1000,
                    ..Policy::named("many")
                }],
                &[],
                None,
            )
            .expect("policies"),
        );
        let engine = Arc::new(engine);
        let policy = engine.policies.get("many").expect("many").clone();
        std::thread::scope(|s| {
            for t in 0..8 {
                let (f, engine, policy) = (f.clone(), engine.clone(), policy.clone());
                s.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(t);
                    for _ in 0..8 {
                        let r = FailureReport::default();
                        f.store.report_failure(
                            &engine,
                            &call("same", "jt", &policy, r),
                            at(0),
                            &mut rng,
                        );
                    }
                });
            }
        });
        assert_eq!(f.store.get("same").map(|j| j.job.failure_count), Some(64));
        assert_eq!(f.store.len(), 1);
    }
}
