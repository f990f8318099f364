//! Each target's circuit breaker, for the sidecar's own state.
//!
//! The state machine is the engine's (`engine::breaker`); this holds one
//! breaker per target behind a mutex (a failure's count and the view its
//! decision sees are one step). Targets are the bounded labels the budgets
//! use: a target's own `[breakers.<target>]` table, else `[breakers.default]`.

use std::sync::{Arc, Mutex};

use super::targets::TargetSlots;

use crate::engine::{
    Breaker, BreakerConfig, BreakerState, BreakerView, PerTarget, TargetId, Timestamp,
};
use crate::labels::{Labels, NONE};
use crate::state::{BreakerRow, Moved};

pub struct TargetBreaker {
    pub config: BreakerConfig,
    breaker: Mutex<Breaker>,
}

impl TargetBreaker {
    fn new(config: BreakerConfig) -> TargetBreaker {
        TargetBreaker {
            config,
            breaker: Mutex::new(Breaker::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Breaker> {
        // A panic while holding it cannot leave a breaker half-updated
        // (every change is one assignment of plain data): keep using it.
        self.breaker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

pub struct Breakers(TargetSlots<BreakerConfig, TargetBreaker>);

impl Breakers {
    pub fn new(labels: Arc<Labels>, configs: &PerTarget<BreakerConfig>) -> Breakers {
        Breakers(TargetSlots::new(labels, configs, TargetBreaker::new))
    }

    fn target(&self, target: &str) -> Option<(TargetId, &TargetBreaker)> {
        self.0.target(target)
    }

    /// A failure that counts: counted (and its retry claimed while open),
    /// and the breaker as its decision sees it.
    pub fn failure(
        &self,
        target: &str,
        now: Timestamp,
        unit: impl FnOnce() -> f64,
    ) -> Option<(BreakerView, Option<Moved>)> {
        let (id, b) = self.target(target)?;
        let unit = unit();
        let mut g = b.lock();
        let (moves, deferral) = g.fail(&b.config, now, unit);
        let view = BreakerView {
            target: id,
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
        Some(BreakerView {
            target: id,
            deferral: b.lock().peek(&b.config, now, unit),
        })
    }

    /// A success: counted; the states it moved through, if any.
    pub fn success(&self, target: TargetId, now: Timestamp) -> Option<Moved> {
        let b = self.0.get(target)?;
        let moves = b.lock().success(&b.config, now);
        (!moves.is_empty()).then_some(Moved { target, moves })
    }

    /// After a reload: a breaker whose configuration is unchanged keeps its
    /// state; a changed one starts closed under its new settings.
    pub fn carry_from(&self, old: &Breakers) {
        self.0.carry_from(&old.0, |was, now| {
            if was.config == now.config {
                *now.lock() = *was.lock();
            }
        });
    }

    /// The id of `target` when it has a breaker.
    pub fn id(&self, target: &str) -> Option<TargetId> {
        self.target(target).map(|(id, _)| id)
    }

    /// Every breaker configured by name or used, by target, as of `now`.
    pub fn rows(&self, now: Timestamp) -> Vec<BreakerRow> {
        self.0
            .each()
            .into_iter()
            .filter(|l| l.name != NONE && (l.used || l.configured))
            .map(|l| {
                let mut g = *l.value.lock();
                g.tick(now);
                BreakerRow {
                    target_id: l.id,
                    target: l.name.to_string(),
                    state: g.state,
                    open_until: (g.state == BreakerState::Open).then_some(g.open_until),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs(open_for_s: u64) -> PerTarget<BreakerConfig> {
        let mut c = PerTarget::default();
        c.insert(
            "db".into(),
            BreakerConfig {
                min_calls: 2,
                open_for: std::time::Duration::from_secs(open_for_s),
                ..BreakerConfig::default()
            },
        );
        c
    }

    #[test]
    fn a_reload_keeps_an_unchanged_breaker_and_resets_a_changed_one() {
        let labels = Arc::new(Labels::new([], ["db"]));
        let old = Breakers::new(labels.clone(), &configs(30));
        let now = Timestamp(1_000_000);
        for _ in 0..2 {
            old.failure("db", now, || 0.5);
        }
        let open = |b: &Breakers| {
            b.rows(now)
                .iter()
                .find(|r| r.target == "db")
                .map(|r| r.state)
        };
        assert_eq!(open(&old), Some(BreakerState::Open));
        let same = Breakers::new(labels.clone(), &configs(30));
        same.carry_from(&old);
        assert_eq!(open(&same), Some(BreakerState::Open));
        let changed = Breakers::new(labels, &configs(60));
        changed.carry_from(&old);
        assert_eq!(open(&changed), Some(BreakerState::Closed));
    }
}
