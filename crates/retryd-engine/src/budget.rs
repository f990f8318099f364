//! Retry budgets per downstream target (docs/decisions.md, "Retry budgets
//! per target").
//!
//! Why budgets and not max retries alone: when a dependency fails, every job
//! that calls it fails, and each retries up to its limit; the load on the
//! failing dependency multiplies by the retry count exactly when it can least
//! take it (a retry storm). gRPC, Envoy and Linkerd bound retries per
//! destination instead. retryd sees the failures and successes of every
//! process in the pod for each `target`, so it can hold one budget per
//! target that no in-process library can.
//!
//! The bucket is gRPC's retry throttling: tokens start at `max_tokens`; a
//! reported failure costs 1; a reported success gives back `token_ratio`
//! (capped at `max_tokens`); while tokens are at or below half of
//! `max_tokens`, retryable failures are not retried. `max_retrying` also caps
//! how many jobs of one target may wait in backoff at once (the retries
//! already scheduled count, a gap users report in Envoy's budgets).
//!
//! This module is the arithmetic and the verdict, on plain values; the
//! shared counters live in the sidecar's state layer (`src/state/memory/budgets.rs`,
//! `src/state/redis/budget.rs` in the `retryd` crate).

use std::collections::HashMap;

/// Tokens are kept in thousandths so that `token_ratio` (e.g. 0.1) adds exactly.
pub const MILLI: i64 = 1000;

/// What an exhausted budget answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnExhausted {
    GiveUp,
    /// Retry after the policy's `max_delay` instead.
    Defer,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetConfig {
    pub max_tokens: u32,
    pub token_ratio: f64,
    pub max_retrying: u32,
    pub on_exhausted: OnExhausted,
}

impl Default for BudgetConfig {
    /// The built-in values of a budget key left out (docs/configuration.md).
    fn default() -> Self {
        BudgetConfig {
            max_tokens: 100,
            token_ratio: 0.1,
            max_retrying: 1000,
            on_exhausted: OnExhausted::GiveUp,
        }
    }
}

impl BudgetConfig {
    pub fn full(&self) -> i64 {
        i64::from(self.max_tokens) * MILLI
    }

    /// Tokens after a failure: one less, never below zero.
    pub fn charge(&self, milli: i64) -> i64 {
        (milli - MILLI).max(0)
    }

    /// Tokens after a success: `token_ratio` more, never above `max_tokens`.
    pub fn refill(&self, milli: i64) -> i64 {
        (milli + (self.token_ratio * MILLI as f64).round() as i64).min(self.full())
    }

    /// At or below half of `max_tokens`: retryable failures are not retried.
    pub fn below_half(&self, milli: i64) -> bool {
        2 * milli <= self.full()
    }
}

/// Configuration by target (budgets, breakers): each target's own table,
/// else `default`.
#[derive(Clone, Debug, PartialEq)]
pub struct PerTarget<C> {
    pub by_target: HashMap<String, C>,
    pub default: Option<C>,
}

impl<C> Default for PerTarget<C> {
    fn default() -> Self {
        PerTarget {
            by_target: HashMap::new(),
            default: None,
        }
    }
}

pub type BudgetConfigs = PerTarget<BudgetConfig>;

impl<C> PerTarget<C> {
    /// The table of `target`; `None` for no target or no applicable table.
    pub fn for_target(&self, target: &str) -> Option<&C> {
        if target.is_empty() {
            return None;
        }
        self.by_target.get(target).or(self.default.as_ref())
    }

    /// The targets' own tables by name, then `default`'s.
    pub fn tables(&self) -> Vec<(&str, &C)> {
        let mut t: Vec<(&str, &C)> = self
            .by_target
            .iter()
            .map(|(n, c)| (n.as_str(), c))
            .collect();
        t.sort_by_key(|(n, _)| *n);
        t.extend(self.default.as_ref().map(|d| ("default", d)));
        t
    }

    /// `default`'s table, or `target`'s own.
    pub fn insert(&mut self, target: String, c: C) {
        if target == "default" {
            self.default = Some(c);
        } else {
            self.by_target.insert(target, c);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_target.is_empty() && self.default.is_none()
    }
}

/// Index of a target in the runtime's bounded target table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetId(pub u16);

/// A target's budget as one decision sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetView {
    pub target: TargetId,
    pub config: BudgetConfig,
    /// Tokens (thousandths) before this failure's charge.
    pub tokens: i64,
    /// Jobs of the target waiting in backoff now.
    pub retrying: u64,
    /// The job is one of them already (another retry does not add one).
    pub job_counted: bool,
}

/// Which limit of the budget refused a retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exhausted {
    /// Tokens (whole) after this failure's charge.
    Tokens(u32),
    /// Jobs of the target already waiting in backoff.
    Retrying(u32),
}

impl BudgetView {
    /// Whether the budget refuses the retry this failure would otherwise get.
    pub fn exhausted(&self) -> Option<Exhausted> {
        let after = self.config.charge(self.tokens);
        if self.config.below_half(after) {
            return Some(Exhausted::Tokens(u32::try_from(after / MILLI).unwrap_or(0)));
        }
        if !self.job_counted && self.retrying >= u64::from(self.config.max_retrying) {
            return Some(Exhausted::Retrying(
                u32::try_from(self.retrying).unwrap_or(u32::MAX),
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BudgetConfig {
        BudgetConfig::default()
    }

    #[test]
    fn failures_cost_one_and_successes_give_back_the_ratio() {
        let c = cfg();
        let mut t = c.full();
        assert_eq!(t, 100_000);
        t = c.charge(t);
        assert_eq!(t, 99_000);
        t = c.refill(t);
        assert_eq!(t, 99_100);
        // Capped at max_tokens.
        for _ in 0..100 {
            t = c.refill(t);
        }
        assert_eq!(t, 100_000);
        // Never below zero.
        let mut t = 500;
        t = c.charge(t);
        assert_eq!(t, 0);
    }

    #[test]
    fn at_or_below_half_refuses_retries() {
        let c = cfg();
        let view = |tokens| BudgetView {
            target: TargetId(1),
            config: c,
            tokens,
            retrying: 0,
            job_counted: false,
        };
        // 51 tokens, charged to 50: at half, refused.
        assert_eq!(view(51_000).exhausted(), Some(Exhausted::Tokens(50)));
        // 52 → 51: above half, allowed.
        assert_eq!(view(52_000).exhausted(), None);
        // Fractions count: 50.1 → 49.1 refused; 51.1 → 50.1 allowed.
        assert_eq!(view(50_100).exhausted(), Some(Exhausted::Tokens(49)));
        assert_eq!(view(51_100).exhausted(), None);
    }

    #[test]
    fn a_storm_of_failures_exhausts_after_half_the_tokens() {
        let c = cfg();
        let mut t = c.full();
        let mut retried = 0;
        for _ in 0..200 {
            let v = BudgetView {
                target: TargetId(1),
                config: c,
                tokens: t,
                retrying: 0,
                job_counted: true,
            };
            if v.exhausted().is_none() {
                retried += 1;
            }
            t = c.charge(t);
        }
        // 100 → 51 allowed (49 retries), from 50 down refused.
        assert_eq!(retried, 49);
        // Recovery: 10 successes give back one token.
        for _ in 0..10 {
            t = c.refill(t);
        }
        assert_eq!(t, 1000);
    }

    #[test]
    fn max_retrying_counts_the_retries_already_scheduled() {
        let c = BudgetConfig {
            max_retrying: 3,
            ..cfg()
        };
        let view = |retrying, job_counted| BudgetView {
            target: TargetId(1),
            config: c,
            tokens: c.full(),
            retrying,
            job_counted,
        };
        assert_eq!(view(2, false).exhausted(), None);
        assert_eq!(view(3, false).exhausted(), Some(Exhausted::Retrying(3)));
        // A job already waiting may retry again: it adds no one.
        assert_eq!(view(3, true).exhausted(), None);
    }

    #[test]
    fn default_applies_to_targets_without_their_own_table() {
        let mut configs = BudgetConfigs::default();
        assert!(configs.for_target("s3").is_none());
        configs.default = Some(cfg());
        configs.by_target.insert(
            "s3".into(),
            BudgetConfig {
                max_tokens: 500,
                ..cfg()
            },
        );
        assert_eq!(configs.for_target("s3").map(|c| c.max_tokens), Some(500));
        assert_eq!(configs.for_target("db").map(|c| c.max_tokens), Some(100));
        assert!(configs.for_target("").is_none());
    }
}
