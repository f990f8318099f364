//! Open batches and the index from job id to batch, with their bounds.
//!
//! The pass book itself is `engine::batch::Batch`; this module keeps them
//! (`[state] max_batches`, `batch_ttl`) and routes each job report to the
//! batch its job belongs to. A job belongs to at most one unfinished batch.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use dashmap::DashMap;

pub use crate::config::BatchLimits;
use crate::engine::Timestamp;
use crate::engine::batch::{Batch, EndOfPass, Outcome, PassStats};
use crate::state::batch_rules::{
    BatchError, DEFAULT_MAX_PASSES, DEFAULT_PASS_DELAY, MAX_BATCH_JOBS,
};

type Shared = Arc<Mutex<Batch>>;

fn lock(b: &Shared) -> MutexGuard<'_, Batch> {
    // A batch's methods leave it consistent at every return; a panic in one
    // cannot leave it half-updated in a way that matters more than losing it.
    b.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Default)]
pub struct Batches {
    batches: DashMap<Box<str>, Shared>,
    /// Job id → the unfinished batch it belongs to.
    index: DashMap<Box<str>, Arc<str>>,
    /// Lets reports skip the index lookup when no batch is open.
    indexed: AtomicUsize,
    /// Serialises changes to batch membership (StartPass, EndPass, sweeps).
    admin: Mutex<()>,
    limits: BatchLimits,
}

impl Batches {
    pub fn new(limits: BatchLimits) -> Self {
        Batches {
            limits,
            ..Batches::default()
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.batches.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    fn admin(&self) -> MutexGuard<'_, ()> {
        self.admin.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers the batch (first call) and `job_ids`, then opens its next pass.
    pub fn start_pass(
        &self,
        batch_id: &str,
        job_ids: &[String],
        max_passes: Option<u32>,
        pass_delay: Option<Duration>,
        now: Timestamp,
    ) -> Result<PassStats, BatchError> {
        let _admin = self.admin();
        let existing = self.batches.get(batch_id).map(|b| b.clone());
        let shared = existing.clone().unwrap_or_else(|| {
            Arc::new(Mutex::new(Batch::new(
                max_passes.unwrap_or(DEFAULT_MAX_PASSES),
                pass_delay.unwrap_or(DEFAULT_PASS_DELAY),
                now,
            )))
        });
        let mut batch = lock(&shared);
        batch.check_can_start()?;
        for id in job_ids {
            if let Some(other) = self.index.get(id.as_str())
                && &**other != batch_id
            {
                return Err(BatchError::JobInOtherBatch {
                    job_id: id.clone(),
                    batch_id: other.to_string(),
                });
            }
        }
        let new = job_ids.iter().filter(|id| !batch.contains(id)).count();
        if batch.len() + new > MAX_BATCH_JOBS {
            return Err(BatchError::TooManyJobs(batch.len() + new));
        }
        // Nothing can fail past this point: apply.
        if let Some(m) = max_passes {
            batch.max_passes = m;
        }
        if let Some(d) = pass_delay {
            batch.pass_delay = d;
        }
        let key: Arc<str> = Arc::from(batch_id);
        for id in job_ids {
            if !batch.contains(id) {
                self.index.insert(id.as_str().into(), key.clone());
                self.indexed.fetch_add(1, Relaxed);
            }
        }
        batch.add_jobs(job_ids.iter().map(String::as_str));
        let stats = batch.start_pass(now)?;
        drop(batch);
        if existing.is_none() {
            self.batches.insert(batch_id.into(), shared);
            let over = self.batches.len().saturating_sub(self.limits.max_batches);
            self.evict_oldest(over, Some(batch_id));
        }
        Ok(stats)
    }

    /// Closes the batch's open pass; a finished batch releases its jobs.
    pub fn end_pass(&self, batch_id: &str, now: Timestamp) -> Result<EndOfPass, BatchError> {
        let _admin = self.admin();
        let shared = self.get_shared(batch_id)?;
        let mut batch = lock(&shared);
        let end = batch.end_pass(now)?;
        if batch.finished().is_some() {
            self.unindex(batch_id, &batch);
        }
        Ok(end)
    }

    /// A copy of the batch's pass book.
    pub fn get(&self, batch_id: &str) -> Result<Batch, BatchError> {
        let shared = self.get_shared(batch_id)?;
        let batch = lock(&shared).clone();
        Ok(batch)
    }

    fn get_shared(&self, batch_id: &str) -> Result<Shared, BatchError> {
        self.batches
            .get(batch_id)
            .map(|b| b.clone())
            .ok_or_else(|| BatchError::NotFound(batch_id.to_string()))
    }

    /// Every batch, for a snapshot.
    pub fn export(&self) -> Vec<(String, Batch)> {
        self.batches
            .iter()
            .map(|e| (e.key().to_string(), lock(e.value()).clone()))
            .collect()
    }

    /// Batches back from a snapshot: unfinished ones claim their jobs again.
    /// The id of the first that is not consistent, if one is not.
    pub fn import(&self, batches: Vec<(String, Batch)>) -> Result<(), String> {
        if let Some((id, _)) = batches
            .iter()
            .find(|(_, b)| !b.is_consistent() || b.len() > MAX_BATCH_JOBS)
        {
            return Err(id.clone());
        }
        let _admin = self.admin();
        for (id, batch) in batches {
            let key: Arc<str> = Arc::from(id.as_str());
            if batch.finished().is_none() {
                for job in batch.job_ids() {
                    if self.index.insert(job.into(), key.clone()).is_none() {
                        self.indexed.fetch_add(1, Relaxed);
                    }
                }
            }
            self.batches.insert(id.into(), Arc::new(Mutex::new(batch)));
        }
        Ok(())
    }

    /// A job's report: counts into its batch's open pass, if it has a batch.
    pub fn record(&self, job_id: &str, outcome: Outcome, now: Timestamp) {
        if self.indexed.load(Relaxed) == 0 {
            return;
        }
        let Some(batch_id) = self.index.get(job_id).map(|b| b.clone()) else {
            return;
        };
        if let Some(shared) = self.batches.get(&*batch_id).map(|b| b.clone()) {
            lock(&shared).record(job_id, outcome, now);
        }
    }

    fn unindex(&self, batch_id: &str, batch: &Batch) {
        for id in batch.job_ids() {
            if self.index.remove_if(id, |_, b| &**b == batch_id).is_some() {
                self.indexed.fetch_sub(1, Relaxed);
            }
        }
    }

    fn remove(&self, batch_id: &str) {
        if let Some((_, shared)) = self.batches.remove(batch_id) {
            let batch = lock(&shared);
            self.unindex(batch_id, &batch);
        }
    }

    /// Removes the `n` least recently active batches, `keep` excepted.
    fn evict_oldest(&self, n: usize, keep: Option<&str>) -> usize {
        if n == 0 {
            return 0;
        }
        let mut all: Vec<(Timestamp, Box<str>)> = self
            .batches
            .iter()
            .filter(|e| Some(&**e.key()) != keep)
            .map(|e| (lock(e.value()).updated_at, e.key().clone()))
            .collect();
        all.sort();
        all.truncate(n);
        for (_, id) in &all {
            self.remove(id);
        }
        all.len()
    }

    /// Forgets batches idle for `batch_ttl` and the oldest past `max_batches`.
    pub fn sweep(&self, now: Timestamp) -> usize {
        let _admin = self.admin();
        let expired: Vec<Box<str>> = self
            .batches
            .iter()
            .filter(|e| now.since(lock(e.value()).updated_at) >= self.limits.batch_ttl)
            .map(|e| e.key().clone())
            .collect();
        for id in &expired {
            self.remove(id);
        }
        let over = self.batches.len().saturating_sub(self.limits.max_batches);
        expired.len() + self.evict_oldest(over, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::batch::{PassError, PassResult};

    fn t(s: u64) -> Timestamp {
        Timestamp(1_000_000 + s * 1000)
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reports_route_to_the_batch_and_survive_success() {
        let b = Batches::default();
        b.start_pass("batch", &ids(&["a", "b"]), None, None, t(0))
            .expect("start");
        b.record("a", Outcome::Succeeded, t(1));
        b.record("b", Outcome::FailedRetryable, t(1));
        b.record("stranger", Outcome::Succeeded, t(1));
        let end = b.end_pass("batch", t(2)).expect("end");
        assert_eq!(
            (end.result, end.retry_job_ids.clone()),
            (PassResult::RetryableRemaining, ids(&["b"]))
        );
        assert_eq!(end.stats.jobs_attempted, 2);
    }

    #[test]
    fn a_job_is_in_one_open_batch_at_a_time() {
        let b = Batches::default();
        b.start_pass("one", &ids(&["a"]), None, None, t(0))
            .expect("start");
        let err = b
            .start_pass("two", &ids(&["x", "a"]), None, None, t(0))
            .expect_err("conflict");
        assert_eq!(
            err,
            BatchError::JobInOtherBatch {
                job_id: "a".into(),
                batch_id: "one".into()
            }
        );
        // Nothing of the refused call remains.
        assert!(b.get("two").is_err());
        b.record("a", Outcome::Succeeded, t(1));
        assert_eq!(
            b.end_pass("one", t(2)).expect("end").result,
            PassResult::AllComplete
        );
        // Finished: the job is free again.
        b.start_pass("two", &ids(&["a"]), None, None, t(3))
            .expect("free now");
    }

    #[test]
    fn errors() {
        let b = Batches::default();
        assert_eq!(
            b.end_pass("nope", t(0)),
            Err(BatchError::NotFound("nope".into()))
        );
        b.start_pass("x", &[], Some(2), None, t(0)).expect("start");
        assert_eq!(
            b.start_pass("x", &[], None, None, t(0)),
            Err(BatchError::Pass(PassError::PassOpen(1)))
        );
        b.end_pass("x", t(1)).expect("end");
        assert_eq!(
            b.end_pass("x", t(1)),
            Err(BatchError::Pass(PassError::Finished(
                PassResult::AllComplete
            )))
        );
    }

    #[test]
    fn bounds_by_count_and_age() {
        let b = Batches::new(BatchLimits {
            max_batches: 2,
            batch_ttl: Duration::from_secs(100),
        });
        b.start_pass("old", &ids(&["o"]), None, None, t(0))
            .expect("start");
        b.start_pass("mid", &[], None, None, t(1)).expect("start");
        b.start_pass("new", &[], None, None, t(2)).expect("start");
        assert_eq!(b.len(), 2);
        assert!(b.get("old").is_err());
        // Its job was released with it.
        b.start_pass("reuse", &ids(&["o"]), None, None, t(3))
            .expect("o is free");
        assert!(
            b.get("mid").is_err(),
            "the least recently active goes first"
        );
        // `new` (idle since t=2) expires at t=102; `reuse` (t=3) a second later.
        assert_eq!(b.sweep(t(102)), 1);
        assert_eq!(b.len(), 1);
        assert_eq!(b.sweep(t(103)), 1);
        assert!(b.is_empty());
    }
}
