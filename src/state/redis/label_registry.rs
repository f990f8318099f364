//! The fleet's label registry: which job types (and targets) have a label
//! of their own.
//!
//! In memory, the first 100 values a sidecar sees that the configuration
//! does not name get their own label and the rest count as `other`. A fleet
//! must label alike on every sidecar — a job counted under one label by one
//! pod is uncounted under the same label by another — so in fleet mode the
//! first 100 are the fleet's, kept in a Redis set; each sidecar asks once
//! per value and remembers the answer (a value's answer never changes: the
//! set only grows).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use redis::Script;

use super::conn::{Link, Op};
use crate::labels::DYNAMIC_LIMIT;
use crate::state::StateError;

/// Answers kept per sidecar before the cache starts over (a flood of new
/// values must not grow it without bound).
const CACHE: usize = 4096;

pub struct Registry {
    key: String,
    script: Script,
    known: Mutex<HashMap<String, bool>>,
}

impl Registry {
    pub fn new(key: String) -> Registry {
        Registry {
            key,
            script: Script::new(include_str!("lua/register.lua")),
            known: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, name: &str) -> Option<bool> {
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .copied()
    }

    /// Whether `name` has a label of its own in the fleet.
    pub async fn own_label(&self, link: &Link, name: &str) -> Result<bool, StateError> {
        if let Some(own) = self.cached(name) {
            return Ok(own);
        }
        let own: i64 = link
            .invoke(
                Op::Label,
                self.script.key(&self.key).arg(name).arg(DYNAMIC_LIMIT),
            )
            .await?;
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if known.len() >= CACHE {
            known.clear();
        }
        known.insert(name.to_string(), own == 1);
        Ok(own == 1)
    }

    /// Every value with a label of its own.
    pub async fn members(&self, link: &Link) -> Result<Vec<String>, StateError> {
        link.query(Op::Label, redis::cmd("SMEMBERS").arg(&self.key))
            .await
    }
}
