"""Checkpoints written atomically, and file hashes that tie results to the files that made them."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch


def save_atomic(obj, path) -> None:
    """torch.save to '<path>.tmp' then rename: a kill never leaves a half-written checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load(path, map_location="cpu"):
    """Load a checkpoint saved by save_atomic (full pickle: these are our own files)."""
    return torch.load(path, map_location=map_location, weights_only=False)


def file_sha256(path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


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
            digest.update(file_sha256(file).encode())
    return digest.hexdigest()
