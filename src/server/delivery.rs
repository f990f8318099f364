//! Delivery at the edge: `ClaimDue`, the `WatchDue` stream, `ExtendLease`,
//! `ReleaseJob`, `ListQueues`, the checks a report's payload passes first,
//! and what the state's lease reaper tells the metrics and the events.
//!
//! A `WatchDue` stream claims for its watcher as jobs fall due, never more
//! than `max_in_flight` unsettled at once. Its hand-outs are remembered here
//! by lease (`Flights`): a settle through this sidecar (a report with the
//! lease, a release) frees the slot at once; a lease that runs out frees it
//! at its end.
//!
//! A claim runs as a task of its own and hands its jobs over in an
//! [`Unsent`]: a caller that goes away while the backend works (a
//! cancelled `ClaimDue`, a `WatchDue` stream closed while its claim's
//! script runs on Redis) leaves its jobs released at once, not leased to
//! nobody until their lease runs out.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tonic::Status;

use super::app::{App, now};
use super::convert;
use super::flights::Flight;
use super::validate;
use crate::engine::Timestamp;
use crate::pb::{self, EventKind};
use crate::state::{Carry, DueJob, Expired};

/// How long a fleet-mode watcher with most of its slots busy waits for
/// more to settle before it claims.
const COALESCE: Duration = Duration::from_millis(2);

/// What `WatchDue` answers with.
pub type DueStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<pb::DueJob, Status>> + Send>>;

impl App {
    /// A report's delivery fields within `[delivery]`: refused whole, and
    /// before anything changes, when delivery is off or the payload is too
    /// large.
    pub fn check_carry(&self, c: &Carry<'_>) -> Result<(), Status> {
        if *c == Carry::default() {
            return Ok(());
        }
        let d = &self.delivery;
        if !d.enabled {
            return Err(Status::failed_precondition(
                "delivery is off ([delivery] enabled = false): payload, queue and lease_id must be empty",
            ));
        }
        if let Some(p) = c.payload
            && p.len() > d.max_payload_bytes
        {
            return Err(Status::resource_exhausted(format!(
                "payload: {} bytes, more than [delivery] max_payload_bytes ({} bytes)",
                p.len(),
                d.max_payload_bytes
            )));
        }
        Ok(())
    }

    fn delivery_on(&self) -> Result<(), Status> {
        if self.delivery.enabled {
            Ok(())
        } else {
            Err(Status::failed_precondition(
                "delivery is off ([delivery] enabled = false)",
            ))
        }
    }

    /// Due jobs handed out: counted, each an event.
    fn delivered(&self, jobs: &[DueJob], at: Timestamp) {
        for j in jobs {
            self.metrics
                .delivered(&j.queue, at.since(j.due_at).as_secs_f64());
            if self.events.watched() {
                self.emit(
                    EventKind::Delivered,
                    super::observe::Subject {
                        job_id: &j.id,
                        job_type: &j.job_type,
                        target: "",
                    },
                    None,
                );
            }
        }
    }

    pub async fn claim_due(
        self: &Arc<App>,
        r: pb::ClaimDueRequest,
    ) -> Result<pb::ClaimDueResponse, Status> {
        self.delivery_on()?;
        let (max, lease) = validate::claim(&r.queue, "max_jobs", r.max_jobs, r.lease.as_ref())?;
        let lease = lease.unwrap_or(self.delivery.default_lease);
        let mut claimed = self.claim(r.queue, max, lease).await?;
        Ok(pb::ClaimDueResponse {
            jobs: claimed.jobs.drain(..).map(convert::due_job).collect(),
        })
    }

    /// Up to `max` due jobs of `queue` leased for `lease`, counted as
    /// handed out. The claim is a task of its own, so that it ends the same
    /// way whether or not its caller is still there to take the jobs.
    async fn claim(
        self: &Arc<App>,
        queue: String,
        max: usize,
        lease: Duration,
    ) -> Result<Unsent, Status> {
        let app = self.clone();
        let at = now();
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let claimed = app
                .reloading(|engine| {
                    let (app, queue) = (&app, &queue);
                    async move { Ok(app.state.claim_due(&engine, queue, max, lease, at).await?) }
                })
                .await;
            let claimed = claimed.map(|jobs| Unsent {
                app: app.clone(),
                jobs: jobs.into(),
            });
            // A caller gone: the jobs, dropped with the answer, go back.
            let _ = tx.send(claimed);
        });
        let mut unsent = rx
            .await
            .unwrap_or_else(|_| Err(Status::internal("a claim's task ended without an answer")))?;
        self.delivered(unsent.jobs.make_contiguous(), at);
        Ok(unsent)
    }

    pub async fn extend_lease(
        &self,
        r: pb::ExtendLeaseRequest,
    ) -> Result<pb::ExtendLeaseResponse, Status> {
        self.delivery_on()?;
        let lease = validate::leased(&r.job_id, &r.lease_id, "lease", r.lease.as_ref())?
            .unwrap_or(self.delivery.default_lease);
        let until = self
            .state
            .extend_lease(&r.job_id, &r.lease_id, lease, now())
            .await?;
        self.flights.extended(&r.lease_id, until);
        Ok(pb::ExtendLeaseResponse {
            lease_until: Some(convert::timestamp(until)),
        })
    }

    pub async fn release_job(
        &self,
        r: pb::ReleaseJobRequest,
    ) -> Result<pb::ReleaseJobResponse, Status> {
        self.delivery_on()?;
        let delay = validate::leased(&r.job_id, &r.lease_id, "delay", r.delay.as_ref())?
            .unwrap_or(Duration::ZERO);
        self.state
            .release_job(&r.job_id, &r.lease_id, delay, now())
            .await?;
        self.flights.settled(&r.lease_id);
        Ok(pb::ReleaseJobResponse {})
    }

    pub async fn list_queues(&self) -> Result<pb::ListQueuesResponse, Status> {
        let rows = self.state.queues(now()).await?;
        Ok(pb::ListQueuesResponse {
            queues: rows.iter().map(convert::queue_stats).collect(),
        })
    }

    /// A watcher's stream of due jobs (validated), ended at shutdown.
    pub fn watch_due(self: &Arc<App>, r: pb::WatchDueRequest) -> Result<DueStream, Status> {
        self.delivery_on()?;
        let (max, lease) =
            validate::claim(&r.queue, "max_in_flight", r.max_in_flight, r.lease.as_ref())?;
        let watch = Watch {
            app: self.clone(),
            queue: r.queue,
            max,
            lease: lease.unwrap_or(self.delivery.default_lease),
            flight: Arc::default(),
            pending: Unsent {
                app: self.clone(),
                jobs: VecDeque::new(),
            },
        };
        let stream = futures_util::stream::unfold(watch, |mut w| async move {
            let job = w.next().await?;
            Some((Ok(job), w))
        });
        Ok(Box::pin(stream))
    }
}

/// Jobs claimed and not yet sent to a claimer. Those still here when it
/// is dropped (their claimer went away first) are handed back at once,
/// not left to their leases.
struct Unsent {
    app: Arc<App>,
    jobs: VecDeque<DueJob>,
}

impl Drop for Unsent {
    fn drop(&mut self) {
        if self.jobs.is_empty() {
            return;
        }
        let jobs: Vec<DueJob> = self.jobs.drain(..).collect();
        let app = self.app.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                for j in jobs {
                    app.flights.settled(&j.lease_id);
                    let _ = app
                        .state
                        .release_job(&j.id, &j.lease_id, Duration::ZERO, now())
                        .await;
                }
            });
        }
    }
}

/// One `WatchDue` stream's state.
struct Watch {
    app: Arc<App>,
    queue: String,
    max: usize,
    lease: Duration,
    flight: Arc<Flight>,
    /// Claimed and not yet sent (a claim may take several at once).
    pending: Unsent,
}

impl Drop for Watch {
    /// The stream's hand-outs are no longer its own to count; its unsent
    /// jobs go back as `pending` is dropped.
    fn drop(&mut self) {
        let flight = self.flight.lock().keys().cloned().collect::<Vec<_>>();
        for lease in flight {
            self.app.flights.0.remove(&lease);
        }
    }
}

impl Watch {
    /// The next due job for this watcher: waits for room (a settle, or a
    /// lease running out) and for a job to fall due; `None` at shutdown.
    async fn next(&mut self) -> Option<pb::DueJob> {
        loop {
            if let Some(job) = self.pending.jobs.pop_front() {
                return Some(convert::due_job(job));
            }
            let app = self.app.clone();
            let (in_flight, first_end) = self.flight.count(now());
            if in_flight >= self.max {
                let settled = self.flight.settled.notified();
                let until = first_end.map_or(Duration::from_secs(1), |t| t.since(now()));
                tokio::select! {
                    _ = app.shutdown.cancelled() => return None,
                    _ = settled => {}
                    _ = tokio::time::sleep(until) => {}
                }
                continue;
            }
            // In fleet mode each claim is round trips to Redis: with most
            // slots busy, a moment's wait lets more settle and one claim
            // take several jobs.
            let room = self.max - in_flight;
            if app.state.due_poll().is_some() && in_flight > 0 && room < (self.max / 4).max(1) {
                tokio::select! {
                    _ = app.shutdown.cancelled() => return None,
                    _ = tokio::time::sleep(COALESCE) => {}
                }
            }
            let signal = app.state.due_signal(&self.queue);
            let woken = signal.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let (in_flight, _) = self.flight.count(now());
            let claimed = app
                .claim(self.queue.clone(), self.max - in_flight, self.lease)
                .await;
            match claimed {
                Ok(mut got) if !got.jobs.is_empty() => {
                    let mut f = self.flight.lock();
                    for j in &got.jobs {
                        f.insert(j.lease_id.clone(), j.lease_until);
                        app.flights
                            .0
                            .insert(j.lease_id.clone(), self.flight.clone());
                    }
                    drop(f);
                    self.pending.jobs.extend(got.jobs.drain(..));
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(queue = self.queue, error = %e, "a watcher's claim failed")
                }
            }
            // Nothing due: wait for the first parked job's time, a park that
            // comes sooner, or (fleet mode) the next look at the fleet's.
            let next = app.state.next_due(&self.queue).await.ok().flatten();
            let mut wait = next.map_or(Duration::from_secs(3600), |t| t.since(now()));
            if let Some(poll) = app.state.due_poll() {
                wait = wait.min(poll);
            }
            tokio::select! {
                _ = app.shutdown.cancelled() => return None,
                _ = &mut woken => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// What the state's background work tells this sidecar: the metrics see
/// sweeps and snapshots, the metrics and events leases that ran out.
pub struct Background(pub Arc<App>);

impl crate::state::Observer for Background {
    fn backend_call(
        &self,
        op: crate::state::BackendOp,
        outcome: crate::state::BackendOutcome,
        took: Duration,
    ) {
        self.0.metrics.backend_call(op, outcome, took);
    }

    fn swept(&self, evictions: &crate::state::Evictions, batches: usize) {
        self.0.metrics.swept(evictions, batches);
    }

    fn snapshot_written(
        &self,
        result: Result<&crate::state::SnapshotStats, &crate::state::SnapshotError>,
        took: Duration,
    ) {
        self.0.metrics.snapshot_written(result, took);
    }

    fn leases_expired(&self, expired: &[Expired]) {
        self.0.leases_expired(expired);
    }
}
