"""Data-parallel training: one process per device, joined by torch.distributed (NCCL on GPUs, gloo on the CPU).

launch() runs a job function once per device; the calling process is rank 0 and the others are
spawned. wsss.training.loop.fit sees the process group and then trains its share of every global
batch under DistributedDataParallel: gradients are averaged over the processes, so that N processes
at batch B/N each take the step one process takes at batch B (BatchNorm, where it trains, normalises
each process's share, as it normalises each micro-batch under gradient accumulation).
"""

from __future__ import annotations

import math
import multiprocessing
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, number of processes) of this process's group; (0, 1) outside one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def all_mean(values: Sequence[float], device) -> list[float]:
    """The mean over the processes of each value (float64 sums); the values themselves in one process."""
    rank, size = world()
    if size == 1:
        return list(values)
    device = torch.device(device)
    sums = torch.tensor(list(values), dtype=torch.float64, device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(sums)
    return [v / size for v in sums.tolist()]


def all_finite(value: float, device) -> bool:
    """Whether value is finite in every process (so that all of them stop together on a NaN)."""
    return all_mean([float(not math.isfinite(value))], device)[0] == 0.0


def _rank_main(rank: int, devices: Sequence[str], init_file: str, fn: Callable, args, kwargs):
    """One process of launch(): join the group, run fn on this rank's device, leave the group."""
    device = torch.device(devices[rank])
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method=f"file://{init_file}",
                            rank=rank, world_size=len(devices))
    try:
        return fn(str(device), *args, **kwargs)
    finally:
        dist.destroy_process_group()


def launch(fn: Callable, devices: Sequence[str], *args, **kwargs):
    """fn(device, *args, **kwargs) in one process per device, as one torch.distributed group; rank 0's result.

    With one device, fn runs here without a group. Otherwise this process is rank 0 and the others are
    spawned (so fn and its arguments must be picklable: a module-level function, which sets its own
    torch threads: wsss.runtime.set_threads). A rank that fails makes launch raise, naming it.
    """
    devices = [str(d) for d in devices]
    if len(devices) == 1:
        return fn(devices[0], *args, **kwargs)
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="wsss-dist-") as tmp:
        init_file = str(Path(tmp) / "init")
        children = [context.Process(target=_rank_main, args=(rank, devices, init_file, fn, args, kwargs),
                                    daemon=False) for rank in range(1, len(devices))]
        for child in children:
            child.start()
        try:
            result = _rank_main(0, devices, init_file, fn, args, kwargs)
        except BaseException:
            for child in children:
                child.terminate()
            raise
        finally:
            for child in children:
                child.join()
        failed = [rank for rank, child in enumerate(children, start=1) if child.exitcode != 0]
        if failed:
            raise RuntimeError(f"data-parallel training: rank(s) {failed} exited with an error (see the log above)")
    return result

