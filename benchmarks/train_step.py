"""Our classifier's training step against the bare torchvision network's, on the same batch.

    .venv/bin/python benchmarks/train_step.py [--threads 2] [--repeats 10] [--size 256]

Ours is the step wsss.training.loop.fit runs for a classifier with methods [] (rule train_classifier
with configs/voc_mini.yaml's schedule: SGD, lr 0.01, batch 8): the poly lr, zero_grad, the batch
moved with to_device and normalised from uint8 pixels as ClassificationCrops.on_device does, the
loss_fn of wsss.training.classifier.classifier_loss([]) under autocast (fp32: disabled), the
finite-loss check, backward, the SGD step over network_param_groups (backbone 1x, head 10x) and
step_means. The network is build_classifier("mobilenet_v2", output_stride=32): torchvision's
MobileNetV2 features undilated, so that it computes what the baseline computes. The baseline is
the bare torchvision network on the same batch, already normalised: mobilenet_v2(weights=None)
.features, a bias-free 1x1 conv to 20 classes, GAP, multilabel_soft_margin_loss, backward and a
plain torch.optim.SGD step with the same lr, momentum and weight decay; nothing else.

Both from the same seed; their steps alternate (warm-up first), so both see the same machine load.
The last line is `train_step ratio=... ours_s=... bare_s=... threads=...` with ratio = our median /
the bare median (target <= 1.1). benchmarks/autocast.py imports the helpers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from wsss.data.transforms import normalise
from wsss.models.backbones import IMAGENET_MEAN, IMAGENET_STD
from wsss.models.classifier import build_classifier
from wsss.training.classifier import build_networks, classifier_loss, network_param_groups
from wsss.training.distributed import all_finite
from wsss.training.freezing import keep_frozen
from wsss.training.loop import Schedule, Step, autocast, make_optimizer, poly_lr, step_means, to_device
from wsss.training.param_groups import GroupRule

NUM_CLASSES = 20
#: configs/voc_mini.yaml's classifier schedule (momentum and weight decay: config.yaml's defaults)
SCHEDULE = Schedule(epochs=1, batch_size=8, lr=0.01, optimizer="sgd")


def classifier_batch(size: int, batch_size: int = SCHEDULE.batch_size, seed: int = 1):
    """A loaded training batch as ClassificationCrops gives it: (uint8 pixels (B, 3, S, S), valid (B, S, S),
    multi-hot labels (B, 20)); a band of padding in every crop, at least one class per image."""
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (batch_size, 3, size, size), generator=generator, dtype=torch.uint8)
    valid = torch.ones((batch_size, size, size), dtype=torch.bool)
    valid[:, size - size // 8:] = False
    labels = (torch.rand((batch_size, NUM_CLASSES), generator=generator) > 0.85).float()
    labels[torch.arange(batch_size), torch.arange(batch_size) % NUM_CLASSES] = 1.0
    return pixels, valid, labels


def our_step(backbone: str, batch, *, output_stride: int = 32, channels_last: bool = False,
             precision: str = "fp32") -> Callable[[], None]:
    """A closure running one of fit's steps of our classifier (methods []) on batch, on the CPU."""
    torch.manual_seed(0)
    device = torch.device("cpu")
    model = build_classifier(backbone, output_stride=output_stride, num_classes=NUM_CLASSES)
    trained = build_networks([], model, None)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    trained.to(device, memory_format=memory_format)
    keep_frozen(trained.train())
    optimizer = make_optimizer(network_param_groups([], trained, SCHEDULE.lr, GroupRule()), SCHEDULE)
    loss_fn = classifier_loss([])
    total, iteration = 10_000, 0

    def step():
        nonlocal iteration
        poly_lr(optimizer, iteration, total, SCHEDULE.poly_power)
        optimizer.zero_grad(set_to_none=True)
        pixels, valid, labels = (to_device(b, device, memory_format) for b in batch)
        images = to_device(normalise(pixels, model.mean, model.std, valid), device, memory_format)
        with autocast(device, precision):
            loss, parts = loss_fn(trained, (images, labels), Step(iteration, total))
        if not all_finite(loss.item(), device):
            raise RuntimeError(f"non-finite loss at step {iteration}")
        loss.backward()
        optimizer.step()
        step_means([(loss.item(), parts)])
        iteration += 1

    return step


def bare_step(batch) -> Callable[[], None]:
    """A closure running one step of the bare torchvision MobileNetV2 classifier on batch's normalised images."""
    torch.manual_seed(0)
    pixels, valid, labels = batch
    images = normalise(pixels, IMAGENET_MEAN, IMAGENET_STD, valid)  # as ours (Backbone.mean, .std)
    network = nn.Sequential(torchvision.models.mobilenet_v2(weights=None).features,
                            nn.Conv2d(1280, NUM_CLASSES, kernel_size=1, bias=False)).train()
    optimizer = torch.optim.SGD(network.parameters(), lr=SCHEDULE.lr, momentum=SCHEDULE.momentum,
                                weight_decay=SCHEDULE.weight_decay)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.multilabel_soft_margin_loss(network(images).mean(dim=(2, 3)), labels)
        loss.backward()
        optimizer.step()

    return step


def alternating_medians(steps: dict[str, Callable[[], None]], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds of each step over repeats, the steps run in turn (after warmup runs of each: oneDNN
    creates its primitives on the first calls), so that all of them see the same machine load."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--size", type=int, default=256, help="crop size (configs/voc_mini.yaml: 256)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batch = classifier_batch(args.size)
    median = alternating_medians({"ours": our_step("mobilenet_v2", batch), "bare": bare_step(batch)}, args.repeats)
    ratio = median["ours"] / median["bare"]
    print(f"mobilenet_v2 batch {SCHEDULE.batch_size} x {args.size} px: ours {median['ours']:.4f} s, bare torchvision "
          f"{median['bare']:.4f} s, ratio {ratio:.3f} (median of {args.repeats}, {args.threads} threads)")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    print(f"train_step ratio={ratio:.3f} ours_s={median['ours']:.4f} bare_s={median['bare']:.4f} "
          f"size={args.size} threads={args.threads}")


if __name__ == "__main__":
    main()
