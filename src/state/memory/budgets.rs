//! The shared state of each target's retry budget: tokens, jobs waiting in
//! backoff, and how often it refused a retry.
//!
//! The arithmetic and the verdict are the engine's (`engine::budget`); this
//! keeps the counters, as atomics, so that concurrent reports of one target
//! never lose an update. Targets are bounded labels: those with their own
//! `[budgets.<target>]` table always have their own budget, at most 100
//! others get one, and the rest share the `other` budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use super::targets::TargetSlots;

use crate::engine::{BudgetConfig, BudgetConfigs, BudgetView, TargetId, budget::MILLI};
use crate::labels::{LabelId, Labels, NONE};
use crate::state::BudgetRow;

pub struct TargetBudget {
    pub config: BudgetConfig,
    /// Thousandths of a token.
    tokens: AtomicI64,
    retrying: AtomicI64,
    exhausted_total: AtomicU64,
}

impl TargetBudget {
    fn new(config: BudgetConfig) -> Self {
        TargetBudget {
            tokens: AtomicI64::new(config.full()),
            config,
            retrying: AtomicI64::new(0),
            exhausted_total: AtomicU64::new(0),
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

    /// The budget's take for one failure: the token is spent and the view
    /// the decision sees read in one atomic step, so two failures can never
    /// both pass a check that only one should (the view holds the tokens
    /// before this failure's charge, as a decision expects).
    pub fn take(&self, target: TargetId, job_counted: bool) -> BudgetView {
        let before = self
            .tokens
            .fetch_update(Relaxed, Relaxed, |t| Some(self.config.charge(t)))
            .unwrap_or_else(|t| t);
        BudgetView {
            target,
            config: self.config,
            tokens: before,
            retrying: u64::try_from(self.retrying.load(Relaxed)).unwrap_or(0),
            job_counted,
        }
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
    }

    pub fn tokens(&self) -> f64 {
        self.tokens.load(Relaxed) as f64 / MILLI as f64
    }
}

pub struct Budgets(TargetSlots<BudgetConfig, TargetBudget>);

impl Budgets {
    pub fn new(labels: Arc<Labels>, configs: &BudgetConfigs) -> Budgets {
        Budgets(TargetSlots::new(labels, configs, TargetBudget::new))
    }

    /// The budget of `target`, if it has one.
    pub fn target(&self, target: &str) -> Option<(TargetId, &TargetBudget)> {
        self.0.target(target)
    }

    pub fn get(&self, id: TargetId) -> Option<&TargetBudget> {
        self.0.get(id)
    }

    /// After a reload: tokens (within the new maximum), jobs in backoff and
    /// refusals of each target that still has a budget.
    pub fn carry_from(&self, old: &Budgets) {
        self.0.carry_from(&old.0, |was, now| {
            now.restore(was.tokens.load(Relaxed), was.exhausted_total.load(Relaxed));
            now.retrying.store(was.retrying.load(Relaxed), Relaxed);
        });
    }

    /// Every used budget's state, by target name, for a snapshot.
    pub fn states(&self) -> Vec<(String, i64, u64)> {
        self.0
            .each()
            .into_iter()
            .filter(|l| l.used)
            .map(|l| {
                let (t, x) = l.value.state();
                (l.name.to_string(), t, x)
            })
            .collect()
    }

    /// Every budget that is configured by name or has been used, by target.
    pub fn rows(&self) -> Vec<BudgetRow> {
        self.0
            .each()
            .into_iter()
            .filter(|l| l.name != NONE && (l.used || l.configured))
            .map(|l| {
                let b = l.value;
                BudgetRow {
                    target_id: l.id,
                    target: l.name.to_string(),
                    tokens: b.tokens(),
                    max_tokens: b.config.max_tokens,
                    retrying: u64::try_from(b.retrying.load(Relaxed)).unwrap_or(0),
                    max_retrying: b.config.max_retrying,
                    exhausted_total: b.exhausted_total.load(Relaxed),
                }
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

    fn budgets(c: &BudgetConfigs) -> Budgets {
        let targets: Vec<&str> = c.by_target.keys().map(String::as_str).collect();
        Budgets::new(Arc::new(Labels::new([], targets)), c)
    }

    #[test]
    fn concurrent_charges_are_all_counted() {
        let b = budgets(&configs());
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..10 {
                        if let Some((id, t)) = b.target("db") {
                            t.take(id, false);
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
        let b = budgets(&configs());
        let names: Vec<String> = b.rows().into_iter().map(|r| r.target).collect();
        assert_eq!(names, ["s3"]);
        assert!(b.target("").is_none());
        assert_eq!(b.target("s3").map(|(_, t)| t.config.max_tokens), Some(10));
        let none = budgets(&BudgetConfigs::default());
        assert!(none.target("s3").is_none() && none.rows().is_empty());
    }
}

#[cfg(test)]
mod take_tests {
    use super::*;

    /// Two failures of one target racing for the last token above half:
    /// exactly one passes (the take reads and spends in one step).
    #[test]
    fn concurrent_takes_never_both_pass_the_half_tokens_check() {
        let mut c = BudgetConfigs::default();
        c.by_target.insert(
            "db".into(),
            BudgetConfig {
                max_tokens: 10,
                ..Default::default()
            },
        );
        for _ in 0..200 {
            let b = Budgets::new(Arc::new(Labels::new([], ["db"])), &c);
            let (id, t) = b.target("db").expect("db budget");
            // 7 of 10 tokens: the first take leaves 6 (above half: retry),
            // the second leaves 5 (at half: refused). One passes, never two.
            t.restore(7 * MILLI, 0);
            let passed = std::sync::atomic::AtomicU32::new(0);
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        if t.take(id, false).exhausted().is_none() {
                            passed.fetch_add(1, Relaxed);
                        }
                    });
                }
            });
            assert_eq!(passed.load(Relaxed), 1);
        }
    }
}
