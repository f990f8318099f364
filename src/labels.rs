//! Bounded label values.
//!
//! `job_type` (and `target`) come from callers, and each distinct value is a
//! Prometheus series and a row of statistics. Values named in the
//! configuration are always their own label; at most `dynamic_limit` others
//! get one, first come first served; everything past that shares `other`.
//! A caller cannot blow up the metrics' cardinality.
//!
//! Each label gets a small id: jobs store the id (2 bytes, not a string), and
//! reading an entry by id takes no lock.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

/// The label for an empty value.
pub const NONE: &str = "none";
/// The label shared by values past the bound.
pub const OTHER: &str = "other";

/// Index of a label in its `BoundedLabels`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelId(pub u16);

/// A label and what is kept per label.
#[derive(Debug, Default)]
pub struct Labeled<V> {
    pub label: Arc<str>,
    pub value: V,
}

/// Makes the value kept for a new label from the label's name.
type Init<V> = Box<dyn Fn(&str) -> V + Send + Sync>;

pub struct BoundedLabels<V> {
    /// Filled in order, never emptied: an id, once given, always reads the same entry.
    entries: Box<[OnceLock<Labeled<V>>]>,
    by_name: RwLock<Table>,
    other: LabelId,
    dynamic_limit: usize,
    init: Init<V>,
}

impl<V> std::fmt::Debug for BoundedLabels<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundedLabels")
            .field("dynamic_limit", &self.dynamic_limit)
            .finish()
    }
}

#[derive(Debug, Default)]
struct Table {
    ids: HashMap<Arc<str>, LabelId, foldhash::fast::RandomState>,
    next: usize,
    dynamic: usize,
}

impl<V: Default> BoundedLabels<V> {
    pub fn new<'a>(configured: impl IntoIterator<Item = &'a str>, dynamic_limit: usize) -> Self {
        Self::with_init(configured, dynamic_limit, |_| V::default())
    }
}

impl<V> BoundedLabels<V> {
    /// Like `new`, with each label's value made by `init` from its name.
    pub fn with_init<'a>(
        configured: impl IntoIterator<Item = &'a str>,
        dynamic_limit: usize,
        init: impl Fn(&str) -> V + Send + Sync + 'static,
    ) -> Self {
        let mut names: Vec<&str> = vec![OTHER, NONE];
        for n in configured {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        // Ids are u16; keep the table within them.
        let dynamic_limit = dynamic_limit.min(usize::from(u16::MAX) - names.len());
        let entries: Box<[OnceLock<Labeled<V>>]> = (0..names.len() + dynamic_limit)
            .map(|_| OnceLock::new())
            .collect();
        let labels = BoundedLabels {
            entries,
            by_name: RwLock::new(Table::default()),
            other: LabelId(0),
            dynamic_limit,
            init: Box::new(init),
        };
        {
            let mut t = labels.write();
            for n in names {
                labels.add(&mut t, n);
            }
        }
        labels
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        // The lock guards a map of ids: a panic elsewhere cannot leave it half-updated.
        self.by_name.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, t: &mut Table, name: &str) -> LabelId {
        let id = LabelId(u16::try_from(t.next).unwrap_or(u16::MAX));
        let label: Arc<str> = Arc::from(name);
        if let Some(slot) = self.entries.get(t.next) {
            let _ = slot.set(Labeled {
                label: label.clone(),
                value: (self.init)(name),
            });
        }
        t.ids.insert(label, id);
        t.next += 1;
        id
    }

    /// The label for `name` (`none` for an empty name).
    pub fn get(&self, name: &str) -> LabelId {
        let name = if name.is_empty() { NONE } else { name };
        {
            let t = self.by_name.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(id) = t.ids.get(name) {
                return *id;
            }
            if t.dynamic >= self.dynamic_limit {
                return self.other;
            }
        }
        let mut t = self.write();
        if let Some(id) = t.ids.get(name) {
            return *id;
        }
        if t.dynamic >= self.dynamic_limit {
            return self.other;
        }
        t.dynamic += 1;
        self.add(&mut t, name)
    }

    /// The entry of a label id (the `other` entry for an id never given).
    pub fn entry(&self, id: LabelId) -> &Labeled<V> {
        self.entries
            .get(usize::from(id.0))
            .and_then(OnceLock::get)
            .or_else(|| self.entries.first().and_then(OnceLock::get))
            .unwrap_or_else(|| unreachable!("`other` is always the first entry"))
    }

    pub fn name(&self, id: LabelId) -> &str {
        &self.entry(id).label
    }

    /// How many labels there can ever be: every id is below it, so a table
    /// of this length indexed by id holds a value per label.
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// The label shared by values past the bound.
    pub fn other(&self) -> LabelId {
        self.other
    }

    /// Every label entry with its id, sorted by label.
    pub fn all(&self) -> Vec<(LabelId, &Labeled<V>)> {
        let mut v: Vec<_> = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((LabelId(u16::try_from(i).ok()?), e.get()?)))
            .collect();
        v.sort_by(|a, b| a.1.label.cmp(&b.1.label));
        v
    }
}

/// The label tables of one sidecar: job types and targets.
///
/// Shared by whatever keeps the state (and by its local fallback in fleet
/// mode), so that a label id means the same label to the state and to the
/// metrics, whose handles are cached by id.
#[derive(Debug)]
pub struct Labels {
    pub job_types: BoundedLabels<()>,
    pub targets: BoundedLabels<()>,
}

/// Past this many values not named in the configuration, a job type or a
/// target is counted as `other`.
pub const DYNAMIC_LIMIT: usize = 100;

impl Labels {
    pub fn new<'a>(
        job_types: impl IntoIterator<Item = &'a str>,
        targets: impl IntoIterator<Item = &'a str>,
    ) -> Labels {
        Labels {
            job_types: BoundedLabels::new(job_types, DYNAMIC_LIMIT),
            targets: BoundedLabels::new(targets, DYNAMIC_LIMIT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    #[test]
    fn configured_values_always_get_their_own_label_and_others_are_bounded() {
        let labels: BoundedLabels<()> = BoundedLabels::new(["extraction"], 2);
        let name = |n: &str| labels.name(labels.get(n)).to_string();
        assert_eq!(name("a"), "a");
        assert_eq!(name("b"), "b");
        assert_eq!(name("c"), OTHER);
        assert_eq!(name("a"), "a");
        assert_eq!(name("extraction"), "extraction");
        assert_eq!(name(""), NONE);
        for i in 0..1000 {
            labels.get(&format!("flood-{i}"));
        }
        // other + none + configured + 2 dynamic.
        assert_eq!(labels.all().len(), 5);
    }

    #[test]
    fn same_value_shares_one_entry() {
        let labels: BoundedLabels<AtomicU64> = BoundedLabels::new([], 10);
        let a = labels.get("x");
        labels.entry(a).value.fetch_add(1, Relaxed);
        assert_eq!(labels.entry(labels.get("x")).value.load(Relaxed), 1);
        assert_eq!(labels.name(LabelId(999)), OTHER);
    }
}
