"""Researcher pages and the pod's security headers: static scenes in a sandboxed frame, the experiment's files.

Researcher HTML is code gymkube does not trust. Three layers keep it out of the participant's page:

- A static scene's page (inline `html` or a `file`) is its own document at `page?scene=<id>`, loaded into an
  `<iframe sandbox>` and sent with a CSP whose `sandbox` gives it an opaque origin even when opened on its own:
  its scripts run, but reach no cookie, storage, token or page of gymkube's origin, and fetch nothing
  (`connect-src 'none'`). A bridge script (static/js/pagebridge.js) put first in the page tells the
  participant's page its named fields, whether Continue may be pressed, and its height, by postMessage.
  A URL and not `srcdoc`: a srcdoc frame takes on the parent's CSP, which runs no inline script.
- Survey intros, gym instructions and end pages stay part of the participant's page, so they are sanitised
  here with nh3 (Rust's ammonia: an allow-list of tags and attributes, no script, no event handler) before
  they are sent. They only format text; a page that needs script is a static scene.
- Every response of the pod carries a CSP (index.html: scripts only from the pod, none inline), so an
  event handler that slipped past the sanitiser would still not run; `files/*` answers with the same
  sandbox policy as the frame, so an HTML file opened directly is an opaque origin too.
"""

from __future__ import annotations

import mimetypes
import re
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import nh3
from starlette.datastructures import URL, MutableHeaders
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from gymkube.game_pod.environments import bundle_file
from gymkube.spec.scenes import StaticScene

if TYPE_CHECKING:
    from gymkube.game_pod.pod import Pod
    from gymkube.game_pod.settings import PodSettings
    from gymkube.spec.experiment import ExperimentSpec

FILE_TYPES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".mp3", ".wav", ".ogg", ".mp4"}
FILE_TYPES |= {".css", ".js", ".html", ".txt", ".json", ".woff2"}
"""What `files/*` serves: media, and what a page of the experiment loads."""
FRAME_SANDBOX = "allow-scripts allow-forms allow-popups"
"""No allow-same-origin: an opaque origin. A link with target=_blank (an information sheet) opens a new tab,
sandboxed as the page is."""
PYPI = ("https://pypi.org", "https://files.pythonhosted.org")
"""Where micropip fetches packages by name when no package index is configured."""
SAFE_HOST = re.compile(r"^[A-Za-z0-9.:\[\]-]+$")
BASE_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}

SAFE_TAGS = nh3.ALLOWED_TAGS - {"area", "map"}
SAFE_ATTRIBUTES = {**nh3.ALLOWED_ATTRIBUTES, "*": {"title", "lang", "dir", "style"}}
SAFE_STYLES = {
    "color", "background-color", "font-weight", "font-style", "font-size", "font-family", "font-variant",
    "text-align", "text-decoration", "text-transform", "vertical-align", "white-space", "line-height",
    "letter-spacing", "margin", "margin-top", "margin-bottom", "margin-left", "margin-right", "padding",
    "padding-top", "padding-bottom", "padding-left", "padding-right", "border", "border-radius", "width",
    "max-width", "height", "display",
}  # fmt: skip
"""Style properties kept in sanitised HTML: looks only (no position, no url(): images come through <img>)."""


@lru_cache(maxsize=256)
def safe_html(markup: str | None) -> str | None:
    """Researcher HTML that stays in the participant's page, without script, handlers or foreign URL schemes."""
    if markup is None:
        return None
    return nh3.clean(
        markup,
        tags=SAFE_TAGS,
        attributes=SAFE_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        filter_style_properties=SAFE_STYLES,
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not SAFE_HOST.match(parts.netloc or "-/"):
        return None
    return f"{parts.scheme}://{parts.netloc}"


def pod_source(url: URL, prefix: str) -> str | None:
    """This pod's address as a CSP source (scheme, host and base path), or None when the Host header looks odd."""
    return f"{url.scheme}://{url.netloc}{prefix}/" if SAFE_HOST.match(url.netloc) else None


def participant_policy(settings: PodSettings, spec: ExperimentSpec, pod: str | None) -> str:
    """The CSP of the participant's page: everything from the pod, WebAssembly allowed, no inline script.

    Requests and the socket reach only below the pod's own base path: on a shared host not the control
    plane's /x/, /api or /admin, nor another experiment's pods. Pyodide from a CDN adds that CDN; a
    browser game that installs packages by name adds the package index.
    """
    scripts = ["'self'", "'wasm-unsafe-eval'"]
    connect = [pod, "ws" + pod.removeprefix("http")] if pod else ["'self'"]
    cdn = _origin(settings.pyodide_url) if settings.pyodide_url else None
    if cdn:
        scripts.append(cdn)
        connect.append(cdn)
    browser_scenes = [s for s in spec.gym_scenes() if s.mode != "server"]
    by_name = any(not p.lower().endswith(".whl") for s in browser_scenes for p in s.environment.packages)
    if by_name:
        index = _origin(settings.package_index_url) if settings.package_index_url else None
        connect += [index] if index else list(PYPI)
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {' '.join(dict.fromkeys(scripts))}",
            "style-src 'self'",
            "style-src-attr 'unsafe-inline'",  # sanitised style="..." in instructions (colours); no <style>
            "img-src 'self' data:",
            f"connect-src {' '.join(dict.fromkeys(connect))}",
            "frame-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


def frame_policy(files: str) -> str:
    """The CSP of a researcher's page (and of `files/*`): sandboxed, nothing but inline code and `files`."""
    return "; ".join(
        [
            f"sandbox {FRAME_SANDBOX}",
            "default-src 'none'",
            f"script-src 'unsafe-inline' {files}",
            f"style-src 'unsafe-inline' {files}",
            f"img-src data: {files}",
            f"media-src {files}",
            f"font-src data: {files}",
            "connect-src 'none'",
            "form-action 'none'",
            "base-uri 'none'",
            "frame-ancestors 'self'",
        ]
    )


def files_source(url: URL, prefix: str) -> str:
    """`files/` of this pod as a CSP source (a Host header that looks odd: the whole origin)."""
    pod = pod_source(url, prefix)
    return f"{pod}files/" if pod else "'self'"


class SecurityHeaders:
    """ASGI middleware: every HTTP response gets nosniff, no referrer and, unless it has its own, the CSP of
    the participant's page."""

    def __init__(self, app: Any, pod: Pod, prefix: str) -> None:
        self.app, self.prefix = app, prefix
        # By this pod's address as the browser asked for it: a few hosts at most (a bounded cache for odd ones).
        self.policy = lru_cache(maxsize=16)(partial(participant_policy, pod.settings, pod.spec))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.policy(pod_source(URL(scope=scope), self.prefix))

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in (BASE_HEADERS | {"Content-Security-Policy": policy}).items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)


def page_document(content: str, head: str) -> str:
    """A researcher's page (a fragment or a whole document) after gymkube's `head`, so the bridge runs first.

    The HTML parser folds a whole document's own <html>, <head> and <body> tags into these.
    """
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">{head}</head><body>\n'
        f"{content}\n</body></html>\n"
    )


def routes(prefix: str, pod: Pod) -> list[Route]:
    """`page?scene=<id>` (a static scene's page, for its frame) and `files/<path>` (the experiment's files)."""
    static = pod.settings.static_dir
    css = "".join((static / "css" / name).read_text(encoding="utf-8") for name in ("content.css", "page.css"))
    bridge = (static / "js" / "pagebridge.js").read_text(encoding="utf-8")
    head = f"<style>{css}</style><script>{bridge}</script>"

    def not_found() -> Response:
        return Response("not found", status_code=404, headers={"Content-Security-Policy": "default-src 'none'"})

    async def page(request: Request) -> Response:
        try:
            scene = pod.spec.scene(request.query_params.get("scene", ""))
        except KeyError:
            return not_found()
        if not isinstance(scene, StaticScene):
            return not_found()
        if scene.html is not None:
            content = scene.html
        else:
            try:
                content = bundle_file(pod.bundle_dir, scene.file or "").read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                return not_found()
        policy = frame_policy(files_source(request.url, prefix))
        headers = {"Content-Security-Policy": policy, "Cache-Control": "no-store"}
        return HTMLResponse(page_document(content, head), headers=headers)

    async def files(request: Request) -> Response:
        try:
            path = bundle_file(pod.bundle_dir, request.path_params["path"])
        except FileNotFoundError:
            return not_found()
        if path.suffix.lower() not in FILE_TYPES:
            return not_found()
        policy = frame_policy(files_source(request.url, prefix))
        return FileResponse(
            path, media_type=mimetypes.guess_type(path.name)[0], headers={"Content-Security-Policy": policy}
        )

    return [Route(f"{prefix}/page", page), Route(f"{prefix}/files/{{path:path}}", files)]
