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


FLEET = K8S / "fleet"


def docs(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def fleet_doc(kind, name):
    for path in sorted(FLEET.glob("*.yaml")):
        for d in docs(path):
            if d.get("kind") == kind and d["metadata"]["name"] == name:
                return d
    raise AssertionError(f"no {kind} {name} in {FLEET}")


def check_config(text):
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(text)
    return subprocess.run([os.environ["RETRYD_BIN"], "check-config", f.name], capture_output=True, text=True)


class FleetManifests(unittest.TestCase):
    """deploy/k8s/fleet: workers with sidecars, and a central retryd, on one Valkey."""

    def setUp(self):
        self.config_text = fleet_doc("ConfigMap", "retryd-fleet-config")["data"]["retryd.toml"]
        self.config = tomllib.loads(self.config_text)
        self.secret = fleet_doc("Secret", "retryd-redis")["stringData"]

    def test_schemas_strict_and_kustomization_complete(self):
        for version in VERSIONS:
            for path in sorted(FLEET.glob("*.yaml")):
                for doc in docs(path):
                    if doc.get("kind") == "Kustomization":
                        continue
                    kubernetes_validate.validate(doc, version, strict=True)
        listed = set(yaml.safe_load((FLEET / "kustomization.yaml").read_text())["resources"])
        files = {p.name for p in FLEET.glob("*.yaml")} - {"kustomization.yaml"}
        self.assertEqual(listed, files)

    def test_config_and_the_secrets_url_pass_check_config(self):
        self.assertEqual(self.config["state"]["backend"], "redis")
        out = check_config(self.config_text)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("backend: redis", out.stdout)
        # The URL retryd gets from the Secret, as if it were in the file.
        with_url = self.config_text.replace("[state.redis]\n", f'[state.redis]\nurl = "{self.secret["url"]}"\n')
        out = check_config(with_url)
        self.assertEqual(out.returncode, 0, out.stderr)

    def retryd_env(self, container):
        return {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container.get("env", []) if "valueFrom" in e}

    def test_every_retryd_gets_the_url_from_the_secret(self):
        workers = fleet_doc("Deployment", "fleet-worker")["spec"]["template"]["spec"]
        central = fleet_doc("Deployment", "retryd")["spec"]["template"]["spec"]
        sidecar = next(c for c in workers["initContainers"] if c["name"] == "retryd")
        server = next(c for c in central["containers"] if c["name"] == "retryd")
        for c in (sidecar, server):
            ref = self.retryd_env(c)["RETRYD_REDIS_URL"]
            self.assertEqual(ref["name"], "retryd-redis")
            self.assertIn(ref["key"], self.secret)
            volume = next(v for v in (workers if c is sidecar else central)["volumes"] if v["name"] == c["volumeMounts"][0]["name"])
            self.assertEqual(volume["configMap"]["name"], "retryd-fleet-config")
        self.assertEqual(fleet_doc("Deployment", "fleet-worker")["spec"]["replicas"], 3)

    def test_workers_ask_their_own_sidecar_and_probes_use_the_health_port(self):
        pod = fleet_doc("Deployment", "fleet-worker")["spec"]["template"]["spec"]
        sidecar = next(c for c in pod["initContainers"] if c["name"] == "retryd")
        self.assertEqual(sidecar["restartPolicy"], "Always")
        health = int(self.config["server"]["health_addr"].rsplit(":", 1)[1])
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            self.assertEqual(sidecar[probe]["grpc"]["port"], health, probe)
        app = next(c for c in pod["containers"] if c["name"] == "app")
        env = {e["name"]: e.get("value") for e in app["env"]}
        self.assertEqual(env["RETRYD_ADDR"], self.config["server"]["grpc_addr"])

    def test_the_central_service_reaches_retryds_grpc_port(self):
        service = fleet_doc("Service", "retryd")
        pod = fleet_doc("Deployment", "retryd")["spec"]["template"]["spec"]
        server = next(c for c in pod["containers"] if c["name"] == "retryd")
        args = server["args"]
        grpc_port = int(args[args.index("--grpc-addr") + 1].rsplit(":", 1)[1])
        port = service["spec"]["ports"][0]
        named = {p["name"]: p["containerPort"] for p in server["ports"]}
        self.assertEqual(named[port["targetPort"]], grpc_port)
        self.assertTrue(args[args.index("--grpc-addr") + 1].startswith("0.0.0.0:"))
        self.assertEqual(self.retryd_env(server)["RETRYD_ADMIN_TOKEN"]["name"], "retryd-admin")
        worker = fleet_doc("Deployment", "central-worker")["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in worker["env"]}
        self.assertEqual(env["RETRYD_ADDR"], f'{service["metadata"]["name"]}:{port["port"]}')

    def test_valkey_acl_covers_the_fleets_keys(self):
        valkey = fleet_doc("StatefulSet", "retryd-valkey")["spec"]["template"]["spec"]["containers"][0]
        args = valkey["args"]
        prefix = self.config["state"]["redis"]["key_prefix"]
        self.assertIn(f"~{prefix}:*", args)
        user = args[args.index("retryd") - 1 : args.index("retryd") + 1]
        self.assertEqual(user, ["--user", "retryd"])
        self.assertIn("retryd:", self.secret["url"])
        host = self.secret["url"].rsplit("@", 1)[1].split(":")[0]
        self.assertEqual(host, fleet_doc("Service", "retryd-valkey")["metadata"]["name"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
