//! Claims and leases: due jobs handed out, a lease extended or let go,
//! what a job's parcel says.

use super::*;

impl Redis {
    pub async fn claim_due(
        &self,
        engine: &Engine,
        queue: &str,
        max: usize,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Vec<DueJob>, StateError> {
        let hint = self.keys.queue_hint(queue);
        let popped = self.pop_hint(&hint, now).await?;
        let mut out = Vec::new();
        let mut back = Vec::new();
        let mut leases = Vec::new();
        let mut failed = None;
        for (p, at) in popped {
            if out.len() >= max || failed.is_some() {
                back.push((p, at));
                continue;
            }
            match self
                .claim_in(engine, p, queue, max - out.len(), lease, now)
                .await
            {
                Ok((jobs, first)) => {
                    if let Some(first) = first {
                        back.push((p, first));
                    }
                    if let Some(j) = jobs.first() {
                        leases.push((p, j.lease_until.0));
                    }
                    out.extend(jobs);
                }
                Err(e) => {
                    back.push((p, at));
                    failed = Some(e);
                }
            }
        }
        let lease_hint = self.keys.lease_hint();
        tokio::join!(
            self.put_back(&hint, &back),
            self.put_back(&lease_hint, &leases)
        );
        if !leases.is_empty() {
            self.delivery.reaper.notify_one();
        }
        match (failed, out.is_empty()) {
            (Some(e), true) => Err(e),
            _ => Ok(out),
        }
    }

    /// Claims in one partition: the jobs, and its queue's first due time left.
    async fn claim_in(
        &self,
        engine: &Engine,
        p: usize,
        queue: &str,
        max: usize,
        lease: Duration,
        now: Timestamp,
    ) -> Result<(Vec<DueJob>, Option<u64>), StateError> {
        let pk = self.keys.partition(p);
        let reply: Vec<Value> = self
            .link
            .invoke(
                Op::Delivery,
                self.parcels
                    .claim
                    .key(pk.queue(queue))
                    .key(&pk.parcels)
                    .key(&pk.leases)
                    .key(&pk.queue_counts)
                    .key(pk.set(Set::Retrying))
                    .arg(now.0)
                    .arg(max)
                    .arg(ms(lease))
                    .arg(lease_prefix()),
            )
            .await?;
        let (Some(claimed), first) = (reply.first(), reply.get(1)) else {
            return Err(malformed("claim.lua", &reply));
        };
        let mut jobs = Vec::new();
        for c in items(claimed) {
            let c = items(c);
            let (Some(id), Some(parcel), Some(due)) = (
                c.first().and_then(string),
                c.get(2).and_then(bytes).and_then(|b| Parcel::parse(&b)),
                c.get(3).and_then(number),
            ) else {
                continue;
            };
            let stored = c
                .get(1)
                .and_then(bytes)
                .and_then(|m| codec::decode(&m, engine, &self.labels).ok());
            let Some(stored) = stored else {
                // Handed out with no readable record: its lease runs out,
                // and the delivery limit ends it.
                tracing::warn!(job_id = id, "a claimed job has no readable record");
                continue;
            };
            jobs.push(DueJob {
                attempt: stored.job.next_attempt(),
                job_type: stored.job_type,
                last_error: stored.error,
                id,
                queue: parcel.queue,
                payload: parcel.payload,
                due_at: Timestamp(due),
                lease_id: parcel.lease,
                lease_until: Timestamp(parcel.lease_until),
                deliveries: parcel.deliveries,
            });
        }
        Ok((jobs, first.and_then(number)))
    }

    /// Extends (`until`) or releases (due at `due`) a lease, after its fence.
    async fn lease_op(
        &self,
        job_id: &str,
        lease_id: &str,
        extend: bool,
        at: u64,
    ) -> Result<Option<(String, u64)>, StateError> {
        let p = partition(job_id);
        let pk = self.keys.partition(p);
        let reply: Vec<Value> = self
            .link
            .invoke(
                Op::Delivery,
                self.parcels
                    .lease
                    .key(&pk.parcels)
                    .key(&pk.leases)
                    .key(&pk.queue_counts)
                    .arg(job_id)
                    .arg(lease_id)
                    .arg(if extend { "e" } else { "r" })
                    .arg(at)
                    .arg(&pk.queue_prefix),
            )
            .await?;
        match reply.first() {
            Some(Value::Int(1)) => {
                let queue = reply.get(1).and_then(string).unwrap_or_default();
                if extend {
                    self.put_back(&self.keys.lease_hint(), &[(p, at)]).await;
                    self.delivery.reaper.notify_one();
                    Ok(None)
                } else {
                    let due = reply.get(2).and_then(number);
                    if let Some(due) = due {
                        self.parked(&queue, p, due).await;
                    }
                    Ok(due.map(|d| (queue, d)))
                }
            }
            Some(Value::Int(2)) => {
                let held = reply.get(1).and_then(string).is_some_and(|w| w == "other");
                Err(not_current(job_id, Some(lease_id), held))
            }
            _ => Err(malformed("lease.lua", &reply)),
        }
    }

    pub async fn extend_lease(
        &self,
        job_id: &str,
        lease_id: &str,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Timestamp, StateError> {
        let until = now.saturating_add(lease);
        self.lease_op(job_id, lease_id, true, until.0).await?;
        Ok(until)
    }

    pub async fn release_job(
        &self,
        job_id: &str,
        lease_id: &str,
        delay: Duration,
        now: Timestamp,
    ) -> Result<(), StateError> {
        self.lease_op(job_id, lease_id, false, now.saturating_add(delay).0)
            .await
            .map(drop)
    }

    /// A job's view, with its delivery if it has a parcel (one more read).
    pub(in crate::state::redis) async fn view_of(
        &self,
        s: &codec::Stored,
    ) -> Result<crate::state::JobView, StateError> {
        let mut v = s.view();
        if s.parcel {
            let raw: Option<Vec<u8>> = self
                .link
                .query(
                    Op::Delivery,
                    redis::cmd("HGET")
                        .arg(&self.keys.of_job(&s.id).parcels)
                        .arg(&s.id),
                )
                .await?;
            v.delivery = raw
                .and_then(|r| Parcel::parse(&r))
                .map(|p| crate::state::DeliveryView {
                    payload_bytes: u32::try_from(p.payload.len()).unwrap_or(u32::MAX),
                    deliveries: p.deliveries,
                    lease_until: (p.index == b'l').then_some(Timestamp(p.lease_until)),
                    queue: p.queue,
                });
        }
        Ok(v)
    }

    /// The lease a job is handed out under, if it is.
    pub(in crate::state::redis) async fn lease_of(
        &self,
        job_id: &str,
    ) -> Result<Option<String>, StateError> {
        let v: Option<Vec<u8>> = self
            .link
            .query(
                Op::Delivery,
                redis::cmd("HGET")
                    .arg(&self.keys.of_job(job_id).parcels)
                    .arg(job_id),
            )
            .await?;
        Ok(v.and_then(|v| Parcel::parse(&v))
            .map(|p| p.lease)
            .filter(|l| !l.is_empty()))
    }
}
