//! The background task that applies the `[state]` bounds to jobs and batches.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::service::{App, now};

/// Sweeps every `Limits::sweep_interval`, and at once when the job store
/// passes a bound, until `shutdown`.
pub async fn run(app: Arc<App>, shutdown: CancellationToken) {
    let interval = app.store.limits().sweep_interval();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
            _ = app.store.pressured() => {}
        }
        let work = app.clone();
        // A sweep scans every job: keep it off the threads that serve requests.
        let swept = tokio::task::spawn_blocking(move || {
            let at = now();
            (work.store.sweep(at), work.batches.sweep(at))
        })
        .await;
        match swept {
            Ok((evictions, batches)) => {
                app.metrics.evicted(&evictions);
                if batches > 0 {
                    tracing::info!(batches, "forgot idle or surplus batches");
                }
            }
            Err(e) => tracing::error!(error = %e, "sweep failed"),
        }
    }
}
