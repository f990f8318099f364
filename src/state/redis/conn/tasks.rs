//! The link's background tasks: following the primary a Sentinel names,
//! and the health of a backend nobody is calling.

use std::sync::Arc;
use std::time::Duration;

use super::{Link, Op};
use crate::state::redis::sentinel;

impl Link {
    /// With Sentinel, until `stop`: asks where the primary is, every second
    /// and at once when a call failed, and connects anew when it moved.
    pub async fn follow_primary(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        let Some(primary) = self.primary.clone() else {
            return;
        };
        // A Sentinel or a primary that does not answer must not hold the
        // follower: the lookup is bounded like a connection.
        // redis-rs takes the Sentinels' answers in their order, connecting
        // with its own 1 s bound: one that drops packets costs a second.
        let bound = (self.timeout * 4).max(Duration::from_secs(3));
        let mut complaint = String::new();
        loop {
            match tokio::time::timeout(bound, primary.look()).await {
                Ok(Ok(Some(address))) => match self.connect_all() {
                    Ok(conn) => {
                        tracing::info!(
                            backend = %self.describe,
                            primary = %address,
                            "fleet state: the primary, as the Sentinels say"
                        );
                        self.conn.store(Arc::new(conn));
                        self.failures.store(0, std::sync::atomic::Ordering::Relaxed);
                        complaint.clear();
                    }
                    Err(e) => {
                        // Asked again next time, as if never found.
                        primary.forget();
                        tracing::warn!(backend = %self.describe, error = %e, "cannot connect to the primary")
                    }
                },
                Ok(Ok(None)) => complaint.clear(),
                Ok(Err(e)) => {
                    let said = e.to_string();
                    if said != complaint {
                        tracing::warn!(backend = %self.describe, error = %said, "the Sentinels name no primary that answers");
                        complaint = said;
                    }
                }
                Err(_) => {
                    let said = format!("no answer within {}", crate::engine::Human(bound));
                    if said != complaint {
                        tracing::warn!(backend = %self.describe, error = %said, "the Sentinels name no primary that answers");
                        complaint = said;
                    }
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(sentinel::ASK_EVERY) => {}
                _ = primary.woken() => {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(sentinel::ASK_AT_MOST) => {}
                    }
                }
            }
        }
    }

    /// Pings until `stop`: the health of a backend nobody is calling.
    pub async fn watch_health(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        loop {
            let _ = self.query::<String>(Op::Ping, &redis::cmd("PING")).await;
            let every = if self.is_up() {
                Duration::from_secs(2)
            } else {
                Duration::from_millis(250)
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}
