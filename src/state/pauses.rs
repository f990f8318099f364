//! Operators' pauses (`PauseRetries`): which job types and targets have
//! their retries paused, and until when.
//!
//! Read on every failure, so the list is swapped whole (`ArcSwap`) and a
//! report takes no lock; with no pause in force the check is one load and
//! one length test. In fleet mode the list is a mirror of the fleet's hash
//! in Redis (`state/redis/pauses.rs`), refreshed every second.

use super::{Backend, State, StateError};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::engine::{PauseView, Timestamp};

/// What a pause covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    JobType(String),
    Target(String),
}

impl Scope {
    /// "job type invoice", "target s3".
    pub fn describe(&self) -> String {
        match self {
            Scope::JobType(t) => format!("job type {t}"),
            Scope::Target(t) => format!("target {t}"),
        }
    }

    /// The field that names it in Redis: `j:<job type>` or `t:<target>`.
    pub fn field(&self) -> String {
        match self {
            Scope::JobType(t) => format!("j:{t}"),
            Scope::Target(t) => format!("t:{t}"),
        }
    }

    pub fn from_field(f: &str) -> Option<Scope> {
        if let Some(t) = f.strip_prefix("j:") {
            Some(Scope::JobType(t.to_string()))
        } else {
            f.strip_prefix("t:").map(|t| Scope::Target(t.to_string()))
        }
    }

    pub fn job_type(&self) -> &str {
        match self {
            Scope::JobType(t) => t,
            Scope::Target(_) => "",
        }
    }

    pub fn target(&self) -> &str {
        match self {
            Scope::JobType(_) => "",
            Scope::Target(t) => t,
        }
    }
}

/// One pause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pause {
    pub scope: Scope,
    /// When it ends by itself; `None` until resumed.
    pub until: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl Pause {
    pub fn live(&self, now: Timestamp) -> bool {
        self.until.is_none_or(|u| u > now)
    }

    fn covers(&self, job_type: &str, target: &str) -> bool {
        match &self.scope {
            Scope::JobType(t) => t == job_type,
            Scope::Target(t) => t == target,
        }
    }

    /// How it is kept in Redis: `<until ms, 0 = none>:<created ms>`.
    pub fn value(&self) -> String {
        format!("{}:{}", self.until.map_or(0, |t| t.0), self.created_at.0)
    }

    pub fn from_value(scope: Scope, v: &str) -> Option<Pause> {
        let (until, created) = v.split_once(':')?;
        let until: u64 = until.parse().ok()?;
        Some(Pause {
            scope,
            until: (until > 0).then_some(Timestamp(until)),
            created_at: Timestamp(created.parse().ok()?),
        })
    }
}

/// The pauses in force.
#[derive(Default)]
pub struct Pauses {
    list: ArcSwap<Vec<Pause>>,
}

impl Pauses {
    /// The pause that covers a failure of `job_type` at `target`, if any:
    /// of several, the one that ends last.
    pub fn covering(
        &self,
        job_type: &str,
        target: &str,
        now: Timestamp,
        recheck: Duration,
    ) -> Option<PauseView> {
        let list = self.list.load();
        if list.is_empty() {
            return None;
        }
        list.iter()
            .filter(|p| p.live(now) && p.covers(job_type, target))
            .map(|p| PauseView {
                until: p.until,
                recheck,
                by_target: matches!(p.scope, Scope::Target(_)),
            })
            .max_by_key(|v| v.retry_at(now))
    }

    /// Sets `pause`, replacing any of the same scope.
    pub fn set(&self, pause: Pause) {
        self.list.rcu(|list| {
            let mut l: Vec<Pause> = list
                .iter()
                .filter(|p| p.scope != pause.scope)
                .cloned()
                .collect();
            l.push(pause.clone());
            l.sort_by(|a, b| a.scope.cmp(&b.scope));
            l
        });
    }

    /// Ends the pause of `scope`; whether there was one in force.
    pub fn remove(&self, scope: &Scope, now: Timestamp) -> bool {
        let before = self.list.rcu(|list| {
            list.iter()
                .filter(|p| &p.scope != scope)
                .cloned()
                .collect::<Vec<_>>()
        });
        before.iter().any(|p| &p.scope == scope && p.live(now))
    }

    /// Replaces every pause (a fleet's mirror refreshed).
    pub fn replace(&self, mut pauses: Vec<Pause>) {
        pauses.sort_by(|a, b| a.scope.cmp(&b.scope));
        self.list.store(Arc::new(pauses));
    }

    /// The pauses in force at `now`, ordered by scope.
    pub fn live(&self, now: Timestamp) -> Vec<Pause> {
        self.list
            .load()
            .iter()
            .filter(|p| p.live(now))
            .cloned()
            .collect()
    }

    /// The scopes whose pause ran out by `now` (kept until paused again or resumed).
    pub fn ended(&self, now: Timestamp) -> Vec<Scope> {
        self.list
            .load()
            .iter()
            .filter(|p| !p.live(now))
            .map(|p| p.scope.clone())
            .collect()
    }
}

/// Pauses through whichever backend holds the state.
impl State {
    /// Sets a pause (in fleet mode, for the whole fleet).
    pub async fn pause(&self, pause: Pause) -> Result<(), StateError> {
        if let Backend::Redis(f) = &self.backend {
            f.pause_set(&pause).await?;
        }
        self.pauses.set(pause);
        Ok(())
    }

    /// Ends the pause of `scope`; whether one was in force.
    pub async fn resume(&self, scope: &Scope, now: Timestamp) -> Result<bool, StateError> {
        let was = match &self.backend {
            Backend::Redis(f) => f.pause_remove(scope, now).await?,
            Backend::Memory(_) => false,
        };
        Ok(self.pauses.remove(scope, now) || was)
    }

    /// The pauses in force (in fleet mode, read from the fleet).
    pub async fn list_pauses(&self, now: Timestamp) -> Result<Vec<Pause>, StateError> {
        self.refresh_pauses().await?;
        Ok(self.pauses.live(now))
    }

    /// Fleet mode: the mirror made the fleet's again. Memory: nothing to do.
    pub async fn refresh_pauses(&self) -> Result<(), StateError> {
        if let Backend::Redis(f) = &self.backend {
            self.pauses.replace(f.pauses().await?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECHECK: Duration = Duration::from_secs(60);

    fn pause(scope: Scope, until: Option<u64>) -> Pause {
        Pause {
            scope,
            until: until.map(Timestamp),
            created_at: Timestamp(1),
        }
    }

    #[test]
    fn a_pause_covers_its_job_type_or_target_until_it_ends() {
        let p = Pauses::default();
        let now = Timestamp(1_000);
        assert_eq!(p.covering("invoice", "s3", now, RECHECK), None);
        p.set(pause(Scope::JobType("invoice".into()), Some(5_000)));
        let v = p.covering("invoice", "", now, RECHECK).expect("paused");
        assert_eq!((v.until, v.by_target), (Some(Timestamp(5_000)), false));
        assert_eq!(v.retry_at(now), Timestamp(5_000));
        assert_eq!(p.covering("email", "", now, RECHECK), None);
        // Over once its time is up.
        assert_eq!(p.covering("invoice", "", Timestamp(5_000), RECHECK), None);
        // An open-ended pause of the target: the retry asks again after the recheck.
        p.set(pause(Scope::Target("s3".into()), None));
        let v = p.covering("email", "s3", now, RECHECK).expect("paused");
        assert!(v.by_target);
        assert_eq!(v.retry_at(now), Timestamp(61_000));
        // Both cover: the one that ends last decides.
        let v = p.covering("invoice", "s3", now, RECHECK).expect("paused");
        assert_eq!(v.retry_at(now), Timestamp(61_000));
    }

    #[test]
    fn setting_replaces_removing_ends_and_time_runs_out() {
        let p = Pauses::default();
        let now = Timestamp(1_000);
        let scope = Scope::JobType("invoice".into());
        p.set(pause(scope.clone(), Some(2_000)));
        p.set(pause(scope.clone(), None));
        assert_eq!(p.live(now).len(), 1);
        assert_eq!(p.live(now)[0].until, None);
        assert!(p.remove(&scope, now));
        assert!(!p.remove(&scope, now));
        p.set(pause(scope.clone(), Some(2_000)));
        p.set(pause(Scope::Target("s3".into()), None));
        assert!(p.ended(now).is_empty());
        assert_eq!(p.ended(Timestamp(2_000)), vec![scope]);
        assert_eq!(p.live(Timestamp(2_000)).len(), 1);
    }

    #[test]
    fn the_redis_form_reads_back() {
        for pz in [
            pause(Scope::JobType("a:b".into()), Some(7)),
            pause(Scope::Target("s3".into()), None),
        ] {
            let back = Pause::from_value(
                Scope::from_field(&pz.scope.field()).expect("a field"),
                &pz.value(),
            );
            assert_eq!(back, Some(pz));
        }
        assert_eq!(Scope::from_field("x:y"), None);
        assert_eq!(Pause::from_value(Scope::Target("t".into()), "nope"), None);
    }
}
