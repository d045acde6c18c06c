"""Streamed S3 objects: seekable ranged reads and multipart uploads, in bounded memory.

Written on boto3's own calls rather than taken from a library: boto3's `upload_fileobj` pulls
from a file while our Parquet and CSV writers push into one, and the readers we looked at
(smart_open, s3fs) either re-open a streaming GET at every seek, which a Parquet reader does for
each footer and column, or bring their own pinned botocore. Small objects (every data chunk a
pod writes) come back in one GET; larger ones are read in ranges as the reader asks for them.
"""

from __future__ import annotations

import io
from typing import Any

from gymkube.storage.backends import MiB, error_code, missing_key

WHOLE_BELOW = 8 * MiB
"""Objects up to this size are fetched in one GET (a data chunk is usually far smaller)."""
_READ_BUFFER = 1 * MiB
_ATTEMPTS = 3


def _body(client: Any, bucket: str, key: str, start: int, end: int) -> tuple[bytes, int]:
    """Bytes start..end (inclusive) of the object and its total size; retried when a body breaks off."""
    from botocore.exceptions import ClientError, ConnectionError, IncompleteReadError, ReadTimeoutError

    for attempt in range(_ATTEMPTS):
        try:
            response = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}")
            with response["Body"] as body:
                data = bytes(body.read())
            total = int(str(response.get("ContentRange", "")).rpartition("/")[2] or len(data))
            return data, total
        except ClientError as exc:
            if missing_key(exc):
                raise KeyError(key) from None
            if error_code(exc) == "InvalidRange":  # an empty object has no byte 0
                return b"", 0
            raise
        except (ConnectionError, IncompleteReadError, ReadTimeoutError):
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


class SeekableView(io.RawIOBase):
    """A read-only, seekable view of `size` bytes that a subclass fetches in `read_at` (a range of an S3
    object, a member inside a chunk's zip): what a Parquet reader needs to read only what it seeks."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self.position = base + offset
        return self.position

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.size - self.position)
        if count <= 0:
            return 0
        read = self.read_at(self.position, memoryview(buffer)[:count])
        self.position += read
        return read

    def read_at(self, position: int, buffer: memoryview) -> int:
        """Fill `buffer` (or its start) with the bytes from `position`; how many were read."""
        raise NotImplementedError


class RangedObject(SeekableView):
    """A seekable, read-only view of an S3 object; each raw read is one ranged GET."""

    def __init__(self, client: Any, bucket: str, key: str, size: int) -> None:
        super().__init__(size)
        self.client, self.bucket, self.key = client, bucket, key

    def read_at(self, position: int, buffer: memoryview) -> int:
        data, _ = _body(self.client, self.bucket, self.key, position, position + len(buffer) - 1)
        buffer[: len(data)] = data
        return len(data)


def open_object(client: Any, bucket: str, key: str) -> io.BufferedIOBase:
    """A seekable reader of the object: in memory when small, else by ranged GETs. KeyError when missing."""
    head, size = _body(client, bucket, key, 0, WHOLE_BELOW - 1)
    if size <= len(head):
        return io.BytesIO(head)
    return io.BufferedReader(RangedObject(client, bucket, key, size), _READ_BUFFER)


class MultipartUpload(io.RawIOBase):
    """A write-only file whose bytes go to S3 in parts of `part_size` as they come.

    At most one part is held in memory. `commit()` completes the upload (a single PUT when
    everything fit in one part); `abort()` drops the parts so nothing half-written appears.
    """

    def __init__(self, client: Any, bucket: str, key: str, part_size: int) -> None:
        if part_size < 5 * MiB:
            raise ValueError("S3 multipart parts must be at least 5 MiB")
        self.client, self.bucket, self.key, self.part_size = client, bucket, key, part_size
        self.buffer = bytearray()
        self.written = 0
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.written

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.buffer += view
        self.written += len(view)
        while len(self.buffer) >= self.part_size:
            part, self.buffer = self.buffer, self.buffer[self.part_size :]
            del part[self.part_size :]  # the part is sent as it is, not copied
            self._upload_part(part)
        return len(view)

    def _upload_part(self, data: bytearray) -> None:
        if self.upload_id is None:
            self.upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key)["UploadId"]
        number = len(self.parts) + 1
        reply = self.client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data
        )
        self.parts.append({"PartNumber": number, "ETag": reply["ETag"]})

    def commit(self) -> None:
        """Make the object: the last part and completion, or one PUT for a small object."""
        if self.upload_id is None:
            self.client.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer))
        else:
            if self.buffer:
                self._upload_part(self.buffer)
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
            )
        self.buffer = bytearray()

    def abort(self) -> None:
        """Drop the parts uploaded so far."""
        self.buffer = bytearray()
        if self.upload_id is not None:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
            self.upload_id = None
