"""Experiment bundles: zips of a researcher's files, checked, stored by digest and safely extracted."""

from __future__ import annotations

import copy
import hashlib
import io
import os
import re
import shutil
import stat
import struct
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gymkube.storage.backends import Storage

MIB = 1024 * 1024
MARKER = ".gymkube-bundle"  # written into an extracted bundle; holds its digest
DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
_BLOCK = 64 * 1024  # bytes read per step while streaming an entry
_CD_RECORD_MAX = 4096  # generous size of one central-directory record, to bound parsing work
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_DRIVE = re.compile(r"^[A-Za-z]:")


class BundleError(ValueError):
    """A bundle refused; `str()` is a message for the researcher, `status` the HTTP code.

    413: larger than a limit (compressed size, uncompressed size, entry count).
    400: not a zip at all, or a damaged one (empty body, truncated, CRC mismatch).
    422: a readable zip with refused content (unsafe names, links, encryption,
    duplicates, forged sizes, excessive compression ratio, no files).
    500: a stored bundle no longer matches its digest (storage corruption).
    """

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class BundleLimits:
    """Bounds on what a bundle may contain; the ratio applies above `ratio_min_bytes`."""

    max_compressed_bytes: int = 50 * MIB
    max_uncompressed_bytes: int = 200 * MIB
    max_entries: int = 2000
    max_entry_bytes: int = 100 * MIB
    max_ratio: float = 200.0
    ratio_min_bytes: int = 1 * MIB

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value <= 0:
                raise ValueError(f"BundleLimits.{name} must be positive, not {value}")


DEFAULT_LIMITS = BundleLimits()


@dataclass(frozen=True)
class BundleInfo:
    """What an accepted bundle holds: its digest, its files (sorted) and their total size."""

    digest: str
    files: list[str]
    uncompressed_bytes: int


def bundle_files(bundle_dir: Path) -> list[Path]:
    """A bundle folder's files, sorted, caches and the extraction marker left out: what its hash covers."""
    return sorted(p for p in bundle_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.name != MARKER)


def bundle_hash(bundle_dir: Path | None) -> str | None:
    """sha256 over a bundle folder's files (paths and contents, sorted), or None without one.

    The same for the researcher's folder, its upload extracted on a pod, and its copy in storage.
    """
    if bundle_dir is None or not bundle_dir.is_dir():
        return None
    digest = hashlib.sha256()
    for path in bundle_files(bundle_dir):
        digest.update(str(path.relative_to(bundle_dir)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def zip_folder(folder: Path) -> bytes:
    """A bundle folder as a zip, the same bytes for the same files (fixed times): one digest per content."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in bundle_files(folder):
            entry = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def bundle_key(digest: str) -> str:
    """The storage key `bundles/<hex>.zip` of a `sha256:<hex>` digest; BundleError (400) if malformed."""
    match = DIGEST.match(digest) if isinstance(digest, str) else None
    if match is None:
        raise BundleError(f"{digest!r} is not a bundle digest (expected sha256:<64 hex digits>)", 400)
    return f"bundles/{match.group(1)}.zip"


def _end_record(data: bytes) -> tuple[int, int] | None:
    """(entries, central directory bytes) from the end record, before zipfile parses anything."""
    pos = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 65535))
    if pos < 0 or len(data) - pos < 22:
        return None
    entries, cd_size = struct.unpack_from("<HL", data, pos + 10)
    if (entries == 0xFFFF or cd_size == 0xFFFFFFFF) and pos >= 76:
        if data[pos - 20 : pos - 16] == b"PK\x06\x07" and data[pos - 76 : pos - 72] == b"PK\x06\x06":
            entries, cd_size = struct.unpack_from("<QQ", data, pos - 76 + 32)
    return entries, cd_size


def _check_entry(info: zipfile.ZipInfo, limits: BundleLimits) -> None:
    """Name, type, encryption, compression method and declared sizes of one directory entry."""
    name = info.orig_filename
    shown, is_dir = f"entry {name!r}", name.endswith("/")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        raise BundleError(f"{shown} has a NUL or control character in its name")
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise BundleError(f"{shown} is an absolute path; bundle paths must be relative")
    if "\\" in name:
        raise BundleError(f"{shown} contains a backslash; use '/' to separate folders")
    parts = (name[:-1] if is_dir else name).split("/")
    if ".." in parts:
        raise BundleError(f"{shown} has a '..' segment (path traversal)")
    if any(part in ("", ".") for part in parts):
        raise BundleError(f"{shown} has an empty or '.' path segment")
    if len(name.encode()) > 1024 or any(len(part.encode()) > 255 for part in parts):
        raise BundleError(f"{shown} has a name or path segment that is too long")
    if not is_dir and name.casefold() == MARKER:
        raise BundleError(f"{shown} uses a name reserved by gymkube")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise BundleError(f"{shown} is a symbolic link; links are not allowed")
    kind = stat.S_IFMT(mode)
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR) or (kind == stat.S_IFDIR and not is_dir):
        raise BundleError(f"{shown} is not a regular file or folder (mode {oct(mode)})")
    if info.flag_bits & 0x41:
        raise BundleError(f"{shown} is encrypted; upload an unencrypted zip")
    if info.compress_type not in _METHODS:
        raise BundleError(f"{shown} uses compression method {info.compress_type}; only stored and deflate")
    if info.is_dir():
        if info.file_size:
            raise BundleError(f"{shown} is a folder with content")
        return
    if info.file_size > limits.max_entry_bytes:
        declared = f"{info.file_size} bytes declared, limit {limits.max_entry_bytes}"
        raise BundleError(f"{shown} expands past the per-entry limit: {declared}", 413)
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > limits.ratio_min_bytes and ratio > limits.max_ratio:
        raise BundleError(f"{shown} has a compression ratio of {ratio:.0f}:1, above {limits.max_ratio:g}:1")


def _blocks(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """Decompress one entry in fixed-size blocks, refusing it once it passes its declared size."""
    shown = f"entry {info.orig_filename!r}"
    unbounded = copy.copy(info)
    # zipfile would silently stop at the declared size; raised, excess data shows up here as
    # forged and the CRC is checked over the real content. We stop before reaching it.
    unbounded.file_size = info.file_size + 2 * _BLOCK + 1
    count = 0
    try:
        with zf.open(unbounded) as handle:
            while block := handle.read(_BLOCK):
                count += len(block)
                if count > info.file_size:
                    raise BundleError(
                        f"{shown} expands past its declared size of {info.file_size} bytes (forged size field)"
                    )
                yield block
    except BundleError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError) as exc:
        raise BundleError(f"{shown} is corrupt ({exc})", 400) from None
    if count != info.file_size:
        raise BundleError(f"{shown} holds {count} bytes but declares {info.file_size} (forged size field)")


def _open(data: bytes, limits: BundleLimits) -> zipfile.ZipFile:
    """Cheap checks on the raw bytes, then the parsed archive with every entry's metadata checked."""
    if not data:
        raise BundleError("the upload is empty; expected a zip archive", 400)
    if len(data) > limits.max_compressed_bytes:
        limit = limits.max_compressed_bytes
        raise BundleError(f"the bundle is {len(data)} bytes, over the limit of {limit}", 413)
    if not data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        raise BundleError("the upload is not a zip archive", 400)
    record = _end_record(data)
    if record is not None:
        entries, cd_size = record
        if entries > limits.max_entries or cd_size > limits.max_entries * _CD_RECORD_MAX:
            raise BundleError(f"the bundle has more than {limits.max_entries} entries", 413)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, struct.error) as exc:
        raise BundleError(f"the zip archive is truncated or corrupt ({exc})", 400) from None
    try:
        _check_archive(zf, limits)
    except BaseException:
        zf.close()
        raise
    return zf


def _check_archive(zf: zipfile.ZipFile, limits: BundleLimits) -> None:
    """Entry count, each entry's metadata, name collisions and the declared total size."""
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise BundleError(f"the bundle has {len(infos)} entries, over the limit of {limits.max_entries}", 413)
    seen: dict[str, str] = {}
    files: set[str] = set()
    for info in infos:
        _check_entry(info, limits)
        key = unicodedata.normalize("NFC", info.filename.rstrip("/")).casefold()
        if key in seen:
            raise BundleError(f"entries {seen[key]!r} and {info.filename!r} collide (same name ignoring case)")
        seen[key] = info.filename
        if not info.is_dir():
            files.add(key)
    for key in files:
        parent = key.rpartition("/")[0]
        while parent:
            if parent in files:
                raise BundleError(f"entry {seen[parent]!r} is a file but also a folder of {seen[key]!r}")
            parent = parent.rpartition("/")[0]
    total = sum(info.file_size for info in infos)
    if total > limits.max_uncompressed_bytes:
        declared = f"{total} bytes declared, limit {limits.max_uncompressed_bytes}"
        raise BundleError(f"the bundle expands past the total limit: {declared}", 413)
    if not files:
        raise BundleError("the bundle contains no files")


def inspect_bundle(data: bytes, limits: BundleLimits = DEFAULT_LIMITS) -> BundleInfo:
    """Check a zip without writing or importing any of it.

    Declared sizes are checked against the limits, then every entry is really decompressed in
    fixed-size blocks and refused once it passes its declared size: a bomb costs at most the
    limits plus one block, in memory only one block.

    Args:
        data: The zip archive's bytes.
        limits: Size and count bounds.

    Returns:
        The bundle's digest, its file names (folders omitted) and its uncompressed size.

    Raises:
        BundleError: With a message naming the offending entry and an HTTP status.
    """
    with _open(data, limits) as zf:
        files = [info for info in zf.infolist() if not info.is_dir()]
        total = sum(len(block) for info in files for block in _blocks(zf, info))
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return BundleInfo(digest, sorted(info.filename for info in files), total)


def store_bundle(storage: Storage, data: bytes, limits: BundleLimits = DEFAULT_LIMITS) -> BundleInfo:
    """Inspect a bundle and, only once it passed, store it as `bundles/<hex>.zip` (idempotent).

    Args:
        storage: Where bundles live (blocking; call from a thread in async code).
        data: The zip archive's bytes.
        limits: Size and count bounds.

    Returns:
        What `inspect_bundle` found.

    Raises:
        BundleError: When the bundle is refused; nothing is stored then.
    """
    info = inspect_bundle(data, limits)
    storage.put(bundle_key(info.digest), data)
    return info


def load_bundle(storage: Storage, digest: str) -> bytes:
    """The stored bytes of a bundle, verified against the digest.

    Args:
        storage: Where bundles live.
        digest: `sha256:<64 hex>`, as in `spec.bundle`.

    Returns:
        The zip archive's bytes.

    Raises:
        KeyError: When no such bundle was stored.
        BundleError: (400) for a malformed digest; (500) when the stored bytes do not match it.
    """
    data = storage.get(bundle_key(digest))
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise BundleError(f"the stored bundle {digest} does not match its digest (corrupt storage)", 500)
    return data


def _marker_matches(target: Path, digest: str) -> bool:
    try:
        return target.is_dir() and (target / MARKER).read_text().strip() == digest
    except OSError:
        return False


def _write_files(data: bytes, root: Path, limits: BundleLimits) -> None:
    """Write every file of an inspected bundle below `root` (0o644 files, 0o755 folders)."""
    with _open(data, limits) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            path = (root / info.filename).resolve()
            if not path.is_relative_to(root) or path == root:
                raise BundleError(f"entry {info.filename!r} would be written outside the bundle folder")
            path.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            with os.fdopen(os.open(path, flags, 0o644), "wb") as handle:
                for block in _blocks(zf, info):
                    handle.write(block)
                os.fchmod(handle.fileno(), 0o644)
    for folder in [root, *(p for p in root.rglob("*") if p.is_dir() and not p.is_symlink())]:
        os.chmod(folder, 0o755)


def extract_bundle(data: bytes, target: Path, limits: BundleLimits = DEFAULT_LIMITS) -> Path:
    """Extract a bundle to `target` atomically (a temporary folder beside it, then a rename).

    The bytes are inspected again: storage is not trusted. A `target` whose marker file already
    names this digest is returned as it is.

    Args:
        data: The zip archive's bytes.
        target: The folder to create or replace.
        limits: Size and count bounds.

    Returns:
        `target`.

    Raises:
        BundleError: When the bundle is refused; nothing is left behind then.
    """
    target = Path(target)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if _marker_matches(target, digest):  # these very bytes were inspected when it was extracted
        return target
    inspect_bundle(data, limits)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent)).resolve()
    old: Path | None = None
    try:
        _write_files(data, tmp, limits)
        (tmp / MARKER).write_text(digest + "\n")
        os.chmod(tmp / MARKER, 0o644)
        try:
            os.rename(tmp, target)  # atomic; fails when target exists and is not empty
        except OSError:
            if _marker_matches(target, digest):  # a concurrent extraction won the race
                return target
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, old / "previous")
            os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return target
