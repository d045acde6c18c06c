"""What a browser needs to run a game itself (`client` and `p2p` modes): runtimes, the game's Python, its files.

- Pyodide and onnxruntime-web: vendored under static/vendor by `scripts/vendor.py` (pinned, checked),
  or Pyodide from a CDN when the pod's `pyodide_url` is set (chart value `gamePods.pyodideUrl`).
- `client/runtime.zip`: gymkube.portable (the same code the pod runs) plus the experiment's files,
  unpacked into Pyodide's file system. Participants can read this code: a browser game cannot
  keep its environment secret.
- `client/files/{path}`: single files of the experiment (ONNX policies, wheels to install).
"""

from __future__ import annotations

import importlib.resources
import io
import logging
import mimetypes
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from gymkube.game_pod.environments import bundle_file, bundle_files
from gymkube.game_pod.stager import scene_id_of
from gymkube.spec.browser_check import browser_modules
from gymkube.spec.gym import GymScene

if TYPE_CHECKING:
    from gymkube.game_pod.pod import Pod
    from gymkube.game_pod.progress import Progress

log = logging.getLogger(__name__)

PYODIDE = "pyodide-314.0.7"
ORT = "onnxruntime-web-1.30.0"
MICROPIP_WHEEL = "micropip-0.11.1-py3-none-any.whl"
SEPARATE = {".onnx", ".whl"}
"""Experiment files fetched one by one when needed instead of inside runtime.zip."""
MAX_RUNTIME_FILE = 5 * 1024 * 1024


def has_browser_games(pod: Pod) -> bool:
    """Whether any gym scene of the experiment runs in the browser."""
    return any(scene.mode != "server" for scene in pod.spec.gym_scenes())


def runtime_urls(pod: Pod) -> dict[str, Any]:
    """Where the page loads what it needs, relative to the page (or absolute for a CDN)."""
    pyodide = pod.settings.pyodide_url or f"static/vendor/{PYODIDE}/"
    return {
        "pyodide": pyodide,
        "micropip": f"static/vendor/{PYODIDE}/{MICROPIP_WHEEL}",
        "ort": f"static/vendor/{ORT}/",
        "code": "client/runtime.zip",
        "files": "client/files/",
        "packageIndex": pod.settings.package_index_url or None,
    }


def preload(pod: Pod, progress: Progress) -> dict[str, Any] | None:
    """What the page may load now for the browser games ahead in this participant's flow (or None: there are none).

    Pyodide takes seconds to start; loaded while the participant reads the pages before, a game starts at once.
    """
    ahead = [pod.spec.scene(scene_id_of(key)) for key in progress.flow[progress.index :]]
    games = [s for s in ahead if isinstance(s, GymScene) and s.mode != "server"]
    if not games or progress.status != "active":
        return None
    code = {"client": "gymkube.portable.sim", "p2p": "gymkube.portable.rollback"}
    modules = [code[s.mode] for s in games] + [m for s in games for m in browser_modules(s)]
    return {
        "runtime": runtime_urls(pod),
        "packages": list(dict.fromkeys(p for s in games for p in s.environment.packages)),
        "policies": list(dict.fromkeys(p.file for s in games for p in s.policies)),
        "modules": list(dict.fromkeys(modules)),
    }


def missing_runtimes(pod: Pod) -> list[str]:
    """Vendored runtimes the experiment needs but this installation lacks."""
    vendor = pod.settings.static_dir / "vendor"
    needed = [] if pod.settings.pyodide_url else [PYODIDE]
    if any(s.mode != "server" and s.policies for s in pod.spec.gym_scenes()):
        needed.append(ORT)
    return [name for name in needed if not (vendor / name / ".complete").is_file()]


def build_runtime_zip(bundle_dir: Path | None) -> bytes:
    """gymkube/__init__.py and gymkube/portable/*.py, then the experiment's files under bundle/."""
    buffer = io.BytesIO()
    package = Path(str(importlib.resources.files("gymkube")))
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(package / "__init__.py", "gymkube/__init__.py")
        for path in sorted((package / "portable").glob("*.py")):
            archive.write(path, f"gymkube/portable/{path.name}")
        if bundle_dir is not None:
            for path in bundle_files(bundle_dir):
                if path.suffix.lower() in SEPARATE or path.stat().st_size > MAX_RUNTIME_FILE:
                    continue
                archive.write(path, f"bundle/{path.relative_to(bundle_dir).as_posix()}")
    return buffer.getvalue()


IMMUTABLE = "public, max-age=31536000, immutable"
"""Vendored files live under versioned paths: a browser keeps them (a participant's second game loads at once)."""


def vendor_route(prefix: str, static_dir: Path) -> Route:
    """static/vendor/: pinned libraries, cached for good, gzipped where a precompressed copy exists."""
    root = (static_dir / "vendor").resolve()

    async def vendor(request: Request) -> Response:
        path = (root / request.path_params["path"]).resolve()
        if not path.is_relative_to(root) or not path.is_file() or path.suffix == ".gz":
            return Response("not found", status_code=404)
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        headers = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"}
        packed = path.with_name(path.name + ".gz")
        if "gzip" in request.headers.get("accept-encoding", "") and packed.is_file():
            return FileResponse(packed, media_type=media_type, headers=headers | {"Content-Encoding": "gzip"})
        return FileResponse(path, media_type=media_type, headers=headers)

    return Route(f"{prefix}/static/vendor/{{path:path}}", vendor)


def routes(prefix: str, pod: Pod) -> list[Route]:
    """The pod's routes for browser games (none when every scene runs on the pod)."""
    if not has_browser_games(pod):
        return []
    missing = missing_runtimes(pod)
    if missing:
        pod.error(
            "browser games cannot start",
            f"{', '.join(missing)} missing from {pod.settings.static_dir / 'vendor'}: run `make vendor` "
            "(python scripts/vendor.py) where gymkube is installed, or set GYMKUBE_PYODIDE_URL to a Pyodide CDN",
        )
    cache: dict[str, bytes] = {}

    async def runtime(request: Request) -> Response:
        if "zip" not in cache:
            cache["zip"] = build_runtime_zip(pod.bundle_dir)
        return Response(cache["zip"], media_type="application/zip", headers={"Cache-Control": "no-cache"})

    async def files(request: Request) -> Response:
        try:
            path = bundle_file(pod.bundle_dir, request.path_params["path"])
        except FileNotFoundError:
            return Response("not found", status_code=404)
        return FileResponse(path, media_type="application/octet-stream")

    return [
        Route(f"{prefix}/client/runtime.zip", runtime),
        Route(f"{prefix}/client/files/{{path:path}}", files),
    ]
