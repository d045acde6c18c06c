"""Storage backends: durable key/value objects in a local folder or an S3 bucket."""

from __future__ import annotations

import os
import re
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

_KEY = re.compile(r"^[A-Za-z0-9._=-]+(/[A-Za-z0-9._=-]+)*$")


def check_key(key: str) -> str:
    """Refuse keys that could escape the storage root (`..`, absolute, odd characters)."""
    if not _KEY.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"invalid storage key {key!r}")
    return key


class Storage(ABC):
    """Blocking object storage; async callers run these methods in a thread."""

    url: str

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key` durably (replacing any previous object)."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The object's bytes; KeyError when there is none."""

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Keys under `prefix` (a folder-like prefix ending in '/'), sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; no error when it is already gone."""


class LocalStorage(Storage):
    """Objects as files below a folder; writes are atomic and fsynced."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        """Write to a temporary file, fsync, then rename over the target."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        """Read the file; KeyError when missing."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def list(self, prefix: str) -> list[str]:
        """Files below the prefix folder, temporary files excluded."""
        base = self.root / prefix.rstrip("/") if prefix else self.root
        if not base.is_dir():
            return []
        keys = [
            str(p.relative_to(self.root))
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        ]
        return sorted(keys)

    def delete(self, key: str) -> None:
        """Unlink the file if present."""
        self._path(key).unlink(missing_ok=True)


class S3Storage(Storage):
    """Objects in an S3 bucket under a prefix, through boto3 (any S3 endpoint)."""

    def __init__(self, bucket: str, prefix: str = "", **client_options: Any) -> None:
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        options = {k: v for k, v in client_options.items() if v is not None}
        if endpoint := os.environ.get("GYMKUBE_S3_ENDPOINT"):
            options.setdefault("endpoint_url", endpoint)
        self.client = boto3.client("s3", **options)

    def put(self, key: str, data: bytes) -> None:
        """PUT the object (multipart above 64 MiB through boto3's transfer manager)."""
        import io

        from boto3.s3.transfer import TransferConfig

        self.client.upload_fileobj(
            io.BytesIO(data),
            self.bucket,
            self.prefix + check_key(key),
            Config=TransferConfig(multipart_threshold=64 * 1024 * 1024),
        )

    def get(self, key: str) -> bytes:
        """GET the object; KeyError when missing."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + check_key(key))
        except self.client.exceptions.NoSuchKey:
            raise KeyError(key) from None
        return bytes(response["Body"].read())

    def list(self, prefix: str) -> list[str]:
        """Keys under the prefix, paginated."""
        paginator = self.client.get_paginator("list_objects_v2")
        keys: list[str] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            keys.extend(obj["Key"][len(self.prefix) :] for obj in page.get("Contents", []))
        return sorted(keys)

    def delete(self, key: str) -> None:
        """DELETE the object."""
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + check_key(key))


def open_storage(url: str | Path) -> Storage:
    """`s3://bucket/prefix` or a local folder path."""
    text = str(url)
    if text.startswith("s3://"):
        bucket, _, prefix = text[5:].partition("/")
        return S3Storage(bucket, prefix)
    return LocalStorage(text)
