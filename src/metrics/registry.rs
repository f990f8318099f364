//! Every metric family registered with its help text, and its buckets.

use super::*;

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
}
