//! The fuzz target of snapshots (`crate::fuzzing`), here because it needs
//! the memory backend's own loader.

use std::sync::Arc;

use super::memory::batches::Batches;
use super::memory::snapshot::{HEADER_LEN, load_from, reseal};
use super::{BatchLimits, FailureCall, Filter, Limits, store_for};
use crate::engine::{Engine, Timestamp};

/// A snapshot file, its section lengths and checksum made to agree with
/// its size and content first (or the loader would stop at the checksum and
/// the fuzzer never reach the records): loaded into a fresh store, which
/// must then answer every read and report without panicking.
pub fn snapshot(data: &[u8], engine: &Engine) {
    if data.len() < HEADER_LEN {
        return;
    }
    let mut file = data.to_vec();
    let mut records = [0u8; 8];
    records.copy_from_slice(&file[24..32]);
    reseal(&mut file, u64::from_le_bytes(records));

    let store = store_for(Limits::default(), engine);
    let batches = Batches::new(BatchLimits::default());
    let cursor = std::io::Cursor::new(file);
    if load_from(cursor, "fuzz", engine, &store, &batches).is_err() {
        return;
    }
    let now = Timestamp(1_800_000_000_000);
    let mut rng = rand::rng();
    let policy = Arc::clone(engine.policies.default_policy());
    let page = store.list(Filter::default(), 64, None);
    let ids: Vec<String> = page.jobs.iter().map(|j| j.id.to_string()).collect();
    for id in &ids {
        if let Some(view) = store.get(id) {
            let _ = engine.explanation(&view.job.last_decision, &view.last_error.report(), None);
        }
        let call = FailureCall {
            job_id: id,
            job_type: "",
            target: "",
            policy: &policy,
            report: crate::engine::FailureReport::default(),
            pause: None,
            carry: Default::default(),
        };
        let _ = store.report_failure(engine, &call, now, &mut rng);
    }
    let _ = store.stats();
    let _ = store.budgets();
    for (id, _) in batches.export() {
        let _ = batches.end_pass(&id, now);
        let _ = batches.start_pass(&id, &[], None, None, now);
    }
    store.sweep(now, true);
}
