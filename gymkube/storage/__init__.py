"""Storage: a local folder (embedded default) or any S3 endpoint, behind one small interface."""

from __future__ import annotations

from gymkube.storage.backends import LocalStorage, S3Storage, Storage, open_storage

__all__ = ["LocalStorage", "S3Storage", "Storage", "open_storage"]
