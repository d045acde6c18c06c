"""Which bundles an experiment's spec named: the control plane's word, kept where no game pod can write.

Game pods run researchers' code and may write under `experiments/<name>/` only, so nothing there
can say what code `gymkube replay` should run. The control plane records every bundle digest an
experiment's spec names (an upload, or the stored copy of a local folder) under
`platform/experiments/<name>/bundles/<hex>.json`, with the content hash that episode rows carry.
Replay runs only bundles found there, loaded from the content-addressed `bundles/<hex>.zip` (also
beyond any pod's reach) and checked against both hashes.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from gymkube.storage.backends import Storage
from gymkube.storage.bundles import DIGEST, bundle_hash, extract_bundle, load_bundle


def trusted_prefix(experiment: str) -> str:
    """Where the control plane lists an experiment's bundles."""
    return f"platform/experiments/{experiment}/bundles/"


def record_trusted_bundle(storage: Storage, experiment: str, digest: str) -> str:
    """Record that `experiment`'s spec names the bundle `digest` (blocking); returns its content hash."""
    match = DIGEST.match(digest)
    if match is None:
        raise ValueError(f"not a bundle digest: {digest!r}")
    with tempfile.TemporaryDirectory(prefix="gymkube-trust-") as folder:
        content = bundle_hash(extract_bundle(load_bundle(storage, digest), Path(folder) / "bundle"))
    assert content is not None
    entry = {"digest": digest, "content_hash": content, "t_ns": time.time_ns()}
    storage.put(trusted_prefix(experiment) + f"{match.group(1)}.json", json.dumps(entry).encode())
    return content


def trusted_bundles(storage: Storage, experiment: str) -> dict[str, str]:
    """Content hash -> digest of every bundle the experiment's spec has named."""
    found: dict[str, str] = {}
    for key in storage.list(trusted_prefix(experiment)):
        try:
            entry = json.loads(storage.get(key))
            found[str(entry["content_hash"])] = str(entry["digest"])
        except (KeyError, ValueError, TypeError):
            continue
    return found
