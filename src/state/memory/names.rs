//! Interned error type names.
//!
//! A service raises a handful of exception types over and over; storing
//! `requests.exceptions.ConnectionError` once and a 2-byte id per job saves
//! tens of bytes a job. The table is bounded (callers control the names):
//! past the bound a job keeps its type name inline.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use super::record::TypeRef;

/// Most names interned (ids must stay below 0x8000).
pub const MAX_NAMES: usize = 4096;
/// Longer names are kept inline: they are unlikely to repeat.
const MAX_LEN: usize = 256;

/// Ids by name, and names by id. (foldhash, seeded per process: every
/// report looks its error type up here; std's SipHash cost ~7 % of a report.)
type Table = (
    HashMap<Arc<str>, u16, foldhash::fast::RandomState>,
    Vec<Arc<str>>,
);

#[derive(Default)]
pub struct Names {
    table: RwLock<Table>,
}

impl Names {
    pub fn intern<'a>(&self, name: &'a str) -> TypeRef<'a> {
        if name.is_empty() || name.len() > MAX_LEN {
            return TypeRef::Inline(name);
        }
        {
            let t = self.table.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(&id) = t.0.get(name) {
                return TypeRef::Interned(id);
            }
            if t.1.len() >= MAX_NAMES {
                return TypeRef::Inline(name);
            }
        }
        let mut t = self.table.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(&id) = t.0.get(name) {
            return TypeRef::Interned(id);
        }
        if t.1.len() >= MAX_NAMES {
            return TypeRef::Inline(name);
        }
        let id = t.1.len() as u16;
        let name: Arc<str> = Arc::from(name);
        t.1.push(name.clone());
        t.0.insert(name, id);
        TypeRef::Interned(id)
    }

    /// Every interned name, by id.
    pub fn all(&self) -> Vec<String> {
        let t = self.table.read().unwrap_or_else(PoisonError::into_inner);
        t.1.iter().map(|s| s.to_string()).collect()
    }

    /// The name a `TypeRef` stands for.
    pub fn resolve(&self, r: TypeRef<'_>) -> String {
        match r {
            TypeRef::Inline(s) => s.to_string(),
            TypeRef::Interned(id) => {
                let t = self.table.read().unwrap_or_else(PoisonError::into_inner);
                t.1.get(usize::from(id))
                    .map(|s| s.to_string())
                    .unwrap_or_default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_up_to_the_bound_then_keeps_names_inline() {
        let n = Names::default();
        let a = n.intern("ConnectionError");
        assert_eq!(a, n.intern("ConnectionError"));
        assert!(matches!(a, TypeRef::Interned(_)));
        assert_eq!(n.resolve(a), "ConnectionError");
        assert_eq!(n.intern(""), TypeRef::Inline(""));
        for i in 0..MAX_NAMES {
            n.intern(&format!("T{i}"));
        }
        assert_eq!(n.intern("OneTooMany"), TypeRef::Inline("OneTooMany"));
        assert_eq!(n.resolve(n.intern("T5")), "T5");
    }
}
