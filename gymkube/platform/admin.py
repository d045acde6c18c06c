"""The admin view: a page behind the admin secret with live counts, pod load and errors."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gymkube.platform.plane import ControlPlane

COOKIE = "gymkube_admin"
SESSION_S = 8 * 3600

_STYLE = """<style>body{font:15px system-ui;margin:2em auto;max-width:70em;padding:0 1em;color:#1f2328}
table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}td,th{border-bottom:1px solid #ddd;
padding:.35em .6em;text-align:left}th{background:#f6f8fa}.bad{color:#b42318}.ok{color:#1a7f37}
input,button{font:inherit;padding:.4em .7em}</style>"""

_DASHBOARD = (
    _STYLE
    + """<title>gymkube admin</title><h1>gymkube</h1>
<p id=updated>Loading…</p><div id=experiments></div>
<script type=module>
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
const cells = (values, tag = "td") => values.map((v) => `<${tag}>${v}</${tag}>`).join("");
const COUNTS = ["waiting", "participants", "games", "completed", "dropped"];
const POD = ["participants", "games", "capacity", "spooled_chunks"];
function podRow(p) {
  const state = p.alive ? (p.draining ? "draining" : "up") : "down";
  const storage = `<td class=${p.storage_error ? "bad" : "ok"}>${esc(p.storage_error || "ok")}</td>`;
  return `<tr><td>${esc(p.pod)}</td><td class=${p.alive ? "ok" : "bad"}>${state}</td>`
    + cells(POD.map((k) => esc(p[k]))) + storage + "</tr>";
}
function section(e) {
  const errors = e.errors.map((x) => `<li>${esc(x.pod)}: ${esc(x.what)}: ${esc(x.detail)}</li>`).join("");
  return `<h2>${esc(e.experiment)} ${e.paused ? "(paused)" : ""}</h2>`
    + `<table><tr>${cells(COUNTS, "th")}</tr><tr>${cells(COUNTS.map((k) => e[k]))}</tr></table>`
    + `<table><tr>${cells(["pod", "state", ...POD.map((k) => k.replace("_", " ")), "storage"], "th")}</tr>`
    + `${e.pods.map(podRow).join("")}</table>`
    + (errors ? `<h3>Recent errors</h3><ul>${errors}</ul>` : "");
}
async function refresh() {
  const reply = await fetch("/admin/overview.json", {cache: "no-store"});
  if (reply.status === 401) { location.reload(); return; }
  const data = await reply.json();
  const html = data.experiments.map(section).join("");
  document.getElementById("experiments").innerHTML = html || "<p>No experiments.</p>";
  document.getElementById("updated").textContent = "Updated " + new Date().toLocaleTimeString();
}
refresh(); setInterval(refresh, 2000);
</script>"""
)


def _sign(secret: str, expires: int) -> str:
    mac = hmac.new(secret.encode(), f"admin:{expires}".encode(), hashlib.sha256).hexdigest()
    return f"{expires}.{mac}"


def is_admin(plane: ControlPlane, request: Request) -> bool:
    """Whether the request carries a valid, unexpired admin cookie."""
    value = request.cookies.get(COOKIE, "")
    expires, _, _ = value.partition(".")
    if not expires.isdigit() or int(expires) < time.time():
        return False
    return hmac.compare_digest(value, _sign(plane.settings.admin_secret, int(expires)))


def make_admin_router(plane: ControlPlane) -> APIRouter:
    """`/admin`: login with the admin secret, then the live dashboard."""
    router = APIRouter(prefix="/admin", tags=["admin"])

    @router.get("", response_class=HTMLResponse)
    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard(request: Request) -> Response:
        """The dashboard, or the login form."""
        if is_admin(plane, request):
            return HTMLResponse(_DASHBOARD)
        return HTMLResponse(
            _STYLE + "<title>gymkube admin</title><h1>gymkube admin</h1>"
            "<form method=post action=/admin/login><label>Admin secret "
            "<input type=password name=secret autofocus></label> <button>Sign in</button></form>"
        )

    @router.post("/login")
    async def login(secret: str = Form(...)) -> Response:
        """Check the admin secret; set a signed cookie."""
        if not hmac.compare_digest(secret.encode(), plane.settings.admin_secret.encode()):
            return HTMLResponse(_STYLE + "<p class=bad>Wrong secret. <a href=/admin>Try again</a></p>", 401)
        response = RedirectResponse("/admin", status_code=303)
        expires = int(time.time()) + SESSION_S
        response.set_cookie(
            COOKIE, _sign(plane.settings.admin_secret, expires), max_age=SESSION_S, httponly=True,
            samesite="strict", secure=plane.settings.public_url.startswith("https://"),
        )  # fmt: skip
        return response

    @router.get("/overview.json")
    async def overview(request: Request) -> dict[str, Any]:
        """Every experiment's counts, pods and recent errors."""
        if not is_admin(plane, request):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in at /admin")
        return {"experiments": [plane.stats(r.name) for r in plane.runtime.records()]}

    return router
