//! The families updated as the server and the state report what happened:
//! failures and decisions, successes, calls, delivery, snapshots, budgets,
//! breakers, live operations, the backend.

use super::*;

/// Queues with a label of their own; past them, `other` (a caller cannot
/// blow up the metrics' cardinality with queue names).
const MAX_QUEUE_LABELS: usize = 100;

impl Metrics {
    /// The `queue` label of a queue: its name, or `other` past the bound.
    fn queue_label(&self, queue: &str) -> String {
        let labels = &self.delivery.labels;
        if labels.contains_key(queue) {
            return queue.to_string();
        }
        if labels.len() < MAX_QUEUE_LABELS {
            labels.insert(queue.to_string(), ());
            return queue.to_string();
        }
        "other".to_string()
    }

    fn queue_gauge(&self, cache: &Cache<String, Gauge>, name: &'static str, q: &str) -> Gauge {
        let q = self.queue_label(q);
        cache
            .get(q.clone(), || {
                self.recorder
                    .register_gauge(&Key::from_parts(name, vec![label("queue", &q)]), &META)
            })
            .clone()
    }

    /// A due job handed out, `lag` seconds after it fell due.
    pub fn delivered(&self, queue: &str, lag: f64) {
        let q = self.queue_label(queue);
        self.delivery
            .deliveries
            .get(q.clone(), || {
                self.counter(DELIVERIES, vec![label("queue", &q)])
            })
            .increment(1);
        self.delivery
            .lag
            .get(q.clone(), || {
                self.histogram(DELIVERY_LAG, vec![label("queue", &q)])
            })
            .record(lag);
    }

    /// A handed-out job's lease ran out unsettled.
    pub fn lease_expired(&self, queue: &str) {
        let q = self.queue_label(queue);
        self.delivery
            .expired
            .get(q.clone(), || {
                self.counter(LEASE_EXPIRED, vec![label("queue", &q)])
            })
            .increment(1);
    }

    /// The queues' gauges from `rows` (a queue no longer there reads 0).
    pub(super) fn set_queue_gauges(
        &self,
        rows: &[crate::state::QueueRow],
        parked_bytes: u64,
        now: f64,
    ) {
        let d = &self.delivery;
        d.parked_bytes.set(parked_bytes as f64);
        let mut by_label: std::collections::HashMap<String, (f64, f64, f64)> =
            std::collections::HashMap::new();
        for r in rows {
            let e = by_label.entry(self.queue_label(&r.queue)).or_default();
            e.0 += r.parked as f64;
            e.1 += r.leased as f64;
            if let Some(t) = r.oldest_due {
                e.2 = e.2.max(now - t.0 as f64 / 1000.0).max(0.0);
            }
        }
        for (cache, name, i) in [
            (&d.parked, PARKED_JOBS, 0),
            (&d.leased, LEASED_JOBS, 1),
            (&d.oldest_due, OLDEST_DUE, 2),
        ] {
            for (q, v) in &by_label {
                let v = [v.0, v.1, v.2][i];
                self.queue_gauge(cache, name, q).set(v);
            }
            for g in cache.map.iter() {
                if !by_label.contains_key(g.key()) {
                    g.value().set(0.0);
                }
            }
        }
    }

    /// A configuration reload, applied or refused.
    pub fn reload(&self, ok: bool) {
        if ok {
            self.live.reloads[0].increment(1);
            self.live.reload_last.set(unix_now());
        } else {
            self.live.reloads[1].increment(1);
        }
        self.live.reload_ok.set(if ok { 1.0 } else { 0.0 });
    }

    /// Pauses in force now.
    pub fn pauses(&self, n: usize) {
        self.live.pauses.set(n as f64);
    }

    /// Watchers open now, and events missed in all (absolute counts).
    pub fn events(&self, watchers: usize, dropped: u64) {
        self.live.watchers.set(watchers as f64);
        self.live.dropped.absolute(dropped);
    }

    /// Registers `retryd_backend_up` (fleet mode only: in memory mode
    /// there is no backend to be up or down).
    pub fn with_backend_up(mut self) -> Metrics {
        self.backend_up = self
            .recorder
            .register_gauge(&Key::from_name(BACKEND_UP), &META);
        self
    }

    pub fn backend_up(&self, up: bool) {
        self.backend_up.set(if up { 1.0 } else { 0.0 });
    }

    /// The count the load-shedding layer adds to.
    pub fn shed_counter(&self) -> Arc<AtomicU64> {
        self.shed.clone()
    }

    pub fn pass(&self, result: PassResult) {
        if let Some(i) = PASS_RESULTS.iter().position(|r| *r == result) {
            self.passes[i].increment(1);
        }
    }

    /// One recorded (not de-duplicated) failure and its decision.
    pub fn failure(&self, l: &DecisionLabels<'_>, d: &Decision) {
        let (class, action, reason) = (d.error_class, d.action, d.reason);
        self.cached(
            l.generation,
            &self.failures,
            (l.job_type.id, class, l.category.id),
            || {
                self.counter(
                    FAILURES,
                    vec![
                        label("job_type", l.job_type.name),
                        label("error_class", class.as_str()),
                        label("category", l.category.name),
                    ],
                )
            },
        )
        .increment(1);
        self.cached(
            l.generation,
            &self.decisions,
            (l.job_type.id, l.policy.id, action, reason),
            || {
                self.counter(
                    DECISIONS,
                    vec![
                        label("job_type", l.job_type.name),
                        label("policy", l.policy.name),
                        label("action", action.as_str()),
                        label("reason", reason.map_or("none", GiveUpReason::as_str)),
                    ],
                )
            },
        )
        .increment(1);
        if action == Action::Retry {
            self.cached(l.generation, &self.delay, l.policy.id, || {
                self.histogram(RETRY_DELAY, vec![label("policy", l.policy.name)])
            })
            .record(d.delay.as_secs_f64());
        }
        if let Why::Retry {
            hint: HintUse::TooLong(_),
            ..
        } = d.why
        {
            self.cached(l.generation, &self.hints_disregarded, l.policy.id, || {
                self.counter(HINTS_DISREGARDED, vec![label("policy", l.policy.name)])
            })
            .increment(1);
        }
    }

    /// A job's attempts, observed when it succeeds or gives up.
    pub fn attempts(&self, job_type: Named<'_, LabelId>, succeeded: bool, attempts: u32) {
        self.attempts
            .get((job_type.id, succeeded), || {
                self.histogram(
                    ATTEMPTS,
                    vec![
                        label("job_type", job_type.name),
                        label("outcome", if succeeded { "succeeded" } else { "gave_up" }),
                    ],
                )
            })
            .record(f64::from(attempts));
    }

    pub fn success(&self, job_type: Named<'_, LabelId>, after_retry: bool) {
        self.successes
            .get((job_type.id, after_retry), || {
                self.counter(
                    SUCCESSES,
                    vec![
                        label("job_type", job_type.name),
                        label("after_retry", if after_retry { "true" } else { "false" }),
                    ],
                )
            })
            .increment(1);
    }

    pub fn rpc(&self, method: &'static str, code: tonic::Code, took: Duration) {
        let register = || {
            self.histogram(
                RPC_DURATION,
                vec![label("method", method), label("code", code_name(code))],
            )
        };
        if code == tonic::Code::Ok && method == "ReportFailure" {
            // The same handle `rpc` would give (the recorder returns the
            // one registered for these labels), without the map lookup.
            self.report_failure_ok
                .get_or_init(|| self.rpc.get((method, code), register).clone())
                .record(took.as_secs_f64());
        } else {
            self.rpc
                .get((method, code), register)
                .record(took.as_secs_f64());
        }
    }

    /// A snapshot write: how long it took, and when it finished if it succeeded.
    pub fn snapshot(&self, finished_at: Option<std::time::SystemTime>, took: Duration) {
        match finished_at {
            Some(at) => {
                self.snapshot_writes[0].increment(1);
                let secs = at
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64();
                self.snapshot_last.set(secs);
                self.snapshot_duration.set(took.as_secs_f64());
            }
            None => self.snapshot_writes[1].increment(1),
        }
    }

    pub fn evicted(&self, ev: &Evictions) {
        for (counter, (_, n)) in self.evictions.iter().zip(ev.by_reason()) {
            if n > 0 {
                counter.increment(n);
            }
        }
    }

    /// A decision under a policy with a shadow (`live`), and the shadow's.
    pub fn shadow(
        &self,
        generation: u64,
        live: Named<'_, PolicyId>,
        shadow: Named<'_, PolicyId>,
        how: Comparison,
    ) {
        self.cached(generation, &self.shadow, (live.id, shadow.id, how), || {
            self.counter(
                SHADOW,
                vec![
                    label("policy", live.name),
                    label("shadow", shadow.name),
                    label("outcome", how.as_str()),
                ],
            )
        })
        .increment(1);
    }

    /// A target's breaker moved to `to`.
    pub fn breaker_moved(&self, target: TargetId, name: &str, to: BreakerState) {
        self.breaker_transitions
            .get((target, to), || {
                self.counter(
                    BREAKER_TRANSITIONS,
                    vec![label("target", name), label("to", to.as_str())],
                )
            })
            .increment(1);
        self.breaker_gauge(target, name).set(breaker_value(to));
    }

    pub(super) fn breaker_gauge(
        &self,
        target: TargetId,
        name: &str,
    ) -> Handle<'_, TargetId, Gauge> {
        self.breaker_state.get(target, || {
            self.recorder.register_gauge(
                &Key::from_parts(BREAKER_STATE, vec![label("target", name)]),
                &META,
            )
        })
    }

    /// A retry refused (given up or deferred) by a target's budget, decided
    /// by this sidecar. (Counted here, not read from the state: in fleet mode
    /// the state's count is the fleet's, and every pod would export it.)
    pub fn budget_refused(&self, target: TargetId, name: &str) {
        self.budget_exhausted
            .get(target, || {
                self.counter(BUDGET_EXHAUSTED, vec![label("target", name)])
            })
            .increment(1);
    }
}

impl crate::state::Observer for Metrics {
    fn backend_call(
        &self,
        op: crate::state::BackendOp,
        outcome: crate::state::BackendOutcome,
        took: Duration,
    ) {
        use crate::state::{BackendOp as Op, BackendOutcome as Outcome};
        let (Some(o), Some(r)) = (
            Op::ALL.iter().position(|x| *x == op),
            Outcome::ALL.iter().position(|x| *x == outcome),
        ) else {
            return;
        };
        self.backend_requests[o][r].increment(1);
        self.backend_duration[o].record(took.as_secs_f64());
    }

    fn swept(&self, evictions: &Evictions, _batches: usize) {
        self.evicted(evictions);
    }

    fn snapshot_written(
        &self,
        result: Result<&crate::state::SnapshotStats, &crate::state::SnapshotError>,
        took: Duration,
    ) {
        self.snapshot(result.is_ok().then(std::time::SystemTime::now), took);
    }
}
