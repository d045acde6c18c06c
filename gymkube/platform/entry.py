"""The participant entry `/x/{experiment}`: checks, who they are, which pod, a signed token.

Who they are: the recruitment platform's id in the URL (`recruitment.participantParam`), else the
signed cookie an earlier entry set, else a new random id. A browser whose cookie names one
participant cannot enter as another by changing the id in the URL (a second id on the same
browser is refused); a browser without that cookie (a fresh entry) can.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import time
import uuid
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gymkube.platform.metrics import count_entry, count_route
from gymkube.platform.plane import ControlPlane
from gymkube.platform.screening import browser_family, screen_problems
from gymkube.platform.visitors import ArrivalLimit, Visitor, cookie_name, make_cookie, read_cookie
from gymkube.tokens import is_participant_id, sign_token

SCREEN_SIZE = re.compile(r"[0-9]{1,5}")

_SCRIPT = """
const q = new URLSearchParams(location.search);
q.set("sw", screen.width); q.set("sh", screen.height);
location.replace(location.pathname.replace(/\\/$/, "") + "/go?" + q);
"""
_MEASURE = f"""<!doctype html><meta charset=utf-8><title>Starting…</title>
<p style="font:18px system-ui;margin:4em auto;max-width:40em">Starting the study…</p>
<script>{_SCRIPT}</script>"""
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
ENTRY_CSP = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    f"frame-ancestors 'none'; script-src 'sha256-{_SCRIPT_HASH}'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
"""The entry's own pages run only the screen-measuring script above, load nothing and cannot be framed."""


def page(title: str, message: str, status: int) -> HTMLResponse:
    """A plain, friendly page for participants (never a stack trace)."""
    body = (
        "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
        f"<title>{html.escape(title)}</title><body style='font:18px system-ui;max-width:40em;"
        f"margin:4em auto;padding:0 1em;line-height:1.5'><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(message)}</p></body>"
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store", **ENTRY_CSP})


def _int(value: str | None) -> int | None:
    """A screen size from the query: ASCII digits only (`"²".isdigit()` is true, and `int("²")` raises)."""
    return int(value) if value is not None and SCREEN_SIZE.fullmatch(value) else None


def make_entry_router(plane: ControlPlane) -> APIRouter:
    """`/x/{name}` (and `/x/{name}/go` after the screen is measured)."""
    router = APIRouter(tags=["participants"])
    settings = plane.settings
    arrivals = ArrivalLimit(settings.entry_per_minute, settings.entry_burst) if settings.entry_per_minute else None

    async def enter(name: str, request: Request, measured: bool) -> Response:
        record = plane.runtime.get(name)
        if record is None:
            return page("Study not found", "Please check the link you were given.", 404)
        spec = record.experiment.spec
        params = request.query_params
        recruitment = spec.recruitment
        known = read_cookie(plane, record, request.cookies.get(cookie_name(name)))
        given = params.get(recruitment.participant_param) or None if recruitment.participant_param else None
        if given is not None and not is_participant_id(given):
            return page("Link not valid", "The participant id in this link is not valid.", 400)
        if given is not None and known is not None and given != known.participant:
            return page(
                "Already taking part",
                "This browser already takes part in this study under another participant id. "
                "Please use the link you were given first, in this browser.",
                409,
            )
        returning = known is not None
        if record.paused and not returning:
            return page("Study paused", "The study is paused right now. Please come back later.", 503)
        if record.status.get("phase") == "Deleting" and not returning:
            return page("Study closed", "This study has closed. Thank you for your interest.", 410)
        if not returning and plane.target_reached(name):
            return page("Study complete", "This study has all the participants it needs. Thank you!", 410)
        if spec.entry.needs_screen and not measured and not returning:
            return HTMLResponse(_MEASURE, headers={"Cache-Control": "no-store", **ENTRY_CSP})
        participant = known.participant if known is not None else given or uuid.uuid4().hex
        agent = request.headers.get("user-agent", "")[:500]
        width, height = _int(params.get("sw")), _int(params.get("sh"))
        problems = [] if returning else screen_problems(spec.entry, agent, width, height)
        if problems:
            plane.screening_writer(name).add(
                "screening",
                {"experiment": name, "participant": participant, "t_ns": time.time_ns(),
                 "browser": browser_family(agent), "user_agent": agent, "screen_width": width,
                 "screen_height": height, "problems": " ".join(problems)},
            )  # fmt: skip
            return page("Sorry, this study cannot run here", " ".join(problems), 403)
        if (
            not returning
            and arrivals is not None
            and not arrivals.allow(request.client.host if request.client else "?")
        ):
            return page("Too many new arrivals", "Too many people started this study from your network just "
                        "now. Please try again in a minute.", 429)  # fmt: skip
        ordinal = known.ordinal if known is not None and known.ordinal is not None else await plane.arrivals.next(name)
        pod = plane.router(name).route(ordinal, known.pod if known is not None else None)
        count_route(name, pod is not None, returning)
        if pod is None:
            return page("Study full", "The study is full right now. Please come back later.", 503)
        recorded = {k: params[k][:200] for k in recruitment.record_params if k in params}
        if recruitment.participant_param and recruitment.participant_param in params:
            recorded[recruitment.participant_param] = participant
        token = sign_token(
            plane.token_key(record),
            {
                "x": name,
                "p": participant,
                "s": uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{participant}").hex,
                "n": ordinal,
                "q": recorded,
            },
        )
        response = RedirectResponse(f"{pod.url}?{urlencode({'t': token})}", status_code=303)
        cookie = make_cookie(plane, record, Visitor(participant, pod.name, ordinal))
        response.set_cookie(cookie_name(name), cookie, max_age=int(recruitment.token_lifetime_s), httponly=True,
                            samesite="lax", secure=plane.settings.public_url.startswith("https://"))  # fmt: skip
        return response

    @router.get("/x/{name}", response_class=HTMLResponse)
    async def participant_entry(name: str, request: Request) -> Response:
        """Check the browser, then send the participant to their game pod."""
        return count_entry(plane, name, await enter(name, request, measured=False))

    @router.get("/x/{name}/go", response_class=HTMLResponse)
    async def participant_entry_measured(name: str, request: Request) -> Response:
        """The entry again, now with the screen size the browser reported."""
        return count_entry(plane, name, await enter(name, request, measured=True))

    return router
