//! Batches run in passes.
//!
//! Some callers run a whole batch, then run again what failed, at most N
//! passes. A `Batch` is their pass book: which jobs
//! belong to it, each job's latest outcome, and each pass's statistics. The
//! outcome lives here, not in the job's own state, so it survives retryd
//! forgetting the job when it succeeds.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::Timestamp;

/// A job's latest outcome in its batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Succeeded,
    /// Its latest decision was a retry.
    FailedRetryable,
    /// Its latest decision was a give-up: the job is dead or cancelled.
    FailedNonRetryable,
}

/// What the end of a pass means for the batch, checked in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PassResult {
    /// Nothing pending, nothing failed.
    AllComplete,
    MaxPassesReached,
    /// Nothing pending; every failed job is dead or cancelled.
    OnlyNonRetryable,
    RetryableRemaining,
}

impl PassResult {
    pub fn as_str(self) -> &'static str {
        match self {
            PassResult::AllComplete => "all_complete",
            PassResult::MaxPassesReached => "max_passes_reached",
            PassResult::OnlyNonRetryable => "only_non_retryable",
            PassResult::RetryableRemaining => "retryable_remaining",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PassStats {
    pub pass_number: u32,
    pub started_at: Timestamp,
    /// `None` while the pass is open.
    pub ended_at: Option<Timestamp>,
    /// Jobs that still need a run: never attempted, or last decided a retry.
    /// At the start of a pass, its workload; at the end, what is left.
    pub jobs_pending: u32,
    /// Distinct jobs reported during the pass; each counts by its latest report.
    pub jobs_attempted: u32,
    pub jobs_succeeded: u32,
    pub jobs_failed_retryable: u32,
    pub jobs_failed_non_retryable: u32,
}

impl PassStats {
    /// Succeeded / attempted, in percent; 0 when nothing was attempted.
    pub fn success_rate(&self) -> f64 {
        super::percent(
            u64::from(self.jobs_succeeded),
            u64::from(self.jobs_attempted),
        )
    }

    pub fn duration(&self) -> Option<Duration> {
        self.ended_at.map(|end| end.since(self.started_at))
    }
}

/// Sums over every pass of a batch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Totals {
    pub attempted: u64,
    pub succeeded: u64,
    pub failed_retryable: u64,
    pub failed_non_retryable: u64,
}

impl Totals {
    pub fn success_rate(&self) -> f64 {
        super::percent(self.succeeded, self.attempted)
    }
}

/// The answer to `EndPass`.
#[derive(Clone, Debug, PartialEq)]
pub struct EndOfPass {
    pub result: PassResult,
    pub stats: PassStats,
    /// Jobs whose latest decision is a retry, to run (each on its own) in the
    /// next pass; empty unless the result is `RetryableRemaining`.
    pub retry_job_ids: Vec<String>,
    /// How long to wait before the next pass; zero unless one should follow.
    pub next_pass_delay: Duration,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PassError {
    #[error("pass {0} is still open: end it with EndPass first")]
    PassOpen(u32),
    #[error("no pass is open: start one with StartPass")]
    NoOpenPass,
    #[error("the batch is finished ({}): start a new batch", .0.as_str())]
    Finished(PassResult),
}

/// One job of a batch: its latest outcome and the latest pass it was
/// reported in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub outcome: Option<Outcome>,
    /// The latest pass in which the job was reported (0 = none).
    pub last_pass: u32,
}

/// A batch without its jobs: what a store that keeps the jobs apart (one
/// hash field each, so that a report touches only its own) keeps whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Book {
    pub max_passes: u32,
    pub pass_delay: Duration,
    pub passes: Vec<PassStats>,
    pub open: bool,
    pub finished: Option<PassResult>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// (Serializable: snapshots keep batches across restarts.)
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Batch {
    pub max_passes: u32,
    pub pass_delay: Duration,
    /// Ordered, so that `retry_job_ids` come out in a stable order.
    jobs: BTreeMap<Box<str>, Member>,
    passes: Vec<PassStats>,
    open: bool,
    finished: Option<PassResult>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Batch {
    pub fn new(max_passes: u32, pass_delay: Duration, now: Timestamp) -> Batch {
        Batch {
            max_passes,
            pass_delay,
            jobs: BTreeMap::new(),
            passes: Vec::new(),
            open: false,
            finished: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether a batch read back from a snapshot is one this code could
    /// have made (an open pass exists, a finished batch has none open, ...).
    pub fn is_consistent(&self) -> bool {
        self.max_passes >= 1
            && !(self.open && self.passes.is_empty())
            && !(self.open && self.finished.is_some())
            && self
                .passes
                .iter()
                .enumerate()
                .all(|(i, p)| p.pass_number as usize == i + 1)
            && self
                .jobs
                .values()
                .all(|m| m.last_pass as usize <= self.passes.len())
    }

    /// The batch from its book and its jobs.
    pub fn from_parts<'a>(book: Book, jobs: impl IntoIterator<Item = (&'a str, Member)>) -> Batch {
        Batch {
            max_passes: book.max_passes,
            pass_delay: book.pass_delay,
            jobs: jobs.into_iter().map(|(id, m)| (Box::from(id), m)).collect(),
            passes: book.passes,
            open: book.open,
            finished: book.finished,
            created_at: book.created_at,
            updated_at: book.updated_at,
        }
    }

    /// Everything but the jobs.
    pub fn book(&self) -> Book {
        Book {
            max_passes: self.max_passes,
            pass_delay: self.pass_delay,
            passes: self.passes.clone(),
            open: self.open,
            finished: self.finished,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// The open pass's number, 0 when none is open.
    pub fn open_pass(&self) -> u32 {
        if self.open {
            self.passes.len() as u32
        } else {
            0
        }
    }

    pub fn members(&self) -> impl Iterator<Item = (&str, Member)> {
        self.jobs.iter().map(|(id, m)| (&**id, *m))
    }

    pub fn contains(&self, job_id: &str) -> bool {
        self.jobs.contains_key(job_id)
    }

    pub fn job_ids(&self) -> impl Iterator<Item = &str> {
        self.jobs.keys().map(|k| &**k)
    }

    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    pub fn passes(&self) -> &[PassStats] {
        &self.passes
    }

    pub fn finished(&self) -> Option<PassResult> {
        self.finished
    }

    pub fn is_pass_open(&self) -> bool {
        self.open
    }

    /// Whether `StartPass` could open a pass now.
    pub fn check_can_start(&self) -> Result<(), PassError> {
        if let Some(r) = self.finished {
            return Err(PassError::Finished(r));
        }
        if self.open {
            return Err(PassError::PassOpen(self.passes.len() as u32));
        }
        Ok(())
    }

    /// Adds jobs (pending until reported); ids already in the batch are kept as they are.
    pub fn add_jobs<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) {
        for id in ids {
            self.jobs.entry(id.into()).or_default();
        }
    }

    fn pending(&self) -> u32 {
        let n = self
            .jobs
            .values()
            .filter(|m| matches!(m.outcome, None | Some(Outcome::FailedRetryable)))
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Opens pass n+1.
    pub fn start_pass(&mut self, now: Timestamp) -> Result<PassStats, PassError> {
        self.check_can_start()?;
        let stats = PassStats {
            pass_number: self.passes.len() as u32 + 1,
            started_at: now,
            jobs_pending: self.pending(),
            ..PassStats::default()
        };
        self.passes.push(stats.clone());
        self.open = true;
        self.updated_at = now;
        Ok(stats)
    }

    /// A report for one of the batch's jobs. Counts into the open pass, if any;
    /// the job's outcome is updated either way. False if the job is not in the batch.
    pub fn record(&mut self, job_id: &str, outcome: Outcome, now: Timestamp) -> bool {
        let pass = self.open_pass();
        let Some(m) = self.jobs.get_mut(job_id) else {
            return false;
        };
        m.outcome = Some(outcome);
        if pass > 0 {
            m.last_pass = pass;
        }
        self.updated_at = now;
        true
    }

    /// Closes the open pass and says what follows.
    pub fn end_pass(&mut self, now: Timestamp) -> Result<EndOfPass, PassError> {
        if let Some(r) = self.finished {
            return Err(PassError::Finished(r));
        }
        if !self.open {
            return Err(PassError::NoOpenPass);
        }
        let number = self.passes.len() as u32;
        let (mut attempted, mut succeeded, mut retryable, mut non_retryable) =
            (0u32, 0u32, 0u32, 0u32);
        let (mut never_run, mut failed_retryable, mut failed_final) = (0u32, 0u32, 0u32);
        for m in self.jobs.values() {
            if m.last_pass == number {
                attempted += 1;
                match m.outcome {
                    Some(Outcome::Succeeded) => succeeded += 1,
                    Some(Outcome::FailedRetryable) => retryable += 1,
                    Some(Outcome::FailedNonRetryable) => non_retryable += 1,
                    None => {}
                }
            }
            match m.outcome {
                None => never_run += 1,
                Some(Outcome::FailedRetryable) => failed_retryable += 1,
                Some(Outcome::FailedNonRetryable) => failed_final += 1,
                Some(Outcome::Succeeded) => {}
            }
        }
        let result = if never_run == 0 && failed_retryable == 0 && failed_final == 0 {
            PassResult::AllComplete
        } else if number >= self.max_passes {
            PassResult::MaxPassesReached
        } else if never_run == 0 && failed_retryable == 0 {
            PassResult::OnlyNonRetryable
        } else {
            PassResult::RetryableRemaining
        };

        let pending = never_run + failed_retryable;
        let stats = {
            let s = self.passes.last_mut().ok_or(PassError::NoOpenPass)?;
            s.ended_at = Some(now);
            s.jobs_pending = pending;
            s.jobs_attempted = attempted;
            s.jobs_succeeded = succeeded;
            s.jobs_failed_retryable = retryable;
            s.jobs_failed_non_retryable = non_retryable;
            s.clone()
        };
        self.open = false;
        self.updated_at = now;
        let more = result == PassResult::RetryableRemaining;
        if !more {
            self.finished = Some(result);
        }
        let retry_job_ids = if more {
            self.jobs
                .iter()
                .filter(|(_, m)| m.outcome == Some(Outcome::FailedRetryable))
                .map(|(id, _)| id.to_string())
                .collect()
        } else {
            Vec::new()
        };
        Ok(EndOfPass {
            result,
            stats,
            retry_job_ids,
            next_pass_delay: if more {
                self.pass_delay
            } else {
                Duration::ZERO
            },
        })
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for p in &self.passes {
            t.attempted += u64::from(p.jobs_attempted);
            t.succeeded += u64::from(p.jobs_succeeded);
            t.failed_retryable += u64::from(p.jobs_failed_retryable);
            t.failed_non_retryable += u64::from(p.jobs_failed_non_retryable);
        }
        t
    }
}

#[cfg(test)]
mod tests;
