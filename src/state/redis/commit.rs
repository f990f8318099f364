//! The compare-and-set: a job's new record and the counters the change
//! moves, in one script on the job's partition.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use super::keys::{self, PARTITIONS, Set, counter_field, gauge_field, retrying_field};
use super::records::Found;
use super::{Op, Redis, set_of};
use crate::engine::{Job, JobState, Timestamp};
use crate::state::StateError;
use crate::state::step::{self, Tally};

/// What a compare-and-set did.
pub(super) enum Committed {
    /// Applied; the job's open batch, if it has one.
    Applied(Option<String>),
    /// The job was not as expected: what it is now (`None`: gone).
    Conflict(Option<(Set, Vec<u8>)>),
    /// Delivery's fence refused: the lease is not the job's current one
    /// (`held`: the job is handed out under another). Nothing changed.
    Fenced { held: bool },
}

/// What a commit does to the job's delivery parcel (`super::parcel`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum ParcelOp<'a> {
    /// The job has no parcel and gets none: a plain commit.
    #[default]
    None,
    /// A decided report or a manual retry: no lease, parked until `due`
    /// (`None`: due nowhere, dead or cancelled); a new queue or payload if given.
    Settle {
        due: Option<Timestamp>,
        queue: Option<&'a str>,
        payload: Option<&'a [u8]>,
    },
    /// Cancelled: due nowhere, its lease kept.
    Unindex,
    /// Dead of the delivery limit: only while the lease of the fence ran out by `now`.
    Kill,
    /// The job is removed.
    Remove,
}

/// Delivery's fence: which lease the job must hold for the commit to apply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Fence<'a> {
    #[default]
    Unchecked,
    /// It must not be handed out.
    Free,
    Lease(&'a str),
}

/// What a commit changes besides the record: the counts of the job's
/// `label` that `tally` moves, (from `job`'s time) the dead-time index,
/// and the parcel.
#[derive(Clone, Copy)]
pub(super) struct Change<'a> {
    pub label: &'a str,
    pub tally: &'a Tally,
    /// The job as written (`None`: removed).
    pub job: Option<&'a Job>,
    pub parcel: ParcelOp<'a>,
    pub fence: Fence<'a>,
}

/// What a commit does to the dead-time index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DeadTime {
    Unchanged,
    Removed,
    Died(Timestamp),
}

impl DeadTime {
    fn of(tally: &Tally, job: Option<&Job>) -> DeadTime {
        let dead = |c: Option<step::Counted>| c.is_some_and(|c| c.state == JobState::Dead);
        match (dead(tally.from), dead(tally.to)) {
            (false, true) => DeadTime::Died(job.map_or(Timestamp(0), |j| j.updated_at)),
            (true, false) => DeadTime::Removed,
            _ => DeadTime::Unchanged,
        }
    }

    fn arg(self) -> String {
        match self {
            DeadTime::Unchanged => String::new(),
            DeadTime::Removed => "-".into(),
            DeadTime::Died(t) => t.0.to_string(),
        }
    }
}

/// Which hash a counter is in: the commit script's KEYS index.
pub(super) const GAUGES: u8 = 5;
pub(super) const COUNTERS: u8 = 6;

impl Redis {
    /// The counter increments a change of a job counted under `label` makes.
    fn counter_ops(&self, label: &str, tally: &Tally) -> Vec<(u8, String, i64)> {
        let mut ops: Vec<(u8, String, i64)> = Vec::new();
        let mut add = |key: u8, field: String, n: i64| match ops
            .iter_mut()
            .find(|(k, f, _)| *k == key && *f == field)
        {
            Some(op) => op.2 += n,
            None => ops.push((key, field, n)),
        };
        if tally.moves() {
            for (c, n) in [(tally.from, -1), (tally.to, 1)] {
                let Some(c) = c else { continue };
                add(GAUGES, gauge_field(label, set_of(c.state)), n);
                if let Some(t) = c.retrying_target() {
                    add(GAUGES, retrying_field(self.target_name(t)), n);
                }
            }
        }
        if let Some(e) = tally.event {
            let which = match e {
                step::Event::FirstTrySuccess => 'f',
                step::Event::SucceededAfterRetry => 'a',
                step::Event::GaveUp => 'g',
            };
            add(COUNTERS, counter_field(label, which), 1);
        }
        ops.retain(|(_, _, n)| *n != 0);
        ops
    }

    /// How long a partition's keys are kept after a write, as a backstop
    /// for a fleet that is gone (the sweeper applies the TTLs job by job).
    pub(super) fn keep_ms(&self, partition: usize, now: Timestamp) -> u64 {
        const REFRESH_MS: u64 = 60_000;
        let longest = self
            .limits
            .idle_ttl
            .max(self.limits.dead_ttl)
            .max(self.batch_limits.batch_ttl);
        let keep = u64::try_from(longest.as_millis())
            .unwrap_or(u64::MAX / 2)
            .saturating_add(2 * REFRESH_MS);
        let last = &self.kept_until[partition % PARTITIONS];
        let prev = last.load(Relaxed);
        if now.0.saturating_sub(prev) < REFRESH_MS {
            return 0;
        }
        last.store(now.0, Relaxed);
        keep
    }

    /// One compare-and-set: `old` expected, `new` written (`None`: removed),
    /// with the counters and dead-time index `change` moves.
    pub(super) async fn commit(
        &self,
        job_id: &str,
        old: Option<(Set, &[u8])>,
        new: Option<(Set, &[u8])>,
        change: Change<'_>,
        now: Timestamp,
    ) -> Result<Committed, StateError> {
        let counters = self.counter_ops(change.label, change.tally);
        let dead = DeadTime::of(change.tally, change.job);
        let p = keys::partition(job_id);
        let pk = self.keys.partition(p);
        let carry = change.parcel != ParcelOp::None;
        let mut inv = super::eval::Eval::new(if carry {
            &self.parcels.carry
        } else {
            &self.commit_script
        });
        for k in pk.all() {
            inv.key(k);
        }
        inv.arg(job_id)
            .arg(old.map_or("", |(s, _)| s.letter()))
            .arg(old.map_or(&[][..], |(_, m)| m))
            .arg(new.map_or("", |(s, _)| s.letter()))
            .arg(new.map_or(&[][..], |(_, m)| m))
            .arg(dead.arg())
            .arg(self.keep_ms(p, now));
        if carry {
            super::parcel::carry_args(&mut inv, pk, change.parcel, change.fence, now);
        }
        for (key, field, n) in &counters {
            inv.arg(*key).arg(field).arg(*n);
        }
        let started = Instant::now();
        let reply: Vec<redis::Value> = self.link.commit(Op::Commit, &inv).await?;
        let text = |v: Option<&redis::Value>| match v {
            Some(redis::Value::BulkString(b)) => Some(b.clone()),
            Some(redis::Value::SimpleString(s)) => Some(s.clone().into_bytes()),
            _ => None,
        };
        match reply.first() {
            Some(redis::Value::Int(1)) => {
                if carry && let (Some(queue), Some(due)) = (text(reply.get(2)), text(reply.get(3)))
                {
                    let queue = String::from_utf8_lossy(&queue).into_owned();
                    let due = String::from_utf8_lossy(&due).parse().unwrap_or(now.0);
                    self.parked(&queue, p, due).await;
                }
                Ok(Committed::Applied(
                    text(reply.get(1)).map(|b| String::from_utf8_lossy(&b).into_owned()),
                ))
            }
            Some(redis::Value::Int(2)) => Ok(Committed::Fenced {
                held: text(reply.get(1)).is_some_and(|w| w == b"other" || w == b"held"),
            }),
            Some(redis::Value::Int(0)) => {
                self.link.conflict(started.elapsed());
                let letter = text(reply.get(2)).map(|b| String::from_utf8_lossy(&b).into_owned());
                let now = match (
                    letter.as_deref().and_then(Set::from_letter),
                    text(reply.get(3)),
                ) {
                    (Some(set), Some(member)) => Some((set, member)),
                    _ => None,
                };
                Ok(Committed::Conflict(now))
            }
            _ => Err(StateError::Malformed(format!(
                "job {job_id:?}: unexpected answer from the commit script: {reply:?}"
            ))),
        }
    }

    /// Writes `new` in place of `old` (as read) with the counts `tally`
    /// moves: the result, and the set and member written.
    pub(super) async fn commit_stored(
        &self,
        engine: &crate::engine::Engine,
        old: Option<(Set, &[u8])>,
        new: &super::codec::Stored,
        tally: &Tally,
        (parcel, fence): (ParcelOp<'_>, Fence<'_>),
        now: Timestamp,
    ) -> Result<(Committed, Set, Vec<u8>), StateError> {
        let member = super::codec::encode(new, engine, &self.labels);
        let set = set_of(new.job.state);
        let change = Change {
            label: &new.label,
            tally,
            job: Some(&new.job),
            parcel,
            fence,
        };
        let committed = self
            .commit(&new.id, old, Some((set, &member)), change, now)
            .await?;
        Ok((committed, set, member))
    }

    // ---- budgets ------------------------------------------------------------

    /// Removes a job as read, with its counts.
    pub(super) async fn remove(
        &self,
        found: &Found,
        now: Timestamp,
    ) -> Result<Committed, StateError> {
        let tally = step::removal(&found.stored.job);
        self.commit(
            &found.stored.id,
            Some((found.set, &found.member)),
            None,
            Change {
                label: &found.stored.label,
                tally: &tally,
                job: None,
                parcel: if found.stored.parcel {
                    ParcelOp::Remove
                } else {
                    ParcelOp::None
                },
                fence: Fence::Unchecked,
            },
            now,
        )
        .await
    }
}
