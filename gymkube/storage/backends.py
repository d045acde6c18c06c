"""Storage backends: durable key/value objects in a local folder or an S3 bucket."""

from __future__ import annotations

import bisect
import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, BinaryIO

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

    @abstractmethod
    def iter_keys(self, prefix: str, after: str = "") -> Iterator[str]:
        """Keys under `prefix` that sort after `after` (a whole key), in order, fetched as they are needed."""

    @abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """A seekable reader of the object that need not load it whole; KeyError when there is none."""

    @abstractmethod
    def open_write(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A file whose bytes become the object when the block ends without an error.

        Written in bounded memory; until the block ends the object keeps its old content, and
        when the block raises nothing is stored.
        """

    def presign(self, method: str, key: str, expires_s: int) -> str | None:
        """A URL that GETs or PUTs one object without credentials until it expires; None where the backend has none."""
        return None


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
        with self.open_write(key) as handle:
            handle.write(data)

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
            str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file() and not p.name.startswith(".tmp-")
        ]
        return sorted(keys)

    def delete(self, key: str) -> None:
        """Unlink the file if present."""
        self._path(key).unlink(missing_ok=True)

    def iter_keys(self, prefix: str, after: str = "") -> Iterator[str]:
        """The listed keys past `after` (a folder listing is one call; only the names are held)."""
        keys = self.list(prefix)
        yield from keys[bisect.bisect_right(keys, after) :]

    def open_read(self, key: str) -> BinaryIO:
        """The file, opened for reading; KeyError when missing."""
        try:
            return open(self._path(key), "rb")  # noqa: SIM115 - the caller closes it
        except FileNotFoundError:
            raise KeyError(key) from None

    @contextmanager
    def open_write(self, key: str) -> Iterator[BinaryIO]:
        """A temporary file beside the target, fsynced and renamed over it at the end."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


MiB = 1024 * 1024


def error_code(exc: Exception) -> str:
    """The S3 error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


_MISSING_KEY = {"NoSuchKey", "404", "NotFound"}
_MISSING_BUCKET = {"NoSuchBucket", "404", "NotFound"}


def missing_key(exc: Exception) -> bool:
    """Whether a botocore error says the object does not exist."""
    return error_code(exc) in _MISSING_KEY


class S3Storage(Storage):
    """Objects in an S3 bucket under a prefix, through boto3 (AWS or any S3 endpoint).

    Credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
    profiles, instance roles) unless given; the endpoint from `endpoint_url` or
    GYMKUBE_S3_ENDPOINT (then path-style addressing, as SeaweedFS and MinIO need); the region
    from `region`, GYMKUBE_S3_REGION or AWS_DEFAULT_REGION. Timeouts are short and retries few,
    so an unreachable server fails within seconds and callers (the data spool) retry later.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        multipart_threshold: int = 16 * MiB,
        multipart_chunksize: int = 16 * MiB,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        max_attempts: int = 3,
        **client_options: Any,
    ) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        if multipart_chunksize < 5 * MiB:
            raise ValueError("S3 multipart parts must be at least 5 MiB")
        if multipart_threshold < 1:
            raise ValueError("the multipart threshold must be positive")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        endpoint_url = endpoint_url or os.environ.get("GYMKUBE_S3_ENDPOINT") or None
        region = region or os.environ.get("GYMKUBE_S3_REGION") or None
        self.endpoint_url = endpoint_url
        options: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key,
            "aws_secret_access_key": secret_key,
        }
        options.update(client_options)
        options = {k: v for k, v in options.items() if v is not None}
        # A session of its own reads the credentials as they are now; boto3's shared default
        # session would keep whatever it first found for the life of the process.
        session = boto3.session.Session()
        if endpoint_url and "region_name" not in options and not session.region_name:
            options["region_name"] = "us-east-1"  # SigV4 needs one; S3-compatible servers ignore it
        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"mode": "standard", "max_attempts": max_attempts},
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        if isinstance(extra := options.get("config"), Config):
            config = config.merge(extra)
        options["config"] = config
        self.client = session.client("s3", **options)
        self.region = self.client.meta.region_name
        self.transfer_config = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=4,
        )

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes) -> None:
        """PUT the object; at or above the multipart threshold, a multipart upload in parts."""
        import io

        full_key = self._key(key)
        if len(data) < self.transfer_config.multipart_threshold:
            self.client.put_object(Bucket=self.bucket, Key=full_key, Body=data)
            return
        self.client.upload_fileobj(io.BytesIO(data), self.bucket, full_key, Config=self.transfer_config)

    def get(self, key: str) -> bytes:
        """GET the object; KeyError when missing."""
        from botocore.exceptions import ClientError

        full_key = self._key(key)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=full_key)
        except ClientError as exc:
            if missing_key(exc):
                raise KeyError(key) from None
            raise
        with response["Body"] as body:
            return bytes(body.read())

    def list(self, prefix: str) -> list[str]:
        """Keys below the folder-like `prefix` (as LocalStorage: 'a' means 'a/'), paginated."""
        return list(self.iter_keys(prefix))

    def iter_keys(self, prefix: str, after: str = "") -> Iterator[str]:
        """Keys below `prefix` past `after`, one listing page (1,000 keys) at a time.

        S3 lists in byte order, which for the keys `check_key` allows is Python's string order.
        """
        folder = prefix.strip("/")
        if folder:
            check_key(folder)
            folder += "/"
        options = {"Bucket": self.bucket, "Prefix": self.prefix + folder}
        if after:
            options["StartAfter"] = self.prefix + after
        for page in self.client.get_paginator("list_objects_v2").paginate(**options):
            for obj in page.get("Contents", []):
                if not obj["Key"].endswith("/"):  # folder markers some servers list
                    yield obj["Key"][len(self.prefix) :]

    def open_read(self, key: str) -> BinaryIO:
        """The object in one GET when small, else read in ranges as it is read; KeyError when missing."""
        from gymkube.storage.s3io import open_object

        return open_object(self.client, self.bucket, self._key(key))  # type: ignore[return-value]

    @contextmanager
    def open_write(self, key: str) -> Iterator[BinaryIO]:
        """A multipart upload in parts of `multipart_chunksize`; aborted when the block raises."""
        from gymkube.storage.s3io import MultipartUpload

        upload = MultipartUpload(self.client, self.bucket, self._key(key), self.transfer_config.multipart_chunksize)
        try:
            yield upload  # type: ignore[misc]
            upload.commit()
        except BaseException:
            upload.abort()
            raise

    def delete(self, key: str) -> None:
        """DELETE the object; no error when it is already gone."""
        from botocore.exceptions import ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if error_code(exc) not in _MISSING_KEY:
                raise

    def presign(self, method: str, key: str, expires_s: int) -> str:
        """A presigned S3 URL for one GET or PUT of the object (SigV4, valid for `expires_s`)."""
        operation = {"GET": "get_object", "PUT": "put_object"}[method]
        return str(
            self.client.generate_presigned_url(
                operation, Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=int(expires_s)
            )
        )

    def presigned_url(self, key: str, expires_s: int = 3600) -> str:
        """A URL that GETs the object without credentials until it expires."""
        return self.presign("GET", key, expires_s)

    def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist yet (an existing one of ours is fine)."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if error_code(exc) not in _MISSING_BUCKET:
                raise
        options: dict[str, Any] = {"Bucket": self.bucket}
        if not self.endpoint_url and self.region and self.region != "us-east-1":
            options["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.client.create_bucket(**options)
        except ClientError as exc:
            if error_code(exc) != "BucketAlreadyOwnedByYou":
                raise


def open_storage(url: str | Path) -> Storage:
    """`s3://bucket/prefix` (endpoint and credentials from the environment) or a local folder."""
    text = str(url)
    if text.startswith("s3://"):
        bucket, _, prefix = text[5:].partition("/")
        if not bucket:
            raise ValueError(f"no bucket in storage URL {text!r}")
        return S3Storage(bucket, prefix)
    return LocalStorage(text)
