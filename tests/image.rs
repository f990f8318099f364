//! The container image: `deploy/image/build` makes it with buildah from
//! scratch (no base image pulled), and podman runs it the way the
//! Kubernetes manifests do (uid 65532, read-only root file system, no
//! capabilities): health answers SERVING, a failure gets a decision,
//! metrics are scraped, and SIGTERM stops it cleanly.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::redis::free_port;
use common::*;
use retryd::pb;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} cannot run ({e}): apt-get install buildah podman runc")
        })
}

fn ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// podman as this machine lets it run containers: runc, since crun
/// refuses a cgroup v1 hierarchy with a controller left on cgroup v2
/// ("hybrid mode"); and limits within the machine's own, since a
/// container runtime without CAP_SYS_RESOURCE cannot raise them to
/// podman's defaults.
const PODMAN_RUN: &[&str] = &[
    "--runtime",
    "runc",
    "run",
    "--ulimit",
    "nofile=8192:8192",
    "--ulimit",
    "nproc=4096:4096",
];

/// The image and the container this test made, removed however it ends.
struct Made {
    tag: String,
    container: String,
    dir: PathBuf,
}

impl Drop for Made {
    fn drop(&mut self) {
        let _ = run("podman", &["rm", "--force", "--time", "0", &self.container]);
        let _ = run("podman", &["rmi", "--force", &self.tag]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_built_from_scratch_serves_under_podman() {
    let id = std::process::id();
    let made = Made {
        tag: format!("localhost/retryd-image-test:{id}"),
        container: format!("retryd-image-test-{id}"),
        dir: std::env::temp_dir().join(format!("retryd-image-test-{id}")),
    };
    std::fs::create_dir_all(&made.dir).expect("temp dir");
    let archive: PathBuf = made.dir.join("retryd.tar");
    let archive_s = archive.to_str().expect("utf-8 path");

    // Built from the binary cargo test built; the script strips it.
    let build = root().join("deploy/image/build");
    let printed = ok(
        build.to_str().expect("utf-8 path"),
        &[
            "--binary",
            env!("CARGO_BIN_EXE_retryd"),
            "--tag",
            &made.tag,
            "--archive",
            archive_s,
        ],
    );
    assert_eq!(printed.lines().last(), Some(made.tag.as_str()));

    // The image is what the manifests expect of it.
    let config = ok(
        "podman",
        &[
            "image",
            "inspect",
            "--format",
            "{{.Config.User}}|{{json .Config.Entrypoint}}|{{json .Config.ExposedPorts}}",
            &made.tag,
        ],
    );
    let parts: Vec<&str> = config.splitn(3, '|').collect();
    assert_eq!(parts[0], "65532:65532", "{config}");
    assert_eq!(parts[1], r#"["/usr/local/bin/retryd"]"#, "{config}");
    for port in ["50051/tcp", "50052/tcp", "9464/tcp"] {
        assert!(parts[2].contains(port), "{port} not exposed: {config}");
    }
    // One layer, no base: the file system is only what the script put in.
    let layers = ok(
        "podman",
        &[
            "image",
            "inspect",
            "--format",
            "{{len .RootFS.Layers}}",
            &made.tag,
        ],
    );
    assert_eq!(layers, "1");
    // The archive is an OCI layout a registry tool or a cluster can load.
    let listing = ok("tar", &["-tf", archive_s]);
    assert!(
        listing.lines().any(|l| l == "index.json") && listing.contains("blobs/sha256/"),
        "{listing}"
    );

    // Run as in the manifests: non-root, read-only, no capabilities; the
    // gRPC API published on loopback (inside, it listens on every address
    // of the container's own network).
    let (grpc, health, metrics) = (free_port(), free_port(), free_port());
    let publish = |host: u16, inside: u16| format!("127.0.0.1:{host}:{inside}");
    let mut args: Vec<String> = PODMAN_RUN.iter().map(|s| s.to_string()).collect();
    args.extend(
        [
            "--detach",
            "--name",
            &made.container,
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--publish",
            &publish(grpc, 50051),
            "--publish",
            &publish(health, 50052),
            "--publish",
            &publish(metrics, 9464),
            &made.tag,
            "--grpc-addr",
            "0.0.0.0:50051",
            "--health-addr",
            "0.0.0.0:50052",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok("podman", &args);

    let at = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let logs = || ok("podman", &["logs", &made.container]);

    // Health: SERVING for the coordinator, on the health port.
    let started = Instant::now();
    loop {
        let answer = async {
            let ch = tonic::transport::Endpoint::from_shared(format!("http://{}", at(health)))
                .ok()?
                .connect_timeout(Duration::from_secs(1))
                .connect()
                .await
                .ok()?;
            HealthClient::new(ch)
                .check(HealthCheckRequest {
                    service: "retryd.v1.RetryCoordinator".into(),
                })
                .await
                .ok()
        };
        if let Some(r) = answer.await {
            assert_eq!(r.into_inner().status, ServingStatus::Serving as i32);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no SERVING health answer in 30 s; container logs:\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A decision through the published gRPC port.
    let mut client = connect(at(grpc)).await;
    let d = report(
        &mut client,
        failure("image-job-1", error("TimeoutError", "read timed out", 0, 0)),
    )
    .await;
    assert_eq!(d.action, pb::Action::Retry as i32, "{d:?}");
    assert_eq!(d.failure_count, 1);
    let d = report(
        &mut client,
        failure("image-job-2", error("ValidationError", "bad input", 0, 0)),
    )
    .await;
    assert_eq!(d.action, pb::Action::GiveUp as i32, "{d:?}");

    // Metrics, with what was just decided.
    let text = scrape(at(metrics)).await;
    assert!(text.contains("retryd_failures_reported_total"), "{text}");

    // SIGTERM (podman stop) drains and exits 0 well within the grace.
    let stopped = Instant::now();
    ok("podman", &["stop", "--time", "20", &made.container]);
    assert!(
        stopped.elapsed() < Duration::from_secs(15),
        "stop took {:?}",
        stopped.elapsed()
    );
    let code = ok(
        "podman",
        &[
            "inspect",
            "--format",
            "{{.State.ExitCode}}",
            &made.container,
        ],
    );
    assert_eq!(code, "0", "logs:\n{}", logs());
    assert!(logs().contains("stopped"), "{}", logs());
}
