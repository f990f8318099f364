//! Leases that ran out: their jobs due again, or dead after their last
//! delivery; the first due time of a queue or a lease.

use super::*;

impl Redis {
    /// When the fleet's first parked job of `queue` may be due (the hint's
    /// earliest time: never later than the job's).
    pub async fn next_due(&self, queue: &str) -> Result<Option<Timestamp>, StateError> {
        self.first_of(&self.keys.queue_hint(queue)).await
    }

    /// When the fleet's first lease may run out.
    pub async fn next_lease_expiry(&self) -> Result<Option<Timestamp>, StateError> {
        self.first_of(&self.keys.lease_hint()).await
    }

    async fn first_of(&self, key: &str) -> Result<Option<Timestamp>, StateError> {
        let got: Vec<(String, f64)> = self
            .link
            .query(
                Op::Delivery,
                redis::cmd("ZRANGE")
                    .arg(key)
                    .arg(0)
                    .arg(0)
                    .arg("WITHSCORES"),
            )
            .await?;
        Ok(got.first().map(|(_, t)| Timestamp(*t as u64)))
    }

    /// The leases of the fleet that ran out by `now`: each job due again,
    /// or dead at the delivery limit (decided as any change, fenced by the
    /// lease that ran out).
    pub async fn expire_leases(
        &self,
        engine: &Engine,
        max_deliveries: u32,
        now: Timestamp,
    ) -> Result<Vec<Expired>, StateError> {
        let hint = self.keys.lease_hint();
        let popped = self.pop_hint(&hint, now).await?;
        let mut out = Vec::new();
        let mut back = Vec::new();
        let mut failed = None;
        for (p, at) in popped {
            if failed.is_some() {
                back.push((p, at));
                continue;
            }
            match self.expire_in(engine, p, max_deliveries, now).await {
                Ok((expired, first)) => {
                    out.extend(expired);
                    if let Some(first) = first {
                        back.push((p, first));
                    }
                }
                Err(e) => {
                    back.push((p, at));
                    failed = Some(e);
                }
            }
        }
        self.put_back(&hint, &back).await;
        match failed {
            Some(e) if out.is_empty() => Err(e),
            _ => Ok(out),
        }
    }

    async fn expire_in(
        &self,
        engine: &Engine,
        p: usize,
        max: u32,
        now: Timestamp,
    ) -> Result<(Vec<Expired>, Option<u64>), StateError> {
        let pk = self.keys.partition(p);
        let reply: Vec<Value> = self
            .link
            .invoke(
                Op::Delivery,
                self.parcels
                    .expire
                    .key(&pk.leases)
                    .key(&pk.parcels)
                    .key(&pk.queue_counts)
                    .arg(now.0)
                    .arg(max)
                    .arg(&pk.queue_prefix)
                    .arg(EXPIRE_CHUNK),
            )
            .await?;
        let (Some(again), Some(kill)) = (reply.first(), reply.get(1)) else {
            return Err(malformed("expire.lua", &reply));
        };
        let mut out = Vec::new();
        let mut hints: std::collections::HashMap<String, u64> = Default::default();
        for e in items(again) {
            let e = items(e);
            let (Some(id), Some(queue), Some(due)) = (
                e.first().and_then(string),
                e.get(1).and_then(string),
                e.get(2).and_then(number),
            ) else {
                continue;
            };
            let h = hints.entry(queue.clone()).or_insert(due);
            *h = (*h).min(due);
            let job_type = self.job_type_of(engine, pk, &id).await;
            out.push(Expired {
                job_id: id,
                job_type,
                queue,
                died: None,
            });
        }
        for (queue, due) in hints {
            self.parked(&queue, p, due).await;
        }
        let mut first = reply.get(2).and_then(number);
        for k in items(kill) {
            let k = items(k);
            let (Some(id), Some(queue), Some(lease)) = (
                k.first().and_then(string),
                k.get(1).and_then(string),
                k.get(2).and_then(string),
            ) else {
                continue;
            };
            match self.kill(engine, &id, &lease, max, now).await {
                Ok(Some(e)) => out.push(Expired { queue, ..e }),
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(job_id = id, error = %e, "a job at the delivery limit was not ended yet");
                    // Looked at again soon.
                    first = Some(first.map_or(now.0 + 1000, |f| f.min(now.0 + 1000)));
                }
            }
        }
        Ok((out, first))
    }

    async fn job_type_of(&self, engine: &Engine, pk: &PartitionKeys, id: &str) -> String {
        match self.read(engine, pk, id).await {
            Ok(Some(f)) => f.stored.job_type,
            _ => String::new(),
        }
    }

    /// A job whose `max`-th unsettled lease ran out: dead, if it still
    /// holds that lease (one settled meanwhile is left as it is).
    async fn kill(
        &self,
        engine: &Engine,
        id: &str,
        lease: &str,
        max: u32,
        now: Timestamp,
    ) -> Result<Option<Expired>, StateError> {
        let pk = self.keys.of_job(id);
        let stripe = self.link.wait(self.stripe(id).lock()).await?;
        let found = self.read(engine, pk, id).await?;
        let Some(found) = found else {
            // A parcel without its record: removed with it.
            self.drop_orphan(id).await?;
            return Ok(None);
        };
        crate::state::redis::cas::until_applied(
            || format!("job {id:?}"),
            (stripe, Some(found)),
            move |(mut stripe, found)| async move {
                let Some(f) = found else {
                    return Ok(crate::state::redis::cas::Tried::Applied(None));
                };
                if f.stored.job.state != JobState::Retrying {
                    return Ok(crate::state::redis::cas::Tried::Applied(None));
                }
                let mut job = f.stored.job;
                job.delivery_limit(max, now);
                let new = codec::Stored {
                    job,
                    ..f.stored.clone()
                };
                let tally = Tally::of(Some(&f.stored.job), Some(&job), Some(Event::GaveUp));
                let (committed, set, member) = self
                    .commit_stored(
                        engine,
                        Some((f.set, &f.member)),
                        &new,
                        &tally,
                        (ParcelOp::Kill, Fence::Lease(lease)),
                        now,
                    )
                    .await?;
                Ok(match committed {
                    Committed::Applied(_) => {
                        stripe.set(id, Some((set, &member)));
                        crate::state::redis::cas::Tried::Applied(Some(Expired {
                            job_id: id.to_string(),
                            job_type: new.job_type.clone(),
                            queue: String::new(),
                            died: Some((self.labels.job_types.get(&new.label), job.last_decision)),
                        }))
                    }
                    Committed::Fenced { .. } => crate::state::redis::cas::Tried::Applied(None),
                    Committed::Conflict(now_there) => {
                        stripe.saw(id, &now_there);
                        let found = self.current(engine, id, now_there)?;
                        crate::state::redis::cas::Tried::Conflict((stripe, found))
                    }
                })
            },
        )
        .await
    }

    /// A parcel whose record is gone (it cannot be: both go in one script;
    /// this undoes what a damaged fleet state left).
    async fn drop_orphan(&self, id: &str) -> Result<(), StateError> {
        let pk = self.keys.of_job(id);
        let mut pipe = redis::pipe();
        pipe.cmd("HDEL").arg(&pk.parcels).arg(id).ignore();
        pipe.cmd("ZREM").arg(&pk.leases).arg(id).ignore();
        self.link.pipeline::<()>(Op::Delivery, &pipe).await
    }
}
