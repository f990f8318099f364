//! One value per target (a budget, a breaker), made on first use from the
//! target's configuration. Targets are the bounded labels: those with their
//! own table always have their own value, at most 100 others get one, and
//! the rest share `other`'s.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use crate::engine::{PerTarget, TargetId};
use crate::labels::{LabelId, Labels};

struct Slot<T> {
    value: T,
    /// Reported with at least once (unconfigured targets are listed once used).
    used: AtomicBool,
}

pub struct TargetSlots<C, T> {
    labels: Arc<Labels>,
    slots: Box<[OnceLock<Option<Slot<T>>>]>,
    configs: PerTarget<C>,
    make: fn(C) -> T,
}

/// One target's value, as `TargetSlots::each` lists it.
pub struct Listed<'a, T> {
    pub id: TargetId,
    pub name: &'a str,
    pub value: &'a T,
    pub used: bool,
    /// It has a table of its own.
    pub configured: bool,
}

impl<C: Copy, T> TargetSlots<C, T> {
    pub fn new(labels: Arc<Labels>, configs: &PerTarget<C>, make: fn(C) -> T) -> Self {
        TargetSlots {
            slots: (0..labels.targets.capacity())
                .map(|_| OnceLock::new())
                .collect(),
            labels,
            configs: configs.clone(),
            make,
        }
    }

    /// The value of the target labelled `id`, if the target has one.
    pub fn get(&self, id: TargetId) -> Option<&T> {
        self.slot(LabelId(id.0)).map(|s| &s.value)
    }

    fn slot(&self, id: LabelId) -> Option<&Slot<T>> {
        if self.configs.is_empty() {
            return None;
        }
        let name = self.labels.targets.name(id);
        self.slots
            .get(usize::from(id.0))?
            .get_or_init(|| {
                self.configs.for_target(name).map(|&c| Slot {
                    value: (self.make)(c),
                    used: AtomicBool::new(false),
                })
            })
            .as_ref()
    }

    /// The value of `target`, marked used, if it has one.
    pub fn target(&self, target: &str) -> Option<(TargetId, &T)> {
        // Nothing configured (the usual case): nothing to hash.
        if self.configs.is_empty() || self.configs.for_target(target).is_none() {
            return None;
        }
        let id = self.labels.targets.get(target);
        let slot = self.slot(id)?;
        slot.used.store(true, Relaxed);
        Some((TargetId(id.0), &slot.value))
    }

    /// After a reload: every target that had a value here and still has a
    /// configuration in `self` gets its value made now, marked used as it
    /// was, and `keep` moves what it had into it.
    pub fn carry_from(&self, old: &TargetSlots<C, T>, keep: impl Fn(&T, &T)) {
        for listed in old.each() {
            if self.configs.for_target(listed.name).is_none() {
                continue;
            }
            if let Some(slot) = self.slot(LabelId(listed.id.0)) {
                slot.used.store(listed.used, Relaxed);
                keep(listed.value, &slot.value);
            }
        }
    }

    /// Every target's value.
    pub fn each(&self) -> Vec<Listed<'_, T>> {
        self.labels
            .targets
            .all()
            .into_iter()
            .filter_map(|(id, e)| {
                let slot = self.slot(id)?;
                Some(Listed {
                    id: TargetId(id.0),
                    name: &e.label,
                    value: &slot.value,
                    used: slot.used.load(Relaxed),
                    configured: self.configs.by_target.contains_key(&*e.label),
                })
            })
            .collect()
    }
}
