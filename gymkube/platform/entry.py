"""The participant entry `/x/{experiment}`: who they are, which pod, and a signed token."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gymkube.platform.routing import Router
from gymkube.spec.experiment import Experiment
from gymkube.tokens import sign_token

PARTICIPANT_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,128}$")
COOKIE = "gymkube_participant"


@dataclass
class ExperimentEntry:
    """What the entry needs to know about one running experiment."""

    experiment: Experiment
    router: Router
    ordinals: dict[str, int] = field(default_factory=dict)

    def ordinal(self, participant: str) -> int:
        """A participant's arrival number (counterbalancing uses it)."""
        return self.ordinals.setdefault(participant, len(self.ordinals))


def page(title: str, message: str, status: int) -> HTMLResponse:
    """A plain, friendly page for participants (never a stack trace)."""
    body = (
        "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
        f"<title>{html.escape(title)}</title><body style='font:18px system-ui;max-width:40em;"
        f"margin:4em auto;padding:0 1em;line-height:1.5'><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(message)}</p></body>"
    )
    return HTMLResponse(body, status_code=status)


def make_entry_router(entries: dict[str, ExperimentEntry], secret: str) -> APIRouter:
    """The `/x/{name}` route over the experiments being served."""
    router = APIRouter(tags=["participants"])

    @router.get("/x/{name}", response_class=HTMLResponse)
    async def enter(name: str, request: Request) -> Response:
        """Send a participant to their game pod with a signed token."""
        entry = entries.get(name)
        if entry is None:
            return page("Study not found", "Please check the link you were given.", 404)
        recruitment = entry.experiment.spec.recruitment
        params = request.query_params
        participant = params.get(recruitment.participant_param or "") or request.cookies.get(
            f"{COOKIE}_{name}"
        )
        if participant is not None and not PARTICIPANT_ID.match(participant):
            return page("Link not valid", "The participant id in this link is not valid.", 400)
        participant = participant or uuid.uuid4().hex
        pod = entry.router.route(participant)
        if pod is None:
            return page("Study full", "The study is full right now. Please come back later.", 503)
        recorded = {k: params[k][:200] for k in recruitment.record_params if k in params}
        if recruitment.participant_param and recruitment.participant_param in params:
            recorded[recruitment.participant_param] = participant
        token = sign_token(
            secret,
            {
                "x": name,
                "p": participant,
                "s": uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{participant}").hex,
                "n": entry.ordinal(participant),
                "q": recorded,
            },
        )
        response = RedirectResponse(f"{pod.url}?{urlencode({'t': token})}", status_code=303)
        response.set_cookie(f"{COOKIE}_{name}", participant, httponly=True, samesite="lax")
        return response

    return router
