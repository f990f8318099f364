//! The key layout in Redis.
//!
//! Jobs are spread over `PARTITIONS` partitions by a stable hash of their
//! id. Every key of one partition carries the same hash tag (`{p07}`), so
//! on a Redis Cluster a partition lives in one slot: each step on a job —
//! the compare-and-set of its record together with the counters it moves —
//! is one atomic script on one node. Per partition:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P:{pNN}:r`, `:d`, `:c` | sorted set, all scores 0 | the retrying, dead and cancelled jobs: each member is a job's whole record (`codec`), ordered by job id |
//! | `P:{pNN}:dt` | sorted set | dead job ids, scored by the time they died (`dead_ttl`, `max_dead_jobs`) |
//! | `P:{pNN}:g` | hash | gauges: jobs by job-type label and state; jobs waiting in backoff by target |
//! | `P:{pNN}:n` | hash | counters that only grow: first-try successes, successes after retry, give-ups by job-type label |
//! | `P:{pNN}:jb` | hash | job id → the open batch it belongs to |
//! | `P:{pNN}:dv` | hash | delivery: job id → its parcel (where it stands, its queue, its payload; `parcel`) |
//! | `P:{pNN}:q:<queue>` | sorted set | delivery: the queue's parked jobs of the partition, scored by due time |
//! | `P:{pNN}:ls` | sorted set | delivery: handed-out jobs, scored by the end of their lease |
//! | `P:{pNN}:qn` | hash | delivery: per queue, handed-out jobs and payload bytes; all payload bytes |
//!
//! Delivery's hints, outside the partitions: `P:{q:<queue>}:due` (per
//! queue: partition → a time by which it may have a due job; never later
//! than its first), `P:leases` (the same for leases) and `P:queues` (every
//! queue a job was parked on). A claimer reads a hint, not 64 partitions.
//!
//! Outside the partitions: `P:{b:<batch>}:*` (one batch, its own slot),
//! `P:{t:<target>}:b` (one target's budget), `P:batches` (batches by last
//! activity), `P:labels:*` (the fleet's label registry), `P:layout`,
//! `P:sweeper` (the lease of the one sidecar that applies the bounds),
//! `P:pauses` (operators' pauses) and `P:events` (recent events, while some
//! sidecar has a watcher: `P:events:watched`).
//!
//! A job is a member, not a key of its own: a key with a TTL plus an index
//! entry for `ListJobs` took 512 bytes a job in Redis 7 (measured at 1 M
//! jobs), a member 350; and an index entry cannot go stale behind a key's
//! expiry. The TTLs are applied by the sweeper; as a backstop for a fleet
//! that is gone, a partition's keys expire a while after its last write.

/// Partitions of the job space. Part of the layout: a fleet's Redis holds
/// one value (`P:layout`), and a sidecar with another refuses it.
pub const PARTITIONS: usize = 64;

/// What `P:layout` holds for this layout.
pub const LAYOUT: &str = "retryd-state v1 partitions=64";

/// The partition of a job: a hash every sidecar computes alike.
pub fn partition(job_id: &str) -> usize {
    (crc32fast::hash(job_id.as_bytes()) as usize) % PARTITIONS
}

/// Which sorted set holds jobs of a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Set {
    Retrying,
    Dead,
    Cancelled,
}

impl Set {
    pub const ALL: [Set; 3] = [Set::Retrying, Set::Dead, Set::Cancelled];

    /// Its letter: the key suffix, and how scripts name it.
    pub fn letter(self) -> &'static str {
        match self {
            Set::Retrying => "r",
            Set::Dead => "d",
            Set::Cancelled => "c",
        }
    }

    pub fn from_letter(s: &str) -> Option<Set> {
        Set::ALL.into_iter().find(|x| x.letter() == s)
    }
}

/// The keys of one fleet (one `key_prefix`), each partition's made once.
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
    partitions: Vec<PartitionKeys>,
}

/// The keys of one partition, in the order the scripts take them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionKeys {
    pub retrying: String,
    pub dead: String,
    pub cancelled: String,
    pub dead_times: String,
    pub gauges: String,
    pub counters: String,
    pub batch_index: String,
    pub parcels: String,
    pub leases: String,
    pub queue_counts: String,
    /// `P:{pNN}:q:`, the start of the partition's queue keys.
    pub queue_prefix: String,
}

impl PartitionKeys {
    /// The partition's due index of `queue`.
    pub fn queue(&self, queue: &str) -> String {
        format!("{}{queue}", self.queue_prefix)
    }

    pub fn set(&self, s: Set) -> &str {
        match s {
            Set::Retrying => &self.retrying,
            Set::Dead => &self.dead,
            Set::Cancelled => &self.cancelled,
        }
    }

    /// KEYS of the commit script: r, d, c, dt, g, n, jb.
    pub fn all(&self) -> [&str; 7] {
        [
            &self.retrying,
            &self.dead,
            &self.cancelled,
            &self.dead_times,
            &self.gauges,
            &self.counters,
            &self.batch_index,
        ]
    }
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        let partitions = (0..PARTITIONS)
            .map(|p| {
                let k = |s: &str| format!("{prefix}:{{p{p:02}}}:{s}");
                PartitionKeys {
                    retrying: k("r"),
                    dead: k("d"),
                    cancelled: k("c"),
                    dead_times: k("dt"),
                    gauges: k("g"),
                    counters: k("n"),
                    batch_index: k("jb"),
                    parcels: k("dv"),
                    leases: k("ls"),
                    queue_counts: k("qn"),
                    queue_prefix: k("q:"),
                }
            })
            .collect();
        Keys {
            prefix: prefix.to_string(),
            partitions,
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn partition(&self, p: usize) -> &PartitionKeys {
        &self.partitions[p % PARTITIONS]
    }

    pub fn of_job(&self, job_id: &str) -> &PartitionKeys {
        self.partition(partition(job_id))
    }

    /// One target's retry budget.
    pub fn budget(&self, target: &str) -> String {
        format!("{}:{{t:{target}}}:b", self.prefix)
    }

    /// One target's circuit breaker.
    pub fn breaker(&self, target: &str) -> String {
        format!("{}:{{t:{target}}}:cb", self.prefix)
    }

    /// One batch: its pass book and its members (one slot).
    pub fn batch(&self, batch_id: &str) -> (String, String) {
        (
            format!("{}:{{b:{batch_id}}}:h", self.prefix),
            format!("{}:{{b:{batch_id}}}:m", self.prefix),
        )
    }

    /// Every batch by last activity (for `max_batches` and `batch_ttl`).
    pub fn batches(&self) -> String {
        format!("{}:batches", self.prefix)
    }

    pub fn job_type_labels(&self) -> String {
        format!("{}:labels:job_types", self.prefix)
    }

    pub fn target_labels(&self) -> String {
        format!("{}:labels:targets", self.prefix)
    }

    /// Delivery: which partitions may have a due job of `queue`, by when.
    pub fn queue_hint(&self, queue: &str) -> String {
        format!("{}:{{q:{queue}}}:due", self.prefix)
    }

    /// Delivery: which partitions may have a lease ending, by when.
    pub fn lease_hint(&self) -> String {
        format!("{}:leases", self.prefix)
    }

    /// Delivery: every queue a job was parked on.
    pub fn queues(&self) -> String {
        format!("{}:queues", self.prefix)
    }

    pub fn layout(&self) -> String {
        format!("{}:layout", self.prefix)
    }

    pub fn sweeper(&self) -> String {
        format!("{}:sweeper", self.prefix)
    }

    /// Operators' pauses: a hash of scope field → until and creation.
    pub fn pauses(&self) -> String {
        format!("{}:pauses", self.prefix)
    }

    /// The fleet's recent events (a capped stream), and the flag that says
    /// some sidecar has a watcher.
    pub fn events(&self) -> (String, String) {
        (
            format!("{}:events", self.prefix),
            format!("{}:events:watched", self.prefix),
        )
    }
}

/// Gauge field of a job-type label and state.
pub fn gauge_field(label: &str, s: Set) -> String {
    format!("{label}\0{}", s.letter())
}

/// Gauge field of a target's jobs waiting in backoff.
pub fn retrying_field(target: &str) -> String {
    format!("\0t{target}")
}

/// Counter field of a job-type label: `f` first-try successes, `a`
/// successes after retry, `g` give-ups.
pub fn counter_field(label: &str, which: char) -> String {
    format!("{label}\0{which}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_is_one_hash_tag_and_jobs_spread_over_all() {
        let keys = Keys::new("retryd");
        let k = keys.partition(7);
        for key in k.all() {
            assert!(key.starts_with("retryd:{p07}:"), "{key}");
        }
        let mut seen = [0usize; PARTITIONS];
        for i in 0..64_000 {
            seen[partition(&format!("job-{i}"))] += 1;
        }
        assert!(seen.iter().all(|n| (700..1300).contains(n)), "{seen:?}");
        // Stable across processes and versions: part of the layout.
        assert_eq!(partition("job-1"), partition("job-1"));
        assert_eq!(partition("invoice-42"), 27);
    }
}
