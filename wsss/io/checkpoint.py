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
