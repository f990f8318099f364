//! TLS on the gRPC port (`[server] tls_cert` / `tls_key`, optionally
//! `tls_client_ca`): certificates from a throwaway CA made with rcgen.

mod common;

use common::pki::Pki;
use common::sidecar::*;
use common::*;
use retryd::config::Config;
use retryd::pb::retry_coordinator_client::RetryCoordinatorClient;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

async fn tls_client(
    addr: std::net::SocketAddr,
    pki: &Pki,
    with_cert: bool,
) -> Result<Client, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(pki.read("ca.pem")))
        .domain_name("localhost");
    if with_cert {
        tls = tls.identity(Identity::from_pem(
            pki.read("client.pem"),
            pki.read("client.key"),
        ));
    }
    let channel = Endpoint::from_shared(format!("https://{addr}"))
        .expect("url")
        .tls_config(tls)?
        .connect()
        .await?;
    Ok(RetryCoordinatorClient::new(channel))
}

#[tokio::test]
async fn with_a_certificate_the_grpc_port_speaks_only_tls() {
    let pki = Pki::new("server");
    let h = Harness::with_config(Config::from_toml(&pki.config(false)).expect("config")).await;
    let mut c = tls_client(h.running.grpc_addr, &pki, false)
        .await
        .expect("TLS connection");
    let d = report(&mut c, failure("tls-job", error("Timeout", "", 0, 0))).await;
    assert_eq!(d.failure_count, 1);

    // A plaintext client gets no answer.
    let plain = RetryCoordinatorClient::connect(format!("http://{}", h.running.grpc_addr)).await;
    if let Ok(mut plain) = plain {
        plain
            .get_job(retryd::pb::GetJobRequest {
                job_id: "tls-job".into(),
            })
            .await
            .expect_err("plaintext is refused");
    }
    h.running.stop().await.expect("stop");
}

#[tokio::test]
async fn with_a_client_ca_a_client_needs_a_certificate_it_signed() {
    let pki = Pki::new("mutual");
    let h = Harness::with_config(Config::from_toml(&pki.config(true)).expect("config")).await;
    let mut c = tls_client(h.running.grpc_addr, &pki, true)
        .await
        .expect("mutual TLS connection");
    report(&mut c, failure("mtls-job", error("Timeout", "", 0, 0))).await;

    let anonymous = tls_client(h.running.grpc_addr, &pki, false).await;
    if let Ok(mut anonymous) = anonymous {
        anonymous
            .get_job(retryd::pb::GetJobRequest {
                job_id: "mtls-job".into(),
            })
            .await
            .expect_err("no client certificate, no answer");
    }
    h.running.stop().await.expect("stop");
}

#[tokio::test]
async fn missing_or_bad_pem_files_stop_the_start_and_are_named() {
    let pki = Pki::new("bad");
    let missing = pki.path("nope.pem");
    let err = start_err(
        Config::from_toml(&format!(
            "[server]\ntls_cert = {:?}\ntls_key = {:?}\n",
            missing.display().to_string(),
            pki.path("server.key").display().to_string()
        ))
        .expect("config parses"),
    )
    .await;
    assert!(err.contains(&missing.display().to_string()), "{err}");

    let junk = pki.path("junk.pem");
    std::fs::write(&junk, "not a certificate").expect("write");
    let err = start_err(
        Config::from_toml(&format!(
            "[server]\ntls_cert = {:?}\ntls_key = {:?}\n",
            junk.display().to_string(),
            junk.display().to_string()
        ))
        .expect("config parses"),
    )
    .await;
    assert!(err.contains("TLS"), "{err}");

    let e = Config::from_toml("[server]\ntls_cert = \"c.pem\"\n").expect_err("no key");
    assert!(e.to_string().contains("server.tls_key"), "{e}");
    let e = Config::from_toml("[server]\ntls_client_ca = \"ca.pem\"\n").expect_err("no cert");
    assert!(e.to_string().contains("server.tls_client_ca"), "{e}");
}

fn cli(args: &[&str]) -> std::process::Output {
    command(args).output().expect("run the CLI")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_tls_from_flags_and_the_cli_connects_with_tls_ca() {
    let pki = Pki::new("binary");
    let cert = pki.path("server.pem").display().to_string();
    let key = pki.path("server.key").display().to_string();
    let mut args = EPHEMERAL.to_vec();
    args.extend(["--tls-cert", &cert, "--tls-key", &key]);
    let sidecar = Sidecar::spawn(command(&args));
    let addr = sidecar.grpc_addr;
    let mut c = tls_client(addr, &pki, false).await.expect("TLS");
    report(&mut c, failure("cli-job", error("Timeout", "", 0, 0))).await;

    let ca = pki.path("ca.pem").display().to_string();
    let url = format!("https://localhost:{}", addr.port());
    let out = cli(&["jobs", "get", "cli-job", "--addr", &url, "--tls-ca", &ca]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("cli-job"));

    // Without the CA: one line, exit 1.
    let out = cli(&["stats", "--addr", &url]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--tls-ca"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    // A key without a certificate is refused, naming the flag.
    let out = command(&["--tls-key", &key]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--tls-cert"), "{stderr}");
}

/// The interop that matters to polyglot users: grpcio's TLS (BoringSSL)
/// against retryd's (rustls), with and without a client certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_grpcio_client_speaks_mutual_tls_with_retryd() {
    let pki = Pki::new("python");
    let h = Harness::with_config(Config::from_toml(&pki.config(true)).expect("config")).await;
    let out = run_python(
        "test_tls.py",
        vec![
            ("RETRYD_ADDR", h.running.grpc_addr.to_string()),
            ("RETRYD_TLS_DIR", pki.dir.display().to_string()),
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python TLS client failed:\n{stderr}");
    assert!(stderr.contains("Ran 3 tests"), "{stderr}");
    h.running.stop().await.expect("stop");
}
