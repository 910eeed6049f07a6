"""One training step of each network of the embedded default: fp32 NCHW against channels_last and bf16.

    .venv/bin/python benchmarks/training_step.py [--threads 2] [--repeats 12]

Each network is built three times from the same seed: fp32 NCHW (the baseline), fp32 channels_last
(NHWC) and bf16 autocast with channels_last, as the training loop runs them (`channels_last`,
`precision`). Their steps alternate (warm-up first), so all three see the same machine load; the
medians and the speedups over the baseline are printed, and the last line is
`training_step key=value ...` with <network>_nhwc and <network>_bf16 = baseline median / variant
median. Sizes are config.yaml's: batch 8, 128-px crops (AffinityNet 64 px, radius 5).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

from wsss.models.affinitynet import build_affinitynet
from wsss.models.classifier import build_classifier
from wsss.models.deeplab import build_segmenter
from wsss.training.affinitynet import affinity_batch_loss
from wsss.training.loop import autocast

VARIANTS = {"nchw": (False, "fp32"), "nhwc": (True, "fp32"), "bf16": (True, "bf16")}


def batch(network: str, generator: torch.Generator):
    """(images, targets) of the embedded default's sizes for one network."""
    if network == "affinitynet":
        labels = torch.randint(0, 21, (8, 64, 64), generator=generator)
        labels[:, :24] = 0  # a background band, so that every pair kind occurs
        return torch.randn((8, 3, 64, 64), generator=generator), labels
    images = torch.randn((8, 3, 128, 128), generator=generator)
    if network == "classifier":
        return images, (torch.rand((8, 20), generator=generator) > 0.8).float()
    return images, torch.randint(0, 21, (8, 128, 128), generator=generator)


def make_step(network: str, channels_last: bool, precision: str):
    """A closure running one Adam step of network on a fixed batch, in the given memory format and precision."""
    torch.manual_seed(0)
    build = {"classifier": lambda: build_classifier("smallnet", output_stride=8, num_classes=20),
             "segmenter": lambda: build_segmenter("smallnet", output_stride=8),
             "affinitynet": lambda: build_affinitynet("smallnet", output_stride=8)}[network]
    model = build().train()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=memory_format)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    images, targets = batch(network, torch.Generator().manual_seed(1))
    images = images.contiguous(memory_format=memory_format)
    pair_loss = affinity_batch_loss(5)

    def step():
        with autocast("cpu", precision):
            if network == "classifier":
                loss = F.multilabel_soft_margin_loss(model(images), targets)
            elif network == "segmenter":
                loss = F.cross_entropy(model(images), targets, ignore_index=255)
            else:
                loss, _ = pair_loss(model, (images, targets), None)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    speedups = {}
    for network in ("classifier", "segmenter", "affinitynet"):
        steps = {name: make_step(network, *variant) for name, variant in VARIANTS.items()}
        for step in steps.values():  # warm-up: oneDNN primitive creation
            step()
            step()
        times = {name: [] for name in steps}
        for _ in range(args.repeats):
            for name, step in steps.items():
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
        median = {name: statistics.median(values) for name, values in times.items()}
        for name in ("nhwc", "bf16"):
            speedups[f"{network}_{name}"] = median["nchw"] / median[name]
        print(f"{network:12s} fp32 NCHW {median['nchw']:.4f} s  fp32 NHWC {median['nhwc']:.4f} s  "
              f"bf16 NHWC {median['bf16']:.4f} s  speedups {speedups[f'{network}_nhwc']:.2f} / "
              f"{speedups[f'{network}_bf16']:.2f} (median of {args.repeats}, {args.threads} threads)")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    print("training_step " + " ".join(f"{name}={value:.2f}" for name, value in speedups.items())
          + f" threads={args.threads}")


if __name__ == "__main__":
    main()
