//! The memory backend: counters through every transition, views, bounds
//! and sweeps, paging, and concurrent reports of one job.

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::engine::{Classifier, ErrorReport, FailureReport, Policy, PolicySet};
use crate::state::MESSAGE_PREFIX;

fn engine() -> Engine {
    Engine::new(
        Classifier::new(Vec::new()).expect("rules"),
        PolicySet::default(),
    )
}

fn at(ms: u64) -> Timestamp {
    Timestamp(1_000_000 + ms)
}

struct Fixture {
    engine: Engine,
    store: Store,
    policy: Arc<Policy>,
    rng: StdRng,
}

impl Fixture {
    fn new(limits: Limits) -> Self {
        let engine = engine();
        let policy = engine.policies.get("default").expect("default").clone();
        Fixture {
            store: Store::new(
                limits,
                Default::default(),
                Arc::new(Labels::new(["configured"], [])),
                &engine,
            ),
            engine,
            policy,
            rng: StdRng::seed_from_u64(3),
        }
    }

    fn fail(&mut self, id: &str, type_name: &str, now: Timestamp) -> FailureOutcome {
        let r = FailureReport {
            error: ErrorReport {
                type_name,
                ..ErrorReport::default()
            },
            ..FailureReport::default()
        };
        self.store
            .report_failure(
                &self.engine,
                &call(id, "jt", &self.policy, r),
                now,
                &mut self.rng,
            )
            .expect("recorded")
    }
}

fn call<'a>(
    id: &'a str,
    job_type: &'a str,
    policy: &'a Policy,
    report: FailureReport<'a>,
) -> FailureCall<'a> {
    FailureCall {
        job_id: id,
        job_type,
        target: "",
        policy,
        report,
        pause: None,
        carry: Default::default(),
    }
}

fn state_counts(s: &Store) -> [u64; 3] {
    s.counts().map(|(_, n)| n)
}

#[test]
fn counts_follow_every_transition() {
    let mut f = Fixture::new(Limits::default());
    f.fail("a", "Timeout", at(0));
    f.fail("b", "ValidationError", at(0));
    assert_eq!(state_counts(&f.store), [1, 1, 0]);
    f.store.cancel("a", at(1)).expect("cancel");
    assert_eq!(state_counts(&f.store), [0, 1, 1]);
    assert_eq!(
        f.store.cancel("b", at(1)),
        Err(StateError::Dead("b".into()))
    );
    f.store.retry("b", true, at(2)).expect("retry");
    assert_eq!(state_counts(&f.store), [1, 0, 1]);
    let s = f
        .store
        .report_success("b", "jt", "", None, at(3))
        .expect("success");
    assert!(s.known);
    f.store.delete("a").expect("delete");
    assert_eq!(state_counts(&f.store), [0, 0, 0]);
    assert_eq!(f.store.len(), 0);
    assert_eq!(
        f.store.delete("a").err(),
        Some(StateError::NotFound("a".into()))
    );
}

#[test]
fn stats_per_job_type() {
    let mut f = Fixture::new(Limits::default());
    f.fail("a", "Timeout", at(0));
    f.fail("b", "ValidationError", at(0));
    f.store
        .report_success("a", "jt", "", None, at(3))
        .expect("success");
    f.store
        .report_success("c", "jt", "", None, at(3))
        .expect("success");
    let (rows, total) = f.store.stats();
    let jt = rows.iter().find(|r| r.job_type == "jt").expect("row");
    assert_eq!(
        (
            jt.dead,
            jt.give_ups,
            jt.successes_after_retry,
            jt.first_try_successes
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(jt.retry_success_rate(), 50.0);
    assert_eq!(total.dead, 1);
}

#[test]
fn a_job_view_has_its_texts() {
    let mut f = Fixture::new(Limits::default());
    let r = FailureReport {
        error: ErrorReport {
            type_name: "requests.exceptions.ConnectionError",
            message: "reset",
            http_status: 502,
            grpc_code: 0,
            retryable: Some(true),
        },
        ..FailureReport::default()
    };
    f.store
        .report_failure(
            &f.engine,
            &call("v", "mail", &f.policy, r),
            at(0),
            &mut f.rng,
        )
        .expect("recorded");
    let v = f.store.get("v").expect("job");
    assert_eq!((v.id.as_str(), v.job_type.as_str()), ("v", "mail"));
    assert_eq!(
        v.last_error.type_name,
        "requests.exceptions.ConnectionError"
    );
    assert_eq!(
        (
            v.last_error.message.as_str(),
            v.last_error.http_status,
            v.last_error.retryable
        ),
        ("reset", 502, Some(true))
    );
    // A new error replaces the texts; the same error again rewrites in place.
    f.fail("v", "TimeoutError", at(1));
    let v = f.store.get("v").expect("job");
    assert_eq!(
        (
            v.last_error.type_name.as_str(),
            v.last_error.message.as_str(),
            v.job.failure_count
        ),
        ("TimeoutError", "", 2)
    );
    assert_eq!(v.job_type, "mail");
}

#[test]
fn job_types_past_the_label_bound_keep_their_own_name() {
    let mut f = Fixture::new(Limits::default());
    let r = FailureReport::default();
    for i in 0..150 {
        let jt = format!("type-{i}");
        f.store
            .report_failure(
                &f.engine,
                &call(&format!("j{i}"), &jt, &f.policy, r),
                at(0),
                &mut f.rng,
            )
            .expect("recorded");
    }
    let v = f.store.get("j149").expect("job");
    assert_eq!(v.job_type, "type-149");
    let page = f.store.list(
        Filter {
            state: None,
            job_type: Some("type-149"),
        },
        10,
        None,
    );
    assert_eq!(page.total, 1);
}

#[test]
fn long_messages_are_kept_as_a_prefix_on_a_char_boundary() {
    let mut f = Fixture::new(Limits::default());
    let msg = "é".repeat(MESSAGE_PREFIX);
    let r = FailureReport {
        error: ErrorReport {
            message: &msg,
            ..ErrorReport::default()
        },
        ..FailureReport::default()
    };
    f.store
        .report_failure(
            &f.engine,
            &call("long", "", &f.policy, r),
            at(0),
            &mut f.rng,
        )
        .expect("recorded");
    let kept = f.store.get("long").expect("job").last_error.message;
    assert!(kept.len() <= MESSAGE_PREFIX && kept.len() >= MESSAGE_PREFIX - 1);
    assert!(msg.starts_with(&kept));
}

#[test]
fn ttl_sweeps_idle_and_dead_jobs_separately() {
    let mut f = Fixture::new(Limits {
        idle_ttl: Duration::from_secs(10),
        dead_ttl: Duration::from_secs(100),
        ..Limits::default()
    });
    f.fail("retrying", "Timeout", at(0));
    f.fail("dead", "ValidationError", at(0));
    assert_eq!(f.store.sweep(at(9_999), true), Evictions::default());
    let ev = f.store.sweep(at(10_000), true);
    assert_eq!((ev.idle_ttl, ev.dead_ttl), (1, 0));
    assert!(f.store.get("retrying").is_none());
    let ev = f.store.sweep(at(100_000), true);
    assert_eq!(ev.dead_ttl, 1);
    assert!(f.store.is_empty());
}

#[test]
fn capacity_evicts_least_recently_updated_first() {
    let mut f = Fixture::new(Limits {
        max_jobs: 100,
        ..Limits::default()
    });
    for i in 0..150u64 {
        f.fail(&format!("job-{i:03}"), "Timeout", at(i * 1000));
    }
    // Touch an old one: it becomes the most recent.
    f.fail("job-000", "Timeout", at(1_000_000));
    let ev = f.store.sweep(at(1_000_001), false);
    // Down to 95 % of the bound.
    assert_eq!(ev.capacity, 55);
    assert_eq!(f.store.len(), 95);
    assert!(f.store.get("job-000").is_some());
    assert!(f.store.get("job-001").is_none());
    assert!(f.store.get("job-055").is_none());
    assert!(f.store.get("job-056").is_some());
    assert_eq!(state_counts(&f.store)[0], 95);
}

#[test]
fn dead_limit_drops_oldest_dead_only() {
    let mut f = Fixture::new(Limits {
        max_dead_jobs: 3,
        ..Limits::default()
    });
    f.fail("alive", "Timeout", at(0));
    for i in 0..5u64 {
        f.fail(&format!("dead-{i}"), "ValidationError", at((i + 1) * 1000));
    }
    // dead-0 is revived: its entry in the death order goes stale.
    f.store.retry("dead-0", true, at(9_000)).expect("retry");
    let ev = f.store.sweep(at(10_000), false);
    assert_eq!(ev.dead_limit, 1);
    assert!(f.store.get("alive").is_some() && f.store.get("dead-0").is_some());
    assert!(f.store.get("dead-1").is_none());
    assert!(f.store.get("dead-2").is_some());
    assert_eq!(state_counts(&f.store)[1], 3);
}

#[test]
fn dead_ttl_counts_from_the_death_and_goes_in_death_order() {
    let mut f = Fixture::new(Limits {
        dead_ttl: Duration::from_secs(10),
        ..Limits::default()
    });
    f.fail("early", "ValidationError", at(0));
    f.fail("late", "ValidationError", at(5_000));
    // Reported again after its death: it still expires 10 s after dying.
    f.fail("early", "ValidationError", at(9_000));
    let ev = f.store.sweep(at(10_000), false);
    assert_eq!((ev.dead_ttl, ev.dead_limit), (1, 0));
    assert!(f.store.get("early").is_none() && f.store.get("late").is_some());
    assert_eq!(f.store.sweep(at(15_000), false).dead_ttl, 1);
    assert!(f.store.is_empty());
}

#[test]
fn reports_and_sweeps_run_together_without_deadlock() {
    let f = Arc::new(Fixture::new(Limits {
        max_dead_jobs: 10,
        max_jobs: 200,
        ..Limits::default()
    }));
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    for t in 0..4u64 {
        let (f, done) = (f.clone(), done_tx.clone());
        std::thread::spawn(move || {
            let mut rng = StdRng::seed_from_u64(t);
            for i in 0..5_000 {
                let kind = if i % 2 == 0 {
                    "ValidationError"
                } else {
                    "Timeout"
                };
                let r = FailureReport {
                    error: ErrorReport {
                        type_name: kind,
                        ..ErrorReport::default()
                    },
                    ..FailureReport::default()
                };
                let id = format!("t{t}-{}", i % 300);
                f.store
                    .report_failure(&f.engine, &call(&id, "jt", &f.policy, r), at(i), &mut rng)
                    .expect("recorded");
                if i % 7 == 0 {
                    let _ = f.store.retry(&id, true, at(i));
                }
            }
            let _ = done.send(());
        });
    }
    let sweeper = {
        let f = f.clone();
        std::thread::spawn(move || {
            for i in 0..2_000 {
                f.store.sweep(at(i), i % 10 == 0);
            }
        })
    };
    for _ in 0..4 {
        done_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("a reporting thread is stuck: lock-order deadlock");
    }
    sweeper.join().expect("sweeper");
    f.store.sweep(at(10_000), false);
    assert!(f.store.counts()[1].1 <= 10);
    assert!(f.store.len() <= 200);
}

#[test]
fn stale_death_entries_are_compacted() {
    let mut f = Fixture::new(Limits::default());
    for i in 0..3000 {
        let id = format!("d{i}");
        f.fail(&id, "ValidationError", at(0));
        f.store.delete(&id).expect("delete");
    }
    f.store.sweep(at(1), false);
    assert!(f.store.deaths().len() <= 1024, "{}", f.store.deaths().len());
}

#[test]
fn list_pages_in_id_order_with_total() {
    let mut f = Fixture::new(Limits::default());
    for i in (0..25).rev() {
        f.fail(
            &format!("j{i:02}"),
            if i % 2 == 0 {
                "Timeout"
            } else {
                "ValidationError"
            },
            at(0),
        );
    }
    let dead = Filter {
        state: Some(JobState::Dead),
        job_type: None,
    };
    let p1 = f.store.list(dead, 5, None);
    assert_eq!(p1.total, 12);
    let ids: Vec<_> = p1.jobs.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, ["j01", "j03", "j05", "j07", "j09"]);
    let p2 = f.store.list(dead, 5, p1.next_after.as_deref());
    assert_eq!(p2.jobs[0].id, "j11");
    let p3 = f.store.list(dead, 5, Some("j19"));
    assert_eq!(p3.jobs.len(), 2);
    assert!(p3.next_after.is_none());
    let by_type = f.store.list(
        Filter {
            state: None,
            job_type: Some("nope"),
        },
        5,
        None,
    );
    assert_eq!(by_type.total, 0);
}

#[test]
fn concurrent_reports_of_one_job_are_all_counted() {
    let f = Arc::new(Fixture::new(Limits::default()));
    let engine = Engine::new(
        Classifier::new(Vec::new()).expect("rules"),
        PolicySet::new(
            vec![Policy {
                max_retries: 1000,
                ..Policy::named("many")
            }],
            &[],
            None,
        )
        .expect("policies"),
    );
    let engine = Arc::new(engine);
    let policy = engine.policies.get("many").expect("many").clone();
    std::thread::scope(|s| {
        for t in 0..8 {
            let (f, engine, policy) = (f.clone(), engine.clone(), policy.clone());
            s.spawn(move || {
                let mut rng = StdRng::seed_from_u64(t);
                for _ in 0..8 {
                    let r = FailureReport::default();
                    f.store
                        .report_failure(&engine, &call("same", "jt", &policy, r), at(0), &mut rng)
                        .expect("recorded");
                }
            });
        }
    });
    assert_eq!(f.store.get("same").map(|j| j.job.failure_count), Some(64));
    assert_eq!(f.store.len(), 1);
}

#[test]
fn a_reload_translates_every_record_and_refuses_the_old_engine() {
    let mut f = Fixture::new(Limits::default());
    f.fail("a", "TimeoutError", at(0));
    let before = f.store.get("a").expect("held").job.last_decision;
    assert_eq!(f.engine.policy_name(&before), "default");
    // A configuration where "default" has another id (a policy sorts
    // before it) and a rule of a new category comes first.
    let mut new = Engine::new(
        Classifier::new(vec![crate::engine::Rule {
            types: vec!["QuotaError".into()],
            ..crate::engine::Rule::new("quota", crate::engine::ErrorClass::Transient)
        }])
        .expect("rules"),
        PolicySet::new(vec![Policy::named("aaa")], &[], None).expect("policies"),
    );
    new.generation = 1;
    assert_ne!(
        new.policies.get("default").expect("default").id,
        f.policy.id,
        "the test needs the id to move"
    );
    let swapped = f.store.reconfigure(&f.engine, &new, || "swapped");
    assert_eq!(swapped, "swapped");
    let after = f.store.get("a").expect("held").job.last_decision;
    assert_eq!(new.policy_name(&after), "default");
    assert_eq!(new.category_name(&after), f.engine.category_name(&before));
    // A report decided under the old engine changes nothing and says so.
    let stale = f.fail("a", "TimeoutError", at(1));
    assert!(stale.stale);
    assert_eq!(f.store.get("a").expect("held").job.failure_count, 1);
    // Under the new one it counts.
    f.engine = new;
    f.policy = f.engine.policies.get("default").expect("default").clone();
    let out = f.fail("a", "TimeoutError", at(2));
    assert!(!out.stale);
    assert_eq!(out.decision.failure_count, 2);
}
