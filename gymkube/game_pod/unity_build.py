"""A Unity WebGL build from the experiment's files, served to a sandboxed frame with its own Content-Security-Policy.

The frame (`unity?scene=<id>`) is a document of its own with an opaque origin (`sandbox allow-scripts`):
the build's code reaches no cookie, storage or page of the study's origin and talks to the participant's
page only through the bridge (static/js/unityframe.js, by postMessage). Only this document's policy allows
what Unity needs: WebAssembly (`'wasm-unsafe-eval'`), the framework script the loader runs from a blob: URL,
workers from blob: URLs, and fetches of the build's own files; the participant's page keeps its strict one.

Build files (`unity/<scene>/<path>`) are served with the Content-Encoding of their compression (`.gz`:
gzip, `.br`: brotli, which browsers decode on https and localhost only) and the type of what they hold
(`.wasm`: application/wasm, as WebAssembly.instantiateStreaming requires), to any origin (the frame's is
opaque, so its fetches are cross-origin), each with a sandbox policy so that no file of the build opens as
a page of the study's origin.
"""

from __future__ import annotations

import html
import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from gymkube.game_pod.pages import pod_source
from gymkube.spec.scenes import UnityScene

if TYPE_CHECKING:
    from gymkube.game_pod.pod import Pod

ENCODINGS = {".gz": "gzip", ".br": "br"}
TYPES = {".wasm": "application/wasm", ".js": "text/javascript", ".data": "application/octet-stream",
         ".unityweb": "application/octet-stream", ".json": "application/json"}  # fmt: skip
PARTS = {"data": ".data", "framework": ".framework.js", "wasm": ".wasm"}
FILE_POLICY = "sandbox; default-src 'none'"
"""Build files are code and data for the frame; opened on their own they are inert."""


def build_folder(bundle_dir: Path | None, scene: UnityScene) -> Path:
    """The build's folder in the experiment's files; FileNotFoundError if it is not there."""
    if bundle_dir is None:
        raise FileNotFoundError(f"{scene.build}: the experiment has no files (spec.bundle)")
    root = bundle_dir.resolve()
    folder = (root / scene.build).resolve()
    if not folder.is_relative_to(root) or not folder.is_dir():
        raise FileNotFoundError(f"{scene.build!r} is not a folder of the experiment's files")
    return folder


def build_parts(bundle_dir: Path | None, scene: UnityScene) -> dict[str, str]:
    """{loader, data, framework, wasm}: the build's file names; FileNotFoundError naming what is missing."""
    folder = build_folder(bundle_dir, scene)
    name = scene.build_name
    if name is None:
        loaders = sorted(p.name.removesuffix(".loader.js") for p in folder.glob("*.loader.js"))
        if len(loaders) != 1:
            raise FileNotFoundError(f"{scene.build}: expected one *.loader.js (or 'buildName'), found {loaders}")
        name = loaders[0]
    parts = {"loader": f"{name}.loader.js"}
    for part, suffix in PARTS.items():
        found = [f"{name}{suffix}{packed}" for packed in ("", ".br", ".gz", ".unityweb")]
        present = next((f for f in found if (folder / f).is_file()), None)
        if present is None:
            raise FileNotFoundError(f"{scene.build}: none of {', '.join(found)}")
        parts[part] = present
    if not (folder / parts["loader"]).is_file():
        raise FileNotFoundError(f"{scene.build}: no {parts['loader']}")
    return parts


def frame_policy(pod: str | None, allow_eval: bool = False) -> str:
    """The CSP of a Unity scene's frame: sandboxed, what a WebGL build needs and nothing else."""
    base = pod or "'self'"
    build = f"{pod}unity/" if pod else "'self'"
    script = f"{pod}static/js/unityframe.js" if pod else "'self'"
    return "; ".join(
        [
            "sandbox allow-scripts allow-pointer-lock",
            "default-src 'none'",
            f"script-src {script} {build} blob: 'wasm-unsafe-eval'" + (" 'unsafe-eval'" if allow_eval else ""),
            f"connect-src {build} blob: data:",
            "worker-src blob:",
            f"img-src {build} data: blob:",
            f"style-src {base}static/css/" if pod else "style-src 'self'",
            f"media-src {build} data: blob:",
            f"font-src {build} data:",
            "frame-ancestors 'self'",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


def frame_document(scene: UnityScene, parts: dict[str, str]) -> str:
    """The frame's page: the canvas, and the bridge that loads the build (the build's URLs in data attributes)."""
    base = f"unity/{scene.id}/"
    data = {
        "loader": base + parts["loader"], "data": base + parts["data"], "framework": base + parts["framework"],
        "wasm": base + parts["wasm"], "company": scene.company_name, "product": scene.product_name,
        "version": scene.product_version,
    }  # fmt: skip
    attributes = " ".join(f'data-{k}="{html.escape(v, quote=True)}"' for k, v in data.items())
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<link rel="stylesheet" href="static/css/unity.css"></head>\n'
        f"<body {attributes}>\n"
        f'<canvas id="unity-canvas" width="{scene.width}" height="{scene.height}" tabindex="-1"></canvas>\n'
        '<div id="unity-progress" role="progressbar"></div>\n'
        '<script src="static/js/unityframe.js"></script>\n</body></html>\n'
    )


def media_type(name: str) -> tuple[str, str | None]:
    """(Content-Type, Content-Encoding) of a build file: the type of what a compressed file holds."""
    stem, dot, extension = name.rpartition(".")
    encoding = ENCODINGS.get(f".{extension}") if dot else None
    inner = stem if encoding else name
    suffix = "." + inner.rpartition(".")[2]
    return TYPES.get(suffix) or mimetypes.guess_type(inner)[0] or "application/octet-stream", encoding


def routes(prefix: str, pod: Pod) -> list[Route]:
    """`unity?scene=<id>` (the frame) and `unity/<scene>/<path>` (the build's files), when the flow has Unity scenes."""
    scenes = {s.id: s for s in pod.spec.all_scenes() if isinstance(s, UnityScene)}
    if not scenes:
        return []

    def not_found() -> Response:
        return Response("not found", status_code=404, headers={"Content-Security-Policy": "default-src 'none'"})

    async def frame(request: Request) -> Response:
        scene = scenes.get(request.query_params.get("scene", ""))
        if scene is None:
            return not_found()
        try:
            parts = build_parts(pod.bundle_dir, scene)
        except FileNotFoundError as exc:
            pod.error(f"unity scene {scene.id} cannot start", str(exc))
            return not_found()
        policy = frame_policy(pod_source(request.url, prefix), scene.allow_eval)
        headers = {"Content-Security-Policy": policy, "Cache-Control": "no-store"}
        return HTMLResponse(frame_document(scene, parts), headers=headers)

    async def build_file(request: Request) -> Response:
        scene = scenes.get(request.path_params["scene"])
        if scene is None:
            return not_found()
        try:
            folder = build_folder(pod.bundle_dir, scene)
        except FileNotFoundError:
            return not_found()
        path = (folder / request.path_params["path"]).resolve()
        if not path.is_relative_to(folder) or not path.is_file():
            return not_found()
        kind, encoding = media_type(path.name)
        headers = {"Content-Security-Policy": FILE_POLICY, "Access-Control-Allow-Origin": "*",
                   "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}  # fmt: skip
        if encoding:
            headers["Content-Encoding"] = encoding
        return FileResponse(path, media_type=kind, headers=headers)

    return [Route(f"{prefix}/unity", frame), Route(f"{prefix}/unity/{{scene}}/{{path:path}}", build_file)]
