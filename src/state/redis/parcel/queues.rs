//! The queues: their rows for `ListQueues` and the gauges, the bytes held,
//! and the reconcile that puts lost hints back.

use super::*;

impl Redis {
    /// The queues any job was parked on.
    async fn queue_names(&self) -> Result<Vec<String>, StateError> {
        let mut names: Vec<String> = self
            .link
            .query(Op::Delivery, redis::cmd("SMEMBERS").arg(self.keys.queues()))
            .await?;
        names.sort();
        Ok(names)
    }

    /// Each queue's counts over the partitions (`count_due`: also how many
    /// are due, which walks each due index's front).
    pub async fn queue_rows(
        &self,
        now: Timestamp,
        count_due: bool,
    ) -> Result<(Vec<QueueRow>, u64), StateError> {
        let names = self.queue_names().await?;
        let names = &names;
        let per = futures_util::future::try_join_all((0..PARTITIONS).map(|p| async move {
            let pk = self.keys.partition(p);
            let mut pipe = redis::pipe();
            pipe.cmd("HGETALL").arg(&pk.queue_counts);
            for q in names {
                let key = pk.queue(q);
                pipe.cmd("ZCARD").arg(&key);
                pipe.cmd("ZRANGE").arg(&key).arg(0).arg(0).arg("WITHSCORES");
                if count_due {
                    pipe.cmd("ZCOUNT").arg(&key).arg("-inf").arg(now.0);
                } else {
                    pipe.cmd("ECHO").arg(0);
                }
            }
            self.link.pipeline::<Vec<Value>>(Op::Delivery, &pipe).await
        }))
        .await?;
        let mut rows: Vec<QueueRow> = names
            .iter()
            .map(|q| QueueRow {
                queue: q.clone(),
                ..QueueRow::default()
            })
            .collect();
        let mut held = 0u64;
        for replies in per {
            let counts: std::collections::HashMap<String, i64> = replies
                .first()
                .map(|v| {
                    items(v)
                        .chunks(2)
                        .filter_map(|c| Some((string(c.first()?)?, number(c.get(1)?)? as i64)))
                        .collect()
                })
                .unwrap_or_default();
            held += counts.get("\0b").copied().unwrap_or(0).max(0) as u64;
            for (i, row) in rows.iter_mut().enumerate() {
                let at = 1 + 3 * i;
                row.parked += replies.get(at).and_then(number).unwrap_or(0);
                let first = replies
                    .get(at + 1)
                    .map(items)
                    .and_then(|f| f.get(1))
                    .and_then(number)
                    .filter(|t| *t <= now.0)
                    .map(Timestamp);
                row.oldest_due = match (row.oldest_due, first) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                if count_due {
                    row.due += replies.get(at + 2).and_then(number).unwrap_or(0);
                }
                let c = |f: &str| {
                    counts
                        .get(&format!("{}\0{f}", row.queue))
                        .copied()
                        .unwrap_or(0)
                        .max(0) as u64
                };
                row.leased += c("l");
                row.parked_bytes += c("b");
            }
        }
        self.delivery.held.store(held, Relaxed);
        rows.retain(|r| r.parked + r.leased > 0);
        Ok((rows, held))
    }

    pub async fn queues(&self, now: Timestamp) -> Result<Vec<QueueRow>, StateError> {
        Ok(self.queue_rows(now, true).await?.0)
    }

    /// The fleet's payload bytes held, as of the last look (refreshed with
    /// the gauges and by the reconcile); the bound is checked against it.
    pub fn held_bytes(&self) -> u64 {
        self.delivery.active.store(true, Relaxed);
        self.delivery.held.load(Relaxed)
    }

    /// Every partition's first due time of every queue, and its first lease
    /// end, put back into the hints: what a sidecar that died between a
    /// commit and its hint left out is found again.
    pub(in crate::state::redis) async fn reconcile(
        &self,
        now: Timestamp,
    ) -> Result<(), StateError> {
        // At most once a second, whatever the sweep's own interval.
        let last = self.delivery.reconciled.load(Relaxed);
        if now.0.saturating_sub(last) < 1000 {
            return Ok(());
        }
        self.delivery.reconciled.store(now.0, Relaxed);
        let names = self.queue_names().await?;
        if names.is_empty() {
            return Ok(());
        }
        let names = &names;
        let firsts = futures_util::future::try_join_all((0..PARTITIONS).map(|p| async move {
            let pk = self.keys.partition(p);
            let mut pipe = redis::pipe();
            pipe.cmd("ZRANGE")
                .arg(&pk.leases)
                .arg(0)
                .arg(0)
                .arg("WITHSCORES");
            for q in names {
                pipe.cmd("ZRANGE")
                    .arg(pk.queue(q))
                    .arg(0)
                    .arg(0)
                    .arg("WITHSCORES");
            }
            self.link
                .pipeline::<Vec<Vec<(String, f64)>>>(Op::Delivery, &pipe)
                .await
                .map(|v| (p, v))
        }))
        .await?;
        let mut leases = Vec::new();
        let mut dues: Vec<Vec<(usize, u64)>> = vec![Vec::new(); names.len()];
        for (p, v) in firsts {
            for (i, first) in v.iter().enumerate() {
                if let Some((_, t)) = first.first() {
                    match i {
                        0 => leases.push((p, *t as u64)),
                        _ => dues[i - 1].push((p, *t as u64)),
                    }
                }
            }
        }
        self.put_back(&self.keys.lease_hint(), &leases).await;
        for (q, parts) in names.iter().zip(dues) {
            self.put_back(&self.keys.queue_hint(q), &parts).await;
        }
        let _ = self.queue_rows(now, false).await;
        Ok(())
    }
}
