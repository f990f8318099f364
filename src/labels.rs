//! Bounded label values.
//!
//! `job_type` (and later `target`) come from callers, and each distinct value
//! is a Prometheus series and a row of statistics. Values named in the
//! configuration are always their own label; at most `dynamic_limit` others
//! get one, first come first served; everything past that shares `other`.
//! A caller cannot blow up the metrics' cardinality.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

/// The label for an empty value.
pub const NONE: &str = "none";
/// The label shared by values past the bound.
pub const OTHER: &str = "other";

/// A label and what is kept per label.
#[derive(Debug, Default)]
pub struct Labeled<V> {
    pub label: Arc<str>,
    pub value: V,
}

#[derive(Debug)]
pub struct BoundedLabels<V> {
    map: RwLock<Table<V>>,
    other: Arc<Labeled<V>>,
    dynamic_limit: usize,
}

#[derive(Debug)]
struct Table<V> {
    by_name: HashMap<Arc<str>, Arc<Labeled<V>>>,
    dynamic: usize,
}

fn make<V: Default>(name: &str) -> Arc<Labeled<V>> {
    Arc::new(Labeled {
        label: Arc::from(name),
        value: V::default(),
    })
}

impl<V: Default> BoundedLabels<V> {
    pub fn new<'a>(configured: impl IntoIterator<Item = &'a str>, dynamic_limit: usize) -> Self {
        let other = make(OTHER);
        let mut by_name = HashMap::new();
        for name in configured.into_iter().chain([NONE]) {
            let entry = make(name);
            by_name.insert(entry.label.clone(), entry);
        }
        by_name.insert(other.label.clone(), other.clone());
        BoundedLabels {
            map: RwLock::new(Table {
                by_name,
                dynamic: 0,
            }),
            other,
            dynamic_limit,
        }
    }

    /// The label entry for `name` (`none` for an empty name).
    pub fn get(&self, name: &str) -> Arc<Labeled<V>> {
        let name = if name.is_empty() { NONE } else { name };
        {
            // The lock only guards a map of Arcs: a panic elsewhere cannot leave it half-updated.
            let table = self.map.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(e) = table.by_name.get(name) {
                return e.clone();
            }
            if table.dynamic >= self.dynamic_limit {
                return self.other.clone();
            }
        }
        let mut table = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = table.by_name.get(name) {
            return e.clone();
        }
        if table.dynamic >= self.dynamic_limit {
            return self.other.clone();
        }
        table.dynamic += 1;
        let entry = make(name);
        table.by_name.insert(entry.label.clone(), entry.clone());
        entry
    }

    /// Every label entry, sorted by label.
    pub fn all(&self) -> Vec<Arc<Labeled<V>>> {
        let table = self.map.read().unwrap_or_else(PoisonError::into_inner);
        let mut v: Vec<_> = table.by_name.values().cloned().collect();
        v.sort_by(|a, b| a.label.cmp(&b.label));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_values_always_get_their_own_label_and_others_are_bounded() {
        let labels: BoundedLabels<()> = BoundedLabels::new(["extraction"], 2);
        assert_eq!(&*labels.get("a").label, "a");
        assert_eq!(&*labels.get("b").label, "b");
        assert_eq!(&*labels.get("c").label, OTHER);
        assert_eq!(&*labels.get("a").label, "a");
        assert_eq!(&*labels.get("extraction").label, "extraction");
        assert_eq!(&*labels.get("").label, NONE);
        for i in 0..1000 {
            labels.get(&format!("flood-{i}"));
        }
        // configured + none + other + 2 dynamic.
        assert_eq!(labels.all().len(), 5);
    }

    #[test]
    fn same_value_shares_one_entry() {
        let labels: BoundedLabels<std::sync::atomic::AtomicU64> = BoundedLabels::new([], 10);
        let a = labels.get("x");
        a.value.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            labels
                .get("x")
                .value
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
    }
}
