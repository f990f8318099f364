//! Reading a job, and the lock stripes: reports of one job in one sidecar
//! queue on its stripe, which remembers the record this sidecar last saw of
//! each of its recent jobs (a report of such a job skips the read).

use super::codec::{self, Stored};
use super::keys::{PARTITIONS, PartitionKeys, Set};
use super::{Op, Redis};
use crate::engine::Engine;
use crate::state::StateError;

/// Lock stripes: reports of one job in one sidecar wait for each other.
pub(super) const STRIPES: usize = 1024;

/// A job as read: where it is, the exact member (for the compare-and-set),
/// and decoded.
pub(super) struct Found {
    pub(super) set: Set,
    pub(super) member: Vec<u8>,
    pub(super) stored: Stored,
}

/// Records remembered per stripe, at most (the oldest-inserted go first).
pub(super) const CACHED_PER_STRIPE: usize = 32;

/// One lock stripe: the reports of its jobs queue on it, and it remembers
/// the record this sidecar last saw of each of its recent jobs.
#[derive(Default)]
pub(super) struct Stripe {
    pub(super) seen: std::collections::VecDeque<(Box<str>, Set, Vec<u8>)>,
}

impl Stripe {
    pub(super) fn get(&self, id: &str) -> Option<(Set, &[u8])> {
        self.seen
            .iter()
            .find(|(i, _, _)| &**i == id)
            .map(|(_, s, m)| (*s, m.as_slice()))
    }

    /// Remembers what `id` is now (`None`: gone).
    pub(super) fn set(&mut self, id: &str, now: Option<(Set, &[u8])>) {
        self.seen.retain(|(i, _, _)| &**i != id);
        if let Some((set, member)) = now {
            if self.seen.len() >= CACHED_PER_STRIPE {
                self.seen.pop_front();
            }
            self.seen.push_back((id.into(), set, member.to_vec()));
        }
    }

    /// Remembers what a conflicting commit found `id` to be.
    pub(super) fn saw(&mut self, id: &str, there: &Option<(Set, Vec<u8>)>) {
        self.set(id, there.as_ref().map(|(s, m)| (*s, m.as_slice())));
    }
}

/// The lock stripe of `job_id`.
pub fn stripe_of(job_id: &str) -> usize {
    let h = crc32fast::hash(job_id.as_bytes()) as usize;
    (h / PARTITIONS) % STRIPES
}

impl Redis {
    pub(super) fn stripe(&self, job_id: &str) -> &tokio::sync::Mutex<Stripe> {
        &self.stripes[stripe_of(job_id)]
    }

    // ---- labels ----------------------------------------------------------

    pub(super) async fn read(
        &self,
        engine: &Engine,
        pk: &PartitionKeys,
        id: &str,
    ) -> Result<Option<Found>, StateError> {
        let lo = [b"[", id.as_bytes(), b"\0"].concat();
        let hi = [b"(", id.as_bytes(), b"\x01"].concat();
        let mut pipe = redis::pipe();
        for s in Set::ALL {
            pipe.cmd("ZRANGEBYLEX")
                .arg(pk.set(s))
                .arg(&lo)
                .arg(&hi)
                .arg("LIMIT")
                .arg(0)
                .arg(1);
        }
        let found: Vec<Vec<Vec<u8>>> = self.link.pipeline(Op::Read, &pipe).await?;
        for (set, members) in Set::ALL.into_iter().zip(found) {
            if let Some(member) = members.into_iter().next() {
                return self.found(engine, id, set, member).map(Some);
            }
        }
        Ok(None)
    }

    pub(super) fn found(
        &self,
        engine: &Engine,
        id: &str,
        set: Set,
        member: Vec<u8>,
    ) -> Result<Found, StateError> {
        let stored = codec::decode(&member, engine, &self.labels)
            .map_err(|e| StateError::Malformed(format!("job {id:?}: {e}")))?;
        Ok(Found {
            set,
            member,
            stored,
        })
    }

    /// The job as this sidecar last saw it, if the stripe remembers; else
    /// as read now.
    pub(super) async fn recalled(
        &self,
        engine: &Engine,
        stripe: &Stripe,
        id: &str,
    ) -> Result<Option<Found>, StateError> {
        match stripe.get(id) {
            Some((set, member)) => self.found(engine, id, set, member.to_vec()).map(Some),
            None => self.read(engine, self.keys.of_job(id), id).await,
        }
    }

    /// What a conflict returned, decoded.
    pub(super) fn current(
        &self,
        engine: &Engine,
        id: &str,
        now: Option<(Set, Vec<u8>)>,
    ) -> Result<Option<Found>, StateError> {
        now.map(|(set, member)| self.found(engine, id, set, member))
            .transpose()
    }
}
