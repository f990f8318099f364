//! Server CPU time, read from /proc: what a call costs the server, user
//! and kernel, all threads.

use std::time::Duration;

use crate::Error;

/// CPU time a process has used, all its threads: the sum of the first
/// field (ns on CPU) of /proc/PID/task/*/schedstat.
pub(crate) fn process_cpu(pid: u32) -> Result<Duration, Error> {
    let mut ns = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path().join("schedstat");
        // A thread that ended since the listing has no file: not an error.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        ns += text
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .ok_or_else(|| format!("{}: unexpected contents {text:?}", path.display()))?;
    }
    Ok(Duration::from_nanos(ns))
}

pub(super) fn cpu_of(pids: &[u32]) -> Result<Duration, Error> {
    pids.iter().map(|&p| process_cpu(p)).sum()
}
