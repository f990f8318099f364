//! The event stream of `WatchEvents`: decisions and operators' actions as
//! they happen.
//!
//! One broadcast ring of `CAPACITY` events: publishing never waits for a
//! watcher, and a watcher that falls more than `CAPACITY` events behind
//! skips what was overwritten and is told how many in the next event's
//! `dropped`. With no watcher, nothing is built: the service asks
//! `watched()` first. In fleet mode `events::fleet` carries every
//! sidecar's events to every other's watchers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use futures_util::Stream;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::pb;

pub mod fleet;

/// Events a watcher may fall behind before it skips.
pub const CAPACITY: usize = 4096;

/// Where events are published.
pub struct Events {
    local: broadcast::Sender<Arc<pb::Event>>,
    /// Fleet mode: events of this sidecar, on their way to Redis.
    outbox: Option<fleet::Outbox>,
    /// Fleet mode: some sidecar of the fleet has a watcher.
    fleet_watched: Arc<AtomicBool>,
    /// Events watchers here missed (fell behind).
    missed: Arc<AtomicU64>,
    /// Streams open here. Kept apart from the channel's own count, which
    /// takes the channel's lock: every decision asks.
    watching: Arc<AtomicUsize>,
}

/// One open stream, counted while it lives.
struct Watching(Arc<AtomicUsize>);

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Default for Events {
    fn default() -> Self {
        Events {
            local: broadcast::channel(CAPACITY).0,
            outbox: None,
            fleet_watched: Arc::default(),
            missed: Arc::default(),
            watching: Arc::default(),
        }
    }
}

/// What a watcher asked for; an empty field matches everything.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub job_type: String,
    pub target: String,
    pub kinds: Vec<i32>,
}

impl Filter {
    pub fn matches(&self, e: &pb::Event) -> bool {
        (self.job_type.is_empty() || self.job_type == e.job_type)
            && (self.target.is_empty() || self.target == e.target)
            && (self.kinds.is_empty() || self.kinds.contains(&e.kind))
    }
}

impl Events {
    /// Fleet mode: events also go to (and come from) the fleet.
    pub fn with_outbox(outbox: fleet::Outbox, fleet_watched: Arc<AtomicBool>) -> Events {
        Events {
            outbox: Some(outbox),
            fleet_watched,
            ..Events::default()
        }
    }

    /// Whether anyone would see an event: a watcher here, or in the fleet.
    pub fn watched(&self) -> bool {
        self.watchers() > 0 || (self.outbox.is_some() && self.fleet_watched.load(Ordering::Relaxed))
    }

    /// Watchers on this sidecar.
    pub fn watchers(&self) -> usize {
        self.watching.load(Ordering::Relaxed)
    }

    /// Events not delivered since start: missed by watchers that fell
    /// behind, or (fleet mode) with no room in the outbox.
    pub fn dropped(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
            + self.outbox.as_ref().map_or(0, fleet::Outbox::overflowed)
    }

    /// An event of this sidecar: to its watchers, and in fleet mode to the fleet's.
    pub fn publish(&self, e: pb::Event) {
        let e = Arc::new(e);
        if let Some(o) = &self.outbox {
            o.send(e.clone());
        }
        self.deliver(e);
    }

    /// An event to this sidecar's watchers only (one every sidecar sees
    /// for itself, such as a pause running out, or one from the fleet).
    pub fn deliver(&self, e: Arc<pb::Event>) {
        // No receiver is not an error: nobody is watching.
        let _ = self.local.send(e);
    }

    /// A watcher's stream: the events that match `filter`, until `stop`.
    pub fn watch(
        &self,
        filter: Filter,
        stop: CancellationToken,
    ) -> impl Stream<Item = pb::Event> + Send + 'static {
        let rx = self.local.subscribe();
        self.watching.fetch_add(1, Ordering::Relaxed);
        let counted = Watching(self.watching.clone());
        let missed = self.missed.clone();
        futures_util::stream::unfold(
            (rx, filter, stop, 0u64, counted),
            move |(mut rx, filter, stop, mut dropped, counted)| {
                let missed = missed.clone();
                async move {
                    loop {
                        let got = tokio::select! {
                            biased;
                            _ = stop.cancelled() => return None,
                            got = rx.recv() => got,
                        };
                        match got {
                            Ok(e) if filter.matches(&e) => {
                                let mut e = (*e).clone();
                                e.dropped = std::mem::take(&mut dropped);
                                return Some((e, (rx, filter, stop, dropped, counted)));
                            }
                            Ok(_) => {}
                            Err(RecvError::Lagged(n)) => {
                                dropped = dropped.saturating_add(n);
                                missed.fetch_add(n, Ordering::Relaxed);
                            }
                            Err(RecvError::Closed) => return None,
                        }
                    }
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn event(kind: pb::EventKind, job_type: &str) -> pb::Event {
        pb::Event {
            kind: kind as i32,
            job_type: job_type.into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_watcher_sees_what_matches_and_counts_what_it_missed() {
        let events = Events::default();
        assert!(!events.watched());
        let stop = CancellationToken::new();
        let filter = Filter {
            job_type: "invoice".into(),
            kinds: vec![pb::EventKind::GaveUp as i32],
            ..Filter::default()
        };
        let mut w = Box::pin(events.watch(filter, stop.clone()));
        assert!(events.watched());
        events.publish(event(pb::EventKind::RetryScheduled, "invoice"));
        events.publish(event(pb::EventKind::GaveUp, "email"));
        events.publish(event(pb::EventKind::GaveUp, "invoice"));
        let e = w.next().await.expect("an event");
        assert_eq!((e.kind, e.job_type.as_str(), e.dropped), (2, "invoice", 0));
        // A watcher that does not read falls behind: the ring overwrites,
        // publishing never waits, and the next event says how many it missed.
        for _ in 0..CAPACITY + 10 {
            events.publish(event(pb::EventKind::GaveUp, "invoice"));
        }
        let e = w.next().await.expect("an event");
        assert_eq!(e.dropped, 10);
        assert_eq!(events.dropped(), 10);
        stop.cancel();
        assert_eq!(w.count().await, 0, "the stream ends on stop");
        assert!(!events.watched(), "a stream that ended is no watcher");
    }
}
