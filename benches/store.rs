//! The memory store's update per `ReportFailure`: the decision and the job's
//! record written back, over 10,000 jobs, with and without a target budget
//! (the engine's own benchmarks are in `crates/retryd-engine/benches`).
//!
//!     cargo bench --bench store

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::SmallRng;

use retryd::config::Config;
use retryd::engine::{ErrorReport, FailureReport, Timestamp};
use retryd::state::{FailureCall, Limits, store_for};

const NOW: Timestamp = Timestamp(1_800_000_000_000);

/// Every decision a retry (the count never reaches the policy's limit); a
/// budget for target s3, refilled as it is used (as successes would).
const CONFIG: &str = r#"
[policies.bench]
max_retries = 10000

[budgets.s3]
max_tokens = 1000000
token_ratio = 1.0
"#;

fn bench_store(c: &mut Criterion) {
    let engine = Config::from_toml(CONFIG)
        .expect("bench configuration")
        .engine();
    let policy = engine.policies.get("bench").expect("bench policy").clone();
    let ids: Vec<String> = (0..10_000)
        .map(|i| format!("job-{i:010}-5f0c2b9e-7d41-4e8a-b3c6"))
        .collect();
    let r = FailureReport {
        error: ErrorReport {
            type_name: "requests.exceptions.ConnectionError",
            message: "HTTPSConnectionPool(host='api'): reset",
            ..ErrorReport::default()
        },
        ..FailureReport::default()
    };
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(1));
    for (name, target) in [
        ("report_failure_10k_jobs", ""),
        ("report_failure_10k_jobs_with_budget", "s3"),
    ] {
        let store = store_for(Limits::default(), &engine);
        let call = |id| FailureCall {
            job_id: id,
            job_type: "invoice",
            target,
            policy: &policy,
            report: r,
            pause: None,
            carry: Default::default(),
        };
        let mut rng = SmallRng::seed_from_u64(7);
        for id in &ids {
            let _ = store.report_failure(&engine, &call(id), NOW, &mut rng);
        }
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 7919) % ids.len();
                black_box(store.report_failure(&engine, &call(&ids[i]), NOW, &mut rng))
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench_store
}
criterion_main!(benches);
