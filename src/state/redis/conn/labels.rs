//! What a backend call was for and how it ended: the `op` and `result`
//! labels of the backend metrics.

/// What a backend call was for (the `op` label of the backend metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Read one job.
    Read,
    /// Compare-and-set one job with its counters.
    Commit,
    /// Spend from, or give back to, a target's budget.
    Budget,
    /// ListJobs.
    List,
    /// GetStats, ListBudgets, the metrics' gauges.
    Stats,
    /// The fleet's label registry.
    Label,
    /// Batches and passes.
    Batch,
    /// The sweeper: TTLs and bounds.
    Sweep,
    /// Health checks and the layout check.
    Ping,
    /// Operators' pauses, and the fleet's event stream.
    Live,
    /// Delivery: claims, leases, their expiry, the due hints.
    Delivery,
    /// A commit's `WAIT` for `replicas_ack` replicas (`timeout`: not reached).
    Wait,
}

impl Op {
    pub const ALL: [Op; 12] = [
        Op::Read,
        Op::Commit,
        Op::Budget,
        Op::List,
        Op::Stats,
        Op::Label,
        Op::Batch,
        Op::Sweep,
        Op::Ping,
        Op::Live,
        Op::Delivery,
        Op::Wait,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Commit => "commit",
            Op::Budget => "budget",
            Op::List => "list",
            Op::Stats => "stats",
            Op::Label => "label",
            Op::Batch => "batch",
            Op::Sweep => "sweep",
            Op::Ping => "ping",
            Op::Live => "live",
            Op::Delivery => "delivery",
            Op::Wait => "wait",
        }
    }
}

/// How a backend call ended (the `result` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Ok,
    /// A compare-and-set found the job changed by another call (retried).
    Conflict,
    /// No answer within `timeout`.
    Timeout,
    Error,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Ok,
        Outcome::Conflict,
        Outcome::Timeout,
        Outcome::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Conflict => "conflict",
            Outcome::Timeout => "timeout",
            Outcome::Error => "error",
        }
    }
}
