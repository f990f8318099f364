//! Configuration reload with the real binary: on SIGHUP, on a change of a
//! watched file (a Kubernetes ConfigMap's `..data` symlink swap), a broken
//! file ignored, settings that need a restart reported — and every job's
//! state kept throughout.

mod common;

use std::path::{Path, PathBuf};

use common::sidecar::{EPHEMERAL, Sidecar, command};
use common::*;
use retryd::pb;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("retryd-reload-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Policies `a` (and `b` when given), mail jobs under `a`.
fn policies(a_delay: u32, a_retries: u32, extra: &str) -> String {
    format!(
        "{extra}\n[policies.zeta]\nmax_retries = {a_retries}\nbackoff = {{ kind = \"constant\", delay = \"{a_delay}s\" }}\n\
         [job_types]\nmail = \"zeta\"\n"
    )
}

fn spawn(config: &Path, extra: &[&str]) -> Sidecar {
    let path = config.to_str().expect("utf-8 path");
    let mut args = vec!["--config", path];
    args.extend(extra);
    args.extend(EPHEMERAL);
    Sidecar::spawn(command(&args))
}

fn hup(s: &Sidecar) {
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &s.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(ok.success());
}

fn mail(job: &str) -> pb::ReportFailureRequest {
    pb::ReportFailureRequest {
        job_type: "mail".into(),
        ..failure(job, error("TimeoutError", "slow", 0, 0))
    }
}

async fn stop(mut s: Sidecar) {
    s.sigterm();
    let status = tokio::task::spawn_blocking(move || s.wait_exit())
        .await
        .expect("wait");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn sighup_reloads_a_valid_file_and_ignores_a_broken_one() {
    let tmp = dir("hup");
    let file = tmp.join("retryd.toml");
    std::fs::write(&file, policies(1, 1, "")).expect("write");
    let mut s = spawn(&file, &[]);
    let mut c = connect(s.grpc_addr).await;
    let first = report(&mut c, mail("a")).await;
    assert_eq!(
        (secs(&first), first.failure_count, first.max_attempts),
        (1.0, 1, 2)
    );

    // A new policy that sorts before `zeta` (its id shifts), a rule, and
    // `zeta` itself changed: all at once.
    std::fs::write(
        &file,
        policies(
            7,
            5,
            "[policies.alpha]\nmax_retries = 9\n[[rules]]\ncategory = \"quota\"\nclass = \"permanent\"\ntypes = [\"QuotaError\"]\n",
        ),
    )
    .expect("write");
    hup(&s);
    let line = s.wait_for("configuration reloaded");
    assert_eq!(line["trigger"], "SIGHUP");
    // The job kept its count and now follows the new `zeta`.
    let d = report(&mut c, mail("a")).await;
    assert_eq!((secs(&d), d.failure_count, d.max_attempts), (7.0, 2, 6));
    assert_eq!(d.policy, "zeta");
    let quota = report(
        &mut c,
        pb::ReportFailureRequest {
            job_type: "mail".into(),
            ..failure("q", error("QuotaError", "", 0, 0))
        },
    )
    .await;
    assert_eq!(quota.category, "quota");
    let job = c
        .get_job(pb::GetJobRequest { job_id: "a".into() })
        .await
        .expect("get")
        .into_inner()
        .job
        .expect("job");
    assert_eq!((job.policy.as_str(), job.failure_count), ("zeta", 2));

    // A broken file: refused, named, counted; nothing changes.
    std::fs::write(&file, "[policies.zeta]\nmax_retries = \"lots\"\n").expect("write");
    hup(&s);
    let line = s.wait_for("configuration reload refused: the running configuration is unchanged");
    let why = line["error"].as_str().unwrap_or_default().to_string();
    assert!(why.contains("policies.zeta.max_retries"), "{why}");
    let d = report(&mut c, mail("a")).await;
    assert_eq!((secs(&d), d.failure_count), (7.0, 3));
    let text = scrape(s.metrics_addr).await;
    assert_eq!(
        sample(&text, "retryd_config_reloads_total", &[("result", "ok")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "retryd_config_reloads_total", &[("result", "error")]),
        Some(1.0)
    );
    assert!(
        sample(
            &text,
            "retryd_config_last_reload_success_timestamp_seconds",
            &[]
        )
        .unwrap_or(0.0)
            > 1e9
    );

    // A setting read only at start: reported, the rest applied.
    std::fs::write(&file, policies(3, 5, "[server]\nmax_in_flight = 7\n")).expect("write");
    hup(&s);
    let line = s.wait_for(
        "configuration reloaded; these settings changed but take a restart, and keep their running values",
    );
    assert_eq!(line["restart_needed"], "server.max_in_flight");
    let d = report(&mut c, mail("a")).await;
    assert_eq!((secs(&d), d.failure_count), (3.0, 4));
    stop(s).await;
    let _ = std::fs::remove_dir_all(&tmp);
}

/// A ConfigMap volume: `retryd.toml -> ..data/retryd.toml`, `..data -> ..<timestamp>`;
/// an update writes a new timestamped directory and swaps `..data` by a rename.
#[tokio::test]
async fn a_watched_configmap_swap_is_picked_up() {
    let d = dir("watch");
    let v1 = d.join("..2026_11_24_00_00_00.1");
    std::fs::create_dir(&v1).expect("v1");
    std::fs::write(v1.join("retryd.toml"), policies(1, 3, "")).expect("write");
    std::os::unix::fs::symlink("..2026_11_24_00_00_00.1", d.join("..data")).expect("..data");
    std::os::unix::fs::symlink("..data/retryd.toml", d.join("retryd.toml")).expect("link");
    let mut s = spawn(&d.join("retryd.toml"), &["--watch-config"]);
    s.wait_for("watching the configuration file");
    let mut c = connect(s.grpc_addr).await;
    let first = report(&mut c, mail("w")).await;
    assert_eq!((secs(&first), first.failure_count), (1.0, 1));

    let v2 = d.join("..2026_11_24_00_05_00.2");
    std::fs::create_dir(&v2).expect("v2");
    std::fs::write(v2.join("retryd.toml"), policies(9, 3, "")).expect("write");
    std::os::unix::fs::symlink("..2026_11_24_00_05_00.2", d.join("..data_tmp")).expect("tmp");
    std::fs::rename(d.join("..data_tmp"), d.join("..data")).expect("swap");
    std::fs::remove_dir_all(&v1).expect("old version removed");

    let line = s.wait_for("configuration reloaded");
    assert_eq!(line["trigger"], "file changed");
    let d2 = report(&mut c, mail("w")).await;
    assert_eq!((secs(&d2), d2.failure_count), (9.0, 2));
    stop(s).await;
    let _ = std::fs::remove_dir_all(&d);
}

/// Reloads racing with reports: every report is counted exactly once, each
/// decision names a policy of the configuration it was decided under, and
/// the budgets keep their state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_racing_reloads_are_each_counted_once() {
    let a = "[policies.zeta]\nmax_retries = 100\nbackoff = { kind = \"constant\", delay = \"1s\" }\n\
             [job_types]\nmail = \"zeta\"\n[budgets.s3]\nmax_tokens = 10000\n";
    let b = "[policies.alpha]\nmax_retries = 100\n[policies.beta]\nmax_retries = 100\n\
             [policies.zeta]\nmax_retries = 100\nbackoff = { kind = \"constant\", delay = \"2s\" }\n\
             [job_types]\nmail = \"zeta\"\n[budgets.s3]\nmax_tokens = 10000\n\
             [[rules]]\ncategory = \"quota\"\nclass = \"transient\"\ntypes = [\"QuotaError\"]\n";
    let h = Harness::start(a).await;
    let configs = [
        retryd::config::Config::from_toml(a).expect("a"),
        retryd::config::Config::from_toml(b).expect("b"),
    ];
    let app = h.running.app.clone();
    let reloads = tokio::task::spawn_blocking(move || {
        for i in 0..40 {
            app.apply(&configs[i % 2]);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    });
    let mut tasks = Vec::new();
    for w in 0..4 {
        let mut c = h.client.clone();
        tasks.push(tokio::spawn(async move {
            for round in 1..=5u32 {
                for j in 0..40 {
                    let d = report(
                        &mut c,
                        pb::ReportFailureRequest {
                            target: "s3".into(),
                            attempt: round,
                            ..mail(&format!("r{w}-{j}"))
                        },
                    )
                    .await;
                    assert_eq!(d.failure_count, round);
                    assert_eq!(d.policy, "zeta");
                    assert!([1.0, 2.0].contains(&secs(&d)), "{}", secs(&d));
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("reporter");
    }
    reloads.await.expect("reloads");
    let mut c = h.client.clone();
    assert_eq!(stats_total(&mut c).await.retrying, 160);
    let budgets = budgets(&mut c).await;
    let s3 = budgets.iter().find(|b| b.target == "s3").expect("s3");
    // 800 failures spent 800 tokens, and 160 jobs wait in backoff, across
    // 40 reloads.
    assert_eq!((s3.tokens, s3.retrying), (9200.0, 160));
    h.running.stop().await.expect("stops");
}

/// Fleet mode: a reload swaps the budgets a sidecar applies; their state
/// stays in Redis, by target name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_in_fleet_mode_brings_new_budgets() {
    let redis = common::redis::RedisServer::start();
    let state = format!(
        "[state]\nbackend = \"redis\"\n[state.redis]\nurl = \"{}\"\nkey_prefix = \"rl\"\n",
        redis.url()
    );
    let before = format!("{state}[policies.default]\nmax_retries = 5\n");
    let after = format!("{before}[budgets.s3]\nmax_tokens = 50\n");
    let mut h = Harness::start(&before).await;
    let on_s3 = |job: &str| pb::ReportFailureRequest {
        target: "s3".into(),
        ..failure(job, error("TimeoutError", "", 0, 0))
    };
    report(&mut h.client, on_s3("x1")).await;
    assert!(budgets(&mut h.client).await.is_empty());
    let generation = h
        .running
        .app
        .apply(&retryd::config::Config::from_toml(&after).expect("after"));
    assert_eq!(generation, 1);
    for i in 0..3 {
        report(&mut h.client, on_s3(&format!("y{i}"))).await;
    }
    let budgets = budgets(&mut h.client).await;
    let s3 = budgets
        .iter()
        .find(|b| b.target == "s3")
        .expect("s3 budgeted now");
    assert_eq!((s3.max_tokens, s3.tokens), (50, 47.0));
    // The job reported before keeps its count.
    let d = report(&mut h.client, on_s3("x1")).await;
    assert_eq!(d.failure_count, 2);
    h.running.stop().await.expect("stops");
}
