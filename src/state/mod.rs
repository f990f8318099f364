//! Where per-job state lives, behind one seam.
//!
//! A backend only stores and compares-and-sets; the report step itself
//! (load the job, let the pure engine decide, commit the change and its
//! counts) is written once, in `step`. Two backends:
//!
//! - `memory` (the default): a sharded in-process table of packed records,
//!   with snapshots to a file. One sidecar, one state.
//! - `redis` (fleet mode, `[state] backend = "redis"`): every sidecar of a
//!   fleet keeps its state in one Redis or Valkey, so that a job's next
//!   attempt may run beside any of them.
//!
//! `State` is an enum of the two, not a trait object: the hot path of the
//! memory backend stays a direct, inlinable call.

mod background;
pub mod batch_rules;
pub mod delivery;
mod fleet;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod fuzz;
mod memory;
mod operator;
pub mod pauses;
mod redis;
mod step;
mod stored_codes;
mod views;

use std::sync::Arc;

use thiserror::Error;

pub use crate::config::{BatchLimits, DeliverySettings, Limits};
use crate::engine::batch::{Batch, EndOfPass, PassStats};
use crate::engine::{Decision, Engine, FailureReport, JobState, PauseView, Policy};
use crate::engine::{TargetId, Timestamp};
use crate::labels::{LabelId, Labels};
pub use background::{Observer, StateGuard, Unobserved};
pub use batch_rules::BatchError;
pub use delivery::{Carry, DeliveryView, DueJob, Expired, QueueRow};
use fleet::Fleet;
pub use fleet::FleetEvents;
use memory::Memory;
#[doc(hidden)]
pub use memory::Store;
pub use step::budget_refused;

/// Which lock stripe a job's reports queue on in fleet mode, for the tests
/// that put many jobs on one: not part of the API.
#[doc(hidden)]
pub fn fleet_stripe_of(job_id: &str) -> usize {
    redis::stripe_of(job_id)
}

/// The in-process store on its own, for benchmarks (`retryd-bench`) and
/// fuzzing: not part of the API.
#[doc(hidden)]
pub mod in_process {
    pub use super::memory::Store;
    pub use super::memory::batches::Batches;
    pub use super::memory::snapshot::{load, write};
}
pub use memory::snapshot::{SnapshotError, Stats as SnapshotStats};
pub use redis::{Op as BackendOp, Outcome as BackendOutcome, TlsFiles};
pub use views::{
    BreakerRow, BudgetRow, Evictions, FailureOutcome, Gauges, JobView, Moved, Page, StatsRow,
    StoredError, SuccessOutcome, stats_with_total,
};

/// Longest error message prefix kept per job: a job must not pin an
/// unbounded amount of caller text in memory.
pub const MESSAGE_PREFIX: usize = 1024;

/// The longest prefix of `s` that is at most `max` bytes and ends on a character boundary.
pub fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// One validated `ReportFailure` (or `Explain`).
#[derive(Clone, Copy, Debug)]
pub struct FailureCall<'a> {
    pub job_id: &'a str,
    pub job_type: &'a str,
    pub target: &'a str,
    pub policy: &'a Policy,
    pub report: FailureReport<'a>,
    /// An operator's pause covering the job's type or target.
    pub pause: Option<PauseView>,
    /// Its payload, queue and lease, for delivery.
    pub carry: Carry<'a>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum StateError {
    #[error("no job {0:?}")]
    NotFound(String),
    #[error(
        "job {0:?} is dead: a dead job cannot be cancelled (RetryJob revives it, DeleteJob purges it)"
    )]
    Dead(String),
    #[error("{0}")]
    Batch(#[from] BatchError),
    /// The shared state cannot be reached or did not answer in time.
    #[error("{0}")]
    Unavailable(String),
    /// A commit stands on the primary but fewer replicas than
    /// `replicas_ack` have it: not answered (`UNAVAILABLE`), and never
    /// decided again from this sidecar's own state (the fleet holds it).
    #[error("{0}")]
    NotReplicated(String),
    /// A record in the shared state cannot be read (written by a newer
    /// version, or damaged); it is left as it is.
    #[error("{0}")]
    Malformed(String),
    /// The configuration was reloaded while the call was deciding; asked
    /// again, it decides under the new one.
    #[error("the configuration was reloaded during the call; retry it")]
    Reloaded,
    /// Delivery's fencing: the lease given is not the job's current one (or
    /// none was given for a job handed out under one). Nothing changed.
    #[error("{0}")]
    Lease(String),
    /// A delivery bound would be passed (`payload`, `max_parked_bytes`).
    /// Nothing changed.
    #[error("{0}")]
    Full(String),
    /// Delivery is not available here (`[delivery] enabled = false`, or a
    /// backend without it). Nothing changed.
    #[error("{0}")]
    DeliveryOff(String),
}

/// Which jobs `list` returns.
#[derive(Clone, Copy, Debug, Default)]
pub struct Filter<'a> {
    pub state: Option<JobState>,
    pub job_type: Option<&'a str>,
}

/// The state of one sidecar (memory) or of its fleet (Redis). Its
/// backend is private: everything outside `state` goes through these
/// methods.
pub struct State {
    labels: Arc<Labels>,
    backend: Backend,
    /// Operators' pauses (in fleet mode, the mirror of the fleet's).
    pauses: pauses::Pauses,
    /// Moves on every call that may change state and every sweep that does:
    /// a periodic snapshot is skipped while it stands still, so an idle
    /// sidecar does not rewrite its file every interval.
    changes: std::sync::atomic::AtomicU64,
}

// One per process: the memory backend inline keeps its hot path one
// pointer shorter; the fleet backend's size does not matter.
#[allow(clippy::large_enum_variant)]
enum Backend {
    Memory(Memory),
    Redis(Box<Fleet>),
}

impl State {
    /// In-process state (the default backend).
    pub fn memory(
        limits: Limits,
        batch_limits: BatchLimits,
        delivery: DeliverySettings,
        engine: &Engine,
        job_types: impl IntoIterator<Item = String>,
    ) -> State {
        let labels = Arc::new(labels_for(engine, job_types));
        State {
            backend: Backend::Memory(Memory::new(
                limits,
                batch_limits,
                delivery,
                labels.clone(),
                engine,
            )),
            labels,
            pauses: Default::default(),
            changes: Default::default(),
        }
    }

    pub fn label_name(&self, label: LabelId) -> &str {
        self.labels.job_types.name(label)
    }

    pub fn target_name(&self, target: TargetId) -> &str {
        self.labels.targets.name(LabelId(target.0))
    }

    /// Fleet state in Redis: `settings` say where. The connection is made
    /// in the background (a Redis that is down at start is not an error:
    /// calls fail, or decide locally, until it is up).
    #[allow(clippy::too_many_arguments)]
    pub fn redis(
        settings: &crate::config::RedisSettings,
        tls: &redis::TlsFiles,
        limits: Limits,
        batch_limits: BatchLimits,
        delivery: DeliverySettings,
        engine: &Engine,
        job_types: impl IntoIterator<Item = String>,
        observer: Arc<dyn Observer>,
    ) -> Result<State, StateError> {
        let job_types: Vec<String> = job_types.into_iter().collect();
        let labels = Arc::new(labels_for(engine, job_types.iter().cloned()));
        let local = (settings.on_unavailable == crate::config::OnUnavailable::Local).then(|| {
            Memory::new(
                limits.clone(),
                batch_limits.clone(),
                delivery.clone(),
                labels.clone(),
                engine,
            )
        });
        let redis = redis::Redis::new(
            settings,
            tls,
            limits,
            batch_limits,
            delivery,
            labels.clone(),
            engine,
            job_types,
            observer,
        )?;
        Ok(State {
            backend: Backend::Redis(Box::new(Fleet::new(redis, local, sidecar_name()))),
            labels,
            pauses: Default::default(),
            changes: Default::default(),
        })
    }

    /// A reload: `new` in place of `old` for every record and target, and
    /// `swap` (the engine's own swap) run while nothing can decide under
    /// either (memory: all shards locked; Redis keeps names, not ids).
    pub fn reconfigure<R>(&self, old: &Engine, new: &Engine, swap: impl FnOnce() -> R) -> R {
        match &self.backend {
            Backend::Memory(m) => m.store.reconfigure(old, new, swap),
            Backend::Redis(f) => {
                f.redis.reconfigure(new);
                match &f.local {
                    Some(local) => local.store.reconfigure(old, new, swap),
                    None => swap(),
                }
            }
        }
    }

    /// Whether this is a fleet's shared state (Redis), not one sidecar's.
    pub fn is_fleet(&self) -> bool {
        matches!(self.backend, Backend::Redis(_))
    }

    /// Whether the backend can be used now: for the fleet, whether its
    /// keys hold this version's layout (`Err` also while Redis does not
    /// answer yet: `backend_up` tells the two apart).
    pub async fn ready(&self) -> Result<(), StateError> {
        match &self.backend {
            Backend::Memory(_) => Ok(()),
            Backend::Redis(f) => f.ready().await,
        }
    }

    /// Whether the backend answers (the memory backend always does).
    pub fn backend_up(&self) -> bool {
        match &self.backend {
            Backend::Memory(_) => true,
            Backend::Redis(f) => f.is_up(),
        }
    }

    /// Follows whether the fleet's Redis answers; `None` in memory mode.
    pub fn backend_health(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        match &self.backend {
            Backend::Memory(_) => None,
            Backend::Redis(f) => Some(f.health()),
        }
    }

    /// Whether calls fail (rather than decide locally) while Redis is down.
    pub fn rejects_when_down(&self) -> bool {
        match &self.backend {
            Backend::Memory(_) => false,
            Backend::Redis(f) => f.rejects_when_down(),
        }
    }

    /// The fleet's event stream; `None` in memory mode.
    pub fn fleet_events(&self) -> Option<FleetEvents<'_>> {
        match &self.backend {
            Backend::Memory(_) => None,
            Backend::Redis(f) => Some(f.events()),
        }
    }

    /// Operators' pauses in force (in fleet mode, the mirror of the fleet's).
    pub fn pauses(&self) -> &pauses::Pauses {
        &self.pauses
    }

    /// Counts a change (see `changes`).
    pub fn changed(&self) {
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    /// How many changes so far (compare two readings).
    pub fn changes(&self) -> u64 {
        self.changes.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Jobs held by this sidecar's in-process store (`None` in fleet mode).
    pub fn jobs_held(&self) -> Option<usize> {
        match &self.backend {
            Backend::Memory(m) => Some(m.store.len()),
            Backend::Redis(_) => None,
        }
    }

    pub fn limits(&self) -> &Limits {
        match &self.backend {
            Backend::Memory(m) => m.store.limits(),
            Backend::Redis(f) => f.redis.limits(),
        }
    }

    /// Records one failure and returns the engine's decision.
    pub async fn report_failure(
        &self,
        engine: &Engine,
        call: &FailureCall<'_>,
        now: Timestamp,
    ) -> Result<FailureOutcome, StateError> {
        match &self.backend {
            Backend::Memory(m) => fresh(m.report_failure(engine, call, now, &mut rand::rng())?),
            // Boxed here and below: the fleet's futures are kilobytes, and
            // the memory backend's calls must not carry (and move) them.
            Backend::Redis(f) => Box::pin(f.report_failure(engine, call, now)).await,
        }
    }

    /// The decision `report_failure` would return, changing nothing; and
    /// whether it came from this sidecar's own state (fleet unavailable).
    pub async fn explain(
        &self,
        engine: &Engine,
        call: &FailureCall<'_>,
        now: Timestamp,
    ) -> Result<(Decision, bool), StateError> {
        match &self.backend {
            Backend::Memory(m) => current(m, engine, || {
                Ok((m.store.explain(engine, call, now, &mut rand::rng()), false))
            }),
            Backend::Redis(f) => Box::pin(f.explain(engine, call, now)).await,
        }
    }

    /// The job succeeded: forget it and refill its target's budget.
    /// `lease`: the lease it was claimed under (delivery).
    pub async fn report_success(
        &self,
        engine: &Engine,
        job_id: &str,
        job_type: &str,
        target: &str,
        lease: Option<&str>,
        now: Timestamp,
    ) -> Result<SuccessOutcome, StateError> {
        match &self.backend {
            Backend::Memory(m) => m.report_success(job_id, job_type, target, lease, now),
            Backend::Redis(f) => {
                Box::pin(f.report_success(engine, job_id, job_type, target, lease, now)).await
            }
        }
    }
}

/// A report's outcome, or `Reloaded` if it was refused as decided under a
/// replaced configuration.
pub(crate) fn fresh(out: FailureOutcome) -> Result<FailureOutcome, StateError> {
    if out.stale {
        Err(StateError::Reloaded)
    } else {
        Ok(out)
    }
}

/// `f`'s answer, unless a reload changed the records' ids while it read
/// them (or before): its names would be rendered with the wrong engine.
fn current<T>(
    m: &Memory,
    engine: &Engine,
    f: impl FnOnce() -> Result<T, StateError>,
) -> Result<T, StateError> {
    if !m.store.current(engine) {
        return Err(StateError::Reloaded);
    }
    let out = f()?;
    if m.store.current(engine) {
        Ok(out)
    } else {
        Err(StateError::Reloaded)
    }
}

/// A name for this sidecar in its fleet: the host (a pod's name) and the process.
fn sidecar_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|| "retryd".into());
    format!("{host}/{}", std::process::id())
}

/// The label tables for `engine`'s configuration: configured job types
/// and the targets with their own budget or breaker always have their own
/// label.
fn labels_for(engine: &Engine, job_types: impl IntoIterator<Item = String>) -> Labels {
    let job_types: Vec<String> = job_types.into_iter().collect();
    let mut targets: Vec<&str> = engine
        .budgets
        .by_target
        .keys()
        .chain(engine.breakers.by_target.keys())
        .map(String::as_str)
        .collect();
    targets.sort_unstable();
    targets.dedup();
    Labels::new(job_types.iter().map(String::as_str), targets)
}

/// A store on its own (benchmarks, fuzzing): job types and targets labelled
/// from `engine`'s configuration.
pub fn store_for(limits: Limits, engine: &Engine) -> Store {
    let job_types: Vec<String> = engine
        .policies
        .job_types()
        .map(|(t, _)| t.to_string())
        .collect();
    Store::new(
        limits,
        DeliverySettings::default(),
        Arc::new(labels_for(engine, job_types)),
        engine,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Classifier, PolicySet};

    /// The fleet backend's futures are kilobytes; the memory backend's calls
    /// must not carry them (every call moves its future into tonic's box:
    /// 5.9 KB each, a measured 3 % of the memory backend's throughput, before
    /// the fleet's were boxed on their own).
    #[test]
    fn the_memory_backends_futures_stay_small() {
        let engine = Engine::new(
            Classifier::new(Vec::new()).expect("rules"),
            PolicySet::default(),
        );
        let state = State::memory(
            Limits::default(),
            BatchLimits::default(),
            DeliverySettings::default(),
            &engine,
            [],
        );
        let policy = engine.policies.default_policy().clone();
        let call = FailureCall {
            job_id: "a",
            job_type: "",
            target: "",
            policy: &policy,
            report: FailureReport::default(),
            pause: None,
            carry: Default::default(),
        };
        let now = Timestamp(0);
        let failure = state.report_failure(&engine, &call, now);
        let success = state.report_success(&engine, "a", "", "", None, now);
        let list = state.list(&engine, Filter::default(), 10, None);
        for (what, size) in [
            ("report_failure", std::mem::size_of_val(&failure)),
            ("report_success", std::mem::size_of_val(&success)),
            ("list", std::mem::size_of_val(&list)),
        ] {
            assert!(size <= 256, "{what}: a {size}-byte future");
        }
    }
}
