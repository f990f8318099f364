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

mod codes;
mod fleet;
pub mod memory;
pub mod pauses;
pub mod redis;
pub mod step;
mod views;

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::engine::batch::{Batch, EndOfPass, PassStats};
use crate::engine::{Decision, Engine, FailureReport, JobState, PauseView, Policy};
use crate::engine::{TargetId, Timestamp};
use crate::labels::{LabelId, Labels};
pub use memory::batches::{BatchError, BatchLimits};
pub use memory::breakers::BreakerRow;
pub use memory::budgets::BudgetRow;
use memory::{Memory, Store};
pub use views::{
    Evictions, FailureOutcome, Gauges, JobView, Page, StatsRow, StoredError, SuccessOutcome,
    stats_with_total,
};

/// Longest error message prefix kept per job: a job must not pin an
/// unbounded amount of caller text in memory.
pub const MESSAGE_PREFIX: usize = 1024;

/// The `[state]` bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_jobs: usize,
    pub idle_ttl: Duration,
    pub max_dead_jobs: usize,
    pub dead_ttl: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_jobs: 1_000_000,
            idle_ttl: Duration::from_secs(24 * 3600),
            max_dead_jobs: 10_000,
            dead_ttl: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl Limits {
    /// How often the sweeper runs without being woken: often enough that a
    /// TTL is honoured to within a tenth of itself, at least every 5 s.
    pub fn sweep_interval(&self) -> Duration {
        (self.idle_ttl.min(self.dead_ttl) / 10)
            .clamp(Duration::from_millis(20), Duration::from_secs(5))
    }
}

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
}

/// `StateError::Reloaded`'s text: how the server knows the status again.
pub const RELOADED: &str = "the configuration was reloaded during the call; retry it";

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
    /// A record in the shared state cannot be read (written by a newer
    /// version, or damaged); it is left as it is.
    #[error("{0}")]
    Malformed(String),
    /// The configuration was reloaded while the call was deciding; asked
    /// again, it decides under the new one.
    #[error("{RELOADED}")]
    Reloaded,
}

/// Which jobs `list` returns.
#[derive(Clone, Copy, Debug, Default)]
pub struct Filter<'a> {
    pub state: Option<JobState>,
    pub job_type: Option<&'a str>,
}

/// The state of one sidecar (memory) or of its fleet (Redis).
pub struct State {
    labels: Arc<Labels>,
    backend: Backend,
    /// Operators' pauses (in fleet mode, the mirror of the fleet's).
    pub pauses: pauses::Pauses,
}

// One per process: the memory backend inline keeps its hot path one
// pointer shorter; the fleet backend's size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Backend {
    Memory(Memory),
    Redis(Box<Fleet>),
}

/// Fleet mode: the Redis backend, and this sidecar's own state to decide
/// from while Redis cannot be reached, if `on_unavailable = "local"`.
pub struct Fleet {
    pub redis: redis::Redis,
    local: Option<Memory>,
    /// This sidecar's name in the fleet (the sweeper's lease).
    me: String,
    /// What marks this sidecar's own events in the fleet's stream (its
    /// name and a random tag: unique even for two in one process).
    pub origin: String,
}

impl State {
    /// In-process state (the default backend).
    pub fn memory(
        limits: Limits,
        batch_limits: BatchLimits,
        engine: &Engine,
        job_types: impl IntoIterator<Item = String>,
    ) -> State {
        let labels = Arc::new(labels_for(engine, job_types));
        State {
            backend: Backend::Memory(Memory::new(limits, batch_limits, labels.clone(), engine)),
            labels,
            pauses: Default::default(),
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
        engine: &Engine,
        job_types: impl IntoIterator<Item = String>,
        observer: Arc<dyn redis::Observer>,
    ) -> Result<State, StateError> {
        let job_types: Vec<String> = job_types.into_iter().collect();
        let labels = Arc::new(labels_for(engine, job_types.iter().cloned()));
        let local = (settings.on_unavailable == crate::config::OnUnavailable::Local)
            .then(|| Memory::new(limits.clone(), batch_limits.clone(), labels.clone(), engine));
        let redis = redis::Redis::new(
            settings,
            tls,
            limits,
            batch_limits,
            labels.clone(),
            engine,
            job_types,
            observer,
        )?;
        Ok(State {
            backend: Backend::Redis(Box::new(Fleet {
                redis,
                local,
                origin: format!("{}#{:08x}", sidecar_name(), rand::random::<u32>()),
                me: sidecar_name(),
            })),
            labels,
            pauses: Default::default(),
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

    /// The in-process backend, when that is the one in use.
    pub fn memory_backend(&self) -> Option<&Memory> {
        match &self.backend {
            Backend::Memory(m) => Some(m),
            Backend::Redis(_) => None,
        }
    }

    /// The fleet backend, when that is the one in use.
    pub fn fleet(&self) -> Option<&Fleet> {
        match &self.backend {
            Backend::Memory(_) => None,
            Backend::Redis(f) => Some(f),
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
            Backend::Memory(m) => fresh(m.report_failure(engine, call, now, &mut rand::rng())),
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
    pub async fn report_success(
        &self,
        engine: &Engine,
        job_id: &str,
        job_type: &str,
        target: &str,
        now: Timestamp,
    ) -> Result<SuccessOutcome, StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.report_success(job_id, job_type, target, now)),
            Backend::Redis(f) => {
                Box::pin(f.report_success(engine, job_id, job_type, target, now)).await
            }
        }
    }

    pub async fn get(&self, engine: &Engine, job_id: &str) -> Result<Option<JobView>, StateError> {
        match &self.backend {
            Backend::Memory(m) => current(m, engine, || Ok(m.store.get(job_id))),
            Backend::Redis(f) => Box::pin(f.and_ready(f.redis.get(engine, job_id))).await,
        }
    }

    /// Jobs matching `filter` after the job id `after`, in id order.
    pub async fn list(
        &self,
        engine: &Engine,
        filter: Filter<'_>,
        page_size: usize,
        after: Option<&str>,
    ) -> Result<Page, StateError> {
        match &self.backend {
            Backend::Memory(m) => current(m, engine, || Ok(m.store.list(filter, page_size, after))),
            Backend::Redis(f) => {
                Box::pin(f.and_ready(f.redis.list(engine, filter, page_size, after))).await
            }
        }
    }

    /// Manual retry: the job is due now.
    pub async fn retry(
        &self,
        engine: &Engine,
        job_id: &str,
        reset_failures: bool,
        now: Timestamp,
    ) -> Result<JobView, StateError> {
        match &self.backend {
            Backend::Memory(m) => current(m, engine, || m.store.retry(job_id, reset_failures, now)),
            Backend::Redis(f) => {
                Box::pin(f.and_ready(f.redis.retry(engine, job_id, reset_failures, now))).await
            }
        }
    }

    pub async fn cancel(
        &self,
        engine: &Engine,
        job_id: &str,
        now: Timestamp,
    ) -> Result<JobView, StateError> {
        match &self.backend {
            Backend::Memory(m) => current(m, engine, || m.store.cancel(job_id, now)),
            Backend::Redis(f) => Box::pin(f.and_ready(f.redis.cancel(engine, job_id, now))).await,
        }
    }

    pub async fn delete(
        &self,
        engine: &Engine,
        job_id: &str,
        now: Timestamp,
    ) -> Result<(), StateError> {
        match &self.backend {
            Backend::Memory(m) => m.store.delete(job_id),
            Backend::Redis(f) => Box::pin(f.and_ready(f.redis.delete(engine, job_id, now))).await,
        }
    }

    /// Counters per job type that has any, sorted by job type, and their sum.
    pub async fn stats(&self) -> Result<(Vec<StatsRow>, StatsRow), StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.store.stats()),
            Backend::Redis(f) => Box::pin(f.and_ready(f.redis.stats())).await,
        }
    }

    /// Every target budget configured or used, by target.
    pub async fn budgets(&self) -> Result<Vec<BudgetRow>, StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.store.budgets()),
            Backend::Redis(f) => Box::pin(f.and_ready(f.redis.budgets())).await,
        }
    }

    /// Every breaker configured or used, by target.
    pub async fn breakers(&self, now: Timestamp) -> Result<Vec<BreakerRow>, StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.store.breakers(now)),
            Backend::Redis(f) => Box::pin(f.and_ready(f.redis.breaker_rows(now))).await,
        }
    }

    /// What the metrics endpoint shows of the state.
    pub async fn gauges(&self) -> Result<Gauges, StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(Gauges {
                jobs: m.store.counts(),
                budgets: m.store.budgets(),
                breakers: m
                    .store
                    .breakers(Timestamp::from_system_time(std::time::SystemTime::now())),
            }),
            Backend::Redis(f) => Box::pin(f.and_ready(f.redis.gauges())).await,
        }
    }

    pub async fn start_pass(
        &self,
        batch_id: &str,
        job_ids: &[String],
        max_passes: Option<u32>,
        pass_delay: Option<Duration>,
        now: Timestamp,
    ) -> Result<PassStats, StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m
                .batches
                .start_pass(batch_id, job_ids, max_passes, pass_delay, now)?),
            Backend::Redis(f) => {
                f.ready().await?;
                f.redis
                    .start_pass(batch_id, job_ids, max_passes, pass_delay, now)
                    .await
            }
        }
    }

    pub async fn end_pass(&self, batch_id: &str, now: Timestamp) -> Result<EndOfPass, StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.batches.end_pass(batch_id, now)?),
            Backend::Redis(f) => Box::pin(f.and_ready(f.redis.end_pass(batch_id, now))).await,
        }
    }

    pub async fn get_batch(&self, batch_id: &str) -> Result<Batch, StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.batches.get(batch_id)?),
            Backend::Redis(f) => Box::pin(f.and_ready(f.redis.get_batch(batch_id))).await,
        }
    }

    /// Applies the bounds to jobs (and, with `full`, expires idle jobs and
    /// batches). Returns the jobs and batches removed.
    pub async fn sweep(
        &self,
        engine: &Engine,
        now: Timestamp,
        full: bool,
    ) -> Result<(Evictions, usize), StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.sweep(now, full)),
            Backend::Redis(f) => {
                // The local fallback keeps its own bounds.
                let (mut ev, mut batches) = match &f.local {
                    Some(local) => local.sweep(now, full),
                    None => (Evictions::default(), 0),
                };
                f.ready().await?;
                ev.add(&f.redis.sweep(engine, &f.me, now).await?);
                if full {
                    batches += f.redis.sweep_batches(now).await?;
                }
                Ok((ev, batches))
            }
        }
    }

    /// Resolves when a bound has been passed since the last call (never,
    /// for a backend that applies its bounds on a timer only).
    pub async fn pressured(&self) {
        match &self.backend {
            Backend::Memory(m) => m.store.pressured().await,
            Backend::Redis(_) => std::future::pending().await,
        }
    }
}

/// A name for this sidecar in its fleet: the host (a pod's name) and the process.
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
    Store::new(limits, Arc::new(labels_for(engine, job_types)), engine)
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
        let state = State::memory(Limits::default(), BatchLimits::default(), &engine, []);
        let policy = engine.policies.default_policy().clone();
        let call = FailureCall {
            job_id: "a",
            job_type: "",
            target: "",
            policy: &policy,
            report: FailureReport::default(),
            pause: None,
        };
        let now = Timestamp(0);
        let failure = state.report_failure(&engine, &call, now);
        let success = state.report_success(&engine, "a", "", "", now);
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
