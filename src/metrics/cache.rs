//! Metric handles cached by the ids of their label values.

use std::hash::Hash;

use dashmap::DashMap;
use foldhash::fast::FixedState;

/// Handles cached by the ids of their label values: a lookup hashes a few
/// bytes and clones an `Arc`; the names are only read to register.
pub(super) struct Cache<K, H> {
    pub(super) map: DashMap<K, H, FixedState>,
}

impl<K: Eq + Hash, H: Clone> Cache<K, H> {
    pub(super) fn new() -> Self {
        Cache {
            map: DashMap::with_hasher(FixedState::default()),
        }
    }

    /// The handle for `k`, registered on first use; used in place (under
    /// the map's read lock) rather than cloned, so a call costs no `Arc`
    /// clone and drop.
    pub(super) fn get(&self, k: K, register: impl FnOnce() -> H) -> Handle<'_, K, H> {
        if let Some(h) = self.map.get(&k) {
            return Handle::Cached(h);
        }
        Handle::Cached(self.map.entry(k).or_insert_with(register).downgrade())
    }
}

/// A metric handle: one in a `Cache`, or one registered for this call only.
pub(super) enum Handle<'a, K, H> {
    Cached(dashmap::mapref::one::Ref<'a, K, H>),
    Own(H),
}

impl<K: Eq + Hash, H> std::ops::Deref for Handle<'_, K, H> {
    type Target = H;

    fn deref(&self) -> &H {
        match self {
            Handle::Cached(r) => r.value(),
            Handle::Own(h) => h,
        }
    }
}
