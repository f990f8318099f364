//! The `[state]` bounds: how many jobs and batches are held, and for how
//! long. Configuration owns them; both state backends apply them.

use std::time::Duration;

/// The `[state]` bounds on jobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_jobs: usize,
    pub idle_ttl: Duration,
    pub max_dead_jobs: usize,
    pub dead_ttl: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_jobs: 1_000_000,
            idle_ttl: Duration::from_secs(24 * 3600),
            max_dead_jobs: 10_000,
            dead_ttl: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl Limits {
    /// How often the sweeper runs without being woken: often enough that a
    /// TTL is honoured to within a tenth of itself, at least every 5 s.
    pub fn sweep_interval(&self) -> Duration {
        (self.idle_ttl.min(self.dead_ttl) / 10)
            .clamp(Duration::from_millis(20), Duration::from_secs(5))
    }
}

/// The `[state]` bounds on batches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchLimits {
    pub max_batches: usize,
    /// A batch with no activity for this long is forgotten.
    pub batch_ttl: Duration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_batches: 1000,
            batch_ttl: Duration::from_secs(24 * 3600),
        }
    }
}
