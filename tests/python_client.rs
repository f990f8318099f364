//! A Python grpcio client, with stubs generated from `proto/`, gets the
//! worked examples of DESIGN.md section 3 from a live server configured with
//! `examples/retryd.toml`.
//!
//! The interpreter is `$RETRYD_PYTHON` (set by `scripts/test`, which installs
//! `tests/python/requirements.txt` in a virtualenv), else `python3`.

mod common;

use std::path::Path;
use std::process::Command;

use common::Harness;
use retryd::config::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpcio_client_gets_the_worked_examples() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        Config::load(&root.join("examples/retryd.toml")).expect("examples/retryd.toml is valid");
    let h = Harness::with_config(config).await;
    let python = std::env::var("RETRYD_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = root.join("tests/python/test_worked_examples.py");
    let addr = h.running.grpc_addr.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(script)
            .env("RETRYD_ADDR", addr)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {python}: {e}"))
    })
    .await
    .expect("python task");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError: No module named 'grpc"),
        "grpcio is not installed for this interpreter: run ./scripts/test, or pip install -r tests/python/requirements.txt\n{stderr}"
    );
    assert!(out.status.success(), "python client failed:\n{stderr}");
    assert!(stderr.contains("Ran 7 tests"), "{stderr}");
}
