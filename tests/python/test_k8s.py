"""deploy/k8s/ checked offline: the manifests against Kubernetes' own schemas
(kubernetes-validate, strict), and against each other and retryd.

    RETRYD_BIN=target/debug/retryd python tests/python/test_k8s.py
"""

import os
import subprocess
import tempfile
import tomllib
import unittest
from pathlib import Path

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
MANIFESTS = [K8S / "configmap.yaml", K8S / "deployment.yaml"]
# Native sidecars need 1.29; check the oldest and the newest schema bundled.
VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]


def load(name):
    return yaml.safe_load((K8S / name).read_text())


class Manifests(unittest.TestCase):
    def test_schemas_strict(self):
        for version in VERSIONS:
            for path in MANIFESTS:
                for doc in yaml.safe_load_all(path.read_text()):
                    kubernetes_validate.validate(doc, version, strict=True)

    def setUp(self):
        self.config_text = load("configmap.yaml")["data"]["retryd.toml"]
        self.config = tomllib.loads(self.config_text)
        self.pod = load("deployment.yaml")["spec"]["template"]
        self.sidecar = next(c for c in self.pod["spec"]["initContainers"] if c["name"] == "retryd")

    def test_embedded_config_passes_check_config(self):
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write(self.config_text)
        out = subprocess.run([os.environ["RETRYD_BIN"], "check-config", f.name], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)

    def test_native_sidecar_with_grpc_probes_on_the_health_port(self):
        self.assertEqual(self.sidecar["restartPolicy"], "Always")
        health_port = int(self.config["server"]["health_addr"].rsplit(":", 1)[1])
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            self.assertEqual(self.sidecar[probe]["grpc"]["port"], health_port, probe)
        # The API itself stays on the pod's loopback.
        self.assertTrue(self.config["server"]["grpc_addr"].startswith("127.0.0.1:"))
        app = next(c for c in self.pod["spec"]["containers"] if c["name"] == "app")
        env = {e["name"]: e["value"] for e in app["env"]}
        self.assertEqual(env["RETRYD_ADDR"], self.config["server"]["grpc_addr"])

    def test_prometheus_annotations_match_the_metrics_port(self):
        ann = self.pod["metadata"]["annotations"]
        metrics_port = self.config["server"]["metrics_addr"].rsplit(":", 1)[1]
        self.assertEqual(ann["prometheus.io/scrape"], "true")
        self.assertEqual(ann["prometheus.io/port"], metrics_port)
        self.assertEqual(ann["prometheus.io/path"], "/metrics")
        ports = {p["containerPort"] for p in self.sidecar["ports"]}
        self.assertIn(int(metrics_port), ports)

    def test_locked_down_and_sized(self):
        sc = self.sidecar["securityContext"]
        self.assertTrue(sc["readOnlyRootFilesystem"])
        self.assertFalse(sc["allowPrivilegeEscalation"])
        self.assertGreater(sc["runAsUser"], 0)
        self.assertTrue(self.pod["spec"]["securityContext"]["runAsNonRoot"])
        res = self.sidecar["resources"]
        for kind in ("requests", "limits"):
            self.assertIn("memory", res[kind])
            self.assertIn("cpu", res[kind])
        mount = self.sidecar["volumeMounts"][0]
        self.assertTrue(mount["readOnly"])
        self.assertIn(mount["mountPath"], self.sidecar["args"][1])

    def test_snapshot_goes_to_a_writable_volume(self):
        # The root filesystem is read-only: the snapshot's directory must be a
        # writable mount of a volume the pod declares.
        directory = str(Path(self.config["state"]["snapshot_path"]).parent)
        mount = next(m for m in self.sidecar["volumeMounts"] if m["mountPath"] == directory)
        self.assertFalse(mount.get("readOnly", False))
        volume = next(v for v in self.pod["spec"]["volumes"] if v["name"] == mount["name"])
        self.assertIn("emptyDir", volume)


if __name__ == "__main__":
    unittest.main(verbosity=2)
