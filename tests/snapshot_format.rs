//! The snapshot format is a promise across upgrades: a file written by an
//! earlier build still loads.

use std::path::Path;

/// A version-1 snapshot written by an earlier build (tests/durability.rs's
/// populated state) still loads: the format is a promise across upgrades.
#[test]
fn a_version_1_snapshot_from_an_earlier_build_loads() {
    use retryd::config::Config;
    use retryd::engine::{Engine, JobState};
    use retryd::state::memory::batches::{BatchLimits, Batches};
    use retryd::state::store_for;

    let config = Config::from_toml(
        "[policies.extraction]\nmax_retries = 7\n[job_types]\nextraction = \"extraction\"\n[budgets.s3]\nmax_tokens = 10\nmax_retrying = 50\n",
    )
    .expect("config");
    let engine = Engine {
        budgets: config.budgets.clone(),
        ..Engine::new(config.classifier(), config.policies)
    };
    let store = store_for(config.limits.clone(), &engine);
    let batches = Batches::new(BatchLimits::default());
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/snapshot-v1.snap");
    let stats = retryd::state::memory::snapshot::load(&path, &engine, &store, &batches)
        .expect("loads")
        .expect("exists");
    assert_eq!(stats.jobs, 47);
    assert_eq!(store.len(), 47);
    let poison = store.get("poison-3").expect("dead letter");
    assert_eq!(poison.job.state, JobState::Dead);
    let job = store.get("job-5").expect("job-5");
    assert_eq!(job.job.failure_count, 3);
    assert_eq!(job.job_type, "mail");
    assert_eq!(
        engine
            .policies
            .by_id(job.job.last_decision.policy)
            .name
            .as_ref(),
        "default"
    );
    let extraction = store.get("job-4").expect("job-4");
    assert_eq!(
        engine
            .policies
            .by_id(extraction.job.last_decision.policy)
            .name
            .as_ref(),
        "extraction"
    );
    let batch = batches.get("nightly").expect("batch");
    assert!(batch.is_pass_open());
    assert_eq!(batch.len(), 3);
}
