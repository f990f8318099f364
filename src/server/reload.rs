//! Configuration reload (SIGHUP, or a change of the watched file): a valid
//! file replaces policies, rules, job types, bands, budgets and breakers at
//! once; an invalid one changes nothing. Settings read only at start are
//! reported, not applied.

use std::sync::{Arc, Mutex, PoisonError};

use super::app::App;
use crate::config::Config;

/// Reads the configuration as the process was started with it (the file,
/// then the flags and variables over it).
pub type Loader = Box<dyn Fn() -> Result<Config, String> + Send + Sync>;

/// What a reload did.
#[derive(Debug, PartialEq, Eq)]
pub struct Applied {
    /// Settings that differ from the running ones and need a restart.
    pub restart_needed: Vec<&'static str>,
    /// The configuration generation now in force.
    pub generation: u64,
}

/// Reloads the configuration of one running sidecar; one reload at a time.
pub struct Reloader {
    app: Arc<App>,
    load: Loader,
    /// The settings the sidecar was started with (a reload cannot change them).
    started: Mutex<Config>,
}

impl App {
    /// Swaps in `new`'s engine: every record's ids translated, budgets and
    /// breakers rebuilt keeping their state, the metric handles cached by id
    /// dropped. A decision in flight under the old engine is asked again.
    pub fn apply(&self, new: &Config) -> u64 {
        let old = self.engine.load_full();
        let mut engine = new.engine();
        engine.generation = old.generation + 1;
        let engine = Arc::new(engine);
        let generation = engine.generation;
        self.state
            .reconfigure(&old, &engine, || self.engine.store(engine.clone()));
        self.metrics.reconfigured(generation);
        generation
    }
}

/// The settings of `new` that differ from `started` and are read only at start.
pub fn restart_only(started: &Config, new: &Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |differs: bool, name: &'static str| {
        if differs {
            out.push(name);
        }
    };
    check(started.grpc_addr != new.grpc_addr, "server.grpc_addr");
    check(
        started.metrics_addr != new.metrics_addr,
        "server.metrics_addr",
    );
    check(started.health_addr != new.health_addr, "server.health_addr");
    check(started.tls != new.tls, "server.tls_*");
    check(
        started.max_in_flight != new.max_in_flight,
        "server.max_in_flight",
    );
    check(
        started.shutdown_grace != new.shutdown_grace,
        "server.shutdown_grace",
    );
    check(
        started.limits != new.limits || started.batch_limits != new.batch_limits,
        "state bounds (max_jobs, idle_ttl, max_dead_jobs, dead_ttl, max_batches, batch_ttl)",
    );
    check(started.snapshot != new.snapshot, "state.snapshot_*");
    check(
        started.backend != new.backend,
        "state.backend / [state.redis]",
    );
    out
}

impl Reloader {
    pub fn new(app: Arc<App>, started: Config, load: Loader) -> Reloader {
        Reloader {
            app,
            load,
            started: Mutex::new(started),
        }
    }

    /// Reads the configuration again and applies it; `why` says what asked
    /// (logged). An invalid file changes nothing: the error (naming the
    /// key) is returned, logged and counted.
    pub fn reload(&self, why: &str) -> Result<Applied, String> {
        let started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        let new = match (self.load)() {
            Ok(c) => c,
            Err(e) => {
                self.app.metrics.reload(false);
                tracing::error!(trigger = why, error = %e, "configuration reload refused: the running configuration is unchanged");
                return Err(e);
            }
        };
        for warning in new.warnings() {
            tracing::warn!("{warning}");
        }
        let restart_needed = restart_only(&started, &new);
        let generation = self.app.apply(&new);
        self.app.metrics.reload(true);
        self.app.state.changed();
        if restart_needed.is_empty() {
            tracing::info!(trigger = why, generation, "configuration reloaded");
        } else {
            tracing::warn!(
                trigger = why,
                generation,
                restart_needed = restart_needed.join(", "),
                "configuration reloaded; these settings changed but take a restart, and keep their running values"
            );
        }
        Ok(Applied {
            restart_needed,
            generation,
        })
    }
}
