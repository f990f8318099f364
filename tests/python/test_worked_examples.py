"""The worked examples of docs/decisions.md, asked of a live retryd by a Python
grpcio client whose stubs are generated from proto/ here and now.

Run against a sidecar started with examples/retryd.toml:
    RETRYD_ADDR=127.0.0.1:50051 python tests/python/test_worked_examples.py
"""

import importlib.resources
import os
import sys
import tempfile
import unittest
from pathlib import Path

import grpc
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]
ADDR = os.environ.get("RETRYD_ADDR", "127.0.0.1:50051")


def generate_stubs():
    out = tempfile.mkdtemp(prefix="retryd-stubs-")
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    rc = protoc.main([
        "grpc_tools.protoc",
        f"-I{ROOT / 'proto'}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        "retryd/v1/retryd.proto",
    ])
    if rc != 0:
        raise RuntimeError(f"protoc failed with {rc}")
    sys.path.insert(0, out)


generate_stubs()
from retryd.v1 import retryd_pb2 as pb  # noqa: E402
from retryd.v1 import retryd_pb2_grpc as pb_grpc  # noqa: E402


def seconds(duration):
    return duration.seconds + duration.nanos / 1e9


class WorkedExamples(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.channel = grpc.insecure_channel(ADDR)
        grpc.channel_ready_future(cls.channel).result(timeout=10)
        cls.stub = pb_grpc.RetryCoordinatorStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()

    def fail(self, job_id, error_type="ConnectionError", **kw):
        req = pb.ReportFailureRequest(
            job_id=job_id, error=pb.ErrorInfo(type=error_type, message=kw.pop("message", "")), **kw)
        return self.stub.ReportFailure(req, timeout=5).decision

    def test_schedule_60_300_900_then_give_up(self):
        for want in (60, 300, 900):
            d = self.fail("py-doc-1", job_type="chunking")
            self.assertEqual(d.action, pb.ACTION_RETRY)
            self.assertEqual(seconds(d.retry_after), want)
            self.assertEqual(d.policy, "pipeline")
        d = self.fail("py-doc-1", job_type="chunking")
        self.assertEqual(d.action, pb.ACTION_GIVE_UP)
        self.assertEqual(d.reason, pb.GIVE_UP_REASON_RETRIES_EXHAUSTED)
        self.assertEqual((d.failure_count, d.max_attempts), (4, 4))

    def test_exponential_30_120_480_then_give_up(self):
        for want in (30, 120, 480):
            d = self.fail("py-x-1", "requests.exceptions.ConnectionError", policy="extraction_exact")
            self.assertEqual(seconds(d.retry_after), want)
        d = self.fail("py-x-1", policy="extraction_exact")
        self.assertEqual(d.reason, pb.GIVE_UP_REASON_RETRIES_EXHAUSTED)

    def test_proportional_jitter_stays_within_d_and_1_25_d(self):
        for job in range(10):
            for base in (30, 120, 480):
                d = self.fail(f"py-jitter-{job}", "TimeoutError", job_type="extraction")
                got = seconds(d.retry_after)
                self.assertTrue(base <= got <= base * 1.25, f"{got} not in [{base}, {base * 1.25}]")

    def test_max_attempts_3_is_max_retries_2(self):
        actions = [self.fail("py-m-1", "Timeout", policy="three_attempts").action for _ in range(3)]
        self.assertEqual(actions, [pb.ACTION_RETRY, pb.ACTION_RETRY, pb.ACTION_GIVE_UP])

    def test_permanent_error_and_success(self):
        d = self.fail("py-perm", "ValidationError")
        self.assertEqual((d.action, d.reason), (pb.ACTION_GIVE_UP, pb.GIVE_UP_REASON_PERMANENT_ERROR))
        self.assertEqual(d.error_class, pb.ERROR_CLASS_PERMANENT)
        self.fail("py-ok", "Timeout")
        r = self.stub.ReportSuccess(pb.ReportSuccessRequest(job_id="py-ok"))
        self.assertEqual((r.known, r.failures_before_success), (True, 1))

    def test_bad_input_is_invalid_argument_with_details(self):
        with self.assertRaises(grpc.RpcError) as caught:
            self.stub.ReportFailure(pb.ReportFailureRequest(job_id=""))
        err = caught.exception
        self.assertEqual(err.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("job_id", err.details())
        keys = [k for k, _ in err.trailing_metadata()]
        self.assertIn("grpc-status-details-bin", keys)

    def test_health_and_reflection(self):
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
            ProtoReflectionDescriptorDatabase,
        )

        health = health_pb2_grpc.HealthStub(self.channel)
        status = health.Check(health_pb2.HealthCheckRequest(service="retryd.v1.RetryCoordinator")).status
        self.assertEqual(status, health_pb2.HealthCheckResponse.SERVING)
        services = ProtoReflectionDescriptorDatabase(self.channel).get_services()
        self.assertIn("retryd.v1.RetryCoordinator", services)


if __name__ == "__main__":
    unittest.main(verbosity=2)
