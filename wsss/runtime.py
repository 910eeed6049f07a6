"""What every workflow script needs before calling the library: log, threads, device, provenance."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from . import __version__
from .errors import WSSSError

REPO = Path(__file__).resolve().parent.parent

#: the GPU locks' folder (one file per GPU index); override with WSSS_GPU_LOCK_DIR
GPU_LOCK_DIR = Path(os.environ.get("WSSS_GPU_LOCK_DIR", Path(tempfile.gettempdir()) / f"wsss-gpu-locks-{os.getuid()}"))
_held_gpu_locks = []  # open lock files: a claim lasts as long as the process


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


def set_threads(threads: int, *, processes: int = 1, workers: int = 0) -> None:
    """Make torch use exactly the rule's threads (never more than Snakemake granted): shared by the job's
    data-parallel processes, less each one's loader workers (they count in the threads), at least 1."""
    torch.set_num_threads(max(1, int(threads) // processes - workers))


def resolve_device(name: str, allow_cpu_fallback: bool = True, log: logging.Logger | None = None, *,
                   claim: bool = True) -> torch.device:
    """'auto' -> cuda when present else cpu; 'cuda' without a GPU falls back (warning to log) or fails clearly.

    log: the rule's logger (job_logger), so that the fallback warning lands in the rule's log file.
    On a box of several GPUs, 'cuda' claims a free one (claim_gpu) unless claim is False.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
        if name == "cpu":
            return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        if allow_cpu_fallback:
            (log or logging.getLogger("wsss")).warning(
                "config key 'device' is %r but no CUDA GPU is visible: running on the CPU "
                "(allow_cpu_fallback: true)", name)
            return torch.device("cpu")
        raise WSSSError(f"config key 'device' is {name!r} but no CUDA GPU is visible "
                        "(set device: auto or allow_cpu_fallback: true)")
    if claim and name == "cuda" and torch.cuda.device_count() > 1:  # a box of GPUs: one job per GPU
        index = claim_gpu(torch.cuda.device_count(), log=log)
        torch.cuda.set_device(index)
        (log or logging.getLogger("wsss")).info("running on cuda:%d of %d visible GPUs (lock in %s)", index,
                                                torch.cuda.device_count(), GPU_LOCK_DIR)
        return torch.device(f"cuda:{index}")
    return torch.device(name)


def resolve_devices(name: str, processes: int = 1, allow_cpu_fallback: bool = True,
                    log: logging.Logger | None = None) -> list[torch.device]:
    """The devices of a training job's data-parallel processes (wsss.training.distributed.launch).

    One process: resolve_device. Several on CUDA: as many GPUs, each claimed (claim_gpu) for this job;
    several on the CPU: the CPU for each (gloo).
    """
    if processes == 1:
        return [resolve_device(name, allow_cpu_fallback, log)]
    device = resolve_device(name, allow_cpu_fallback, log, claim=False)
    if device.type != "cuda":
        return [torch.device("cpu")] * processes
    count = torch.cuda.device_count()
    if processes > count:
        raise WSSSError(f"config asks for {processes} training processes, one per GPU, but {count} GPU(s) are visible")
    devices = [torch.device(f"cuda:{claim_gpu(count, log=log)}") for _ in range(processes)]
    (log or logging.getLogger("wsss")).info("training on %s (locks in %s)", ", ".join(map(str, devices)), GPU_LOCK_DIR)
    return devices


def claim_gpu(count: int, lock_dir=None, *, poll_seconds: float = 1.0, log: logging.Logger | None = None) -> int:
    """The index of a GPU that no other job on this machine holds, held until this process ends.

    Each of the `count` visible GPUs has a lock file in lock_dir (GPU_LOCK_DIR); a job takes the first
    one it can lock exclusively (flock) and keeps it open, so `--resources gpu=N` puts N jobs on N
    different GPUs. The kernel drops the lock when the process exits, killed or not. When every GPU
    is held, the job waits for one (Snakemake's gpu resource normally prevents that).
    """
    lock_dir = Path(lock_dir or GPU_LOCK_DIR)
    lock_dir.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        for index in range(count):
            handle = open(lock_dir / f"gpu{index}.lock", "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            _held_gpu_locks.append(handle)
            return index
        if not waited:
            (log or logging.getLogger("wsss")).warning("all %d GPUs are held by other jobs (%s): waiting",
                                                       count, lock_dir)
            waited = True
        time.sleep(poll_seconds)


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


def log_peak_gpu_memory(log: logging.Logger) -> None:
    """Log this process's peak CUDA memory as `peak_gpu_memory_mb=<MiB>` (torch.cuda.max_memory_allocated on
    the current device: the most its tensors held at once) where it used a GPU; benchmarks/gpu_check.sh reads it."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        log.info("peak_gpu_memory_mb=%.1f", torch.cuda.max_memory_allocated() / 2**20)
