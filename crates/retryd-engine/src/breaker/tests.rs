//! The breaker's state machine case by case, with a clock that only moves
//! when a test says so.

use super::*;

/// The state a call moved the breaker to last, if any.
fn to(m: Moves) -> Option<BreakerState> {
    m.iter().last()
}

const T0: Timestamp = Timestamp(1_700_000_000_000);

fn at(ms: u64) -> Timestamp {
    Timestamp(T0.0 + ms)
}

fn cfg() -> BreakerConfig {
    BreakerConfig {
        failure_ratio: 0.5,
        min_calls: 10,
        window: Duration::from_secs(10),
        open_for: Duration::from_secs(30),
        half_open_probes: 3,
    }
}

#[test]
fn opens_at_the_ratio_once_min_calls_are_in() {
    let c = cfg();
    let mut b = Breaker::default();
    // 9 failures: all failed, but under min_calls.
    for _ in 0..9 {
        assert_eq!(to(b.failure(&c, T0)), None);
    }
    assert_eq!(b.state, BreakerState::Closed);
    // The 10th call fails: 10/10 ≥ 0.5.
    assert_eq!(to(b.failure(&c, T0)), Some(BreakerState::Open));
    assert_eq!(b.open_until, at(30_000));
}

#[test]
fn successes_keep_it_closed_below_the_ratio() {
    let c = cfg();
    let mut b = Breaker::default();
    for _ in 0..6 {
        b.success(&c, T0);
    }
    // 4 failures of 10 calls: 0.4 < 0.5.
    for _ in 0..4 {
        assert_eq!(to(b.failure(&c, T0)), None);
    }
    assert_eq!(b.counts(), (4, 10));
    // The 5th makes 5 of 11: 0.45, still closed; the 6th 6 of 12: open.
    assert_eq!(to(b.failure(&c, T0)), None);
    assert_eq!(to(b.failure(&c, T0)), Some(BreakerState::Open));
}

#[test]
fn the_window_forgets_calls_older_than_it() {
    let c = cfg();
    let mut b = Breaker::default();
    for _ in 0..9 {
        b.failure(&c, T0);
    }
    // 10 s later every bucket of T0 has slid out: one failure alone.
    assert_eq!(to(b.failure(&c, at(10_000))), None);
    assert_eq!(b.counts(), (1, 1));
    // Half a window later half of the buckets slide out, not all.
    for _ in 0..4 {
        to(b.failure(&c, at(14_000)));
    }
    assert_eq!(b.counts(), (5, 5));
    // At 19.999 s the window (1 s buckets) still holds the 10 s bucket...
    assert_eq!(to(b.failure(&c, at(19_999))), None);
    assert_eq!(b.counts(), (6, 6));
    // ... which slides out at 20 s; the 14 s one stays.
    to(b.success(&c, at(20_000)));
    assert_eq!(b.counts(), (5, 6));
}

#[test]
fn half_opens_at_the_end_of_the_open_period() {
    let c = cfg();
    let mut b = Breaker::default();
    for _ in 0..10 {
        b.failure(&c, T0);
    }
    assert_eq!(b.tick(at(29_999)), None);
    assert_eq!(b.state, BreakerState::Open);
    assert_eq!(b.tick(at(30_000)), Some(BreakerState::HalfOpen));
    assert_eq!(b.tick(at(30_001)), None);
}

#[test]
fn half_open_closes_on_a_success_and_reopens_on_a_failure() {
    let c = cfg();
    let open = || {
        let mut b = Breaker::default();
        for _ in 0..10 {
            b.failure(&c, T0);
        }
        b
    };
    let mut b = open();
    let moves = b.success(&c, at(31_000));
    assert_eq!(
        moves.iter().collect::<Vec<_>>(),
        [BreakerState::HalfOpen, BreakerState::Closed],
        "both moves are told"
    );
    assert_eq!(b.counts(), (0, 0), "closed with an empty window");
    let mut b = open();
    assert_eq!(to(b.failure(&c, at(31_000))), Some(BreakerState::Open));
    assert_eq!(b.open_until, at(61_000));
    assert_eq!(b.probes, 0, "a new period, new probes");
}

#[test]
fn while_open_calls_change_nothing() {
    let c = cfg();
    let mut b = Breaker::default();
    for _ in 0..10 {
        b.failure(&c, T0);
    }
    let before = b;
    assert_eq!(to(b.failure(&c, at(5_000))), None);
    assert_eq!(to(b.success(&c, at(6_000))), None);
    assert_eq!(b, before);
}

#[test]
fn deferred_retries_probe_at_the_close_then_spread_after_it() {
    let c = cfg();
    let mut b = Breaker::default();
    for _ in 0..10 {
        b.failure(&c, T0);
    }
    let close = at(30_000);
    for unit in [0.0, 0.5, 1.0] {
        let d = b.defer(&c, unit);
        assert!(d.probe);
        // Probes: within a tenth of min(open_for, 10 s) of the close.
        assert!(d.retry_at >= close && d.retry_at <= at(31_000), "{d:?}");
    }
    // The rest: from half of open_for to open_for after the close, 45 s to 60 s.
    let first = b.defer(&c, 0.0);
    let last = b.defer(&c, 1.0);
    assert!(!first.probe && !last.probe);
    assert_eq!(first.retry_at, at(45_000));
    assert_eq!(last.retry_at, at(60_000));
}

#[test]
fn a_clock_that_goes_back_counts_in_the_newest_bucket() {
    let c = cfg();
    let mut b = Breaker::default();
    to(b.failure(&c, at(5_000)));
    b.failure(&c, T0);
    assert_eq!(b.counts(), (2, 2));
}

#[test]
fn min_calls_zero_acts_as_one() {
    let c = BreakerConfig {
        min_calls: 0,
        failure_ratio: 1.0,
        ..cfg()
    };
    let mut b = Breaker::default();
    assert_eq!(to(b.success(&c, T0)), None);
    assert_eq!(to(b.failure(&c, T0)), None, "1 of 2 failed");
    let mut b = Breaker::default();
    assert_eq!(to(b.failure(&c, T0)), Some(BreakerState::Open));
}

#[test]
fn fail_claims_a_retry_only_while_open_and_peek_claims_none() {
    let c = cfg();
    let mut b = Breaker::default();
    for _ in 0..9 {
        assert_eq!(b.fail(&c, T0, 0.5).1, None);
    }
    let (moves, d) = b.fail(&c, T0, 0.0);
    assert_eq!(moves.iter().last(), Some(BreakerState::Open));
    assert_eq!(d.map(|d| d.probe), Some(true));
    assert_eq!(b.probes, 1);
    let d = b.peek(&c, at(1_000), 0.0);
    assert_eq!(d.map(|d| d.probe), Some(true));
    assert_eq!(b.probes, 1, "peeking claims nothing");
    // Past the open period the peek sees it half-open: no deferral.
    assert_eq!(b.peek(&c, at(30_000), 0.0), None);
}
