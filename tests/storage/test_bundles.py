"""Bundle uploads: good zips accepted and extracted byte for byte, hostile or broken ones refused."""

from __future__ import annotations

import io
import os
import random
import stat
import struct
import time
import unicodedata
import warnings
import zipfile
from pathlib import Path

import pytest

from gymkube.storage import LocalStorage
from gymkube.storage.bundles import (
    MARKER,
    BundleError,
    BundleLimits,
    bundle_key,
    extract_bundle,
    inspect_bundle,
    load_bundle,
    store_bundle,
)

Entry = tuple[str | zipfile.ZipInfo, bytes]

GOOD_FILES = {
    "env.py": b"import gymnasium as gym\n\nclass Env(gym.Env):\n    pass\n",
    "policies/agent.onnx": random.Random(1).randbytes(20_000),
    "static/index.html": b"<!doctype html><title>hi</title>\n" * 50,
    "static/img/logo.png": random.Random(2).randbytes(3_000),
    "empty.txt": b"",
}


def make_zip(entries: list[Entry], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip built in memory with the entries in order (names are not sanitised by writestr)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are deliberate in some tests
        for name, content in entries:
            zf.writestr(name, content)
    return buf.getvalue()


def good_zip() -> bytes:
    return make_zip([("policies/", b""), *GOOD_FILES.items()])


def patch_u32(data: bytes, local: int | None, central: int | None, value: int) -> bytes:
    """Overwrite a 32-bit field in the (first) local header and/or central-directory record."""
    out = bytearray(data)
    if local is not None:
        struct.pack_into("<L", out, local, value)
    if central is not None:
        struct.pack_into("<L", out, data.index(b"PK\x01\x02") + central, value)
    return bytes(out)


def with_flags(data: bytes, bits: int) -> bytes:
    """Set general-purpose flag bits in the first local header and central record."""
    out = bytearray(data)
    for offset in (6, data.index(b"PK\x01\x02") + 8):
        (flags,) = struct.unpack_from("<H", out, offset)
        struct.pack_into("<H", out, offset, flags | bits)
    return bytes(out)


def special(name: str, mode: int, content: bytes = b"") -> Entry:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    return info, content


def rename(data: bytes, old: bytes, new: bytes) -> bytes:
    assert len(old) == len(new) and data.count(old) == 2  # local header and central record
    return data.replace(old, new)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """200 MiB of zeros in about 200 KB, written through zipfile in 1 MiB steps."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("bomb.bin", "w") as handle:
        chunk = bytes(1 << 20)
        for _ in range(200):
            handle.write(chunk)
    return buf.getvalue()


# --- accepted --------------------------------------------------------------------------------


def test_good_bundle_is_accepted_with_digest_and_files(tmp_path: Path) -> None:
    import hashlib

    data = good_zip()
    storage = LocalStorage(tmp_path / "store")
    info = store_bundle(storage, data)
    hexdigest = hashlib.sha256(data).hexdigest()
    assert info.digest == f"sha256:{hexdigest}"
    assert info.files == sorted(GOOD_FILES)
    assert info.uncompressed_bytes == sum(len(v) for v in GOOD_FILES.values())
    assert storage.list("") == [f"bundles/{hexdigest}.zip"]
    assert store_bundle(storage, data) == info  # storing the same content twice is fine
    assert load_bundle(storage, info.digest) == data


def test_stored_entries_and_folders_without_entries_are_fine() -> None:
    data = make_zip([("a/b/c.py", b"x = 1\n"), ("d.txt", b"d")], zipfile.ZIP_STORED)
    assert inspect_bundle(data).files == ["a/b/c.py", "d.txt"]


def test_extract_writes_identical_bytes_with_safe_modes(tmp_path: Path) -> None:
    target = tmp_path / "bundles" / "one"
    assert extract_bundle(good_zip(), target) == target
    for name, content in GOOD_FILES.items():
        path = target / name
        assert path.read_bytes() == content
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    for folder in (target, target / "policies", target / "static", target / "static" / "img"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert (target / MARKER).read_text().strip() == inspect_bundle(good_zip()).digest
    assert os.listdir(target.parent) == ["one"]


def test_extract_is_idempotent_and_leaves_no_temp_dirs(tmp_path: Path) -> None:
    target = tmp_path / "one"
    extract_bundle(good_zip(), target)
    (target / "env.py").write_text("# touched\n")  # shows whether a second call re-extracts
    assert extract_bundle(good_zip(), target) == target
    assert (target / "env.py").read_text() == "# touched\n"
    assert os.listdir(tmp_path) == ["one"]


def test_extract_replaces_another_bundle_or_stray_folder(tmp_path: Path) -> None:
    target = tmp_path / "one"
    target.mkdir()
    (target / "stray.txt").write_text("old")
    extract_bundle(good_zip(), target)
    assert not (target / "stray.txt").exists()
    other = make_zip([("other.py", b"y = 2\n")])
    extract_bundle(other, target)
    assert sorted(p.name for p in target.iterdir()) == [MARKER, "other.py"]
    assert (target / MARKER).read_text().strip() == inspect_bundle(other).digest
    assert os.listdir(tmp_path) == ["one"]


def test_refused_extraction_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(BundleError):
        extract_bundle(make_zip([("../evil.py", b"x")]), tmp_path / "one")
    assert os.listdir(tmp_path) == []


# --- refused ---------------------------------------------------------------------------------

SMALL = BundleLimits(max_compressed_bytes=100)

ATTACKS: dict[str, tuple[bytes, BundleLimits | None, int, str]] = {
    "zip-slip": (make_zip([("../evil.py", b"x")]), None, 422, r"'\.\./evil\.py'.*'\.\.' segment"),
    "nested zip-slip": (make_zip([("a/../../evil.py", b"x")]), None, 422, r"'a/\.\./\.\./evil\.py'.*'\.\.'"),
    "absolute": (make_zip([("/etc/x", b"x")]), None, 422, r"'/etc/x' is an absolute path"),
    "windows drive": (make_zip([("C:\\x", b"x")]), None, 422, r"'C:\\\\x' is an absolute path"),
    "unc path": (make_zip([("\\\\server\\share\\x", b"x")]), None, 422, r"is an absolute path"),
    "backslash": (make_zip([("a\\b.py", b"x")]), None, 422, r"'a\\\\b\.py' contains a backslash"),
    "dot segment": (make_zip([("a/./b.py", b"x")]), None, 422, r"'a/\./b\.py' has an empty or '\.'"),
    "nul": (rename(make_zip([("aXb.py", b"x")]), b"aXb", b"a\0b"), None, 422, r"'a\\x00b\.py'.*NUL"),
    "control": (rename(make_zip([("aXb.py", b"x")]), b"aXb", b"a\x1bb"), None, 422, r"control char"),
    "symlink": (make_zip([special("link.py", stat.S_IFLNK | 0o777, b"/etc/passwd")]), None, 422,
                r"'link\.py' is a symbolic link"),
    "fifo": (make_zip([special("pipe", stat.S_IFIFO | 0o644)]), None, 422, r"'pipe' is not a regular file"),
    "random bytes": (random.Random(0).randbytes(4096), None, 400, r"not a zip archive"),
    "html page": (b"<!DOCTYPE html><html><body>login</body></html>", None, 400, r"not a zip archive"),
    "empty body": (b"", None, 400, r"the upload is empty"),
    "truncated end": (good_zip()[:-30], None, 400, r"truncated or corrupt"),
    "truncated half": (good_zip()[: len(good_zip()) // 2], None, 400, r"truncated or corrupt"),
    "oversize compressed": (good_zip(), SMALL, 413, r"bytes, over the limit of 100"),
    "too many entries": (make_zip([(f"f{i}.txt", b"x") for i in range(6)]), BundleLimits(max_entries=5),
                         413, r"more than 5 entries"),
    "total too big": (make_zip([("a", bytes(600)), ("b", bytes(600))]),
                      BundleLimits(max_uncompressed_bytes=1000), 413, r"expands past the total limit"),
    "entry too big": (make_zip([("a", bytes(600))]), BundleLimits(max_entry_bytes=500), 413,
                      r"'a' expands past the per-entry limit"),
    "ratio": (make_zip([("zeros", bytes(100_000))]), BundleLimits(max_ratio=10, ratio_min_bytes=1000),
              422, r"'zeros' has a compression ratio of \d+:1, above 10:1"),
    "encrypted": (with_flags(make_zip([("env.py", b"secret")]), 0x1), None, 422, r"'env\.py' is encrypted"),
    "bzip2": (make_zip([("env.py", b"x" * 100)], zipfile.ZIP_BZIP2), None, 422, r"compression method 12"),
    "case duplicate": (make_zip([("Env.py", b"a"), ("env.py", b"b")]), None, 422,
                       r"'Env\.py' and 'env\.py' collide"),
    "exact duplicate": (make_zip([("env.py", b"a"), ("env.py", b"b")]), None, 422, r"collide"),
    "unicode duplicate": (make_zip([(unicodedata.normalize(f, "café.py"), b"x") for f in ("NFC", "NFD")]),
                          None, 422, r"collide"),
    "file also folder": (make_zip([("a", b"x"), ("A/b.py", b"y")]), None, 422,
                         r"'a' is a file but also a folder"),
    "reserved name": (make_zip([(MARKER, b"sha256:" + b"0" * 64)]), None, 422, r"reserved by gymkube"),
    "no files": (make_zip([("dir/", b"")]), None, 422, r"contains no files"),
    "empty zip": (make_zip([]), None, 422, r"contains no files"),
    "crc mismatch": (make_zip([("data.txt", b"hello world " * 100)], zipfile.ZIP_STORED).replace(
        b"hello world hello", b"hello world jello", 1), None, 400, r"'data\.txt' is corrupt \(Bad CRC-32"),
    # central directory says 10 bytes, the data is 200 KB
    "lying size deflate": (patch_u32(make_zip([("big.bin", bytes(200_000))]), None, 24, 10), None, 422,
                           r"'big\.bin' expands past its declared size of 10 bytes"),
    "lying size stored": (patch_u32(make_zip([("big.bin", bytes(200_000))], zipfile.ZIP_STORED), 22, 24, 10),
                          None, 422, r"'big\.bin' expands past its declared size of 10 bytes"),
    "size larger than data": (patch_u32(make_zip([("small.bin", bytes(1000))]), 22, 24, 5000), None, 422,
                              r"'small\.bin' holds 1000 bytes but declares 5000"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(ATTACKS))
def test_attack_is_refused_and_nothing_is_stored(case: str, tmp_path: Path) -> None:
    data, limits, status, message = ATTACKS[case]
    storage = LocalStorage(tmp_path / "store")
    with pytest.raises(BundleError, match=message) as caught:
        store_bundle(storage, data, limits or BundleLimits())
    assert caught.value.status == status
    assert storage.list("") == []
    with pytest.raises(BundleError, match=message):  # extraction never trusts what it is given
        extract_bundle(data, tmp_path / "out" / "x", limits or BundleLimits())
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []


@pytest.mark.timeout(60)
def test_zip_bomb_is_refused_quickly_from_its_sizes(bomb: bytes, tmp_path: Path) -> None:
    assert len(bomb) < 1_000_000
    storage = LocalStorage(tmp_path)
    start = time.monotonic()
    with pytest.raises(BundleError, match=r"'bomb\.bin' expands past the per-entry limit") as caught:
        store_bundle(storage, bomb)
    assert caught.value.status == 413
    assert time.monotonic() - start < 30
    assert storage.list("") == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("declared", "limits"),
    [(1000, BundleLimits()), (30 << 20, BundleLimits()), (100 << 20, BundleLimits(max_ratio=1e6))],
)
def test_zip_bomb_with_forged_sizes_is_refused_while_streaming(
    bomb: bytes, declared: int, limits: BundleLimits, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forged = patch_u32(bomb, 22, 24, declared)  # both headers claim a size within the limits
    read = 0
    original = zipfile.ZipExtFile.read

    def counting_read(self: zipfile.ZipExtFile, n: int = -1) -> bytes:
        nonlocal read
        assert 0 < n <= 1 << 20, "entries must be read in bounded blocks"
        block = original(self, n)
        read += len(block)
        return block

    monkeypatch.setattr(zipfile.ZipExtFile, "read", counting_read)
    storage = LocalStorage(tmp_path)
    with pytest.raises(BundleError, match=rf"'bomb\.bin' expands past its declared size of {declared}"):
        store_bundle(storage, forged, limits)
    assert declared < read <= declared + (1 << 20)  # stopped within one block of the claim
    assert storage.list("") == []


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        BundleLimits(max_entries=0)


# --- loading ---------------------------------------------------------------------------------


def test_load_unknown_digest_is_a_key_error(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        load_bundle(LocalStorage(tmp_path), "sha256:" + "a" * 64)


@pytest.mark.parametrize(
    "digest", ["", "sha256:", "sha256:" + "A" * 64, "sha256:" + "a" * 63, "md5:" + "a" * 64, "sha256:../x"]
)
def test_load_refuses_malformed_digests(digest: str, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a bundle digest") as caught:
        load_bundle(LocalStorage(tmp_path), digest)
    assert caught.value.status == 400


def test_load_detects_corrupted_storage(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    info = store_bundle(storage, good_zip())
    storage.put(bundle_key(info.digest), good_zip() + b"tampered")
    with pytest.raises(BundleError, match="does not match its digest") as caught:
        load_bundle(storage, info.digest)
    assert caught.value.status == 500
