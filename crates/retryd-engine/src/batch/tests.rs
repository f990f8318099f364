//! A batch's passes: outcomes, pass results, statistics and its book.

use super::*;
use Outcome::*;

fn t(s: u64) -> Timestamp {
    Timestamp(1_000_000 + s * 1000)
}

fn batch(max_passes: u32, jobs: &[&str]) -> Batch {
    let mut b = Batch::new(max_passes, Duration::from_secs(30), t(0));
    b.add_jobs(jobs.iter().copied());
    b
}

fn run_pass(b: &mut Batch, at: u64, outcomes: &[(&str, Outcome)]) -> EndOfPass {
    b.start_pass(t(at)).expect("pass starts");
    for (id, o) in outcomes {
        assert!(b.record(id, *o, t(at + 1)));
    }
    b.end_pass(t(at + 5)).expect("pass ends")
}

#[test]
fn all_succeed_is_all_complete() {
    let mut b = batch(3, &["a", "b", "c"]);
    let end = run_pass(
        &mut b,
        0,
        &[("a", Succeeded), ("b", Succeeded), ("c", Succeeded)],
    );
    assert_eq!(end.result, PassResult::AllComplete);
    assert_eq!(
        (
            end.stats.jobs_attempted,
            end.stats.jobs_succeeded,
            end.stats.jobs_pending
        ),
        (3, 3, 0)
    );
    assert_eq!(end.stats.success_rate(), 100.0);
    assert_eq!(end.stats.duration(), Some(Duration::from_secs(5)));
    assert!(end.retry_job_ids.is_empty());
    assert_eq!(end.next_pass_delay, Duration::ZERO);
    assert_eq!(
        b.start_pass(t(9)),
        Err(PassError::Finished(PassResult::AllComplete))
    );
}

#[test]
fn max_passes_1_with_a_retryable_failure_is_max_passes_reached() {
    let mut b = batch(1, &["a", "b"]);
    let end = run_pass(&mut b, 0, &[("a", Succeeded), ("b", FailedRetryable)]);
    assert_eq!(end.result, PassResult::MaxPassesReached);
    assert!(end.retry_job_ids.is_empty());
    assert_eq!(b.finished(), Some(PassResult::MaxPassesReached));
}

#[test]
fn only_permanent_failures_left_is_only_non_retryable() {
    let mut b = batch(3, &["a", "b", "c"]);
    let end = run_pass(
        &mut b,
        0,
        &[
            ("a", Succeeded),
            ("b", FailedNonRetryable),
            ("c", FailedNonRetryable),
        ],
    );
    assert_eq!(end.result, PassResult::OnlyNonRetryable);
    assert_eq!(
        (end.stats.jobs_failed_non_retryable, end.stats.jobs_pending),
        (2, 0)
    );
}

#[test]
fn mixed_is_retryable_remaining_with_the_right_stats() {
    let mut b = batch(3, &["a", "b", "c", "d", "e"]);
    // e is not run in this pass at all.
    let end = run_pass(
        &mut b,
        0,
        &[
            ("a", Succeeded),
            ("b", FailedRetryable),
            ("c", FailedNonRetryable),
            ("d", FailedRetryable),
        ],
    );
    assert_eq!(end.result, PassResult::RetryableRemaining);
    let s = &end.stats;
    assert_eq!(
        (
            s.pass_number,
            s.jobs_attempted,
            s.jobs_succeeded,
            s.jobs_failed_retryable,
            s.jobs_failed_non_retryable
        ),
        (1, 4, 1, 2, 1)
    );
    assert_eq!(s.success_rate(), 25.0);
    // Still to run: b and d (retry), e (never run).
    assert_eq!(s.jobs_pending, 3);
    assert_eq!(end.retry_job_ids, ["b", "d"]);
    assert_eq!(end.next_pass_delay, Duration::from_secs(30));
}

#[test]
fn order_of_checks_all_complete_before_max_passes() {
    let mut b = batch(1, &["a"]);
    assert_eq!(
        run_pass(&mut b, 0, &[("a", Succeeded)]).result,
        PassResult::AllComplete
    );
    // Max passes comes before only-non-retryable.
    let mut b = batch(1, &["a"]);
    assert_eq!(
        run_pass(&mut b, 0, &[("a", FailedNonRetryable)]).result,
        PassResult::MaxPassesReached
    );
}

#[test]
fn a_job_never_run_keeps_the_batch_going() {
    let mut b = batch(3, &["a", "b"]);
    let end = run_pass(&mut b, 0, &[("a", FailedNonRetryable)]);
    assert_eq!(end.result, PassResult::RetryableRemaining);
    assert!(end.retry_job_ids.is_empty());
    assert_eq!(end.stats.jobs_pending, 1);
}

#[test]
fn three_passes_like_seed_000() {
    let mut b = batch(3, &["a", "b", "c", "d"]);
    let p1 = run_pass(
        &mut b,
        0,
        &[
            ("a", Succeeded),
            ("b", FailedRetryable),
            ("c", FailedRetryable),
            ("d", FailedNonRetryable),
        ],
    );
    assert_eq!(
        (p1.result, p1.retry_job_ids.clone()),
        (
            PassResult::RetryableRemaining,
            vec!["b".to_string(), "c".to_string()]
        )
    );
    let start2 = b.start_pass(t(100)).expect("pass 2");
    assert_eq!((start2.pass_number, start2.jobs_pending), (2, 2));
    b.record("b", Succeeded, t(101));
    b.record("c", FailedRetryable, t(101));
    let p2 = b.end_pass(t(105)).expect("end 2");
    assert_eq!(
        (p2.result, p2.retry_job_ids.clone()),
        (PassResult::RetryableRemaining, vec!["c".to_string()])
    );
    assert_eq!((p2.stats.jobs_attempted, p2.stats.jobs_succeeded), (2, 1));
    let p3 = run_pass(&mut b, 200, &[("c", Succeeded)]);
    // d stays dead: only non-retryable failures are left, but this is the last pass.
    assert_eq!(p3.result, PassResult::MaxPassesReached);
    let totals = b.totals();
    assert_eq!(
        (
            totals.attempted,
            totals.succeeded,
            totals.failed_retryable,
            totals.failed_non_retryable
        ),
        (7, 3, 3, 1)
    );
    assert_eq!(b.passes().len(), 3);
}

#[test]
fn a_job_counts_once_per_pass_by_its_latest_report() {
    let mut b = batch(3, &["a"]);
    b.start_pass(t(0)).expect("start");
    b.record("a", FailedRetryable, t(1));
    b.record("a", FailedRetryable, t(2));
    b.record("a", Succeeded, t(3));
    let end = b.end_pass(t(4)).expect("end");
    assert_eq!(
        (
            end.stats.jobs_attempted,
            end.stats.jobs_succeeded,
            end.result
        ),
        (1, 1, PassResult::AllComplete)
    );
}

#[test]
fn errors_for_wrong_order() {
    let mut b = batch(3, &["a"]);
    assert_eq!(b.end_pass(t(0)), Err(PassError::NoOpenPass));
    b.start_pass(t(0)).expect("start");
    assert_eq!(b.start_pass(t(1)), Err(PassError::PassOpen(1)));
    assert!(!b.record("stranger", Succeeded, t(1)));
}

#[test]
fn reports_between_passes_update_the_outcome_but_no_pass() {
    let mut b = batch(3, &["a"]);
    let end = run_pass(&mut b, 0, &[("a", FailedRetryable)]);
    assert_eq!(end.result, PassResult::RetryableRemaining);
    // Retried on its own, between passes.
    b.record("a", Succeeded, t(50));
    let start = b.start_pass(t(60)).expect("start");
    assert_eq!(start.jobs_pending, 0);
    let end = b.end_pass(t(61)).expect("end");
    assert_eq!(
        (end.result, end.stats.jobs_attempted),
        (PassResult::AllComplete, 0)
    );
}

#[test]
fn a_batch_round_trips_through_its_book_and_jobs() {
    let t = Timestamp(5_000);
    let mut b = Batch::new(3, Duration::from_secs(30), t);
    b.add_jobs(["a", "b", "c"]);
    b.start_pass(t).expect("starts");
    b.record("a", Outcome::Succeeded, t);
    b.record("b", Outcome::FailedRetryable, t);
    assert_eq!(b.open_pass(), 1);
    let back = Batch::from_parts(b.book(), b.members());
    assert_eq!(back.book(), b.book());
    assert_eq!(
        back.members().collect::<Vec<_>>(),
        b.members().collect::<Vec<_>>()
    );
    let mut x = back.clone();
    let mut y = b.clone();
    assert_eq!(x.end_pass(t), y.end_pass(t));
}
