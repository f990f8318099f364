//! Delivery in fleet mode: three sidecars on one real Redis — standalone,
//! and a Redis Cluster — hold the fleet's parked jobs as one: a job parked
//! through one is claimed through another, each due job goes to exactly one
//! claimer per lease however many claim at once, a lease runs out and the
//! job comes back through any sidecar, fencing holds fleet-wide, the
//! delivery limit kills a poison job, a dead job is replayed.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::fleet::{Backend, fleet};
use common::redis::{RedisCluster, RedisServer};
use common::*;
use futures_util::StreamExt;
use retryd::pb;
use tonic::Code;

const CONFIG: &str = "[policies.default]\nmax_retries = 3\nbackoff = { kind = \"constant\", delay = \"300ms\" }\n[delivery]\nmax_deliveries = 2\n";

fn parked(job: &str, queue: &str, payload: &[u8]) -> pb::ReportFailureRequest {
    pb::ReportFailureRequest {
        job_id: job.into(),
        job_type: "mail".into(),
        queue: queue.into(),
        error: Some(error("TimeoutError", "smtp timed out", 0, 0)),
        payload: payload.to_vec(),
        attempt: 1,
        ..Default::default()
    }
}

fn ms(n: u64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration {
        seconds: (n / 1000) as i64,
        nanos: ((n % 1000) * 1_000_000) as i32,
    })
}

async fn claim(c: &mut Client, queue: &str, max: u32, lease_ms: u64) -> Vec<pb::DueJob> {
    c.claim_due(pb::ClaimDueRequest {
        queue: queue.into(),
        max_jobs: max,
        lease: ms(lease_ms),
    })
    .await
    .expect("claim")
    .into_inner()
    .jobs
}

async fn job(c: &mut Client, id: &str) -> pb::Job {
    c.get_job(pb::GetJobRequest { job_id: id.into() })
        .await
        .expect("get")
        .into_inner()
        .job
        .expect("job")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_is_the_fleets_on_one_redis() {
    let redis = RedisServer::start();
    every_scenario(&Backend::standalone(&redis), "d").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_is_the_fleets_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    every_scenario(&Backend::cluster(&cluster), "dc").await;
}

async fn every_scenario(b: &Backend, prefix: &str) {
    each_due_job_goes_to_one_claimer(b, &format!("{prefix}1")).await;
    leases_fencing_and_the_delivery_limit(b, &format!("{prefix}2")).await;
    a_watcher_sees_what_another_sidecar_parks(b, &format!("{prefix}3")).await;
}

/// 120 jobs parked through three sidecars, claimed by six claimers (two
/// per sidecar) at once: every job delivered, none twice.
async fn each_due_job_goes_to_one_claimer(b: &Backend, prefix: &str) {
    let pods = fleet(3, &b.toml(prefix, ""), CONFIG).await;
    let n = 120;
    for i in 0..n {
        let mut c = pods[i % 3].client.clone();
        report(
            &mut c,
            parked(&format!("j{i}"), "mail", format!("p{i}").as_bytes()),
        )
        .await;
    }
    let queues = pods[1]
        .client
        .clone()
        .list_queues(pb::ListQueuesRequest {})
        .await
        .expect("queues")
        .into_inner()
        .queues;
    assert_eq!(queues.len(), 1, "{queues:?}");
    assert_eq!(queues[0].parked, n as u64);
    tokio::time::sleep(Duration::from_millis(350)).await;

    let claimers: Vec<_> = (0..6)
        .map(|k| {
            let mut c = pods[k % 3].client.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(10);
                let mut idle = 0;
                while Instant::now() < deadline && idle < 10 {
                    let jobs = claim(&mut c, "mail", 7, 60_000).await;
                    if jobs.is_empty() {
                        idle += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    } else {
                        idle = 0;
                    }
                    got.extend(jobs);
                }
                got
            })
        })
        .collect();
    let mut by_id: BTreeMap<String, Vec<pb::DueJob>> = BTreeMap::new();
    for c in claimers {
        for j in c.await.expect("claimer") {
            by_id.entry(j.job_id.clone()).or_default().push(j);
        }
    }
    assert_eq!(by_id.len(), n, "every job delivered");
    for (id, got) in &by_id {
        assert_eq!(got.len(), 1, "{id} was handed out {} times", got.len());
        let i: usize = id[1..].parse().expect("index");
        assert_eq!(got[0].payload, format!("p{i}").as_bytes());
        assert_eq!((got[0].attempt, got[0].deliveries), (2, 1));
    }
    // Settled through any sidecar with its lease.
    for (k, (id, got)) in by_id.iter().enumerate() {
        let mut c = pods[(k + 1) % 3].client.clone();
        c.report_success(pb::ReportSuccessRequest {
            job_id: id.clone(),
            lease_id: got[0].lease_id.clone(),
            ..Default::default()
        })
        .await
        .expect("settled");
    }
    let queues = pods[2]
        .client
        .clone()
        .list_queues(pb::ListQueuesRequest {})
        .await
        .expect("queues")
        .into_inner()
        .queues;
    assert!(queues.is_empty(), "{queues:?}");
}

async fn leases_fencing_and_the_delivery_limit(b: &Backend, prefix: &str) {
    let mut pods = fleet(3, &b.toml(prefix, ""), CONFIG).await;
    let (a, rest) = pods.split_at_mut(1);
    let (bb, c) = rest.split_at_mut(1);
    let (a, bb, c) = (&mut a[0].client, &mut bb[0].client, &mut c[0].client);
    report(a, parked("poison", "mail", b"crash me")).await;
    report(a, parked("steady", "mail", b"fine")).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut first = Vec::new();
    while first.len() < 2 && Instant::now() < deadline {
        // 2 s: the fencing checks and the first extension below have
        // seconds of slack on a slow machine.
        first.extend(claim(bb, "mail", 10, 2_000).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(first.len(), 2);
    let steady = first
        .iter()
        .find(|j| j.job_id == "steady")
        .expect("steady")
        .clone();
    // Fencing fleet-wide: another sidecar, no lease or another one: refused.
    let r = c
        .report_success(pb::ReportSuccessRequest {
            job_id: "steady".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(r.err().map(|s| s.code()), Some(Code::FailedPrecondition));
    let r = c
        .report_failure(pb::ReportFailureRequest {
            lease_id: "x".into(),
            ..parked("steady", "", b"")
        })
        .await;
    let s = r.expect_err("a wrong lease");
    assert_eq!(s.code(), Code::FailedPrecondition);
    assert!(s.message().starts_with("lease_id:"), "{}", s.message());
    assert_eq!(job(a, "steady").await.failure_count, 1);
    // Kept past its first lease through a third sidecar.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        c.extend_lease(pb::ExtendLeaseRequest {
            job_id: "steady".into(),
            lease_id: steady.lease_id.clone(),
            lease: ms(5_000),
        })
        .await
        .expect("extended");
    }
    // The poison job's lease ran out: due again, through any sidecar.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut again = Vec::new();
    while again.is_empty() && Instant::now() < deadline {
        again = claim(c, "mail", 10, 300).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(
        (again[0].job_id.as_str(), again[0].deliveries),
        ("poison", 2)
    );
    // Settled with its (extended) lease.
    a.report_success(pb::ReportSuccessRequest {
        job_id: "steady".into(),
        lease_id: steady.lease_id.clone(),
        ..Default::default()
    })
    .await
    .expect("settled under its extended lease");
    // The second unsettled lease of the poison job runs out: dead.
    let deadline = Instant::now() + Duration::from_secs(8);
    let dead = loop {
        let j = job(bb, "poison").await;
        if j.state() == pb::JobState::Dead || Instant::now() > deadline {
            break j;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(dead.state(), pb::JobState::Dead);
    assert_eq!(
        dead.last_decision.as_ref().map(|d| d.reason()),
        Some(pb::GiveUpReason::DeliveryLimit)
    );
    assert_eq!(dead.payload_bytes, 8);
    // Replayed by an operator through another sidecar: due now.
    c.retry_job(pb::RetryJobRequest {
        job_id: "poison".into(),
        reset_failures: None,
    })
    .await
    .expect("retry");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut replay = Vec::new();
    while replay.is_empty() && Instant::now() < deadline {
        replay = claim(a, "mail", 10, 30_000).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(replay.len(), 1);
    assert_eq!(replay[0].payload, b"crash me");
    // A failure reported with the lease parks it again.
    let d = report(
        bb,
        pb::ReportFailureRequest {
            lease_id: replay[0].lease_id.clone(),
            attempt: replay[0].attempt,
            ..parked("poison", "", b"")
        },
    )
    .await;
    assert_eq!(d.action(), pb::Action::Retry);
    let j = job(c, "poison").await;
    assert_eq!(
        (j.state(), j.payload_bytes, j.lease_until),
        (pb::JobState::Retrying, 8, None)
    );
    // Released through a sidecar by its next claimer: due at once, no failure counted.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut next = Vec::new();
    while next.is_empty() && Instant::now() < deadline {
        next = claim(c, "mail", 10, 30_000).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(next.len(), 1);
    a.release_job(pb::ReleaseJobRequest {
        job_id: "poison".into(),
        lease_id: next[0].lease_id.clone(),
        delay: None,
    })
    .await
    .expect("released");
    assert_eq!(job(a, "poison").await.failure_count, 1);
    let back = claim(bb, "mail", 10, 30_000).await;
    assert_eq!(back.len(), 1, "released: due at once");
    let text = pods[0].scrape().await;
    assert!(
        sample(
            &text,
            "retryd_backend_requests_total",
            &[("op", "delivery"), ("result", "ok")]
        )
        .is_some_and(|n| n > 0.0)
    );
}

async fn a_watcher_sees_what_another_sidecar_parks(b: &Backend, prefix: &str) {
    let pods = fleet(2, &b.toml(prefix, ""), CONFIG).await;
    let mut watcher = pods[0]
        .client
        .clone()
        .watch_due(pb::WatchDueRequest {
            queue: "orders".into(),
            max_in_flight: 5,
            lease: ms(30_000),
        })
        .await
        .expect("watch")
        .into_inner();
    let mut c = pods[1].client.clone();
    report(&mut c, parked("o1", "orders", b"order")).await;
    let got = tokio::time::timeout(Duration::from_secs(5), watcher.next())
        .await
        .expect("in time")
        .expect("open")
        .expect("job");
    assert_eq!(
        (got.job_id.as_str(), got.payload.as_slice()),
        ("o1", &b"order"[..])
    );
    c.report_success(pb::ReportSuccessRequest {
        job_id: "o1".into(),
        lease_id: got.lease_id,
        ..Default::default()
    })
    .await
    .expect("settled through the other sidecar");
}

/// A claim whose caller went away while it waited on Redis (a `ClaimDue`
/// past its deadline, a `WatchDue` stream closed) still ends as a claim
/// does — the queue's hint put back, the jobs it leased handed back — so
/// the next claimer gets the jobs at once: not after their 60-second lease,
/// nor after the sweeper's reconcile (every 5 s) finds the hint it lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_whose_caller_went_away_hands_its_jobs_back() {
    let redis = RedisServer::start();
    // Redis's answers may take 10 s: the frozen server below is slow, not down.
    let state = format!(
        "{}timeout = \"10s\"\n",
        Backend::standalone(&redis).toml("gone", "")
    );
    let h = Harness::start(&format!("{CONFIG}\n{state}")).await;
    let mut c = h.client.clone();
    let due_again = async |c: &mut Client, want: &[&str]| {
        let deadline = Instant::now() + Duration::from_millis(1500);
        let mut got: Vec<String> = Vec::new();
        while got.len() < want.len() && Instant::now() < deadline {
            got.extend(
                claim(c, "mail", 10, 60_000)
                    .await
                    .into_iter()
                    .map(|j| j.job_id),
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        got.sort();
        assert_eq!(got, want, "the jobs a gone claimer's claim took came back");
    };

    // A ClaimDue cancelled by its deadline while Redis does not answer
    // (twice: a sweep that happens to land just after could hide a loss once).
    for round in ["a", "b"] {
        let ids = [format!("g1{round}"), format!("g2{round}")];
        for id in &ids {
            report(&mut c, parked(id, "mail", id.as_bytes())).await;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        redis.freeze();
        let mut req = tonic::Request::new(pb::ClaimDueRequest {
            queue: "mail".into(),
            max_jobs: 10,
            lease: ms(60_000),
        });
        req.set_timeout(Duration::from_millis(300));
        let cancelled = c.clone().claim_due(req).await;
        assert!(cancelled.is_err(), "{cancelled:?}");
        redis.thaw();
        due_again(&mut c, &[ids[0].as_str(), ids[1].as_str()]).await;
    }

    // A WatchDue stream closed while its first claim waits on Redis.
    report(&mut c, parked("g3", "mail", b"three")).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    redis.freeze();
    let stream = c
        .clone()
        .watch_due(pb::WatchDueRequest {
            queue: "mail".into(),
            max_in_flight: 10,
            lease: ms(60_000),
        })
        .await
        .expect("watch");
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(stream);
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.thaw();
    due_again(&mut c, &["g3"]).await;
}
