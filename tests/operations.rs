//! Health, reflection and the Prometheus endpoint of a real server.

mod common;

use common::*;
use prost::Message;
use retryd::pb;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1;
use tonic_reflection::pb::v1alpha;

#[tokio::test]
async fn health_reports_serving() {
    let h = Harness::builtin().await;
    let mut health = HealthClient::new(channel(h.running.grpc_addr).await);
    for service in ["", "retryd.v1.RetryCoordinator"] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("check")
            .into_inner();
        assert_eq!(
            r.status,
            ServingStatus::Serving as i32,
            "service {service:?}"
        );
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "nope.Service".into(),
        })
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn reflection_v1_lists_services_and_serves_the_proto() {
    let h = Harness::builtin().await;
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(
        channel(h.running.grpc_addr).await,
    );
    use v1::server_reflection_request::MessageRequest;
    use v1::server_reflection_response::MessageResponse;
    let requests = vec![
        v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        },
        v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "retryd.v1.RetryCoordinator".into(),
            )),
        },
    ];
    let mut stream = client
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .expect("stream")
        .into_inner();
    let first = stream.message().await.expect("recv").expect("a response");
    let Some(MessageResponse::ListServicesResponse(list)) = first.message_response else {
        panic!("expected a service list, got {first:?}");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"retryd.v1.RetryCoordinator"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
    let second = stream.message().await.expect("recv").expect("a response");
    let Some(MessageResponse::FileDescriptorResponse(files)) = second.message_response else {
        panic!("expected file descriptors, got {second:?}");
    };
    let names: Vec<String> = files
        .file_descriptor_proto
        .iter()
        .map(|b| {
            prost_types::FileDescriptorProto::decode(b.as_slice())
                .expect("descriptor")
                .name()
                .to_string()
        })
        .collect();
    assert!(
        names.contains(&"retryd/v1/retryd.proto".to_string()),
        "{names:?}"
    );
}

#[tokio::test]
async fn reflection_v1alpha_lists_services() {
    let h = Harness::builtin().await;
    let mut client = v1alpha::server_reflection_client::ServerReflectionClient::new(
        channel(h.running.grpc_addr).await,
    );
    let req = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .expect("stream")
        .into_inner();
    let r = stream.message().await.expect("recv").expect("a response");
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        r.message_response
    else {
        panic!("expected a service list");
    };
    assert!(
        list.service
            .iter()
            .any(|s| s.name == "retryd.v1.RetryCoordinator")
    );
}

#[tokio::test]
async fn metrics_cover_every_feature_with_help_text() {
    let mut h = Harness::builtin().await;
    let c = &mut h.client;
    let mut r = failure("m1", error("Timeout", "", 0, 0));
    r.job_type = "mail".into();
    report(c, r.clone()).await;
    let mut dead = failure("m2", error("ValidationError", "", 0, 0));
    dead.job_type = "mail".into();
    report(c, dead).await;
    c.report_success(pb::ReportSuccessRequest {
        job_id: "m1".into(),
        job_type: "mail".into(),
        ..Default::default()
    })
    .await
    .expect("success");
    c.report_success(pb::ReportSuccessRequest {
        job_id: "m3".into(),
        job_type: "mail".into(),
        ..Default::default()
    })
    .await
    .expect("success");
    c.get_job(pb::GetJobRequest {
        job_id: String::new(),
    })
    .await
    .expect_err("invalid");
    // A duplicate is not counted again.
    r.job_id = "m4".into();
    r.attempt = 1;
    report(c, r.clone()).await;
    report(c, r).await;

    let text = h.scrape().await;
    let s = |name: &str, labels: &[(&str, &str)]| sample(&text, name, labels);
    assert_eq!(
        s(
            "retryd_failures_reported_total",
            &[
                ("job_type", "mail"),
                ("error_class", "transient"),
                ("category", "timeout")
            ]
        ),
        Some(2.0)
    );
    assert_eq!(
        s(
            "retryd_failures_reported_total",
            &[
                ("job_type", "mail"),
                ("error_class", "permanent"),
                ("category", "invalid_input")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        s(
            "retryd_decisions_total",
            &[
                ("job_type", "mail"),
                ("policy", "default"),
                ("action", "retry"),
                ("reason", "none")
            ]
        ),
        Some(2.0)
    );
    assert_eq!(
        s(
            "retryd_decisions_total",
            &[
                ("job_type", "mail"),
                ("policy", "default"),
                ("action", "give_up"),
                ("reason", "permanent_error")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        s(
            "retryd_successes_total",
            &[("job_type", "mail"), ("after_retry", "true")]
        ),
        Some(1.0)
    );
    assert_eq!(
        s(
            "retryd_successes_total",
            &[("job_type", "mail"), ("after_retry", "false")]
        ),
        Some(1.0)
    );
    assert_eq!(
        s("retryd_retry_delay_seconds_count", &[("policy", "default")]),
        Some(2.0)
    );
    assert_eq!(
        s("retryd_retry_delay_seconds_sum", &[("policy", "default")]),
        Some(4.0)
    );
    assert_eq!(
        s(
            "retryd_retry_delay_seconds_bucket",
            &[("policy", "default"), ("le", "1")]
        ),
        Some(0.0)
    );
    assert_eq!(
        s(
            "retryd_retry_delay_seconds_bucket",
            &[("policy", "default"), ("le", "2")]
        ),
        Some(2.0)
    );
    assert_eq!(
        s(
            "retryd_attempts_per_job_count",
            &[("job_type", "mail"), ("outcome", "succeeded")]
        ),
        Some(2.0)
    );
    assert_eq!(
        s(
            "retryd_attempts_per_job_sum",
            &[("job_type", "mail"), ("outcome", "succeeded")]
        ),
        Some(3.0)
    );
    assert_eq!(
        s(
            "retryd_attempts_per_job_count",
            &[("job_type", "mail"), ("outcome", "gave_up")]
        ),
        Some(1.0)
    );
    assert_eq!(s("retryd_jobs", &[("state", "retrying")]), Some(1.0));
    assert_eq!(s("retryd_jobs", &[("state", "dead")]), Some(1.0));
    assert_eq!(s("retryd_jobs", &[("state", "cancelled")]), Some(0.0));
    for reason in ["idle_ttl", "capacity", "dead_limit", "dead_ttl"] {
        assert_eq!(
            s("retryd_evictions_total", &[("reason", reason)]),
            Some(0.0),
            "{reason}"
        );
    }
    assert_eq!(
        s(
            "retryd_rpc_duration_seconds_count",
            &[("method", "ReportFailure"), ("code", "OK")]
        ),
        Some(4.0)
    );
    assert_eq!(
        s(
            "retryd_rpc_duration_seconds_count",
            &[("method", "GetJob"), ("code", "INVALID_ARGUMENT")]
        ),
        Some(1.0)
    );
    assert_eq!(
        s(
            "retryd_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );

    for name in [
        "retryd_failures_reported_total",
        "retryd_decisions_total",
        "retryd_successes_total",
        "retryd_retry_delay_seconds",
        "retryd_attempts_per_job",
        "retryd_jobs",
        "retryd_evictions_total",
        "retryd_rpc_duration_seconds",
        "retryd_build_info",
    ] {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "no HELP for {name}"
        );
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "no TYPE for {name}"
        );
    }
    assert!(text.contains("# TYPE retryd_retry_delay_seconds histogram"));
}

#[tokio::test]
async fn job_type_label_is_bounded() {
    let h = Harness::start("[job_types]\nconfigured = \"default\"").await;
    let mut tasks = Vec::new();
    for i in 0..150 {
        let mut c = h.client.clone();
        tasks.push(tokio::spawn(async move {
            let mut r = failure(&format!("j{i}"), error("Timeout", "", 0, 0));
            r.job_type = format!("type-{i}");
            report(&mut c, r).await;
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let mut c = h.client.clone();
    let mut r = failure("cfg", error("Timeout", "", 0, 0));
    r.job_type = "configured".into();
    report(&mut c, r).await;

    let text = h.scrape().await;
    let mut types: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("retryd_failures_reported_total{"))
        .filter_map(|l| l.split("job_type=\"").nth(1)?.split('"').next())
        .collect();
    types.sort();
    types.dedup();
    // 100 seen first, `other` for the rest, and the configured one whatever the order.
    assert_eq!(types.len(), 102, "{types:?}");
    assert!(types.contains(&"other") && types.contains(&"configured"));
    assert_eq!(
        sample(
            &text,
            "retryd_failures_reported_total",
            &[
                ("job_type", "other"),
                ("error_class", "transient"),
                ("category", "timeout")
            ]
        ),
        Some(50.0)
    );
    // GetJob still shows the caller's own job type.
    let job = c
        .get_job(pb::GetJobRequest {
            job_id: "j149".into(),
        })
        .await
        .expect("get")
        .into_inner()
        .job
        .expect("job");
    assert_eq!(job.job_type, "type-149");
}
