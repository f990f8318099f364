//! The bounds of `[state]` in fleet mode, applied by one sidecar at a time.
//!
//! Whoever holds the fleet's sweeper lease (`P:sweeper`, renewed every
//! round, taken over when it lapses) removes, partition by partition: dead
//! jobs past `dead_ttl` (from the dead-time index), the oldest dead jobs
//! past `max_dead_jobs` (fleet-wide), retrying and cancelled jobs idle past
//! `idle_ttl` (walking each set a bounded stretch per round, so a large
//! fleet state is covered over a few rounds rather than in one long pause),
//! and the least recently updated jobs past `max_jobs`. Each removal is the
//! same compare-and-set as any other change, with its counts.

use std::sync::{Mutex, PoisonError};

use futures_util::future::try_join_all;

use super::codec;
use super::commit::Committed;
use super::keys::{PARTITIONS, Set};
use super::list::Scan;
use super::records::Found;
use super::{Op, Redis, ms};
use crate::engine::{Engine, Timestamp};
use crate::state::{Evictions, StateError};

/// Members the idle walk looks at per set and round.
const WALK: usize = 1024;
/// Jobs removed per call for a bound.
const CHUNK: usize = 256;

/// Where the idle walk stopped in each set.
#[derive(Default)]
pub struct Cursors {
    at: Mutex<Vec<String>>,
}

impl Cursors {
    fn get(&self, i: usize) -> String {
        let at = self.at.lock().unwrap_or_else(PoisonError::into_inner);
        at.get(i).cloned().unwrap_or_default()
    }

    fn set(&self, i: usize, cursor: String) {
        let mut at = self.at.lock().unwrap_or_else(PoisonError::into_inner);
        if at.len() <= i {
            at.resize(i + 1, String::new());
        }
        at[i] = cursor;
    }
}

impl Redis {
    /// Takes or renews the fleet's sweeper lease for `hold`.
    async fn lease(&self, me: &str, hold: std::time::Duration) -> Result<bool, StateError> {
        let script = redis::Script::new(
            r"
            local v = redis.call('GET', KEYS[1])
            if v == ARGV[1] then
              redis.call('PEXPIRE', KEYS[1], ARGV[2])
              return 1
            end
            if v then return 0 end
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
            return 1",
        );
        let held: i64 = self
            .link
            .invoke(
                Op::Sweep,
                script.key(self.keys.sweeper()).arg(me).arg(ms(hold).max(1)),
            )
            .await?;
        Ok(held == 1)
    }

    /// One round of the bounds, if this sidecar holds the lease.
    pub async fn sweep(
        &self,
        engine: &Engine,
        me: &str,
        now: Timestamp,
    ) -> Result<Evictions, StateError> {
        let hold = (self.limits.sweep_interval() * 3).max(std::time::Duration::from_secs(2));
        if !self.lease(me, hold).await? {
            return Ok(Evictions::default());
        }
        let mut ev = Evictions::default();
        let dead_cutoff = now.0.saturating_sub(ms(self.limits.dead_ttl));
        let idle_cutoff = now.0.saturating_sub(ms(self.limits.idle_ttl));
        for p in 0..PARTITIONS {
            ev.dead_ttl += self.expire_dead(engine, p, dead_cutoff, now).await?;
            for (i, set) in [Set::Retrying, Set::Cancelled].into_iter().enumerate() {
                ev.idle_ttl += self
                    .expire_idle(engine, p, set, 2 * p + i, idle_cutoff, now)
                    .await?;
            }
        }
        // The bounds count, then remove: two sidecars doing it at once would
        // both remove what one count found too many. On a slow machine a
        // round can outlive its hold and another sidecar take the lease
        // over, so it is renewed before each, and a sidecar that lost it
        // stops.
        if !self.lease(me, hold).await? {
            return Ok(ev);
        }
        ev.dead_limit += self.bound_dead(engine, now).await?;
        if !self.lease(me, hold).await? {
            return Ok(ev);
        }
        ev.capacity += self.bound_jobs(engine, now).await?;
        // Delivery's hints made whole again (see `parcel`).
        self.reconcile(now).await?;
        Ok(ev)
    }

    /// Removes members (as read) with their counts; how many went.
    async fn remove_members(
        &self,
        engine: &Engine,
        set: Set,
        members: Vec<Vec<u8>>,
        now: Timestamp,
    ) -> Result<u64, StateError> {
        let mut n = 0;
        for member in members {
            // A member that does not decode is left for an operator
            // (DeleteJob): its counts cannot be told.
            let Ok(stored) = codec::decode(&member, engine, &self.labels) else {
                continue;
            };
            let found = Found {
                set,
                member,
                stored,
            };
            // Changed since it was read: it is no longer what was to go.
            if matches!(self.remove(&found, now).await?, Committed::Applied(_)) {
                n += 1;
            }
        }
        Ok(n)
    }

    async fn expire_dead(
        &self,
        engine: &Engine,
        p: usize,
        cutoff: u64,
        now: Timestamp,
    ) -> Result<u64, StateError> {
        let pk = self.keys.partition(p);
        let ids: Vec<String> = self
            .link
            .query(
                Op::Sweep,
                redis::cmd("ZRANGEBYSCORE")
                    .arg(&pk.dead_times)
                    .arg("-inf")
                    .arg(cutoff)
                    .arg("LIMIT")
                    .arg(0)
                    .arg(CHUNK),
            )
            .await?;
        self.remove_dead_ids(engine, p, &ids, now).await
    }

    async fn remove_dead_ids(
        &self,
        engine: &Engine,
        p: usize,
        ids: &[String],
        now: Timestamp,
    ) -> Result<u64, StateError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let pk = self.keys.partition(p);
        let mut pipe = redis::pipe();
        for id in ids {
            let lo = [b"[", id.as_bytes(), b"\0"].concat();
            let hi = [b"(", id.as_bytes(), b"\x01"].concat();
            pipe.cmd("ZRANGEBYLEX")
                .arg(&pk.dead)
                .arg(lo)
                .arg(hi)
                .arg("LIMIT")
                .arg(0)
                .arg(1);
        }
        let members: Vec<Vec<Vec<u8>>> = self.link.pipeline(Op::Sweep, &pipe).await?;
        self.remove_members(
            engine,
            Set::Dead,
            members.into_iter().flatten().collect(),
            now,
        )
        .await
    }

    async fn expire_idle(
        &self,
        engine: &Engine,
        p: usize,
        set: Set,
        cursor_index: usize,
        cutoff: u64,
        now: Timestamp,
    ) -> Result<u64, StateError> {
        let key = self.keys.partition(p).set(set).to_string();
        let cursor = self.sweep.get(cursor_index);
        let (next, found) = self
            .scan(
                Op::Sweep,
                &key,
                &cursor,
                Scan {
                    matches: CHUNK,
                    job_type: "",
                    budget: WALK,
                    updated_by: Some(cutoff),
                },
            )
            .await?;
        self.sweep.set(cursor_index, next);
        self.remove_members(engine, set, found, now).await
    }

    /// The oldest dead jobs past `max_dead_jobs`, fleet-wide.
    async fn bound_dead(&self, engine: &Engine, now: Timestamp) -> Result<u64, StateError> {
        let max = self.limits.max_dead_jobs as u64;
        let cards = try_join_all((0..PARTITIONS).map(|p| async move {
            self.link
                .query::<u64>(
                    Op::Sweep,
                    redis::cmd("ZCARD").arg(&self.keys.partition(p).dead_times),
                )
                .await
        }))
        .await?;
        let total: u64 = cards.iter().sum();
        if total <= max {
            return Ok(0);
        }
        let over = usize::try_from(total - max)
            .unwrap_or(usize::MAX)
            .min(10 * CHUNK);
        // The `over` oldest of each partition hold the `over` oldest of all.
        // Each partition's count is read again with its oldest, atomically:
        // counted at one moment and picked at another, a sidecar that lost
        // the lease mid-round (another removing meanwhile) would pick jobs
        // past the bound. From one view per partition, every sweeper removes
        // a prefix of the oldest, and prefixes overlap instead of adding up.
        let heads = try_join_all((0..PARTITIONS).map(|p| async move {
            let key = &self.keys.partition(p).dead_times;
            let mut pipe = redis::pipe();
            pipe.atomic()
                .cmd("ZCARD")
                .arg(key)
                .cmd("ZRANGE")
                .arg(key)
                .arg(0)
                .arg(over - 1)
                .arg("WITHSCORES");
            self.link
                .pipeline::<(u64, Vec<(String, u64)>)>(Op::Sweep, &pipe)
                .await
                .map(|(card, v)| (card, v.into_iter().map(move |(id, t)| (t, p, id))))
        }))
        .await?;
        let total: u64 = heads.iter().map(|(card, _)| card).sum();
        let over = usize::try_from(total.saturating_sub(max))
            .unwrap_or(usize::MAX)
            .min(over);
        let mut oldest: Vec<(u64, usize, String)> =
            heads.into_iter().flat_map(|(_, h)| h).collect();
        oldest.sort();
        oldest.truncate(over);
        let mut n = 0;
        for p in 0..PARTITIONS {
            let ids: Vec<String> = oldest
                .iter()
                .filter(|(_, q, _)| *q == p)
                .map(|(_, _, id)| id.clone())
                .collect();
            n += self.remove_dead_ids(engine, p, &ids, now).await?;
        }
        Ok(n)
    }

    /// The least recently updated jobs past `max_jobs`, down to 95 % of it.
    async fn bound_jobs(&self, engine: &Engine, now: Timestamp) -> Result<u64, StateError> {
        let max = self.limits.max_jobs as u64;
        let [(_, r), (_, d), (_, c)] = self.gauges().await?.jobs;
        let total = r + d + c;
        if total <= max {
            return Ok(0);
        }
        let target = max - max / 20;
        // Every job's last update, to find the cut-off: a walk of the whole
        // state, which only a passed bound (a flood of new ids) triggers.
        let mut times: Vec<u64> = Vec::new();
        for p in 0..PARTITIONS {
            for set in Set::ALL {
                let key = self.keys.partition(p).set(set).to_string();
                let mut cursor = String::new();
                loop {
                    let (next, members) = self.walk(&key, &cursor, u64::MAX).await?;
                    times.extend(members.iter().filter_map(|m| updated_of(m)));
                    if next.is_empty() {
                        break;
                    }
                    cursor = next;
                }
            }
        }
        // Sized from the walk, not from the gauges read before it: another
        // sweeper (one whose lease lapsed) may have trimmed meanwhile, and
        // two sizes from two moments would trim twice (as in `bound_dead`).
        let walked = times.len() as u64;
        if walked <= max {
            return Ok(0);
        }
        let n = usize::try_from(walked - target)
            .unwrap_or(usize::MAX)
            .min(times.len());
        let (_, cutoff, _) = times.select_nth_unstable(n - 1);
        let cutoff = *cutoff;
        drop(times);
        let mut removed = 0u64;
        for p in 0..PARTITIONS {
            for set in Set::ALL {
                let key = self.keys.partition(p).set(set).to_string();
                let mut cursor = String::new();
                loop {
                    let (next, members) = self.walk(&key, &cursor, cutoff).await?;
                    let room = (n as u64).saturating_sub(removed) as usize;
                    let members: Vec<Vec<u8>> = members.into_iter().take(room).collect();
                    removed += self.remove_members(engine, set, members, now).await?;
                    if next.is_empty() || removed >= n as u64 {
                        break;
                    }
                    cursor = next;
                }
            }
        }
        Ok(removed)
    }

    /// One stretch of a set: members updated at or before `cutoff`.
    async fn walk(
        &self,
        key: &str,
        cursor: &str,
        cutoff: u64,
    ) -> Result<(String, Vec<Vec<u8>>), StateError> {
        self.scan(
            Op::Sweep,
            key,
            cursor,
            Scan {
                matches: WALK,
                job_type: "",
                budget: WALK,
                updated_by: Some(cutoff.min(9_999_999_999_999)),
            },
        )
        .await
    }
}

/// A member's last update (ms), from its fixed-width prefix.
fn updated_of(member: &[u8]) -> Option<u64> {
    let z = member.iter().position(|b| *b == 0)?;
    std::str::from_utf8(member.get(z + 1..z + 14)?)
        .ok()?
        .parse()
        .ok()
}
