//! Fleet mode when Redis fails: unreachable at start, restarted, frozen
//! past `timeout`; on a Cluster, a primary killed under load. Also the
//! connections that need more than a URL: TLS (`rediss://`) and an ACL
//! user, and the real binary configured by flags.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::pki::Pki;
use common::redis::{RedisCluster, RedisServer, free_port};
use common::*;
use retryd::pb;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const COORDINATOR: &str = "retryd.v1.RetryCoordinator";

fn config(address: &str, extra: &str) -> String {
    format!(
        "[policies.default]\nmax_retries = 1000\n[state]\nbackend = \"redis\"\n[state.redis]\n{address}\ntimeout = \"250ms\"\n{extra}\n"
    )
}

async fn health(h: &Harness) -> ServingStatus {
    let mut c = HealthClient::new(channel(h.running.grpc_addr).await);
    let r = c
        .check(HealthCheckRequest {
            service: COORDINATOR.into(),
        })
        .await
        .expect("health check")
        .into_inner();
    ServingStatus::try_from(r.status).expect("a status")
}

async fn wait_health(h: &Harness, want: ServingStatus) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = health(h).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "health stayed {got:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn backend_errors(text: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.starts_with("retryd_backend_requests_total")
                && (l.contains("result=\"error\"") || l.contains("result=\"timeout\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn transient(job: &str, attempt: u32) -> pb::ReportFailureRequest {
    pb::ReportFailureRequest {
        attempt,
        ..failure(job, error("TimeoutError", "slow", 0, 0))
    }
}

/// Redis down at start: the sidecar serves anyway, NOT_SERVING, and every
/// call that needs state is UNAVAILABLE naming the backend, quickly; when
/// Redis comes up it connects by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_unreachable_at_start_then_up() {
    let port = free_port();
    let h = Harness::start(&config(
        &format!("url = \"redis://127.0.0.1:{port}/0\""),
        "",
    ))
    .await;
    wait_health(&h, ServingStatus::NotServing).await;
    let mut c = h.client.clone();
    let started = Instant::now();
    let err = c
        .report_failure(transient("early", 1))
        .await
        .expect_err("no state to decide from");
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert!(
        err.message()
            .contains(&format!("redis redis://127.0.0.1:{port}/0")),
        "{}",
        err.message()
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(backend_errors(&h.scrape().await) >= 1.0);
    let text = h.scrape().await;
    assert_eq!(sample(&text, "retryd_backend_up", &[]), Some(0.0));

    let _redis = RedisServer::start_on(port, &[], &[], false);
    wait_health(&h, ServingStatus::Serving).await;
    let d = report(&mut c, transient("early", 1)).await;
    assert_eq!(d.failure_count, 1);
    let text = h.scrape().await;
    assert_eq!(sample(&text, "retryd_backend_up", &[]), Some(1.0));
}

/// `on_unavailable = "local"`: while Redis is down, decisions come from
/// the sidecar's own state and say so; health stays SERVING.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_fallback_decides_while_redis_is_down() {
    let port = free_port();
    let h = Harness::start(&config(
        &format!("url = \"redis://127.0.0.1:{port}/0\""),
        "on_unavailable = \"local\"",
    ))
    .await;
    let mut c = h.client.clone();
    for n in 1..=2 {
        let d = report(&mut c, transient("offline", n)).await;
        assert_eq!(d.action, pb::Action::Retry as i32);
        assert_eq!(d.failure_count, n);
        assert!(
            d.explanation
                .contains("decided from this sidecar's own state"),
            "{}",
            d.explanation
        );
    }
    assert_eq!(health(&h).await, ServingStatus::Serving);
    // Operator reads need the fleet's state: they are refused, not answered
    // from a fragment.
    let err = c
        .get_stats(pb::GetStatsRequest {})
        .await
        .expect_err("no fleet state");
    assert_eq!(err.code(), tonic::Code::Unavailable);

    let _redis = RedisServer::start_on(port, &[], &[], false);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let d = report(&mut c, transient("online", 1)).await;
        if !d.explanation.contains("own state") {
            break;
        }
        assert!(Instant::now() < deadline, "still deciding locally");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let job = c
        .get_job(pb::GetJobRequest {
            job_id: "online".into(),
        })
        .await
        .expect("in Redis now")
        .into_inner()
        .job
        .expect("job");
    assert_eq!(job.failure_count, 1);
}

/// Redis restarted (empty, as a Redis without persistence comes back):
/// calls fail while it is down, each quickly and counted, and work again
/// after, on the same sidecar.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted() {
    let mut redis = RedisServer::start();
    let h = Harness::start(&config(&format!("url = \"{}\"", redis.url()), "")).await;
    let mut c = h.client.clone();
    report(&mut c, transient("before", 1)).await;
    redis.kill();
    let started = Instant::now();
    let err = c
        .report_failure(transient("during", 1))
        .await
        .expect_err("redis is down");
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert!(started.elapsed() < Duration::from_secs(2));
    wait_health(&h, ServingStatus::NotServing).await;
    redis.restart();
    wait_health(&h, ServingStatus::Serving).await;
    let d = report(&mut c, transient("after", 1)).await;
    assert_eq!(d.failure_count, 1);
    assert!(backend_errors(&h.scrape().await) >= 1.0);
}

/// A frozen Redis (SIGSTOP) past `timeout`: calls answer UNAVAILABLE within
/// about the timeout, never hang; after SIGCONT everything works, and a
/// report re-sent with its attempt number is counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_frozen_past_the_timeout() {
    let redis = RedisServer::start();
    let h = Harness::start(&config(&format!("url = \"{}\"", redis.url()), "")).await;
    let mut c = h.client.clone();
    report(&mut c, transient("frozen", 1)).await;
    redis.freeze();
    let started = Instant::now();
    let err = c
        .report_failure(transient("frozen", 2))
        .await
        .expect_err("redis is frozen");
    let took = started.elapsed();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert!(took < Duration::from_millis(1500), "{took:?}");
    wait_health(&h, ServingStatus::NotServing).await;
    let text = h.scrape().await;
    let timeouts: f64 = text
        .lines()
        .filter(|l| l.starts_with("retryd_backend_requests_total") && l.contains("timeout"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(timeouts >= 1.0, "{text}");
    redis.thaw();
    wait_health(&h, ServingStatus::Serving).await;
    // The caller re-sends attempt 2 (it got no answer). Whether or not the
    // timed-out call reached Redis, it counts once.
    let d = report(&mut c, transient("frozen", 2)).await;
    assert_eq!(d.failure_count, 2);
    let d = report(&mut c, transient("frozen", 3)).await;
    assert_eq!(d.failure_count, 3);
}

/// A call's whole time in Redis is bounded by `timeout`, waiting for its
/// lock stripe included: twelve jobs that share one stripe, reported at
/// once while the primary is stopped, each answer within the bound (before,
/// each waited out the ones queued ahead of it: the last after 12 ×).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_queued_on_one_stripe_each_answer_within_the_timeout() {
    let redis = RedisServer::start();
    let h = Harness::start(
        &config(&format!("url = \"{}\"", redis.url()), "")
            .replace("timeout = \"250ms\"", "timeout = \"400ms\""),
    )
    .await;
    let stripe = retryd::state::fleet_stripe_of("striped-0");
    let jobs: Vec<String> = (1..)
        .map(|k| format!("striped-{k}"))
        .filter(|id| retryd::state::fleet_stripe_of(id) == stripe)
        .take(11)
        .chain(["striped-0".to_string()])
        .collect();
    let mut c = h.client.clone();
    for j in &jobs {
        report(&mut c, transient(j, 1)).await;
    }
    redis.freeze();
    let mut calls = Vec::new();
    for j in jobs.clone() {
        let mut c = h.client.clone();
        calls.push(tokio::spawn(async move {
            let started = Instant::now();
            let r = c.report_failure(transient(&j, 2)).await;
            (started.elapsed(), r.map(|_| ()))
        }));
    }
    let (mut slowest, mut queued) = (Duration::ZERO, 0);
    for call in calls {
        let (took, r) = call.await.expect("call");
        let e = r.expect_err("redis is stopped");
        assert_eq!(e.code(), tonic::Code::Unavailable, "{e}");
        assert!(e.message().contains("fleet state unavailable"), "{e}");
        queued += usize::from(e.message().contains("lock stripe held it"));
        slowest = slowest.max(took);
    }
    eprintln!(
        "12 reports on one stripe, primary stopped: slowest answered after {slowest:?}, {queued} while queued"
    );
    assert!(queued > 0, "the reports queued on their stripe");
    // 400 ms and the call's own overhead; queued, the second alone took 800.
    assert!(slowest < Duration::from_millis(700), "{slowest:?}");
    // A caller's own gRPC deadline, shorter than `timeout`, ends the call
    // at that deadline (the server drops the call's work).
    let mut r = tonic::Request::new(transient("striped-0", 2));
    r.set_timeout(Duration::from_millis(100));
    let started = Instant::now();
    let e = c.report_failure(r).await.expect_err("redis is stopped");
    let took = started.elapsed();
    assert!(
        matches!(
            e.code(),
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ),
        "{e}"
    );
    assert!(took < Duration::from_millis(350), "{took:?}");
    redis.thaw();
    wait_health(&h, ServingStatus::Serving).await;
    for j in &jobs {
        assert!(report(&mut c, transient(j, 3)).await.failure_count >= 2);
    }
}

/// `replicas_ack = 1`: a report is answered once a replica has its commit
/// (`WAIT` in the same round trip); with the replica stopped it is
/// `UNAVAILABLE`, saying so, within the timeout, and counted
/// (`op="wait"`); the caller's re-sent attempt counts once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_wait_for_a_replica() {
    let primary = RedisServer::start_with(&["--repl-diskless-sync-delay", "0"]);
    let replica = RedisServer::start_with(&[
        "--replicaof",
        "127.0.0.1",
        &primary.port.to_string(),
        "--repl-diskless-sync-delay",
        "0",
    ]);
    tokio::task::block_in_place(|| {
        let deadline = Instant::now() + Duration::from_secs(15);
        // Online as the primary sees it (its first acknowledgement in).
        while !primary
            .cli(&["INFO", "replication"])
            .contains("state=online")
        {
            assert!(Instant::now() < deadline, "the replica never synced");
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let h = Harness::start(
        &config(
            &format!("url = \"{}\"", primary.url()),
            "replicas_ack = 1\non_unavailable = \"local\"",
        )
        .replace("timeout = \"250ms\"", "timeout = \"500ms\""),
    )
    .await;
    let mut c = h.client.clone();
    // A replica just online acknowledges at its next second's tick at
    // first (Redis asks it at once later on): the first report may wait
    // past the timeout, and is re-sent.
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(e) = c.report_failure(transient("warm", 1)).await {
        assert_eq!(e.code(), tonic::Code::Unavailable, "{e}");
        assert!(Instant::now() < deadline, "{e}");
    }
    for n in 1..=3 {
        assert_eq!(report(&mut c, transient("acked", n)).await.failure_count, n);
        // Answered: the replica has it already.
        let on_replica = replica.cli(&["--scan", "--pattern", "retryd*"]);
        assert!(on_replica.lines().count() > 0, "{on_replica}");
    }
    let waits = |text: &str, result: &str| {
        sample(
            text,
            "retryd_backend_requests_total",
            &[("op", "wait"), ("result", result)],
        )
        .unwrap_or(0.0)
    };
    assert!(waits(&h.scrape().await, "ok") >= 3.0);
    replica.freeze();
    let started = Instant::now();
    let e = c
        .report_failure(transient("acked", 4))
        .await
        .expect_err("no replica acknowledges");
    let took = started.elapsed();
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e}");
    assert!(
        e.message()
            .contains("the commit reached 0 of the 1 replicas replicas_ack asks for"),
        "{e}"
    );
    assert!(took < Duration::from_millis(900), "{took:?}");
    assert!(waits(&h.scrape().await, "timeout") >= 1.0);
    // Not decided from the sidecar's own state (on_unavailable = "local"):
    // the commit stands in Redis. And the commits waiting for a replica do
    // not hold up the other calls: reads answer at once, Redis counts as up.
    let mut waiting = Vec::new();
    for n in 0..4 {
        let mut c = h.client.clone();
        waiting.push(tokio::spawn(async move {
            c.report_failure(transient(&format!("acked-more-{n}"), 1))
                .await
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    c.get_job(pb::GetJobRequest {
        job_id: "acked".into(),
    })
    .await
    .expect("a read while commits wait for the replica");
    assert!(
        started.elapsed() < Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
    for w in waiting {
        let e = w.await.expect("call").expect_err("no replica");
        assert_eq!(e.code(), tonic::Code::Unavailable, "{e}");
    }
    let text = h.scrape().await;
    assert_eq!(sample(&text, "retryd_backend_up", &[]), Some(1.0), "{text}");
    replica.thaw();
    // The caller re-sends attempt 4: it stood on the primary, counted once.
    let deadline = Instant::now() + Duration::from_secs(10);
    let d = loop {
        match c.report_failure(transient("acked", 4)).await {
            Ok(r) => break r.into_inner().decision.expect("decision"),
            Err(e) if Instant::now() < deadline => {
                assert_eq!(e.code(), tonic::Code::Unavailable, "{e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(d.failure_count, 4);
}

/// `replicas_ack = 1` on a Redis Cluster: each commit's `WAIT` goes with it
/// to the primary of its slot, whichever that is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_on_a_cluster() {
    let cluster = tokio::task::block_in_place(RedisCluster::start);
    let nodes: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
    let h = Harness::start(
        &config(
            &format!("cluster_nodes = [{}]", nodes.join(", ")),
            "replicas_ack = 1",
        )
        .replace("timeout = \"250ms\"", "timeout = \"1s\""),
    )
    .await;
    let mut c = h.client.clone();
    for j in 0..40 {
        let job = format!("acked-{j}");
        assert_eq!(report(&mut c, transient(&job, 1)).await.failure_count, 1);
        assert_eq!(report(&mut c, transient(&job, 2)).await.failure_count, 2);
    }
    let text = h.scrape().await;
    let ok = sample(
        &text,
        "retryd_backend_requests_total",
        &[("op", "wait"), ("result", "ok")],
    );
    assert!(ok.unwrap_or(0.0) >= 80.0, "{ok:?}");
}

/// `rediss://` with a private CA (`tls_ca`), and an ACL user with a password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_acl_users() {
    let pki = Pki::new("redis");
    let tls = RedisServer::start_tls(&pki);
    let h = Harness::start(&config(
        &format!(
            "url = \"{}\"\ntls_ca = {:?}",
            tls.url(),
            pki.path("ca.pem").display().to_string()
        ),
        "",
    ))
    .await;
    let mut c = h.client.clone();
    assert_eq!(
        report(&mut c, transient("secure", 1)).await.failure_count,
        1
    );
    assert!(tls.cli(&["DBSIZE"]).trim().parse::<u64>().unwrap_or(0) > 0);

    let acl = RedisServer::start_on(
        free_port(),
        &[
            "--user", "default", "off", "--user", "retryd", "on", ">s3cret", "~*", "&*", "+@all",
        ],
        &["--user", "retryd", "--pass", "s3cret", "--no-auth-warning"],
        false,
    );
    let port = acl.port;
    let h = Harness::start(&config(
        &format!("url = \"redis://retryd:s3cret@127.0.0.1:{port}/0\""),
        "",
    ))
    .await;
    let mut c = h.client.clone();
    assert_eq!(report(&mut c, transient("acl", 1)).await.failure_count, 1);
    // A wrong password: refused, named, and the password never shown.
    let h = Harness::start(&config(
        &format!("url = \"redis://retryd:wrong@127.0.0.1:{port}/0\""),
        "",
    ))
    .await;
    let err = h
        .client
        .clone()
        .report_failure(transient("acl", 2))
        .await
        .expect_err("wrong password");
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert!(!err.message().contains("wrong"), "{}", err.message());
    assert!(err.message().contains("retryd:***@"), "{}", err.message());
}

/// The real binary, configured by flags: two sidecars on one Redis, and
/// the CLI pointed at either sees the same jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_by_flags_and_the_cli_against_any_pod() {
    use common::sidecar::{Sidecar, command};
    let redis = RedisServer::start();
    let spawn = || {
        let mut cmd = command(&[
            "--grpc-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--state-backend",
            "redis",
            "--redis-url",
            &redis.url(),
        ]);
        cmd.env_remove("RETRYD_STATE_BACKEND")
            .env_remove("RETRYD_REDIS_URL");
        Sidecar::spawn(cmd)
    };
    let one = spawn();
    let two = spawn();
    let mut c = connect(one.grpc_addr).await;
    report(
        &mut c,
        failure("from-one", error("ValidationError", "bad row", 0, 0)),
    )
    .await;
    let listed = command(&[
        "jobs",
        "list",
        "--state",
        "dead",
        "--addr",
        &two.grpc_addr.to_string(),
    ])
    .output()
    .expect("cli");
    let out = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{out}");
    assert!(out.contains("from-one"), "{out}");
    let stats = command(&["stats", "--addr", &two.grpc_addr.to_string()])
        .output()
        .expect("cli");
    let stats = String::from_utf8_lossy(&stats.stdout).into_owned();
    assert!(stats.lines().any(|l| l.starts_with("none")), "{stats}");
    drop((one, two));
}

/// A Redis Cluster primary killed (SIGKILL) under load from 3 sidecars:
/// its replica is promoted, the sidecars follow the new topology by
/// themselves, no call hangs, and every error is counted. The only loss
/// allowed is what Redis drops itself: writes the dead primary acknowledged
/// but had not yet sent to its replica. The test measures it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_primary_killed_under_load() {
    let mut cluster = RedisCluster::start();
    let nodes: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
    let conf = config(
        &format!("cluster_nodes = [{}]", nodes.join(", ")),
        "timeout = \"500ms\"",
    )
    .replace("timeout = \"250ms\"\n", "");
    let mut sidecars = Vec::new();
    for _ in 0..3 {
        sidecars.push(Harness::start(&conf).await);
    }
    const JOBS: usize = 200;
    let stop = Arc::new(AtomicBool::new(false));
    let answered: Arc<Vec<AtomicU64>> = Arc::new((0..JOBS).map(|_| AtomicU64::new(0)).collect());
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut workers = Vec::new();
    for w in 0..6 {
        let mut c = sidecars[w % 3].client.clone();
        let (stop, answered, ok, failed) =
            (stop.clone(), answered.clone(), ok.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                let j = i % JOBS;
                i += 6;
                // Each job's attempts in order: the next after the last answered.
                let n = answered[j].load(Ordering::Relaxed) as u32 + 1;
                let started = Instant::now();
                let r = c.report_failure(transient(&format!("load-{j}"), n)).await;
                slowest = slowest.max(started.elapsed());
                match r {
                    Ok(_) => {
                        answered[j].fetch_max(u64::from(n), Ordering::Relaxed);
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        assert_eq!(e.code(), tonic::Code::Unavailable, "{e}");
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            slowest
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_kill = ok.load(Ordering::Relaxed);
    let victim = cluster.primaries()[0];
    cluster.node(victim).kill();
    let killed_at = Instant::now();
    // Wait for the promotion (three live primaries, the victim not among
    // them, every node ok), then some load on the new topology.
    tokio::task::block_in_place(|| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let p = cluster.primaries();
            if p.len() == 3 && !p.contains(&victim) {
                break;
            }
            assert!(Instant::now() < deadline, "no failover: {p:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster.wait_ok();
    });
    let failover = killed_at.elapsed();
    let at_failover = ok.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let mut slowest = Duration::ZERO;
    for w in workers {
        slowest = slowest.max(w.await.expect("worker"));
    }
    let after = ok.load(Ordering::Relaxed) - at_failover;
    assert!(
        after > 100,
        "load resumed after the failover: {after} calls"
    );
    // No call hung: the slowest is bounded by the timeout and the client's
    // retries, far below a hang.
    assert!(slowest < Duration::from_secs(10), "{slowest:?}");
    // Count what the fleet holds against what was answered.
    let mut c = sidecars[1].client.clone();
    let mut lost_jobs = 0;
    let mut lost_reports = 0u64;
    for (j, a) in answered.iter().enumerate() {
        let a = a.load(Ordering::Relaxed);
        if a == 0 {
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let held = loop {
            match c
                .get_job(pb::GetJobRequest {
                    job_id: format!("load-{j}"),
                })
                .await
            {
                Ok(r) => break u64::from(r.into_inner().job.expect("job").failure_count),
                Err(e) if e.code() == tonic::Code::NotFound => break 0,
                // The new topology may still be settling.
                Err(e) if Instant::now() < deadline => {
                    assert_eq!(e.code(), tonic::Code::Unavailable, "{e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("{e}"),
            }
        };
        if held < a {
            lost_jobs += 1;
            lost_reports += a - held;
        }
    }
    let errors: f64 = {
        let mut n = 0.0;
        for h in &sidecars {
            n += backend_errors(&h.scrape().await);
        }
        n
    };
    eprintln!(
        "primary killed after {before_kill} answered reports; failover took {failover:?}; \
         {} calls answered UNAVAILABLE meanwhile ({errors} backend errors counted); \
         {after} answered after; slowest call {slowest:?}; \
         lost (acknowledged but not replicated): {lost_reports} reports of {lost_jobs} jobs",
        failed.load(Ordering::Relaxed)
    );
    assert!(errors >= failed.load(Ordering::Relaxed) as f64);
    // Asynchronous replication loses at most what the killed primary
    // acknowledged in its last moments: a handful, never a slot's worth.
    assert!(lost_reports <= 50, "{lost_reports} reports lost");
}

/// ListJobs' page token is a job id, not a SCAN cursor: paging goes on,
/// complete and in order, across a resharding that moves partitions (and
/// their jobs) to another primary between pages; reports go on too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_survive_a_resharding() {
    let cluster = RedisCluster::start();
    let nodes: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
    let conf = config(&format!("cluster_nodes = [{}]", nodes.join(", ")), "");
    let (a, b) = (Harness::start(&conf).await, Harness::start(&conf).await);
    let mut ca = a.client.clone();
    let mut want = Vec::new();
    for i in 0..300 {
        let id = format!("rs{i:03}");
        report(&mut ca, transient(&id, 1)).await;
        want.push(id);
    }
    let page = |token: String| pb::ListJobsRequest {
        page_size: 40,
        page_token: token,
        ..Default::default()
    };
    let first = ca
        .list_jobs(page(String::new()))
        .await
        .expect("page 1")
        .into_inner();
    let mut got: Vec<String> = first.jobs.into_iter().map(|j| j.job_id).collect();
    let mut token = first.next_page_token;
    // Move a third of the slots from one primary to another (with their keys).
    let primaries = cluster.primaries();
    let (from, to) = (primaries[0], primaries[1]);
    let before = common::redis::cli(from, &["DBSIZE"]);
    tokio::task::block_in_place(|| cluster.reshard(from, to, 3000));
    let after = common::redis::cli(from, &["DBSIZE"]);
    assert_ne!(before, after, "keys moved");
    let mut cb = b.client.clone();
    while !token.is_empty() {
        // The client follows the moved slots (MOVED) by itself; a call caught
        // while it does may be UNAVAILABLE for a moment, and is retried with
        // the same token.
        let deadline = Instant::now() + Duration::from_secs(10);
        let p = loop {
            match cb.list_jobs(page(token.clone())).await {
                Ok(p) => break p.into_inner(),
                Err(e) if e.code() == tonic::Code::Unavailable && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("next page: {e}"),
            }
        };
        assert_eq!(p.total_size, 300);
        got.extend(p.jobs.into_iter().map(|j| j.job_id));
        token = p.next_page_token;
    }
    assert_eq!(got, want);
    // And every job is still where its counts are.
    for id in ["rs000", "rs150", "rs299"] {
        let d = report(&mut cb, transient(id, 2)).await;
        assert_eq!(d.failure_count, 2, "{id}");
    }
}

/// A Redis that accepts connections and never answers (a stuck connection
/// looks the same from here): every call fails within the timeout, none
/// hangs, and retryd keeps connecting anew rather than waiting on the one
/// it has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_never_answers_never_hangs_a_call() {
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = hole.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicU64::new(0));
    let counter = accepted.clone();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = hole.accept().await {
            counter.fetch_add(1, Ordering::Relaxed);
            held.push(s);
        }
    });
    let h = Harness::start(&config(
        &format!("url = \"redis://127.0.0.1:{port}/0\""),
        "",
    ))
    .await;
    let mut c = h.client.clone();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        let t = Instant::now();
        let err = c
            .report_failure(transient("stuck", 1))
            .await
            .expect_err("nothing answers");
        assert_eq!(err.code(), tonic::Code::Unavailable);
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }
    assert!(
        accepted.load(Ordering::Relaxed) >= 2,
        "connected {} times",
        accepted.load(Ordering::Relaxed)
    );
    server.abort();
}
