//! The state's own background work, in the shape of mini-redis's purge
//! task: tasks owned by the state's guard, each asleep until its next
//! deadline or until the state wakes it (`Notify`), all stopped when the
//! guard goes away.
//!
//! - The sweeper applies the `[state]` bounds every `Limits::sweep_interval`,
//!   and at once when a bound is passed (the memory store's `pressured`).
//!   A memory sweep may scan every job, so it runs on a blocking thread; the
//!   fleet's sweep is async work on Redis and runs on the task itself.
//! - The lease reaper (delivery) sleeps until the first lease of a
//!   handed-out job runs out, or until a sooner one is granted, and makes
//!   each job whose lease ran out due again (or dead at the delivery limit).
//! - The snapshot writer (memory mode, `[state] snapshot_path`) writes the
//!   state every interval unless nothing changed; `StateGuard::close`
//!   writes the last one after every call has finished.

use super::{Backend, memory};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{
    BackendOp, BackendOutcome, Evictions, Expired, SnapshotError, SnapshotStats, State, StateError,
};
use crate::config::SnapshotSettings;
use crate::engine::{Engine, Timestamp};

/// What the state and its background work tell the rest of the sidecar
/// (the metrics implement it). Every method does nothing unless overridden.
pub trait Observer: Send + Sync {
    /// One call to the fleet's backend.
    fn backend_call(&self, _op: BackendOp, _outcome: BackendOutcome, _took: Duration) {}
    /// A sweep removed these jobs and `batches` batches.
    fn swept(&self, _evictions: &Evictions, _batches: usize) {}
    /// A snapshot write ended (`took` either way).
    fn snapshot_written(&self, _result: Result<&SnapshotStats, &SnapshotError>, _took: Duration) {}
    /// Leases of handed-out jobs ran out unsettled.
    fn leases_expired(&self, _expired: &[Expired]) {}
}

/// An observer that sees nothing (tools and tests without metrics).
pub struct Unobserved;

impl Observer for Unobserved {}

fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

/// The state and its background tasks: dropping it stops them; `close`
/// stops them, waits for them and writes the last snapshot.
pub struct StateGuard {
    state: Arc<State>,
    engine: Arc<ArcSwap<Engine>>,
    observer: Arc<dyn Observer>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    snapshot: Option<SnapshotSettings>,
}

impl Drop for StateGuard {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl State {
    /// Starts the state's background work. With `snapshot` set (memory
    /// mode), the snapshot is loaded first and written again at once: a
    /// path that cannot be written stops the start now, not at the first
    /// SIGTERM.
    pub async fn start(
        self: Arc<State>,
        engine: Arc<ArcSwap<Engine>>,
        snapshot: Option<SnapshotSettings>,
        observer: Arc<dyn Observer>,
    ) -> Result<StateGuard, SnapshotError> {
        let snapshot = snapshot.filter(|_| !self.is_fleet());
        let mut guard = StateGuard {
            state: self,
            engine,
            observer,
            stop: CancellationToken::new(),
            tasks: Vec::new(),
            snapshot,
        };
        if let Some(settings) = guard.snapshot.clone() {
            guard.restore(&settings).await?;
            guard.write_snapshot().await?;
            guard
                .tasks
                .push(tokio::spawn(snapshots(guard.worker(), settings.interval)));
        }
        guard.tasks.push(tokio::spawn(sweeper(guard.worker())));
        guard.tasks.push(tokio::spawn(reaper(guard.worker())));
        Ok(guard)
    }
}

/// What a background task holds: the state, the engine, the observer, and
/// the token that stops it.
#[derive(Clone)]
struct Worker {
    state: Arc<State>,
    engine: Arc<ArcSwap<Engine>>,
    observer: Arc<dyn Observer>,
    stop: CancellationToken,
    snapshot: Option<SnapshotSettings>,
}

impl StateGuard {
    pub fn state(&self) -> &Arc<State> {
        &self.state
    }

    fn worker(&self) -> Worker {
        Worker {
            state: self.state.clone(),
            engine: self.engine.clone(),
            observer: self.observer.clone(),
            stop: self.stop.clone(),
            snapshot: self.snapshot.clone(),
        }
    }

    async fn restore(&self, settings: &SnapshotSettings) -> Result<(), SnapshotError> {
        let (state, engine, path) = (
            self.state.clone(),
            self.engine.clone(),
            settings.path.clone(),
        );
        let loaded =
            tokio::task::spawn_blocking(move || state.load_snapshot(&path, &engine.load()))
                .await
                .map_err(|e| SnapshotError::Io {
                    path: settings.path.display().to_string(),
                    source: std::io::Error::other(e),
                })??;
        match loaded {
            Some(stats) => tracing::info!(
                path = %settings.path.display(),
                jobs = stats.jobs,
                bytes = stats.bytes,
                took_ms = stats.took.as_secs_f64() * 1e3,
                "state restored from snapshot"
            ),
            None => tracing::info!(
                path = %settings.path.display(),
                "no snapshot yet: starting empty"
            ),
        }
        Ok(())
    }

    /// One snapshot write now (none without `[state] snapshot_path`).
    pub async fn write_snapshot(&self) -> Result<Option<SnapshotStats>, SnapshotError> {
        self.worker().write_snapshot().await
    }

    /// Stops the background work, waits for it, and writes the last
    /// snapshot: every call has finished, this is the state to come back to.
    pub async fn close(mut self) -> Result<Option<SnapshotStats>, SnapshotError> {
        self.stop.cancel();
        for task in self.tasks.drain(..) {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a state task failed");
            }
        }
        let stats = self.write_snapshot().await?;
        if let (Some(stats), Some(settings)) = (&stats, &self.snapshot) {
            tracing::info!(
                jobs = stats.jobs,
                path = %settings.path.display(),
                "final snapshot written"
            );
        }
        Ok(stats)
    }
}

impl Worker {
    /// One write, off the request threads; logged and observed.
    async fn write_snapshot(&self) -> Result<Option<SnapshotStats>, SnapshotError> {
        let Some(settings) = &self.snapshot else {
            return Ok(None);
        };
        let (state, engine, path) = (
            self.state.clone(),
            self.engine.clone(),
            settings.path.clone(),
        );
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            state
                .write_snapshot(&path, &engine.load(), now())
                .unwrap_or_else(|| Ok(SnapshotStats::default()))
        })
        .await
        .unwrap_or_else(|e| {
            Err(SnapshotError::Io {
                path: settings.path.display().to_string(),
                source: std::io::Error::other(e),
            })
        });
        self.observer
            .snapshot_written(result.as_ref(), started.elapsed());
        match &result {
            Ok(stats) => tracing::debug!(
                jobs = stats.jobs,
                bytes = stats.bytes,
                took_ms = stats.took.as_secs_f64() * 1e3,
                longest_lock_us = stats.longest_lock.as_secs_f64() * 1e6,
                "snapshot written"
            ),
            Err(e) => tracing::error!(
                error = %e,
                "snapshot write failed; the previous snapshot stays in place"
            ),
        }
        result.map(Some)
    }
}

/// Sweeps every `Limits::sweep_interval`, and at once when the job store
/// passes a bound, until stopped.
async fn sweeper(w: Worker) {
    let interval = w.state.limits().sweep_interval();
    loop {
        // The periodic sweep also expires idle jobs (a scan of every job);
        // one woken by a passed bound only applies the bounds.
        let full = tokio::select! {
            _ = w.stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => true,
            _ = w.state.pressured() => false,
        };
        let engine = w.engine.load_full();
        match w.state.sweep(&engine, now(), full).await {
            Err(StateError::Unavailable(e)) => tracing::debug!(error = %e, "sweep stopped early"),
            Err(e) => tracing::warn!(error = %e, "sweep stopped early"),
            Ok((evictions, batches)) => {
                if batches > 0 || evictions.any() {
                    w.state.changed();
                }
                w.observer.swept(&evictions, batches);
                if batches > 0 {
                    tracing::info!(batches, "forgot idle or surplus batches");
                }
            }
        }
    }
}

/// Writes every `interval` until stopped, unless nothing has changed since
/// the last write (which the start has just made).
async fn snapshots(w: Worker, interval: Duration) {
    let mut written = w.state.changes();
    loop {
        tokio::select! {
            _ = w.stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        // Read before the write: a change made during it is written next time.
        let changes = w.state.changes();
        if changes == written {
            continue;
        }
        if w.write_snapshot().await.is_ok() {
            written = changes;
        }
    }
}

/// Expires leases as they run out, until stopped: asleep until the first
/// one ends (in fleet mode, at most `DUE_POLL` between looks at the
/// fleet's), or until a sooner one is granted.
async fn reaper(w: Worker) {
    let signal = w.state.lease_signal();
    loop {
        let woken = signal.notified();
        let wait = match w.state.next_lease_expiry().await {
            Ok(Some(t)) => t.since(now()),
            Ok(None) => Duration::from_secs(3600),
            Err(_) => Duration::from_secs(1),
        };
        let wait = match w.state.due_poll() {
            Some(poll) => wait.min(poll * 4),
            None => wait,
        };
        if !wait.is_zero() {
            tokio::select! {
                _ = w.stop.cancelled() => return,
                _ = woken => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        match w.state.expire_leases(&w.engine.load_full(), now()).await {
            Ok(expired) if !expired.is_empty() => {
                w.state.changed();
                w.observer.leases_expired(&expired);
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "lease expiry stopped early"),
        }
        if w.stop.is_cancelled() {
            return;
        }
    }
}

/// The work the background tasks do, on whichever backend.
impl State {
    /// Applies the bounds to jobs (and, with `full`, expires idle jobs and
    /// batches). Returns the jobs and batches removed. A memory sweep may
    /// scan every job: it runs off the threads that serve requests.
    async fn sweep(
        self: &Arc<Self>,
        engine: &Engine,
        now: Timestamp,
        full: bool,
    ) -> Result<(Evictions, usize), StateError> {
        let local = |state: Arc<State>| async move {
            tokio::task::spawn_blocking(move || match &state.backend {
                Backend::Memory(m) => m.sweep(now, full),
                Backend::Redis(f) => f.sweep_local(now, full),
            })
            .await
            .map_err(|e| StateError::Unavailable(format!("the sweep stopped: {e}")))
        };
        match &self.backend {
            Backend::Memory(_) => local(self.clone()).await,
            Backend::Redis(f) => {
                // The local fallback keeps its own bounds.
                let (mut ev, mut batches) = local(self.clone()).await?;
                let (fleet_ev, fleet_batches) = f.sweep(engine, now, full).await?;
                ev.add(&fleet_ev);
                batches += fleet_batches;
                Ok((ev, batches))
            }
        }
    }

    /// Resolves when a bound has been passed since the last call (never,
    /// for a backend that applies its bounds on a timer only).
    async fn pressured(&self) {
        match &self.backend {
            Backend::Memory(m) => m.store.pressured().await,
            Backend::Redis(_) => std::future::pending().await,
        }
    }

    /// Writes the whole state to `path` (memory mode; the fleet's state is
    /// Redis's to keep: `None`).
    pub fn write_snapshot(
        &self,
        path: &std::path::Path,
        engine: &Engine,
        now: Timestamp,
    ) -> Option<Result<SnapshotStats, SnapshotError>> {
        match &self.backend {
            Backend::Memory(m) => Some(memory::snapshot::write(
                path, engine, &m.store, &m.batches, now,
            )),
            Backend::Redis(_) => None,
        }
    }

    /// Loads the snapshot at `path`, if there is one (memory mode only).
    pub fn load_snapshot(
        &self,
        path: &std::path::Path,
        engine: &Engine,
    ) -> Result<Option<SnapshotStats>, SnapshotError> {
        match &self.backend {
            Backend::Memory(m) => memory::snapshot::load(path, engine, &m.store, &m.batches),
            Backend::Redis(_) => Ok(None),
        }
    }
}
