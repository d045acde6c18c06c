"""LocalStorage: keys cannot escape the folder, and writes are all-or-nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gymkube.storage import LocalStorage, open_storage
from gymkube.storage.backends import check_key


@pytest.mark.parametrize(
    "key",
    [
        "../outside",
        "a/../../outside",
        "a/..",
        "..",
        "/etc/passwd",
        "a/./b",
        ".",
        "",
        "a//b",
        "a/",
        "a b",
        "a\\b",
        "naïve",
        "a\nb",
        "~/x",
        "a:b",
    ],
)
def test_keys_that_could_escape_the_folder_or_are_odd_are_refused(key: str, tmp_path: Path):
    with pytest.raises(ValueError, match="invalid storage key"):
        check_key(key)
    storage = LocalStorage(tmp_path / "store")
    with pytest.raises(ValueError):
        storage.put(key, b"data")
    assert not (tmp_path / "outside").exists()


@pytest.mark.parametrize("key", ["a", "experiments/x/chunks/0001-pod-abc-000001.zip", "k=v/x_y.z-1"])
def test_ordinary_keys_are_accepted(key: str):
    assert check_key(key) == key


def test_an_object_put_can_be_read_listed_replaced_and_deleted(tmp_path: Path):
    storage = LocalStorage(tmp_path)
    storage.put("exp/chunks/b.zip", b"second")
    storage.put("exp/chunks/a.zip", b"first")
    storage.put("other/c.zip", b"elsewhere")
    assert storage.get("exp/chunks/a.zip") == b"first"
    assert storage.list("exp/chunks/") == ["exp/chunks/a.zip", "exp/chunks/b.zip"]
    storage.put("exp/chunks/a.zip", b"replaced")
    assert storage.get("exp/chunks/a.zip") == b"replaced"
    storage.delete("exp/chunks/a.zip")
    storage.delete("exp/chunks/a.zip")  # already gone: no error
    assert storage.list("exp/chunks/") == ["exp/chunks/b.zip"]


def test_put_leaves_no_temporary_files_behind(tmp_path: Path):
    storage = LocalStorage(tmp_path)
    for i in range(5):
        storage.put(f"exp/k{i}", b"x" * 1000)
    assert sorted(p.name for p in (tmp_path / "exp").iterdir()) == [f"k{i}" for i in range(5)]


def test_a_put_that_fails_midway_keeps_the_previous_object_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    storage = LocalStorage(tmp_path)
    storage.put("exp/object", b"old")

    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        storage.put("exp/object", b"new but never completed")
    monkeypatch.undo()
    assert storage.get("exp/object") == b"old"
    assert [p.name for p in (tmp_path / "exp").iterdir()] == ["object"]


def test_list_leaves_out_temporary_files_of_writes_in_progress(tmp_path: Path):
    storage = LocalStorage(tmp_path)
    storage.put("exp/done.zip", b"x")
    (tmp_path / "exp" / ".tmp-abc123").write_bytes(b"partial")
    assert storage.list("exp/") == ["exp/done.zip"]


def test_list_of_a_prefix_with_nothing_under_it_is_empty(tmp_path: Path):
    assert LocalStorage(tmp_path).list("nothing/here/") == []


def test_getting_a_missing_object_raises_key_error(tmp_path: Path):
    with pytest.raises(KeyError):
        LocalStorage(tmp_path).get("exp/missing.zip")


def test_open_storage_gives_local_storage_for_a_folder(tmp_path: Path):
    storage = open_storage(tmp_path / "data")
    assert isinstance(storage, LocalStorage) and (tmp_path / "data").is_dir()
