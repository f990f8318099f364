//! Snapshot cost at N jobs: write time, longest shard lock, the latency a
//! report sees meanwhile, file size, and the time to load it back.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;
use rand::RngExt;
use serde_json::json;

use crate::Error;
use crate::memory::bench;

pub(crate) fn snapshot_one(n: usize, dir: Option<PathBuf>, json: bool) -> Result<(), Error> {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

    use retryd::engine::Timestamp;
    use retryd::state::BatchLimits;
    use retryd::state::in_process::{self as snapshot, Batches};

    let now = Timestamp::from_system_time(SystemTime::now());
    let b = Arc::new(bench()?);
    let mut rng = rand::rng();
    for i in 0..n {
        b.report(i, now, &mut rng);
    }
    let batches = Batches::new(BatchLimits::default());
    let path = dir
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("retryd-bench-{}.snap", std::process::id()));

    // One thread keeps reporting while the snapshot is written: what it sees
    // is the pause the hot path pays.
    let writing = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let reporter = {
        let (b, writing, stop) = (b.clone(), writing.clone(), stop.clone());
        std::thread::spawn(move || -> Result<[Histogram<u64>; 2], Error> {
            let mut hists = [
                Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?,
                Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?,
            ];
            let mut rng = rand::rng();
            while !stop.load(Relaxed) {
                let i = rng.random_range(0..n.max(1));
                let during = usize::from(writing.load(Relaxed));
                let t = Instant::now();
                b.report(i, now, &mut rng);
                let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
                hists[during].saturating_record(ns.max(1));
            }
            Ok(hists)
        })
    };
    std::thread::sleep(Duration::from_secs(1));
    writing.store(true, Relaxed);
    let wrote = snapshot::write(&path, &b.engine, &b.store, &batches, now)?;
    writing.store(false, Relaxed);
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Relaxed);
    let [quiet, during] = reporter.join().map_err(|_| "reporter panicked")??;

    let fresh = bench()?;
    let loaded = snapshot::load(&path, &fresh.engine, &fresh.store, &Batches::default())?
        .ok_or("the snapshot just written is missing")?;
    let _ = std::fs::remove_file(&path);
    if loaded.jobs != wrote.jobs || fresh.store.len() != b.store.len() {
        return Err(format!(
            "wrote {} jobs, loaded {} ({} held)",
            wrote.jobs,
            loaded.jobs,
            fresh.store.len()
        )
        .into());
    }
    let us = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1e3;
    if json {
        println!(
            "{}",
            json!({
                "jobs": n,
                "bytes": wrote.bytes,
                "write_seconds": wrote.took.as_secs_f64(),
                "longest_shard_lock_seconds": wrote.longest_lock.as_secs_f64(),
                "report_p99_us": {"quiet": us(&quiet, 0.99), "writing": us(&during, 0.99)},
                "report_p999_us": {"quiet": us(&quiet, 0.999), "writing": us(&during, 0.999)},
                "report_max_us": {"quiet": quiet.max() as f64 / 1e3, "writing": during.max() as f64 / 1e3},
                "load_seconds": loaded.took.as_secs_f64(),
            })
        );
    } else {
        println!(
            "{n:>9} jobs: {:.1} MiB written in {:.0} ms (longest shard lock {:.2} ms), loaded in {:.0} ms",
            wrote.bytes as f64 / (1 << 20) as f64,
            wrote.took.as_secs_f64() * 1e3,
            wrote.longest_lock.as_secs_f64() * 1e3,
            loaded.took.as_secs_f64() * 1e3,
        );
        println!(
            "           one report's latency, quiet / while writing: p99 {:.1} / {:.1} us, p99.9 {:.1} / {:.1} us, max {:.0} / {:.0} us ({} / {} reports)",
            us(&quiet, 0.99),
            us(&during, 0.99),
            us(&quiet, 0.999),
            us(&during, 0.999),
            quiet.max() as f64 / 1e3,
            during.max() as f64 / 1e3,
            quiet.len(),
            during.len(),
        );
    }
    Ok(())
}
