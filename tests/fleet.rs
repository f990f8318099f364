//! Fleet mode: three sidecars on one real Redis — standalone, and a Redis
//! Cluster of 3 primaries and 3 replicas — answer as one sidecar would.
//! Every scenario runs against both.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::fleet::{Backend, fleet};
use common::redis::{RedisCluster, RedisServer};
use common::*;
use rand::{RngExt, SeedableRng};
use retryd::pb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_sidecars_count_as_one() {
    let redis = RedisServer::start();
    counted_as_one(&Backend::standalone(&redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pauses_and_events_are_the_fleets() {
    let redis = RedisServer::start();
    shared_pauses_and_events(&Backend::standalone(&redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reports_of_one_job_are_all_counted_fleet_wide() {
    let redis = RedisServer::start();
    concurrent_reports(&Backend::standalone(&redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_calls_act_on_the_fleet_state_from_any_pod() {
    let redis = RedisServer::start();
    operator_calls(&Backend::standalone(&redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_jobs_pages_over_every_partition() {
    let redis = RedisServer::start();
    list_pages(&Backend::standalone(&redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_are_shared_and_their_take_is_atomic() {
    let redis = RedisServer::start();
    shared_budgets(&Backend::standalone(&redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakers_are_shared() {
    let redis = RedisServer::start();
    shared_breakers(&Backend::standalone(&redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_and_passes_are_shared() {
    let redis = RedisServer::start();
    shared_batches(&Backend::standalone(&redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttls_and_the_dead_letter_bound_hold_fleet_wide() {
    let redis = RedisServer::start();
    ttls_and_bounds(&Backend::standalone(&redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_jobs_evicts_the_least_recently_updated_fleet_wide() {
    let redis = RedisServer::start();
    capacity(&Backend::standalone(&redis)).await;
}

/// Every scenario on one Redis Cluster (each with its own key prefix, so
/// their keys spread over the same 3 primaries independently).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    let b = Backend::cluster(&cluster);
    counted_as_one(&b).await;
    concurrent_reports(&b).await;
    operator_calls(&b).await;
    list_pages(&b).await;
    shared_budgets(&b).await;
    shared_breakers(&b).await;
    shared_pauses_and_events(&b).await;
    shared_batches(&b).await;
    ttls_and_bounds(&b).await;
    // The fleets' keys are spread over every primary.
    for p in cluster.primaries() {
        let keys: u64 = common::redis::cli(p, &["DBSIZE"])
            .trim()
            .parse()
            .unwrap_or(0);
        assert!(keys > 10, "primary {p} holds {keys} keys");
    }
}

const POLICIES: &str =
    "[policies.default]\nmax_retries = 3\nbackoff = { kind = \"constant\", delay = \"1s\" }\n";

fn attempt(job: &str, n: u32, e: pb::ErrorInfo) -> pb::ReportFailureRequest {
    pb::ReportFailureRequest {
        job_id: job.into(),
        job_type: "mail".into(),
        attempt: n,
        error: Some(e),
        ..Default::default()
    }
}

/// Each attempt of a job goes to a random sidecar; the fleet's GetStats,
/// ListJobs and dead set equal the truth, from any sidecar.
async fn counted_as_one(b: &Backend) {
    let sidecars = fleet(3, &b.toml("t1", ""), POLICIES).await;
    let mut clients: Vec<Client> = sidecars.iter().map(|h| h.client.clone()).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let (mut first_try, mut after_retry, mut gave_up) = (0u64, 0u64, BTreeSet::new());
    for j in 0..300 {
        let job = format!("job-{j:03}");
        // 0..=4 failures, then a success (or give-up at the 4th failure).
        let failures = rng.random_range(0..=4u32);
        let mut dead = false;
        for n in 1..=failures {
            let c = &mut clients[rng.random_range(0..3)];
            let d = report(c, attempt(&job, n, error("TimeoutError", "slow", 0, 0))).await;
            assert_eq!(d.failure_count, n, "{job} attempt {n}");
            if d.action == pb::Action::GiveUp as i32 {
                assert_eq!(n, 4);
                dead = true;
            }
        }
        if dead {
            gave_up.insert(job);
            continue;
        }
        let c = &mut clients[rng.random_range(0..3)];
        let s = c
            .report_success(pb::ReportSuccessRequest {
                job_id: job.clone(),
                job_type: "mail".into(),
                target: String::new(),
                ..Default::default()
            })
            .await
            .expect("success")
            .into_inner();
        assert_eq!(s.failures_before_success, failures, "{job}");
        assert_eq!(s.known, failures > 0);
        if failures == 0 {
            first_try += 1;
        } else {
            after_retry += 1;
        }
    }
    for c in &mut clients {
        let stats = c
            .get_stats(pb::GetStatsRequest {})
            .await
            .expect("stats")
            .into_inner();
        let mail = stats
            .job_types
            .iter()
            .find(|r| r.job_type == "mail")
            .expect("mail row");
        assert_eq!(
            (
                mail.retrying,
                mail.dead,
                mail.first_try_successes,
                mail.successes_after_retry,
                mail.give_ups
            ),
            (
                0,
                gave_up.len() as u64,
                first_try,
                after_retry,
                gave_up.len() as u64
            )
        );
        // The dead set, paged from this sidecar.
        let mut seen = BTreeSet::new();
        let mut token = String::new();
        loop {
            let page = c
                .list_jobs(pb::ListJobsRequest {
                    state: pb::JobState::Dead as i32,
                    page_size: 7,
                    page_token: token.clone(),
                    ..Default::default()
                })
                .await
                .expect("list")
                .into_inner();
            assert_eq!(page.total_size as usize, gave_up.len());
            for j in page.jobs {
                assert!(seen.insert(j.job_id.clone()), "{} listed twice", j.job_id);
            }
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(seen, gave_up);
    }
    // The scrape of any pod shows the fleet's jobs.
    let text = sidecars[1].scrape().await;
    assert_eq!(
        sample(&text, "retryd_jobs", &[("state", "dead")]),
        Some(gave_up.len() as f64)
    );
    assert_eq!(sample(&text, "retryd_backend_up", &[]), Some(1.0));
    stop(sidecars).await;
}

/// 96 concurrent reports of one job through 3 sidecars: 96 failures, none
/// lost; the same attempt through every sidecar counts once.
async fn concurrent_reports(b: &Backend) {
    let sidecars = fleet(
        3,
        &b.toml("t2", ""),
        "[policies.default]\nmax_retries = 1000\n",
    )
    .await;
    let mut calls = Vec::new();
    for i in 0..96 {
        let mut c = sidecars[i % 3].client.clone();
        calls.push(tokio::spawn(async move {
            report(&mut c, failure("hot", error("TimeoutError", "", 0, 0))).await
        }));
    }
    let mut counts = BTreeSet::new();
    for call in calls {
        counts.insert(call.await.expect("call").failure_count);
    }
    // Each call saw its own count: 1..=96, each once.
    assert_eq!(counts, (1..=96).collect::<BTreeSet<u32>>());
    let job = sidecars[2]
        .client
        .clone()
        .get_job(pb::GetJobRequest {
            job_id: "hot".into(),
        })
        .await
        .expect("get")
        .into_inner()
        .job
        .expect("job");
    assert_eq!(job.failure_count, 96);

    // De-duplication holds across sidecars: attempt 5 re-sent through each.
    let mut firsts = Vec::new();
    for h in &sidecars {
        let mut c = h.client.clone();
        firsts.push(report(&mut c, attempt("dup", 5, error("TimeoutError", "", 0, 0))).await);
    }
    assert!(firsts.iter().all(|d| d.failure_count == 5));
    assert_eq!(
        firsts[0].retry_at, firsts[2].retry_at,
        "the stored decision"
    );
    stop(sidecars).await;
}

/// A job dead on one pod is revived by RetryJob on another, cancelled on a
/// third, and deleted from the first.
async fn operator_calls(b: &Backend) {
    let sidecars = fleet(3, &b.toml("t3", ""), POLICIES).await;
    let (mut a, mut b, mut c) = (
        sidecars[0].client.clone(),
        sidecars[1].client.clone(),
        sidecars[2].client.clone(),
    );
    let d = report(
        &mut a,
        failure("poison", error("ValidationError", "bad", 0, 0)),
    )
    .await;
    assert_eq!(d.action, pb::Action::GiveUp as i32);
    let revived = b
        .retry_job(pb::RetryJobRequest {
            job_id: "poison".into(),
            reset_failures: Some(true),
        })
        .await
        .expect("retry on another pod")
        .into_inner()
        .job
        .expect("job");
    assert_eq!(revived.state, pb::JobState::Retrying as i32);
    assert_eq!(revived.failure_count, 0);
    let d = report(&mut c, failure("poison", error("TimeoutError", "", 0, 0))).await;
    assert_eq!((d.action, d.failure_count), (pb::Action::Retry as i32, 1));
    let cancelled = c
        .cancel_job(pb::CancelJobRequest {
            job_id: "poison".into(),
        })
        .await
        .expect("cancel")
        .into_inner()
        .job
        .expect("job");
    assert_eq!(cancelled.state, pb::JobState::Cancelled as i32);
    let d = report(&mut a, failure("poison", error("TimeoutError", "", 0, 0))).await;
    assert_eq!(d.reason, pb::GiveUpReason::Cancelled as i32);
    a.delete_job(pb::DeleteJobRequest {
        job_id: "poison".into(),
    })
    .await
    .expect("delete");
    let gone = b
        .get_job(pb::GetJobRequest {
            job_id: "poison".into(),
        })
        .await
        .expect_err("deleted everywhere");
    assert_eq!(gone.code(), tonic::Code::NotFound);
    let stats = c
        .get_stats(pb::GetStatsRequest {})
        .await
        .expect("stats")
        .into_inner();
    let total = stats.total.expect("total");
    assert_eq!((total.retrying, total.dead, total.cancelled), (0, 0, 0));
    assert_eq!(total.give_ups, 1);
    stop(sidecars).await;
}

/// ListJobs pages through the fleet's jobs in job-id order from any pod,
/// with filters and totals, never listing a job twice.
async fn list_pages(b: &Backend) {
    let sidecars = fleet(2, &b.toml("t4", ""), POLICIES).await;
    let mut a = sidecars[0].client.clone();
    let mut want: BTreeMap<String, (String, bool)> = BTreeMap::new();
    for i in 0..250 {
        let id = format!("j{i:04}");
        let jt = if i % 3 == 0 { "img" } else { "mail" };
        let dead = i % 5 == 0;
        let e = if dead {
            error("ValidationError", "", 0, 0)
        } else {
            error("TimeoutError", "", 0, 0)
        };
        report(
            &mut a,
            pb::ReportFailureRequest {
                job_type: jt.into(),
                ..failure(&id, e)
            },
        )
        .await;
        want.insert(id, (jt.into(), dead));
    }
    for (state, job_type) in [
        (pb::JobState::Unspecified, ""),
        (pb::JobState::Dead, ""),
        (pb::JobState::Retrying, "img"),
        (pb::JobState::Unspecified, "mail"),
    ] {
        let expected: Vec<String> = want
            .iter()
            .filter(|(_, (jt, dead))| {
                (job_type.is_empty() || jt == job_type)
                    && match state {
                        pb::JobState::Dead => *dead,
                        pb::JobState::Retrying => !*dead,
                        _ => true,
                    }
            })
            .map(|(id, _)| id.clone())
            .collect();
        let mut got = Vec::new();
        let mut token = String::new();
        for page_no in 0.. {
            // Alternate the sidecars: a token from one works on another.
            let mut c = sidecars[page_no % 2].client.clone();
            let page = c
                .list_jobs(pb::ListJobsRequest {
                    state: state as i32,
                    job_type: job_type.into(),
                    page_size: 40,
                    page_token: token.clone(),
                })
                .await
                .expect("list")
                .into_inner();
            assert_eq!(
                page.total_size as usize,
                expected.len(),
                "{state:?} {job_type}"
            );
            got.extend(page.jobs.into_iter().map(|j| j.job_id));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(got, expected, "{state:?} {job_type}");
    }
    stop(sidecars).await;
}

/// A target's budget is the fleet's: failures through three sidecars
/// exhaust it exactly as through one.
async fn shared_budgets(b: &Backend) {
    let sidecars = fleet(
        3,
        &b.toml("t5", ""),
        "[policies.default]\nmax_retries = 100\n[budgets.db]\nmax_tokens = 20\ntoken_ratio = 1.0\n",
    )
    .await;
    // 20 tokens: failures 1..=9 leave 19..=11 (above half: retry); the 10th
    // leaves 10 (at half: refused). Concurrently through three sidecars.
    let mut calls = Vec::new();
    for i in 0..30 {
        let mut c = sidecars[i % 3].client.clone();
        calls.push(tokio::spawn(async move {
            report(
                &mut c,
                pb::ReportFailureRequest {
                    target: "db".into(),
                    ..failure(&format!("b{i}"), error("TimeoutError", "", 0, 0))
                },
            )
            .await
        }));
    }
    let mut retried = 0;
    for call in calls {
        if call.await.expect("call").action == pb::Action::Retry as i32 {
            retried += 1;
        }
    }
    assert_eq!(retried, 9, "exactly the tokens above half");
    let budgets = sidecars[1]
        .client
        .clone()
        .list_budgets(pb::ListBudgetsRequest {})
        .await
        .expect("budgets")
        .into_inner()
        .budgets;
    let db = budgets.iter().find(|b| b.target == "db").expect("db");
    assert_eq!(db.tokens, 0.0);
    assert_eq!(db.exhausted_total, 21);
    assert_eq!(db.retrying, 9);
    // Successes through another pod refill it for everyone.
    let mut c = sidecars[2].client.clone();
    for i in 0..9 {
        c.report_success(pb::ReportSuccessRequest {
            job_id: format!("b{i}"),
            job_type: String::new(),
            target: String::new(),
            ..Default::default()
        })
        .await
        .expect("success");
    }
    let budgets = sidecars[0]
        .client
        .clone()
        .list_budgets(pb::ListBudgetsRequest {})
        .await
        .expect("budgets")
        .into_inner()
        .budgets;
    let db = budgets.iter().find(|b| b.target == "db").expect("db");
    assert_eq!(db.tokens, 9.0);
    stop(sidecars).await;
}

/// One breaker per target for the whole fleet: failures through any pod
/// open it, every pod defers to its close, a success through another pod
/// in half-open closes it.
async fn shared_breakers(b: &Backend) {
    let sidecars = fleet(
        3,
        &b.toml("t8", ""),
        "[policies.default]\nmax_retries = 100\nbackoff = { kind = \"constant\", delay = \"100ms\" }\nmax_delay = \"1h\"\n\
         [breakers.db]\nmin_calls = 12\nfailure_ratio = 0.5\nopen_for = \"2s\"\nhalf_open_probes = 2\n",
    )
    .await;
    // 30 failures concurrently through three pods: the 12th opens it, and
    // exactly the 11 before get their plain backoff.
    let mut calls = Vec::new();
    for i in 0..30 {
        let mut c = sidecars[i % 3].client.clone();
        calls.push(tokio::spawn(async move {
            report(
                &mut c,
                pb::ReportFailureRequest {
                    target: "db".into(),
                    ..failure(&format!("cb{i}"), error("TimeoutError", "", 0, 0))
                },
            )
            .await
        }));
    }
    let mut plain = 0;
    let mut probes = 0;
    for call in calls {
        let d = call.await.expect("call");
        if secs(&d) < 1.0 {
            plain += 1;
        } else if d.explanation.contains("one of the probes") {
            probes += 1;
        }
    }
    assert_eq!(plain, 11, "the failures before it opened");
    assert_eq!(probes, 2, "half_open_probes, fleet-wide");
    let state = |i: usize| {
        let mut c = sidecars[i].client.clone();
        async move {
            c.list_budgets(pb::ListBudgetsRequest {})
                .await
                .expect("budgets")
                .into_inner()
                .budgets
                .into_iter()
                .find(|b| b.target == "db")
                .map(|b| b.breaker_state)
        }
    };
    for i in 0..3 {
        assert_eq!(
            state(i).await,
            Some(pb::BreakerState::Open as i32),
            "pod {i}"
        );
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(state(1).await, Some(pb::BreakerState::HalfOpen as i32));
    // A success through another pod closes it for everyone.
    sidecars[2]
        .client
        .clone()
        .report_success(pb::ReportSuccessRequest {
            job_id: "cb0".into(),
            ..Default::default()
        })
        .await
        .expect("success");
    for i in 0..3 {
        assert_eq!(
            state(i).await,
            Some(pb::BreakerState::Closed as i32),
            "pod {i}"
        );
    }
    stop(sidecars).await;
}

/// A batch started on one pod counts reports made through others.
async fn shared_batches(b: &Backend) {
    let sidecars = fleet(3, &b.toml("t6", ""), POLICIES).await;
    let (mut a, mut b, mut c) = (
        sidecars[0].client.clone(),
        sidecars[1].client.clone(),
        sidecars[2].client.clone(),
    );
    let ids: Vec<String> = ["x", "y", "z"].iter().map(|s| s.to_string()).collect();
    let start = a
        .start_pass(pb::StartPassRequest {
            batch_id: "nightly".into(),
            job_ids: ids.clone(),
            max_passes: Some(3),
            pass_delay: None,
        })
        .await
        .expect("start")
        .into_inner();
    assert_eq!(start.stats.expect("stats").jobs_pending, 3);
    b.report_success(pb::ReportSuccessRequest {
        job_id: "x".into(),
        ..Default::default()
    })
    .await
    .expect("success");
    report(&mut c, failure("y", error("TimeoutError", "", 0, 0))).await;
    report(&mut b, failure("z", error("ValidationError", "", 0, 0))).await;
    let end = c
        .end_pass(pb::EndPassRequest {
            batch_id: "nightly".into(),
        })
        .await
        .expect("end")
        .into_inner();
    assert_eq!(end.result, pb::PassResult::RetryableRemaining as i32);
    assert_eq!(end.retry_job_ids, vec!["y".to_string()]);
    let s = end.stats.expect("stats");
    assert_eq!(
        (
            s.jobs_attempted,
            s.jobs_succeeded,
            s.jobs_failed_retryable,
            s.jobs_failed_non_retryable
        ),
        (3, 1, 1, 1)
    );
    // A job of an open batch cannot join another, from any pod.
    let err = b
        .start_pass(pb::StartPassRequest {
            batch_id: "other".into(),
            job_ids: vec!["q".into(), "y".into()],
            max_passes: None,
            pass_delay: None,
        })
        .await
        .expect_err("y is in nightly");
    assert_eq!(err.code(), tonic::Code::AlreadyExists);
    // Nothing of the refused call remains: q is free.
    b.start_pass(pb::StartPassRequest {
        batch_id: "other".into(),
        job_ids: vec!["q".into()],
        max_passes: None,
        pass_delay: None,
    })
    .await
    .expect("q is free");
    let batch = a
        .get_batch(pb::GetBatchRequest {
            batch_id: "nightly".into(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(batch.passes.len(), 1);
    assert_eq!(batch.total_succeeded, 1);
    stop(sidecars).await;
}

/// idle_ttl and dead_ttl hold in Redis: the sweeper (whichever pod holds
/// its lease) forgets the jobs and their counts, and counts the evictions.
async fn ttls_and_bounds(b: &Backend) {
    let sidecars = fleet(
        2,
        &b.toml(
            "t7",
            // No dead_ttl here: the dead-letter bound is observed with no
            // clock racing it, however slow the machine (dead_ttl below).
            "idle_ttl = \"1s\"\nmax_dead_jobs = 5",
        ),
        "",
    )
    .await;
    let mut a = sidecars[0].client.clone();
    for i in 0..4 {
        report(
            &mut a,
            failure(&format!("idle{i}"), error("TimeoutError", "", 0, 0)),
        )
        .await;
    }
    for i in 0..8 {
        report(
            &mut a,
            failure(&format!("dead{i}"), error("ValidationError", "", 0, 0)),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The dead-letter bound: the 3 oldest go first.
    let mut dead_now = 8;
    for _ in 0..100 {
        let stats = a
            .get_stats(pb::GetStatsRequest {})
            .await
            .expect("stats")
            .into_inner();
        dead_now = stats.total.expect("total").dead;
        if dead_now <= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if dead_now != 5 {
        let mut seen = Vec::new();
        for h in &sidecars {
            let text = h.scrape().await;
            for r in ["idle_ttl", "dead_ttl", "dead_limit", "capacity"] {
                seen.push((r, sample(&text, "retryd_evictions_total", &[("reason", r)])));
            }
        }
        let mut left = Vec::new();
        for i in 0..8 {
            let r = a
                .get_job(pb::GetJobRequest {
                    job_id: format!("dead{i}"),
                })
                .await;
            left.push((i, r.is_ok()));
        }
        panic!("dead {dead_now}: evictions {seen:?}, held {left:?}");
    }
    for gone in ["dead0", "dead1", "dead2"] {
        let e = a
            .get_job(pb::GetJobRequest {
                job_id: gone.into(),
            })
            .await
            .expect_err("the oldest dead went first");
        assert_eq!(e.code(), tonic::Code::NotFound);
    }
    // Then every retrying job expires; the 5 dead stay.
    let mut total = pb::JobTypeStats::default();
    for _ in 0..200 {
        total = a
            .get_stats(pb::GetStatsRequest {})
            .await
            .expect("stats")
            .into_inner()
            .total
            .expect("total");
        if total.retrying == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!((total.retrying, total.dead), (0, 5));
    assert_evictions(&sidecars, (4.0, 0.0, 3.0)).await;
    stop(sidecars).await;

    // dead_ttl: dead jobs expire by age.
    let sidecars = fleet(2, &b.toml("t7b", "dead_ttl = \"1s\""), "").await;
    let mut a = sidecars[0].client.clone();
    for i in 0..2 {
        report(
            &mut a,
            failure(&format!("old{i}"), error("ValidationError", "", 0, 0)),
        )
        .await;
    }
    let mut dead = 2;
    for _ in 0..200 {
        let stats = a.get_stats(pb::GetStatsRequest {}).await.expect("stats");
        dead = stats.into_inner().total.expect("total").dead;
        if dead == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead, 0);
    assert_evictions(&sidecars, (0.0, 2.0, 0.0)).await;
    stop(sidecars).await;
}

/// The fleet's `retryd_evictions_total` for idle_ttl, dead_ttl and
/// dead_limit, summed over the pods as Prometheus would (a sweep counts
/// when it returns, a moment after the jobs are gone).
async fn assert_evictions(sidecars: &[Harness], want: (f64, f64, f64)) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (mut idle, mut dead_ttl, mut limit) = (0.0, 0.0, 0.0);
        for h in sidecars {
            let text = h.scrape().await;
            let n = |r: &str| sample(&text, "retryd_evictions_total", &[("reason", r)]);
            idle += n("idle_ttl").unwrap_or(0.0);
            dead_ttl += n("dead_ttl").unwrap_or(0.0);
            limit += n("dead_limit").unwrap_or(0.0);
        }
        if (idle, dead_ttl, limit) == want || std::time::Instant::now() > deadline {
            assert_eq!((idle, dead_ttl, limit), want);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `max_jobs` holds for the fleet: past it, the least recently updated jobs
/// go (down to 95 % of the bound), counted as capacity evictions.
async fn capacity(b: &Backend) {
    let sidecars = fleet(2, &b.toml("t8", "max_jobs = 20"), POLICIES).await;
    for i in 0..40 {
        let mut c = sidecars[i % 2].client.clone();
        report(
            &mut c,
            failure(&format!("cap{i:02}"), error("TimeoutError", "", 0, 0)),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut c = sidecars[0].client.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let held = loop {
        let total = c
            .get_stats(pb::GetStatsRequest {})
            .await
            .expect("stats")
            .into_inner()
            .total
            .expect("total");
        if total.retrying <= 20 || std::time::Instant::now() > deadline {
            break total.retrying;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // A sweep leaves 19 (95 % of 20); one that ran before the last report
    // leaves 19 and the report makes 20, within the bound.
    assert!(
        (19..=20).contains(&held),
        "down to 95 % of the bound: {held}"
    );
    // The newest stay, the oldest went: those kept are the last `held`.
    let mut kept = Vec::new();
    for i in 0..40 {
        let r = c
            .get_job(pb::GetJobRequest {
                job_id: format!("cap{i:02}"),
            })
            .await;
        kept.push(r.is_ok());
    }
    let expected: Vec<bool> = (0..40).map(|i| i >= 40 - held).collect();
    assert_eq!(kept, expected, "the {held} most recently updated are kept");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let gone = (40 - held) as f64;
    loop {
        let mut evicted = 0.0;
        for h in &sidecars {
            evicted += sample(
                &h.scrape().await,
                "retryd_evictions_total",
                &[("reason", "capacity")],
            )
            .unwrap_or(0.0);
        }
        if evicted == gone || std::time::Instant::now() > deadline {
            assert_eq!(evicted, gone);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop(sidecars).await;
}

/// A pause set through one pod holds on the others (within their
/// once-a-second refresh); a watcher on one pod sees the events decided by
/// another.
async fn shared_pauses_and_events(b: &Backend) {
    use futures_util::StreamExt;
    let mut sidecars = fleet(2, &b.toml("t9", ""), POLICIES).await;
    let mut watch = watch(
        &mut sidecars[0].client,
        pb::WatchEventsRequest {
            kinds: vec![pb::EventKind::GaveUp as i32],
            ..Default::default()
        },
    )
    .await;
    sidecars[0]
        .client
        .pause_retries(pb::PauseRetriesRequest {
            job_type: "mail".into(),
            ..Default::default()
        })
        .await
        .expect("pause");
    // Through the other pod: paused once its mirror has caught up.
    let mut paused = false;
    for i in 0..40 {
        let d = report(
            &mut sidecars[1].client,
            attempt(&format!("p{i}"), 1, error("TimeoutError", "", 0, 0)),
        )
        .await;
        if d.explanation.contains("paused") {
            assert_eq!(d.failure_count, 0);
            paused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(paused, "the pause reached the other pod");
    let listed = pauses(&mut sidecars[1].client).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].job_type, "mail");
    sidecars[1]
        .client
        .resume_retries(pb::ResumeRetriesRequest {
            job_type: "mail".into(),
            ..Default::default()
        })
        .await
        .expect("resume");
    // The watcher on pod 0 sees give-ups decided by pod 1 (after the fleet
    // has learnt that someone watches: up to a second or two).
    let mut seen = None;
    for i in 0..40 {
        report(
            &mut sidecars[1].client,
            attempt(&format!("g{i}"), 1, error("ValidationError", "", 0, 0)),
        )
        .await;
        if let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(150), watch.next()).await {
            seen = Some(e.expect("an event"));
            break;
        }
    }
    let e = seen.expect("a give-up from the other pod arrived");
    assert_eq!(e.kind, pb::EventKind::GaveUp as i32);
    assert!(e.job_id.starts_with('g'));
    assert_eq!(e.job_type, "mail");
    // And the pause is over everywhere: a counted retry again.
    let mut resumed = false;
    for i in 0..40 {
        let d = report(
            &mut sidecars[0].client,
            attempt(&format!("r{i}"), 1, error("TimeoutError", "", 0, 0)),
        )
        .await;
        if !d.explanation.contains("paused") {
            assert_eq!(d.failure_count, 1);
            resumed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(resumed);
    drop(watch);
    stop(sidecars).await;
}

/// Stops a fleet's sidecars (their sweepers and health checks with them).
async fn stop(sidecars: Vec<Harness>) {
    for h in sidecars {
        h.running.stop().await.expect("stops");
    }
}
