//! Engine micro-benchmarks: one decision end to end (classification with the
//! built-in rules, policy, backoff, the job's state update) on one and on two
//! threads, with and without a target budget; classification alone. The
//! memory store's update is in the sidecar's `benches/store.rs`.
//!
//!     cargo bench --bench engine

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::SmallRng;

use retryd_engine::{
    BudgetConfig, BudgetView, Classifier, Engine, ErrorReport, FailureReport, Job, Policy,
    PolicySet, TargetId, Timestamp,
};

const NOW: Timestamp = Timestamp(1_800_000_000_000);

fn engine() -> (Engine, Arc<Policy>) {
    let engine = Engine::new(
        Classifier::new(Vec::new()).expect("built-in rules"),
        PolicySet::new(
            vec![Policy {
                max_retries: 10_000,
                ..Policy::named("bench")
            }],
            &[],
            None,
        )
        .expect("policies"),
    );
    let policy = engine.policies.get("bench").expect("bench policy").clone();
    (engine, policy)
}

fn report(type_name: &'static str, message: &'static str, http: u16) -> FailureReport<'static> {
    FailureReport {
        error: ErrorReport {
            type_name,
            message,
            http_status: http,
            grpc_code: 0,
            retryable: None,
        },
        attempt: 0,
        ..FailureReport::default()
    }
}

const TYPE_HIT: (&str, &str, u16) = (
    "requests.exceptions.ConnectionError",
    "HTTPSConnectionPool(host='api'): reset",
    0,
);

/// decide + record on one job, `iters` times (the count is reset before it
/// reaches the policy's limit, so every decision is a retry).
fn decisions(
    engine: &Engine,
    policy: &Arc<Policy>,
    iters: u64,
    seed: u64,
    budget: Option<&BudgetView>,
) -> Duration {
    let mut rng = SmallRng::seed_from_u64(seed);
    let r = report(TYPE_HIT.0, TYPE_HIT.1, TYPE_HIT.2);
    let first = engine.decide(None, policy, &r, budget, NOW, &mut rng);
    let mut job = Job::first(&first, NOW);
    let start = Instant::now();
    for i in 0..iters {
        if i % 5000 == 0 {
            job.failure_count = 1;
            job.last_attempt = 1;
        }
        let v = engine.decide(Some(&job), policy, &r, budget, NOW, &mut rng);
        job.record(&black_box(v), NOW);
    }
    start.elapsed()
}

fn bench_decide(c: &mut Criterion) {
    let (engine, policy) = engine();
    let mut g = c.benchmark_group("decide");
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_thread", |b| {
        b.iter_custom(|iters| decisions(&engine, &policy, iters, 1, None))
    });
    // A target budget with tokens to spare: the check every retry of a budgeted target pays.
    let budget = BudgetView {
        target: TargetId(1),
        config: BudgetConfig::default(),
        tokens: BudgetConfig::default().full(),
        retrying: 10,
        job_counted: true,
    };
    g.bench_function("one_thread_with_budget", |b| {
        b.iter_custom(|iters| decisions(&engine, &policy, iters, 1, Some(&budget)))
    });
    let shared = Arc::new((engine, policy));
    g.throughput(Throughput::Elements(2));
    g.bench_function("two_threads", |b| {
        b.iter_custom(|iters| {
            let threads: Vec<_> = (0..2)
                .map(|t| {
                    let s = shared.clone();
                    std::thread::spawn(move || decisions(&s.0, &s.1, iters, t, None))
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().expect("bench thread"))
                .max()
                .unwrap_or_default()
        })
    });
    g.finish();
}

fn bench_classify(c: &mut Criterion) {
    let (engine, _) = engine();
    let classifier = &engine.classifier;
    let mut g = c.benchmark_group("classify");
    g.throughput(Throughput::Elements(1));
    for (name, r) in [
        ("type_hit", report(TYPE_HIT.0, TYPE_HIT.1, 0)),
        (
            "http_hit",
            report(
                "urllib3.exceptions.HTTPError",
                "HTTP 503 from upstream",
                503,
            ),
        ),
        (
            "message_regex_hit",
            report(
                "RuntimeError",
                "dial tcp 10.0.3.7:5432: connect: connection refused",
                0,
            ),
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| black_box(classifier.classify(black_box(&r.error))).class)
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench_decide, bench_classify
}
criterion_main!(benches);
