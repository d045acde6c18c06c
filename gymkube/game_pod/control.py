"""The control plane's requests to a game pod: end a participant's session with one of the spec's endings.

Game pods already call the control plane (signed storage URLs, TURN credentials); this is the other
direction, for the researcher dashboard. Why a request to the pod rather than the pod polling for
commands: the control plane knows every pod's address (it reads their load each second), a request
takes effect at once, and nothing has to be stored where several control plane replicas agree.
The caller shows a credential derived from the experiment's key for this one purpose
(`POD_CONTROL`, gymkube/keys.py): the control plane holds it, a participant or another
experiment's pod cannot make it. The route is served at the pod's root only, never under the
public path the Ingress routes to the pod.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gymkube.keys import POD_CONTROL, derive, same
from gymkube.tokens import is_participant_id

if TYPE_CHECKING:
    from gymkube.game_pod.pod import Pod

Ending = Literal["wait_timeout", "partner_left", "dropped", "excluded", "technical"]
MAX_BODY_BYTES = 1024
RESEARCHER = re.compile(r"[A-Za-z0-9._@-]{1,64}")
ENDED_WAIT_S = 5.0
"""How long the answer waits for the ending to be saved (a group's partner is told in the background)."""


class EndRequest(BaseModel):
    """Which ending, and who asked (recorded in the `ended_by_researcher` event)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    ending: Ending
    by: str = Field(pattern=RESEARCHER.pattern, max_length=64)


def control_credential(experiment_key: str) -> str:
    """The bearer credential of control requests to the pods of the experiment with this key."""
    return derive(experiment_key, POD_CONTROL)


async def end_participant(pod: Pod, participant: str, ending: str, by: str) -> dict[str, object] | None:
    """End a participant's session here with `ending`; None when they are not on this pod.

    The open episode is recorded as `error` (technical) or `excluded` (any other ending); in a group
    game the spec's `onDropout` decides for the partners, as when a participant is excluded.
    """
    session = pod.sessions.get(participant)
    if session is None:
        return None
    progress = session.progress
    if progress.status == "active":
        pod.event(session, "ended_by_researcher", {"ending": ending, "by": by, "scene": progress.current})
        session.leave_lobby("ended")
        game = session.game
        if game is not None and game.is_active and not session.alone_in(game):
            session.leave_group(ending)  # ends this session too, in the background
            deadline = asyncio.get_running_loop().time() + ENDED_WAIT_S
            while progress.end_reason is None and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.02)
        else:
            session.end_game("error" if ending == "technical" else "excluded")
            await session.end_session(ending)
    return {"participant": participant, "status": progress.status, "ending": progress.end_reason,
            "code": progress.completion_code}  # fmt: skip


def control_routes(pod: Pod) -> list[Route]:
    """`POST /control/participants/{participant}/end` (at the pod's root)."""
    expected = control_credential(pod.settings.secret)

    async def end(request: Request) -> Response:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not same(presented, expected):
            return JSONResponse({"detail": "only the control plane may ask this"}, status_code=401)
        participant = request.path_params["participant"]
        body = await request.body()
        if not is_participant_id(participant) or len(body) > MAX_BODY_BYTES:
            return JSONResponse({"detail": "not a participant id, or too large a request"}, status_code=422)
        try:
            asked = EndRequest.model_validate_json(body)
        except ValidationError as exc:
            return JSONResponse({"detail": exc.errors(include_url=False, include_input=False)}, status_code=422)
        result = await end_participant(pod, participant, asked.ending, asked.by)
        if result is None:
            return JSONResponse({"detail": f"{participant} is not on this pod"}, status_code=404)
        return JSONResponse(result)

    return [Route("/control/participants/{participant}/end", end, methods=["POST"])]
