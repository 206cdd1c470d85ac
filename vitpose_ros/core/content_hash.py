"""Content hashes of model files, remembered so a warm start does not re-read gigabytes.

A model is its ``.onnx`` file plus, where export wrote one (ViTPose-H), the external weights
``<name>.onnx.data`` beside it. ``model_digest`` hashes both: re-exporting into the same file
name, or two sizes with the same graph structure, give different digests.

``FileHashes`` remembers each file's SHA-256 by (resolved path, size, mtime_ns) in a small JSON
file (the engine cache folder's ``file_hashes.json``): a file whose size and modification time
are unchanged is not read again; one rewritten in place gets a new mtime and is hashed anew.

Standard library only.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib

HASH_MEMO_NAME = "file_hashes.json"
_CHUNK = 1 << 22


def model_files(model_path) -> list[pathlib.Path]:
    """The files a model consists of: the ``.onnx`` and its ``.onnx.data`` if there is one."""
    path = pathlib.Path(model_path)
    data = path.with_name(path.name + ".data")
    return [path, data] if data.is_file() else [path]


def file_sha256(path) -> str:
    """SHA-256 of a file's bytes, read in chunks (no copy of the whole file in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class FileHashes:
    """SHA-256 per file, remembered in ``memo_path`` by (path, size, mtime_ns).

    ``reads`` counts the files really read by this instance (a remembered hash costs a stat)."""

    def __init__(self, memo_path=None):
        self.memo_path = pathlib.Path(memo_path) if memo_path else None
        self.reads = 0
        self._memo: dict[str, dict] = {}
        if self.memo_path is not None and self.memo_path.is_file():
            try:
                loaded = json.loads(self.memo_path.read_text())
                self._memo = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):  # a damaged memo only costs re-hashing
                self._memo = {}

    def sha256(self, path) -> str:
        path = pathlib.Path(path).resolve()
        stat = path.stat()
        entry = self._memo.get(str(path))
        if entry and entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns:
            return entry["sha256"]
        digest = file_sha256(path)
        self.reads += 1
        self._memo[str(path)] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
        self._save()
        return digest

    def _save(self) -> None:
        if self.memo_path is None:
            return
        try:
            self.memo_path.parent.mkdir(parents=True, exist_ok=True)
            scratch = self.memo_path.with_name(f".{self.memo_path.name}.{os.getpid()}")
            scratch.write_text(json.dumps(self._memo, indent=1, sort_keys=True))
            os.replace(scratch, self.memo_path)  # readers never see half a file
        except OSError:  # read-only cache folder: the hash is still right, only not remembered
            pass


def model_digest(model_path, hashes: FileHashes | None = None) -> str:
    """One SHA-256 over a model's files (names and contents): what identifies its weights."""
    hashes = hashes or FileHashes()
    combined = hashlib.sha256()
    for path in model_files(model_path):
        combined.update(f"{path.name.endswith('.data')}:{hashes.sha256(path)}\n".encode())
    return combined.hexdigest()
