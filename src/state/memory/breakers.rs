//! Each target's circuit breaker, for the sidecar's own state.
//!
//! The state machine is the engine's (`engine::breaker`); this holds one
//! breaker per target behind a mutex (a failure's count and the view its
//! decision sees are one step). Targets are the bounded labels the budgets
//! use: a target's own `[breakers.<target>]` table, else `[breakers.default]`.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};

use crate::engine::breaker::Moves;
use crate::engine::{
    Breaker, BreakerConfig, BreakerState, BreakerView, PerTarget, TargetId, Timestamp,
};
use crate::labels::{LabelId, Labels, NONE};

pub struct TargetBreaker {
    pub config: BreakerConfig,
    breaker: Mutex<Breaker>,
    /// Reported with at least once (unconfigured targets are listed once used).
    used: AtomicBool,
}

/// The states a breaker moved through with one call, for the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moved {
    pub target: TargetId,
    pub moves: Moves,
}

/// One target's breaker, for `ListBudgets` and the metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerRow {
    pub target_id: TargetId,
    pub target: String,
    pub state: BreakerState,
    /// While open: when it closes.
    pub open_until: Option<Timestamp>,
}

impl TargetBreaker {
    fn lock(&self) -> std::sync::MutexGuard<'_, Breaker> {
        // A panic while holding it cannot leave a breaker half-updated
        // (every change is one assignment of plain data): keep using it.
        self.breaker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

pub struct Breakers {
    labels: Arc<Labels>,
    slots: Box<[OnceLock<Option<TargetBreaker>>]>,
    configs: PerTarget<BreakerConfig>,
}

impl Breakers {
    pub fn new(labels: Arc<Labels>, configs: &PerTarget<BreakerConfig>) -> Breakers {
        Breakers {
            slots: (0..labels.targets.capacity())
                .map(|_| OnceLock::new())
                .collect(),
            labels,
            configs: configs.clone(),
        }
    }

    fn slot(&self, id: LabelId) -> Option<&TargetBreaker> {
        if self.configs.is_empty() {
            return None;
        }
        let name = self.labels.targets.name(id);
        self.slots
            .get(usize::from(id.0))?
            .get_or_init(|| {
                self.configs.for_target(name).map(|&config| TargetBreaker {
                    config,
                    breaker: Mutex::new(Breaker::default()),
                    used: AtomicBool::new(false),
                })
            })
            .as_ref()
    }

    fn target(&self, target: &str) -> Option<(TargetId, &TargetBreaker)> {
        // No breakers configured (the usual case): nothing to hash.
        if self.configs.is_empty() || self.configs.for_target(target).is_none() {
            return None;
        }
        let id = self.labels.targets.get(target);
        let b = self.slot(id)?;
        b.used.store(true, Relaxed);
        Some((TargetId(id.0), b))
    }

    /// A failure that counts: counted (and its retry claimed while open),
    /// and the breaker as its decision sees it.
    pub fn failure(
        &self,
        target: &str,
        now: Timestamp,
        unit: f64,
    ) -> Option<(BreakerView, Option<Moved>)> {
        let (id, b) = self.target(target)?;
        let mut g = b.lock();
        let (moves, deferral) = g.fail(&b.config, now, unit);
        let view = BreakerView {
            target: id,
            config: b.config,
            breaker: *g,
            deferral,
        };
        Some((
            view,
            (!moves.is_empty()).then_some(Moved { target: id, moves }),
        ))
    }

    /// The breaker as a decision would see it, changing nothing (`Explain`).
    pub fn peek(&self, target: &str, now: Timestamp, unit: f64) -> Option<BreakerView> {
        let (id, b) = self.target(target)?;
        let (breaker, deferral) = b.lock().peek(&b.config, now, unit);
        Some(BreakerView {
            target: id,
            config: b.config,
            breaker,
            deferral,
        })
    }

    /// A success: counted; the states it moved through, if any.
    pub fn success(&self, target: TargetId, now: Timestamp) -> Option<Moved> {
        let b = self.slot(LabelId(target.0))?;
        let moves = b.lock().success(&b.config, now);
        (!moves.is_empty()).then_some(Moved { target, moves })
    }

    /// The id of `target` when it has a breaker.
    pub fn id(&self, target: &str) -> Option<TargetId> {
        self.target(target).map(|(id, _)| id)
    }

    /// Every breaker configured by name or used, by target, as of `now`.
    pub fn rows(&self, now: Timestamp) -> Vec<BreakerRow> {
        self.labels
            .targets
            .all()
            .into_iter()
            .filter(|(_, e)| &*e.label != NONE)
            .filter_map(|(id, e)| {
                let b = self.slot(id)?;
                let listed = b.used.load(Relaxed) || self.configs.by_target.contains_key(&*e.label);
                let mut g = *b.lock();
                g.tick(now);
                listed.then(|| BreakerRow {
                    target_id: TargetId(id.0),
                    target: e.label.to_string(),
                    state: g.state,
                    open_until: (g.state == BreakerState::Open).then_some(g.open_until),
                })
            })
            .collect()
    }
}
