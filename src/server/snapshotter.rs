//! The background task that writes the state to `[state] snapshot_path`
//! every `snapshot_interval`, and the final write after a graceful stop.

use std::sync::Arc;
use std::sync::atomic::Ordering::Acquire;
use std::time::{Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use super::service::{App, now};
use crate::config::SnapshotSettings;
use crate::state::memory::snapshot::{self, SnapshotError, Stats};

/// One write, off the request threads; logged and counted.
pub async fn write(app: &Arc<App>, settings: &SnapshotSettings) -> Result<Stats, SnapshotError> {
    let work = app.clone();
    let path = settings.path.clone();
    let started = Instant::now();
    let result = tokio::task::spawn_blocking(move || match work.state.memory_backend() {
        Some(m) => snapshot::write(&path, &work.engine.load(), &m.store, &m.batches, now()),
        None => Ok(Stats::default()),
    })
    .await
    .unwrap_or_else(|e| {
        Err(SnapshotError::Io {
            path: settings.path.display().to_string(),
            source: std::io::Error::other(e),
        })
    });
    match &result {
        Ok(stats) => {
            app.metrics.snapshot(Some(SystemTime::now()), stats.took);
            tracing::debug!(
                jobs = stats.jobs,
                bytes = stats.bytes,
                took_ms = stats.took.as_secs_f64() * 1e3,
                longest_lock_us = stats.longest_lock.as_secs_f64() * 1e6,
                "snapshot written"
            );
        }
        Err(e) => {
            app.metrics.snapshot(None, started.elapsed());
            tracing::error!(error = %e, "snapshot write failed; the previous snapshot stays in place");
        }
    }
    result
}

/// Writes every `settings.interval` until `shutdown`, unless nothing has
/// changed since the last write (which the start has just made).
pub async fn run(app: Arc<App>, settings: SnapshotSettings, shutdown: CancellationToken) {
    let mut written = app.changes.load(Acquire);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(settings.interval) => {}
        }
        // Read before the write: a change made during it is written next time.
        let changes = app.changes.load(Acquire);
        if changes == written {
            continue;
        }
        if write(&app, &settings).await.is_ok() {
            written = changes;
        }
    }
}
