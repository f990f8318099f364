//! Fleet mode on a primary under Redis Sentinel: three sidecars find the
//! primary through three real Sentinels and follow it, under load, across a
//! failover by demotion (`SENTINEL FAILOVER`) and a primary SIGKILLed.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::history::{self, Workload};
use common::redis::cli;
use common::sentinel::{MASTER, SentinelGroup};
use common::*;
use retryd::pb;

fn transient(job: &str, attempt: u32) -> pb::ReportFailureRequest {
    pb::ReportFailureRequest {
        attempt,
        ..failure(job, error("TimeoutError", "slow", 0, 0))
    }
}

/// Reports `job`'s attempt `n` through `c` until it is answered (the
/// sidecar may still be finding the primary); the failures it counted.
async fn report_until_answered(c: &mut Client, job: &str, n: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match c.report_failure(transient(job, n)).await {
            Ok(r) => {
                return r.into_inner().decision.expect("a decision").failure_count;
            }
            Err(e) if Instant::now() < deadline => {
                assert_eq!(e.code(), tonic::Code::Unavailable, "{e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{job}: {e}"),
        }
    }
}

/// How many of the fleet's keys (prefix `sent`) a server holds.
fn fleet_keys(port: u16) -> usize {
    cli(port, &["--scan", "--pattern", "sent*"]).lines().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_follows_the_primary_across_sentinel_failovers() {
    let mut group = tokio::task::block_in_place(SentinelGroup::start);
    let conf = format!(
        "[policies.default]\nmax_retries = 100000\n[state]\nbackend = \"redis\"\n\
         [state.redis]\n{}\ntimeout = \"500ms\"\nkey_prefix = \"sent\"\n",
        group.toml()
    );
    let mut sidecars = Vec::new();
    for _ in 0..3 {
        sidecars.push(Harness::start(&conf).await);
    }
    // Each sidecar finds the primary by itself, and they share one state.
    let first = group.primary_port();
    for (i, h) in sidecars.iter_mut().enumerate() {
        let n = report_until_answered(&mut h.client, "shared", i as u32 + 1).await;
        assert_eq!(n, i as u32 + 1, "one state through every sidecar");
    }
    assert!(fleet_keys(first) > 0, "the state is on the primary");
    let up = sample(&sidecars[0].scrape().await, "retryd_backend_up", &[]);
    assert_eq!(up, Some(1.0));

    let clients: Vec<Client> = sidecars.iter().map(|h| h.client.clone()).collect();
    let load = Workload::run(&clients, 6, "load", "");
    assert!(load.progress(300).await, "the fleet answers at all");

    // 1. A failover by demotion: the old primary turns replica (and Sentinel
    // closes its clients' connections); writes must go to the new one.
    let started = Instant::now();
    assert_eq!(
        group.ask(&["SENTINEL", "FAILOVER", MASTER]).trim(),
        "OK",
        "SENTINEL FAILOVER"
    );
    let second = tokio::task::block_in_place(|| group.wait_new_primary(first));
    assert!(
        load.progress(50).await,
        "load resumed after SENTINEL FAILOVER"
    );
    let demotion = started.elapsed();
    // The old primary is a replica now: a sidecar still writing there
    // would get READONLY, and these reports would not be answered.
    tokio::task::block_in_place(|| {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !cli(first, &["ROLE"]).starts_with("slave") {
            assert!(Instant::now() < deadline, "{first} never became a replica");
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    for (i, h) in sidecars.iter_mut().enumerate() {
        let job = format!("after-demotion-{i}");
        assert_eq!(report_until_answered(&mut h.client, &job, 1).await, 1);
    }
    let new_jobs = cli(second, &["--scan", "--pattern", "sent*"]);
    assert!(fleet_keys(second) > 0, "{new_jobs}");

    // 2. The primary SIGKILLed: the Sentinels promote a replica after
    // `down-after-milliseconds`; the sidecars follow.
    let started = Instant::now();
    tokio::task::block_in_place(|| group.server(second).kill());
    let third = tokio::task::block_in_place(|| group.wait_new_primary(second));
    assert!(load.progress(50).await, "load resumed after SIGKILL");
    let kill = started.elapsed();
    let (answered, refused) = (
        load.answered.load(std::sync::atomic::Ordering::Relaxed),
        load.refused.load(std::sync::atomic::Ordering::Relaxed),
    );
    let (history, slowest) = load.stop().await;
    // A call waits at most its timeout (500 ms), whatever the Sentinels do.
    assert!(slowest < Duration::from_secs(2), "slowest call {slowest:?}");
    for h in &sidecars {
        let text = h.scrape().await;
        assert_eq!(sample(&text, "retryd_backend_up", &[]), Some(1.0));
    }
    // What the fleet holds against what was answered. With replicas_ack = 0
    // a failover by demotion can lose what the old primary took before it
    // was demoted (the fault suite measures it, tests/fault_suite.rs); no
    // failure may ever be counted that was not reported.
    let calls = history.calls();
    let jobs: BTreeSet<String> = calls.iter().map(|c| c.job.clone()).collect();
    let held = history::finals(&mut sidecars[2].client, &jobs).await;
    let verdict = history::check(&calls, &held);
    eprintln!(
        "sentinel: demotion {first}->{second} served again after {demotion:?}; \
         SIGKILL {second}->{third} after {kill:?}; {answered} answered, {refused} UNAVAILABLE; \
         slowest call {slowest:?}; lost {} acknowledged reports",
        verdict.lost_reports()
    );
    assert!(verdict.phantoms.is_empty(), "{:?}", verdict.phantoms);
}

/// Sentinels with a password of their own, a primary and replicas with
/// another: the sidecar finds the primary with the one and writes with the
/// other (`[state.redis] password`), and neither shows in what it says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinels_and_a_primary_with_passwords_of_their_own() {
    let group = tokio::task::block_in_place(|| {
        SentinelGroup::start_with(Some(("sentinel-pw", "primary-pw")))
    });
    let conf = format!(
        "[state]\nbackend = \"redis\"\n[state.redis]\n{}\nkey_prefix = \"sent\"\n",
        group.toml()
    );
    let mut h = Harness::start(&conf).await;
    assert_eq!(report_until_answered(&mut h.client, "guarded", 1).await, 1);
    let primary = group.primary_port();
    let keys = group
        .servers
        .iter()
        .find(|s| s.port == primary)
        .expect("primary")
        .cli(&["--scan", "--pattern", "sent*"]);
    assert!(keys.lines().count() > 0, "{keys}");
    // A wrong primary password: the Sentinels answer, the primary refuses;
    // calls are UNAVAILABLE, naming the Sentinels, never the password.
    let wrong = conf.replace("primary-pw", "nope-pw");
    let mut w = Harness::start(&wrong).await;
    let e = w
        .client
        .report_failure(transient("guarded", 2))
        .await
        .expect_err("no primary that takes the password");
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e}");
    assert!(
        e.message()
            .contains("redis sentinel \"mymaster\" via 127.0.0.1:"),
        "{e}"
    );
    assert!(!e.message().contains("-pw"), "{e}");

    // The binary, the primary's password from RETRYD_REDIS_PASSWORD (a
    // Secret, in a pod) and not from the file; it logs where the primary is.
    let file = std::env::temp_dir().join(format!("retryd-sentinel-{}.toml", std::process::id()));
    let without = conf
        .lines()
        .filter(|l| !l.starts_with("password"))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&file, without).expect("config file");
    let mut cmd = sidecar::command(&[
        "--config",
        file.to_str().expect("utf-8"),
        "--grpc-addr",
        "127.0.0.1:0",
        "--metrics-addr",
        "127.0.0.1:0",
        "--log-format",
        "json",
    ]);
    cmd.env("RETRYD_REDIS_PASSWORD", "primary-pw");
    let mut binary = sidecar::Sidecar::spawn(cmd);
    const FOUND: &str = "fleet state: the primary, as the Sentinels say";
    let seen = binary
        .seen
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == FOUND);
    let found = match seen {
        Some(v) => v,
        None => tokio::task::block_in_place(|| binary.wait_for(FOUND)),
    };
    assert_eq!(
        found["primary"].as_str(),
        Some(format!("127.0.0.1:{primary}").as_str()),
        "{found}"
    );
    let mut c = connect(binary.grpc_addr).await;
    assert_eq!(report_until_answered(&mut c, "guarded", 2).await, 2);
    let _ = std::fs::remove_file(&file);
}

/// Sentinels and servers on TLS only (replication too): `rediss://`
/// Sentinel URLs and `tls_ca` (a private CA) take the sidecar to the
/// primary over TLS, and after a failover to the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinels_and_a_primary_on_tls() {
    let pki = common::pki::Pki::new("sentinel");
    let group = tokio::task::block_in_place(|| SentinelGroup::start_tls(&pki));
    let conf = format!(
        "[state]\nbackend = \"redis\"\n[state.redis]\n{}\nkey_prefix = \"sent\"\ntimeout = \"500ms\"\n",
        group.toml()
    );
    assert!(
        conf.contains("rediss://") && conf.contains("tls_ca"),
        "{conf}"
    );
    let mut h = Harness::start(&conf).await;
    assert_eq!(report_until_answered(&mut h.client, "sealed", 1).await, 1);
    let first = group.primary_port();
    let keys = group
        .servers
        .iter()
        .find(|s| s.port == first)
        .expect("primary")
        .cli(&["--scan", "--pattern", "sent*"]);
    assert!(keys.lines().count() > 0, "{keys}");
    assert_eq!(
        group.ask(&["SENTINEL", "FAILOVER", MASTER]).trim(),
        "OK",
        "SENTINEL FAILOVER"
    );
    let second = tokio::task::block_in_place(|| group.wait_new_primary(first));
    assert_ne!(first, second);
    assert_eq!(report_until_answered(&mut h.client, "sealed", 2).await, 2);
}
