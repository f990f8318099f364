//! The background task that applies the `[state]` bounds to jobs and batches.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::service::{App, now};

/// Sweeps every `Limits::sweep_interval`, and at once when the job store
/// passes a bound, until `shutdown`.
pub async fn run(app: Arc<App>, shutdown: CancellationToken) {
    let interval = app.state.limits().sweep_interval();
    loop {
        // The periodic sweep also expires idle jobs (a scan of every job);
        // one woken by a passed bound only applies the bounds.
        let full = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => true,
            _ = app.state.pressured() => false,
        };
        let work = app.clone();
        // A sweep may scan every job: keep it off the threads that serve
        // requests (its own runtime handle lets a remote backend await).
        let handle = tokio::runtime::Handle::current();
        let swept = tokio::task::spawn_blocking(move || {
            handle.block_on(work.state.sweep(&work.engine.load_full(), now(), full))
        })
        .await;
        match swept {
            Ok(Err(e)) => tracing::warn!(error = %e, "sweep stopped early"),
            Ok(Ok((evictions, batches))) => {
                if batches > 0 || evictions.any() {
                    app.changes
                        .fetch_add(1, std::sync::atomic::Ordering::Release);
                }
                app.metrics.evicted(&evictions);
                if batches > 0 {
                    tracing::info!(batches, "forgot idle or surplus batches");
                }
            }
            Err(e) => tracing::error!(error = %e, "sweep failed"),
        }
    }
}
