"""Storage for a game pod that holds no storage credentials: short-lived signed URLs from the control plane.

A game pod runs researchers' code, so it must not hold keys to the whole bucket. Instead it asks
the control plane's internal API (`/internal/v1/experiments/{name}/storage`), authenticated with
its experiment's pod credential, for URLs that GET or PUT single objects of its own experiment;
the control plane signs them only for keys the experiment may touch (its chunks and progress,
and the bundle its spec names). On S3 the URLs are presigned S3 URLs, so the bytes go straight to
the bucket; with a local folder they point back at the control plane, which writes the file.

Why signed URLs rather than per-experiment storage credentials: they work on every S3 endpoint
(AWS, MinIO, SeaweedFS, GCS interop) and on a plain folder, with no IAM or bucket-policy set-up per
experiment, and a leaked URL names one object for minutes.

URLs are cached until half their life is over, so the hot path (a chunk a second, progress saves)
costs one PUT, plus one signing request now and then.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO
from urllib.parse import urljoin

import httpx

from gymkube.storage.backends import Storage, check_key

SIGN_BATCH = 64
"""Keys signed per request to the control plane (the control plane refuses more)."""


class BrokerError(RuntimeError):
    """The control plane refused to sign, or storage refused the signed request."""


class BrokeredStorage(Storage):
    """GET and PUT of one experiment's objects through signed URLs; listing and deleting are not a pod's business."""

    def __init__(self, control_plane: str, experiment: str, credential: str, timeout_s: float = 10.0) -> None:
        self.base = control_plane.rstrip("/") + "/"
        self.experiment = experiment
        self.url = f"{self.base}internal/v1/experiments/{experiment}/storage"
        self._auth = {"Authorization": f"Bearer {credential}"}
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)
        self._cache: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def _signed(self, method: str, keys: list[str]) -> list[str]:
        """Signed URLs for `keys`, from the cache or the control plane."""
        now = time.monotonic()
        with self._lock:
            urls = {key: hit[0] for key in keys if (hit := self._cache.get((method, key))) and hit[1] > now}
        missing = [key for key in keys if key not in urls]
        for start in range(0, len(missing), SIGN_BATCH):
            batch = missing[start : start + SIGN_BATCH]
            reply = self._client.post(
                self.url, json={"ops": [{"method": method, "key": key} for key in batch]}, headers=self._auth
            )
            if reply.status_code != 200:
                raise BrokerError(f"the control plane refused to sign {method} {batch[0]}: {_detail(reply)}")
            body = reply.json()
            fresh_until = now + float(body["expires_s"]) / 2
            with self._lock:
                for key, url in zip(batch, body["urls"], strict=True):
                    absolute = urljoin(self.base, url)
                    self._cache[(method, key)] = (absolute, fresh_until)
                    urls[key] = absolute
        return [urls[key] for key in keys]

    def put(self, key: str, data: bytes) -> None:
        """PUT through a signed URL."""
        (url,) = self._signed("PUT", [check_key(key)])
        reply = self._client.put(url, content=data)
        if reply.status_code not in (200, 201, 204):
            self._forget("PUT", key)
            raise BrokerError(f"storage refused PUT {key}: {reply.status_code} {_detail(reply)}")

    def get(self, key: str) -> bytes:
        """GET through a signed URL; KeyError when there is no such object."""
        (url,) = self._signed("GET", [check_key(key)])
        reply = self._client.get(url)
        if reply.status_code == 404:
            raise KeyError(key)
        if reply.status_code != 200:
            self._forget("GET", key)
            raise BrokerError(f"storage refused GET {key}: {reply.status_code} {_detail(reply)}")
        return reply.content

    def _forget(self, method: str, key: str) -> None:
        with self._lock:
            self._cache.pop((method, key), None)

    def list(self, prefix: str) -> list[str]:
        """A game pod lists nothing (least privilege)."""
        raise BrokerError("game pods cannot list storage")

    def delete(self, key: str) -> None:
        """A game pod deletes nothing (least privilege)."""
        raise BrokerError("game pods cannot delete from storage")

    def iter_keys(self, prefix: str, after: str = "") -> Iterator[str]:
        """A game pod lists nothing (least privilege)."""
        raise BrokerError("game pods cannot list storage")

    def open_read(self, key: str) -> BinaryIO:
        """The object's bytes through a signed GET (a pod reads only small objects: progress, its bundle)."""
        return io.BytesIO(self.get(key))

    @contextmanager
    def open_write(self, key: str) -> Iterator[BinaryIO]:
        """Bytes written in the block become the object through one signed PUT when it ends without an error."""
        buffer = io.BytesIO()
        yield buffer
        self.put(key, buffer.getvalue())

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


def _detail(reply: httpx.Response) -> Any:
    try:
        return reply.json().get("detail", reply.text[:200])
    except ValueError:
        return reply.text[:200]
