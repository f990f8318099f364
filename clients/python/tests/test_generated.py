"""The gRPC code shipped in retryd/v1 is what proto/ generates today."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

SHIPPED = ROOT / "clients/python/src/retryd/v1"
FILES = ["retryd_pb2.py", "retryd_pb2.pyi", "retryd_pb2_grpc.py"]


def test_shipped_generated_code_matches_the_proto(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", str(ROOT / "proto"),
         f"--python_out={tmp_path}", f"--pyi_out={tmp_path}", f"--grpc_python_out={tmp_path}",
         str(ROOT / "proto/retryd/v1/retryd.proto")],
        check=True,
    )
    stale = [f for f in FILES if not filecmp.cmp(tmp_path / "retryd/v1" / f, SHIPPED / f, shallow=False)]
    assert not stale, f"{stale} differ from proto/: run clients/python/generate"


def test_the_installed_package_carries_the_generated_code() -> None:
    import retryd.v1.retryd_pb2 as pb
    import retryd.v1.retryd_pb2_grpc as pb_grpc

    assert pb.DESCRIPTOR.package == "retryd.v1"
    assert hasattr(pb_grpc, "RetryCoordinatorStub")
    assert (Path(pb.__file__).parent / "retryd_pb2.pyi").exists()
    assert (Path(pb.__file__).parent.parent / "py.typed").exists()
