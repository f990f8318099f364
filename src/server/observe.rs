//! What the edge tells metrics, events and logs about a call, in one place.
//!
//! A decision carries ids (job type, policy, category, target); their names
//! are resolved here, once per call, from the engine and the state, and
//! handed on as plain values: the metrics families get `DecisionLabels`,
//! events a `Subject`, logs the names. Nothing downstream reaches back into
//! the engine or the state. `WatchEvents`, the stream of those events, is
//! here too.

use tonic::Status;

use super::app::{App, now};
use super::convert::timestamp;
use super::validate::{self, Failure};
use crate::engine::{Action, BreakerState, Decision, Engine, Timestamp};
use crate::labels::LabelId;
use crate::metrics::{DecisionLabels, Named};
use crate::pb::{self, EventKind};
use crate::state::{Expired, FailureOutcome, Moved, State, SuccessOutcome};

/// What `WatchEvents` answers with.
pub type EventStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<pb::Event, Status>> + Send>>;

/// What an event is about: a job (its id, type and target), or, with no
/// job id, a target or a pause's scope.
pub struct Subject<'a> {
    pub job_id: &'a str,
    pub job_type: &'a str,
    pub target: &'a str,
}

/// A decision's label values, with their names.
pub fn labels<'a>(
    engine: &'a Engine,
    state: &'a State,
    job_type: LabelId,
    d: &Decision,
) -> DecisionLabels<'a> {
    DecisionLabels {
        generation: engine.generation,
        job_type: job_type_label(state, job_type),
        policy: Named {
            id: d.policy,
            name: engine.policy_name(d),
        },
        category: Named {
            id: d.category,
            name: engine.category_name(d),
        },
        target: d.target.map(|t| Named {
            id: t,
            name: state.target_name(t),
        }),
    }
}

/// A decision that did not give up, at debug level (a duplicate's too).
pub fn decided(job_id: &str, d: &Decision, duplicate: bool) {
    tracing::debug!(
        job_id,
        action = d.action.as_str(),
        delay_ms = d.delay.as_millis() as u64,
        duplicate,
        "decided"
    );
}

fn job_type_label(state: &State, id: LabelId) -> Named<'_, LabelId> {
    Named {
        id,
        name: state.label_name(id),
    }
}

pub fn event(
    kind: EventKind,
    of: &Subject<'_>,
    decision: Option<&pb::Decision>,
    at: Timestamp,
) -> pb::Event {
    pb::Event {
        kind: kind as i32,
        at: Some(timestamp(at)),
        job_id: of.job_id.to_string(),
        job_type: of.job_type.to_string(),
        target: of.target.to_string(),
        decision: decision.cloned(),
        dropped: 0,
    }
}

impl App {
    /// Publishes an event, if anyone watches.
    pub fn emit(&self, kind: EventKind, of: Subject<'_>, decision: Option<&pb::Decision>) {
        if !self.events.watched() {
            return;
        }
        self.events.publish(event(kind, &of, decision, now()));
    }

    /// A watcher's stream (validated filters), ended at shutdown.
    pub fn watch_events(&self, r: pb::WatchEventsRequest) -> Result<EventStream, Status> {
        validate::watch(&r)?;
        let filter = crate::events::Filter {
            job_type: r.job_type,
            target: r.target,
            kinds: r.kinds,
        };
        let stream = self.events.watch(filter, self.shutdown.clone());
        Ok(Box::pin(futures_util::StreamExt::map(stream, Ok)))
    }

    /// An operator's change to a job, as an event with its decision now.
    /// (The target is known only for one with a budget or breaker.)
    pub fn emit_job(&self, kind: EventKind, view: &crate::state::JobView, job: &pb::Job) {
        let target = view
            .job
            .last_decision
            .target
            .map_or("", |t| self.state.target_name(t));
        self.emit(
            kind,
            Subject {
                job_id: &job.job_id,
                job_type: &job.job_type,
                target,
            },
            job.last_decision.as_ref(),
        );
    }

    /// A breaker moved: its transition counted, its state shown, logged,
    /// and (opened or closed) an event.
    pub fn breaker_moved(&self, m: Moved) {
        let name = self.state.target_name(m.target);
        for to in m.moves.iter() {
            self.metrics.breaker_moved(m.target, name, to);
            tracing::warn!(target = name, to = to.as_str(), "circuit breaker moved");
            let kind = match to {
                BreakerState::Open => EventKind::BreakerOpened,
                BreakerState::Closed => EventKind::BreakerClosed,
                BreakerState::HalfOpen => continue,
            };
            self.emit(
                kind,
                Subject {
                    job_id: "",
                    job_type: "",
                    target: name,
                },
                None,
            );
        }
    }

    /// A recorded (not duplicate) failure and its decision, as `decision`
    /// answers it: counted, its events published, logged.
    pub fn failure_observed(
        &self,
        engine: &Engine,
        l: &DecisionLabels<'_>,
        f: &Failure<'_>,
        out: &FailureOutcome,
        decision: &pb::Decision,
    ) {
        let d = &out.decision;
        self.metrics.failure(l, d);
        let refused = crate::state::budget_refused(d);
        if let Some(t) = l.target
            && refused
        {
            self.metrics.budget_refused(t.id, t.name);
        }
        if out.gave_up {
            self.metrics.attempts(l.job_type, false, d.failure_count);
        }
        if let Some(m) = out.breaker {
            self.breaker_moved(m);
        }
        if let Some(s) = &out.shadow {
            let shadow = Named {
                id: s.policy,
                name: engine.policy_name(s),
            };
            let how = crate::engine::shadow::Comparison::of(d, s);
            self.metrics.shadow(l.generation, l.policy, shadow, how);
        }
        if self.events.watched() {
            let of = || Subject {
                job_id: f.job_id,
                job_type: f.job_type,
                target: f.target,
            };
            if refused {
                self.emit(EventKind::BudgetExhausted, of(), Some(decision));
            }
            if d.action == Action::Retry {
                self.emit(EventKind::RetryScheduled, of(), Some(decision));
            } else if out.gave_up {
                self.emit(EventKind::GaveUp, of(), Some(decision));
            }
        }
        if out.gave_up {
            tracing::info!(
                job_id = f.job_id,
                job_type = f.job_type,
                reason = d.reason.map_or("none", |r| r.as_str()),
                failures = d.failure_count,
                policy = &decision.policy,
                explanation = &decision.explanation,
                "gave up on job"
            );
        } else {
            decided(f.job_id, d, false);
        }
    }

    /// A success: counted with the job's attempts, its breaker's move, and
    /// (after failures) an event.
    pub fn success_observed(&self, r: &pb::ReportSuccessRequest, out: &SuccessOutcome) {
        let job_type = job_type_label(&self.state, out.label);
        self.metrics.success(job_type, out.known);
        if let Some(m) = out.breaker {
            self.breaker_moved(m);
        }
        if out.known {
            self.emit(
                EventKind::SucceededAfterRetry,
                Subject {
                    job_id: &r.job_id,
                    job_type: &r.job_type,
                    target: &r.target,
                },
                None,
            );
        }
        self.metrics.attempts(
            job_type,
            true,
            out.failures_before_success.saturating_add(1),
        );
    }

    /// What the lease reaper found: counted, and each an event (a job dead
    /// of the delivery limit also as a give-up).
    pub fn leases_expired(&self, expired: &[Expired]) {
        let engine = self.engine.load();
        for e in expired {
            self.metrics.lease_expired(&e.queue);
            let of = || Subject {
                job_id: &e.job_id,
                job_type: &e.job_type,
                target: "",
            };
            self.emit(EventKind::LeaseExpired, of(), None);
            if let Some((label, d)) = &e.died {
                let l = labels(&engine, &self.state, *label, d);
                self.metrics.failure(&l, d);
                self.metrics.attempts(l.job_type, false, d.failure_count);
                tracing::info!(
                    job_id = e.job_id,
                    queue = e.queue,
                    "gave up on job: its deliveries kept running out unsettled (max_deliveries)"
                );
                if self.events.watched() {
                    let error = crate::engine::ErrorReport::default();
                    let decision =
                        super::convert::decision(&engine, d, &error, l.target.map(|t| t.name));
                    self.emit(EventKind::GaveUp, of(), Some(&decision));
                }
            }
        }
    }
}
