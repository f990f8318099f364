//! Fleet mode: every sidecar's events reach every sidecar's watchers,
//! through the stream in Redis (`state/redis/events.rs`).
//!
//! A sidecar appends its events only while some sidecar of the fleet has a
//! watcher, batched every `TICK` (one pipeline); its outbox is bounded, and
//! what overflows it while Redis is slow is dropped and counted, never
//! waited for. A sidecar with a watcher renews the fleet's "watched" flag
//! and reads the others' events every `TICK`: they arrive within about
//! `TICK` of happening.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use prost::Message;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Events;
use crate::pb;
use crate::state::State;

/// How often events are sent to and read from Redis.
pub const TICK: Duration = Duration::from_millis(200);

/// Events waiting to be sent: beyond this, dropped (and counted).
const OUTBOX: usize = 10_000;

/// Entries read from Redis at most per tick.
const READ: usize = 2_000;

/// This sidecar's events on their way to Redis.
pub struct Outbox {
    tx: mpsc::Sender<Arc<pb::Event>>,
    overflowed: Arc<AtomicU64>,
}

impl Outbox {
    pub fn overflowed(&self) -> u64 {
        self.overflowed.load(Ordering::Relaxed)
    }

    pub fn send(&self, e: Arc<pb::Event>) {
        if self.tx.try_send(e).is_err() {
            self.overflowed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The fleet's side of events: the outbox for `Events`, and the task that
/// moves events between this sidecar and Redis.
pub struct Link {
    rx: mpsc::Receiver<Arc<pb::Event>>,
    pub watched: Arc<AtomicBool>,
    /// Events the outbox had no room for.
    pub overflowed: Arc<AtomicU64>,
}

pub fn outbox() -> (Outbox, Link) {
    let (tx, rx) = mpsc::channel(OUTBOX);
    let overflowed = Arc::new(AtomicU64::new(0));
    (
        Outbox {
            tx,
            overflowed: overflowed.clone(),
        },
        Link {
            rx,
            watched: Arc::default(),
            overflowed,
        },
    )
}

impl Link {
    /// Until `stop`: sends this sidecar's events while the fleet watches,
    /// and reads the others' while this sidecar has a watcher.
    pub async fn run(mut self, state: Arc<State>, events: Arc<Events>, stop: CancellationToken) {
        let Some(fleet) = state.fleet_events() else {
            return;
        };
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Where this sidecar's reading stands; `None` while it has no watcher.
        let mut after: Option<String> = None;
        let mut ticks: u64 = 0;
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            ticks += 1;
            let here = events.watchers() > 0;
            // Once a second: whether anyone watches, and say so if we do.
            if ticks % 5 == 1 {
                if here && let Err(e) = fleet.mark_watched().await {
                    tracing::debug!(error = %e, "events: cannot mark the fleet watched");
                }
                match fleet.watched().await {
                    Ok(w) => self.watched.store(w || here, Ordering::Relaxed),
                    Err(e) => tracing::debug!(error = %e, "events: cannot read the watched flag"),
                }
            }
            batch.clear();
            while let Ok(e) = self.rx.try_recv() {
                batch.push(e.encode_to_vec());
            }
            if !batch.is_empty()
                && self.watched.load(Ordering::Relaxed)
                && let Err(e) = fleet.append(&batch).await
            {
                self.overflowed
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                tracing::debug!(error = %e, "events: cannot send to the fleet");
            }
            if !here {
                after = None;
                continue;
            }
            let from = match &after {
                Some(a) => a.clone(),
                None => match fleet.last_id().await {
                    Ok(id) => {
                        after = Some(id);
                        continue;
                    }
                    Err(_) => continue,
                },
            };
            match fleet.read(&from, READ).await {
                Ok(entries) => {
                    for (id, origin, bytes) in entries {
                        after = Some(id);
                        if origin == fleet.origin {
                            continue;
                        }
                        match pb::Event::decode(bytes.as_slice()) {
                            Ok(e) => events.deliver(Arc::new(e)),
                            Err(e) => {
                                tracing::debug!(error = %e, "events: an entry does not decode")
                            }
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "events: cannot read the fleet's"),
            }
        }
    }
}
