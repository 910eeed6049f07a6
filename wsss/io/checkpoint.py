"""Checkpoints written atomically, and file hashes that tie results to the files that made them.

Every job hashes its inputs for provenance. A large file (a CAM cache or a checkpoint: gigabytes at
train_aug scale, read by every shard job of the next stage) is hashed once: its writer records the
digest in '<file>.sha256' beside it (record_sha256), and file_sha256 reuses that record as long as
the file's size and modification time are the ones recorded. A file rewritten in any way gets
another mtime, so a stale record is never used.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

#: files at least this large are hashed once and the digest kept beside them (code and PNGs are smaller)
RECORD_BYTES = 16 << 20


def save_atomic(obj, path, checksum: bool = False) -> None:
    """torch.save to '<path>.tmp' then rename: a kill never leaves a half-written checkpoint.

    checksum records the file's sha256 beside it (for outputs that later jobs hash as inputs).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    if checksum:
        record_large_sha256(path)


def load(path, map_location="cpu"):
    """Load a checkpoint saved by save_atomic (full pickle: these are our own files)."""
    return torch.load(path, map_location=map_location, weights_only=False)


def _hash_bytes(path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_path(path) -> Path:
    """Where the recorded sha256 of a file lies: '<file>.sha256'."""
    return Path(f"{path}.sha256")


def _stat_key(path) -> dict:
    stat = os.stat(path)
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def record_sha256(path) -> str:
    """Hash a file and record the digest with its size and mtime in '<file>.sha256' (atomically);
    returns the digest. Where the folder is not writable the digest is returned unrecorded."""
    key = _stat_key(path)
    digest = _hash_bytes(path)
    record, tmp = checksum_path(path), Path(f"{path}.sha256.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"sha256": digest, **key}))
        os.replace(tmp, record)
    except OSError:
        tmp.unlink(missing_ok=True)
    return digest


def record_large_sha256(path) -> None:
    """record_sha256 for a file of RECORD_BYTES or more (writers call it once the file is complete)."""
    if os.path.getsize(path) >= RECORD_BYTES:
        record_sha256(path)


def recorded_sha256(path) -> str | None:
    """The digest recorded beside a file, if the file still has the recorded size and mtime."""
    try:
        record = json.loads(checksum_path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or {k: record.get(k) for k in ("size", "mtime_ns")} != _stat_key(path):
        return None
    return record.get("sha256")


def file_sha256(path) -> str:
    """Hex sha256 of a file's bytes; for a file of RECORD_BYTES or more, hashed once (record_sha256)."""
    if os.path.getsize(path) < RECORD_BYTES:
        return _hash_bytes(path)
    return recorded_sha256(path) or record_sha256(path)


def inputs_fingerprint(paths) -> str:
    """sha256 over the bytes of the given files and of every file under the given folders (sorted).

    Resumable training state carries it, so a state made from other inputs (new pseudo masks, a
    retrained classifier) is never resumed.
    """
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(path.parent)).encode())
            digest.update(_hash_bytes(file).encode())  # never a record inside an output folder
    return digest.hexdigest()
