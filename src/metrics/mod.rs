//! Prometheus metrics (docs/metrics.md).
//!
//! Each server owns its recorder instead of installing a process-global one:
//! two servers in one process (as in the tests) keep separate counts, and
//! handles are registered once per label set and then cached, so the hot path
//! does a map lookup and an atomic add, not a registry walk.
//!
//! `names` holds the metric names, `registry` registers every family with
//! its help text (`Metrics::new`), `families` updates them as the server and
//! the state report what happened, `cache` keeps their handles by label ids,
//! and `endpoint` renders and serves `/metrics`.

mod cache;
mod endpoint;
mod families;
mod names;
mod registry;

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
    Action, BreakerState, CategoryId, Decision, ErrorClass, GiveUpReason, HintUse, JobState,
    PolicyId, TargetId, Why,
};
use crate::labels::LabelId;

const PASS_RESULTS: [PassResult; 4] = [
    PassResult::AllComplete,
    PassResult::OnlyNonRetryable,
    PassResult::MaxPassesReached,
    PassResult::RetryableRemaining,
];
use crate::state::{Evictions, Gauges};

use cache::{Cache, Handle};
pub use endpoint::{ReadGauges, serve, url};
pub use names::*;

static META: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The cache key of `retryd_decisions_total`: job type, policy, action, reason.
type DecisionKey = (LabelId, PolicyId, Action, Option<GiveUpReason>);

/// A label value as the families are handed it: its id, which handles are
/// cached by, and its name, which a new handle is registered with.
#[derive(Clone, Copy, Debug)]
pub struct Named<'a, I> {
    pub id: I,
    pub name: &'a str,
}

/// A decision's label values, resolved once per call by the server
/// (`server/observe.rs`) from its engine and state.
#[derive(Clone, Copy, Debug)]
pub struct DecisionLabels<'a> {
    /// The configuration generation the policy and category ids are of.
    pub generation: u64,
    pub job_type: Named<'a, LabelId>,
    pub policy: Named<'a, PolicyId>,
    pub category: Named<'a, CategoryId>,
    pub target: Option<Named<'a, TargetId>>,
}

pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    failures: Cache<(LabelId, ErrorClass, CategoryId), Counter>,
    decisions: Cache<DecisionKey, Counter>,
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
        generation: u64,
        cache: &'c Cache<K, H>,
        k: K,
        register: impl FnOnce() -> H,
    ) -> Handle<'c, K, H> {
        if generation == self.generation.load(Relaxed) {
            cache.get(k, register)
        } else {
            Handle::Own(register())
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
