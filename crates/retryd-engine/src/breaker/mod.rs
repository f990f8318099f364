//! Circuit breakers per target (docs/decisions.md, "Circuit breakers").
//!
//! A budget slows retries down; a breaker stops them for a while. Envoy,
//! Polly and resilience4j open a breaker when too many calls to one
//! dependency fail, and close it again on a timer. retryd sees every
//! failure and success reported for a `target`, so it can hold that breaker
//! for every process of a pod (or, in fleet mode, of a fleet): while it is
//! open, retries for the target wait for the end of the open period instead
//! of their plain backoff.
//!
//! States: **closed** counts failures and successes in a sliding window of
//! `BUCKETS` buckets; at `min_calls` calls or more with a failure ratio of
//! `failure_ratio` or more it **opens** for `open_for`. Retries asked for
//! while it is open are deferred to its close: the first `half_open_probes`
//! of them right at the close (the probes), the rest spread from half of
//! `open_for` to `open_for` after it, once the probes have answered. At the close
//! it is **half-open**: a success closes it (with an empty window), a
//! failure opens it again.
//!
//! This module is the state machine on plain values, with "now" and the
//! random draw passed in; the state layer keeps one `Breaker` per target.

use std::time::Duration;

use super::Timestamp;

/// Buckets of the sliding window: the window slides by a tenth of itself.
pub const BUCKETS: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerConfig {
    /// Opens at this share of failed calls in the window or more.
    pub failure_ratio: f64,
    /// ... once the window holds at least this many calls.
    pub min_calls: u32,
    pub window: Duration,
    pub open_for: Duration,
    /// Deferred retries scheduled right at the close of an open period.
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    /// The values of a breaker key left out (docs/configuration.md).
    fn default() -> Self {
        BreakerConfig {
            failure_ratio: 0.5,
            min_calls: 20,
            window: Duration::from_secs(30),
            open_for: Duration::from_secs(30),
            half_open_probes: 3,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub const ALL: [BreakerState; 3] = [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// One target's breaker.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Breaker {
    pub state: BreakerState,
    /// Failed and successful calls per bucket; bucket i holds the calls of
    /// the bucket numbers ≡ i (mod `BUCKETS`).
    pub failures: [u32; BUCKETS],
    pub successes: [u32; BUCKETS],
    /// The bucket number (ms since the epoch / bucket width) of the latest
    /// call counted.
    pub bucket: u64,
    /// While open: when it closes (half-opens).
    pub open_until: Timestamp,
    /// Retries deferred to the close of this open period so far.
    pub probes: u32,
}

/// The states one call moved a breaker through: to half-open (its open
/// period had ended), then to another, each when it happened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Moves {
    pub ticked: Option<BreakerState>,
    pub then: Option<BreakerState>,
}

impl Moves {
    pub fn iter(self) -> impl Iterator<Item = BreakerState> {
        self.ticked.into_iter().chain(self.then)
    }

    pub fn is_empty(self) -> bool {
        self.ticked.is_none() && self.then.is_none()
    }

    fn then(ticked: Option<BreakerState>, then: BreakerState) -> Moves {
        Moves {
            ticked,
            then: Some(then),
        }
    }

    fn only(ticked: Option<BreakerState>) -> Moves {
        Moves { ticked, then: None }
    }
}

/// Where a deferred retry lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deferral {
    pub retry_at: Timestamp,
    /// One of the probes at the close.
    pub probe: bool,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            state: BreakerState::Closed,
            failures: [0; BUCKETS],
            successes: [0; BUCKETS],
            bucket: 0,
            open_until: Timestamp(0),
            probes: 0,
        }
    }
}

impl Breaker {
    /// What the breaker is at `now` (an open period past its end is
    /// half-open); the new state when that is a change.
    pub fn tick(&mut self, now: Timestamp) -> Option<BreakerState> {
        if self.state == BreakerState::Open && now >= self.open_until {
            self.state = BreakerState::HalfOpen;
            return Some(BreakerState::HalfOpen);
        }
        None
    }

    /// A failed call to the target; the states it moved through.
    pub fn failure(&mut self, c: &BreakerConfig, now: Timestamp) -> Moves {
        let ticked = self.tick(now);
        match self.state {
            BreakerState::Closed => {
                let i = self.slide(c, now);
                self.failures[i] = self.failures[i].saturating_add(1);
                let (failed, calls) = self.counts();
                if calls >= u64::from(c.min_calls.max(1))
                    && failed as f64 >= c.failure_ratio * calls as f64
                {
                    self.open(c, now);
                    return Moves::then(ticked, BreakerState::Open);
                }
                Moves::only(ticked)
            }
            BreakerState::HalfOpen => {
                self.open(c, now);
                Moves::then(ticked, BreakerState::Open)
            }
            // Already open: the failure tells nothing new.
            BreakerState::Open => Moves::only(ticked),
        }
    }

    /// A successful call to the target; the states it moved through.
    pub fn success(&mut self, c: &BreakerConfig, now: Timestamp) -> Moves {
        let ticked = self.tick(now);
        match self.state {
            BreakerState::Closed => {
                let i = self.slide(c, now);
                self.successes[i] = self.successes[i].saturating_add(1);
                Moves::only(ticked)
            }
            BreakerState::HalfOpen => {
                *self = Breaker {
                    bucket: self.bucket,
                    ..Breaker::default()
                };
                Moves::then(ticked, BreakerState::Closed)
            }
            // A call that started before it opened: it does not close it.
            BreakerState::Open => Moves::only(ticked),
        }
    }

    /// Where a retry asked for while the breaker is open lands: at the
    /// close for the first `half_open_probes`, else spread from half of
    /// `open_for` to `open_for` after it. `unit` is a uniform draw from [0, 1].
    pub fn defer(&mut self, c: &BreakerConfig, unit: f64) -> Deferral {
        let unit = unit.clamp(0.0, 1.0);
        let probe = self.probes < c.half_open_probes;
        self.probes = self.probes.saturating_add(1);
        let spread = if probe {
            // Within a second (or a tenth of the period), so that the
            // probes do not arrive as one.
            c.open_for.min(Duration::from_secs(10)) / 10
        } else {
            c.open_for / 2
        };
        let after = if probe {
            spread.mul_f64(unit)
        } else {
            spread + spread.mul_f64(unit)
        };
        Deferral {
            retry_at: self.open_until.saturating_add(after),
            probe,
        }
    }

    /// A failure that counts: counted, and while the breaker is open, the
    /// retry it would get claimed (`unit`: a uniform draw from [0, 1]).
    pub fn fail(
        &mut self,
        c: &BreakerConfig,
        now: Timestamp,
        unit: f64,
    ) -> (Moves, Option<Deferral>) {
        let moves = self.failure(c, now);
        let deferral = (self.state == BreakerState::Open).then(|| self.defer(c, unit));
        (moves, deferral)
    }

    /// What `fail` would claim, changing nothing (`Explain`).
    pub fn peek(&self, c: &BreakerConfig, now: Timestamp, unit: f64) -> Option<Deferral> {
        let mut copy = *self;
        copy.tick(now);
        (copy.state == BreakerState::Open).then(|| copy.defer(c, unit))
    }

    /// Failed calls and all calls in the window.
    pub fn counts(&self) -> (u64, u64) {
        let failed: u64 = self.failures.iter().map(|n| u64::from(*n)).sum();
        let ok: u64 = self.successes.iter().map(|n| u64::from(*n)).sum();
        (failed, failed + ok)
    }

    fn open(&mut self, c: &BreakerConfig, now: Timestamp) {
        self.state = BreakerState::Open;
        self.open_until = now.saturating_add(c.open_for);
        self.probes = 0;
        self.failures = [0; BUCKETS];
        self.successes = [0; BUCKETS];
    }

    /// Moves the window to `now`, emptying the buckets it left; the slot
    /// of `now`'s bucket.
    fn slide(&mut self, c: &BreakerConfig, now: Timestamp) -> usize {
        let width = (c.window.as_millis() / BUCKETS as u128).max(1);
        let b = u64::try_from(u128::from(now.0) / width).unwrap_or(u64::MAX);
        if b > self.bucket {
            let gone = (b - self.bucket).min(BUCKETS as u64);
            for k in 1..=gone {
                let i = ((self.bucket + k) % BUCKETS as u64) as usize;
                self.failures[i] = 0;
                self.successes[i] = 0;
            }
            self.bucket = b;
        }
        // A call from a clock behind the window's lands in the newest bucket.
        (self.bucket % BUCKETS as u64) as usize
    }
}

#[cfg(test)]
mod tests;
