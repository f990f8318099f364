//! The snapshot format is a promise across upgrades: a file written by an
//! earlier build still loads.

use std::path::Path;

/// A version-1 snapshot written by an earlier build (tests/durability.rs's
/// populated state) still loads: the format is a promise across upgrades.
#[tokio::test]
async fn a_version_1_snapshot_from_an_earlier_build_loads() {
    use retryd::config::Config;
    use retryd::engine::{Engine, JobState};
    use retryd::state::{BatchLimits, State};

    let config = Config::from_toml(
        "[policies.extraction]\nmax_retries = 7\n[job_types]\nextraction = \"extraction\"\n[budgets.s3]\nmax_tokens = 10\nmax_retrying = 50\n",
    )
    .expect("config");
    let job_types: Vec<String> = config
        .policies
        .job_types()
        .map(|(t, _)| t.to_string())
        .collect();
    let engine = Engine {
        budgets: config.budgets.clone(),
        ..Engine::new(config.classifier(), config.policies)
    };
    let state = State::memory(
        config.limits.clone(),
        BatchLimits::default(),
        Default::default(),
        &engine,
        job_types,
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/snapshot-v1.snap");
    let stats = state
        .load_snapshot(&path, &engine)
        .expect("loads")
        .expect("exists");
    assert_eq!(stats.jobs, 47);
    assert_eq!(state.jobs_held(), Some(47));
    let get = async |id: &str| state.get(&engine, id).await.expect("get").expect(id);
    let poison = get("poison-3").await;
    assert_eq!(poison.job.state, JobState::Dead);
    let job = get("job-5").await;
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
    let extraction = get("job-4").await;
    assert_eq!(
        engine
            .policies
            .by_id(extraction.job.last_decision.policy)
            .name
            .as_ref(),
        "extraction"
    );
    let batch = state.get_batch("nightly").await.expect("batch");
    assert!(batch.is_pass_open());
    assert_eq!(batch.len(), 3);
}
