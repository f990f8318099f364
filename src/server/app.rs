//! `App`: what every handler shares (the engine a reload swaps, the state,
//! metrics, events, settings), the clock the edge reads, and the reload
//! retry every call that decides runs in.

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use tonic::Status;

use super::flights::Flights;
use super::status::CallError;
use crate::engine::{Engine, Timestamp};
use crate::metrics::Metrics;
use crate::state::{State, StateError};

/// What every handler shares.
pub struct App {
    /// The configuration's engine; a reload swaps it whole.
    pub engine: Arc<arc_swap::ArcSwap<Engine>>,
    pub state: Arc<State>,
    pub metrics: Arc<Metrics>,
    /// When set, RetryJob, CancelJob and DeleteJob need `authorization: Bearer <token>`.
    pub admin_token: Option<String>,
    /// Where events go (`WatchEvents`).
    pub events: Arc<crate::events::Events>,
    /// Cancelled at shutdown: ends the event streams.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// `[delivery]`.
    pub delivery: crate::config::DeliverySettings,
    /// `WatchDue` streams' unsettled hand-outs.
    pub flights: Flights,
}

/// How a call that decided under a replaced configuration is told: asked
/// again (at most `RELOAD_RETRIES` times) under the new one.
const RELOAD_RETRIES: usize = 3;

pub fn now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

impl App {
    /// Runs `f` with the current engine; again with the new one if a reload
    /// replaced it while `f` decided (the state refused: `Reloaded`).
    pub async fn reloading<T, F, Fut>(&self, mut f: F) -> Result<T, Status>
    where
        F: FnMut(Arc<Engine>) -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        let mut tries = 0;
        loop {
            match f(self.engine.load_full()).await {
                Err(CallError::State(StateError::Reloaded)) if tries < RELOAD_RETRIES => tries += 1,
                other => return other.map_err(Status::from),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A call refused as decided under a replaced engine is asked again, up
    /// to `RELOAD_RETRIES` times; any other error, even one worded the same,
    /// is answered at once.
    #[tokio::test]
    async fn the_reload_retry_matches_the_typed_refusal() {
        let app = crate::server::test_app("");
        let calls = AtomicUsize::new(0);
        let refused_once = app
            .reloading(|_| async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(CallError::State(StateError::Reloaded)),
                    n => Ok(n),
                }
            })
            .await;
        assert_eq!(refused_once.expect("answered the second time"), 1);

        calls.store(0, Ordering::SeqCst);
        let always = app
            .reloading(|_| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(CallError::State(StateError::Reloaded))
            })
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), RELOAD_RETRIES + 1);
        assert_eq!(
            always.expect_err("refused").code(),
            tonic::Code::Unavailable
        );

        calls.store(0, Ordering::SeqCst);
        let worded_alike = app
            .reloading(|_| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(CallError::Refused(StateError::Reloaded.into()))
            })
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            worded_alike.expect_err("refused").code(),
            tonic::Code::Unavailable
        );
    }
}
