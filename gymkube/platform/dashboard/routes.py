"""`/admin`: the researcher dashboard's page, sign-in, and the JSON its page polls; actions on a running study.

Signed in with the admin secret a viewer sees every experiment; with a researcher token only the
experiments of its scope (others answer 404, as unknown ones do). The JSON routes also take the
token as a bearer credential, like the researcher API. Every query parameter is bounded where it
enters (types, lengths, fixed sets; cursors are checked), and an action sent with the cookie must
carry the page's own header, which another site's form cannot set.
"""

from __future__ import annotations

import asyncio
import html
import importlib.resources
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict

from gymkube.platform.api.routes.data import Format, Table, download_table
from gymkube.platform.api.routes.experiments import experiment_view
from gymkube.platform.dashboard import queries
from gymkube.platform.dashboard.actions import ActionFailed, end_session
from gymkube.platform.dashboard.auth import COOKIE, SESSION_S, Viewer, read_cookie, session_cookie, sign_in
from gymkube.platform.dashboard.service import LIVE_TTL_S, PLOTS_TTL_S, Dashboard
from gymkube.platform.metrics import DASHBOARD_ACTIONS, DASHBOARD_LOGINS
from gymkube.platform.runtime.base import ExperimentRecord
from gymkube.tokens import PARTICIPANT_ID

ACTION_HEADER = "x-gymkube-dashboard"
STATIC = FilePath(str(importlib.resources.files("gymkube") / "static" / "admin"))
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""The dashboard's pages run only their own files: no inline script, nothing from elsewhere, never framed."""
HEADERS = [(b"content-security-policy", POLICY.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"no-referrer")]  # fmt: skip
ExperimentName = Annotated[str, Path(max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
ParticipantId = Annotated[str, Path(max_length=128, pattern=f"^{PARTICIPANT_ID.pattern}$")]
_bearer = HTTPBearer(auto_error=False, description="A researcher token (or sign in at /admin for the cookie).")


class EndAction(BaseModel):
    """Which of the spec's endings the participant gets."""

    model_config = ConfigDict(extra="forbid")
    ending: Literal["wait_timeout", "partner_left", "dropped", "excluded", "technical"] = "technical"


def login_page(message: str = "", status_code: int = 200) -> HTMLResponse:
    """The sign-in form (no script: the page's policy allows none inline)."""
    note = f"<p class=bad role=alert>{html.escape(message)}</p>" if message else ""
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
        "<title>gymkube: sign in</title><link rel=icon href='data:,'>"
        "<link rel=stylesheet href=/admin/static/css/admin.css>"
        "<main class=login><h1>gymkube</h1><p>Sign in with the admin secret, or with your researcher token "
        "(<code>gymkube token create NAME</code>).</p>" + note + "<form method=post action=/admin/login>"
        "<label>Admin secret or researcher token <input type=password name=secret autocomplete=current-password "
        "required autofocus maxlength=300></label> <button>Sign in</button></form></main>",
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


router = APIRouter(prefix="/admin", tags=["dashboard"])


def get_dashboard(request: Request) -> Dashboard:
    """The dashboard of this app."""
    dashboard: Dashboard = request.app.state.dashboard
    return dashboard


DashboardDep = Annotated[Dashboard, Depends(get_dashboard)]


async def viewer_of(
    dashboard: Dashboard, request: Request, bearer: HTTPAuthorizationCredentials | None
) -> Viewer | None:
    """Who the request comes from: a session cookie (still valid), else a researcher's bearer token."""
    viewer = read_cookie(dashboard.plane, request.cookies.get(COOKIE))
    if viewer is not None:
        return viewer if await dashboard.tokens.valid(viewer) else None
    if bearer is not None:
        researcher = await dashboard.plane.state.verify_token(bearer.credentials)
        if researcher is not None:
            return Viewer(researcher.name, researcher.experiments)
    return None


async def current_viewer(
    request: Request, dashboard: DashboardDep, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Viewer:
    """The viewer; 401 without one, 403 for a cookie-borne action without the page's header."""
    viewer = await viewer_of(dashboard, request, bearer)
    if viewer is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in at /admin, or send a researcher token")
    if request.method == "POST" and bearer is None and request.headers.get(ACTION_HEADER) != "1":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "actions come from the dashboard's own page")
    return viewer


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]


def visible(name: ExperimentName, viewer: CurrentViewer, dashboard: DashboardDep) -> ExperimentRecord:
    """The experiment in the path if this viewer may see it; 404 otherwise, as for an unknown name."""
    record = dashboard.plane.runtime.get(name)
    if record is None or not viewer.can(name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no experiment named {name!r} that you may see")
    return record


Visible = Annotated[ExperimentRecord, Depends(visible)]


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def page(request: Request, dashboard: DashboardDep) -> Response:
    """The dashboard, or the sign-in form."""
    if await viewer_of(dashboard, request, None) is None:
        return login_page()
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


@router.post("/login")
async def login(request: Request, dashboard: DashboardDep, secret: Annotated[str, Form(max_length=300)]) -> Response:
    """Check the admin secret or a researcher token; set the signed session cookie."""
    client = request.client.host if request.client else "?"
    wait_s = dashboard.limiter.wait_s(client)
    if wait_s > 0:
        DASHBOARD_LOGINS.labels("limited").inc()
        refused = login_page(f"Too many failed sign-ins; try again in {wait_s:.0f} s.", 429)
        refused.headers["Retry-After"] = str(int(wait_s) + 1)
        return refused
    plane = dashboard.plane
    viewer = await sign_in(plane, secret)
    if viewer is None:
        dashboard.limiter.failed(client)
        DASHBOARD_LOGINS.labels("refused").inc()
        return login_page("That is neither the admin secret nor a researcher token.", 401)
    DASHBOARD_LOGINS.labels("admin" if viewer.admin else "researcher").inc()
    response = RedirectResponse("/admin", status_code=303)
    response.set_cookie(
        COOKIE, session_cookie(plane, viewer), max_age=SESSION_S, httponly=True, samesite="strict",
        secure=plane.settings.public_url.startswith("https://"), path="/admin",
    )  # fmt: skip
    return response


@router.post("/logout")
async def logout() -> Response:
    """Forget the session cookie."""
    response = RedirectResponse("/admin", status_code=303)
    response.delete_cookie(COOKIE, path="/admin")
    return response


@router.get("/api/experiments")
async def experiments(viewer: CurrentViewer, dashboard: DashboardDep) -> dict[str, Any]:
    """Who is signed in and the experiments they may see, with live status."""
    plane = dashboard.plane
    records = sorted((r for r in plane.runtime.records() if viewer.can(r.name)), key=lambda r: r.name)
    return {"viewer": {"name": viewer.name, "admin": viewer.admin},
            "experiments": [experiment_view(plane, r) for r in records]}  # fmt: skip


@router.get("/api/experiments/{name}/live")
async def live(record: Visible, dashboard: DashboardDep) -> dict[str, Any]:
    """The funnel, the pods, waiting rooms and recent errors (the page polls this each second)."""
    view = await dashboard.live(record.name)
    assert view is not None
    return view


@router.get("/api/experiments/{name}/participants")
async def participants(
    record: Visible,
    dashboard: DashboardDep,
    search: Annotated[str, Query(max_length=100, description="part of a participant id, or a code")] = "",
    state: Annotated[Literal["here", "waiting", "away", "completed", "ended"] | None, Query()] = None,
    scene: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> dict[str, Any]:
    """A page of participants, newest first, filtered; `next` is the following page's cursor."""
    try:
        after = queries.decode_cursor(cursor) if cursor else None
    except queries.BadCursor as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    query = queries.PageQuery(record.name, search.strip(), state, scene or None, limit, after)
    return await dashboard.cached(("page", repr(query)), LIVE_TTL_S,
                                  lambda: queries.participants_page(dashboard.index, query))  # fmt: skip


@router.get("/api/experiments/{name}/participants/{participant}")
async def participant(record: Visible, participant: ParticipantId, dashboard: DashboardDep) -> dict[str, Any]:
    """One participant's session and timeline of events."""
    found = await dashboard.cached(("timeline", record.name, participant), LIVE_TTL_S,
                                   lambda: queries.timeline(dashboard.index, record.name, participant))  # fmt: skip
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no participant {participant!r} in the data yet")
    return found


@router.post("/api/experiments/{name}/participants/{participant}/end")
async def end(
    record: Visible, participant: ParticipantId, action: EndAction, viewer: CurrentViewer, dashboard: DashboardDep
) -> Any:
    """End the participant's session now with one of the spec's endings (they see it and its code)."""
    rows = await asyncio.to_thread(dashboard.index.query, "SELECT pod FROM participants WHERE experiment = ? "
                                   "AND participant = ?", record.name, participant)  # fmt: skip
    hint = rows[0][0] if rows else None
    try:
        result = await end_session(dashboard.plane, record, participant, action.ending, viewer.name, hint)
    except ActionFailed as exc:
        DASHBOARD_ACTIONS.labels("end", "failed").inc()
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    DASHBOARD_ACTIONS.labels("end", "done").inc()
    return result


@router.post("/api/experiments/{name}/pause")
async def pause(record: Visible, dashboard: DashboardDep) -> dict[str, Any]:
    """Take no new participants (those already in finish)."""
    DASHBOARD_ACTIONS.labels("pause", "done").inc()
    plane = dashboard.plane
    return experiment_view(plane, await plane.runtime.set_paused(record.name, True))


@router.post("/api/experiments/{name}/resume")
async def resume(record: Visible, dashboard: DashboardDep) -> dict[str, Any]:
    """Take new participants again."""
    DASHBOARD_ACTIONS.labels("resume", "done").inc()
    plane = dashboard.plane
    return experiment_view(plane, await plane.runtime.set_paused(record.name, False))


@router.get("/api/experiments/{name}/errors")
async def errors(record: Visible, dashboard: DashboardDep) -> dict[str, Any]:
    """Errors participants' pages reported."""
    return await dashboard.cached(("errors", record.name), LIVE_TTL_S,
                                  lambda: queries.client_errors(dashboard.index, record.name))  # fmt: skip


@router.get("/api/experiments/{name}/groups")
async def groups(record: Visible, dashboard: DashboardDep) -> dict[str, Any]:
    """Groups formed lately, and how long their members waited."""
    return await dashboard.cached(("groups", record.name), LIVE_TTL_S,
                                  lambda: queries.groups(dashboard.index, record.name))  # fmt: skip


@router.get("/api/experiments/{name}/plots")
async def plots(record: Visible, dashboard: DashboardDep) -> dict[str, Any]:
    """Arrivals and completions over time; round trips, tick lateness, input latency and frame rates."""
    found = await dashboard.cached(("plots", record.name), PLOTS_TTL_S,
                                   lambda: queries.plots(dashboard.index, record.name))  # fmt: skip
    return found | {"histograms": dashboard.histograms(record.name)}


@router.get("/api/experiments/{name}/data/{table}")
async def data(record: Visible, dashboard: DashboardDep, table: Table, format: Format = "csv") -> Response:
    """One table of the experiment's data, streamed (as the researcher API's download)."""
    return await download_table(record, dashboard.plane, table, format)


class DashboardHeaders:
    """ASGI middleware: every `/admin` response (pages, JSON, static files) carries the dashboard's policy."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/admin"):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = message | {"headers": [*message.get("headers", []), *HEADERS]}
            await send(message)

        await self.app(scope, receive, with_headers)
