//! Entry points for the fuzz targets (`fuzz/`, which turns on the
//! `fuzzing` feature; the module is not part of the API otherwise), and
//! their corpora replayed as unit tests: each takes arbitrary bytes and
//! must never panic.

use std::sync::{Arc, OnceLock};

use prost::Message;

use crate::config::Config;
use crate::engine::{Engine, Timestamp};
use crate::pb;
use crate::server::validate;
use crate::state::{FailureCall, Limits, Store, store_for};

/// The configuration parser on arbitrary text.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(config) = Config::from_toml(text)
    {
        // A valid configuration compiles and summarises.
        let _ = config.classifier();
        let _ = config.summary();
    }
}

struct World {
    engine: Engine,
    store: Store,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let config = Config::from_toml(
            "[policies.p]\nmax_retries = 5\nmax_retry_duration = \"1h\"\njitter = { kind = \"decorrelated\" }\n\
             [budgets.default]\nmax_tokens = 5\n[[rules]]\ncategory = \"c\"\nclass = \"permanent\"\nmessage_regex = [\"x+y\"]\n",
        )
        .unwrap_or_else(|e| panic!("the fuzz configuration is valid: {e}"));
        let engine = config.engine();
        let store = store_for(
            Limits {
                max_jobs: 10_000,
                ..Limits::default()
            },
            &engine,
        );
        World { engine, store }
    })
}

/// A `ReportFailure` request as bytes off the wire: decoded, validated,
/// decided, recorded and explained, as the server would.
pub fn report_failure(data: &[u8]) {
    // The hot path reads the request in place: it must read what the
    // generated message reads, and refuse what it refuses.
    assert!(
        crate::server::wire::agrees_with_generated(data),
        "the hot path's reading differs"
    );
    let Ok(r) = pb::ReportFailureRequest::decode(data) else {
        return;
    };
    let Ok(f) = validate::failure((&r).into()) else {
        return;
    };
    let w = world();
    let Ok(policy) = w.engine.policies.select(f.policy, f.job_type, f.priority) else {
        return;
    };
    let policy = Arc::clone(policy);
    let now = Timestamp(1_800_000_000_000 + u64::from(r.attempt % 1000) * 1000);
    let mut rng = rand::rng();
    let call = FailureCall {
        job_id: f.job_id,
        job_type: f.job_type,
        target: f.target,
        policy: &policy,
        report: f.report,
        pause: None,
        carry: f.carry,
    };
    if let Ok(out) = w.store.report_failure(&w.engine, &call, now, &mut rng) {
        let _ = w
            .engine
            .explanation(&out.decision, &f.report.error, Some(f.target));
        let _ = w.engine.max_attempts(&out.decision);
    }
    if let Some(view) = w.store.get(f.job_id) {
        let _ = w
            .engine
            .explanation(&view.job.last_decision, &view.last_error.report(), None);
    }
    let _ = w.store.explain(&w.engine, &call, now, &mut rng);
    // Delivery: the job's queue claimed, its lease extended, released, or
    // settled (each with the request's lease, which may be anything).
    let queue = f.carry.queue.unwrap_or(f.job_type);
    let lease = std::time::Duration::from_millis(u64::from(r.attempt % 5000) + 1);
    for j in w.store.claim(queue, (r.attempt % 4) as usize, lease, now) {
        match r.attempt % 3 {
            0 => drop(w.store.extend(&j.id, &j.lease_id, lease, now)),
            1 => drop(w.store.release(&j.id, &j.lease_id, lease, now)),
            _ => drop(
                w.store
                    .report_success(&j.id, "", "", Some(&j.lease_id), now),
            ),
        }
    }
    let _ = w.store.extend(f.job_id, &r.lease_id, lease, now);
    let _ = w.store.expire(now.saturating_add(lease));
    let _ = w.store.queues(now);
    if r.attempt % 7 == 0 {
        let _ = w
            .store
            .report_success(f.job_id, f.job_type, f.target, f.carry.lease, now);
    }
    if w.store.len() > 5_000 {
        w.store.sweep(now, true);
    }
}

/// The delivery calls' requests as bytes off the wire (the first byte
/// picks the message): decoded, validated as the server validates them,
/// and applied to the store (jobs parked by the `report_failure` target's
/// inputs, or none).
pub fn delivery(data: &[u8]) {
    let Some((kind, rest)) = data.split_first() else {
        return;
    };
    let w = world();
    let now = Timestamp(1_800_000_000_000);
    match kind % 4 {
        0 => {
            let Ok(r) = pb::ClaimDueRequest::decode(rest) else {
                return;
            };
            if let Ok((max, lease)) =
                validate::claim(&r.queue, "max_jobs", r.max_jobs, r.lease.as_ref())
            {
                let lease = lease.unwrap_or(std::time::Duration::from_secs(30));
                for j in w.store.claim(&r.queue, max, lease, now) {
                    let _ = w.store.release(&j.id, &j.lease_id, lease, now);
                }
            }
        }
        1 => {
            let Ok(r) = pb::WatchDueRequest::decode(rest) else {
                return;
            };
            let _ = validate::claim(&r.queue, "max_in_flight", r.max_in_flight, r.lease.as_ref());
            let _ = w.store.next_due(&r.queue);
        }
        2 => {
            let Ok(r) = pb::ExtendLeaseRequest::decode(rest) else {
                return;
            };
            if let Ok(lease) = validate::leased(&r.job_id, &r.lease_id, "lease", r.lease.as_ref()) {
                let lease = lease.unwrap_or(std::time::Duration::from_secs(30));
                let _ = w.store.extend(&r.job_id, &r.lease_id, lease, now);
            }
        }
        _ => {
            let Ok(r) = pb::ReleaseJobRequest::decode(rest) else {
                return;
            };
            if let Ok(delay) = validate::leased(&r.job_id, &r.lease_id, "delay", r.delay.as_ref()) {
                let _ = w
                    .store
                    .release(&r.job_id, &r.lease_id, delay.unwrap_or_default(), now);
            }
        }
    }
    let _ = w.store.expire(now);
    let _ = w.store.queues(now);
}

/// A snapshot file loaded into a fresh store (see `state::fuzz::snapshot`).
pub fn snapshot(data: &[u8]) {
    crate::state::fuzz::snapshot(data, &world().engine);
}

/// The fuzz targets' corpora (`fuzz/corpus/*`, kept minimal with `cargo
/// fuzz cmin`) replayed as ordinary tests: every input the fuzzer found
/// interesting must still pass through without a panic.
#[cfg(test)]
mod corpus {
    use std::path::Path;

    fn replay(target: &str, f: fn(&[u8])) -> usize {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target);
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("corpus entry").path();
            let data = std::fs::read(&path).expect("read corpus file");
            f(&data);
            n += 1;
        }
        n
    }

    #[test]
    fn config_corpus() {
        assert!(replay("config", super::config) > 10);
    }

    #[test]
    fn report_failure_corpus() {
        assert!(replay("report_failure", super::report_failure) > 10);
    }

    #[test]
    fn delivery_corpus() {
        assert!(replay("delivery", super::delivery) >= 4);
    }

    #[test]
    fn snapshot_corpus() {
        assert!(replay("snapshot", super::snapshot) >= 1);
    }
}
