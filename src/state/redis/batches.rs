//! Batches and passes in fleet mode.
//!
//! A batch is two hashes in one slot: its book (passes, open pass, version)
//! and its jobs (one field each: latest outcome and pass). A job's report
//! touches only its own field (`batch_record.lua`), so reports of a batch's
//! jobs never contend; `StartPass` and `EndPass` read the whole batch, run
//! the pass book of `engine::passes` in Rust, and compare-and-set the book.
//! Which open batch a job belongs to is kept in the job's partition
//! (`jb`), where the commit of every report reads it.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::try_join_all;
use redis::Script;

use super::cas::{Tried, until_applied};
use super::keys::{PARTITIONS, partition};
use super::{Op, Redis, ms};
use crate::engine::Timestamp;
use crate::engine::batch::{Batch, Book, EndOfPass, Member, Outcome, PassStats};
use crate::state::StateError;
use crate::state::batch_rules::{
    BatchError, DEFAULT_MAX_PASSES, DEFAULT_PASS_DELAY, MAX_BATCH_JOBS,
};

pub struct Scripts {
    record: Script,
    save: Script,
    index: Script,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            record: Script::new(include_str!("lua/batch_record.lua")),
            save: Script::new(include_str!("lua/batch_save.lua")),
            index: Script::new(include_str!("lua/batch_index.lua")),
        }
    }
}

fn letter(o: Option<Outcome>) -> char {
    match o {
        None => '-',
        Some(Outcome::Succeeded) => 's',
        Some(Outcome::FailedRetryable) => 'r',
        Some(Outcome::FailedNonRetryable) => 'n',
    }
}

fn member_of(v: &str) -> Member {
    let mut chars = v.chars();
    let outcome = match chars.next() {
        Some('s') => Some(Outcome::Succeeded),
        Some('r') => Some(Outcome::FailedRetryable),
        Some('n') => Some(Outcome::FailedNonRetryable),
        _ => None,
    };
    Member {
        outcome,
        last_pass: chars.as_str().parse().unwrap_or(0),
    }
}

/// A batch as read, with the version its compare-and-set expects.
struct Loaded {
    batch: Batch,
    version: String,
}

impl Redis {
    async fn load_batch(&self, batch_id: &str) -> Result<Option<Loaded>, StateError> {
        let (h, m) = self.keys.batch(batch_id);
        let mut pipe = redis::pipe();
        pipe.cmd("HGETALL").arg(&h).cmd("HGETALL").arg(&m);
        let (head, jobs): (BTreeMap<String, Vec<u8>>, BTreeMap<String, String>) =
            self.link.pipeline(Op::Batch, &pipe).await?;
        let Some(book) = head.get("book") else {
            return Ok(None);
        };
        let malformed = || StateError::Malformed(format!("batch {batch_id:?}: unreadable book"));
        let mut book: Book = postcard::from_bytes(book).map_err(|_| malformed())?;
        if let Some(t) = head
            .get("upd")
            .and_then(|u| std::str::from_utf8(u).ok())
            .and_then(|u| u.parse().ok())
        {
            book.updated_at = Timestamp(t);
        }
        let batch = Batch::from_parts(book, jobs.iter().map(|(id, v)| (id.as_str(), member_of(v))));
        if !batch.is_consistent() {
            return Err(malformed());
        }
        let version = head
            .get("ver")
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        Ok(Some(Loaded { batch, version }))
    }

    /// Writes the book if the batch is still at `version`; adds `new_jobs`.
    async fn save_batch(
        &self,
        batch_id: &str,
        version: &str,
        batch: &Batch,
        new_jobs: &[&str],
    ) -> Result<bool, StateError> {
        let (h, m) = self.keys.batch(batch_id);
        let book = postcard::to_stdvec(&batch.book())
            .map_err(|e| StateError::Malformed(format!("batch {batch_id:?}: {e}")))?;
        let mut inv = self.batches.save.prepare_invoke();
        inv.key(&h)
            .key(&m)
            .arg(version)
            .arg(book)
            .arg(batch.open_pass())
            .arg(batch.updated_at.0);
        for id in new_jobs {
            inv.arg(*id);
        }
        let saved: i64 = self.link.invoke(Op::Batch, &inv).await?;
        if saved == 1 {
            self.touch_batch(batch_id, batch.updated_at).await?;
        }
        Ok(saved == 1)
    }

    /// Files the batch in the index of batches under its last activity.
    async fn touch_batch(&self, batch_id: &str, at: Timestamp) -> Result<(), StateError> {
        let _: i64 = self
            .link
            .query(
                Op::Batch,
                redis::cmd("ZADD")
                    .arg(self.keys.batches())
                    .arg(at.0)
                    .arg(batch_id),
            )
            .await?;
        Ok(())
    }

    /// Claims (or releases) jobs for a batch in the job index, partition by
    /// partition. A claim that finds a job in another open batch releases
    /// what it claimed and says which.
    async fn index_jobs(
        &self,
        batch_id: &str,
        jobs: &[&str],
        claim: bool,
    ) -> Result<(), StateError> {
        let mut by_partition: Vec<Vec<&str>> = vec![Vec::new(); PARTITIONS];
        for id in jobs {
            by_partition[partition(id)].push(id);
        }
        let mut claimed: Vec<usize> = Vec::new();
        for (p, ids) in by_partition.iter().enumerate() {
            if ids.is_empty() {
                continue;
            }
            for chunk in ids.chunks(1000) {
                let mut inv = self.batches.index.prepare_invoke();
                inv.key(&self.keys.partition(p).batch_index)
                    .arg(if claim { "claim" } else { "release" })
                    .arg(batch_id);
                for id in chunk {
                    inv.arg(*id);
                }
                let taken: Vec<String> = self.link.invoke(Op::Batch, &inv).await?;
                if let [job_id, other] = taken.as_slice() {
                    let conflict = BatchError::JobInOtherBatch {
                        job_id: job_id.clone(),
                        batch_id: other.clone(),
                    };
                    // Undo this call's claims (they were free before it).
                    for q in claimed {
                        Box::pin(self.index_jobs(batch_id, &by_partition[q], false)).await?;
                    }
                    let done: Vec<&str> = ids
                        .iter()
                        .take_while(|id| !chunk.contains(id))
                        .copied()
                        .collect();
                    Box::pin(self.index_jobs(batch_id, &done, false)).await?;
                    return Err(conflict.into());
                }
            }
            claimed.push(p);
        }
        Ok(())
    }

    pub async fn start_pass(
        &self,
        batch_id: &str,
        job_ids: &[String],
        max_passes: Option<u32>,
        pass_delay: Option<Duration>,
        now: Timestamp,
    ) -> Result<PassStats, StateError> {
        until_applied(
            || format!("batch {batch_id:?}"),
            (),
            move |()| async move {
                let loaded = self.load_batch(batch_id).await?;
                let existed = loaded.is_some();
                let (mut batch, version) = match loaded {
                    Some(l) => (l.batch, l.version),
                    None => (
                        Batch::new(
                            max_passes.unwrap_or(DEFAULT_MAX_PASSES),
                            pass_delay.unwrap_or(DEFAULT_PASS_DELAY),
                            now,
                        ),
                        String::new(),
                    ),
                };
                batch
                    .check_can_start()
                    .map_err(|e| StateError::Batch(e.into()))?;
                let mut new: Vec<&str> = job_ids
                    .iter()
                    .map(String::as_str)
                    .filter(|id| !batch.contains(id))
                    .collect();
                new.sort_unstable();
                new.dedup();
                if batch.len() + new.len() > MAX_BATCH_JOBS {
                    return Err(BatchError::TooManyJobs(batch.len() + new.len()).into());
                }
                self.index_jobs(batch_id, &new, true).await?;
                if let Some(m) = max_passes {
                    batch.max_passes = m;
                }
                if let Some(d) = pass_delay {
                    batch.pass_delay = d;
                }
                batch.add_jobs(new.iter().copied());
                let stats = batch
                    .start_pass(now)
                    .map_err(|e| StateError::Batch(e.into()))?;
                if self.save_batch(batch_id, &version, &batch, &new).await? {
                    if !existed {
                        self.bound_batches(Some(batch_id)).await?;
                    }
                    return Ok(Tried::Applied(stats));
                }
                // Another sidecar changed the batch: its claims stand for the
                // same batch; read again and retry.
                Ok(Tried::Conflict(()))
            },
        )
        .await
    }

    pub async fn end_pass(&self, batch_id: &str, now: Timestamp) -> Result<EndOfPass, StateError> {
        until_applied(
            || format!("batch {batch_id:?}"),
            (),
            move |()| async move {
                let Some(Loaded { mut batch, version }) = self.load_batch(batch_id).await? else {
                    return Err(BatchError::NotFound(batch_id.to_string()).into());
                };
                let end = batch
                    .end_pass(now)
                    .map_err(|e| StateError::Batch(e.into()))?;
                if self.save_batch(batch_id, &version, &batch, &[]).await? {
                    if batch.finished().is_some() {
                        let jobs: Vec<&str> = batch.job_ids().collect();
                        self.index_jobs(batch_id, &jobs, false).await?;
                    }
                    return Ok(Tried::Applied(end));
                }
                Ok(Tried::Conflict(()))
            },
        )
        .await
    }

    pub async fn get_batch(&self, batch_id: &str) -> Result<Batch, StateError> {
        self.load_batch(batch_id)
            .await?
            .map(|l| l.batch)
            .ok_or_else(|| BatchError::NotFound(batch_id.to_string()).into())
    }

    /// A job's report counts into the open batch it belongs to.
    pub async fn record_in_batch(
        &self,
        batch_id: &str,
        job_id: &str,
        outcome: Outcome,
        now: Timestamp,
    ) -> Result<(), StateError> {
        let (h, m) = self.keys.batch(batch_id);
        let _: i64 = self
            .link
            .invoke(
                Op::Batch,
                self.batches
                    .record
                    .key(&h)
                    .key(&m)
                    .arg(job_id)
                    .arg(letter(Some(outcome)).to_string())
                    .arg(now.0),
            )
            .await?;
        Ok(())
    }

    /// Forgets a batch and frees its jobs.
    async fn remove_batch(&self, batch_id: &str) -> Result<(), StateError> {
        if let Some(l) = self.load_batch(batch_id).await? {
            let jobs: Vec<&str> = l.batch.job_ids().collect();
            self.index_jobs(batch_id, &jobs, false).await?;
        }
        let (h, m) = self.keys.batch(batch_id);
        let _: i64 = self
            .link
            .query(Op::Batch, redis::cmd("DEL").arg(&h).arg(&m))
            .await?;
        let _: i64 = self
            .link
            .query(
                Op::Batch,
                redis::cmd("ZREM").arg(self.keys.batches()).arg(batch_id),
            )
            .await?;
        Ok(())
    }

    /// The least recently active batches past `max_batches` (`keep` excepted).
    async fn bound_batches(&self, keep: Option<&str>) -> Result<usize, StateError> {
        let n: usize = self
            .link
            .query(Op::Batch, redis::cmd("ZCARD").arg(self.keys.batches()))
            .await?;
        let over = n.saturating_sub(self.batch_limits.max_batches);
        if over == 0 {
            return Ok(0);
        }
        let oldest: Vec<String> = self
            .link
            .query(
                Op::Batch,
                redis::cmd("ZRANGE")
                    .arg(self.keys.batches())
                    .arg(0)
                    .arg(over),
            )
            .await?;
        let gone: Vec<&String> = oldest
            .iter()
            .filter(|b| Some(b.as_str()) != keep)
            .take(over)
            .collect();
        try_join_all(gone.iter().map(|b| self.remove_batch(b))).await?;
        Ok(gone.len())
    }

    /// Batches idle past `batch_ttl`, then the oldest past `max_batches`.
    pub async fn sweep_batches(&self, now: Timestamp) -> Result<usize, StateError> {
        let cutoff = now.0.saturating_sub(ms(self.batch_limits.batch_ttl));
        let idle: Vec<String> = self
            .link
            .query(
                Op::Batch,
                redis::cmd("ZRANGEBYSCORE")
                    .arg(self.keys.batches())
                    .arg("-inf")
                    .arg(cutoff),
            )
            .await?;
        let mut removed = 0;
        for b in &idle {
            // The index's score lags the batch's own activity (reports move
            // only the book's `upd`): check that before forgetting it.
            match self.load_batch(b).await? {
                Some(l) if l.batch.updated_at.0 > cutoff => {
                    self.touch_batch(b, l.batch.updated_at).await?;
                }
                _ => {
                    self.remove_batch(b).await?;
                    removed += 1;
                }
            }
        }
        Ok(removed + self.bound_batches(None).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_as_letters() {
        for o in [
            None,
            Some(Outcome::Succeeded),
            Some(Outcome::FailedRetryable),
            Some(Outcome::FailedNonRetryable),
        ] {
            let m = member_of(&format!("{}{}", letter(o), 7));
            assert_eq!(
                m,
                Member {
                    outcome: o,
                    last_pass: 7
                }
            );
        }
        assert_eq!(member_of(""), Member::default());
    }
}
