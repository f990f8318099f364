//! The shared state of each target's retry budget: tokens, jobs waiting in
//! backoff, and how often it refused a retry.
//!
//! The arithmetic and the verdict are the engine's (`engine::budget`); this
//! keeps the counters, as atomics, so that concurrent reports of one target
//! never lose an update. Targets are bounded labels: those with their own
//! `[budgets.<target>]` table always have their own budget, at most 100
//! others get one, and the rest share the `other` budget.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::engine::{BudgetConfig, BudgetConfigs, BudgetView, TargetId, budget::MILLI};
use crate::labels::{BoundedLabels, LabelId, NONE};

pub struct TargetBudget {
    pub config: BudgetConfig,
    /// Thousandths of a token.
    tokens: AtomicI64,
    retrying: AtomicI64,
    exhausted_total: AtomicU64,
    /// Reported with at least once (unconfigured targets are listed once used).
    used: AtomicBool,
}

impl TargetBudget {
    fn new(config: BudgetConfig) -> Self {
        TargetBudget {
            tokens: AtomicI64::new(config.full()),
            config,
            retrying: AtomicI64::new(0),
            exhausted_total: AtomicU64::new(0),
            used: AtomicBool::new(false),
        }
    }

    /// The budget as a decision sees it now.
    pub fn view(&self, target: TargetId, job_counted: bool) -> BudgetView {
        BudgetView {
            target,
            config: self.config,
            tokens: self.tokens.load(Relaxed),
            retrying: u64::try_from(self.retrying.load(Relaxed)).unwrap_or(0),
            job_counted,
        }
    }

    /// A failure: one token less (atomically; never below zero).
    pub fn charge(&self) {
        let _ = self
            .tokens
            .fetch_update(Relaxed, Relaxed, |t| Some(self.config.charge(t)));
    }

    /// A success: `token_ratio` more (never above `max_tokens`).
    pub fn refill(&self) {
        let _ = self
            .tokens
            .fetch_update(Relaxed, Relaxed, |t| Some(self.config.refill(t)));
    }

    pub fn count_exhausted(&self) {
        self.exhausted_total.fetch_add(1, Relaxed);
    }

    /// A job of this target started (+1) or stopped (-1) waiting in backoff.
    pub fn retrying_add(&self, delta: i64) {
        self.retrying.fetch_add(delta, Relaxed);
    }

    /// Snapshot state: tokens (thousandths) and refusals.
    pub fn state(&self) -> (i64, u64) {
        (
            self.tokens.load(Relaxed),
            self.exhausted_total.load(Relaxed),
        )
    }

    /// Back from a snapshot (tokens clamped to this configuration's max).
    pub fn restore(&self, tokens_milli: i64, exhausted_total: u64) {
        self.tokens
            .store(tokens_milli.clamp(0, self.config.full()), Relaxed);
        self.exhausted_total.store(exhausted_total, Relaxed);
        self.used.store(true, Relaxed);
    }

    pub fn tokens(&self) -> f64 {
        self.tokens.load(Relaxed) as f64 / MILLI as f64
    }
}

/// One target's budget, for `ListBudgets` and the metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetRow {
    pub target_id: TargetId,
    pub target: String,
    pub tokens: f64,
    pub max_tokens: u32,
    pub retrying: u64,
    pub max_retrying: u32,
    pub exhausted_total: u64,
}

pub struct Budgets {
    labels: BoundedLabels<Option<TargetBudget>>,
    configured: Vec<String>,
}

impl Budgets {
    pub fn new(configs: &BudgetConfigs) -> Budgets {
        let configured: Vec<String> = configs.by_target.keys().cloned().collect();
        let configs = configs.clone();
        Budgets {
            labels: BoundedLabels::with_init(
                configured.iter().map(String::as_str),
                100,
                move |name| configs.for_target(name).copied().map(TargetBudget::new),
            ),
            configured,
        }
    }

    /// No budget anywhere: the hot path can skip the lookup.
    pub fn is_empty(&self) -> bool {
        self.labels.all().iter().all(|(_, e)| e.value.is_none())
    }

    /// The budget of `target`, if it has one.
    pub fn target(&self, target: &str) -> Option<(TargetId, &TargetBudget)> {
        if target.is_empty() {
            return None;
        }
        let id = self.labels.get(target);
        let budget = self.labels.entry(id).value.as_ref()?;
        budget.used.store(true, Relaxed);
        Some((TargetId(id.0), budget))
    }

    pub fn get(&self, id: TargetId) -> Option<&TargetBudget> {
        self.labels.entry(LabelId(id.0)).value.as_ref()
    }

    /// Target names by id, for a snapshot's dictionary.
    pub fn names(&self) -> Vec<String> {
        by_id(
            self.labels
                .all()
                .into_iter()
                .map(|(id, e)| (id, e.label.to_string())),
        )
    }

    /// Every used budget's state, by target name, for a snapshot.
    pub fn states(&self) -> Vec<(String, i64, u64)> {
        self.labels
            .all()
            .into_iter()
            .filter_map(|(_, e)| {
                let b = e.value.as_ref()?;
                b.used.load(Relaxed).then(|| {
                    let (t, x) = b.state();
                    (e.label.to_string(), t, x)
                })
            })
            .collect()
    }

    pub fn name(&self, id: TargetId) -> &str {
        self.labels.name(LabelId(id.0))
    }

    /// Every budget that is configured by name or has been used, by target.
    pub fn rows(&self) -> Vec<BudgetRow> {
        self.labels
            .all()
            .into_iter()
            .filter(|(_, e)| &*e.label != NONE)
            .filter_map(|(id, e)| {
                let b = e.value.as_ref()?;
                let listed =
                    b.used.load(Relaxed) || self.configured.iter().any(|c| **c == *e.label);
                listed.then(|| BudgetRow {
                    target_id: TargetId(id.0),
                    target: e.label.to_string(),
                    tokens: b.tokens(),
                    max_tokens: b.config.max_tokens,
                    retrying: u64::try_from(b.retrying.load(Relaxed)).unwrap_or(0),
                    max_retrying: b.config.max_retrying,
                    exhausted_total: b.exhausted_total.load(Relaxed),
                })
            })
            .collect()
    }
}

/// Names placed at their ids (gaps stay empty).
pub fn by_id(pairs: impl IntoIterator<Item = (LabelId, String)>) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for (id, name) in pairs {
        let i = usize::from(id.0);
        if v.len() <= i {
            v.resize(i + 1, String::new());
        }
        v[i] = name;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs() -> BudgetConfigs {
        let mut c = BudgetConfigs {
            default: Some(BudgetConfig::default()),
            ..Default::default()
        };
        c.by_target.insert(
            "s3".into(),
            BudgetConfig {
                max_tokens: 10,
                ..Default::default()
            },
        );
        c
    }

    #[test]
    fn concurrent_charges_are_all_counted() {
        let b = Budgets::new(&configs());
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..10 {
                        if let Some((_, t)) = b.target("db") {
                            t.charge();
                        }
                    }
                });
            }
        });
        let rows = b.rows();
        let db = rows.iter().find(|r| r.target == "db").expect("db row");
        assert_eq!(db.tokens, 20.0);
    }

    #[test]
    fn configured_targets_are_listed_before_use_and_no_target_has_no_budget() {
        let b = Budgets::new(&configs());
        let names: Vec<String> = b.rows().into_iter().map(|r| r.target).collect();
        assert_eq!(names, ["s3"]);
        assert!(b.target("").is_none());
        assert_eq!(b.target("s3").map(|(_, t)| t.config.max_tokens), Some(10));
        let none = Budgets::new(&BudgetConfigs::default());
        assert!(none.is_empty() && none.target("s3").is_none());
    }
}
