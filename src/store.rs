//! Per-job state: a `DashMap` of jobs, per-job-type counters, and the bounds
//! of DESIGN.md section 5 (`[state]`), enforced by a background sweeper.
//!
//! Every change to a job happens while its map shard is write-locked, and the
//! engine's decision is computed inside that lock: 64 concurrent reports of
//! one job are 64 serialised read-decide-write steps, none lost. The engine
//! does no I/O, so the lock is held for microseconds.

use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use rand::Rng;
use thiserror::Error;
use tokio::sync::Notify;

use crate::engine::{Decision, Engine, FailureReport, Job, JobState, Policy, Timestamp};
use crate::labels::{BoundedLabels, Labeled};

/// The `[state]` bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_jobs: usize,
    pub idle_ttl: Duration,
    pub max_dead_jobs: usize,
    pub dead_ttl: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_jobs: 1_000_000,
            idle_ttl: Duration::from_secs(24 * 3600),
            max_dead_jobs: 10_000,
            dead_ttl: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl Limits {
    /// How often the sweeper runs without being woken: often enough that a
    /// TTL is honoured to within a tenth of itself, at most every 5 s.
    pub fn sweep_interval(&self) -> Duration {
        (self.idle_ttl.min(self.dead_ttl) / 10)
            .clamp(Duration::from_millis(20), Duration::from_secs(5))
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
}

/// A copy of one job type's counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatsRow {
    pub job_type: Arc<str>,
    pub retrying: u64,
    pub dead: u64,
    pub cancelled: u64,
    pub first_try_successes: u64,
    pub successes_after_retry: u64,
    pub give_ups: u64,
}

impl StatsRow {
    /// Successes after retry / (successes after retry + give-ups), in percent.
    pub fn retry_success_rate(&self) -> f64 {
        let done = self.successes_after_retry + self.give_ups;
        if done == 0 {
            0.0
        } else {
            self.successes_after_retry as f64 * 100.0 / done as f64
        }
    }

    fn add(&mut self, o: &StatsRow) {
        self.retrying += o.retrying;
        self.dead += o.dead;
        self.cancelled += o.cancelled;
        self.first_try_successes += o.first_try_successes;
        self.successes_after_retry += o.successes_after_retry;
        self.give_ups += o.give_ups;
    }
}

type TypeEntry = Arc<Labeled<TypeStats>>;

struct Slot {
    job: Job,
    stats: TypeEntry,
}

/// What a `ReportFailure` did.
#[derive(Clone, Debug)]
pub struct FailureOutcome {
    pub decision: Decision,
    pub duplicate: bool,
    /// The job-type label (bounded).
    pub label: Arc<str>,
    /// The job became dead with this report.
    pub gave_up: bool,
}

/// What a `ReportSuccess` did.
#[derive(Clone, Debug)]
pub struct SuccessOutcome {
    pub known: bool,
    pub failures_before_success: u32,
    pub label: Arc<str>,
}

/// Jobs removed by one sweep, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Evictions {
    pub idle_ttl: u64,
    pub dead_ttl: u64,
    pub capacity: u64,
    pub dead_limit: u64,
}

impl Evictions {
    pub fn by_reason(&self) -> [(&'static str, u64); 4] {
        [
            ("idle_ttl", self.idle_ttl),
            ("dead_ttl", self.dead_ttl),
            ("capacity", self.capacity),
            ("dead_limit", self.dead_limit),
        ]
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("no job {0:?}")]
    NotFound(String),
    #[error(
        "job {0:?} is dead: a dead job cannot be cancelled (RetryJob revives it, DeleteJob purges it)"
    )]
    Dead(String),
}

/// Which jobs `list` returns.
#[derive(Clone, Copy, Debug, Default)]
pub struct Filter<'a> {
    pub state: Option<JobState>,
    pub job_type: Option<&'a str>,
}

impl Filter<'_> {
    fn matches(&self, job: &Job) -> bool {
        self.state.is_none_or(|s| s == job.state)
            && self.job_type.is_none_or(|t| t == &*job.job_type)
    }
}

pub struct Page {
    pub jobs: Vec<(String, Job)>,
    pub total: usize,
    /// The last job id of this page when more follow.
    pub next_after: Option<String>,
}

pub struct Store {
    jobs: DashMap<Box<str>, Slot>,
    types: BoundedLabels<TypeStats>,
    limits: Limits,
    len: AtomicUsize,
    dead: AtomicUsize,
    /// Wakes the sweeper when a bound is passed.
    pressure: Notify,
}

impl Store {
    /// `job_types` are the configured ones: always their own label.
    pub fn new<'a>(limits: Limits, job_types: impl IntoIterator<Item = &'a str>) -> Store {
        Store {
            jobs: DashMap::new(),
            types: BoundedLabels::new(job_types, 100),
            limits,
            len: AtomicUsize::new(0),
            dead: AtomicUsize::new(0),
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

    /// Records one failure and returns the engine's decision.
    #[allow(clippy::too_many_arguments)]
    pub fn report_failure<R: Rng + ?Sized>(
        &self,
        engine: &Engine,
        job_id: &str,
        job_type: &str,
        policy: &Arc<Policy>,
        report: &FailureReport<'_>,
        now: Timestamp,
        rng: &mut R,
    ) -> FailureOutcome {
        // The common case, a known job, needs no owned key.
        if let Some(mut slot) = self.jobs.get_mut(job_id) {
            return self.update(&mut slot, engine, policy, report, now, rng);
        }
        match self.jobs.entry(Box::from(job_id)) {
            Entry::Occupied(mut o) => self.update(o.get_mut(), engine, policy, report, now, rng),
            Entry::Vacant(v) => {
                let stats = self.types.get(job_type);
                let verdict = engine.decide(None, policy, report, now, rng);
                let name = if &*stats.label == job_type {
                    stats.label.clone()
                } else {
                    Arc::from(job_type)
                };
                let job = Job::first(name, report, verdict.clone(), now);
                let gave_up = job.state == JobState::Dead;
                self.enter(&stats, job.state);
                if gave_up {
                    stats.value.give_ups.fetch_add(1, Relaxed);
                }
                let label = stats.label.clone();
                v.insert(Slot { job, stats });
                self.len.fetch_add(1, Relaxed);
                self.check_pressure();
                FailureOutcome {
                    decision: verdict.decision,
                    duplicate: false,
                    label,
                    gave_up,
                }
            }
        }
    }

    fn update<R: Rng + ?Sized>(
        &self,
        slot: &mut Slot,
        engine: &Engine,
        policy: &Arc<Policy>,
        report: &FailureReport<'_>,
        now: Timestamp,
        rng: &mut R,
    ) -> FailureOutcome {
        let verdict = engine.decide(Some(&slot.job), policy, report, now, rng);
        let label = slot.stats.label.clone();
        if verdict.duplicate {
            return FailureOutcome {
                decision: verdict.decision,
                duplicate: true,
                label,
                gave_up: false,
            };
        }
        let before = slot.job.state;
        let decision = verdict.decision.clone();
        slot.job.record(report, verdict, now);
        self.transition(&slot.stats, before, slot.job.state);
        let gave_up = before != JobState::Dead && slot.job.state == JobState::Dead;
        if gave_up {
            slot.stats.value.give_ups.fetch_add(1, Relaxed);
        }
        FailureOutcome {
            decision,
            duplicate: false,
            label,
            gave_up,
        }
    }

    /// The decision a report would get, changing nothing.
    pub fn explain<R: Rng + ?Sized>(
        &self,
        engine: &Engine,
        job_id: &str,
        policy: &Arc<Policy>,
        report: &FailureReport<'_>,
        now: Timestamp,
        rng: &mut R,
    ) -> Decision {
        let slot = self.jobs.get(job_id);
        engine
            .decide(slot.as_ref().map(|s| &s.job), policy, report, now, rng)
            .decision
    }

    /// The job succeeded: forget it.
    pub fn report_success(&self, job_id: &str, job_type: &str) -> SuccessOutcome {
        match self.jobs.remove(job_id) {
            Some((_, slot)) => {
                self.leave(&slot.stats, slot.job.state);
                slot.stats.value.successes_after_retry.fetch_add(1, Relaxed);
                SuccessOutcome {
                    known: true,
                    failures_before_success: slot.job.failure_count,
                    label: slot.stats.label.clone(),
                }
            }
            None => {
                let stats = self.types.get(job_type);
                stats.value.first_try_successes.fetch_add(1, Relaxed);
                SuccessOutcome {
                    known: false,
                    failures_before_success: 0,
                    label: stats.label.clone(),
                }
            }
        }
    }

    pub fn get(&self, job_id: &str) -> Option<Job> {
        self.jobs.get(job_id).map(|s| s.job.clone())
    }

    /// Jobs matching `filter` with ids after `after`, in id order, at most `page_size`.
    pub fn list(&self, filter: Filter<'_>, page_size: usize, after: Option<&str>) -> Page {
        let page_size = page_size.max(1);
        let mut total = 0;
        // The page_size + 1 smallest ids after the cursor: one more tells whether a next page exists.
        let mut heap: BinaryHeap<Box<str>> = BinaryHeap::with_capacity(page_size.min(1024) + 1);
        for item in self.jobs.iter() {
            if !filter.matches(&item.job) {
                continue;
            }
            total += 1;
            let id = item.key();
            if after.is_some_and(|a| &**id <= a) {
                continue;
            }
            if heap.len() <= page_size {
                heap.push(id.clone());
            } else if heap.peek().is_some_and(|max| id < max) {
                heap.pop();
                heap.push(id.clone());
            }
        }
        let mut ids = heap.into_sorted_vec();
        let more = ids.len() > page_size;
        ids.truncate(page_size);
        let next_after = if more {
            ids.last().map(|s| s.to_string())
        } else {
            None
        };
        let jobs = ids
            .into_iter()
            .filter_map(|id| {
                let job = self.get(&id)?;
                Some((id.into_string(), job))
            })
            .collect();
        Page {
            jobs,
            total,
            next_after,
        }
    }

    /// Manual retry: the job is due now.
    pub fn retry(
        &self,
        job_id: &str,
        reset_failures: bool,
        now: Timestamp,
    ) -> Result<Job, StoreError> {
        let mut slot = self
            .jobs
            .get_mut(job_id)
            .ok_or_else(|| StoreError::NotFound(job_id.to_string()))?;
        let before = slot.job.state;
        slot.job.manual_retry(reset_failures, now);
        self.transition(&slot.stats, before, slot.job.state);
        Ok(slot.job.clone())
    }

    /// Cancel a retrying job (a cancelled one stays cancelled).
    pub fn cancel(&self, job_id: &str, now: Timestamp) -> Result<Job, StoreError> {
        let mut slot = self
            .jobs
            .get_mut(job_id)
            .ok_or_else(|| StoreError::NotFound(job_id.to_string()))?;
        match slot.job.state {
            JobState::Dead => Err(StoreError::Dead(job_id.to_string())),
            JobState::Cancelled => Ok(slot.job.clone()),
            JobState::Retrying => {
                slot.job.cancel(now);
                self.transition(&slot.stats, JobState::Retrying, JobState::Cancelled);
                Ok(slot.job.clone())
            }
        }
    }

    pub fn delete(&self, job_id: &str) -> Result<Job, StoreError> {
        let (_, slot) = self
            .jobs
            .remove(job_id)
            .ok_or_else(|| StoreError::NotFound(job_id.to_string()))?;
        self.leave(&slot.stats, slot.job.state);
        Ok(slot.job)
    }

    /// Counters per job-type label, sorted by label, and their sum.
    pub fn stats(&self) -> (Vec<StatsRow>, StatsRow) {
        let rows: Vec<StatsRow> = self
            .types
            .all()
            .into_iter()
            .map(|e| {
                let v = &e.value;
                let gauge = |a: &AtomicI64| u64::try_from(a.load(Relaxed)).unwrap_or(0);
                StatsRow {
                    job_type: e.label.clone(),
                    retrying: gauge(&v.retrying),
                    dead: gauge(&v.dead),
                    cancelled: gauge(&v.cancelled),
                    first_try_successes: v.first_try_successes.load(Relaxed),
                    successes_after_retry: v.successes_after_retry.load(Relaxed),
                    give_ups: v.give_ups.load(Relaxed),
                }
            })
            .filter(|r| {
                *r != StatsRow {
                    job_type: r.job_type.clone(),
                    ..StatsRow::default()
                }
            })
            .collect();
        let mut total = StatsRow {
            job_type: Arc::from(""),
            ..StatsRow::default()
        };
        for r in &rows {
            total.add(r);
        }
        (rows, total)
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

    fn enter(&self, stats: &TypeEntry, state: JobState) {
        stats.value.gauge(state).fetch_add(1, Relaxed);
        if state == JobState::Dead {
            self.dead.fetch_add(1, Relaxed);
        }
    }

    fn leave(&self, stats: &TypeEntry, state: JobState) {
        stats.value.gauge(state).fetch_sub(1, Relaxed);
        if state == JobState::Dead {
            self.dead.fetch_sub(1, Relaxed);
        }
        self.len.fetch_sub(1, Relaxed);
    }

    fn transition(&self, stats: &TypeEntry, from: JobState, to: JobState) {
        if from != to {
            self.enter(stats, to);
            self.leave(stats, from);
            self.len.fetch_add(1, Relaxed);
            self.check_pressure();
        }
    }

    fn check_pressure(&self) {
        if self.len.load(Relaxed) > self.limits.max_jobs
            || self.dead.load(Relaxed) > self.limits.max_dead_jobs
        {
            self.pressure.notify_one();
        }
    }

    /// Drops expired jobs, then the oldest jobs past the bounds.
    pub fn sweep(&self, now: Timestamp) -> Evictions {
        let mut ev = Evictions::default();
        let l = &self.limits;
        self.jobs.retain(|_, slot| {
            let idle = now.since(slot.job.updated_at);
            let expired = match slot.job.state {
                JobState::Dead if idle >= l.dead_ttl => Some(&mut ev.dead_ttl),
                JobState::Retrying | JobState::Cancelled if idle >= l.idle_ttl => {
                    Some(&mut ev.idle_ttl)
                }
                _ => None,
            };
            match expired {
                Some(count) => {
                    *count += 1;
                    self.leave(&slot.stats, slot.job.state);
                    false
                }
                None => true,
            }
        });

        let dead = self.dead.load(Relaxed);
        if dead > l.max_dead_jobs {
            ev.dead_limit =
                self.evict_oldest(dead - l.max_dead_jobs, |j| j.state == JobState::Dead);
        }
        let len = self.len.load(Relaxed);
        if len > l.max_jobs {
            // Down to 99 % of the bound: under a flood of new ids the sweep
            // (a scan of every job) runs once per 1 % of the bound, not per job.
            let target = l.max_jobs - l.max_jobs / 100;
            ev.capacity = self.evict_oldest(len - target, |_| true);
        }
        ev
    }

    /// Removes the `n` least recently updated jobs that satisfy `which`.
    fn evict_oldest(&self, n: usize, which: impl Fn(&Job) -> bool) -> u64 {
        let mut candidates: Vec<(Timestamp, Box<str>)> = self
            .jobs
            .iter()
            .filter(|s| which(&s.job))
            .map(|s| (s.job.updated_at, s.key().clone()))
            .collect();
        if n < candidates.len() {
            candidates.select_nth_unstable(n);
            candidates.truncate(n);
        }
        let mut removed = 0;
        for (at, id) in candidates {
            // Skip a job that changed since the scan: it is no longer the oldest.
            if let Some((_, slot)) = self
                .jobs
                .remove_if(&id, |_, s| s.job.updated_at == at && which(&s.job))
            {
                self.leave(&slot.stats, slot.job.state);
                removed += 1;
            }
        }
        removed
    }

    /// Resolves when a bound has been passed since the last call.
    pub async fn pressured(&self) {
        self.pressure.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Classifier, ErrorReport, PolicySet};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

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
                store: Store::new(limits, ["configured"]),
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
            self.store
                .report_failure(&self.engine, id, "jt", &self.policy, &r, now, &mut self.rng)
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
            Err(StoreError::Dead("b".into()))
        );
        f.store.retry("b", true, at(2)).expect("retry");
        assert_eq!(state_counts(&f.store), [1, 0, 1]);
        let s = f.store.report_success("b", "jt");
        assert!(s.known);
        f.store.delete("a").expect("delete");
        assert_eq!(state_counts(&f.store), [0, 0, 0]);
        assert_eq!(f.store.len(), 0);
        assert_eq!(
            f.store.delete("a").err(),
            Some(StoreError::NotFound("a".into()))
        );
    }

    #[test]
    fn stats_per_job_type() {
        let mut f = Fixture::new(Limits::default());
        f.fail("a", "Timeout", at(0));
        f.fail("b", "ValidationError", at(0));
        f.store.report_success("a", "jt");
        f.store.report_success("c", "jt");
        let (rows, total) = f.store.stats();
        let jt = rows.iter().find(|r| &*r.job_type == "jt").expect("row");
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
    fn ttl_sweeps_idle_and_dead_jobs_separately() {
        let mut f = Fixture::new(Limits {
            idle_ttl: Duration::from_secs(10),
            dead_ttl: Duration::from_secs(100),
            ..Limits::default()
        });
        f.fail("retrying", "Timeout", at(0));
        f.fail("dead", "ValidationError", at(0));
        assert_eq!(f.store.sweep(at(9_999)), Evictions::default());
        let ev = f.store.sweep(at(10_000));
        assert_eq!((ev.idle_ttl, ev.dead_ttl), (1, 0));
        assert!(f.store.get("retrying").is_none());
        let ev = f.store.sweep(at(100_000));
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
            f.fail(&format!("job-{i:03}"), "Timeout", at(i));
        }
        // Touch an old one: it becomes the most recent.
        f.fail("job-000", "Timeout", at(1000));
        let ev = f.store.sweep(at(1001));
        assert_eq!(ev.capacity, 51);
        assert_eq!(f.store.len(), 99);
        assert!(f.store.get("job-000").is_some());
        assert!(f.store.get("job-001").is_none());
        assert!(f.store.get("job-051").is_none());
        assert!(f.store.get("job-052").is_some());
        assert_eq!(state_counts(&f.store)[0], 99);
    }

    #[test]
    fn dead_limit_drops_oldest_dead_only() {
        let mut f = Fixture::new(Limits {
            max_dead_jobs: 3,
            ..Limits::default()
        });
        f.fail("alive", "Timeout", at(0));
        for i in 0..5u64 {
            f.fail(&format!("dead-{i}"), "ValidationError", at(i + 1));
        }
        let ev = f.store.sweep(at(10));
        assert_eq!(ev.dead_limit, 2);
        assert!(f.store.get("alive").is_some());
        assert!(f.store.get("dead-0").is_none() && f.store.get("dead-1").is_none());
        assert!(f.store.get("dead-2").is_some());
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
        let ids: Vec<_> = p1.jobs.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["j01", "j03", "j05", "j07", "j09"]);
        let p2 = f.store.list(dead, 5, p1.next_after.as_deref());
        assert_eq!(p2.jobs[0].0, "j11");
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
        let policy = Arc::new(Policy {
            max_retries: 1000,
            ..Policy::named("many")
        });
        std::thread::scope(|s| {
            for t in 0..8 {
                let f = f.clone();
                let policy = policy.clone();
                s.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(t);
                    for _ in 0..8 {
                        let r = FailureReport::default();
                        f.store.report_failure(
                            &f.engine,
                            "same",
                            "jt",
                            &policy,
                            &r,
                            at(0),
                            &mut rng,
                        );
                    }
                });
            }
        });
        assert_eq!(f.store.get("same").map(|j| j.failure_count), Some(64));
        assert_eq!(f.store.len(), 1);
    }
}
