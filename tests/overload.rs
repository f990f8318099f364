//! Overload: a flood well above capacity is shed with RESOURCE_EXHAUSTED,
//! health checks keep answering, and nothing else breaks.

mod common;

use std::time::{Duration, Instant};

use common::*;
use retryd::pb;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_shed_and_health_checks_still_answer() {
    let h = Harness::start("[server]\nmax_in_flight = 2").await;
    let addr = h.running.grpc_addr;
    let stop = Instant::now() + Duration::from_secs(3);

    let prober = tokio::spawn(async move {
        let mut health = HealthClient::new(channel(addr).await);
        let (mut checks, mut slowest) = (0, Duration::ZERO);
        while Instant::now() < stop {
            let t = Instant::now();
            let r = health
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .expect("health answers");
            assert_eq!(r.into_inner().status, 1, "SERVING");
            slowest = slowest.max(t.elapsed());
            checks += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (checks, slowest)
    });

    let mut flood = Vec::new();
    for ch in 0..16 {
        let client = connect(addr).await;
        for t in 0..32 {
            let mut c = client.clone();
            flood.push(tokio::spawn(async move {
                let (mut ok, mut shed) = (0u64, 0u64);
                let mut i = 0;
                while Instant::now() < stop {
                    let r = c
                        .report_failure(failure(
                            &format!("flood-{ch}-{t}-{i}"),
                            error("Timeout", "", 0, 0),
                        ))
                        .await;
                    match r {
                        Ok(_) => ok += 1,
                        Err(s) if s.code() == tonic::Code::ResourceExhausted => {
                            assert!(s.message().contains("overloaded"), "{s:?}");
                            shed += 1
                        }
                        Err(s) => panic!("only OK or RESOURCE_EXHAUSTED, got {s:?}"),
                    }
                    i += 1;
                }
                (ok, shed)
            }));
        }
    }
    let (mut ok, mut shed) = (0, 0);
    for f in flood {
        let (o, s) = f.await.expect("flood task");
        ok += o;
        shed += s;
    }
    let (checks, slowest) = prober.await.expect("prober");
    eprintln!(
        "3 s flood of 512 callers at max_in_flight 2: {ok} answered, {shed} shed ({:.0} %), {checks} health checks, slowest {slowest:?}",
        shed as f64 * 100.0 / (ok + shed) as f64
    );
    assert!(shed > 0, "nothing was shed ({ok} ok)");
    assert!(ok > 0, "nothing got through");
    assert!(
        checks > 10 && slowest < Duration::from_secs(2),
        "{checks} checks, slowest {slowest:?}"
    );

    // Every call that got OK was recorded, none that was shed.
    let mut c = h.client.clone();
    let all = c
        .list_jobs(pb::ListJobsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(all.total_size as u64, ok);
    let text = h.scrape().await;
    assert_eq!(
        sample(&text, "retryd_requests_shed_total", &[]),
        Some(shed as f64)
    );
}

#[tokio::test]
async fn an_oversized_request_is_refused_and_the_sidecar_stays_up() {
    let mut h = Harness::builtin().await;
    let huge = failure("big", error("Timeout", &"x".repeat(2 * 1024 * 1024), 0, 0));
    let e = h.client.report_failure(huge).await.expect_err("too big");
    assert!(
        matches!(
            e.code(),
            tonic::Code::ResourceExhausted | tonic::Code::OutOfRange
        ),
        "{e:?}"
    );
    report(&mut h.client, failure("small", error("Timeout", "", 0, 0))).await;
}
