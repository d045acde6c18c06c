"""FastAPI dependencies: the control plane, the researcher behind a token, experiment access."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gymkube.platform.auth import Researcher
from gymkube.platform.plane import ControlPlane
from gymkube.platform.runtime.base import ExperimentRecord

_bearer = HTTPBearer(auto_error=False, description="A token from `gymkube token create NAME`.")


def get_plane(request: Request) -> ControlPlane:
    """The control plane of this app."""
    plane: ControlPlane = request.app.state.plane
    return plane


Plane = Annotated[ControlPlane, Depends(get_plane)]


async def require_token(
    plane: Plane, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Researcher:
    """The researcher holding the bearer token; 401 without a valid one."""
    researcher = await plane.state.verify_token(credentials.credentials) if credentials else None
    if researcher is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="a valid researcher token is required (Authorization: Bearer ...); "
            "create one with `gymkube token create NAME`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return researcher


CurrentResearcher = Annotated[Researcher, Depends(require_token)]


def check_scope(researcher: Researcher, name: str) -> None:
    """403 when the token is scoped to other experiments."""
    if not researcher.can(name):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail=f"this token is not allowed to access experiment {name!r}"
        )


async def experiment_record(name: str, plane: Plane, researcher: CurrentResearcher) -> ExperimentRecord:
    """The experiment in the path, checked against the token's scope; 404 when unknown.

    Read fresh from the runtime: another replica may have just created or changed it.
    """
    check_scope(researcher, name)
    await plane.refresh()
    record = plane.runtime.get(name)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no experiment named {name!r}")
    return record


ScopedExperiment = Annotated[ExperimentRecord, Depends(experiment_record)]
