"""One training loop for every network of the pipeline, with checkpoints within and after each epoch and exact resume.

Resumable state (model, optimiser, schedule position, RNG states, epoch, step, loss history) lives
in a state file that is NOT a declared Snakemake output, so Snakemake's deletion of outputs before
a rerun cannot destroy it. It carries a digest of the training parameters and of the input files:
a state made with other parameters or inputs is ignored. The caller removes it (clear_state) once
the model is saved. Batch order and augmentation are pure functions of (seed, epoch, index), and
the global RNG states travel with the state, so an interrupted and resumed run ends with the same
weights as an uninterrupted one on the CPU, wherever it was killed.
"""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ..errors import WSSSError
from ..io.checkpoint import load, save_atomic
from . import distributed
from .freezing import keep_frozen


class TrainingError(WSSSError):
    """Training cannot go on (e.g. a non-finite loss); the last good checkpoint is kept."""


@dataclass(frozen=True)
class Step:
    """Where training is: the global iteration (0-based) out of total; loss schedules read it."""

    iteration: int
    total: int

    @property
    def progress(self) -> float:
        """Fraction of training done before this step, in [0, 1)."""
        return self.iteration / max(self.total, 1)


@dataclass
class Schedule:
    """Optimiser and lr schedule: SGD or Adam at lr * (1 - it/total)^poly_power (x0.1 every lr_step_every epochs).

    momentum and nesterov are SGD's. The official PolyOptimizer of PSA, IRN and Puzzle-CAM passes its
    weight decay as SGD's third positional argument, which is momentum: they train with momentum equal
    to the weight-decay value (PSA tool/torchutils.py:13, IRN misc/torchutils.py:12, Puzzle-CAM
    tools/ai/optim_utils.py:6, with nesterov there), and their `momentum=0.9` is the poly power.
    poly_power 0 keeps the lr constant (EADER); lr_step_every is wsolevaluation's step decay.
    """

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 1e-4
    optimizer: str = "sgd"
    momentum: float = 0.9
    poly_power: float = 0.9
    nesterov: bool = False
    lr_step_every: int = 0

    @classmethod
    def from_config(cls, cfg: dict) -> Schedule:
        """The schedule of a network section of the config (classifier, affinitynet, segmentation)."""
        return cls(epochs=cfg["epochs"], batch_size=cfg["batch_size"], lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                   optimizer=cfg["optimizer"], momentum=cfg["momentum"], poly_power=cfg["poly_power"],
                   nesterov=cfg["nesterov"], lr_step_every=cfg["lr_step_every"])


def make_optimizer(param_groups, schedule: Schedule) -> torch.optim.Optimizer:
    """The optimiser named by the schedule; each group keeps its own base lr in 'initial_lr'.

    A group may carry its own 'weight_decay' (e.g. 0 for biases); the others get schedule.weight_decay.
    """
    for group in param_groups:
        group.setdefault("lr", schedule.lr)
        group["initial_lr"] = group["lr"]
    if schedule.optimizer == "sgd":
        return torch.optim.SGD(param_groups, lr=schedule.lr, momentum=schedule.momentum,
                               weight_decay=schedule.weight_decay, nesterov=schedule.nesterov)
    if schedule.optimizer == "adam":
        return torch.optim.Adam(param_groups, lr=schedule.lr, weight_decay=schedule.weight_decay)
    raise ValueError(f"unknown optimizer {schedule.optimizer!r} (expected 'sgd' or 'adam')")


def lr_factor(iteration: int, total: int, power: float, *, steps_per_epoch: int = 1, step_every: int = 0) -> float:
    """The lr multiple at a 0-based iteration: (1 - iteration/total)^power (poly; power 0: 1).

    With step_every > 0 also times 0.1 for every step_every epochs reached: epoch e (1-based) trains
    at 0.1^(e // step_every), as wsolevaluation main.py:337-340 decays before epoch e.
    """
    factor = (1.0 - min(iteration, total) / max(total, 1)) ** power
    if step_every:
        factor *= 0.1 ** ((iteration // steps_per_epoch + 1) // step_every)
    return factor


def poly_lr(optimizer, iteration: int, total: int, power: float, *, steps_per_epoch: int = 1,
            step_every: int = 0) -> None:
    """Set every group's lr to initial_lr * lr_factor(...) (PolyOptimizer sets it so before its step)."""
    factor = lr_factor(iteration, total, power, steps_per_epoch=steps_per_epoch, step_every=step_every)
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] * factor


def clear_state(state_path) -> None:
    """Remove a finished run's resumable state (after its model is safely written)."""
    Path(state_path).unlink(missing_ok=True)


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The sample order of one epoch: a permutation that depends only on (seed, epoch)."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=generator).tolist()


def rng_state() -> dict:
    """The global random generators' states (torch, CUDA, numpy, python), for an exact resume."""
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(state: dict) -> None:
    """Restore what rng_state saved."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


PRECISIONS = ("fp32", "bf16")


def native_bf16(device) -> bool:
    """Whether device computes bf16 in hardware: a CUDA GPU that supports it, or a CPU with
    AVX-512-bf16 or AMX (where oneDNN runs bf16 convolutions natively; elsewhere they are emulated and slow)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def resolve_precision(precision: str, device) -> str:
    """The arithmetic a `precision` setting means on device: 'auto' is bf16 where it is native, else fp32."""
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (expected auto or one of {', '.join(PRECISIONS)})")
    return precision


def autocast(device, precision: str):
    """The autocast context of a precision on device: bf16 autocast, or a disabled one for fp32."""
    device_type = torch.device(device).type
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16")


def to_device(value, device, memory_format=torch.contiguous_format):
    """A batch entry on device; 4-d tensors (images) in memory_format, other values as they are."""
    if not torch.is_tensor(value):
        return value
    value = value.to(device, non_blocking=True)
    return value.contiguous(memory_format=memory_format) if value.dim() == 4 else value


def micro_batch_size(batch_size: int, processes: int = 1, accumulate: int = 1) -> int:
    """The images one forward sees: the global batch split over processes and accumulation steps."""
    if accumulate < 1 or batch_size % (processes * accumulate):
        raise TrainingError(f"batch_size {batch_size} does not split into {processes} process(es) x {accumulate} "
                            f"accumulation step(s) of equal size")
    return batch_size // (processes * accumulate)


def training_batches(n: int, batch_size: int, seed: int, *, epochs: int, start_epoch: int = 0, start_step: int = 0,
                     rank: int = 0, processes: int = 1, accumulate: int = 1) -> list[list[tuple[int, int]]]:
    """The micro-batches one process loads from (start_epoch, start_step) to the end, as (epoch, index) lists.

    Step s of epoch e is the global batch epoch_order(n, seed, e)[s B:(s + 1) B]; process `rank` takes
    its consecutive share of B / processes, in `accumulate` consecutive micro-batches. The union over
    processes and micro-batches is the one-process batch, so the data do not depend on the split.
    """
    share, micro = batch_size // processes, micro_batch_size(batch_size, processes, accumulate)
    steps_per_epoch, out = n // batch_size, []
    for epoch in range(start_epoch, epochs):
        order = epoch_order(n, seed, epoch)
        for step in range(start_step if epoch == start_epoch else 0, steps_per_epoch):
            mine = order[step * batch_size + rank * share:step * batch_size + (rank + 1) * share]
            out.extend([(epoch, i) for i in mine[k * micro:(k + 1) * micro]] for k in range(accumulate))
    return out


class EpochItems(Dataset):
    """A dataset indexed by (epoch, index): sets the epoch of its (augmenting) dataset, then gives the item.

    The epoch travels with each index, so one loader (and its workers) serves the whole training.
    """

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, key):
        epoch, index = key
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        return self.dataset[index]


class _Objective(torch.nn.Module):
    """loss_fn bound to its model as a module, so that DistributedDataParallel sees each step's forward."""

    def __init__(self, model, loss_fn):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, batch, step):
        return self.loss_fn(self.model, batch, step)


def fit(model: torch.nn.Module, dataset, loss_fn: Callable, *, schedule: Schedule, param_groups,
        state_path, digest: str, device, seed: int = 0, num_workers: int = 0, log=print,
        progress: bool = True, on_epoch_end: Callable | None = None, checkpoint_every: int = 0,
        checkpoint_seconds: float | None = 600.0, channels_last: bool = False,
        precision: str = "fp32", accumulate: int = 1, cudnn_benchmark: bool = False,
        unused_parameters: bool = False) -> list[dict]:
    """Train model on dataset for schedule.epochs, resuming from state_path when its digest matches.

    loss_fn(model, batch, step) -> (loss, {name: float}) computes one batch's loss; step is a Step
    (iteration, total) for losses with schedules (Puzzle-CAM's alpha ramp, EADER's alternation). Returns the loss
    history (one dict per epoch: each part's mean over the steps that reported it). A NaN/Inf loss raises TrainingError naming the step.

    The state (model, optimiser, schedule position, global RNG states, epoch and step, the epoch's
    running loss sums) is saved atomically at the end of every epoch, and within an epoch every
    checkpoint_every iterations (0: never) and whenever checkpoint_seconds have passed since the
    last save (None: never). A run killed anywhere resumes from the last save and ends with the same
    weights as an uninterrupted one: the skipped batches are never loaded, and batch order and
    augmentation depend only on (seed, epoch, index).

    One DataLoader serves the whole run (its workers start once; its own generator, so loading draws
    nothing from the global RNG), with pinned memory on CUDA. A dataset with on_device(batch) has each
    batch finished there (the crops' uint8 pixels normalised on the device).

    channels_last stores the model's 4-d weights and the batches' images as NHWC, which the CPU's
    oneDNN and cuDNN convolutions run faster; the arithmetic stays fp32 (other kernels, so other
    last bits than NCHW, and as deterministic). cudnn_benchmark lets cuDNN time its algorithms for
    the (fixed) crop size on CUDA: faster, and not bitwise reproducible.

    precision "bf16" runs loss_fn under bf16 autocast: the networks' convolutions and matrix products
    in bfloat16, while weights, gradients and the optimiser stay fp32 and every network returns its
    output in fp32, so that the losses are fp32 arithmetic.

    accumulate splits each batch into that many micro-batches whose gradients add up to one step, with
    each micro-batch's loss divided by accumulate: the same step for losses that are means over the
    batch, at a fraction of the activation memory. Inside a torch.distributed group (launch) each
    process trains its share of every batch under DistributedDataParallel; only rank 0 writes the state
    and shows progress, and the history holds the means over the processes. unused_parameters: some
    steps leave trainable parameters without a gradient (EADER's alternating turns), which
    DistributedDataParallel must then look for.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (expected one of {', '.join(PRECISIONS)})")
    rank, processes = distributed.world()
    micro_batch_size(schedule.batch_size, processes, accumulate)
    state_path, device = Path(state_path), torch.device(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = cudnn_benchmark
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model.to(device, memory_format=memory_format)
    optimizer = make_optimizer(param_groups, schedule)
    steps_per_epoch = len(dataset) // schedule.batch_size
    if steps_per_epoch == 0:
        raise TrainingError(f"{len(dataset)} training images are fewer than one batch of {schedule.batch_size}")
    total = steps_per_epoch * schedule.epochs
    start_epoch, start_step, history, sums, counts = 0, 0, [], {}, {}
    if state_path.exists():
        state = load(state_path)
        if state.get("digest") == digest:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            start_epoch, start_step, history = state["epoch"], state.get("step", 0), state["history"]
            sums, counts = state.get("sums", {}), state.get("counts", {})
            if state.get("rng") is not None:
                set_rng_state(state["rng"])
            iteration = state.get("iteration", start_epoch * steps_per_epoch)
            if rank == 0:
                log(f"resuming from {state_path} at epoch {start_epoch + 1}/{schedule.epochs} step "
                    f"{start_step}/{steps_per_epoch} (iteration {iteration}/{total})")
        elif rank == 0:
            log(f"ignoring {state_path}: it was made with other training parameters or inputs")
    objective = None
    if processes > 1:
        objective = DistributedDataParallel(_Objective(model, loss_fn), find_unused_parameters=unused_parameters,
                                            device_ids=[device.index] if device.type == "cuda" else None)

    def save(epoch: int, step: int) -> None:
        """State after `step` steps of epoch (0-based); step == steps_per_epoch is saved as the next epoch's 0."""
        if rank != 0:
            return
        if step == steps_per_epoch:
            epoch, step = epoch + 1, 0
        save_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": {"kind": "poly", "iteration": epoch * steps_per_epoch + step, "total": total,
                                   "power": schedule.poly_power, "step_every": schedule.lr_step_every,
                                   "lr": [g["lr"] for g in optimizer.param_groups]},
                     "rng": rng_state(), "epoch": epoch, "step": step, "iteration": epoch * steps_per_epoch + step,
                     "sums": dict(sums), "counts": dict(counts), "history": history, "digest": digest}, state_path)

    def forward_backward(batch, step: Step, epoch: int, index: int, sync: bool):
        """One micro-batch: its loss and parts, after adding its gradient (DDP averages them when sync)."""
        batch = [to_device(b, device, memory_format) for b in batch]
        if hasattr(dataset, "on_device"):
            batch = [to_device(b, device, memory_format) for b in dataset.on_device(batch)]
        with contextlib.ExitStack() as stack:
            if objective is not None and not sync:
                stack.enter_context(objective.no_sync())
            with autocast(device, precision):
                loss, parts = objective(batch, step) if objective is not None else loss_fn(model, batch, step)
            value = loss.item()  # one device sync per micro-batch
            if not distributed.all_finite(value, device):
                kept = (f"last good checkpoint kept at {state_path}" if state_path.exists()
                        else "no checkpoint saved yet")
                raise TrainingError(
                    f"non-finite loss ({value}) at epoch {epoch + 1} step {index + 1} "
                    f"(iteration {step.iteration + 1}); {kept}"
                )
            (loss / accumulate if accumulate > 1 else loss).backward()
        return value, parts

    batches = training_batches(len(dataset), schedule.batch_size, seed, epochs=schedule.epochs,
                               start_epoch=start_epoch, start_step=start_step, rank=rank, processes=processes,
                               accumulate=accumulate)
    loader = DataLoader(EpochItems(dataset), batch_sampler=batches, num_workers=num_workers,
                        pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(seed))
    micro_batches = iter(loader)
    last_save = time.monotonic()
    for epoch in range(start_epoch, schedule.epochs):
        keep_frozen(model.train())  # frozen BatchNorm / stages (wsss.training.freezing) stay in eval mode
        first = start_step if epoch == start_epoch else 0
        if first == 0:
            sums, counts = {}, {}  # steps that reported each part (EADER's turns report different parts)
        bar = tqdm(range(first, steps_per_epoch), total=steps_per_epoch, initial=first,
                   desc=f"epoch {epoch + 1}/{schedule.epochs}", disable=not progress or rank != 0, mininterval=5)
        for step in bar:
            iteration = epoch * steps_per_epoch + step
            poly_lr(optimizer, iteration, total, schedule.poly_power, steps_per_epoch=steps_per_epoch,
                    step_every=schedule.lr_step_every)
            optimizer.zero_grad(set_to_none=True)
            reports = [forward_backward(next(micro_batches), Step(iteration, total), epoch, step, sync=k == accumulate - 1)
                       for k in range(accumulate)]
            optimizer.step()
            values = step_means(reports)
            values = dict(zip(values, distributed.all_mean(list(values.values()), device)))  # over the processes
            add_reported(sums, counts, values)
            bar.set_postfix(loss=f"{values['loss']:.4f}", refresh=False)
            done = step + 1
            if done < steps_per_epoch and (
                    (checkpoint_every and (iteration + 1) % checkpoint_every == 0)
                    or (checkpoint_seconds is not None and time.monotonic() - last_save >= checkpoint_seconds)):
                save(epoch, done)
                last_save = time.monotonic()
        means = {"epoch": epoch + 1, **{k: v / counts[k] for k, v in sums.items()}}
        history.append(means)
        if rank == 0:
            log("epoch " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in means.items()))
        sums, counts = {}, {}
        save(epoch, steps_per_epoch)
        last_save = time.monotonic()
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1)
    return history


def fit_network(model, dataset, loss_fn, cfg: dict, *, param_groups, device, state_path, digest: str, seed: int,
                log=print, unused_parameters: bool = False) -> list[dict]:
    """fit with a network section's settings (classifier, affinitynet, segmentation): its schedule, loader
    workers, memory format, precision (resolved), gradient accumulation and cuDNN autotuning."""
    return fit(model, dataset, loss_fn, schedule=Schedule.from_config(cfg), param_groups=param_groups,
               state_path=state_path, digest=digest, device=device, seed=seed, num_workers=cfg["num_workers"],
               log=log, channels_last=cfg["channels_last"], precision=cfg["precision"], accumulate=cfg["accumulate"],
               cudnn_benchmark=cfg["cudnn_benchmark"], unused_parameters=unused_parameters)


def step_means(reports) -> dict[str, float]:
    """One step's {'loss', part: value} from its micro-batches' (loss, parts): each the mean over the
    micro-batches that reported it (with one micro-batch, its values as they are)."""
    if len(reports) == 1:
        loss, parts = reports[0]
        return {"loss": loss, **parts}
    sums, counts = {}, {}
    for loss, parts in reports:
        add_reported(sums, counts, {"loss": loss, **parts})
    return {name: sums[name] / counts[name] for name in sums}


def add_reported(sums: dict, counts: dict, values: dict) -> None:
    """Add one report's {name: value} to running sums and counts, so that each name's mean is over the
    reports that gave it (EADER's turns report different parts)."""
    for name, value in values.items():
        sums[name] = sums.get(name, 0.0) + float(value)
        counts[name] = counts.get(name, 0) + 1
