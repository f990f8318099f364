//! Server-named delays, per-category curves and unlimited retries, each
//! with the decision it gives and the sentence that explains it.

use super::*;
use crate::HintUse;
use crate::policy::UNLIMITED;

fn hinted(hint: Option<Duration>) -> FailureReport<'static> {
    FailureReport {
        retry_after_hint: hint,
        ..transient(0)
    }
}

fn policy(mode: HintMode) -> Policy {
    Policy {
        retry_after_hint: mode,
        max_retries: 10,
        ..Policy::named("p")
    }
}

fn retry_hint(d: &Decision) -> HintUse {
    match d.why {
        Why::Retry { hint, .. } => hint,
        other => panic!("not a retry: {other:?}"),
    }
}

#[test]
fn exact_hint_is_the_delay_even_below_the_backoff() {
    let mut run = Run::new(Policy {
        jitter: Jitter::Full,
        ..policy(HintMode::Exact)
    });
    for _ in 0..3 {
        run.fail();
    }
    // Backoff would be 8 s (jittered); the server said 3 s: 3 s exactly.
    let seen = run.seen(hinted(Some(s(3))), T0);
    assert_eq!(seen.d.delay, s(3));
    assert_eq!(retry_hint(&seen.d), HintUse::Exact(3000));
    assert!(
        seen.explanation
            .contains("after 3s (the server's retry-after 3s exactly)"),
        "{}",
        seen.explanation
    );
    // Still capped by max_delay (1 h by default).
    let d = run.report(hinted(Some(s(7200))), T0).decision;
    assert_eq!(d.delay, s(3600));
    // No hint: the plain (jittered) backoff.
    let d = run.report(hinted(None), T0).decision;
    assert_eq!(retry_hint(&d), HintUse::None);
    assert!(d.delay <= s(64));
}

#[test]
fn honor_is_a_floor_and_ignore_looks_away() {
    let mut run = Run::new(policy(HintMode::Honor));
    let seen = run.seen(hinted(Some(s(40))), T0);
    assert_eq!(
        (seen.d.delay, retry_hint(&seen.d)),
        (s(40), HintUse::Raised(40_000))
    );
    let mut run = Run::new(policy(HintMode::Ignore));
    let seen = run.seen(hinted(Some(s(40))), T0);
    assert_eq!(
        (seen.d.delay, retry_hint(&seen.d)),
        (s(1), HintUse::Ignored(40_000))
    );
    assert!(
        seen.explanation
            .contains("retry-after hint 40s ignored (retry_after_hint = ignore)"),
        "{}",
        seen.explanation
    );
}

#[test]
fn a_hint_over_max_retry_after_hint_is_disregarded() {
    for mode in [HintMode::Honor, HintMode::Exact] {
        let mut run = Run::new(Policy {
            max_retry_after_hint: Some(s(600)),
            ..policy(mode)
        });
        let seen = run.seen(hinted(Some(s(3600))), T0);
        assert_eq!(seen.d.delay, s(1), "{mode:?}");
        assert_eq!(retry_hint(&seen.d), HintUse::TooLong(3_600_000));
        assert!(
            seen.explanation
                .contains("retry-after hint 1h disregarded: over max_retry_after_hint 10m"),
            "{}",
            seen.explanation
        );
        // At the limit it still counts.
        let d = run.report(hinted(Some(s(600))), T0).decision;
        assert_eq!(d.delay, s(600), "{mode:?}");
    }
}

#[test]
fn an_instant_hint_is_the_time_left_until_it() {
    let mut run = Run::new(policy(HintMode::Exact));
    let r = FailureReport {
        retry_after_at: Some(T0.saturating_add(s(90))),
        ..transient(0)
    };
    assert_eq!(run.report(r, T0).decision.delay, s(90));
    // Already past: no wait from the hint at all.
    let r = FailureReport {
        retry_after_at: Some(Timestamp(T0.0 - 5_000)),
        ..transient(0)
    };
    assert_eq!(run.report(r, T0).decision.delay, Duration::ZERO);
    // Beside a duration hint, the longer wins.
    let r = FailureReport {
        retry_after_hint: Some(s(120)),
        retry_after_at: Some(T0.saturating_add(s(90))),
        ..transient(0)
    };
    assert_eq!(run.report(r, T0).decision.delay, s(120));
}

#[test]
fn negative_pushback_gives_up_unless_hints_are_ignored() {
    let stop = FailureReport {
        pushback_stop: true,
        ..transient(0)
    };
    for mode in [HintMode::Honor, HintMode::Exact] {
        let mut run = Run::new(policy(mode));
        let seen = run.seen(stop, T0);
        assert_eq!(seen.d.action, Action::GiveUp);
        assert_eq!(seen.d.reason, Some(GiveUpReason::Pushback));
        assert!(
            seen.explanation.contains("the server said not to retry"),
            "{}",
            seen.explanation
        );
    }
    let mut run = Run::new(policy(HintMode::Ignore));
    assert_eq!(run.report(stop, T0).decision.action, Action::Retry);
    // A permanent error stays a permanent error.
    let mut run = Run::new(policy(HintMode::Honor));
    let permanent = FailureReport {
        error: ErrorReport {
            http_status: 404,
            ..ErrorReport::default()
        },
        ..stop
    };
    assert_eq!(
        run.report(permanent, T0).decision.reason,
        Some(GiveUpReason::PermanentError)
    );
}

/// Throttling slow, network blips fast, under one policy.
#[test]
fn a_category_gets_its_own_curve() {
    let mut p = Policy {
        max_retries: 5,
        backoff: Backoff::Exponential {
            base: Duration::from_millis(200),
            multiplier: 2.0,
            max_doublings: None,
        },
        max_delay: s(10),
        ..Policy::named("p")
    };
    p.categories.insert(
        "rate_limit".into(),
        CategoryOverride {
            max_retries: Some(8),
            backoff: Some(Backoff::Constant(s(30))),
            jitter: Some(Jitter::Symmetric(0.1)),
            max_delay: Some(s(600)),
        },
    );
    let throttled = FailureReport {
        error: ErrorReport {
            http_status: 429,
            ..ErrorReport::default()
        },
        ..FailureReport::default()
    };
    let mut run = Run::new(p.clone());
    let seen = run.seen(throttled, T0);
    assert!(
        seen.d.delay >= s(27) && seen.d.delay <= s(33),
        "{:?}",
        seen.d.delay
    );
    assert_eq!(seen.max_attempts, 9);
    assert!(
        seen.explanation
            .contains("constant 30s, the `rate_limit` category's, symmetric 0.1 jitter"),
        "{}",
        seen.explanation
    );
    let mut run = Run::new(p);
    let seen = run.seen(transient(0), T0);
    assert_eq!(seen.d.delay, Duration::from_millis(200));
    assert_eq!(seen.max_attempts, 6);
    assert!(
        !seen.explanation.contains("category"),
        "{}",
        seen.explanation
    );
}

#[test]
fn unlimited_retries_end_only_by_time() {
    let mut run = Run::new(Policy {
        max_retries: UNLIMITED,
        backoff: Backoff::Constant(s(1)),
        max_retry_duration: Some(s(3600)),
        ..Policy::named("p")
    });
    let seen = run.seen(transient(1_000_000), T0);
    assert_eq!(seen.d.action, Action::Retry);
    assert_eq!(seen.max_attempts, 0);
    assert!(
        seen.explanation.contains("retry 1000000 of unlimited"),
        "{}",
        seen.explanation
    );
    let later = T0.saturating_add(s(3600));
    let d = run.report(transient(1_000_001), later).decision;
    assert_eq!(d.reason, Some(GiveUpReason::DeadlineExceeded));
    // u32::MAX failures is still not past "unlimited".
    let mut run = Run::new(Policy {
        max_retries: UNLIMITED,
        ..Policy::named("p")
    });
    assert_eq!(
        run.report(transient(u32::MAX), T0).decision.action,
        Action::Retry
    );
}

#[test]
fn shadow_comparisons() {
    use crate::shadow::Comparison;
    let mut run = Run::new(Policy::named("p"));
    let retry = run.fail();
    let longer = Decision {
        delay: retry.delay * 2,
        ..retry
    };
    let shorter = Decision {
        delay: retry.delay / 2,
        ..retry
    };
    let give_up = Decision {
        action: Action::GiveUp,
        ..retry
    };
    assert_eq!(Comparison::of(&retry, &retry), Comparison::Same);
    assert_eq!(Comparison::of(&retry, &longer), Comparison::DelayLonger);
    assert_eq!(Comparison::of(&retry, &shorter), Comparison::DelayShorter);
    assert_eq!(Comparison::of(&retry, &give_up), Comparison::RetryVsGiveUp);
    assert_eq!(Comparison::of(&give_up, &retry), Comparison::GiveUpVsRetry);
    assert_eq!(Comparison::of(&give_up, &give_up), Comparison::Same);
}

/// One failure of the run's job under `pause`, recorded as the server does.
fn paused(run: &mut Run, r: FailureReport<'_>, pause: PauseView, now: Timestamp) -> Decision {
    let gates = Gates {
        pause: Some(pause),
        ..Gates::default()
    };
    let v = run
        .engine
        .decide_gated(run.job.as_ref(), &run.policy, &r, &gates, now, &mut run.rng);
    if !v.duplicate {
        match run.job.as_mut() {
            Some(j) => j.record(&v, now),
            None => run.job = Some(Job::first(&v, now)),
        }
    }
    v.decision
}

#[test]
fn a_pause_defers_retries_without_using_them_up() {
    let mut run = Run::new(Policy {
        max_retries: 2,
        ..Policy::named("p")
    });
    run.fail();
    let until = Timestamp(T0.0 + 30 * 60 * 1000);
    let timed = PauseView {
        until: Some(until),
        recheck: s(60),
        by_target: false,
    };
    // Five failures during a 30-minute pause: each retries when it ends,
    // and the count stays at 1.
    for _ in 0..5 {
        let d = paused(&mut run, transient(0), timed, T0);
        assert_eq!(d.action, Action::Retry);
        assert_eq!(d.retry_at, Some(until));
        assert_eq!(d.delay, s(30 * 60));
        assert_eq!(d.failure_count, 1);
        assert_eq!(
            d.why,
            Why::Paused {
                open_ended: false,
                by_target: false
            }
        );
    }
    let text = run.engine.explanation(
        &run.job.expect("held").last_decision,
        &transient(0).error,
        None,
    );
    assert!(text.contains("paused by an operator"), "{text}");
    assert!(text.contains("does not count (1 counted)"), "{text}");
    // An open-ended pause of the target: asked again after the recheck.
    let open = PauseView {
        until: None,
        recheck: s(60),
        by_target: true,
    };
    let d = paused(&mut run, transient(0), open, T0);
    assert_eq!((d.delay, d.failure_count), (s(60), 1));
    // After the pause the job still has both of its retries.
    assert_eq!(run.fail().action, Action::Retry);
    let last = run.fail();
    assert_eq!(last.action, Action::GiveUp);
    assert_eq!(last.failure_count, 3);
    // A permanent error still gives up at once during a pause.
    let mut other = Run::new(Policy::named("p"));
    let permanent = FailureReport {
        error: ErrorReport {
            type_name: "ValidationError",
            ..ErrorReport::default()
        },
        ..FailureReport::default()
    };
    let d = paused(&mut other, permanent, timed, T0);
    assert_eq!(d.reason, Some(GiveUpReason::PermanentError));
}
