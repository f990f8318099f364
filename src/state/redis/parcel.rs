//! Delivery in fleet mode: payloads, due indexes and leases in Redis.
//!
//! A job that retryd holds for delivery keeps its record as ever (the
//! member's version byte says it has a parcel) and its parcel beside it in
//! the partition's `dv` hash: where it stands, its queue, its payload.
//! Every change of a job with a parcel is one script on the job's partition
//! (`carry.lua`: the record's compare-and-set, the fence of its lease, the
//! parcel, its index and its counts), so a lease is checked in the same
//! atomic step that settles the job. A claim (`claim.lua`) and a lease's
//! expiry (`expire.lua`) are atomic per partition too: a due job is handed
//! to one claimer per lease, fleet-wide.
//!
//! A claimer does not look in 64 partitions: per queue a hint
//! (`P:{q:<queue>}:due`) names the partitions that may have a due job and a
//! time by which; it is never later than the partition's first due job.
//! A parker lowers it after its commit (`ZADD LT`); a claimer takes a
//! partition out of it first (`pop_hint.lua`), claims, and puts it back at
//! what is left. A sidecar that dies between its commit and the hint leaves
//! a job the hint does not name: the sweeper's reconcile (each round, by
//! the sweeper lease's holder) puts every partition's first due time back.
//! Leases have the same kind of hint (`P:leases`), and any sidecar expires
//! them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use dashmap::DashMap;
use redis::{Script, Value};
use tokio::sync::Notify;

use super::codec;
use super::commit::{Committed, Fence, ParcelOp};
use super::keys::{PARTITIONS, PartitionKeys, Set, partition};
use super::{Op, Redis, ms};
use crate::engine::{Engine, JobState, Timestamp};
use crate::state::delivery::not_current;
use crate::state::step::{Event, Tally};
use crate::state::{DueJob, Expired, QueueRow, StateError};

/// How often a queue's waiter looks at the fleet's due jobs by itself.
pub const DUE_POLL: Duration = Duration::from_millis(50);

/// Partitions taken out of a hint at once.
const POP: usize = 64;
/// Leases expired per partition and call.
const EXPIRE_CHUNK: usize = 256;

const PRELUDE: &str = include_str!("lua/parcel_lib.lua");

/// The delivery scripts, each with the parcel prelude.
pub struct Scripts {
    pub carry: Script,
    claim: Script,
    expire: Script,
    lease: Script,
    pop_hint: Script,
}

impl Default for Scripts {
    fn default() -> Self {
        let with = |body: &str| Script::new(&format!("{PRELUDE}\n{body}"));
        Scripts {
            carry: with(include_str!("lua/carry.lua")),
            claim: with(include_str!("lua/claim.lua")),
            expire: with(include_str!("lua/expire.lua")),
            lease: with(include_str!("lua/lease.lua")),
            pop_hint: Script::new(include_str!("lua/pop_hint.lua")),
        }
    }
}

/// What this sidecar keeps of delivery besides the scripts.
#[derive(Default)]
pub struct Local {
    /// Per queue, what wakes this sidecar's waiters when it parks a job.
    signals: DashMap<String, Arc<Notify>>,
    /// What wakes the lease reaper.
    pub reaper: Arc<Notify>,
    /// Queues this sidecar has named in `P:queues`.
    known: DashMap<String, ()>,
    /// The fleet's payload bytes held, as of the last look.
    held: Arc<AtomicU64>,
    /// When the last reconcile ran (ms).
    reconciled: AtomicU64,
    /// Set by a report with a payload: the refresher then keeps `held` current.
    active: Arc<std::sync::atomic::AtomicBool>,
}

/// Keeps a sidecar's view of the fleet's payload bytes at most a second
/// old while it parks payloads (the bound is checked against it).
pub(super) async fn refresh_held(
    link: Arc<super::Link>,
    keys: super::Keys,
    held: Arc<AtomicU64>,
    active: Arc<std::sync::atomic::AtomicBool>,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        if active.load(Relaxed) {
            let keys = &keys;
            let link = &link;
            let sums = futures_util::future::try_join_all((0..PARTITIONS).map(|p| async move {
                link.query::<Option<i64>>(
                    Op::Delivery,
                    redis::cmd("HGET")
                        .arg(&keys.partition(p).queue_counts)
                        .arg("\0b"),
                )
                .await
            }))
            .await;
            if let Ok(s) = sums {
                held.store(s.into_iter().flatten().sum::<i64>().max(0) as u64, Relaxed);
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

impl Local {
    /// The shared parts the refresher needs.
    pub(super) fn held_parts(&self) -> (Arc<AtomicU64>, Arc<std::sync::atomic::AtomicBool>) {
        (self.held.clone(), self.active.clone())
    }
}

/// The carry script's arguments after commit.lua's seven.
pub(super) fn carry_args(
    inv: &mut super::eval::Eval<'_>,
    pk: &PartitionKeys,
    op: ParcelOp<'_>,
    fence: Fence<'_>,
    now: Timestamp,
) {
    inv.key(&pk.parcels).key(&pk.leases).key(&pk.queue_counts);
    inv.arg(&pk.queue_prefix).arg(match fence {
        Fence::Unchecked => "",
        Fence::Free => "-",
        Fence::Lease(l) => l,
    });
    let (letter, due, queue, payload) = match op {
        ParcelOp::Settle {
            due,
            queue,
            payload,
        } => ("s", due, queue, payload),
        ParcelOp::Unindex => ("u", None, None, None),
        ParcelOp::Kill => ("k", None, None, None),
        ParcelOp::Remove | ParcelOp::None => ("x", None, None, None),
    };
    inv.arg(letter)
        .arg(due.map_or(String::new(), |t| t.0.to_string()))
        .arg(queue.unwrap_or(""))
        .arg(if payload.is_some() { "1" } else { "" })
        .arg(payload.unwrap_or(&[]))
        .arg(now.0);
}

/// A parcel as `dv` keeps it (see lua/parcel_lib.lua).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Parcel {
    index: u8,
    deliveries: u32,
    lease: String,
    lease_until: u64,
    queue: String,
    payload: Vec<u8>,
}

impl Parcel {
    fn parse(v: &[u8]) -> Option<Parcel> {
        let mut parts = v.splitn(8, |b| *b == 0);
        let mut next = || parts.next();
        let text = |b: &[u8]| std::str::from_utf8(b).ok().map(str::to_string);
        let num = |b: &[u8]| std::str::from_utf8(b).ok()?.parse::<u64>().ok();
        let index = *next()?.first()?;
        let _unsettled = next()?;
        let deliveries = u32::try_from(num(next()?)?).ok()?;
        let lease = text(next()?)?;
        let lease_until = num(next()?)?;
        let _due = next()?;
        let queue = text(next()?)?;
        let payload = next().unwrap_or_default().to_vec();
        Some(Parcel {
            index,
            deliveries,
            lease,
            lease_until,
            queue,
            payload,
        })
    }
}

fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}

fn string(v: &Value) -> Option<String> {
    bytes(v).and_then(|b| String::from_utf8(b).ok())
}

fn number(v: &Value) -> Option<u64> {
    string(v)
        .and_then(|s| s.parse::<f64>().ok())
        .map(|f| f as u64)
}

fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) => a,
        _ => &[],
    }
}

fn malformed(what: &str, v: &impl std::fmt::Debug) -> StateError {
    StateError::Malformed(format!("delivery: unexpected answer from {what}: {v:?}"))
}

/// A lease id prefix unique to one claim.
fn lease_prefix() -> String {
    format!("{:012x}-", rand::random::<u64>() >> 16)
}

impl Redis {
    /// After a commit parked a job on `queue` in partition `p`, due at
    /// `due`: the queue's hint lowered, the queue named, local waiters woken.
    ///
    /// The hint is set off the caller's path (the report has its answer;
    /// what a crash loses of it, the reconcile puts back), and this
    /// sidecar's waiters are woken once it is set.
    pub(super) async fn parked(&self, queue: &str, p: usize, due: u64) {
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(self.keys.queue_hint(queue))
            .arg("LT")
            .arg(due)
            .arg(p);
        let (link, signal, name) = (self.link.clone(), self.due_signal(queue), queue.to_string());
        tokio::spawn(async move {
            if let Err(e) = link.query::<i64>(Op::Delivery, &cmd).await {
                tracing::debug!(queue = name, error = %e, "a due hint was not set; the sweeper's reconcile sets it");
            }
            signal.notify_waiters();
        });
        if !self.delivery.known.contains_key(queue) {
            let added = self
                .link
                .query::<i64>(
                    Op::Delivery,
                    redis::cmd("SADD").arg(self.keys.queues()).arg(queue),
                )
                .await;
            if added.is_ok() {
                self.delivery.known.insert(queue.to_string(), ());
            }
        }
    }

    /// What wakes this sidecar's waiters of `queue`.
    pub fn due_signal(&self, queue: &str) -> Arc<Notify> {
        if let Some(n) = self.delivery.signals.get(queue) {
            return n.clone();
        }
        self.delivery
            .signals
            .entry(queue.to_string())
            .or_default()
            .clone()
    }

    pub fn lease_signal(&self) -> Arc<Notify> {
        self.delivery.reaper.clone()
    }

    /// Takes partitions out of a hint whose time is by `now`.
    async fn pop_hint(&self, key: &str, now: Timestamp) -> Result<Vec<(usize, u64)>, StateError> {
        let got: Vec<Value> = self
            .link
            .invoke(
                Op::Delivery,
                self.delivery_scripts()
                    .pop_hint
                    .key(key)
                    .arg(now.0)
                    .arg(POP),
            )
            .await?;
        Ok(got
            .chunks(2)
            .filter_map(|c| {
                let p = string(c.first()?)?.parse::<usize>().ok()?;
                Some((p % PARTITIONS, number(c.get(1)?)?))
            })
            .collect())
    }

    /// Puts partitions back into a hint, each at its time unless it is
    /// there sooner.
    async fn put_back(&self, key: &str, parts: &[(usize, u64)]) {
        if parts.is_empty() {
            return;
        }
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(key).arg("LT");
        for (p, t) in parts {
            cmd.arg(*t).arg(*p);
        }
        if let Err(e) = self.link.query::<i64>(Op::Delivery, &cmd).await {
            tracing::debug!(key, error = %e, "a hint was not put back; the sweeper's reconcile does");
        }
    }

    fn delivery_scripts(&self) -> &Scripts {
        &self.parcels
    }

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
    pub(super) async fn view_of(
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
    pub(super) async fn lease_of(&self, job_id: &str) -> Result<Option<String>, StateError> {
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
        super::cas::until_applied(
            || format!("job {id:?}"),
            (stripe, Some(found)),
            move |(mut stripe, found)| async move {
                let Some(f) = found else {
                    return Ok(super::cas::Tried::Applied(None));
                };
                if f.stored.job.state != JobState::Retrying {
                    return Ok(super::cas::Tried::Applied(None));
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
                        super::cas::Tried::Applied(Some(Expired {
                            job_id: id.to_string(),
                            job_type: new.job_type.clone(),
                            queue: String::new(),
                            died: Some((self.labels.job_types.get(&new.label), job.last_decision)),
                        }))
                    }
                    Committed::Fenced { .. } => super::cas::Tried::Applied(None),
                    Committed::Conflict(now_there) => {
                        stripe.saw(id, &now_there);
                        let found = self.current(engine, id, now_there)?;
                        super::cas::Tried::Conflict((stripe, found))
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
    pub(super) async fn reconcile(&self, now: Timestamp) -> Result<(), StateError> {
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
