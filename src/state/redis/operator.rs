//! Reads and operator calls on one job: get, retry, cancel, delete.

use super::Redis;
use super::cas::{Tried, until_applied};
use super::codec::Stored;
use super::commit::{Committed, Fence, ParcelOp};
use crate::engine::{Engine, Job, Timestamp};
use crate::state::step::{self, Tally};
use crate::state::{JobView, StateError};

impl Redis {
    pub async fn get(&self, engine: &Engine, job_id: &str) -> Result<Option<JobView>, StateError> {
        let pk = self.keys.of_job(job_id);
        match self.read(engine, pk, job_id).await? {
            Some(f) => Ok(Some(self.view_of(&f.stored).await?)),
            None => Ok(None),
        }
    }

    /// Applies `change` to an existing job and returns it. (Operator calls
    /// read the job fresh: they act on what the fleet holds.)
    pub(super) async fn modify(
        &self,
        engine: &Engine,
        job_id: &str,
        now: Timestamp,
        change: impl Fn(&Job) -> Result<(Job, Tally), StateError>,
        parcel: ParcelOp<'_>,
    ) -> Result<JobView, StateError> {
        let stripe = self.link.wait(self.stripe(job_id).lock()).await?;
        let found = self.read(engine, self.keys.of_job(job_id), job_id).await?;
        let change = &change;
        let stored = until_applied(
            || format!("job {job_id:?}"),
            (stripe, found),
            move |(mut stripe, found)| async move {
                let f = found.ok_or_else(|| StateError::NotFound(job_id.to_string()))?;
                let (job, tally) = change(&f.stored.job)?;
                let new = Stored {
                    job,
                    ..f.stored.clone()
                };
                let parcel = if f.stored.parcel {
                    parcel
                } else {
                    ParcelOp::None
                };
                let (committed, set, member) = self
                    .commit_stored(
                        engine,
                        Some((f.set, &f.member)),
                        &new,
                        &tally,
                        (parcel, Fence::Unchecked),
                        now,
                    )
                    .await?;
                Ok(match committed {
                    Committed::Applied(_) => {
                        stripe.set(job_id, Some((set, &member)));
                        Tried::Applied(new)
                    }
                    Committed::Fenced { .. } => Tried::Applied(new),
                    Committed::Conflict(now_there) => {
                        stripe.saw(job_id, &now_there);
                        let found = self.current(engine, job_id, now_there)?;
                        Tried::Conflict((stripe, found))
                    }
                })
            },
        )
        .await?;
        self.view_of(&stored).await
    }

    pub async fn retry(
        &self,
        engine: &Engine,
        job_id: &str,
        reset_failures: bool,
        now: Timestamp,
    ) -> Result<JobView, StateError> {
        // A job with a payload is due now on its queue (a dead one replayed).
        let replay = ParcelOp::Settle {
            due: Some(now),
            queue: None,
            payload: None,
        };
        self.modify(
            engine,
            job_id,
            now,
            |job| Ok(step::manual_retry(job, reset_failures, now)),
            replay,
        )
        .await
    }

    pub async fn cancel(
        &self,
        engine: &Engine,
        job_id: &str,
        now: Timestamp,
    ) -> Result<JobView, StateError> {
        self.modify(
            engine,
            job_id,
            now,
            |job| step::cancel(job, now).ok_or_else(|| StateError::Dead(job_id.to_string())),
            ParcelOp::Unindex,
        )
        .await
    }

    pub async fn delete(
        &self,
        engine: &Engine,
        job_id: &str,
        now: Timestamp,
    ) -> Result<(), StateError> {
        let stripe = self.link.wait(self.stripe(job_id).lock()).await?;
        let found = self.read(engine, self.keys.of_job(job_id), job_id).await?;
        until_applied(
            || format!("job {job_id:?}"),
            (stripe, found),
            move |(mut stripe, found)| async move {
                let f = found.ok_or_else(|| StateError::NotFound(job_id.to_string()))?;
                Ok(match self.remove(&f, now).await? {
                    Committed::Applied(_) | Committed::Fenced { .. } => {
                        stripe.set(job_id, None);
                        Tried::Applied(())
                    }
                    Committed::Conflict(now_there) => {
                        stripe.saw(job_id, &now_there);
                        let found = self.current(engine, job_id, now_there)?;
                        Tried::Conflict((stripe, found))
                    }
                })
            },
        )
        .await
    }
}
