"""The control plane's internal API for game pods: signed storage URLs and TURN credentials, per experiment.

A game pod holds only its own experiment's key (see gymkube/keys.py). With the credential derived
from it, it may ask for URLs to GET or PUT single objects under its experiment's prefix (chunks and
progress) and to GET the bundle its spec names, and for short-lived TURN credentials. Nothing
else: no listing, no deleting, no other experiment's keys, no other bundle.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from gymkube.keys import POD_API, derive, same
from gymkube.platform.api.deps import Plane
from gymkube.platform.plane import ControlPlane
from gymkube.platform.runtime.base import ExperimentRecord
from gymkube.storage.backends import check_key

SIGNED_URL_S = 900
"""How long a signed storage URL works."""
MAX_OPS = 64
MAX_BLOB_BYTES = 256 * 1024 * 1024
"""The largest object a pod may PUT through the control plane (local storage; S3 takes the bytes itself)."""
PARTICIPANT = re.compile(r"[A-Za-z0-9_.@-]{1,128}")
DIGEST = re.compile(r"sha256:([0-9a-f]{64})")

_bearer = HTTPBearer(auto_error=False, description="The game pod's credential, derived from its experiment's key.")


class StorageOp(BaseModel):
    """One object a pod wants to read or write."""

    model_config = ConfigDict(extra="forbid")
    method: Literal["GET", "PUT"]
    key: str = Field(max_length=512)


class SignRequest(BaseModel):
    """Objects to sign URLs for, in order."""

    model_config = ConfigDict(extra="forbid")
    ops: list[StorageOp] = Field(min_length=1, max_length=MAX_OPS)


class SignedUrls(BaseModel):
    """One URL per requested object, in the same order; each works for `expires_s` seconds."""

    urls: list[str]
    expires_s: int


class TurnRequest(BaseModel):
    """Whose TURN credentials (the participant's id is part of the TURN username)."""

    model_config = ConfigDict(extra="forbid")
    participant: str = Field(pattern=PARTICIPANT.pattern, max_length=128)


def allowed(record: ExperimentRecord, method: str, key: str) -> bool:
    """Whether a pod of `record`'s experiment may `method` the object `key`.

    PUT: its own chunks and progress. GET: its own progress (resuming a participant) and the
    bundle its spec names. Keys are checked as storage keys first (no `..`, no odd characters).
    """
    try:
        check_key(key)
    except ValueError:
        return False
    parts = key.split("/")
    own = len(parts) == 4 and parts[0] == "experiments" and parts[1] == record.name
    if method == "PUT":
        return own and parts[2] in ("chunks", "progress")
    if own and parts[2] == "progress":
        return True
    digest = DIGEST.fullmatch(record.bundle_digest or "")
    return digest is not None and key == f"bundles/{digest.group(1)}.zip"


def blob_signature(secret: str, name: str, method: str, key: str, expires: int) -> str:
    """The signature of a control-plane blob URL (local storage has no presigned URLs of its own)."""
    message = f"{name}\n{method}\n{key}\n{expires}".encode()
    return hmac.new(derive(secret, "blob-url").encode(), message, hashlib.sha256).hexdigest()


def game_pod(
    name: str, plane: Plane, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> ExperimentRecord:
    """The experiment whose game pod presented this credential; 401 otherwise (the same for unknown names)."""
    record = plane.runtime.get(name)
    presented = credentials.credentials if credentials else None
    if record is None or not same(presented, derive(plane.experiment_key(record), POD_API)):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="only a game pod of this experiment may ask this",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return record


GamePod = Annotated[ExperimentRecord, Depends(game_pod)]


def make_internal_router(plane: ControlPlane) -> APIRouter:
    """`/internal/v1/...`: what game pods may ask of the control plane."""
    router = APIRouter(prefix="/internal/v1", tags=["internal (game pods)"])

    def sign(record: ExperimentRecord, op: StorageOp) -> str:
        storage = plane.storage_for(record, op.key)
        url = storage.presign(op.method, op.key, SIGNED_URL_S)
        if url is not None:
            return url
        expires = int(time.time()) + SIGNED_URL_S
        signature = blob_signature(plane.secret, record.name, op.method, op.key, expires)
        return f"internal/v1/blob/{record.name}/{op.key}?m={op.method}&x={expires}&s={signature}"

    @router.post("/experiments/{name}/storage", response_model=SignedUrls)
    async def sign_storage(record: GamePod, request: SignRequest) -> SignedUrls:
        """Signed URLs for objects of this experiment; 403 names the first key it may not touch."""
        for op in request.ops:
            if not allowed(record, op.method, op.key):
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN, f"a game pod of {record.name!r} may not {op.method} {op.key!r}"
                )
        urls = await asyncio.to_thread(lambda: [sign(record, op) for op in request.ops])
        return SignedUrls(urls=urls, expires_s=SIGNED_URL_S)

    async def blob_record(name: str, key: str, m: str, x: int, s: str) -> ExperimentRecord:
        record = plane.runtime.get(name)
        expected = blob_signature(plane.secret, name, m, key, x)
        if record is None or x < time.time() or not same(s, expected) or not allowed(record, m, key):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, "this URL is not valid (expired, or signed for something else)"
            )
        return record

    @router.get("/blob/{name}/{key:path}")
    async def get_blob(name: str, key: str, m: Literal["GET"], x: int, s: str) -> Response:
        """An object of local storage, through a URL this control plane signed."""
        record = await blob_record(name, key, m, x, s)
        try:
            data = await asyncio.to_thread(plane.storage_for(record, key).get, key)
        except KeyError:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such object") from None
        return Response(data, media_type="application/octet-stream")

    @router.put("/blob/{name}/{key:path}", status_code=status.HTTP_204_NO_CONTENT)
    async def put_blob(name: str, key: str, m: Literal["PUT"], x: int, s: str, request: Request) -> Response:
        """Store an object in local storage, through a URL this control plane signed."""
        record = await blob_record(name, key, m, x, s)
        body = bytearray()
        async for piece in request.stream():
            body += piece
            if len(body) > MAX_BLOB_BYTES:
                raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "the object is too large")
        await asyncio.to_thread(plane.storage_for(record, key).put, key, bytes(body))
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post("/experiments/{name}/turn")
    async def turn(record: GamePod, request: TurnRequest) -> dict[str, object]:
        """TURN credentials for one participant (a shared secret stays here; static ones are handed out)."""
        return plane.turn_credentials(record, request.participant)

    return router
