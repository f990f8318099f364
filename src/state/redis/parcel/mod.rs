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

mod claims;
mod expiry;
mod queues;

/// How often a queue's waiter looks at the fleet's due jobs by itself.
pub const DUE_POLL: Duration = Duration::from_millis(50);

/// Partitions taken out of a hint at once.
const POP: usize = 64;
/// Leases expired per partition and call.
const EXPIRE_CHUNK: usize = 256;

const PRELUDE: &str = include_str!("../lua/parcel_lib.lua");

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
            carry: with(include_str!("../lua/carry.lua")),
            claim: with(include_str!("../lua/claim.lua")),
            expire: with(include_str!("../lua/expire.lua")),
            lease: with(include_str!("../lua/lease.lua")),
            pop_hint: Script::new(include_str!("../lua/pop_hint.lua")),
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
}
