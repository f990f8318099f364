//! The store's side of a snapshot: its records and the names behind their
//! ids copied out, and read back in with the ids translated by name.

use std::sync::atomic::Ordering::Relaxed;

use super::record::{Record, Texts, TypeRef};
use super::{Store, budgets};
use crate::state::step::Tally;

/// The names behind a store's ids, indexed by id.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dictionary {
    pub job_types: Vec<String>,
    pub type_names: Vec<String>,
    pub targets: Vec<String>,
}

/// How a snapshot's ids map to this process's.
pub struct Remap {
    pub dictionary: Dictionary,
    pub policies: Vec<crate::engine::PolicyId>,
    pub default_policy: crate::engine::PolicyId,
    pub categories: Vec<crate::engine::CategoryId>,
    pub unknown_category: crate::engine::CategoryId,
    /// Old rule index → the same rule now (same index, same category), if it still is.
    pub rules: Vec<Option<u16>>,
}

impl Remap {
    /// A decision's policy, category and rule ids, translated.
    pub fn ids(&self, d: &mut crate::engine::Decision) {
        d.policy = self
            .policies
            .get(usize::from(d.policy.0))
            .copied()
            .unwrap_or(self.default_policy);
        d.category = self
            .categories
            .get(usize::from(d.category.0))
            .copied()
            .unwrap_or(self.unknown_category);
        d.rule = d
            .rule
            .and_then(|r| self.rules.get(usize::from(r)).copied().flatten());
    }
}

impl Store {
    /// A reload: every record's ids made `new`'s (from `old`'s), the budgets
    /// and breakers rebuilt from `new` keeping what each target had, and
    /// `swap` (the engine's own) run, all while no report can touch a
    /// record. A call that decided under `old` is then refused as stale.
    pub fn reconfigure<R>(
        &self,
        old: &crate::engine::Engine,
        new: &crate::engine::Engine,
        swap: impl FnOnce() -> R,
    ) -> R {
        let remap = super::snapshot::remap_names(
            new,
            &super::snapshot::IdNames::of(old),
            Dictionary::default(),
        );
        let targets = super::Targets::new(self.labels.clone(), new);
        self.table.with_all_locked(
            |rec| {
                let mut head = rec.head();
                remap.ids(&mut head.job.last_decision);
                rec.write_head(&head);
            },
            || {
                targets.carry_from(&self.targets.load());
                self.targets.store(std::sync::Arc::new(targets));
                self.generation
                    .store(new.generation, std::sync::atomic::Ordering::Release);
                swap()
            },
        )
    }

    /// Appends shard `i`'s records to `out` (see `Table::copy_shard`).
    pub fn copy_shard(&self, i: usize, out: &mut Vec<u8>) -> u64 {
        self.table.copy_shard(i, out)
    }

    /// The names behind the ids records hold: job-type labels, interned
    /// error types, targets.
    pub fn dictionary(&self) -> Dictionary {
        Dictionary {
            job_types: budgets::by_id(
                self.labels
                    .job_types
                    .all()
                    .into_iter()
                    .map(|(id, e)| (id, e.label.to_string())),
            ),
            type_names: self.names.all(),
            targets: budgets::by_id(
                self.labels
                    .targets
                    .all()
                    .into_iter()
                    .map(|(id, e)| (id, e.label.to_string())),
            ),
        }
    }

    /// Per job type: first-try successes, successes after retry, give-ups.
    pub fn type_counters(&self) -> Vec<(String, [u64; 3])> {
        self.labels
            .job_types
            .all()
            .into_iter()
            .map(|(id, e)| {
                let v = self.stats_of(id);
                (
                    e.label.to_string(),
                    [
                        v.first_try_successes.load(Relaxed),
                        v.successes_after_retry.load(Relaxed),
                        v.give_ups.load(Relaxed),
                    ],
                )
            })
            .filter(|(_, c)| c.iter().any(|n| *n > 0))
            .collect()
    }

    pub fn restore_type_counters(&self, counters: &[(String, [u64; 3])]) {
        for (name, [first, after, give_ups]) in counters {
            let v = self.stats_of(self.labels.job_types.get(name));
            v.first_try_successes.store(*first, Relaxed);
            v.successes_after_retry.store(*after, Relaxed);
            v.give_ups.store(*give_ups, Relaxed);
        }
    }

    pub fn budget_states(&self) -> Vec<(String, i64, u64)> {
        self.targets.load().budgets.states()
    }

    pub fn restore_budgets(&self, states: &[(String, i64, u64)]) {
        let targets = self.targets.load();
        for (target, tokens, exhausted) in states {
            if let Some((_, b)) = targets.budgets.target(target) {
                b.restore(*tokens, *exhausted);
            }
        }
    }

    /// One record from a snapshot, its ids translated by `remap` into this
    /// process's. `false` if the bytes are not a record or the id is taken.
    pub fn restore(&self, bytes: Box<[u8]>, remap: &Remap) -> bool {
        let Some(old) = Record::try_from_bytes(bytes) else {
            return false;
        };
        let mut head = old.head();
        let t = old.texts();
        let name = |v: &[String], i: u16| v.get(usize::from(i)).cloned().unwrap_or_default();
        let job_type = match t.job_type {
            Some(jt) => jt.to_string(),
            None => name(&remap.dictionary.job_types, head.label.0),
        };
        let job_type = if job_type == crate::labels::NONE {
            String::new()
        } else {
            job_type
        };
        head.label = self.labels.job_types.get(&job_type);
        remap.ids(&mut head.job.last_decision);
        let d = &mut head.job.last_decision;
        d.target = d.target.and_then(|t| {
            self.targets
                .load()
                .budgets
                .target(&name(&remap.dictionary.targets, t.0))
                .map(|(id, _)| id)
        });
        let type_name = match t.type_name {
            TypeRef::Interned(i) => name(&remap.dictionary.type_names, i),
            TypeRef::Inline(s) => s.to_string(),
        };
        let own_name = job_type.is_empty() || self.label_name(head.label) == job_type;
        // A parcel gets a fresh key in this process's indexes.
        let mut carried = old.carried();
        if let Some(c) = carried.as_mut() {
            self.delivery.numbers_above(c.parcel.lease);
            self.delivery.hold(c.payload.len());
            let hash = self.table.hash(t.id);
            let mut p = c.parcel;
            self.delivery
                .moved(hash, None, Some((c.queue, &mut p, c.payload.len())));
            c.parcel = p;
        }
        // Refused, not cut: a text the header cannot hold (an error type of
        // 32 KiB from the dictionary, say) is not a record this process wrote.
        let Ok(rec) = Record::encode(
            &head,
            &Texts {
                id: t.id,
                type_name: self.names.intern(&type_name),
                job_type: (!own_name).then_some(job_type.as_str()),
                message: t.message,
            },
            carried.as_ref(),
        ) else {
            self.undo_restored_parcel(t.id, carried.as_ref());
            return false;
        };
        if !self.table.insert_new(rec) {
            self.undo_restored_parcel(t.id, carried.as_ref());
            return false;
        }
        self.apply(head.label, &Tally::of(None, Some(&head.job), None));
        true
    }

    /// A restored parcel whose record was refused: its key and bytes back.
    fn undo_restored_parcel(&self, id: &str, carried: Option<&super::record::Carried<'_>>) {
        if let Some(c) = carried {
            self.delivery.moved(
                self.table.hash(id),
                Some(super::delivery::Place {
                    queue: c.queue,
                    parcel: &c.parcel,
                    payload_len: c.payload.len(),
                }),
                None,
            );
            self.delivery.release(c.payload.len());
        }
    }
}
