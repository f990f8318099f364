//! Prometheus metrics (docs/metrics.md).
//!
//! Each server owns its recorder instead of installing a process-global one:
//! two servers in one process (as in the tests) keep separate counts, and
//! handles are registered once per label set and then cached, so the hot path
//! does a map lookup and an atomic add, not a registry walk.

use std::hash::Hash;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use axum::Router;
use axum::extract::State as Extract;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use dashmap::DashMap;
use foldhash::fast::FixedState;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::engine::batch::PassResult;
use crate::engine::classify::grpc_code_name;
use crate::engine::shadow::Comparison;
use crate::engine::{
    Action, BreakerState, CategoryId, Decision, Engine, ErrorClass, GiveUpReason, HintUse,
    JobState, PolicyId, TargetId, Why,
};
use crate::labels::LabelId;

const PASS_RESULTS: [PassResult; 4] = [
    PassResult::AllComplete,
    PassResult::OnlyNonRetryable,
    PassResult::MaxPassesReached,
    PassResult::RetryableRemaining,
];
use crate::state::{Evictions, Gauges, State};

pub const FAILURES: &str = "retryd_failures_reported_total";
pub const DECISIONS: &str = "retryd_decisions_total";
pub const SUCCESSES: &str = "retryd_successes_total";
pub const RETRY_DELAY: &str = "retryd_retry_delay_seconds";
pub const ATTEMPTS: &str = "retryd_attempts_per_job";
pub const JOBS: &str = "retryd_jobs";
pub const EVICTIONS: &str = "retryd_evictions_total";
pub const RPC_DURATION: &str = "retryd_rpc_duration_seconds";
pub const BUILD_INFO: &str = "retryd_build_info";
pub const PASSES: &str = "retryd_passes_total";
pub const BUDGET_TOKENS: &str = "retryd_budget_tokens";
pub const SHED: &str = "retryd_requests_shed_total";
pub const BUDGET_EXHAUSTED: &str = "retryd_budget_exhausted_total";
pub const SNAPSHOT_WRITES: &str = "retryd_snapshot_writes_total";
pub const SNAPSHOT_LAST: &str = "retryd_snapshot_last_success_timestamp_seconds";
pub const SNAPSHOT_DURATION: &str = "retryd_snapshot_duration_seconds";
pub const BACKEND_REQUESTS: &str = "retryd_backend_requests_total";
pub const BACKEND_DURATION: &str = "retryd_backend_duration_seconds";
pub const BACKEND_UP: &str = "retryd_backend_up";
pub const HINTS_DISREGARDED: &str = "retryd_retry_after_hints_disregarded_total";
pub const BREAKER_STATE: &str = "retryd_breaker_state";
pub const SHADOW: &str = "retryd_shadow_decisions_total";
pub const BREAKER_TRANSITIONS: &str = "retryd_breaker_transitions_total";
pub const PAUSES: &str = "retryd_pauses";
pub const WATCHERS: &str = "retryd_event_watchers";
pub const EVENTS_DROPPED: &str = "retryd_events_dropped_total";
pub const RELOADS: &str = "retryd_config_reloads_total";
pub const RELOAD_LAST: &str = "retryd_config_last_reload_success_timestamp_seconds";
pub const RELOAD_OK: &str = "retryd_config_last_reload_successful";
pub const PARKED_JOBS: &str = "retryd_parked_jobs";
pub const PARKED_BYTES: &str = "retryd_parked_bytes";
pub const DELIVERIES: &str = "retryd_deliveries_total";
pub const LEASE_EXPIRED: &str = "retryd_delivery_lease_expired_total";
pub const DELIVERY_LAG: &str = "retryd_delivery_lag_seconds";
pub const OLDEST_DUE: &str = "retryd_oldest_due_seconds";
pub const LEASED_JOBS: &str = "retryd_leased_jobs";

/// Queues with a label of their own; past them, `other` (a caller cannot
/// blow up the metrics' cardinality with queue names).
const MAX_QUEUE_LABELS: usize = 100;

const DELAY_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0,
    21600.0, 86400.0,
];
const ATTEMPT_BUCKETS: &[f64] = &[
    1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0,
];
const BACKEND_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];
const LAG_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
    1800.0, 3600.0,
];
const RPC_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0,
];

static META: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// Labels of `retryd_decisions_total`: job type, policy, action, reason.
type DecisionLabels = (LabelId, PolicyId, Action, Option<GiveUpReason>);

/// Handles cached by the ids of their label values: a lookup hashes a few
/// bytes and clones an `Arc`; the names are only read to register.
struct Cache<K, H> {
    map: DashMap<K, H, FixedState>,
}

impl<K: Eq + Hash, H: Clone> Cache<K, H> {
    fn new() -> Self {
        Cache {
            map: DashMap::with_hasher(FixedState::default()),
        }
    }

    /// The handle for `k`, registered on first use; used in place (under
    /// the map's read lock) rather than cloned, so a call costs no `Arc`
    /// clone and drop.
    fn get(&self, k: K, register: impl FnOnce() -> H) -> Handle<'_, K, H> {
        if let Some(h) = self.map.get(&k) {
            return Handle::Cached(h);
        }
        Handle::Cached(self.map.entry(k).or_insert_with(register).downgrade())
    }
}

/// A metric handle: one in a `Cache`, or one registered for this call only.
enum Handle<'a, K, H> {
    Cached(dashmap::mapref::one::Ref<'a, K, H>),
    Own(H),
}

impl<K: Eq + Hash, H> std::ops::Deref for Handle<'_, K, H> {
    type Target = H;

    fn deref(&self) -> &H {
        match self {
            Handle::Cached(r) => r.value(),
            Handle::Own(h) => h,
        }
    }
}

pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    failures: Cache<(LabelId, ErrorClass, CategoryId), Counter>,
    decisions: Cache<DecisionLabels, Counter>,
    successes: Cache<(LabelId, bool), Counter>,
    delay: Cache<PolicyId, Histogram>,
    attempts: Cache<(LabelId, bool), Histogram>,
    rpc: Cache<(&'static str, tonic::Code), Histogram>,
    /// `rpc`'s handle for the commonest call, `ReportFailure` answered OK,
    /// resolved on its first use.
    report_failure_ok: std::sync::OnceLock<Histogram>,
    budget_tokens: Cache<TargetId, Gauge>,
    budget_exhausted: Cache<TargetId, Counter>,
    hints_disregarded: Cache<PolicyId, Counter>,
    breaker_state: Cache<TargetId, Gauge>,
    shadow: Cache<(PolicyId, PolicyId, Comparison), Counter>,
    breaker_transitions: Cache<(TargetId, BreakerState), Counter>,
    jobs: [Gauge; 3],
    evictions: [Counter; 4],
    passes: [Counter; 4],
    shed: Arc<AtomicU64>,
    shed_counter: Counter,
    /// ok, error.
    snapshot_writes: [Counter; 2],
    snapshot_last: Gauge,
    snapshot_duration: Gauge,
    /// By op, then outcome (`Op::ALL`, `Outcome::ALL` order).
    backend_requests: Vec<[Counter; 4]>,
    backend_duration: Vec<Histogram>,
    backend_up: Gauge,
    live: Live,
    delivery: DeliveryMetrics,
    /// The configuration generation whose policy and category ids key the
    /// caches (a reload clears them).
    generation: AtomicU64,
}

/// Delivery: parked jobs and bytes, hand-outs, leases that ran out, lag.
struct DeliveryMetrics {
    /// The queues with a label of their own.
    labels: DashMap<String, (), FixedState>,
    parked: Cache<String, Gauge>,
    leased: Cache<String, Gauge>,
    oldest_due: Cache<String, Gauge>,
    deliveries: Cache<String, Counter>,
    expired: Cache<String, Counter>,
    lag: Cache<String, Histogram>,
    parked_bytes: Gauge,
}

/// Live operations: pauses, watchers, reloads.
struct Live {
    pauses: Gauge,
    watchers: Gauge,
    /// Events missed by watchers or the fleet's outbox (kept by `Events`).
    dropped: Counter,
    /// ok, error.
    reloads: [Counter; 2],
    reload_last: Gauge,
    reload_ok: Gauge,
}

fn label(k: &'static str, v: &str) -> Label {
    Label::new(k, v.to_string())
}

impl Metrics {
    /// Every sample carries `fleet = fleet`: the sidecars that share one
    /// state (a memory-mode sidecar is a fleet of its own). A gauge of the
    /// fleet's state is the same on each of its pods: dashboards and alerts
    /// take `max by (fleet)` of it, then sum over fleets, and an alert
    /// about a fleet's state fires once per fleet, however many pods.
    pub fn new(fleet: &str) -> Metrics {
        let builder = [
            (RETRY_DELAY, DELAY_BUCKETS),
            (DELIVERY_LAG, LAG_BUCKETS),
            (ATTEMPTS, ATTEMPT_BUCKETS),
            (RPC_DURATION, RPC_BUCKETS),
            (BACKEND_DURATION, BACKEND_BUCKETS),
        ]
        .into_iter()
        .fold(
            PrometheusBuilder::new().add_global_label("fleet", fleet),
            |b, (name, buckets)| {
                // Only fails on an empty bucket list; ours are constants.
                b.set_buckets_for_metric(Matcher::Full(name.to_string()), buckets)
                    .unwrap_or_else(|e| panic!("bucket constants for {name}: {e}"))
            },
        );
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let describe = |name: &'static str, help: &'static str| {
            let (name, help) = (KeyName::from_const_str(name), SharedString::const_str(help));
            (name, help)
        };
        for (name, help) in [
            (
                FAILURES,
                "Failed attempts reported, by job type, error class and matched category.",
            ),
            (
                DECISIONS,
                "Decisions returned, by job type, policy, action (retry/give_up) and give-up reason.",
            ),
            (EVICTIONS, "Jobs forgotten by the state bounds, by reason."),
            (
                SUCCESSES,
                "Successes reported, by job type and whether retries preceded them.",
            ),
            (PASSES, "Batch passes ended, by result."),
            (
                SHED,
                "Calls answered RESOURCE_EXHAUSTED because max_in_flight calls were being handled.",
            ),
            (
                BUDGET_EXHAUSTED,
                "Retries refused (given up or deferred) by a target's retry budget, by target.",
            ),
            (
                SNAPSHOT_WRITES,
                "State snapshots written, by result (ok/error).",
            ),
            (
                SHADOW,
                "Decisions also computed under a shadow policy, by policy, shadow and how the shadow's differed.",
            ),
            (
                BREAKER_TRANSITIONS,
                "Circuit breaker state changes, by target and the state moved to (open/half_open/closed).",
            ),
            (
                HINTS_DISREGARDED,
                "Server retry-after hints disregarded for being over the policy's max_retry_after_hint, by policy.",
            ),
            (
                BACKEND_REQUESTS,
                "Calls to the fleet state's backend (Redis), by operation and result (ok/conflict/timeout/error).",
            ),
            (
                EVENTS_DROPPED,
                "Events not delivered: a watcher fell behind, or the fleet's outbox was full.",
            ),
            (
                RELOADS,
                "Configuration reloads (SIGHUP or a watched file change), by result (ok/error).",
            ),
            (
                DELIVERIES,
                "Due jobs handed out to claimers (ClaimDue, WatchDue), by queue.",
            ),
            (
                LEASE_EXPIRED,
                "Leases of handed-out jobs that ran out unsettled, by queue.",
            ),
        ] {
            let (n, h) = describe(name, help);
            recorder.describe_counter(n, None, h);
        }
        for (name, help) in [
            (JOBS, "Jobs held, by state (retrying/dead/cancelled)."),
            (BUDGET_TOKENS, "Tokens left in each target's retry budget."),
            (
                BREAKER_STATE,
                "Each target's circuit breaker: 0 closed, 1 half-open, 2 open.",
            ),
            (
                SNAPSHOT_LAST,
                "Unix time of the last state snapshot written in full (0: none yet).",
            ),
            (
                SNAPSHOT_DURATION,
                "Seconds the last state snapshot took to write.",
            ),
            (
                BUILD_INFO,
                "Always 1; the version label says which retryd runs.",
            ),
            (
                BACKEND_UP,
                "1 while the fleet state's backend (Redis) answers this sidecar, else 0 (absent in memory mode).",
            ),
            (
                PAUSES,
                "Pauses of retries in force (job types and targets an operator paused).",
            ),
            (WATCHERS, "WatchEvents streams open on this sidecar."),
            (
                PARKED_JOBS,
                "Jobs parked on each queue for delivery, due or not yet (handed-out ones not counted).",
            ),
            (
                LEASED_JOBS,
                "Jobs handed out on each queue and not yet settled, their leases running.",
            ),
            (
                PARKED_BYTES,
                "Payload bytes retryd holds for delivery (parked, handed-out and dead jobs').",
            ),
            (
                OLDEST_DUE,
                "Seconds the oldest unclaimed due job of each queue has been due (0: none due).",
            ),
            (
                RELOAD_OK,
                "1 if the last configuration reload was applied (or none was tried), 0 if it was refused.",
            ),
            (
                RELOAD_LAST,
                "Unix time the running configuration was loaded (at start, then at each reload that succeeded).",
            ),
        ] {
            let (n, h) = describe(name, help);
            recorder.describe_gauge(n, None, h);
        }
        for (name, help) in [
            (
                RETRY_DELAY,
                "Delay of each retry decision in seconds, by policy.",
            ),
            (
                ATTEMPTS,
                "Attempts a job took, observed when it succeeded or gave up.",
            ),
            (
                RPC_DURATION,
                "Time to handle a gRPC call in seconds, by method and status code.",
            ),
            (
                BACKEND_DURATION,
                "Time of each call to the fleet state's backend (Redis) in seconds, by operation.",
            ),
            (
                DELIVERY_LAG,
                "Seconds from a job's due time to its hand-out, by queue.",
            ),
        ] {
            let (n, h) = describe(name, help);
            recorder.describe_histogram(
                n,
                Some(metrics::Unit::Seconds).filter(|_| name != ATTEMPTS),
                h,
            );
        }
        let jobs = JobState::ALL.map(|s| {
            recorder.register_gauge(
                &Key::from_parts(JOBS, vec![label("state", s.as_str())]),
                &META,
            )
        });
        let evictions = Evictions::default().by_reason().map(|(r, _)| {
            recorder.register_counter(&Key::from_parts(EVICTIONS, vec![label("reason", r)]), &META)
        });
        let shed_counter = recorder.register_counter(&Key::from_name(SHED), &META);
        let snapshot_writes = ["ok", "error"].map(|r| {
            recorder.register_counter(
                &Key::from_parts(SNAPSHOT_WRITES, vec![label("result", r)]),
                &META,
            )
        });
        let snapshot_last = recorder.register_gauge(&Key::from_name(SNAPSHOT_LAST), &META);
        let snapshot_duration = recorder.register_gauge(&Key::from_name(SNAPSHOT_DURATION), &META);
        use crate::state::{BackendOp as Op, BackendOutcome as Outcome};
        let backend_requests = Op::ALL
            .iter()
            .map(|op| {
                Outcome::ALL.map(|o| {
                    recorder.register_counter(
                        &Key::from_parts(
                            BACKEND_REQUESTS,
                            vec![label("op", op.as_str()), label("result", o.as_str())],
                        ),
                        &META,
                    )
                })
            })
            .collect();
        let backend_duration = Op::ALL
            .iter()
            .map(|op| {
                recorder.register_histogram(
                    &Key::from_parts(BACKEND_DURATION, vec![label("op", op.as_str())]),
                    &META,
                )
            })
            .collect();
        let passes = PASS_RESULTS.map(|r| {
            recorder.register_counter(
                &Key::from_parts(PASSES, vec![label("result", r.as_str())]),
                &META,
            )
        });
        let live = Live {
            pauses: recorder.register_gauge(&Key::from_name(PAUSES), &META),
            watchers: recorder.register_gauge(&Key::from_name(WATCHERS), &META),
            dropped: recorder.register_counter(&Key::from_name(EVENTS_DROPPED), &META),
            reloads: ["ok", "error"].map(|r| {
                recorder
                    .register_counter(&Key::from_parts(RELOADS, vec![label("result", r)]), &META)
            }),
            reload_last: recorder.register_gauge(&Key::from_name(RELOAD_LAST), &META),
            reload_ok: recorder.register_gauge(&Key::from_name(RELOAD_OK), &META),
        };
        let parked_bytes = recorder.register_gauge(&Key::from_name(PARKED_BYTES), &META);
        live.reload_last.set(unix_now());
        live.reload_ok.set(1.0);
        recorder
            .register_gauge(
                &Key::from_parts(
                    BUILD_INFO,
                    vec![label("version", env!("CARGO_PKG_VERSION"))],
                ),
                &META,
            )
            .set(1.0);
        Metrics {
            recorder,
            handle,
            failures: Cache::new(),
            decisions: Cache::new(),
            successes: Cache::new(),
            delay: Cache::new(),
            attempts: Cache::new(),
            rpc: Cache::new(),
            report_failure_ok: std::sync::OnceLock::new(),
            budget_tokens: Cache::new(),
            budget_exhausted: Cache::new(),
            hints_disregarded: Cache::new(),
            breaker_state: Cache::new(),
            shadow: Cache::new(),
            breaker_transitions: Cache::new(),
            jobs,
            evictions,
            passes,
            shed: Arc::new(AtomicU64::new(0)),
            shed_counter,
            snapshot_writes,
            snapshot_last,
            snapshot_duration,
            backend_requests,
            backend_duration,
            backend_up: Gauge::noop(),
            live,
            delivery: DeliveryMetrics {
                labels: DashMap::with_hasher(FixedState::default()),
                parked: Cache::new(),
                leased: Cache::new(),
                oldest_due: Cache::new(),
                deliveries: Cache::new(),
                expired: Cache::new(),
                lag: Cache::new(),
                parked_bytes,
            },
            generation: AtomicU64::new(0),
        }
    }

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
    fn set_queue_gauges(&self, rows: &[crate::state::QueueRow], parked_bytes: u64, now: f64) {
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

    /// A reload: the handles cached by policy and category id are dropped
    /// (the ids may name others now).
    pub fn reconfigured(&self, generation: u64) {
        self.generation.store(generation, Relaxed);
        self.failures.map.clear();
        self.decisions.map.clear();
        self.delay.map.clear();
        self.hints_disregarded.map.clear();
        self.shadow.map.clear();
    }

    /// `cache`'s handle for `k`; for a decision made under a configuration
    /// a reload replaced, one registered by name and not cached.
    fn cached<'c, K: Eq + Hash, H: Clone>(
        &self,
        engine: &Engine,
        cache: &'c Cache<K, H>,
        k: K,
        register: impl FnOnce() -> H,
    ) -> Handle<'c, K, H> {
        if engine.generation == self.generation.load(Relaxed) {
            cache.get(k, register)
        } else {
            Handle::Own(register())
        }
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

    fn counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        self.recorder
            .register_counter(&Key::from_parts(name, labels), &META)
    }

    fn histogram(&self, name: &'static str, labels: Vec<Label>) -> Histogram {
        self.recorder
            .register_histogram(&Key::from_parts(name, labels), &META)
    }

    /// One recorded (not de-duplicated) failure and its decision.
    pub fn failure(&self, engine: &Engine, state: &State, job_type: LabelId, d: &Decision) {
        let (class, action, reason) = (d.error_class, d.action, d.reason);
        self.cached(
            engine,
            &self.failures,
            (job_type, class, d.category),
            || {
                self.counter(
                    FAILURES,
                    vec![
                        label("job_type", state.label_name(job_type)),
                        label("error_class", class.as_str()),
                        label("category", engine.category_name(d)),
                    ],
                )
            },
        )
        .increment(1);
        self.cached(
            engine,
            &self.decisions,
            (job_type, d.policy, action, reason),
            || {
                self.counter(
                    DECISIONS,
                    vec![
                        label("job_type", state.label_name(job_type)),
                        label("policy", engine.policy_name(d)),
                        label("action", action.as_str()),
                        label("reason", reason.map_or("none", GiveUpReason::as_str)),
                    ],
                )
            },
        )
        .increment(1);
        if action == Action::Retry {
            self.cached(engine, &self.delay, d.policy, || {
                self.histogram(RETRY_DELAY, vec![label("policy", engine.policy_name(d))])
            })
            .record(d.delay.as_secs_f64());
        }
        if let Why::Retry {
            hint: HintUse::TooLong(_),
            ..
        } = d.why
        {
            self.cached(engine, &self.hints_disregarded, d.policy, || {
                self.counter(
                    HINTS_DISREGARDED,
                    vec![label("policy", engine.policy_name(d))],
                )
            })
            .increment(1);
        }
    }

    /// A job's attempts, observed when it succeeds or gives up.
    pub fn attempts(&self, state: &State, job_type: LabelId, succeeded: bool, attempts: u32) {
        self.attempts
            .get((job_type, succeeded), || {
                self.histogram(
                    ATTEMPTS,
                    vec![
                        label("job_type", state.label_name(job_type)),
                        label("outcome", if succeeded { "succeeded" } else { "gave_up" }),
                    ],
                )
            })
            .record(f64::from(attempts));
    }

    pub fn success(&self, state: &State, job_type: LabelId, after_retry: bool) {
        self.successes
            .get((job_type, after_retry), || {
                self.counter(
                    SUCCESSES,
                    vec![
                        label("job_type", state.label_name(job_type)),
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

    /// The exposition text, with the gauges (and the budget counters, kept
    /// by the state) set from `gauges` first; `None` leaves them as they were
    /// last set (the state could not be read).
    pub fn render(&self, gauges: Option<&Gauges>) -> String {
        self.shed_counter.absolute(self.shed.load(Relaxed));
        if let Some(g) = gauges {
            self.set_gauges(g);
        }
        self.handle.render()
    }

    fn set_gauges(&self, g: &Gauges) {
        for (gauge, (_, n)) in self.jobs.iter().zip(g.jobs) {
            gauge.set(n as f64);
        }
        for b in &g.budgets {
            let target = || vec![label("target", &b.target)];
            self.budget_tokens
                .get(b.target_id, || {
                    self.recorder
                        .register_gauge(&Key::from_parts(BUDGET_TOKENS, target()), &META)
                })
                .set(b.tokens);
        }
        for b in &g.breakers {
            self.breaker_gauge(b.target_id, &b.target)
                .set(breaker_value(b.state));
        }
        self.set_queue_gauges(&g.queues, g.parked_bytes, unix_now());
    }

    /// A decision under a policy with a shadow, and the shadow's.
    pub fn shadow(&self, engine: &Engine, live: &Decision, shadow: &Decision) {
        let how = Comparison::of(live, shadow);
        self.cached(
            engine,
            &self.shadow,
            (live.policy, shadow.policy, how),
            || {
                self.counter(
                    SHADOW,
                    vec![
                        label("policy", engine.policy_name(live)),
                        label("shadow", engine.policy_name(shadow)),
                        label("outcome", how.as_str()),
                    ],
                )
            },
        )
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

    fn breaker_gauge(&self, target: TargetId, name: &str) -> Handle<'_, TargetId, Gauge> {
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

    /// Drains histogram buffers between scrapes so they cannot grow unbounded.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// `retryd_breaker_state`'s value: the higher, the fewer retries pass.
fn breaker_value(s: BreakerState) -> f64 {
    match s {
        BreakerState::Closed => 0.0,
        BreakerState::HalfOpen => 1.0,
        BreakerState::Open => 2.0,
    }
}

/// The canonical upper-case name of a gRPC status code.
pub fn code_name(code: tonic::Code) -> &'static str {
    grpc_code_name(u8::try_from(i32::from(code)).unwrap_or(u8::MAX))
}

#[derive(Clone)]
struct Scrape {
    metrics: Arc<Metrics>,
    state: Arc<State>,
}

/// Serves `GET /metrics` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    state: Arc<State>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    async fn scrape(
        Extract(s): Extract<Scrape>,
    ) -> ([(axum::http::HeaderName, &'static str); 1], String) {
        (
            [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            {
                let gauges = match s.state.gauges().await {
                    Ok(g) => Some(g),
                    Err(e) => {
                        tracing::warn!(error = %e, "metrics: the state's gauges could not be read; they keep their last values");
                        None
                    }
                };
                s.metrics.render(gauges.as_ref())
            },
        )
    }
    let upkeep = {
        let metrics = metrics.clone();
        let shutdown = shutdown.clone();
        async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => metrics.upkeep(),
                }
            }
        }
    };
    tokio::spawn(upkeep);
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(Scrape { metrics, state });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// Where the metrics endpoint listens, for logs.
pub fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/metrics")
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
