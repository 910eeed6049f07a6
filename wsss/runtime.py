"""What every workflow script needs before calling the library: log, threads, device, provenance."""

from __future__ import annotations

import json
import logging
import os
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
    sys.excepthook = _log_uncaught(logger)
    return logger


def _log_uncaught(logger: logging.Logger):
    """An excepthook that ends the rule's log with the error: the project's own errors (bad data,
    config, caches, training faults) as one line, anything else with its traceback."""
    def hook(kind, error, traceback):
        if isinstance(error, WSSSError):
            logger.error("%s", error)
        else:
            logger.error("unexpected %s", kind.__name__, exc_info=(kind, error, traceback))
    return hook


def set_threads(threads: int) -> None:
    """Make torch use exactly the rule's threads (never more than Snakemake granted)."""
    torch.set_num_threads(max(1, int(threads)))


def resolve_device(name: str, allow_cpu_fallback: bool = True, log: logging.Logger | None = None) -> torch.device:
    """'auto' -> cuda when present else cpu; 'cuda' without a GPU falls back (warning to log) or fails clearly.

    log: the rule's logger (job_logger), so that the fallback warning lands in the rule's log file.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        if allow_cpu_fallback:
            (log or logging.getLogger("wsss")).warning(
                "config key 'device' is %r but no CUDA GPU is visible: running on the CPU "
                "(allow_cpu_fallback: true)", name)
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


def input_checksums(paths) -> dict[str, str]:
    """{path: sha256} of each input: a file's bytes, or a folder's files (inputs_fingerprint)."""
    from .io.checkpoint import file_sha256, inputs_fingerprint

    return {str(path): inputs_fingerprint([path]) if Path(path).is_dir() else file_sha256(path)
            for path in sorted({str(p) for p in paths})}


def provenance_record(params: dict, inputs=()) -> dict:
    """What made a result: the config values, the sha256 of every input, and the code version."""
    return {"config": json.loads(json.dumps(params, sort_keys=True, default=str)),
            "inputs_sha256": input_checksums(inputs), "wsss_version": __version__, "git_describe": git_describe()}


def as_attributes(record: dict) -> dict:
    """A provenance record as flat attributes (HDF5 file attributes, checkpoint keys): dicts as JSON strings."""
    return {k: json.dumps(v, sort_keys=True) if isinstance(v, dict) else v for k, v in record.items()}


#: The provenance file inside a folder output; a file output's is '<file>.provenance.json' beside it.
PROVENANCE_FILE = "provenance.json"


def provenance_path(target) -> Path:
    """Where the provenance of a result lives: inside a folder, beside a file."""
    target = Path(target)
    return target / PROVENANCE_FILE if target.is_dir() else target.with_name(target.name + ".provenance.json")


def write_provenance(target, record: dict) -> Path:
    """Write a provenance_record for a result file or folder (atomically); returns the JSON's path."""
    path = provenance_path(target)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def read_provenance(target) -> dict | None:
    """The provenance record of a result, or None when it has none (or it is unreadable)."""
    try:
        return json.loads(provenance_path(target).read_text())
    except (OSError, ValueError):
        return None


def same_work(record: dict | None, other: dict | None) -> bool:
    """Whether two provenance records describe the same work: equal config values and input checksums
    (the code version alone may differ: the code a stage runs is among its inputs)."""
    if record is None or other is None:
        return False
    return all(record.get(key) == other.get(key) for key in ("config", "inputs_sha256"))


def params_digest(params: dict) -> str:
    """A short stable digest of a parameter dict (for resumable state)."""
    import hashlib

    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]
