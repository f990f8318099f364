//! deploy/k8s/: strict schema validation (kubernetes-validate) and
//! consistency with retryd, by tests/python/test_k8s.py.

use std::path::Path;
use std::process::Command;

#[test]
fn kubernetes_manifests_validate_and_agree_with_retryd() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var("RETRYD_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg(root.join("tests/python/test_k8s.py"))
        .env("RETRYD_BIN", env!("CARGO_BIN_EXE_retryd"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'kubernetes_validate'"),
        "kubernetes-validate is not installed: run ./scripts/test, or pip install -r tests/python/requirements.txt"
    );
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Ran 12 tests"), "{stderr}");
}
