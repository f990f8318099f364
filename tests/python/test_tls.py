"""A Python grpcio client (BoringSSL) over TLS and mutual TLS to a retryd
serving rustls, with stubs generated from proto/ as test_worked_examples does.

    RETRYD_ADDR=127.0.0.1:50051 RETRYD_TLS_DIR=dir python tests/python/test_tls.py

The directory holds ca.pem, client.pem and client.key; the sidecar serves a
certificate for localhost signed by ca.pem and requires client certificates
signed by it (tests/tls.rs makes all of them).
"""

import os
import sys
import unittest
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_worked_examples  # noqa: E402,F401  (generates the stubs)
from retryd.v1 import retryd_pb2 as pb  # noqa: E402
from retryd.v1 import retryd_pb2_grpc as pb_grpc  # noqa: E402

ADDR = os.environ.get("RETRYD_ADDR", "127.0.0.1:50051")
DIR = Path(os.environ["RETRYD_TLS_DIR"])
# The address is an IP; the certificate names localhost.
OPTIONS = [("grpc.ssl_target_name_override", "localhost")]


def read(name):
    return (DIR / name).read_bytes()


class Tls(unittest.TestCase):
    def test_mutual_tls_gets_decisions(self):
        creds = grpc.ssl_channel_credentials(
            root_certificates=read("ca.pem"),
            private_key=read("client.key"),
            certificate_chain=read("client.pem"),
        )
        with grpc.secure_channel(ADDR, creds, options=OPTIONS) as channel:
            stub = pb_grpc.RetryCoordinatorStub(channel)
            request = pb.ReportFailureRequest(
                job_id="python-tls", error=pb.ErrorInfo(type="TimeoutError", message="read timed out")
            )
            first = stub.ReportFailure(request, timeout=10).decision
            second = stub.ReportFailure(request, timeout=10).decision
            self.assertEqual(first.action, pb.ACTION_RETRY)
            self.assertEqual((first.failure_count, second.failure_count), (1, 2))
            self.assertEqual(first.category, "timeout")

    def test_no_client_certificate_no_answer(self):
        creds = grpc.ssl_channel_credentials(root_certificates=read("ca.pem"))
        with grpc.secure_channel(ADDR, creds, options=OPTIONS) as channel:
            stub = pb_grpc.RetryCoordinatorStub(channel)
            with self.assertRaises(grpc.RpcError) as e:
                stub.GetStats(pb.GetStatsRequest(), timeout=5)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)

    def test_plaintext_no_answer(self):
        with grpc.insecure_channel(ADDR) as channel:
            stub = pb_grpc.RetryCoordinatorStub(channel)
            with self.assertRaises(grpc.RpcError) as e:
                stub.GetStats(pb.GetStatsRequest(), timeout=5)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)


if __name__ == "__main__":
    unittest.main(verbosity=2)
