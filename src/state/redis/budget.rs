//! Retry budgets in Redis: a target's tokens taken and counted fleet-wide.

use super::{Op, Redis};
use crate::engine::{BudgetConfig, BudgetView, Job, PerTarget, TargetId};
use crate::state::StateError;
use crate::state::step;

/// A target with a retry budget, as this fleet labels it.
#[derive(Clone, Debug)]
pub(super) struct Budgeted {
    pub(super) id: TargetId,
    pub(super) name: String,
    pub(super) config: BudgetConfig,
}

impl Redis {
    /// Where `target` counts for a per-target table of `configs` (budgets,
    /// breakers): its own label (a table names it, or the fleet's label
    /// registry has room for it), else `other`; and the table that applies.
    pub(super) async fn per_target<C: Copy>(
        &self,
        configs: &PerTarget<C>,
        target: &str,
    ) -> Result<Option<(TargetId, String, C)>, StateError> {
        if configs.for_target(target).is_none() {
            return Ok(None);
        }
        let own = configs.by_target.contains_key(target)
            || self.targets.own_label(&self.link, target).await?;
        let id = if own {
            self.labels.targets.get(target)
        } else {
            self.labels.targets.other()
        };
        let name = self.labels.targets.name(id).to_string();
        Ok(configs
            .for_target(&name)
            .map(|config| (TargetId(id.0), name, *config)))
    }

    /// The targets a per-target table may hold state for: those with a
    /// table of their own and, under a `default`, the fleet's labelled
    /// targets and `other`.
    pub(super) async fn listed_targets<C>(
        &self,
        configs: &PerTarget<C>,
    ) -> Result<Vec<String>, StateError> {
        let mut names: Vec<String> = configs.by_target.keys().cloned().collect();
        if configs.default.is_some() {
            names.extend(self.targets.members(&self.link).await?);
            names.push(crate::labels::OTHER.to_string());
        }
        names.sort();
        names.dedup();
        names.retain(|n| n != crate::labels::NONE);
        Ok(names)
    }

    /// The budget `target` is charged to, if it has one.
    pub(super) async fn budgeted(&self, target: &str) -> Result<Option<Budgeted>, StateError> {
        let configs = self.configs.load_full();
        let found = self.per_target(&configs.budgets, target).await?;
        Ok(found.map(|(id, name, config)| Budgeted { id, name, config }))
    }

    /// Spends from or gives back to a budget; the tokens before (thousandths).
    pub(super) async fn budget_op(
        &self,
        b: &Budgeted,
        take: bool,
        milli: i64,
    ) -> Result<i64, StateError> {
        self.link
            .invoke(
                Op::Budget,
                self.budget_script
                    .key(self.keys.budget(&b.name))
                    .arg(if take { "take" } else { "give" })
                    .arg(milli)
                    .arg(b.config.full()),
            )
            .await
    }

    pub(super) async fn count_refusal(&self, b: &Budgeted) {
        let _: Result<i64, _> = self
            .link
            .query(
                Op::Budget,
                redis::cmd("HINCRBY")
                    .arg(self.keys.budget(&b.name))
                    .arg("exhausted")
                    .arg(1),
            )
            .await;
    }

    pub(super) fn view(&self, b: &Budgeted, tokens: i64, job: Option<&Job>) -> BudgetView {
        BudgetView {
            target: b.id,
            config: b.config,
            tokens,
            retrying: self.retrying.get(&b.name),
            job_counted: step::counted_for(job, b.id),
        }
    }

    // ---- the report step ----------------------------------------------------
}
