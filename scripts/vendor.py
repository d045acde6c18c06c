"""Fetch the browser runtimes of `client` and `p2p` play into gymkube/static/vendor, pinned and checked.

    python scripts/vendor.py          # what is missing; quiet when everything is there

Pyodide and onnxruntime-web are ~28 MB of files that change only with their pinned versions, so they
are fetched at build time (`npm pack`, then the tarball's sha512 checked against the pin) instead of
living in git. Only the files a browser loads are kept. micropip comes from PyPI (sha256 pinned):
the npm package of Pyodide ships no wheels.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "gymkube" / "static" / "vendor"


@dataclass(frozen=True)
class NpmPin:
    name: str
    version: str
    integrity: str  # the registry's dist.integrity
    files: tuple[str, ...]  # paths inside the package (under `package/`)
    license: str = "package.json"  # names the license (neither package ships a LICENSE file)

    @property
    def target(self) -> Path:
        return VENDOR / f"{self.name}-{self.version}"


NPM = (
    NpmPin(
        "pyodide",
        "314.0.7",
        "sha512-0YvXxEhfEdpLfb/XkM2BFAeMROq0iMUX2bzzH9pOttyMcWkwq+HbE5uyuGD82LN7y2q+SNvi/6V5JEsOlD2R1A==",
        ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json"),
    ),
    NpmPin(
        "onnxruntime-web",
        "1.30.0",
        "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ==",
        ("dist/ort.wasm.min.mjs", "dist/ort-wasm-simd-threaded.mjs", "dist/ort-wasm-simd-threaded.wasm"),
    ),
)

MICROPIP = ("micropip", "0.11.1", "768de165adb8e66906039d8fec4127a57f522dfdf8e6fbff877a4616941ecfd3")
"""(name, version, sha256 of the PyPI wheel); loaded by URL into Pyodide."""

STAMP = ".complete"
COMPRESS = {".wasm", ".mjs", ".json"}
"""Files also kept gzipped (the game pod serves these to browsers that accept gzip: 13.5 MB become ~7 MB)."""


def say(text: str) -> None:
    print(f"vendor: {text}", flush=True)


def npm_fetch(pin: NpmPin, work: Path) -> None:
    """npm pack the pinned version, check its sha512, unpack the needed files into the target folder."""
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("vendor: npm is needed to fetch the browser runtimes (Debian: apt-get install nodejs npm)")
    say(f"fetching {pin.name}@{pin.version} from the npm registry")
    out = subprocess.run(
        [npm, "pack", "--silent", f"{pin.name}@{pin.version}", "--pack-destination", str(work)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:
        sys.exit(f"vendor: npm pack {pin.name}@{pin.version} failed:\n{out.stderr.strip()}")
    tarball = work / out.stdout.strip().splitlines()[-1]
    algorithm, _, expected = pin.integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if actual != expected:
        sys.exit(f"vendor: {tarball.name} does not match its pinned integrity ({algorithm} {actual})")
    staging = work / pin.target.name
    staging.mkdir()
    with tarfile.open(tarball) as archive:
        for relative in (*pin.files, pin.license):
            member = archive.getmember(f"package/{relative}")
            source = archive.extractfile(member)
            assert source is not None, relative
            (staging / Path(relative).name).write_bytes(source.read())
    for path in list(staging.iterdir()):
        if path.suffix in COMPRESS:
            with open(path.with_name(path.name + ".gz"), "wb") as raw:  # mtime 0: the same bytes every build
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as packed:
                    packed.write(path.read_bytes())
    (staging / STAMP).write_text(f"{pin.name}@{pin.version} {pin.integrity} gz\n")
    shutil.rmtree(pin.target, ignore_errors=True)
    shutil.move(staging, pin.target)


def micropip_fetch(work: Path) -> None:
    """The pinned micropip wheel from PyPI, into the Pyodide folder."""
    name, version, sha256 = MICROPIP
    target = NPM[0].target / f"{name}-{version}-py3-none-any.whl"
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
        return
    say(f"fetching {name}=={version} from PyPI")
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
    command += ["--python-version", "3.14", f"{name}=={version}", "-d", str(work)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=600)
    wheel = work / target.name
    if out.returncode != 0 or not wheel.is_file():
        sys.exit(f"vendor: pip download {name}=={version} failed:\n{out.stderr.strip()}")
    if hashlib.sha256(wheel.read_bytes()).hexdigest() != sha256:
        sys.exit(f"vendor: {wheel.name} does not match its pinned sha256")
    shutil.move(wheel, target)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="gymkube-vendor-") as tmp:
        for pin in NPM:
            stamp = pin.target / STAMP
            if not (stamp.is_file() and f"{pin.integrity} gz" in stamp.read_text()):
                npm_fetch(pin, Path(tmp))
        micropip_fetch(Path(tmp))


if __name__ == "__main__":
    main()
