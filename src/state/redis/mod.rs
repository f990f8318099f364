//! Fleet mode: the state of every sidecar of a fleet in one Redis or Valkey
//! (standalone or Cluster).
//!
//! The backend only stores and compares-and-sets. A report reads the job
//! (one round trip, the target's budget take alongside it), runs the report
//! step of `super::step` in Rust, and commits the new record together with
//! the counters the change moves in one script on the job's partition
//! (`keys`) — the second round trip. If another sidecar changed the job in
//! between, the script refuses, and the step runs again on what is there
//! now: concurrent reports of one job through any number of sidecars are
//! serialised, none lost, none counted twice. Within one sidecar, reports
//! of one job also queue on a lock stripe, so that the only conflicts left
//! are between sidecars.
//!
//! The stripe also remembers the record this sidecar last read or wrote of
//! each of its recent jobs. A report of such a job skips the read: its
//! commit expects that record, and if another sidecar changed the job since,
//! the commit refuses and returns what is there now — the step runs again
//! on that. One round trip when this sidecar saw the job last, two when it
//! did not; never a decision on a record that is not the current one.

mod batches;
mod breakers;
mod budget;
mod cas;
pub mod codec;
mod commit;
pub mod conn;
mod eval;
pub mod events;
mod keys;
mod label_registry;
mod list;
mod operator;
mod parcel;
mod pauses;
mod records;
mod report;
mod sentinel;
mod stats;
mod sweep;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use redis::Script;
use tokio_util::sync::CancellationToken;

use super::{BatchLimits, Limits, StateError};
use crate::config::RedisSettings;
use crate::engine::{BreakerConfig, BudgetConfigs, Engine, JobState, PerTarget, TargetId};
use crate::labels::{LabelId, Labels};
use crate::state::Observer;
pub use conn::{Link, Op, Outcome, TlsFiles};
pub use keys::{Keys, PARTITIONS, Set};
pub use parcel::DUE_POLL;
pub use records::stripe_of;
use records::{STRIPES, Stripe};

pub struct Redis {
    link: Arc<Link>,
    keys: Keys,
    labels: Arc<Labels>,
    limits: Limits,
    batch_limits: BatchLimits,
    /// Budgets and breakers by target; a reload swaps them.
    configs: Arc<arc_swap::ArcSwap<TargetConfigs>>,
    breaker_seen: breakers::Seen,
    configured_job_types: HashSet<String>,
    job_types: label_registry::Registry,
    targets: label_registry::Registry,
    commit_script: Script,
    scan_script: Script,
    budget_script: Script,
    breaker_script: Script,
    batches: batches::Scripts,
    parcels: parcel::Scripts,
    delivery: parcel::Local,
    delivery_settings: crate::config::DeliverySettings,
    stripes: Box<[tokio::sync::Mutex<Stripe>]>,
    /// When this sidecar last pushed back each partition's expiry (ms).
    kept_until: Box<[AtomicU64]>,
    retrying: Arc<stats::RetryingCache>,
    sweep: sweep::Cursors,
    /// The layout check's verdict, once Redis has answered it.
    layout: tokio::sync::OnceCell<Result<(), String>>,
    stop: CancellationToken,
}

/// What is configured per target.
pub struct TargetConfigs {
    pub budgets: BudgetConfigs,
    pub breakers: PerTarget<BreakerConfig>,
}

impl TargetConfigs {
    fn of(engine: &Engine) -> TargetConfigs {
        TargetConfigs {
            budgets: engine.budgets.clone(),
            breakers: engine.breakers.clone(),
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Redis {
    /// Sets up the backend; it connects in the background (see `Link::new`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: &RedisSettings,
        tls: &TlsFiles,
        limits: Limits,
        batch_limits: BatchLimits,
        delivery: crate::config::DeliverySettings,
        labels: Arc<Labels>,
        engine: &Engine,
        job_types: impl IntoIterator<Item = String>,
        observer: Arc<dyn Observer>,
    ) -> Result<Redis, StateError> {
        let link = Link::new(settings, tls, observer)
            .map_err(|e| StateError::Unavailable(format!("{}: {e}", settings.describe())))?;
        let link = Arc::new(link);
        let keys = Keys::new(&settings.key_prefix);
        let stop = CancellationToken::new();
        tokio::spawn(link.clone().watch_health(stop.clone()));
        tokio::spawn(link.clone().follow_primary(stop.clone()));
        let retrying = Arc::new(stats::RetryingCache::default());
        let configs = Arc::new(arc_swap::ArcSwap::from_pointee(TargetConfigs::of(engine)));
        tokio::spawn(stats::refresh_retrying(
            link.clone(),
            keys.clone(),
            retrying.clone(),
            configs.clone(),
            stop.clone(),
        ));
        let delivery_local = parcel::Local::default();
        let (held, active) = delivery_local.held_parts();
        tokio::spawn(parcel::refresh_held(
            link.clone(),
            keys.clone(),
            held,
            active,
            stop.clone(),
        ));
        Ok(Redis {
            job_types: label_registry::Registry::new(keys.job_type_labels()),
            targets: label_registry::Registry::new(keys.target_labels()),
            link,
            keys,
            labels,
            limits,
            batch_limits,
            configs,
            breaker_seen: breakers::Seen::default(),
            configured_job_types: job_types.into_iter().collect(),
            commit_script: Script::new(include_str!("lua/commit.lua")),
            scan_script: Script::new(include_str!("lua/scan.lua")),
            budget_script: Script::new(include_str!("lua/budget.lua")),
            breaker_script: Script::new(include_str!("lua/breaker.lua")),
            batches: batches::Scripts::default(),
            parcels: parcel::Scripts::default(),
            delivery: delivery_local,
            delivery_settings: delivery,
            stripes: (0..STRIPES)
                .map(|_| tokio::sync::Mutex::new(Stripe::default()))
                .collect(),
            kept_until: (0..PARTITIONS).map(|_| AtomicU64::new(0)).collect(),
            retrying,
            sweep: sweep::Cursors::default(),
            layout: tokio::sync::OnceCell::new(),
            stop,
        })
    }

    /// A reload: the budgets and breakers of `engine` from now on (their
    /// state is in Redis, by target name: it stays).
    pub fn reconfigure(&self, engine: &Engine) {
        self.configs.store(Arc::new(TargetConfigs::of(engine)));
    }

    pub fn link(&self) -> &Link {
        &self.link
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn max_deliveries(&self) -> u32 {
        self.delivery_settings.max_deliveries
    }

    /// Whether this fleet's keys hold this layout: checked (and claimed, if
    /// the keys are new) at the first call Redis answers, then remembered.
    /// `Err` for a layout this version cannot use, or no answer yet.
    pub async fn ready(&self) -> Result<(), StateError> {
        let verdict = self
            .layout
            .get_or_try_init(|| async {
                let layout = self.check_layout().await?;
                Ok::<_, StateError>(layout.map_err(|e| e.to_string()))
            })
            .await?;
        verdict.clone().map_err(StateError::Unavailable)
    }

    /// The layout the keys hold: `Ok(Err(..))` names one this version
    /// cannot use; `Err` is no answer.
    async fn check_layout(&self) -> Result<Result<(), StateError>, StateError> {
        let key = self.keys.layout();
        let set: Option<String> = self
            .link
            .query(
                Op::Ping,
                redis::cmd("SET")
                    .arg(&key)
                    .arg(keys::LAYOUT)
                    .arg("NX")
                    .arg("GET"),
            )
            .await?;
        Ok(match set {
            None => Ok(()),
            Some(l) if l == keys::LAYOUT => Ok(()),
            Some(other) => Err(StateError::Unavailable(format!(
                "{} key {key} says the keys under prefix {:?} hold {other:?}, not {:?}: another version of retryd? Use another state.redis.key_prefix",
                self.link.describe(),
                self.keys.prefix(),
                keys::LAYOUT
            ))),
        })
    }

    /// The label a job type is counted under, fleet-wide.
    async fn job_type_label(&self, job_type: &str) -> Result<LabelId, StateError> {
        let own = job_type.is_empty()
            || self.configured_job_types.contains(job_type)
            || self.job_types.own_label(&self.link, job_type).await?;
        Ok(if own {
            self.labels.job_types.get(job_type)
        } else {
            self.labels.job_types.other()
        })
    }

    fn target_name(&self, t: TargetId) -> &str {
        self.labels.targets.name(LabelId(t.0))
    }

    // ---- reads and commits -------------------------------------------------
}

/// The set a job of `state` is kept in.
pub fn set_of(state: JobState) -> Set {
    match state {
        JobState::Retrying => Set::Retrying,
        JobState::Dead => Set::Dead,
        JobState::Cancelled => Set::Cancelled,
    }
}

/// Milliseconds of a duration, saturating.
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
