"""What every workflow script needs before calling the library: log, threads, device, provenance."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import torch

from . import __version__
from .errors import WSSSError

REPO = Path(__file__).resolve().parent.parent


def job_logger(log_path, name: str) -> logging.Logger:
    """A logger writing to the rule's log file and to stderr."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    formatter = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
    for handler in (logging.FileHandler(log_path, mode="w"), logging.StreamHandler(sys.stderr)):
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    return logger


def set_threads(threads: int) -> None:
    """Make torch use exactly the rule's threads (never more than Snakemake granted)."""
    torch.set_num_threads(max(1, int(threads)))


def resolve_device(name: str, allow_cpu_fallback: bool = True) -> torch.device:
    """'auto' -> cuda when present else cpu; 'cuda' without a GPU falls back or fails clearly."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        if allow_cpu_fallback:
            logging.getLogger("wsss").warning("config device=%s but no GPU is visible: running on the CPU", name)
            return torch.device("cpu")
        raise WSSSError(f"config key 'device' is {name!r} but no CUDA GPU is visible "
                        "(set device: auto or allow_cpu_fallback: true)")
    return torch.device(name)


def git_describe() -> str:
    """`git describe --always --dirty` of the code, or 'unknown' outside a git checkout."""
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(params: dict) -> dict:
    """Attributes that tie a result to the parameters and code that made it."""
    return {"config": json.dumps(params, sort_keys=True, default=str), "wsss_version": __version__,
            "git_describe": git_describe()}


def params_digest(params: dict) -> str:
    """A short stable digest of a parameter dict (for resumable state)."""
    import hashlib

    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]
